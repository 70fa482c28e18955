//! Self-signed certificates for tests of TLS listeners (the HTTPS API, a
//! TLS front of the broker).

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};

/// The PEM files of a self-signed certificate for `localhost` and
/// 127.0.0.1.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate alone.
    pub certificate: PathBuf,
    /// Its private key alone.
    pub private_key: PathBuf,
    /// Certificate and key in one file (InfluxDB's `https-certificate`
    /// without `https-private-key`).
    pub combined: PathBuf,
}

/// Writes a fresh self-signed certificate and key into `dir`.
pub fn self_signed(dir: &Path) -> SelfSigned {
    let key = PKey::from_rsa(Rsa::generate(2048).expect("RSA key")).expect("key");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "localhost").expect("CN");
    let name = name.build();
    let mut serial = BigNum::new().expect("bignum");
    serial
        .rand(64, MsbOption::MAYBE_ZERO, false)
        .expect("serial");
    let mut b = X509::builder().expect("x509");
    b.set_version(2).expect("version");
    b.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("not before");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("time"))
        .expect("not after");
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .expect("SAN");
    b.append_extension(san).expect("SAN");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = b.build().to_pem().expect("cert PEM");
    let key = key.private_key_to_pem_pkcs8().expect("key PEM");
    let files = SelfSigned {
        certificate: dir.join("cert.pem"),
        private_key: dir.join("key.pem"),
        combined: dir.join("combined.pem"),
    };
    std::fs::write(&files.certificate, &cert).expect("write cert");
    std::fs::write(&files.private_key, &key).expect("write key");
    std::fs::write(&files.combined, [cert, key].concat()).expect("write combined");
    files
}

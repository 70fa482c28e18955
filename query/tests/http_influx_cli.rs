//! Debian's `influx` CLI (package `influxdb-client`, InfluxDB 1.6) against a
//! Sluice data node: SHOW DATABASES, INSERT (through `/write`) and SELECT,
//! over HTTP and over HTTPS (`-ssl -unsafeSsl`, InfluxDB's `https-enabled`).

mod common;

use std::io::Read as _;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Sluice;

/// Runs the CLI against 127.0.0.1:`port` with `args`, off the runtime.
fn influx(port: u16, args: &[&str]) -> impl std::future::Future<Output = (bool, String)> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let run = tokio::task::spawn_blocking(move || {
        let out = Command::new("influx")
            .args(["-host", "127.0.0.1", "-port", &port.to_string()])
            .args(&args)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the influx CLI (Debian package influxdb-client; run scripts/setup.sh): {e}")
            });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    });
    async move { run.await.expect("cli task") }
}

/// CREATE DATABASE, SHOW DATABASES, INSERT and SELECT through the CLI,
/// with `tls` (its connection flags) before each command.
async fn insert_and_select(port: u16, tls: &[&str]) {
    let run = |args: &[&str]| influx(port, &[tls, args].concat());
    let (ok, out) = run(&["-execute", "CREATE DATABASE clidb"]).await;
    assert!(ok, "CREATE DATABASE: {out}");
    let (ok, out) = run(&["-execute", "SHOW DATABASES"]).await;
    assert!(ok && out.contains("clidb"), "SHOW DATABASES: {out}");
    let (ok, out) = run(&[
        "-database",
        "clidb",
        "-execute",
        "INSERT cpu,host=server01 value=0.64 1434055562000000000",
    ])
    .await;
    assert!(ok, "INSERT: {out}");

    // The CLI cannot ask for read-your-writes: wait for the apply.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, out) = run(&[
            "-database",
            "clidb",
            "-precision",
            "rfc3339",
            "-execute",
            "SELECT host, value FROM cpu",
        ])
        .await;
        if ok && out.contains("2015-06-11T20:46:02Z server01 0.64") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the inserted point never showed up: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn influx_cli_shows_inserts_and_selects() {
    let s = Sluice::start(false).await;
    insert_and_select(s.node().http_addr.port(), &[]).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn influx_cli_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let cert = testkit::tls::self_signed(dir.path());
    let files = settings::HttpsFiles {
        certificate: cert.certificate.clone(),
        private_key: Some(cert.private_key.clone()),
    };
    let s = Sluice::start_with(|spec| {
        spec.api.https = Some(files);
        spec.api.limits.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    assert!(s.url.starts_with("https://"));
    let port = s.node().http_addr.port();
    insert_and_select(port, &["-ssl", "-unsafeSsl"]).await;

    // Without TLS the CLI gets no answer it can read, and nothing is made.
    let (ok, out) = influx(port, &["-execute", "CREATE DATABASE plain"]).await;
    assert!(!ok, "plain HTTP to the HTTPS port: {out}");
    // A client that connects and never starts the handshake is cut off
    // after the header deadline, as a slow-loris one over HTTP is.
    let mut stalled = std::net::TcpStream::connect(s.node().http_addr).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let n = stalled.read(&mut [0u8; 64]).expect("closed, not timed out");
    assert_eq!(n, 0, "closed without a byte");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (ok, out) = influx(port, &["-ssl", "-unsafeSsl", "-execute", "SHOW DATABASES"]).await;
    assert!(
        ok && out.contains("clidb") && !out.contains("plain"),
        "{out}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificate_and_key_in_one_file_and_bad_files_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cert = testkit::tls::self_signed(dir.path());
    let combined = settings::HttpsFiles {
        certificate: cert.combined.clone(),
        private_key: None,
    };
    let s = Sluice::start_with(|spec| spec.api.https = Some(combined)).await;
    let (ok, out) = influx(
        s.node().http_addr.port(),
        &["-ssl", "-unsafeSsl", "-execute", "SHOW DATABASES"],
    )
    .await;
    assert!(ok, "{out}");
    s.stop().await;

    // A certificate file without a key, and a key that is not the
    // certificate's: the node does not start, and says which file.
    let other = tempfile::tempdir().unwrap();
    let other = testkit::tls::self_signed(other.path());
    for (files, names) in [
        (
            settings::HttpsFiles {
                certificate: cert.certificate.clone(),
                private_key: None,
            },
            "https-private-key",
        ),
        (
            settings::HttpsFiles {
                certificate: cert.certificate.clone(),
                private_key: Some(other.private_key.clone()),
            },
            "https-private-key",
        ),
        (
            settings::HttpsFiles {
                certificate: dir.path().join("missing.pem"),
                private_key: None,
            },
            "https-certificate",
        ),
    ] {
        let api = ingest::http::ApiConfig {
            https: Some(files),
            ..Default::default()
        };
        let err = api.connection_limits().expect_err("bad TLS files accepted");
        assert!(err.to_string().starts_with(names), "{err}");
    }
}

//! A cluster whose broker requires TLS and SASL/SCRAM-SHA-512 (as managed
//! Kafka services do): every Kafka client of every part gets the
//! `[kafka_properties]` (`security.protocol=SASL_SSL`, `sasl.*`,
//! `ssl.ca.location`), and a write over HTTP is acknowledged, applied and
//! queried. A client with a wrong password gets nothing.
//!
//! The broker is real tansu requiring SCRAM (`--authentication`). tansu
//! 0.6's own TLS cannot be switched on (its `--cert` and `--key` flags
//! refuse each other), so TLS is terminated by a proxy in this test, on the
//! port tansu advertises: librdkafka does a real handshake and checks the
//! certificate, then speaks SASL and Kafka through it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use tokio_openssl::SslStream;

const USER: &str = "sluice";
const PASSWORD: &str = "s3cret-pw";

/// TLS on `listener` with the certificate, each connection forwarded to
/// `upstream`.
async fn tls_proxy(
    listener: tokio::net::TcpListener,
    upstream: SocketAddr,
    cert: &Path,
    key: &Path,
) {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    b.set_certificate_chain_file(cert).unwrap();
    b.set_private_key_file(key, SslFiletype::PEM).unwrap();
    let acceptor = Arc::new(b.build());
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor = Arc::clone(&acceptor);
        tokio::spawn(async move {
            let mut tls = SslStream::new(Ssl::new(acceptor.context()).unwrap(), tcp).unwrap();
            if Pin::new(&mut tls).accept().await.is_err() {
                return;
            }
            let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
        });
    }
}

/// tansu in `dir` on 127.0.0.1:`port`, advertising localhost:`advertised`
/// (the certificate's name), with `extra` arguments.
fn spawn_tansu(dir: &Path, port: u16, advertised: u16, extra: &[&str]) -> Child {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("tansu.log"))
        .unwrap();
    Command::new(testkit::tansu_binary().expect("tansu (scripts/setup.sh installs it)"))
        .current_dir(dir)
        .args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .args([
            "--advertised-listener-url",
            &format!("tcp://localhost:{advertised}"),
        ])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn tansu")
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn properties(password: &str, ca: &Path) -> BTreeMap<String, String> {
    [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", USER),
        ("sasl.password", password),
        ("ssl.ca.location", ca.to_str().unwrap()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_on_a_broker_that_requires_tls_and_scram() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir_all(&broker_dir).unwrap();
    let cert = testkit::tls::self_signed(dir.path());
    let port = testkit::free_port();
    let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_port = tls_listener.local_addr().unwrap().port();
    let proxy = tokio::spawn({
        let (c, k) = (cert.certificate.clone(), cert.private_key.clone());
        async move {
            tls_proxy(
                tls_listener,
                SocketAddr::from(([127, 0, 0, 1], port)),
                &c,
                &k,
            )
            .await
        }
    });

    // The SCRAM user is made first (tansu's `user create` speaks no SASL),
    // then the broker restarts on the same storage requiring it.
    let plain = spawn_tansu(&broker_dir, port, port, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(testkit::tansu_binary().unwrap())
            .args([
                "user",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{port}"),
            ])
            .args([USER, PASSWORD])
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tansu user create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(plain);
    let secure = spawn_tansu(&broker_dir, port, tls_port, &["--authentication"]);
    let brokers = format!("localhost:{tls_port}");

    // The right credentials through TLS get the metadata once tansu is up.
    let right = ingest::produce::KafkaConfig {
        brokers: brokers.clone(),
        properties: properties(PASSWORD, &cert.certificate),
        ..Default::default()
    };
    let admin = kafka_log::Admin::new(&right).unwrap();
    let counted = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match admin.broker_count_within(Duration::from_secs(1)) {
                Ok(n) => return n,
                Err(e) if Instant::now() > deadline => panic!("SASL_SSL metadata: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(counted, 1);

    // A wrong password: no metadata, so no broker.
    let wrong = ingest::produce::KafkaConfig {
        brokers: brokers.clone(),
        properties: properties("wrong", &cert.certificate),
        ..Default::default()
    };
    let admin = kafka_log::Admin::new(&wrong).unwrap();
    let counted =
        tokio::task::spawn_blocking(move || admin.broker_count_within(Duration::from_secs(3)))
            .await
            .unwrap();
    assert!(
        counted.is_err(),
        "a wrong password reached the broker: {counted:?}"
    );

    let mut spec = sluice::cluster::ClusterSpec::for_test(&dir.path().join("cluster"), brokers, 1);
    spec.kafka_properties = properties(PASSWORD, &cert.certificate);
    spec.create_database = Some("db".into());
    let cluster = spec
        .start()
        .await
        .expect("start the cluster on the secure broker");
    let http = reqwest::Client::new();
    let base = format!("http://{}", cluster.nodes[0].http_addr);
    let resp = http
        .post(format!("{base}/write"))
        .query(&[("db", "db")])
        .body("m,h=a v=1 1000000000\nm,h=b v=2 2000000000\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body: serde_json::Value = http
            .get(format!("{base}/query"))
            .query(&[("db", "db"), ("q", "SELECT count(v) FROM m")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["results"][0]["series"][0]["values"][0][1] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "never applied: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.stop().await;
    stop(secure);
    proxy.abort();
}

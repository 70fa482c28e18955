//! `sluice standalone` driven as a user would: the binary on free ports in
//! a temporary directory, writes over HTTP and through Kafka, queries, the
//! internal APIs closed to callers without the secret it generated, a
//! SIGTERM and a restart (same answers, same secret), and a SIGKILL during
//! a sustained write (every point whose write got a 204 is there
//! afterwards).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Ports of one standalone instance, fixed across its restarts.
struct Ports {
    http: u16,
    internal: u16,
    meta: u16,
    ingest: u16,
    kafka: u16,
}

impl Ports {
    fn new() -> Self {
        Ports {
            http: testkit::free_port(),
            internal: testkit::free_port(),
            meta: testkit::free_port(),
            ingest: testkit::free_port(),
            kafka: testkit::free_port(),
        }
    }
}

fn start(dir: &Path, p: &Ports) -> Child {
    let addr = |port: u16| format!("127.0.0.1:{port}");
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("standalone")
        .arg("--data-dir")
        .arg(dir)
        .args(["--http-bind", &addr(p.http)])
        .args(["--internal-bind", &addr(p.internal)])
        .args(["--meta-bind", &addr(p.meta)])
        .args(["--ingest-bind", &addr(p.ingest)])
        .args(["--kafka-bind", &addr(p.kafka)])
        .args(["--create-database", "demo"])
        .env("RUST_LOG", "warn")
        .env_remove("SLUICE_SHARED_SECRET")
        .env_remove("SLUICE_SHARED_SECRET_FILE")
        .env_remove("SLUICE_INSECURE_INTERNAL")
        .stdout(Stdio::null())
        .spawn()
        .expect("start sluice standalone")
}

/// The secret the all-in-one generated in `dir`, after checking that it
/// is private to its owner and that metad and the internal API want it.
async fn generated_secret(dir: &Path, p: &Ports) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let file = dir.join("cluster-secret");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let secret = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(secret.len(), 64);
    let http = reqwest::Client::new();
    for url in [
        format!("http://127.0.0.1:{}/meta", p.meta),
        format!("http://127.0.0.1:{}/internal/shards", p.internal),
    ] {
        let status = |r: reqwest::Response| r.status().as_u16();
        assert_eq!(status(http.get(&url).send().await.unwrap()), 401, "{url}");
        let with = http.get(&url).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(status(with), 200, "{url}");
    }
    secret
}

fn url(p: &Ports, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", p.http)
}

async fn wait_ready(p: &Ports, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "sluice standalone exited during start-up"
        );
        // Ready when the database exists (created after the nodes are up).
        if let Ok(r) = reqwest::get(url(p, "/query?q=SHOW%20DATABASES")).await {
            if r.text().await.unwrap_or_default().contains("\"demo\"") {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "sluice standalone did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn query(p: &Ports, q: &str) -> Value {
    let r = reqwest::Client::new()
        .get(url(p, "/query"))
        .query(&[("db", "demo"), ("q", q), ("epoch", "ns")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Timestamps of `SELECT v FROM <m>` (read your writes: every acknowledged
/// record applied).
async fn times(p: &Ports, m: &str) -> BTreeSet<i64> {
    let v = query(p, &format!("SELECT v FROM {m}")).await;
    v["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().map(|r| r[0].as_i64().unwrap()).collect())
        .unwrap_or_default()
}

async fn eventually_times(p: &Ports, m: &str, want: &BTreeSet<i64>) -> BTreeSet<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = times(p, m).await;
        if want.is_subset(&got) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn sigterm(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no clean stop within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_query_stop_restart_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let p = Ports::new();
    let mut sluice = start(dir.path(), &p);
    wait_ready(&p, &mut sluice).await;
    let secret = generated_secret(dir.path(), &p).await;

    let body = (0..100)
        .map(|i| {
            format!(
                "h2o,location=site{} v={i}i {}",
                i % 3,
                1_600_000_000_000_000_000i64 + i
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let r = reqwest::Client::new()
        .post(url(&p, "/write?db=demo"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Raw line protocol through Kafka, one line per message, as kcat sends.
    let raw: Vec<String> = (0..20)
        .map(|i| format!("kafka,src=kcat v={i}i {}", 1_600_000_000_000_000_000i64 + i))
        .collect();
    testkit::kcat_produce(
        &format!("127.0.0.1:{}", p.kafka),
        "sluice.lp.demo",
        None,
        &[],
        &raw.join("\n"),
    );

    let want_h2o: BTreeSet<i64> = (0..100).map(|i| 1_600_000_000_000_000_000 + i).collect();
    let want_kafka: BTreeSet<i64> = (0..20).map(|i| 1_600_000_000_000_000_000 + i).collect();
    assert_eq!(eventually_times(&p, "h2o", &want_h2o).await, want_h2o);
    assert_eq!(eventually_times(&p, "kafka", &want_kafka).await, want_kafka);
    let questions = [
        "SELECT count(v), sum(v) FROM h2o GROUP BY location",
        "SELECT * FROM kafka",
        "SHOW MEASUREMENTS",
        "SHOW TAG VALUES FROM h2o WITH KEY = location",
    ];
    let mut before = Vec::new();
    for q in questions {
        before.push(query(&p, q).await);
    }
    assert_eq!(
        before[0]["results"][0]["series"].as_array().map(Vec::len),
        Some(3),
        "{}",
        before[0]
    );
    assert_eq!(
        before[2]["results"][0]["series"][0]["values"],
        serde_json::json!([["h2o"], ["kafka"]]),
        "{}",
        before[2]
    );
    assert_eq!(
        before[3]["results"][0]["series"][0]["values"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "{}",
        before[3]
    );

    sigterm(&mut sluice);
    let mut sluice = start(dir.path(), &p);
    wait_ready(&p, &mut sluice).await;
    assert_eq!(generated_secret(dir.path(), &p).await, secret);
    assert_eq!(eventually_times(&p, "h2o", &want_h2o).await, want_h2o);
    for (q, b) in questions.iter().zip(&before) {
        assert_eq!(&query(&p, q).await, b, "{q} changed across the restart");
    }
    sigterm(&mut sluice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sustained_write_keeps_every_acknowledged_point() {
    let dir = tempfile::tempdir().unwrap();
    let p = Ports::new();
    let mut sluice = start(dir.path(), &p);
    wait_ready(&p, &mut sluice).await;

    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let write_url = url(&p, "/write?db=demo");
    let writer = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for batch in 0i64.. {
            let ts: Vec<i64> = (0..200)
                .map(|i| 1_600_000_000_000_000_000 + batch * 1000 + i)
                .collect();
            let body = ts
                .iter()
                .map(|t| format!("load,writer=1 v=1i {t}"))
                .collect::<Vec<_>>()
                .join("\n");
            match http.post(&write_url).body(body).send().await {
                Ok(r) if r.status() == 204 => acked_tx.send(ts).unwrap(),
                _ => break, // the server is gone
            }
        }
    });
    // Let a few hundred writes be acknowledged, then crash mid-stream.
    let mut acked = BTreeSet::new();
    while acked.len() < 20_000 {
        acked.extend(acked_rx.recv().await.expect("writes are acknowledged"));
    }
    sluice.kill().unwrap(); // SIGKILL
    sluice.wait().unwrap();
    writer.await.unwrap();
    while let Ok(ts) = acked_rx.try_recv() {
        acked.extend(ts);
    }

    let mut sluice = start(dir.path(), &p);
    wait_ready(&p, &mut sluice).await;
    let got = eventually_times(&p, "load", &acked).await;
    let missing = acked.difference(&got).count();
    assert_eq!(missing, 0, "{missing} acknowledged points lost");
    sigterm(&mut sluice);
}

//! Debian's `influx` CLI (package `influxdb-client`, InfluxDB 1.6) against a
//! Sluice data node: SHOW DATABASES, INSERT (through `/write`) and SELECT.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Sluice;

fn influx(port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new("influx")
        .args(["-host", "127.0.0.1", "-port", &port.to_string()])
        .args(args)
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn influx_cli_shows_inserts_and_selects() {
    let s = Sluice::start(false).await;
    let port = s.node().http_addr.port();

    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            influx(port, &a)
        })
    };
    let (ok, out) = run(vec!["-execute".into(), "CREATE DATABASE clidb".into()])
        .await
        .expect("cli task");
    assert!(ok, "CREATE DATABASE: {out}");
    let (ok, out) = run(vec!["-execute".into(), "SHOW DATABASES".into()])
        .await
        .expect("cli task");
    assert!(ok && out.contains("clidb"), "SHOW DATABASES: {out}");

    let (ok, out) = run(vec![
        "-database".into(),
        "clidb".into(),
        "-execute".into(),
        "INSERT cpu,host=server01 value=0.64 1434055562000000000".into(),
    ])
    .await
    .expect("cli task");
    assert!(ok, "INSERT: {out}");

    // The CLI cannot ask for read-your-writes: wait for the apply.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, out) = run(vec![
            "-database".into(),
            "clidb".into(),
            "-precision".into(),
            "rfc3339".into(),
            "-execute".into(),
            "SELECT host, value FROM cpu".into(),
        ])
        .await
        .expect("cli task");
        if ok && out.contains("2015-06-11T20:46:02Z server01 0.64") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the inserted point never showed up: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.stop().await;
}

//! End-to-end write throughput: TSBS-shaped line protocol POSTed to `/write`
//! of an ingest daemon in front of a local tansu broker and metad (204 only
//! after Kafka acknowledged every record with acks=all), next to the same
//! file loaded into Debian's InfluxDB 1.6 on the same machine, in the same
//! run. Prints field values/s for both.
//!
//! `cargo bench -p ingest --bench http_e2e`; the size and shape are set with
//! `BENCH_HOSTS` (100), `BENCH_INTERVALS` (1000, 10 s apart), `BENCH_BATCH`
//! (5000 lines per request, as TSBS's loaders send) and `BENCH_CLIENTS` (4
//! concurrent writers).

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest::daemon::{self, DaemonConfig};
use ingest::produce::KafkaConfig;
use ingest::raw::RawConfig;
use tokio::sync::{watch, Semaphore};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// POSTs `batches` to `url` with `clients` requests in flight; the time until
/// the last one answered 204.
async fn load(url: &str, batches: &[String], clients: usize) -> Duration {
    let http = reqwest::Client::new();
    let permits = Arc::new(Semaphore::new(clients));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for body in batches {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let req = http.post(url).body(body.clone());
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.expect("write request");
            let status = r.status();
            assert_eq!(status, 204, "{}", r.text().await.unwrap_or_default());
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let hosts = env_or("BENCH_HOSTS", 100);
    let intervals = env_or("BENCH_INTERVALS", 1000);
    let batch = env_or("BENCH_BATCH", 5000);
    let clients = env_or("BENCH_CLIENTS", 4);
    // Recent data, so the default (infinite) retention policy and 7-day
    // groups behave as in production.
    let t0 = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        / 3_600_000_000_000
        - 24)
        * 3_600_000_000_000;
    let body = common::tsbs_lines(hosts, intervals, t0);
    let lines: Vec<&str> = body.lines().collect();
    let batches: Vec<String> = lines.chunks(batch).map(|c| c.join("\n")).collect();
    let values = (lines.len() * 10) as f64;
    println!(
        "TSBS cpu: {hosts} hosts x {intervals} intervals = {} lines, {values} field values; \
         {} requests of {batch} lines, {clients} clients",
        lines.len(),
        batches.len()
    );

    let cluster = common::Cluster::start(1, "benchmark").await;
    let listen: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
    let config = DaemonConfig {
        kafka: KafkaConfig {
            brokers: cluster.broker.bootstrap(),
            ..KafkaConfig::default()
        },
        metad: meta_client::Config {
            shared_secret: Some(cluster.secret.clone()),
            ..meta_client::Config::new([cluster.metad_addr.clone()])
        },
        raw: RawConfig {
            topic_prefix: cluster.prefix.clone(),
            ..RawConfig::default()
        },
        http_listen: listen,
        serve_writes: true,
        api: Default::default(),
    };
    let (stop, rx) = watch::channel(false);
    let daemon = tokio::spawn(async move { daemon::run(config, rx).await.expect("ingest runs") });
    let sluice = format!("http://{listen}/write?db=benchmark");
    let ping = format!("http://{listen}/ping");
    while reqwest::get(&ping).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Shard groups and topics are created by the first write; time steady state.
    load(&sluice, &batches[..1], 1).await;
    let sluice_time = load(&sluice, &batches, clients).await;
    stop.send(true).unwrap();
    daemon.await.unwrap();

    let influxd = testkit::Influxd::start().expect("start influxd (scripts/setup.sh installs it)");
    let r = reqwest::Client::new()
        .post(format!(
            "{}/query?q=CREATE%20DATABASE%20benchmark",
            influxd.url()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let reference = format!("{}/write?db=benchmark", influxd.url());
    load(&reference, &batches[..1], 1).await;
    let influx_time = load(&reference, &batches, clients).await;

    let rate = |d: Duration| values / d.as_secs_f64();
    println!(
        "sluice  /write -> tansu (acks=all): {:>10.0} field values/s ({:.2} s)",
        rate(sluice_time),
        sluice_time.as_secs_f64()
    );
    println!(
        "influxd 1.6 /write:                 {:>10.0} field values/s ({:.2} s)",
        rate(influx_time),
        influx_time.as_secs_f64()
    );
}

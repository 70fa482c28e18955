//! End-to-end query benchmark: Sluice next to InfluxDB 1.6 on the TSBS
//! `cpu-only` queries.
//!
//! `cargo bench -p query --bench query_bench` (options after `--`:
//! `--hosts N`, `--hours H`, `--runs R`, `--only <query type>`). It starts a real tansu broker,
//! metad and one shardd node (the write path is the real one: `/write` →
//! Kafka → apply), and Debian's `influxd` on the same machine, loads the
//! same TSBS-shaped data into both through `/write` (100 hosts × 24 h at
//! 10 s by default: 864 000 points, 8.64 M field values), then runs every
//! query type `R` times with the same random parameters on both and prints
//! the median latency of each, measured at the HTTP client (JSON fully
//! received).
//!
//! The query definitions are TSBS's InfluxQL ones
//! (`cmd/tsbs_generate_queries/uses/devops`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

const T0: i64 = 1_451_606_400_000_000_000; // 2016-01-01T00:00:00Z, TSBS's default start
const HOUR: i64 = 3_600_000_000_000;
const DB: &str = "benchmark";

struct Args {
    hosts: usize,
    hours: i64,
    runs: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        hosts: 100,
        hours: 24,
        runs: 15,
        only: None,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let next = v.get(i + 1).and_then(|x| x.parse::<usize>().ok());
        match (v[i].as_str(), next) {
            ("--hosts", Some(n)) => a.hosts = n,
            ("--hours", Some(n)) => a.hours = n as i64,
            ("--runs", Some(n)) => a.runs = n,
            ("--only", _) if i + 1 < v.len() => a.only = Some(v[i + 1].clone()),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// A small deterministic generator, so both servers get the same queries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn rfc(ns: i64) -> String {
    query::format::rfc3339(ns)
}

const ALL_FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

fn hosts_clause(rng: &mut Rng, hosts: usize, n: usize) -> String {
    let mut picked: Vec<u64> = Vec::new();
    while picked.len() < n.min(hosts) {
        let h = rng.below(hosts as u64);
        if !picked.contains(&h) {
            picked.push(h);
        }
    }
    let parts: Vec<String> = picked
        .iter()
        .map(|h| format!("hostname = 'host_{h}'"))
        .collect();
    format!("({})", parts.join(" or "))
}

fn window(rng: &mut Rng, total_hours: i64, hours: i64) -> (i64, i64) {
    let span = (total_hours - hours).max(0) * 60;
    let start = T0 + rng.below(span as u64 + 1) as i64 * 60_000_000_000;
    (start, start + hours * HOUR)
}

/// The TSBS query of `kind` with random parameters.
fn make_query(kind: &str, rng: &mut Rng, a: &Args) -> String {
    let maxes = |n: usize| -> String {
        ALL_FIELDS[..n]
            .iter()
            .map(|f| format!("max({f})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        "single-groupby-1-1-1" => {
            let (s, e) = window(rng, a.hours, 1);
            format!(
                "SELECT max(usage_user) from cpu where {} and time >= '{}' and time < '{}' group by time(1m)",
                hosts_clause(rng, a.hosts, 1), rfc(s), rfc(e)
            )
        }
        "single-groupby-5-1-12" => {
            let (s, e) = window(rng, a.hours, 12);
            format!(
                "SELECT {} from cpu where {} and time >= '{}' and time < '{}' group by time(1m)",
                maxes(5),
                hosts_clause(rng, a.hosts, 1),
                rfc(s),
                rfc(e)
            )
        }
        "cpu-max-all-8" => {
            let (s, e) = window(rng, a.hours, 8);
            format!(
                "SELECT {} from cpu where {} and time >= '{}' and time < '{}' group by time(1h)",
                maxes(10),
                hosts_clause(rng, a.hosts, 8),
                rfc(s),
                rfc(e)
            )
        }
        "double-groupby-1" => {
            let (s, e) = window(rng, a.hours, 12);
            format!(
                "SELECT mean(usage_user) from cpu where time >= '{}' and time < '{}' group by time(1h),hostname",
                rfc(s), rfc(e)
            )
        }
        "high-cpu-1" => {
            let (s, e) = window(rng, a.hours, 12);
            format!(
                "SELECT * from cpu where usage_user > 90.0 and {} and time >= '{}' and time < '{}'",
                hosts_clause(rng, a.hosts, 1),
                rfc(s),
                rfc(e)
            )
        }
        "high-cpu-all" => {
            let (s, e) = window(rng, a.hours, 12);
            format!(
                "SELECT * from cpu where usage_user > 90.0 and time >= '{}' and time < '{}'",
                rfc(s),
                rfc(e)
            )
        }
        "lastpoint" => "SELECT last(*) from cpu group by \"hostname\"".to_owned(),
        "groupby-orderby-limit" => {
            let (_, e) = window(rng, a.hours, 1);
            format!(
                "SELECT max(usage_user) from cpu where time < '{}' group by time(1m) order by time desc limit 5",
                rfc(e)
            )
        }
        other => panic!("unknown query type {other}"),
    }
}

const KINDS: [&str; 8] = [
    "single-groupby-1-1-1",
    "single-groupby-5-1-12",
    "cpu-max-all-8",
    "double-groupby-1",
    "high-cpu-1",
    "high-cpu-all",
    "lastpoint",
    "groupby-orderby-limit",
];

async fn load(client: &reqwest::Client, url: &str, data: &str) -> Duration {
    let r = client
        .post(format!("{url}/query"))
        .form(&[("q", format!("CREATE DATABASE {DB}"))])
        .send()
        .await
        .expect("create database");
    assert!(r.status().is_success(), "create database on {url}");
    let lines: Vec<&str> = data.lines().collect();
    let start = Instant::now();
    for chunk in lines.chunks(5_000) {
        let r = client
            .post(format!("{url}/write"))
            .query(&[("db", DB)])
            .body(chunk.join("\n"))
            .send()
            .await
            .expect("write");
        let status = r.status();
        assert_eq!(
            status.as_u16(),
            204,
            "write to {url}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    start.elapsed()
}

/// Runs `q` and returns the latency and the body size.
async fn timed(
    client: &reqwest::Client,
    url: &str,
    q: &str,
    extra: &[(&str, &str)],
) -> (Duration, usize) {
    let start = Instant::now();
    let r = client
        .get(format!("{url}/query"))
        .query(&[("q", q), ("db", DB)])
        .query(extra)
        .send()
        .await
        .expect("query");
    let status = r.status();
    let body = r.text().await.expect("body");
    let took = start.elapsed();
    assert!(
        status.is_success() && !body.contains("\"error\""),
        "{url}: {q}: {body}"
    );
    (took, body.len())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let points = a.hosts * (a.hours as usize) * 360;
        eprintln!("query-bench: {} hosts x {} h at 10 s = {points} points", a.hosts, a.hours);
        let data = testkit::tsbs::cpu_lines(a.hosts, a.hours as usize * 360, T0);
        let influxd = testkit::Influxd::start().expect("start influxd (scripts/setup.sh installs it)");
        let sluice = common::Sluice::start(false).await;
        let client = reqwest::Client::new();

        let t_influx = load(&client, &influxd.url(), &data).await;
        let t_sluice = load(&client, &sluice.url, &data).await;
        // Every acknowledged write must be applied before timing reads:
        // one read-your-writes query waits for it.
        let (sync, _) = timed(&client, &sluice.url, "SELECT count(usage_user) FROM cpu", &[("consistency", "strong")]).await;
        eprintln!(
            "load: influxdb {:.1} s ({:.0} points/s), sluice {:.1} s ({:.0} points/s) + {:.1} s until applied",
            t_influx.as_secs_f64(),
            points as f64 / t_influx.as_secs_f64(),
            t_sluice.as_secs_f64(),
            points as f64 / t_sluice.as_secs_f64(),
            sync.as_secs_f64()
        );
        // Same answer from both, as a sanity check on what is timed.
        let count = "SELECT count(usage_user) FROM cpu";
        for url in [&influxd.url(), &sluice.url] {
            let body = client
                .get(format!("{url}/query"))
                .query(&[("q", count), ("db", DB)])
                .send()
                .await
                .expect("count")
                .text()
                .await
                .expect("body");
            assert!(body.contains(&format!(",{points}]")), "{url}: {body}");
        }

        println!(
            "{:<24} {:>14} {:>14} {:>9}   ({} runs each, median latency at the client)",
            "query", "influxdb 1.6", "sluice", "speedup", a.runs
        );
        for kind in KINDS {
            if a.only.as_deref().is_some_and(|o| o != kind) {
                continue;
            }
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ kind.len() as u64);
            let queries: Vec<String> = (0..a.runs).map(|_| make_query(kind, &mut rng, &a)).collect();
            // One untimed warm-up each (caches, connections).
            timed(&client, &influxd.url(), &queries[0], &[]).await;
            timed(&client, &sluice.url, &queries[0], &[]).await;
            let mut ti = Vec::new();
            let mut ts = Vec::new();
            for q in &queries {
                ti.push(timed(&client, &influxd.url(), q, &[]).await.0);
                ts.push(timed(&client, &sluice.url, q, &[]).await.0);
            }
            let (mi, mss) = (median(ti), median(ts));
            println!(
                "{kind:<24} {:>11.2} ms {:>11.2} ms {:>8.2}x",
                ms(mi),
                ms(mss),
                ms(mi) / ms(mss)
            );
        }
        sluice.stop().await;
    });
}

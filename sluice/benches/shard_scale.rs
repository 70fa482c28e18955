//! Shard scale: what N shard groups cost one data node, next to InfluxDB 1.6
//! doing the same on the same machine in the same run.
//!
//! `cargo bench -p sluice --bench shard_scale`; `SCALE_GROUPS` lists the N
//! (default `10,100,1000,10000`), `SCALE_TSBS_HOSTS` sizes the TSBS step
//! (default 100 hosts × 1 h at 10 s).
//!
//! For each N, each system starts fresh (Sluice: a tansu broker, metad and
//! one data node, as the all-in-one runs them, in a child process of its
//! own so its threads and memory are its alone; InfluxDB: `influxd`), gets
//! a database whose default policy has 1-hour shard groups, and N points
//! an hour apart written 1,000 per `/write` (a node reaches thousands of
//! shards over many writes, not in one): N groups, one shard each.
//! Printed: the time until the last write's 204, the time until
//! `SELECT count(v)` answers N,
//! disk as `du` counts it (Sluice: the data node's and metad's
//! directories, the broker aside; InfluxDB: data, WAL and meta), threads
//! and RSS of the process.
//!
//! Then, with 0 and with 1,000 idle groups present, the TSBS step: the
//! `cpu` data written in batches of 5,000 lines (field values/s) and the
//! median latency of TSBS's `single-groupby-1-1-1` and `cpu-max-all-1`
//! queries over it, so that idle shards can be seen to cost the live ones
//! nothing.

use std::time::{Duration, Instant};

use sluice::cluster::ClusterSpec;

const HOUR: i64 = 3_600_000_000_000;
/// 2025-01-01T00:00:00Z: the scale points go back an hour each from here.
const T0: i64 = 1_735_689_600_000_000_000;
const DB: &str = "scale";
const CHILD_ENV: &str = "SHARD_SCALE_CHILD";
/// Points (and so new groups) per write.
const WRITE_POINTS: usize = 1000;

/// What one system did for one N.
#[derive(Debug, Default, Clone)]
struct Figures {
    write_s: f64,
    queryable_s: f64,
    disk_bytes: u64,
    threads: u64,
    rss_bytes: u64,
    /// TSBS step (only when asked): values/s, and the two query medians.
    tsbs: Option<(f64, f64, f64)>,
}

impl Figures {
    fn to_line(&self) -> String {
        let (v, q1, q2) = self.tsbs.unwrap_or((0.0, 0.0, 0.0));
        format!(
            "{} {} {} {} {} {} {} {}",
            self.write_s,
            self.queryable_s,
            self.disk_bytes,
            self.threads,
            self.rss_bytes,
            v,
            q1,
            q2
        )
    }

    fn from_line(line: &str) -> Option<Figures> {
        let f: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        (f.len() == 8).then(|| Figures {
            write_s: f[0],
            queryable_s: f[1],
            disk_bytes: f[2] as u64,
            threads: f[3] as u64,
            rss_bytes: f[4] as u64,
            tsbs: (f[5] > 0.0).then_some((f[5], f[6], f[7])),
        })
    }
}

fn main() {
    if let Ok(what) = std::env::var(CHILD_ENV) {
        let (n, tsbs) = what.split_once(':').expect("N:tsbs");
        // The runtime the all-in-one runs on (its blocking pool bounded).
        let figures = settings::runtime()
            .expect("runtime")
            .block_on(sluice_child(n.parse().expect("N"), tsbs == "1"));
        println!("FIGURES {}", figures.to_line());
        return;
    }
    let groups: Vec<usize> = std::env::var("SCALE_GROUPS")
        .unwrap_or_else(|_| "10,100,1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("SCALE_GROUPS: numbers"))
        .collect();
    println!("shard groups on one data node, N points an hour apart, {WRITE_POINTS} per /write:\n");
    println!(
        "{:>6}  {:<8} {:>9} {:>12} {:>10} {:>8} {:>9}",
        "N", "system", "write s", "queryable s", "disk MB", "threads", "RSS MB"
    );
    let rt = runtime();
    for &n in &groups {
        let s = sluice_in_child(n, false);
        let i = rt.block_on(influx(n, false));
        for (name, f) in [("sluice", &s), ("influxdb", &i)] {
            println!(
                "{n:>6}  {name:<8} {:>9.2} {:>12.2} {:>10.1} {:>8} {:>9.1}",
                f.write_s,
                f.queryable_s,
                f.disk_bytes as f64 / 1e6,
                f.threads,
                f.rss_bytes as f64 / 1e6
            );
        }
    }
    println!("\nTSBS cpu-only on top of N idle groups (values/s, median ms):\n");
    println!(
        "{:>6}  {:<8} {:>12} {:>22} {:>15}",
        "N", "system", "ingest v/s", "single-groupby-1-1-1", "cpu-max-all-1"
    );
    for n in [0, 1000] {
        let s = sluice_in_child(n, true);
        let i = rt.block_on(influx(n, true));
        for (name, f) in [("sluice", &s), ("influxdb", &i)] {
            let (v, q1, q2) = f.tsbs.unwrap_or_default();
            println!("{n:>6}  {name:<8} {v:>12.0} {q1:>22.1} {q2:>15.1}");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs the Sluice side in a fresh process, so that the threads and RSS
/// measured are those of one all-in-one with N groups.
fn sluice_in_child(n: usize, tsbs: bool) -> Figures {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(CHILD_ENV, format!("{n}:{}", u8::from(tsbs)))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("FIGURES "))
        .and_then(Figures::from_line)
        .unwrap_or_else(|| panic!("child for N={n} failed: {text}"))
}

async fn sluice_child(n: usize, tsbs: bool) -> Figures {
    let broker = testkit::Broker::start().expect("tansu");
    let dir = tempfile::tempdir().expect("dir");
    let mut spec = ClusterSpec::for_test(dir.path(), broker.bootstrap(), 1);
    spec.create_database = Some(DB.into());
    let cluster = spec.start().await.expect("cluster");
    let url = format!("http://{}", cluster.nodes[0].http_addr);
    let mut f = scale(&url, n).await;
    f.disk_bytes = testkit::disk_usage(&dir.path().join("node-1"))
        + testkit::disk_usage(&dir.path().join("meta"));
    (f.threads, f.rss_bytes) = proc_status("self");
    if tsbs {
        f.tsbs = Some(tsbs_step(&url).await);
    }
    cluster.stop().await;
    f
}

async fn influx(n: usize, tsbs: bool) -> Figures {
    let influxd = testkit::Influxd::start().expect("influxd");
    let url = influxd.url();
    query(&url, &format!("CREATE DATABASE {DB}")).await;
    let mut f = scale(&url, n).await;
    f.disk_bytes = influxd.disk_usage();
    (f.threads, f.rss_bytes) = proc_status(&influxd.pid().to_string());
    if tsbs {
        f.tsbs = Some(tsbs_step(&url).await);
    }
    f
}

/// The policy with 1-hour groups, then one write of `n` points an hour
/// apart, then waiting until all are counted.
async fn scale(url: &str, n: usize) -> Figures {
    let r = query(
        url,
        &format!(
            "CREATE RETENTION POLICY h ON {DB} DURATION INF REPLICATION 1 \
             SHARD DURATION 1h DEFAULT"
        ),
    )
    .await;
    assert!(r["results"][0]["error"].is_null(), "{r}");
    let mut f = Figures::default();
    if n == 0 {
        return f;
    }
    let started = Instant::now();
    for first in (0..n).step_by(WRITE_POINTS) {
        let body: String = (first..n.min(first + WRITE_POINTS))
            .map(|i| format!("m,g={i} v={i}i {}\n", T0 - i as i64 * HOUR))
            .collect();
        write(url, body).await;
    }
    f.write_s = started.elapsed().as_secs_f64();
    let deadline = started + Duration::from_secs(1800);
    loop {
        let r = query(url, "SELECT count(v) FROM m").await;
        if r["results"][0]["series"][0]["values"][0][1].as_u64() == Some(n as u64) {
            break;
        }
        assert!(Instant::now() < deadline, "N={n} never queryable: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.queryable_s = started.elapsed().as_secs_f64();
    f
}

/// TSBS cpu-only data for the hour after T0 (a live group of its own),
/// then two query types, median of 9 runs each.
async fn tsbs_step(url: &str) -> (f64, f64, f64) {
    let hosts: usize = std::env::var("SCALE_TSBS_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let times = 360;
    let data = testkit::tsbs::cpu_lines(hosts, times, T0);
    let lines: Vec<&str> = data.lines().collect();
    let started = Instant::now();
    for chunk in lines.chunks(5000) {
        write(url, chunk.join("\n")).await;
    }
    let values = (hosts * times * 10) as f64;
    let rate = values / started.elapsed().as_secs_f64();
    let count = (hosts * times) as u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while query(url, "SELECT count(usage_user) FROM cpu").await["results"][0]["series"][0]["values"]
        [0][1]
        .as_u64()
        != Some(count)
    {
        assert!(Instant::now() < deadline, "TSBS data never queryable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let end = T0 + HOUR;
    let single = format!(
        "SELECT max(usage_user) FROM cpu WHERE hostname = 'host_1' AND time >= {} AND \
         time < {end} GROUP BY time(1m)",
        end - HOUR
    );
    let max_all = format!(
        "SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), \
         max(usage_iowait), max(usage_irq), max(usage_softirq), max(usage_steal), \
         max(usage_guest), max(usage_guest_nice) FROM cpu WHERE hostname = 'host_1' AND \
         time >= {} AND time < {end} GROUP BY time(1h)",
        end - 8 * HOUR
    );
    (
        rate,
        median_ms(url, &single).await,
        median_ms(url, &max_all).await,
    )
}

async fn median_ms(url: &str, q: &str) -> f64 {
    let mut ms = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let r = query(url, q).await;
        assert!(r["results"][0]["error"].is_null(), "{q}: {r}");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

async fn write(url: &str, body: String) {
    let r = reqwest::Client::new()
        .post(format!("{url}/write"))
        .query(&[("db", DB), ("precision", "ns")])
        .body(body)
        .timeout(Duration::from_secs(1800))
        .send()
        .await
        .expect("write");
    let status = r.status();
    assert_eq!(
        status.as_u16(),
        204,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

async fn query(url: &str, q: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{url}/query"))
        .query(&[("db", DB), ("q", q), ("epoch", "ns")])
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json")
}

/// Threads and RSS (bytes) of a process, from `/proc/<pid>/status`.
fn proc_status(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmRSS:") * 1024)
}

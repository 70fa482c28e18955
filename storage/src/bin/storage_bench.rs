//! Storage benchmark on TSBS-shaped data, side by side with InfluxDB 1.6.
//!
//! ```text
//! CARGO_TARGET_DIR=/root/.cache/sluice/target \
//!   cargo run --release -p storage --bin storage-bench -- [--hosts 100] [--hours 12] [--no-influx]
//! ```
//!
//! Data: TSBS's `cpu` measurement — 10 tags per host, 10 fields
//! (`usage_user` … `usage_guest_nice`), each a random walk clamped to
//! [0, 100] with N(0, 1) steps as TSBS's devops generator does, one point per
//! host every 10 s. The integer run stores the walk truncated to integers
//! (TSBS's `58i`), the float run the walk itself. Records are built as ingest
//! would: 5000 lines per record, grouped by series, one column per field.
//!
//! Prints: (a) on-disk bytes per value after a full compaction, for Sluice
//! and for Debian's `influxd` (run on loopback ports in a temp dir, fed the
//! same points as line protocol over HTTP, measured after its cold-shard full
//! compaction); (b) apply throughput in field values/s; (c) full scan of one
//! field of one series in values/s.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use schemas::record::{FieldColumn, FieldValues, PointBatch, Series, Tag};
use schemas::LogRecord;
use storage::{dir_size, NodeBudget, ShardOptions, Store};

const FIELDS: [&str; 10] = [
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
const INTERVAL_S: i64 = 10;
const LINES_PER_RECORD: usize = 5000;
/// 2026-01-01T00:00:00Z, a Thursday: 12 h from here stay inside one 7-day
/// InfluxDB shard group (Go's `Truncate` starts them on Mondays) and one
/// Sluice day window.
const START_S: i64 = 1_767_225_600;

/// xorshift64*: a tiny deterministic generator (no dependency, no download).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// One host's tags, TSBS style.
fn host_tags(rng: &mut Rng, h: usize) -> Vec<(String, String)> {
    let regions = [
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ];
    let region = rng.pick(&regions);
    let dc = format!("{region}{}", rng.pick(&["a", "b", "c"]));
    vec![
        ("arch".into(), rng.pick(&["x64", "x86"]).into()),
        ("datacenter".into(), dc),
        ("hostname".into(), format!("host_{h}")),
        (
            "os".into(),
            rng.pick(&["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"])
                .into(),
        ),
        ("rack".into(), (rng.next() % 100).to_string()),
        ("region".into(), region.into()),
        ("service".into(), (rng.next() % 20).to_string()),
        (
            "service_environment".into(),
            rng.pick(&["production", "staging", "test"]).into(),
        ),
        ("service_version".into(), (rng.next() % 2).to_string()),
        ("team".into(), rng.pick(&["SF", "NYC", "LON", "CHI"]).into()),
    ]
}

/// The generated data set: per host its tags and per field the walk.
struct Data {
    tags: Vec<Vec<(String, String)>>,
    /// `walks[host][field][i]`
    walks: Vec<Vec<Vec<f64>>>,
    points_per_host: usize,
}

fn generate(hosts: usize, hours: i64) -> Data {
    let mut rng = Rng(0x5EED_0000_0000_0001);
    let n = (hours * 3600 / INTERVAL_S) as usize;
    let tags = (0..hosts).map(|h| host_tags(&mut rng, h)).collect();
    let walks = (0..hosts)
        .map(|_| {
            (0..FIELDS.len())
                .map(|_| {
                    let mut v = rng.uniform() * 100.0;
                    (0..n)
                        .map(|_| {
                            v = (v + rng.normal()).clamp(0.0, 100.0);
                            v
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Data {
        tags,
        walks,
        points_per_host: n,
    }
}

fn ts_ns(i: usize) -> i64 {
    (START_S + i as i64 * INTERVAL_S) * 1_000_000_000
}

/// Point batches as ingest builds them: `LINES_PER_RECORD` lines per record,
/// i.e. a run of timestamps for all hosts, grouped by series.
fn records(d: &Data, integer: bool) -> Vec<LogRecord<'static>> {
    let hosts = d.tags.len();
    let per_record = (LINES_PER_RECORD / hosts).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < d.points_per_host {
        let end = (start + per_record).min(d.points_per_host);
        let timestamps: Vec<i64> = (start..end).map(ts_ns).collect();
        let series = (0..hosts)
            .map(|h| Series {
                measurement: Cow::Borrowed("cpu"),
                tags: d.tags[h]
                    .iter()
                    .map(|(k, v)| Tag {
                        key: Cow::Owned(k.clone()),
                        value: Cow::Owned(v.clone()),
                    })
                    .collect(),
                fields: FIELDS
                    .iter()
                    .enumerate()
                    .map(|(f, name)| {
                        let w = &d.walks[h][f][start..end];
                        FieldColumn {
                            name: Cow::Borrowed(*name),
                            timestamps: timestamps.clone(),
                            values: if integer {
                                FieldValues::Integer(w.iter().map(|v| *v as i64).collect())
                            } else {
                                FieldValues::Float(w.to_vec())
                            },
                        }
                    })
                    .collect(),
            })
            .collect();
        out.push(LogRecord::Points(PointBatch {
            database: "bench".into(),
            retention_policy: "autogen".into(),
            shard_id: 1,
            series,
        }));
        start = end;
    }
    out
}

/// The same points as line protocol (precision s), in batches of 5000 lines.
fn line_protocol(d: &Data, integer: bool) -> Vec<String> {
    let hosts = d.tags.len();
    let mut batches = Vec::new();
    let mut cur = String::new();
    let mut lines = 0;
    for i in 0..d.points_per_host {
        for h in 0..hosts {
            cur.push_str("cpu");
            for (k, v) in &d.tags[h] {
                cur.push(',');
                cur.push_str(k);
                cur.push('=');
                cur.push_str(v);
            }
            for (f, name) in FIELDS.iter().enumerate() {
                cur.push(if f == 0 { ' ' } else { ',' });
                let v = d.walks[h][f][i];
                if integer {
                    cur.push_str(&format!("{name}={}i", v as i64));
                } else {
                    cur.push_str(&format!("{name}={v:?}"));
                }
            }
            cur.push_str(&format!(" {}\n", START_S + i as i64 * INTERVAL_S));
            lines += 1;
            if lines == LINES_PER_RECORD {
                batches.push(std::mem::take(&mut cur));
                lines = 0;
            }
        }
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    batches
}

struct SluiceRun {
    values: u64,
    apply_secs: f64,
    compact_secs: f64,
    sst_bytes: u64,
    dir_bytes: u64,
    scan_values: u64,
    scan_secs: f64,
}

fn run_sluice(dir: &Path, d: &Data, integer: bool) -> SluiceRun {
    let recs = records(d, integer);
    let values: u64 = recs
        .iter()
        .map(|r| match r {
            LogRecord::Points(p) => p.value_count() as u64,
            LogRecord::Tombstone(_) => 0,
        })
        .sum();
    let store = Store::open(dir, NodeBudget::default()).expect("open store");
    let shard = store
        .shard(1, &ShardOptions::default())
        .expect("open shard");
    let t = Instant::now();
    for (i, r) in recs.iter().enumerate() {
        shard.apply(i as i64, r).expect("apply");
    }
    let apply_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    shard.compact().expect("compact");
    let compact_secs = t.elapsed().as_secs_f64();
    let sst_bytes = shard.size_on_disk().expect("sst bytes");
    let dir_bytes = store.size_on_disk().expect("size");
    // Scan: every series' usage_user, full range, repeated for ~1 s.
    let series = shard.series(None, None).expect("series");
    let field = shard
        .field("cpu", "usage_user")
        .expect("field")
        .expect("exists");
    let mut scan_values = 0u64;
    let mut checksum = 0f64;
    let t = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || t.elapsed() < Duration::from_secs(1) {
        for s in &series {
            for b in shard.scan(s.id, field.id, i64::MIN, i64::MAX) {
                let b = b.expect("scan");
                scan_values += b.len() as u64;
                checksum += match &b.values {
                    storage::Column::Integer(v) => v[v.len() / 2] as f64,
                    storage::Column::Float(v) => v[v.len() / 2],
                    _ => 0.0,
                };
            }
        }
        rounds += 1;
    }
    let scan_secs = t.elapsed().as_secs_f64();
    assert!(checksum.is_finite());
    shard.close().expect("close");
    SluiceRun {
        values,
        apply_secs,
        compact_secs,
        sst_bytes,
        dir_bytes,
        scan_values,
        scan_secs,
    }
}

// ---- InfluxDB 1.6 side ---------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http(addr: &str, path: &str, body: &[u8]) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

struct Influx {
    child: Child,
    addr: String,
    root: PathBuf,
}

impl Drop for Influx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_influx(root: &Path) -> Option<Influx> {
    let http_port = free_port();
    let rpc_port = free_port();
    let config = format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "2s"
  compact-full-write-cold-duration = "5s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[retention]
  enabled = false
[shard-precreation]
  enabled = false
"#,
        root = root.display()
    );
    std::fs::create_dir_all(root).ok()?;
    let cfg = root.join("influxdb.conf");
    std::fs::write(&cfg, config).ok()?;
    let child = Command::new("influxd")
        .arg("run")
        .arg("-config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let influx = Influx {
        child,
        addr: format!("127.0.0.1:{http_port}"),
        root: root.to_path_buf(),
    };
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if let Ok(s) = TcpStream::connect(&influx.addr) {
            drop(s);
            let mut s = TcpStream::connect(&influx.addr).ok()?;
            let _ = write!(
                s,
                "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut r = String::new();
            let _ = s.read_to_string(&mut r);
            if r.contains(" 204") {
                return Some(influx);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn files_with(dir: &Path, ext: &str) -> (usize, u64) {
    let mut n = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(ext) {
                n += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (n, bytes)
}

struct InfluxRun {
    tsm_bytes: u64,
    total_bytes: u64,
    compacted: bool,
}

fn write_influx(influx: &Influx, db: &str, batches: &[String]) -> bool {
    let q = format!("/query?q=CREATE+DATABASE+{db}");
    if http(&influx.addr, &q, b"").ok() != Some(200) {
        return false;
    }
    for b in batches {
        match http(
            &influx.addr,
            &format!("/write?db={db}&precision=s"),
            b.as_bytes(),
        ) {
            Ok(204) => {}
            other => {
                eprintln!("influxd /write answered {other:?}");
                return false;
            }
        }
    }
    true
}

/// Waits (at most 60 s) for the cache snapshots and cold full compactions
/// of `dbs`: no WAL bytes, one TSM file, no temp files, unchanged for 3
/// polls. Then measures each database's files.
fn measure_influx(influx: &Influx, dbs: &[&str]) -> Vec<InfluxRun> {
    let state = |db: &str| {
        let data = influx.root.join("data").join(db);
        let wal = influx.root.join("wal").join(db);
        (
            files_with(&data, ".tsm"),
            files_with(&data, ".tmp").0,
            files_with(&wal, ".wal").1,
        )
    };
    let t = Instant::now();
    let mut stable = 0;
    let mut last = Vec::new();
    let mut compacted = false;
    while t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1000));
        let now: Vec<_> = dbs.iter().map(|db| state(db)).collect();
        let done = now
            .iter()
            .all(|(tsm, tmp, walb)| tsm.0 == 1 && *tmp == 0 && *walb == 0);
        if done && now == last {
            stable += 1;
            if stable >= 3 {
                compacted = true;
                break;
            }
        } else {
            stable = 0;
        }
        last = now;
    }
    dbs.iter()
        .map(|db| {
            let data = influx.root.join("data").join(db);
            let wal = influx.root.join("wal").join(db);
            InfluxRun {
                tsm_bytes: files_with(&data, ".tsm").1,
                total_bytes: dir_size(&data).unwrap_or(0) + dir_size(&wal).unwrap_or(0),
                compacted,
            }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: i64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let hosts = arg("--hosts", 100) as usize;
    let hours = arg("--hours", 12);
    let with_influx = !args.iter().any(|a| a == "--no-influx");
    let root = std::env::temp_dir().join(format!("sluice-storage-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);

    let t = Instant::now();
    let d = generate(hosts, hours);
    let total_values = (hosts * d.points_per_host * FIELDS.len()) as u64;
    eprintln!(
        "generated {hosts} hosts x {hours} h @ {INTERVAL_S} s: {total_values} values per run ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let int = run_sluice(&root.join("sluice-int"), &d, true);
    eprintln!("sluice integer run done");
    let float = run_sluice(&root.join("sluice-float"), &d, false);
    eprintln!("sluice float run done");

    let (mut influx_int, mut influx_float) = (None, None);
    if with_influx {
        match start_influx(&root.join("influxdb")) {
            None => eprintln!("could not start influxd; skipping the comparison"),
            Some(influx) => {
                let t = Instant::now();
                let ok = write_influx(&influx, "bench_int", &line_protocol(&d, true))
                    && write_influx(&influx, "bench_float", &line_protocol(&d, false));
                eprintln!("influxd writes done ({:.1} s)", t.elapsed().as_secs_f64());
                if ok {
                    let mut runs = measure_influx(&influx, &["bench_int", "bench_float"]);
                    influx_float = runs.pop();
                    influx_int = runs.pop();
                }
            }
        }
    }

    let per = |b: u64| b as f64 / total_values as f64;
    println!();
    println!(
        "TSBS-shaped cpu data: {hosts} hosts x {hours} h @ {INTERVAL_S} s, 10 tags, 10 fields = {total_values} values per run"
    );
    println!("{:-<96}", "");
    println!(
        "{:<44} {:>24} {:>24}",
        "", "Sluice", "InfluxDB 1.6 (influxd)"
    );
    let influx_cell = |r: &Option<InfluxRun>, f: &dyn Fn(&InfluxRun) -> String| match r {
        Some(r) => format!("{}{}", f(r), if r.compacted { "" } else { " (!)" }),
        None => "n/a".into(),
    };
    for (label, s, i) in [
        ("integer", &int, &influx_int),
        ("float", &float, &influx_float),
    ] {
        println!(
            "{:<44} {:>24} {:>24}",
            format!("{label}: bytes/value, data files (SST | TSM)"),
            format!("{:.3}", per(s.sst_bytes)),
            influx_cell(i, &|r| format!("{:.3}", per(r.tsm_bytes)))
        );
        println!(
            "{:<44} {:>24} {:>24}",
            format!("{label}: bytes/value, whole shard dir"),
            format!("{:.3}", per(s.dir_bytes)),
            influx_cell(i, &|r| format!("{:.3}", per(r.total_bytes)))
        );
        println!(
            "{:<44} {:>24} {:>24}",
            format!("{label}: bytes on disk (data | whole)"),
            format!("{} | {}", s.sst_bytes, s.dir_bytes),
            influx_cell(i, &|r| format!("{} | {}", r.tsm_bytes, r.total_bytes))
        );
    }
    for (label, s) in [("integer", &int), ("float", &float)] {
        println!(
            "{:<44} {:>24} {:>24}",
            format!("{label}: apply, field values/s (1 thread)"),
            format!("{:.2} M", s.values as f64 / s.apply_secs / 1e6),
            ""
        );
        println!(
            "{:<44} {:>24} {:>24}",
            format!("{label}: apply + full compaction, values/s"),
            format!(
                "{:.2} M",
                s.values as f64 / (s.apply_secs + s.compact_secs) / 1e6
            ),
            ""
        );
    }
    for (label, s) in [("integer", &int), ("float", &float)] {
        println!(
            "{:<44} {:>24} {:>24}",
            format!("{label}: scan 1 field of 1 series, values/s"),
            format!("{:.1} M", s.scan_values as f64 / s.scan_secs / 1e6),
            ""
        );
    }
    println!("{:-<96}", "");
    println!("(!) = influxd had not finished its full compaction within 60 s");
    println!(
        "targets: integer bytes/value <= InfluxDB's; apply >= 1.5 M values/s; scan >= 50 M values/s"
    );
    let _ = std::fs::remove_dir_all(&root);
}

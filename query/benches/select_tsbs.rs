//! The SELECT engine on TSBS-shaped data (cpu-only: 100 hosts × 24 h at
//! 10 s, 10 fields), through `query::select::select` over local shards (no
//! HTTP): median latency per TSBS query type, then the peak heap of the
//! largest raw selection (every row) answered whole and chunked.
//! `SELECT_BENCH_HOSTS` and `SELECT_BENCH_HOURS` shrink the data set for a
//! quick run; `SELECT_BENCH_ONLY=<query type>` and `SELECT_BENCH_RUNS=<n>`
//! run one type many times (under `perf record`, say);
//! `SELECT_BENCH_COMPACT=1` compacts every shard before timing (packed
//! blocks only, the state of data that has gone cold) where by default the
//! blocks are as written (raw merge operands).
//!
//! `cargo bench -p query --bench select_tsbs`

#[path = "../tests/select_support/mod.rs"]
mod select_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Counts heap bytes while `COUNTING` is set (off during the latency runs).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            let now = CURRENT.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if COUNTING.load(Relaxed) {
            CURRENT.fetch_sub(layout.size(), Relaxed);
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap growth (bytes) while `f` runs. Bytes freed during the run but
/// allocated before it make the count dip below zero, which wraps; the
/// base is taken high enough (`1 << 60`) that it never does.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (usize, T) {
    const BASE: usize = 1 << 60;
    CURRENT.store(BASE, Relaxed);
    PEAK.store(BASE, Relaxed);
    COUNTING.store(true, Relaxed);
    let out = f();
    COUNTING.store(false, Relaxed);
    (PEAK.load(Relaxed) - BASE, out)
}

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

const T0: i64 = 1_451_606_400_000_000_000; // 2016-01-01T00:00:00Z
const SEC: i64 = 1_000_000_000;

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn dataset(hosts: i64, hours: i64) -> String {
    let mut lp = String::new();
    let mut x: u64 = 42;
    for t in (0..hours * 3600).step_by(10) {
        for h in 0..hosts {
            write!(
                lp,
                "cpu,hostname=host_{h},region=eu-west-{},datacenter=dc{} ",
                h % 3,
                h % 7
            )
            .unwrap();
            for (i, f) in FIELDS.iter().enumerate() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = (x % 10_000) as f64 / 100.0;
                if i > 0 {
                    lp.push(',');
                }
                write!(lp, "{f}={v}").unwrap();
            }
            writeln!(lp, " {}", T0 + t * SEC).unwrap();
        }
    }
    lp
}

fn main() {
    let hosts = env("SELECT_BENCH_HOSTS", 100);
    let hours = env("SELECT_BENCH_HOURS", 24);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    let lp = dataset(hosts, hours);
    let loaded = select_support::load(&lp, "benchmark", 86_400 * SEC as u64, 2, |_| vec![1]);
    drop(lp);
    println!(
        "loaded {hosts} hosts x {hours} h at 10 s ({} values) in {:.1} s",
        hosts * hours * 360 * 10,
        t.elapsed().as_secs_f64()
    );
    if env("SELECT_BENCH_COMPACT", 0) == 1 {
        use shardd::queries::cluster::LocalShards;
        let t = Instant::now();
        let groups = loaded.md.databases["benchmark"].retention_policies["autogen"]
            .shard_groups
            .values();
        for id in groups.flat_map(|g| g.shards.iter().map(|s| s.id)) {
            for shards in loaded.nodes.values() {
                if let Some(s) = shards.shard(id) {
                    s.compact().unwrap();
                }
            }
        }
        println!("compacted in {:.1} s", t.elapsed().as_secs_f64());
    }
    let cluster = loaded.cluster(1);
    let ts = |s: i64| {
        let ns = T0 + s * SEC;
        format!("{ns}")
    };
    let end = hours * 3600;
    let mid = end / 2;
    let queries: Vec<(&str, String)> = vec![
        ("single-groupby-1-1-1", format!("SELECT max(usage_user) FROM cpu WHERE hostname = 'host_1' AND time >= {} AND time < {} GROUP BY time(1m)", ts(mid), ts(mid + 3600))),
        ("single-groupby-5-1-12", format!("SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE hostname = 'host_1' AND time >= {} AND time < {} GROUP BY time(1m)", ts(0), ts(12 * 3600.min(end)))),
        ("cpu-max-all-8", format!("SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait), max(usage_irq), max(usage_softirq), max(usage_steal), max(usage_guest), max(usage_guest_nice) FROM cpu WHERE (hostname = 'host_1' OR hostname = 'host_2' OR hostname = 'host_3' OR hostname = 'host_4' OR hostname = 'host_5' OR hostname = 'host_6' OR hostname = 'host_7' OR hostname = 'host_8') AND time >= {} AND time < {} GROUP BY time(1h)", ts(0), ts((8 * 3600).min(end)))),
        ("double-groupby-1", format!("SELECT mean(usage_user) FROM cpu WHERE time >= {} AND time < {} GROUP BY time(1h), hostname", ts(0), ts((12 * 3600).min(end)))),
        ("high-cpu-1", format!("SELECT * FROM cpu WHERE usage_user > 90.0 AND hostname = 'host_1' AND time >= {} AND time < {}", ts(0), ts((12 * 3600).min(end)))),
        ("high-cpu-all", format!("SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= {} AND time < {}", ts(0), ts((12 * 3600).min(end)))),
        ("lastpoint", "SELECT last(*) FROM cpu GROUP BY *".to_string()),
        ("groupby-orderby-limit", format!("SELECT max(usage_user) FROM cpu WHERE time < {} GROUP BY time(1m) ORDER BY time DESC LIMIT 5", ts(end))),
    ];
    println!("{:<24} {:>12} {:>10}", "query", "median ms", "rows");
    let only = std::env::var("SELECT_BENCH_ONLY").ok();
    let runs = env("SELECT_BENCH_RUNS", 9).max(1);
    for (name, q) in queries {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let s = rt
                .block_on(select_support::run(&cluster, "benchmark", &q))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            times.push(t.elapsed().as_secs_f64() * 1e3);
            rows = s.iter().map(|s| s.values.len()).sum::<usize>();
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("{:<24} {:>12.2} {:>10}", name, times[times.len() / 2], rows);
    }

    if only.is_some() {
        return;
    }
    let q = "SELECT * FROM cpu";
    let influxql::Statement::Select(sel) = influxql::parse_statement(q).unwrap() else {
        unreachable!()
    };
    let (whole, rows) = peak_heap(|| {
        let s = rt
            .block_on(select_support::run(&cluster, "benchmark", q))
            .unwrap();
        s.iter().map(|s| s.values.len()).sum::<usize>()
    });
    let ctx = query::select::QueryContext::new(Some("benchmark".into()), 0);
    let (chunked, chunked_rows) = peak_heap(|| {
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            let count = async {
                let mut n = 0;
                while let Some(piece) = rx.recv().await {
                    let piece: query::result::Series = piece;
                    n += piece.values.len();
                }
                n
            };
            let (res, n) = tokio::join!(
                async {
                    let r = query::select::select_chunked(&cluster, &ctx, &sel, &tx).await;
                    drop(tx);
                    r
                },
                count
            );
            res.unwrap();
            n
        })
    });
    assert_eq!(rows, chunked_rows);
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "\n{q} ({rows} rows): peak heap whole {:.1} MiB, chunked (chunk_size {}) {:.1} MiB",
        mib(whole),
        ctx.chunk_size,
        mib(chunked)
    );
}

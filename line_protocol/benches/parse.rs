//! Parser throughput on TSBS-shaped `cpu` lines: this crate against the
//! `influxdb-line-protocol` crate, both fully consuming every line.
//!
//! `cargo bench -p line_protocol --bench parse`
//!
//! `parse_batch` keeps every point (about 1 KiB of vectors per TSBS line)
//! until the batch is dropped. With glibc's default malloc, much of its
//! extra time over `parse_lines` is page faults: the freed batch is handed
//! back to the OS and faulted in again next iteration. An allocator that
//! keeps its memory (jemalloc, mimalloc, or glibc with a high
//! `glibc.malloc.trim_threshold`) roughly halves `parse_batch`'s time here.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use line_protocol::{parse_batch, parse_lines, FieldValue, Precision};

const HOSTS: usize = 100;
const TIMESTAMPS: usize = 100;

/// Deterministic xorshift, so every run parses the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// 100 hosts x 100 timestamps (10 s apart) of TSBS `cpu-only` lines.
fn tsbs_cpu() -> String {
    const REGIONS: [(&str, [&str; 3]); 3] = [
        ("eu-west-1", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ("us-east-1", ["us-east-1a", "us-east-1b", "us-east-1c"]),
        (
            "ap-southeast-2",
            ["ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2c"],
        ),
    ];
    const OS: [&str; 3] = ["Ubuntu16.04LTS", "Ubuntu15.10", "Ubuntu16.10"];
    const ARCH: [&str; 2] = ["x64", "x86"];
    const TEAM: [&str; 4] = ["NYC", "SF", "LON", "CHI"];
    const ENV: [&str; 3] = ["production", "staging", "test"];
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
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let hosts: Vec<String> = (0..HOSTS)
        .map(|h| {
            let (region, dcs) = REGIONS[rng.next(3) as usize];
            format!(
                "cpu,hostname=host_{h},region={region},datacenter={},rack={},os={},arch={},team={},service={},service_version={},service_environment={}",
                dcs[rng.next(3) as usize],
                rng.next(100),
                OS[rng.next(3) as usize],
                ARCH[rng.next(2) as usize],
                TEAM[rng.next(4) as usize],
                rng.next(20),
                rng.next(2),
                ENV[rng.next(3) as usize],
            )
        })
        .collect();
    let mut out = String::new();
    for t in 0..TIMESTAMPS {
        let ts = 1_451_606_400_000_000_000u64 + t as u64 * 10_000_000_000;
        for series in &hosts {
            out.push_str(series);
            for (i, f) in FIELDS.iter().enumerate() {
                out.push(if i == 0 { ' ' } else { ',' });
                out.push_str(&format!("{f}={}i", rng.next(100)));
            }
            out.push_str(&format!(" {ts}\n"));
        }
    }
    out
}

fn ours(input: &str) -> u64 {
    let mut acc = 0u64;
    for line in parse_lines(input) {
        let line = line.expect("valid input");
        acc += line.measurement.len() as u64;
        for (k, v) in &line.tags {
            acc += (k.len() + v.len()) as u64;
        }
        for (k, v) in &line.fields {
            acc += k.len() as u64;
            acc = acc.wrapping_add(match v {
                FieldValue::Float(f) => f.to_bits(),
                FieldValue::Integer(i) => *i as u64,
                FieldValue::Unsigned(u) => *u,
                FieldValue::String(s) => s.len() as u64,
                FieldValue::Boolean(b) => u64::from(*b),
            });
        }
        acc = acc.wrapping_add(line.timestamp.unwrap_or(0) as u64);
    }
    acc
}

fn theirs(input: &str) -> u64 {
    use influxdb_line_protocol::FieldValue as V;
    let mut acc = 0u64;
    for line in influxdb_line_protocol::parse_lines(input) {
        let line = line.expect("valid input");
        acc += line.series.measurement.as_str().len() as u64;
        if let Some(tags) = &line.series.tag_set {
            for (k, v) in tags {
                acc += (k.as_str().len() + v.as_str().len()) as u64;
            }
        }
        for (k, v) in &line.field_set {
            acc += k.as_str().len() as u64;
            acc = acc.wrapping_add(match v {
                V::F64(f) => f.to_bits(),
                V::I64(i) => *i as u64,
                V::U64(u) => *u,
                V::String(s) => s.as_str().len() as u64,
                V::Boolean(b) => u64::from(*b),
            });
        }
        acc = acc.wrapping_add(line.timestamp.unwrap_or(0) as u64);
    }
    acc
}

fn batch(input: &str) -> u64 {
    let b = parse_batch(input, Precision::Nanoseconds, 0);
    assert!(b.errors.is_empty());
    b.points.len() as u64
}

/// A benchmark's name and the function it times.
type Case = (&'static str, fn(&str) -> u64);

fn bench(c: &mut Criterion) {
    let input = tsbs_cpu();
    let lines = (HOSTS * TIMESTAMPS) as u64;
    assert_eq!(
        ours(&input),
        theirs(&input),
        "both parsers see the same data"
    );
    assert_eq!(batch(&input), lines);

    let cases: [Case; 3] = [
        ("sluice/parse_lines", ours),
        ("influxdb-line-protocol/parse_lines", theirs),
        ("sluice/parse_batch", batch),
    ];
    for (group, throughput) in [
        ("tsbs_cpu_lines", Throughput::Elements(lines)),
        ("tsbs_cpu_bytes", Throughput::Bytes(input.len() as u64)),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(throughput);
        for (name, f) in cases {
            g.bench_function(name, |b| b.iter(|| f(black_box(&input))));
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);

//! Parsing throughput on typical dashboard queries, and the WHERE split.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const QUERIES: &[&str] = &[
    "SELECT mean(\"usage_idle\") FROM \"telegraf\".\"autogen\".\"cpu\" WHERE time > now() - 6h AND \"host\" =~ /^(web01|web02)$/ GROUP BY time(1m), \"host\" fill(null)",
    "SELECT derivative(mean(bytes_recv), 1s) AS rx FROM net WHERE time >= '2016-01-01T00:00:00Z' AND time < '2016-01-02T00:00:00Z' AND interface = 'eth0' GROUP BY time(10s)",
    "SELECT last(value) FROM disk WHERE path = '/' GROUP BY host",
    "SELECT * FROM cpu WHERE time > now() - 5m LIMIT 100",
    "SHOW TAG VALUES FROM cpu WITH KEY = host WHERE region = 'us-west'",
];

fn bench(c: &mut Criterion) {
    let bytes: usize = QUERIES.iter().map(|q| q.len()).sum();
    let mut g = c.benchmark_group("influxql");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("parse_5_queries", |b| {
        b.iter(|| {
            for q in QUERIES {
                black_box(influxql::parse_query(black_box(q)).unwrap());
            }
        })
    });
    let parsed: Vec<_> = QUERIES
        .iter()
        .map(|q| influxql::parse_query(q).unwrap())
        .collect();
    g.bench_function("display_5_queries", |b| {
        b.iter(|| {
            for q in &parsed {
                black_box(q.to_string());
            }
        })
    });
    let cond = influxql::parse_expr(
        "time > now() - 6h AND host =~ /^(web01|web02)$/ AND time < '2016-01-02T00:00:00Z' AND region = 'eu'",
    )
    .unwrap();
    g.bench_function("split_condition", |b| {
        b.iter(|| {
            black_box(
                influxql::split_condition(Some(&cond), 1_700_000_000_000_000_000, None).unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The ingest hot path without a broker: parse → route → Avro encode, on
//! TSBS-shaped `cpu` lines (10 tags, 10 integer fields), in field values/s.
//! Target: ≥ 2 million field values/s per core.
//!
//! `cargo bench -p ingest --bench router`

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingest::route::{route, split_oversized, unsettled_fields, FieldTypes};
use line_protocol::{parse_batch, Precision};
use schemas::meta::{MetaData, RetentionPolicy, Shard, ShardGroup, DAY_NS};

const T0: i64 = 1_451_606_400_000_000_000;
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

/// One HTTP write's worth: 100 hosts × 50 intervals of 10 s.
fn tsbs_body() -> String {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = String::new();
    for t in 0..50i64 {
        for h in 0..100 {
            out += &format!(
                "cpu,hostname=host_{h},region=eu-west-1,datacenter=eu-west-1a,rack={},os=Ubuntu16.04LTS,arch=x64,team=NYC,service={},service_version=1,service_environment=production ",
                h % 100,
                h % 20
            );
            for (i, f) in FIELDS.iter().enumerate() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                out += &format!("{}{f}={}i", if i == 0 { "" } else { "," }, rng % 100);
            }
            out += &format!(" {}\n", T0 + t * 10_000_000_000);
        }
    }
    out
}

fn router(c: &mut Criterion) {
    let body = tsbs_body();
    let rp = RetentionPolicy {
        name: "autogen".into(),
        duration_ns: 0,
        shard_group_duration_ns: 7 * DAY_NS,
        replication_factor: 1,
        shard_count: None,
        log_retention_ns: None,
        shard_groups: BTreeMap::new(),
    };
    let (start, end) = schemas::meta::shard_group_bounds(T0, 7 * DAY_NS);
    let group = ShardGroup {
        id: 1,
        database: "benchmark".into(),
        retention_policy: "autogen".into(),
        start_ns: start,
        end_ns: end,
        truncated_at_ns: None,
        deleted_at_ns: None,
        topic: "sluice.shardgroup.1".into(),
        shards: (0..4)
            .map(|i| Shard {
                id: 10 + i,
                index: i as u32,
                owners: vec![1],
            })
            .collect(),
    };
    let values = 100 * 50 * FIELDS.len() as u64;
    // Steady state: every field's type already settled with metad.
    let (md, known) = (MetaData::default(), FieldTypes::default());
    let parsed = parse_batch(&body, Precision::Nanoseconds, T0);
    let claims = unsettled_fields(&rp, &[&group], &parsed.points, T0, &md, &known);
    let types: Vec<_> = claims.iter().map(|c| c.field_type).collect();
    known.remember(&claims, &types);

    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(values));
    g.sample_size(20);
    g.bench_function("parse_route_encode", |b| {
        let mut buf = Vec::with_capacity(1 << 20);
        b.iter(|| {
            let parsed = parse_batch(&body, Precision::Nanoseconds, T0);
            // The write path's check for new fields, then the routing.
            let new = unsettled_fields(&rp, &[&group], &parsed.points, T0, &md, &known);
            debug_assert!(new.is_empty());
            let routed = route("benchmark", &rp, &[&group], parsed.points, T0, &md, &known);
            let mut bytes = 0;
            for sb in split_oversized(routed.batches, 900 * 1024) {
                buf.clear();
                sb.batch.encode_into(&mut buf);
                bytes += buf.len();
            }
            bytes
        })
    });
    g.bench_function("parse_only", |b| {
        b.iter(|| parse_batch(&body, Precision::Nanoseconds, T0).points.len())
    });
    g.finish();
}

criterion_group!(benches, router);
criterion_main!(benches);

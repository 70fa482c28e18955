//! Encode/decode throughput of the point-batch codec on TSBS-shaped data,
//! next to `apache-avro`'s generic path on the same batch.
//!
//! `cargo bench -p schemas --bench codec`

use std::borrow::Cow;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use schemas::record::POINT_BATCH_SCHEMA;
use schemas::{FieldColumn, FieldValues, PointBatch, Series, Tag};

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

/// 100 hosts × 50 timestamps × 10 integer fields: one record's worth.
fn tsbs_batch() -> PointBatch<'static> {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let series = (0..100)
        .map(|host| Series {
            measurement: "cpu".into(),
            tags: [
                ("arch", "x64".to_string()),
                ("datacenter", "eu-west-1a".into()),
                ("hostname", format!("host_{host}")),
                ("os", "Ubuntu16.04LTS".into()),
                ("rack", (host % 100).to_string()),
                ("region", "eu-west-1".into()),
                ("service", "18".into()),
                ("service_environment", "production".into()),
                ("service_version", "1".into()),
                ("team", "NYC".into()),
            ]
            .into_iter()
            .map(|(k, v)| Tag {
                key: k.into(),
                value: Cow::Owned(v),
            })
            .collect(),
            fields: FIELDS
                .iter()
                .map(|name| FieldColumn {
                    name: (*name).into(),
                    timestamps: (0..50)
                        .map(|t| 1_451_606_400_000_000_000 + t * 10_000_000_000)
                        .collect(),
                    values: FieldValues::Integer((0..50).map(|_| (next() % 100) as i64).collect()),
                })
                .collect(),
        })
        .collect();
    PointBatch {
        database: "benchmark".into(),
        retention_policy: "autogen".into(),
        shard_id: 1,
        series,
    }
}

fn codec(c: &mut Criterion) {
    let batch = tsbs_batch();
    let bytes = batch.encode();
    let mut group = c.benchmark_group("point_batch");
    group.throughput(Throughput::Elements(batch.value_count() as u64));
    group.sample_size(20);
    group.bench_function("encode", |b| {
        let mut buf = Vec::with_capacity(bytes.len());
        b.iter(|| {
            buf.clear();
            batch.encode_into(&mut buf);
            buf.len()
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| PointBatch::decode(&bytes).unwrap().series.len())
    });
    group.bench_function("apache_avro_generic_decode", |b| {
        let reader =
            apache_avro::reader::datum::GenericDatumReader::builder(&POINT_BATCH_SCHEMA.schema)
                .build()
                .unwrap();
        b.iter_batched(
            || &bytes[10..],
            |mut body| reader.read_value(&mut body).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    println!(
        "point batch: {} values in {} bytes ({:.2} bytes/value before compression)",
        batch.value_count(),
        bytes.len(),
        bytes.len() as f64 / batch.value_count() as f64
    );
}

criterion_group!(benches, codec);
criterion_main!(benches);

//! Shard-level tests: InfluxDB semantics, index, digest, durability and a
//! model-based property test.

use std::borrow::Cow;
use std::collections::BTreeMap;

use proptest::prelude::*;
use schemas::record::{
    DeleteKind, FieldColumn, FieldValues, NameMatcher, PointBatch, Series, Tag, TagPredicate,
    Tombstone,
};
use schemas::{FieldType, LogRecord};

use crate::codec::{Column, Value};
use crate::digest::ContentHasher;
use crate::{Error, NodeBudget, Shard, ShardOptions, Store};

// ---- builders -----------------------------------------------------------

fn store(dir: &std::path::Path) -> Store {
    Store::open(
        dir,
        NodeBudget {
            block_cache_bytes: 8 << 20,
            write_buffer_bytes: 32 << 20,
        },
    )
    .unwrap()
}

fn options(window_ns: i64) -> ShardOptions {
    ShardOptions {
        window_ns,
        sync_writes: false,
    }
}

/// Shard 1 of a store of its own in `dir` (the store closes with it).
fn open_with(dir: &std::path::Path, window_ns: i64) -> Shard {
    store(dir).shard(1, &options(window_ns)).unwrap()
}

/// Small windows so that tests cross window boundaries, negative ones too.
const TEST_WINDOW: i64 = 16;

fn open(dir: &std::path::Path) -> Shard {
    open_with(dir, TEST_WINDOW)
}

fn col(name: &str, ts: &[i64], values: FieldValues<'static>) -> FieldColumn<'static> {
    FieldColumn {
        name: Cow::Owned(name.to_owned()),
        timestamps: ts.to_vec(),
        values,
    }
}

fn ints(name: &str, ts: &[i64], v: &[i64]) -> FieldColumn<'static> {
    col(name, ts, FieldValues::Integer(v.to_vec()))
}

fn floats(name: &str, ts: &[i64], v: &[f64]) -> FieldColumn<'static> {
    col(name, ts, FieldValues::Float(v.to_vec()))
}

fn series(m: &str, tags: &[(&str, &str)], fields: Vec<FieldColumn<'static>>) -> Series<'static> {
    Series {
        measurement: Cow::Owned(m.to_owned()),
        tags: tags
            .iter()
            .map(|(k, v)| Tag {
                key: Cow::Owned(k.to_string()),
                value: Cow::Owned(v.to_string()),
            })
            .collect(),
        fields,
    }
}

fn points(series: Vec<Series<'static>>) -> LogRecord<'static> {
    LogRecord::Points(PointBatch {
        database: "db".into(),
        retention_policy: "rp".into(),
        shard_id: 1,
        series,
    })
}

fn tomb(
    kind: DeleteKind,
    measurement: Option<(bool, &str)>,
    predicate: Option<TagPredicate>,
    min: i64,
    max: i64,
) -> LogRecord<'static> {
    LogRecord::Tombstone(Tombstone {
        database: "db".into(),
        retention_policy: "rp".into(),
        shard_id: 1,
        kind,
        measurement: measurement.map(|(regex, p)| NameMatcher {
            regex,
            pattern: p.into(),
        }),
        predicate,
        min_time: min,
        max_time: max,
    })
}

fn eq(k: &str, v: &str) -> TagPredicate {
    TagPredicate::Eq {
        key: k.into(),
        value: v.into(),
    }
}

/// (timestamp, value) pairs of a field of a series, whole time range.
fn read_pairs(shard: &Shard, key: &str, field: &str) -> Vec<(i64, Value)> {
    let Some(sid) = shard.series_id(key).unwrap() else {
        return vec![];
    };
    let m = schemas::series_key::parse_series_key(key).unwrap().0;
    let Some(f) = shard.field(&m, field).unwrap() else {
        return vec![];
    };
    match shard.read(sid, f.id, i64::MIN, i64::MAX).unwrap() {
        None => vec![],
        Some(b) => (0..b.len())
            .map(|i| (b.timestamps[i], b.values.value(i)))
            .collect(),
    }
}

/// The first and last values of a field of a series in `[min, max]`, read
/// by [`Shard::edge`].
fn edges(shard: &Shard, key: &str, field: &str, range: (i64, i64)) -> [Option<(i64, Value)>; 2] {
    let Some(sid) = shard.series_id(key).unwrap() else {
        return [None, None];
    };
    let m = schemas::series_key::parse_series_key(key).unwrap().0;
    let Some(f) = shard.field(&m, field).unwrap() else {
        return [None, None];
    };
    [false, true].map(|newest| shard.edge(sid, f.id, range, newest).unwrap())
}

fn ivals(pairs: &[(i64, i64)]) -> Vec<(i64, Value)> {
    pairs.iter().map(|&(t, v)| (t, Value::Integer(v))).collect()
}

fn keys_of(shard: &Shard) -> Vec<String> {
    shard
        .series(None, None)
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect()
}

// ---- semantics ------------------------------------------------------------

#[test]
fn upsert_later_write_wins_within_and_across_records() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(dir.path());
    // Within a record: a repeated timestamp in a column, and two columns of
    // the same field.
    shard
        .apply(
            0,
            &points(vec![series(
                "cpu",
                &[("host", "a")],
                vec![
                    ints("v", &[1, 2, 1, 40], &[10, 20, 11, 400]),
                    ints("v", &[2], &[22]),
                ],
            )]),
        )
        .unwrap();
    assert_eq!(
        read_pairs(&shard, "cpu,host=a", "v"),
        ivals(&[(1, 11), (2, 22), (40, 400)])
    );
    // Across records, including into an older window.
    shard
        .apply(
            1,
            &points(vec![series(
                "cpu",
                &[("host", "a")],
                vec![ints("v", &[40, 3, 1], &[401, 30, 12])],
            )]),
        )
        .unwrap();
    assert_eq!(
        read_pairs(&shard, "cpu,host=a", "v"),
        ivals(&[(1, 12), (2, 22), (3, 30), (40, 401)])
    );
    // Same result after compaction (packed blocks, no operands left).
    shard.compact().unwrap();
    assert_eq!(
        read_pairs(&shard, "cpu,host=a", "v"),
        ivals(&[(1, 12), (2, 22), (3, 30), (40, 401)])
    );
}

#[test]
fn out_of_order_and_late_points_across_windows() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(dir.path());
    let ts: Vec<i64> = vec![100, -5, 33, 0, 17, -40, 99];
    let vs: Vec<i64> = ts.iter().map(|t| t * 2).collect();
    shard
        .apply(
            0,
            &points(vec![series("m", &[], vec![ints("v", &ts, &vs)])]),
        )
        .unwrap();
    // A late point far in the past, and one in between.
    shard
        .apply(
            5,
            &points(vec![series(
                "m",
                &[],
                vec![ints("v", &[-1000, 50], &[1, 2])],
            )]),
        )
        .unwrap();
    let mut want: Vec<(i64, i64)> = ts.iter().map(|&t| (t, t * 2)).collect();
    want.extend([(-1000, 1), (50, 2)]);
    want.sort();
    assert_eq!(read_pairs(&shard, "m", "v"), ivals(&want));
    // Range scans trim blocks to [min, max] and come in time order.
    let sid = shard.series_id("m").unwrap().unwrap();
    let f = shard.field("m", "v").unwrap().unwrap();
    let got: Vec<i64> = shard
        .scan(sid, f.id, -5, 33)
        .flat_map(|b| b.unwrap().timestamps)
        .collect();
    assert_eq!(got, vec![-5, 0, 17, 33]);
    assert_eq!(shard.scan(sid, f.id, 34, 49).count(), 0);
    assert_eq!(shard.scan(sid, f.id, 10, 5).count(), 0);
}

#[test]
fn field_type_conflicts_reject_the_point_not_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(dir.path());
    let stats = shard
        .apply(
            0,
            &points(vec![
                series("cpu", &[("host", "a")], vec![ints("v", &[1, 2], &[1, 2])]),
                // Same field as float: rejected, with the other field of the
                // same point (t=2), but w at t=3 stays.
                series(
                    "cpu",
                    &[("host", "b")],
                    vec![floats("v", &[2], &[2.5]), ints("w", &[2, 3], &[20, 30])],
                ),
                // A series whose only points are rejected is not created,
                // nor a field only they carried.
                series(
                    "cpu",
                    &[("host", "c")],
                    vec![floats("v", &[1], &[1.0]), ints("only_c", &[1], &[7])],
                ),
            ]),
        )
        .unwrap();
    assert_eq!(stats.values_type_conflict, 2);
    assert_eq!(stats.points_type_conflict, 2);
    assert_eq!(stats.values_dropped_with_point, 2);
    assert_eq!(stats.values_written, 3);
    assert_eq!(stats.series_created, 2);
    assert_eq!(keys_of(&shard), vec!["cpu,host=a", "cpu,host=b"]);
    assert_eq!(read_pairs(&shard, "cpu,host=b", "w"), ivals(&[(3, 30)]));
    // Later records: still integer.
    let stats = shard
        .apply(
            1,
            &points(vec![series(
                "cpu",
                &[("host", "a")],
                vec![floats("v", &[5], &[5.0])],
            )]),
        )
        .unwrap();
    assert_eq!(stats.values_type_conflict, 1);
    let fk: Vec<(String, FieldType)> = shard
        .field_keys("cpu")
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.field_type))
        .collect();
    assert_eq!(
        fk,
        vec![
            ("v".to_owned(), FieldType::Integer),
            ("w".to_owned(), FieldType::Integer)
        ]
    );
}

fn three_hosts(shard: &Shard, offset: i64) {
    shard
        .apply(
            offset,
            &points(vec![
                series(
                    "cpu",
                    &[("host", "a"), ("region", "eu")],
                    vec![ints("v", &[1, 20, 40], &[1, 2, 3])],
                ),
                series(
                    "cpu",
                    &[("host", "b"), ("region", "us")],
                    vec![ints("v", &[1, 20, 40], &[4, 5, 6])],
                ),
                series("cpu", &[("host", "c")], vec![ints("v", &[1], &[7])]),
                series("mem", &[("host", "a")], vec![ints("free", &[1], &[8])]),
                series("cpu2", &[("host", "a")], vec![ints("v", &[1], &[9])]),
            ]),
        )
        .unwrap();
}

#[test]
fn delete_removes_a_time_range_and_emptied_series() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(dir.path());
    three_hosts(&shard, 0);
    // [15, 40] covers window 1 (16..31) entirely and windows 0 and 2 in part.
    let s = shard
        .apply(
            1,
            &tomb(
                DeleteKind::Delete,
                Some((false, "cpu")),
                Some(eq("region", "eu")),
                15,
                40,
            ),
        )
        .unwrap();
    assert_eq!(s.series_removed, 0);
    assert_eq!(
        read_pairs(&shard, "cpu,host=a,region=eu", "v"),
        ivals(&[(1, 1)])
    );
    assert_eq!(
        read_pairs(&shard, "cpu,host=b,region=us", "v"),
        ivals(&[(1, 4), (20, 5), (40, 6)])
    );
    // Deleting the rest removes the series from the index, and only it.
    let s = shard
        .apply(
            2,
            &tomb(
                DeleteKind::Delete,
                Some((false, "cpu")),
                Some(eq("host", "a")),
                0,
                1,
            ),
        )
        .unwrap();
    assert_eq!(s.series_removed, 1);
    assert_eq!(
        keys_of(&shard),
        vec![
            "cpu,host=b,region=us",
            "cpu,host=c",
            "cpu2,host=a",
            "mem,host=a"
        ]
    );
    assert_eq!(shard.tag_values("cpu", "region", None).unwrap(), vec!["us"]);
    // Data written after a delete is kept.
    shard
        .apply(
            3,
            &points(vec![series(
                "cpu",
                &[("host", "a"), ("region", "eu")],
                vec![ints("v", &[20], &[99])],
            )]),
        )
        .unwrap();
    assert_eq!(
        read_pairs(&shard, "cpu,host=a,region=eu", "v"),
        ivals(&[(20, 99)])
    );
}

#[test]
fn drop_series_with_each_predicate_operator() {
    // (predicate, series of cpu left afterwards)
    let ne = |k: &str, v: &str| TagPredicate::NotEq {
        key: k.into(),
        value: v.into(),
    };
    let re = |k: &str, r: &str| TagPredicate::Match {
        key: k.into(),
        regex: r.into(),
    };
    let nre = |k: &str, r: &str| TagPredicate::NotMatch {
        key: k.into(),
        regex: r.into(),
    };
    let all = ["cpu,host=a,region=eu", "cpu,host=b,region=us", "cpu,host=c"];
    let cases: Vec<(TagPredicate, Vec<&str>)> = vec![
        (eq("host", "a"), vec![all[1], all[2]]),
        // Missing tag = empty value.
        (eq("region", ""), vec![all[0], all[1]]),
        (ne("region", "eu"), vec![all[0]]),
        (ne("region", ""), vec![all[2]]),
        (re("host", "[ab]"), vec![all[2]]),
        (re("region", "u"), vec![all[2]]), // unanchored: eu and us
        (nre("region", "^e"), vec![all[0]]),
        (
            TagPredicate::And(vec![eq("host", "b"), eq("region", "us")]),
            vec![all[0], all[2]],
        ),
        (
            TagPredicate::Or(vec![eq("host", "c"), eq("region", "us")]),
            vec![all[0]],
        ),
    ];
    for (pred, left) in cases {
        let dir = tempfile::tempdir().unwrap();
        let shard = open(dir.path());
        three_hosts(&shard, 0);
        shard
            .apply(
                1,
                &tomb(
                    DeleteKind::DropSeries,
                    Some((false, "cpu")),
                    Some(pred.clone()),
                    0,
                    0,
                ),
            )
            .unwrap();
        let cpu: Vec<String> = shard
            .series(
                Some(&NameMatcher {
                    regex: false,
                    pattern: "cpu".into(),
                }),
                None,
            )
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(cpu, left, "{pred:?}");
        // Dropped series have no data left either (DROP SERIES ignores time).
        for k in all.iter().filter(|k| !left.contains(k)) {
            assert!(read_pairs(&shard, k, "v").is_empty(), "{k} {pred:?}");
        }
        // Other measurements untouched.
        assert_eq!(read_pairs(&shard, "mem,host=a", "free"), ivals(&[(1, 8)]));
        assert_eq!(read_pairs(&shard, "cpu2,host=a", "v"), ivals(&[(1, 9)]));
    }
}

#[test]
fn drop_measurement_exact_and_regex() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(dir.path());
    three_hosts(&shard, 0);
    shard
        .apply(
            1,
            &tomb(
                DeleteKind::DropMeasurement,
                Some((false, "cpu")),
                None,
                0,
                0,
            ),
        )
        .unwrap();
    assert_eq!(shard.measurements(None).unwrap(), vec!["cpu2", "mem"]);
    assert!(shard.field_keys("cpu").unwrap().is_empty());
    // The field's type is free again after the measurement is gone.
    shard
        .apply(
            2,
            &points(vec![series(
                "cpu",
                &[("host", "a")],
                vec![floats("v", &[1], &[1.5])],
            )]),
        )
        .unwrap();
    assert_eq!(
        shard.field("cpu", "v").unwrap().unwrap().field_type,
        FieldType::Float
    );
    // Regex: unanchored, matches cpu and cpu2 but not mem.
    shard
        .apply(
            3,
            &tomb(DeleteKind::DropMeasurement, Some((true, "pu")), None, 0, 0),
        )
        .unwrap();
    assert_eq!(shard.measurements(None).unwrap(), vec!["mem"]);
    assert_eq!(keys_of(&shard), vec!["mem,host=a"]);
    // Delete over all time without a measurement: everything.
    shard
        .apply(4, &tomb(DeleteKind::Delete, None, None, i64::MIN, i64::MAX))
        .unwrap();
    assert!(shard.measurements(None).unwrap().is_empty());
    assert_eq!(shard.series_cardinality().unwrap(), 0);
}

#[test]
fn index_queries() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(dir.path());
    three_hosts(&shard, 0);
    // Names with characters that need escaping or ordering care.
    shard
        .apply(
            1,
            &points(vec![series(
                "we ird,m",
                &[("k=1", "v 1"), ("z", "")],
                vec![col("s", &[1], FieldValues::String(vec!["x".into()]))],
            )]),
        )
        .unwrap();
    assert_eq!(
        shard.measurements(None).unwrap(),
        vec!["cpu", "cpu2", "mem", "we ird,m"]
    );
    let re = NameMatcher {
        regex: true,
        pattern: "^cpu".into(),
    };
    assert_eq!(shard.measurements(Some(&re)).unwrap(), vec!["cpu", "cpu2"]);
    assert_eq!(shard.tag_keys("cpu").unwrap(), vec!["host", "region"]);
    assert_eq!(shard.tag_keys("we ird,m").unwrap(), vec!["k=1", "z"]);
    assert_eq!(
        shard.tag_values("cpu", "host", None).unwrap(),
        vec!["a", "b", "c"]
    );
    assert_eq!(
        shard
            .tag_values("cpu", "host", Some(&eq("region", "us")))
            .unwrap(),
        vec!["b"]
    );
    assert_eq!(shard.tag_values("we ird,m", "z", None).unwrap(), vec![""]);
    let s = shard.series(Some(&re), Some(&eq("host", "a"))).unwrap();
    let keys: Vec<&str> = s.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["cpu,host=a,region=eu", "cpu2,host=a"]);
    assert_eq!(
        shard.series(None, None).unwrap()[5].key,
        r"we\ ird\,m,k\=1=v\ 1,z="
    );
    assert_eq!(shard.series_cardinality().unwrap(), 6);
    let fk = shard.field_keys("we ird,m").unwrap();
    assert_eq!(fk.len(), 1);
    assert_eq!(fk[0].field_type, FieldType::String);
    // Ids are assigned in apply order.
    let ids: Vec<u64> = ["cpu,host=a,region=eu", "cpu,host=b,region=us", "cpu,host=c"]
        .iter()
        .map(|k| shard.series_id(k).unwrap().unwrap().0)
        .collect();
    assert_eq!(ids, vec![0, 1, 2]);
}

/// A shard whose series `m` has the fields `a` and `b`, with their ids.
fn two_fields(
    dir: &std::path::Path,
    a: FieldColumn<'static>,
    b: FieldColumn<'static>,
) -> (Shard, crate::SeriesId, crate::FieldId, crate::FieldId) {
    let shard = open(dir);
    shard
        .apply(0, &points(vec![series("m", &[], vec![a, b])]))
        .unwrap();
    let sid = shard.series_id("m").unwrap().unwrap();
    let a = shard.field("m", "a").unwrap().unwrap().id;
    let b = shard.field("m", "b").unwrap().unwrap().id;
    (shard, sid, a, b)
}

#[test]
fn aligned_rows_have_nulls_where_a_field_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (shard, sid, a, b) = two_fields(
        dir.path(),
        ints("a", &[1, 2, 40], &[1, 2, 3]),
        col("b", &[2, 3], FieldValues::Boolean(vec![true, false])),
    );
    let mut windows = shard.scan_aligned(sid, &[a, b], (0, 10), false);
    let rows = windows.next().unwrap().unwrap();
    assert!(windows.next().is_none());
    assert_eq!(rows.timestamps, vec![1, 2, 3]);
    assert_eq!(
        rows.columns,
        vec![
            vec![Some(Value::Integer(1)), Some(Value::Integer(2)), None],
            vec![
                None,
                Some(Value::Boolean(true)),
                Some(Value::Boolean(false))
            ],
        ]
    );
}

#[test]
fn aligned_scan_goes_window_by_window_in_either_direction() {
    let dir = tempfile::tempdir().unwrap();
    // Windows of 16: `a` in windows -1, 0 and 2, `b` in 0 and 1.
    let (shard, sid, a, b) = two_fields(
        dir.path(),
        ints("a", &[-3, 1, 2, 40], &[1, 2, 3, 4]),
        ints("b", &[2, 20], &[5, 6]),
    );
    let windows = |rev| {
        shard
            .scan_aligned(sid, &[a, b], (-10, 100), rev)
            .map(|r| r.unwrap().timestamps)
            .collect::<Vec<_>>()
    };
    let forward = vec![vec![-3], vec![1, 2], vec![20], vec![40]];
    assert_eq!(windows(false), forward);
    assert_eq!(windows(true), forward.into_iter().rev().collect::<Vec<_>>());
    // Fields join by time inside a window.
    let mut joined = crate::AlignedRows {
        timestamps: Vec::new(),
        columns: vec![Vec::new(), Vec::new()],
    };
    for w in shard.scan_aligned(sid, &[a, b], (-10, 100), false) {
        let w = w.unwrap();
        joined.timestamps.extend(w.timestamps);
        for (c, col) in joined.columns.iter_mut().zip(w.columns) {
            c.extend(col);
        }
    }
    let i = |v: i64| Some(Value::Integer(v));
    assert_eq!(joined.timestamps, [-3, 1, 2, 20, 40]);
    assert_eq!(
        joined.columns,
        [
            vec![i(1), i(2), i(3), None, i(4)],
            vec![None, None, i(5), i(6), None]
        ]
    );
    // Bounds trim inside a window.
    let trimmed: Vec<_> = shard
        .scan_aligned(sid, &[a, b], (2, 20), true)
        .map(|r| r.unwrap().timestamps)
        .collect();
    assert_eq!(trimmed, vec![vec![20], vec![2]]);
}

// ---- offsets, durability, digests ---------------------------------------------

/// A deterministic stream of records: points with overlaps (upserts),
/// several types, and now and then a tombstone.
fn generated(i: i64) -> LogRecord<'static> {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    if i % 29 == 28 {
        let host = format!("h{}", rnd() % 8);
        let min = (i - 20) * 100 + (rnd() % 50) as i64;
        return tomb(
            if i % 58 == 57 {
                DeleteKind::DropSeries
            } else {
                DeleteKind::Delete
            },
            Some((false, "cpu")),
            Some(eq("host", &host)),
            min,
            min + 700,
        );
    }
    let mut out = Vec::new();
    for h in 0..8 {
        if rnd() % 3 == 0 {
            continue;
        }
        // Mostly new times, sometimes rewriting the recent past.
        let base = if rnd() % 5 == 0 {
            (i - 3) * 100
        } else {
            i * 100
        };
        let ts: Vec<i64> = (0..10).map(|k| base + k * 10).collect();
        let fi: Vec<i64> = ts.iter().map(|_| (rnd() % 100) as i64).collect();
        let ff: Vec<f64> = ts.iter().map(|_| (rnd() % 1000) as f64 / 7.0).collect();
        let host = format!("h{h}");
        out.push(series(
            "cpu",
            &[("host", &host)],
            vec![ints("usage", &ts, &fi), floats("load", &ts, &ff)],
        ));
    }
    points(out)
}

#[test]
fn offsets_are_refused_when_not_after_the_applied_one() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(dir.path());
    assert_eq!(shard.applied_offset(), None);
    shard.apply(5, &generated(0)).unwrap();
    let d = shard.digest().unwrap();
    for o in [5, 4, -1] {
        assert!(matches!(
            shard.apply(o, &generated(1)),
            Err(crate::Error::OffsetNotAfterApplied { applied: 5, .. })
        ));
    }
    // Non-increasing within one call: refused, nothing of it applied.
    let r1 = generated(1);
    let r2 = generated(2);
    assert!(shard.apply_many([(6, &r1), (6, &r2)]).is_err());
    assert_eq!(shard.applied_offset(), Some(5));
    assert_eq!(shard.digest().unwrap(), d);
    // Gaps are allowed.
    shard.apply(9, &r1).unwrap();
    assert_eq!(shard.applied_offset(), Some(9));
}

#[test]
fn digest_is_independent_of_chunking_and_compaction() {
    let records: Vec<LogRecord<'static>> = (0..120).map(generated).collect();
    let d1 = tempfile::tempdir().unwrap();
    let one_by_one = open_with(d1.path(), 1000);
    for (i, r) in records.iter().enumerate() {
        one_by_one.apply(i as i64, r).unwrap();
    }
    let d2 = tempfile::tempdir().unwrap();
    let chunked = open_with(d2.path(), 1000);
    let mut i = 0;
    let mut chunk = 1;
    while i < records.len() {
        let end = (i + chunk).min(records.len());
        chunked
            .apply_many((i..end).map(|k| (k as i64, &records[k])))
            .unwrap();
        i = end;
        chunk = chunk % 13 + 1;
    }
    let a = one_by_one.digest().unwrap();
    assert_eq!(a.applied_offset, Some(119));
    assert_eq!(a, chunked.digest().unwrap());
    chunked.compact().unwrap();
    assert_eq!(a, chunked.digest().unwrap());
    // A different window width is a physical choice too.
    let d3 = tempfile::tempdir().unwrap();
    let other = open_with(d3.path(), 7);
    other
        .apply_many(records.iter().enumerate().map(|(k, r)| (k as i64, r)))
        .unwrap();
    assert_eq!(a, other.digest().unwrap());
    // One value different: a different digest.
    let d4 = tempfile::tempdir().unwrap();
    let differ = open_with(d4.path(), 1000);
    for (i, r) in records.iter().enumerate() {
        differ.apply(i as i64, r).unwrap();
    }
    let sid = differ.series("cpu".into_matcher().as_ref(), None).unwrap()[0]
        .key
        .clone();
    let host = schemas::series_key::parse_series_key(&sid).unwrap().1[0]
        .1
        .clone();
    differ
        .apply(
            200,
            &points(vec![series(
                "cpu",
                &[("host", &host)],
                vec![floats("load", &[118 * 100], &[0.123])],
            )]),
        )
        .unwrap();
    let b = differ.digest().unwrap();
    assert_ne!(a.content, b.content);
}

trait IntoMatcher {
    fn into_matcher(self) -> Option<NameMatcher>;
}

impl IntoMatcher for &str {
    fn into_matcher(self) -> Option<NameMatcher> {
        Some(NameMatcher {
            regex: false,
            pattern: self.to_owned(),
        })
    }
}

#[test]
fn reopen_keeps_data_offset_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<LogRecord<'static>> = (0..40).map(generated).collect();
    let before = {
        let shard = open(dir.path());
        shard
            .apply_many(records[..30].iter().enumerate().map(|(k, r)| (k as i64, r)))
            .unwrap();
        let d = shard.digest().unwrap();
        drop(shard); // no close(): as after a crash, the WAL has it all
        d
    };
    let shard = open(dir.path());
    assert_eq!(shard.applied_offset(), Some(29));
    assert_eq!(shard.digest().unwrap(), before);
    // Applying the rest after reopening equals applying all in one go.
    for (k, r) in records.iter().enumerate().skip(30) {
        shard.apply(k as i64, r).unwrap();
    }
    let dir2 = tempfile::tempdir().unwrap();
    let reference = open(dir2.path());
    reference
        .apply_many(records.iter().enumerate().map(|(k, r)| (k as i64, r)))
        .unwrap();
    assert_eq!(shard.digest().unwrap(), reference.digest().unwrap());
    // Series ids too (same assignment order).
    assert_eq!(
        shard.series(None, None).unwrap(),
        reference.series(None, None).unwrap()
    );
    shard.close().unwrap();
    let st = store(dir.path());
    assert_eq!(st.shard_ids().unwrap(), [1]);
    st.destroy_shard(1).unwrap();
    assert_eq!(st.shard_ids().unwrap(), Vec::<u64>::new());
    drop(st);
    let fresh = open(dir.path());
    assert_eq!(fresh.applied_offset(), None);
    assert_eq!(fresh.series_cardinality().unwrap(), 0);
}

#[test]
fn shards_of_one_store_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let a = st.shard(1, &options(TEST_WINDOW)).unwrap();
    let b = st.shard(2, &options(TEST_WINDOW)).unwrap();
    assert!(matches!(
        st.shard(1, &options(TEST_WINDOW)),
        Err(Error::ShardOpen(1))
    ));
    let cpu = series("cpu", &[("host", "a")], vec![ints("v", &[1, 2], &[10, 20])]);
    a.apply(0, &points(vec![cpu])).unwrap();
    b.apply(
        5,
        &points(vec![series("mem", &[], vec![ints("v", &[3], &[30])])]),
    )
    .unwrap();
    assert_eq!(a.measurements(None).unwrap(), ["cpu"]);
    assert_eq!(b.measurements(None).unwrap(), ["mem"]);
    assert_eq!((a.applied_offset(), b.applied_offset()), (Some(0), Some(5)));
    // Id spaces are per shard.
    assert_eq!(
        a.series_id("cpu,host=a").unwrap(),
        b.series_id("mem").unwrap()
    );
    let b_digest = b.digest().unwrap();
    assert!(matches!(st.destroy_shard(1), Err(Error::ShardOpen(1))));
    drop(a);
    st.destroy_shard(1).unwrap();
    assert_eq!(st.shard_ids().unwrap(), [2]);
    assert_eq!(b.digest().unwrap(), b_digest);
    let a = st.shard(1, &options(TEST_WINDOW)).unwrap();
    assert_eq!(a.applied_offset(), None);
    assert_eq!(a.series_cardinality().unwrap(), 0);

    // The last possible id has no prefix after it.
    let last = st.shard(u64::MAX, &options(TEST_WINDOW)).unwrap();
    last.apply(
        0,
        &points(vec![series("m", &[], vec![ints("v", &[1], &[1])])]),
    )
    .unwrap();
    assert_eq!(last.measurements(None).unwrap(), ["m"]);
    drop(last);
    st.destroy_shard(u64::MAX).unwrap();
    assert_eq!(st.shard_ids().unwrap(), [1, 2]);
}

#[test]
fn a_shard_needs_compaction_after_each_write_until_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let record = |t| points(vec![series("m", &[], vec![ints("v", &[t], &[t])])]);
    let shard = open(dir.path());
    assert!(!shard.needs_compaction().unwrap(), "nothing written");
    shard.apply(0, &record(0)).unwrap();
    assert!(shard.needs_compaction().unwrap());
    shard.compact().unwrap();
    assert!(!shard.needs_compaction().unwrap());
    shard.apply(1, &record(1)).unwrap();
    drop(shard);
    let shard = open(dir.path());
    assert!(
        shard.needs_compaction().unwrap(),
        "remembered across a restart"
    );
    shard.compact().unwrap();
    drop(shard);
    assert!(!open(dir.path()).needs_compaction().unwrap());
}

#[test]
fn a_resume_offset_lasts_until_a_record_at_or_after_it_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let record = |t| points(vec![series("m", &[], vec![ints("v", &[t], &[t])])]);
    let shard = open(dir.path());
    shard.apply(0, &record(0)).unwrap();
    shard.set_resume_from(5).unwrap();
    drop(shard);
    let shard = open(dir.path());
    assert_eq!(shard.resume_from(), Some(5));
    shard.apply(3, &record(3)).unwrap();
    assert_eq!(shard.resume_from(), Some(5));
    shard.apply(6, &record(6)).unwrap();
    assert_eq!(shard.resume_from(), None);
    drop(shard);
    assert_eq!(open(dir.path()).resume_from(), None);
}

#[test]
fn window_width_is_fixed_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_with(dir.path(), 100));
    assert_eq!(open_with(dir.path(), 5).window_ns(), 100);
}

const CRASH_ENV: &str = "SLUICE_STORAGE_CRASH_DIR";
const CRASH_LAST: i64 = 1_000_000;

/// Not a test on its own: the body the crash test runs in a child process
/// (it returns at once unless the environment variable is set).
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_ENV) else {
        return;
    };
    let shard = open_with(std::path::Path::new(&dir), 1000);
    let mut next = shard.applied_offset().map_or(0, |o| o + 1);
    let mut chunk = 1;
    while next <= CRASH_LAST {
        let recs: Vec<LogRecord<'static>> = (next..next + chunk).map(generated).collect();
        shard
            .apply_many(recs.iter().enumerate().map(|(k, r)| (next + k as i64, r)))
            .unwrap();
        next += chunk;
        chunk = chunk % 7 + 1;
    }
}

/// SIGKILL a child process applying records at random moments, 10 times;
/// after each kill the reopened store must equal a reference that applied
/// exactly the records up to its stored offset.
#[test]
fn crash_at_random_moments_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shard_dir = dir.path().join("shard");
    let ref_dir = tempfile::tempdir().unwrap();
    let reference = open_with(ref_dir.path(), 1000);
    let exe = std::env::current_exe().unwrap();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut last = None;
    for round in 0..10 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "tests::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, &shard_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200 + seed % 800));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let shard = open_with(&shard_dir, 1000);
        let applied = shard.applied_offset();
        let from = reference.applied_offset().map_or(0, |o| o + 1);
        if let Some(to) = applied {
            let recs: Vec<LogRecord<'static>> = (from..=to).map(generated).collect();
            reference
                .apply_many(recs.iter().enumerate().map(|(k, r)| (from + k as i64, r)))
                .unwrap();
        }
        assert_eq!(
            shard.digest().unwrap(),
            reference.digest().unwrap(),
            "round {round}: applied {applied:?}"
        );
        assert!(applied >= last, "offset went back");
        last = applied;
    }
    assert!(
        last.is_some_and(|o| o > 20),
        "the child made progress: {last:?}"
    );
}

// ---- model-based property test ---------------------------------------------------

/// The in-memory model: InfluxDB semantics written the simple way.
#[derive(Default, Debug)]
struct Model {
    /// series key → (measurement, tags, field → time → value)
    series: BTreeMap<String, ModelSeries>,
    /// measurement → field → type
    fields: BTreeMap<String, BTreeMap<String, FieldType>>,
}

#[derive(Default, Debug)]
struct ModelSeries {
    measurement: String,
    tags: Vec<(String, String)>,
    data: BTreeMap<String, BTreeMap<i64, Value>>,
}

fn values_of(v: &FieldValues<'_>) -> Vec<Value> {
    match v {
        FieldValues::Float(x) => x.iter().map(|v| Value::Float(*v)).collect(),
        FieldValues::Integer(x) => x.iter().map(|v| Value::Integer(*v)).collect(),
        FieldValues::Unsigned(x) => x.iter().map(|v| Value::Unsigned(*v)).collect(),
        FieldValues::String(x) => x.iter().map(|v| Value::String(v.to_string())).collect(),
        FieldValues::Boolean(x) => x.iter().map(|v| Value::Boolean(*v)).collect(),
    }
}

impl Model {
    fn apply(&mut self, r: &LogRecord<'_>) {
        match r {
            LogRecord::Points(b) => {
                for s in &b.series {
                    let types = self.fields.entry(s.measurement.to_string()).or_default();
                    let mut bad = vec![];
                    let mut drop = std::collections::BTreeSet::new();
                    // A field takes the type of its first column; it is
                    // registered only if some of its values are kept.
                    let mut first: BTreeMap<String, FieldType> = BTreeMap::new();
                    for c in &s.fields {
                        let ft = c.values.field_type();
                        let known = types
                            .get(&*c.name)
                            .copied()
                            .unwrap_or_else(|| *first.entry(c.name.to_string()).or_insert(ft));
                        let conflict = !c.timestamps.is_empty() && known != ft;
                        if conflict {
                            drop.extend(c.timestamps.iter().copied());
                        }
                        bad.push(conflict);
                    }
                    let mut writes = vec![];
                    for (c, bad) in s.fields.iter().zip(bad) {
                        if bad {
                            continue;
                        }
                        for (t, v) in c.timestamps.iter().zip(values_of(&c.values)) {
                            if !drop.contains(t) {
                                types
                                    .entry(c.name.to_string())
                                    .or_insert(c.values.field_type());
                                writes.push((c.name.to_string(), *t, v));
                            }
                        }
                    }
                    if writes.is_empty() {
                        continue;
                    }
                    let tags: Vec<(String, String)> = s
                        .tags
                        .iter()
                        .map(|t| (t.key.to_string(), t.value.to_string()))
                        .collect();
                    let key = schemas::series_key(&s.measurement, &tags);
                    let e = self.series.entry(key).or_insert_with(|| ModelSeries {
                        measurement: s.measurement.to_string(),
                        tags,
                        data: BTreeMap::new(),
                    });
                    for (f, t, v) in writes {
                        e.data.entry(f).or_default().insert(t, v);
                    }
                }
            }
            LogRecord::Tombstone(t) => {
                let mm = t
                    .measurement
                    .as_ref()
                    .map(|m| crate::predicate::MeasurementMatcher::compile(m).unwrap());
                let p = t
                    .predicate
                    .as_ref()
                    .map(|p| crate::predicate::Predicate::compile(p).unwrap());
                let whole = t.kind != DeleteKind::Delete
                    || (t.min_time == i64::MIN && t.max_time == i64::MAX);
                let mut per_m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
                let mut gone = vec![];
                for (k, s) in self.series.iter_mut() {
                    if mm.as_ref().is_some_and(|m| !m.matches(&s.measurement)) {
                        continue;
                    }
                    let e = per_m.entry(s.measurement.clone()).or_default();
                    e.0 += 1;
                    if p.as_ref().is_some_and(|p| !p.matches(&s.tags)) {
                        continue;
                    }
                    if !whole {
                        for d in s.data.values_mut() {
                            d.retain(|ts, _| *ts < t.min_time || *ts > t.max_time);
                        }
                        s.data.retain(|_, d| !d.is_empty());
                    }
                    if whole || s.data.is_empty() {
                        gone.push(k.clone());
                        e.1 += 1;
                    }
                }
                for k in gone {
                    self.series.remove(&k);
                }
                for (m, (total, removed)) in per_m {
                    if removed > 0 && removed == total {
                        self.fields.remove(&m);
                    }
                }
            }
        }
    }

    fn digest(&self) -> [u8; 32] {
        let mut h = ContentHasher::new();
        for (k, s) in &self.series {
            h.series(k);
            for (f, d) in &s.data {
                let ft = self.fields[&s.measurement][f];
                h.field(f, ft);
                let ts: Vec<i64> = d.keys().copied().collect();
                let col = match ft {
                    FieldType::Float => Column::Float(
                        d.values()
                            .map(|v| match v {
                                Value::Float(x) => *x,
                                _ => unreachable!(),
                            })
                            .collect(),
                    ),
                    FieldType::Integer => Column::Integer(
                        d.values()
                            .map(|v| match v {
                                Value::Integer(x) => *x,
                                _ => unreachable!(),
                            })
                            .collect(),
                    ),
                    FieldType::Unsigned => Column::Unsigned(
                        d.values()
                            .map(|v| match v {
                                Value::Unsigned(x) => *x,
                                _ => unreachable!(),
                            })
                            .collect(),
                    ),
                    FieldType::String => Column::String(
                        d.values()
                            .map(|v| match v {
                                Value::String(x) => x.clone(),
                                _ => unreachable!(),
                            })
                            .collect(),
                    ),
                    FieldType::Boolean => Column::Boolean(
                        d.values()
                            .map(|v| match v {
                                Value::Boolean(x) => *x,
                                _ => unreachable!(),
                            })
                            .collect(),
                    ),
                };
                h.values(&ts, &col);
                h.end_field();
            }
        }
        h.finish()
    }
}

fn arb_column() -> impl Strategy<Value = FieldColumn<'static>> {
    (
        prop::sample::select(vec!["f1", "f2", "f3"]),
        0u8..5,
        proptest::collection::vec((-40i64..70, any::<i64>()), 0..12),
    )
        .prop_map(|(name, ty, tv)| {
            let ts: Vec<i64> = tv.iter().map(|x| x.0).collect();
            let values = match ty {
                0 => FieldValues::Float(tv.iter().map(|x| x.1 as f64 / 3.0).collect()),
                1 => FieldValues::Integer(tv.iter().map(|x| x.1 % 1000).collect()),
                2 => FieldValues::Unsigned(tv.iter().map(|x| x.1 as u64).collect()),
                3 => FieldValues::String(
                    tv.iter()
                        .map(|x| Cow::Owned(format!("s{}", x.1 % 4)))
                        .collect(),
                ),
                _ => FieldValues::Boolean(tv.iter().map(|x| x.1 % 2 == 0).collect()),
            };
            FieldColumn {
                name: Cow::Borrowed(name),
                timestamps: ts,
                values,
            }
        })
}

fn arb_series() -> impl Strategy<Value = Series<'static>> {
    (
        prop::sample::select(vec!["cpu", "mem", "disk"]),
        prop::option::of(prop::sample::select(vec!["a", "b", "c"])),
        prop::option::of(prop::sample::select(vec!["eu", "us"])),
        proptest::collection::vec(arb_column(), 0..4),
    )
        .prop_map(|(m, host, region, fields)| {
            let mut tags = vec![];
            if let Some(h) = host {
                tags.push(("host", h));
            }
            if let Some(r) = region {
                tags.push(("region", r));
            }
            series(m, &tags, fields)
        })
}

fn arb_predicate() -> impl Strategy<Value = TagPredicate> {
    let key = prop::sample::select(vec!["host", "region"]);
    let val = prop::sample::select(vec!["a", "b", "eu", "us", ""]);
    let re = prop::sample::select(vec!["a", "^b", "u", ".*", "^$"]);
    let leaf = prop_oneof![
        (key.clone(), val.clone()).prop_map(|(k, v)| eq(k, v)),
        (key.clone(), val).prop_map(|(k, v)| TagPredicate::NotEq {
            key: k.into(),
            value: v.into()
        }),
        (key.clone(), re.clone()).prop_map(|(k, r)| TagPredicate::Match {
            key: k.into(),
            regex: r.into()
        }),
        (key, re).prop_map(|(k, r)| TagPredicate::NotMatch {
            key: k.into(),
            regex: r.into()
        }),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(TagPredicate::And),
            proptest::collection::vec(inner, 1..3).prop_map(TagPredicate::Or),
        ]
    })
}

fn arb_record() -> impl Strategy<Value = LogRecord<'static>> {
    let tombstone = (
        prop::sample::select(vec![
            DeleteKind::Delete,
            DeleteKind::DropSeries,
            DeleteKind::DropMeasurement,
        ]),
        prop::option::of((
            any::<bool>(),
            prop::sample::select(vec!["cpu", "mem", "^d", "u"]),
        )),
        prop::option::of(arb_predicate()),
        prop_oneof![
            (-50i64..80, 0i64..60).prop_map(|(a, l)| (a, a + l)),
            Just((i64::MIN, i64::MAX))
        ],
    )
        .prop_map(|(kind, m, p, (min, max))| tomb(kind, m, p, min, max));
    prop_oneof![
        4 => proptest::collection::vec(arb_series(), 0..4).prop_map(points),
        1 => tombstone,
    ]
}

fn model_pairs(model: &Model, key: &str, field: &str) -> Vec<(i64, Value)> {
    model
        .series
        .get(key)
        .and_then(|s| s.data.get(field))
        .map(|d| d.iter().map(|(t, v)| (*t, v.clone())).collect())
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model(records in proptest::collection::vec(arb_record(), 1..25), chunk in 1usize..6) {
        let dir = tempfile::tempdir().unwrap();
        let shard = open(dir.path());
        let mut model = Model::default();
        for r in &records {
            model.apply(r);
        }
        let mut i = 0;
        while i < records.len() {
            let end = (i + chunk).min(records.len());
            shard.apply_many((i..end).map(|k| (k as i64, &records[k]))).unwrap();
            i = end;
        }
        let check = |shard: &Shard| -> Result<(), TestCaseError> {
            let keys: Vec<String> = keys_of(shard);
            let want: Vec<String> = model.series.keys().cloned().collect();
            prop_assert_eq!(&keys, &want);
            for k in &keys {
                for f in ["f1", "f2", "f3"] {
                    let want = model_pairs(&model, k, f);
                    prop_assert_eq!(
                        format!("{:?}", read_pairs(shard, k, f)),
                        format!("{:?}", want),
                        "{} {}", k, f
                    );
                    // first()/last() over the whole range and over its later half.
                    let mid = want.get(want.len() / 2).map_or(0, |p| p.0);
                    for (min, max) in [(i64::MIN, i64::MAX), (mid, i64::MAX)] {
                        let inside: Vec<_> = want.iter().filter(|p| p.0 >= min && p.0 <= max).collect();
                        prop_assert_eq!(
                            format!("{:?}", edges(shard, k, f, (min, max))),
                            format!("{:?}", [inside.first().cloned().cloned(), inside.last().cloned().cloned()]),
                            "{} {} from {}", k, f, min
                        );
                    }
                }
            }
            for m in ["cpu", "mem", "disk"] {
                let got: Vec<(String, FieldType)> = shard.field_keys(m).unwrap().into_iter().map(|f| (f.name, f.field_type)).collect();
                let want: Vec<(String, FieldType)> = model.fields.get(m).map(|f| f.iter().map(|(n, t)| (n.clone(), *t)).collect()).unwrap_or_default();
                prop_assert_eq!(got, want, "fields of {}", m);
            }
            let d = shard.digest().unwrap();
            prop_assert_eq!(d.content, model.digest());
            prop_assert_eq!(d.applied_offset, Some(records.len() as i64 - 1));
            Ok(())
        };
        check(&shard)?;
        shard.compact().unwrap();
        check(&shard)?;
        drop(shard);
        check(&open(dir.path()))?;
    }
}

// ---- snapshots ------------------------------------------------------------

#[test]
fn snapshot_moves_a_shard_to_another_id_and_store_with_its_offset() {
    let d1 = tempfile::tempdir().unwrap();
    let source = store(d1.path());
    let shard = source.shard(7, &options(1000)).unwrap();
    // Another shard in the same store must not leak into the snapshot.
    let other = source.shard(8, &options(1000)).unwrap();
    other.apply(0, &generated(99)).unwrap();
    for i in 0..60 {
        shard.apply(i, &generated(i)).unwrap();
    }
    let digest = shard.digest().unwrap();
    let mut bytes = Vec::new();
    // Exported while open and applying: the snapshot is of one instant.
    let info = source.export_shard(7, &mut bytes).unwrap();
    shard.apply(60, &generated(60)).unwrap();
    assert_eq!(info.applied_offset, Some(59));
    assert_eq!(info.incarnation, shard.incarnation());
    assert_ne!(shard.incarnation(), other.incarnation());
    assert_eq!(info.bytes, bytes.len() as u64);

    let d2 = tempfile::tempdir().unwrap();
    let target = store(d2.path());
    // What the id held before is replaced, not merged.
    let stale = target.shard(3, &options(5)).unwrap();
    stale.apply(100, &generated(100)).unwrap();
    assert!(matches!(
        target.import_shard(3, &bytes[..]),
        Err(Error::ShardOpen(3))
    ));
    drop(stale);
    assert!(!target.contains_shard(4).unwrap());
    let imported = target.import_shard(3, &bytes[..]).unwrap();
    assert_eq!(imported, info);
    assert!(target.contains_shard(3).unwrap());
    let copy = target.shard(3, &options(5)).unwrap();
    assert_eq!(copy.digest().unwrap(), digest);
    assert_eq!(copy.applied_offset(), Some(59));
    assert_eq!(copy.window_ns(), 1000, "the window travels with the shard");
    assert_eq!(
        copy.incarnation(),
        shard.incarnation(),
        "and its incarnation"
    );
    assert_eq!(keys_of(&copy), keys_of(&shard));
    // The copy goes on applying where the snapshot was, as its source did.
    copy.apply(60, &generated(60)).unwrap();
    assert_eq!(copy.digest().unwrap(), shard.digest().unwrap());
    drop(copy);
    target.forget_offset(3).unwrap();
    let forgot = target.shard(3, &options(5)).unwrap();
    assert_eq!(forgot.applied_offset(), None);
    assert_ne!(
        forgot.incarnation(),
        shard.incarnation(),
        "a new history of its log"
    );
    assert_eq!(
        forgot.digest().unwrap().content,
        shard.digest().unwrap().content
    );
}

#[test]
fn a_damaged_snapshot_is_refused_and_leaves_the_shard_as_it_was() {
    let d1 = tempfile::tempdir().unwrap();
    let source = store(d1.path());
    let shard = source.shard(1, &options(1000)).unwrap();
    for i in 0..10 {
        shard.apply(i, &generated(i)).unwrap();
    }
    let mut bytes = Vec::new();
    source.export_shard(1, &mut bytes).unwrap();
    assert!(matches!(
        source.export_shard(2, &mut Vec::new()),
        Err(Error::NoSuchShard(2))
    ));
    let d2 = tempfile::tempdir().unwrap();
    let target = store(d2.path());
    // A healthy copy is there already: a damaged stream must not touch it.
    target.import_shard(1, &bytes[..]).unwrap();
    let digest = shard.digest().unwrap();
    use crate::SnapshotError as S;
    type Expected = fn(&S) -> bool;
    let cases: Vec<(Vec<u8>, Expected)> = vec![
        (bytes[..bytes.len() - 3].to_vec(), |e| {
            matches!(e, S::Truncated { .. })
        }),
        (bytes[..bytes.len() / 2].to_vec(), |e| {
            matches!(e, S::Truncated { .. })
        }),
        (b"not a snapshot, not at all, not ever".to_vec(), |e| {
            matches!(e, S::Header(_))
        }),
        (
            {
                let mut b = bytes.clone();
                let n = b.len();
                b[n - 1] ^= 1;
                b
            },
            |e| matches!(e, S::Count { .. }),
        ),
    ];
    for (input, expected) in cases {
        match target.import_shard(1, &input[..]) {
            Err(Error::Snapshot(e)) => assert!(expected(&e), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(target.shard_ids().unwrap(), [1]);
        let copy = target.shard(1, &options(1000)).unwrap();
        assert_eq!(copy.digest().unwrap(), digest);
    }
}

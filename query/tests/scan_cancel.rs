//! A withdrawn scan stops: once its `Cancel` is (a killed or timed-out
//! query, a peer that hung up), a shard scan ends with
//! `ScanError::Cancelled` instead of reading the rest of the shard.

mod select_support;

use query::select::scan::{Cancel, GroupBody, MeasurementScan, ScanError, ScanMode, ScanRequest};
use query::shards::{run_op, ShardOp, ShardOut};
use shardd::queries::cluster::LocalShards as _;

const DAY: u64 = 86_400_000_000_000;

#[test]
fn a_withdrawn_scan_stops_before_reading_the_shard() {
    let lp: String = (0..50)
        .map(|h| format!("cpu,host=h{h} usage={h} 0\n"))
        .collect();
    let loaded = select_support::load(&lp, "db", DAY, 1, |_| vec![1]);
    let group = loaded.md.databases["db"].retention_policies["autogen"]
        .shard_groups
        .values()
        .next()
        .expect("a group");
    let id = group.shards[0].id;
    let shard = loaded.nodes[&1].shard(id).expect("the replica");
    let op = ShardOp::Scan(ScanRequest {
        shard_id: id,
        wait_offset: None,
        min_time: i64::MIN,
        max_time: i64::MAX,
        group_by: Vec::new(),
        window: None,
        measurements: vec![MeasurementScan {
            name: "cpu".into(),
            cols: vec!["usage".into()],
            cond: None,
            present: vec![0],
        }],
        mode: ScanMode::Raw {
            limit: None,
            desc: false,
        },
        max_series: 0,
        max_points: 0,
    });

    let cancel = Cancel::default();
    match run_op(&shard, &op, &cancel) {
        Ok(ShardOut::Scan(all)) => {
            assert_eq!(all.series, 50);
            let rows: usize = all
                .groups
                .iter()
                .map(|g| match &g.body {
                    GroupBody::Raw { rows, .. } => rows.len(),
                    GroupBody::Agg(_) => 0,
                })
                .sum();
            assert_eq!(rows, 50);
        }
        other => panic!("scan: {other:?}"),
    }

    // What the shard-read route holds while its scan runs: dropping the
    // guard (the call's future dropped) withdraws the scan.
    drop(cancel.on_drop());
    assert!(cancel.is_cancelled());
    match run_op(&shard, &op, &cancel) {
        Err(ScanError::Cancelled) => {}
        other => panic!("a withdrawn scan answered: {other:?}"),
    }
}

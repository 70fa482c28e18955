//! rf=2 end to end: a real tansu broker, a real metad, two `shardd`
//! processes owning the same shard. Both apply the same records and agree
//! on the digest at a common offset; one is SIGKILLed mid-stream and
//! restarted and catches up to the same digest; one is rebuilt from
//! scratch by replay, then from the other's snapshot, and its digest
//! equals the other's each time.

mod common;

use std::time::Duration;

use common::{
    digests_at_common_offset, high_watermark, metrics, spawn_shardd, tsbs_lines, write, Cluster,
    Internal,
};
use schemas::node_api::ReplicaState;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_agree_survive_sigkill_and_rebuild_by_replay_and_snapshot() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let ports: Vec<u16> = (0..4).map(|_| testkit::free_port()).collect();
    let a = spawn_shardd(&cluster, &a_dir, ports[0], ports[1]);
    let mut b = spawn_shardd(&cluster, &b_dir, ports[2], ports[3]);
    cluster.wait_for_data_nodes(2).await;
    cluster.create_database("tsbs", 2).await;
    let http = reqwest::Client::new();

    // 50 hosts × 20 timestamps per write: 1000 lines, 10 000 values.
    for w in 0..5 {
        write(&http, &a.http, "tsbs", tsbs_lines(50, w * 20, 20)).await;
    }
    let group = cluster.group("tsbs").await;
    let shard = &group.shards[0];
    assert_eq!(shard.owners.len(), 2, "rf=2: {group:?}");
    let shard_id = shard.id;
    let (ia, ib) = (
        Internal::new(&a.internal, &cluster.secret),
        Internal::new(&b.internal, &cluster.secret),
    );
    let hwm = high_watermark(&cluster.broker.bootstrap(), &group.topic, 0);
    assert!(hwm >= 5, "each write is at least one record: {hwm}");
    let sa = ia.wait_caught_up(shard_id, hwm - 1).await;
    ib.wait_caught_up(shard_id, hwm - 1).await;
    assert_eq!(sa.values_applied, 50_000);
    // Within a heartbeat the WAL is synced and the offset durable: what
    // log retention may trim below.
    ia.wait_until(shard_id, "durable", |s| s.durable_offset == Some(hwm - 1))
        .await;

    let (offset, d) = digests_at_common_offset(&[&ia, &ib], shard_id).await;
    assert_eq!(offset, hwm - 1);
    assert_eq!(d[0].digest, d[1].digest, "replicas differ: {d:?}");
    assert_eq!(d[0].applied_offset, Some(offset));
    let first = d[0].digest.clone();

    // SIGKILL b while writes go on; they land while it is down.
    let writer = {
        let http = http.clone();
        let addr = a.http.clone();
        tokio::spawn(async move {
            for w in 5..15 {
                write(&http, &addr, "tsbs", tsbs_lines(50, w * 20, 20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    writer.await.unwrap();
    // Same addresses: metad gives it its id, and its shards, back.
    drop(b);
    let _b = spawn_shardd(&cluster, &b_dir, ports[2], ports[3]);
    let hwm = high_watermark(&cluster.broker.bootstrap(), &group.topic, 0);
    ia.wait_caught_up(shard_id, hwm - 1).await;
    ib.wait_caught_up(shard_id, hwm - 1).await;
    let (offset, d) = digests_at_common_offset(&[&ia, &ib], shard_id).await;
    assert_eq!(offset, hwm - 1);
    assert_eq!(d[0].digest, d[1].digest, "after SIGKILL: {d:?}");
    assert_ne!(d[0].digest, first, "the later writes are in");

    // Rebuild b from scratch by replay.
    let s = ib.rebuild(shard_id, true).await.expect("rebuild accepted");
    assert_eq!(
        s.state,
        ReplicaState::CatchingUp,
        "excluded from queries at once"
    );
    assert_eq!(s.rebuilds, 1);
    let rebuilt = ib.wait_caught_up(shard_id, hwm - 1).await;
    assert_eq!(rebuilt.records_applied as i64, hwm, "replayed every record");
    assert_eq!(rebuilt.values_applied, 150_000);
    let (_, d2) = digests_at_common_offset(&[&ia, &ib], shard_id).await;
    assert_eq!(d2[0].digest, d2[1].digest, "after rebuild: {d2:?}");
    assert_eq!(d2[0].digest, d[0].digest);

    // Rebuild b from a's snapshot: nothing is replayed, the digest is a's,
    // and b goes on with the partition after the snapshot's offset.
    let s = ib.rebuild(shard_id, false).await.expect("rebuild accepted");
    assert_eq!(s.rebuilds, 2);
    let installed = ib.wait_caught_up(shard_id, hwm - 1).await;
    assert_eq!(installed.applied_offset, Some(hwm - 1));
    assert_eq!(
        installed.records_applied, 0,
        "installed, not replayed: {installed:?}"
    );
    let (_, d3) = digests_at_common_offset(&[&ia, &ib], shard_id).await;
    assert_eq!(d3[1].digest, d[0].digest, "from the snapshot: {d3:?}");
    write(&http, &a.http, "tsbs", tsbs_lines(50, 300, 20)).await;
    let tail_hwm = high_watermark(&cluster.broker.bootstrap(), &group.topic, 0);
    let tail = ib.wait_caught_up(shard_id, tail_hwm - 1).await;
    assert_eq!(tail.records_applied as i64, tail_hwm - hwm, "only the tail");
    let (_, d4) = digests_at_common_offset(&[&ia, &ib], shard_id).await;
    assert_eq!(d4[0].digest, d4[1].digest, "after the tail: {d4:?}");
    assert_ne!(d4[0].digest, d[0].digest);
    let hwm = tail_hwm;

    // Status reaches metad with the heartbeat, and /metrics shows the shard.
    let status = cluster.meta.status().await.unwrap();
    let reported: Vec<_> = status
        .data_nodes
        .values()
        .flat_map(|n| n.replicas.iter())
        .filter(|r| r.shard_id == shard_id)
        .collect();
    assert_eq!(reported.len(), 2, "{status:?}");
    let metrics = metrics(&a.http).await;
    assert!(
        metrics.contains(&format!(
            "sluice_shard_applied_offset{{shard=\"{shard_id}\"}} {}",
            hwm - 1
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "sluice_shard_state{{shard=\"{shard_id}\",state=\"healthy\"}} 1"
    )));
}

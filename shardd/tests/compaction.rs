//! A shard that stops receiving writes is compacted into packed blocks once
//! `compact_cold_after` has passed, and again after new writes go cold.
//! Runs an in-process node (`Node::start`) against real tansu and metad.

mod common;

use std::time::{Duration, Instant};

use common::{high_watermark, tsbs_lines, write, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cold_shard_is_compacted_once_per_quiet_spell() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = cluster.node_config(dir.path());
    config.consumer.compact_cold_after = Some(Duration::from_secs(2));
    let (handle, _stop_tx) = cluster.start_node(config, "db").await;
    let node = handle.node.clone();
    let http_addr = handle.http_addr.to_string();
    let http = reqwest::Client::new();

    for round in 0..2 {
        write(&http, &http_addr, "db", tsbs_lines(10, round * 10, 10)).await;
        let group = cluster.group("db").await;
        let shard_id = group.shards[0].id;
        let hwm = high_watermark(&cluster.broker.bootstrap(), &group.topic, 0);
        node.wait_for_offset(shard_id, hwm - 1, Duration::from_secs(30))
            .await
            .expect("applied");
        let (shard, _) = node.shard(shard_id).expect("open");
        // Fresh writes sit in the memtable; nothing else would compact them.
        let written = Instant::now();
        assert!(shard.needs_compaction().unwrap(), "round {round}");
        let deadline = written + Duration::from_secs(30);
        while shard.needs_compaction().unwrap() {
            assert!(Instant::now() < deadline, "round {round}: never compacted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            written.elapsed() >= Duration::from_millis(1500),
            "round {round}: compacted before the shard went cold"
        );
    }
}

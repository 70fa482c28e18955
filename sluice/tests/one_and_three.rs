//! One scenario, two cluster shapes: the same writes and queries against a
//! single data node and against three data nodes with two replicas per
//! shard, both built by `sluice::cluster::ClusterSpec` (real tansu, metad
//! and data nodes in-process, real HTTP).

use std::time::{Duration, Instant};

use serde_json::Value;

const POINTS: i64 = 300;

/// Writes `POINTS` points through node 1, then asks every node for their
/// count with read-your-writes, and checks the shard layout metad made.
async fn scenario(data_nodes: usize, replication_factor: u32) {
    let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let mut spec =
        sluice::cluster::ClusterSpec::for_test(dir.path(), broker.bootstrap(), data_nodes);
    spec.replication_factor = replication_factor;
    spec.create_database = Some("db".into());
    let cluster = spec.start().await.expect("start the cluster");
    assert_eq!(cluster.nodes.len(), data_nodes);

    let http = reqwest::Client::new();
    let t0 = 1_700_000_000_000_000_000_i64;
    let lines: String = (0..POINTS)
        .map(|i| format!("cpu,host=h{} v={i} {}\n", i % 30, t0 + i * 1_000_000_000))
        .collect();
    let resp = http
        .post(format!("http://{}/write", cluster.nodes[0].http_addr))
        .query(&[("db", "db")])
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());

    for (i, node) in cluster.nodes.iter().enumerate() {
        let url = format!("http://{}/query", node.http_addr);
        let q = [
            ("db", "db"),
            ("q", "SELECT count(v) FROM cpu"),
            ("consistency", "strong"),
        ];
        // The answer is exact at once; the loop only bounds a refused
        // connection while a node settles, and says so.
        let deadline = Instant::now() + Duration::from_secs(10);
        let body: Value = loop {
            let body: Value = http
                .get(&url)
                .query(&q)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if body["results"][0]["error"].is_null() || Instant::now() > deadline {
                break body;
            }
            eprintln!("node {}: {body}; retrying", i + 1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            body["results"][0]["series"][0]["values"][0][1],
            POINTS,
            "node {} of {data_nodes}: {body}",
            i + 1
        );
    }

    let md = cluster.meta.snapshot_linearizable().await.unwrap();
    let shard_count = (data_nodes / replication_factor as usize).max(1);
    let mut groups = 0;
    for g in md.shard_groups().filter(|g| g.database == "db") {
        groups += 1;
        assert_eq!(g.shards.len(), shard_count, "{g:?}");
        for s in &g.shards {
            assert_eq!(s.owners.len(), replication_factor as usize, "{s:?}");
        }
    }
    assert!(groups >= 1, "the write created a shard group");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_data_node() {
    scenario(1, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_data_nodes_two_replicas() {
    scenario(3, 2).await;
}

//! Automatic re-replication: with metad's `reassign_after` set, the shard
//! of a data node that was SIGKILLed (and stays down) gets the other node
//! as its owner, which replays it from Kafka and answers for it.

mod common;

use std::time::{Duration, Instant};

use common::{spawn_nodes, tsbs_lines, write, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_nodes_shards_are_re_owned_after_reassign_after() {
    let cluster = Cluster::start_with(|m| {
        m.data_node_timeout = Duration::from_millis(2500);
        m.reassign_after = Some(Duration::from_millis(4000));
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = spawn_nodes(&cluster, dir.path(), 2, &[]).await;
    cluster.create_database("db", 1).await;
    let http = reqwest::Client::new();
    write(&http, &nodes[0].http, "db", tsbs_lines(20, 0, 10)).await;
    let group = cluster.group("db").await;
    let shard = &group.shards[0];
    let md = cluster.snapshot().await;
    let dead_id = shard.owners[0];
    let dead = nodes
        .iter()
        .position(|n| n.internal == md.data_nodes[&dead_id].internal_addr)
        .unwrap();
    let survivor = nodes[1 - dead].http.clone();
    let mut gone = nodes.remove(dead);
    gone.child.kill().unwrap();
    gone.child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let md = cluster.snapshot().await;
        let owners = md
            .shard_groups()
            .flat_map(|g| g.shards.iter())
            .find(|s| s.id == shard.id)
            .unwrap()
            .owners
            .clone();
        if owners != vec![dead_id] {
            assert_eq!(owners.len(), 1, "{owners:?}");
            let body: serde_json::Value = http
                .get(format!("http://{survivor}/query"))
                .query(&[
                    ("db", "db"),
                    ("q", "SELECT count(usage_user) FROM cpu"),
                    ("consistency", "strong"),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if body["results"][0]["error"].is_null() {
                break body;
            }
        }
        assert!(Instant::now() < deadline, "shard {} not re-owned", shard.id);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        body["results"][0]["series"][0]["values"][0][1], 200,
        "{body}"
    );
}

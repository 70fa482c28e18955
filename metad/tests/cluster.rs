//! Three metad processes: failover, catch-up, concurrent shard-group creation.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{client_for, eventually, Cluster};
use schemas::meta::{DAY_NS, HOUR_NS};
use schemas::meta_api::RetentionPolicySpec;

const TS: i64 = 1_700_000_000_000_000_000;

fn spec(name: &str, duration_ns: u64, rf: u32) -> RetentionPolicySpec {
    RetentionPolicySpec {
        name: name.into(),
        duration_ns,
        shard_group_duration_ns: None,
        replication_factor: rf,
        shard_count: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_failover_loses_nothing_acknowledged() {
    let mut cluster = Cluster::start(3, &[]).await;
    let client = cluster.client();

    let mut databases = BTreeSet::new();
    let mut groups = BTreeSet::new();
    let nodes: Vec<_> = register_nodes(&client, 3).await;
    for i in 0..5 {
        let db = format!("db{i}");
        client.create_database(&db, None).await.unwrap();
        client
            .create_retention_policy(&db, spec("week", 7 * DAY_NS, 2), i % 2 == 0)
            .await
            .unwrap();
        let g = client
            .create_shard_group(&db, Some("week"), TS + i as i64 * HOUR_NS as i64)
            .await
            .unwrap();
        assert_eq!(g.shards.len(), 1, "3 nodes / rf 2");
        assert_eq!(g.shards[0].owners.len(), 2);
        databases.insert(db);
        groups.insert(g.id);
    }
    assert_eq!(nodes.len(), 3);

    let leader = cluster.leader().await;
    let killed_id = cluster.nodes[leader].id;
    cluster.nodes[leader].kill();
    let killed_at = Instant::now();
    // The client keeps all three addresses; the dead one is skipped.
    let survivors: Vec<_> = cluster.nodes.iter().filter(|n| n.id != killed_id).collect();
    let survivor_client = client_for(&survivors, None);
    eventually("a write after failover", Duration::from_secs(5), || async {
        survivor_client
            .create_database("after_failover", None)
            .await
            .ok()
    })
    .await;
    let failover = killed_at.elapsed();
    println!("failover: new leader served a write {failover:?} after SIGKILL of node {killed_id}");
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );
    databases.insert("after_failover".into());
    let new_leader = cluster.leader().await;
    assert_ne!(cluster.nodes[new_leader].id, killed_id);

    // More changes while the old leader is down, enough to pass a snapshot
    // (every 20 entries) so catching up may need one.
    for i in 0..25 {
        let db = format!("late{i}");
        client.create_database(&db, None).await.unwrap();
        databases.insert(db);
    }
    let g = client
        .create_shard_group("db0", Some("week"), TS + 30 * DAY_NS as i64)
        .await
        .unwrap();
    groups.insert(g.id);

    cluster.nodes[leader].start();
    let expected = client.snapshot_linearizable().await.unwrap();
    for node in &cluster.nodes {
        let meta = eventually(
            "every node to catch up",
            Duration::from_secs(10),
            || async {
                let m = node.local_meta().await?;
                (m.version >= expected.version).then_some(m)
            },
        )
        .await;
        assert_eq!(meta, expected, "node {} differs", node.id);
        let have: BTreeSet<String> = meta.databases.keys().cloned().collect();
        assert!(
            have.is_superset(&databases),
            "node {} lost databases",
            node.id
        );
        let have_groups: BTreeSet<u64> = meta.shard_groups().map(|g| g.id).collect();
        assert_eq!(have_groups, groups, "node {}", node.id);
        assert_eq!(meta.data_nodes.len(), 3);
    }
}

async fn register_nodes(client: &meta_client::MetaClient, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let node = client
            .register_data_node(&format!("data{i}:8086"), &format!("data{i}:8088"), None)
            .await
            .unwrap();
        ids.push(node.id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_make_one_group() {
    let cluster = Cluster::start(3, &[]).await;
    let client = cluster.client();
    register_nodes(&client, 4).await;
    client.create_database("db", None).await.unwrap();

    // Five clients, each talking to a different node first, so followers
    // forward some of the requests.
    let clients: Vec<_> = (0..5)
        .map(|i| {
            let first = &cluster.nodes[i % 3];
            let others: Vec<_> = cluster.nodes.iter().filter(|n| n.id != first.id).collect();
            let mut order = vec![first];
            order.extend(others);
            std::sync::Arc::new(client_for(&order, None))
        })
        .collect();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = clients[i % clients.len()].clone();
        tasks.push(tokio::spawn(async move {
            c.create_shard_group("db", None, TS + i as i64).await
        }));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().id);
    }
    assert_eq!(ids.len(), 1, "groups: {ids:?}");
    let meta = client.snapshot_linearizable().await.unwrap();
    assert_eq!(meta.shard_groups().count(), 1);
    let g = meta.shard_groups().next().unwrap();
    assert_eq!(g.shards.len(), 4, "4 alive nodes, rf 1");

    // remove-meta: a follower leaves; the other two go on.
    let leader = cluster.leader().await;
    let leaving = cluster.nodes[(leader + 1) % 3].id;
    let status = client.remove_meta(leaving).await.unwrap();
    assert!(status.members.iter().all(|m| m.id != leaving), "{status:?}");
    assert_eq!(status.members.iter().filter(|m| m.voter).count(), 2);
    client.create_database("after_remove", None).await.unwrap();
}

/// A metad node's `/health` (open without the secret): status code and body.
async fn health(addr: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_fails_without_a_leader() {
    let mut cluster = Cluster::start(3, &[]).await;
    let leader = cluster.leader().await;
    for node in &cluster.nodes {
        let body = eventually(
            "every node to know the leader",
            Duration::from_secs(10),
            || async {
                let (code, body) = health(&node.addr).await;
                (code == 200).then_some(body)
            },
        )
        .await;
        assert_eq!(body["status"], "pass", "node {}: {body}", node.id);
    }
    // The leader and one follower gone: the last node cannot elect one.
    let other = (leader + 1) % 3;
    cluster.nodes[leader].kill();
    cluster.nodes[other].kill();
    let last = &cluster.nodes[3 - leader - other];
    let body = eventually("a 503 without quorum", Duration::from_secs(10), || async {
        let (code, body) = health(&last.addr).await;
        (code == 503).then_some(body)
    })
    .await;
    assert_eq!(body["status"], "fail");
    assert!(
        body["message"].as_str().unwrap().contains("no raft leader"),
        "{body}"
    );
}

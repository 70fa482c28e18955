//! Owner changes with `sluice-ctl` against a real cluster (tansu, metad and
//! three data nodes in-process, real HTTP): copy-shard, remove-shard,
//! move-shard, replace-node and remove-data each end with the owners asked
//! for and every owner's digest equal to the shard's digest before the
//! change, while a query runs in a loop against a node and never fails or
//! changes its answer.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Ctl;
use schemas::meta::{MetaData, NodeId, ShardId};
use serde_json::Value;

const POINTS: i64 = 2_000;

/// Every owner's digest at a common offset; all must agree.
fn verified_digest(ctl: &Ctl, shard: ShardId) -> String {
    let v = ctl.ok(&["verify-shard", &shard.to_string()]);
    assert_eq!(v["consistent"], true, "shard {shard}: {v}");
    v["owners"][0]["digest"].as_str().unwrap().to_owned()
}

/// `SELECT count(v) FROM cpu` on `node`.
async fn count(http: &reqwest::Client, node: SocketAddr, consistency: &str) -> Value {
    http.get(format!("http://{node}/query"))
        .query(&[
            ("db", "db"),
            ("q", "SELECT count(v) FROM cpu"),
            ("consistency", consistency),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn owners(md: &MetaData, shard: ShardId) -> Vec<NodeId> {
    md.shard_groups()
        .flat_map(|g| g.shards.iter())
        .find(|s| s.id == shard)
        .map(|s| s.owners.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_move_remove_replace_and_drain_keep_data_and_answers() {
    let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sluice::cluster::ClusterSpec::for_test(dir.path(), broker.bootstrap(), 2);
    spec.create_database = Some("db".into());
    let mut cluster = spec.start().await.expect("start the cluster");
    let ctl = Ctl {
        metad: cluster.meta_addr.to_string(),
        secret: cluster.spec().shared_secret.clone().unwrap(),
        timeout_s: 10,
    };

    let http = reqwest::Client::new();
    let t0 = 1_700_000_000_000_000_000_i64;
    let lines: String = (0..POINTS)
        .map(|i| format!("cpu,host=h{} v={i} {}\n", i % 40, t0 + i * 1_000_000_000))
        .collect();
    let resp = http
        .post(format!("http://{}/write", cluster.nodes[0].http_addr))
        .query(&[("db", "db")])
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let body = count(&http, cluster.nodes[0].http_addr, "strong").await;
    assert_eq!(
        body["results"][0]["series"][0]["values"][0][1], POINTS,
        "{body}"
    );

    let md = cluster.meta.snapshot_linearizable().await.unwrap();
    let group = md.shard_groups().next().unwrap().clone();
    assert_eq!(group.shards.len(), 2, "two nodes, rf 1: {group:?}");
    let (a, b) = (group.shards[0].id, group.shards[1].id);
    let (owner_a, owner_b) = (owners(&md, a)[0], owners(&md, b)[0]);
    assert_ne!(owner_a, owner_b);
    let before = [(a, verified_digest(&ctl, a)), (b, verified_digest(&ctl, b))];
    let third = cluster.add_data_node().await.unwrap();
    let (third, query_node) = (third.node.id(), third.http_addr);

    // Queries on the third node (never removed) go on through every
    // change; none may fail or see a different count.
    let stop = Arc::new(AtomicBool::new(false));
    let querier = {
        let stop = Arc::clone(&stop);
        let http = http.clone();
        tokio::spawn(async move {
            let mut answers = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = count(&http, query_node, "one").await;
                assert_eq!(
                    body["results"][0]["series"][0]["values"][0][1], POINTS,
                    "a query during an owner change: {body}"
                );
                answers += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        })
    };
    let check = |step: &str, shard: ShardId, want: &[NodeId]| {
        let ctl = &ctl;
        let meta = &cluster.meta;
        let digest = &before.iter().find(|(s, _)| *s == shard).unwrap().1;
        let step = step.to_owned();
        let want = want.to_vec();
        async move {
            let md = meta.snapshot_linearizable().await.unwrap();
            assert_eq!(owners(&md, shard), want, "{step}: owners of shard {shard}");
            assert_eq!(
                &verified_digest(ctl, shard),
                digest,
                "{step}: data of shard {shard}"
            );
        }
    };

    // copy-shard: a second owner replays the partition and agrees.
    let out = ctl.ok(&["copy-shard", &a.to_string(), "--to", &third.to_string()]);
    assert_eq!(
        out[0]["owners"],
        serde_json::json!([owner_a, third]),
        "{out}"
    );
    check("copy-shard", a, &[owner_a, third]).await;
    // show-shards reports both replicas healthy.
    let shards = ctl.ok(&["show-shards"]);
    let row = shards
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == a)
        .unwrap()
        .clone();
    assert_eq!(row["under_replicated"], false, "{row}");

    // remove-shard: the only replica is refused, even forced...
    let err = ctl
        .run(&[
            "remove-shard",
            &b.to_string(),
            "--from",
            &owner_b.to_string(),
            "--force",
        ])
        .unwrap_err();
    assert!(err.contains("would be left without an owner"), "{err}");
    // ...an extra one goes.
    ctl.ok(&[
        "remove-shard",
        &a.to_string(),
        "--from",
        &owner_a.to_string(),
    ]);
    check("remove-shard", a, &[third]).await;

    // move-shard: b from its owner to the third node.
    ctl.ok(&[
        "move-shard",
        &b.to_string(),
        "--from",
        &owner_b.to_string(),
        "--to",
        &third.to_string(),
    ]);
    check("move-shard", b, &[third]).await;

    // replace-node: the third node's shards go to owner_a.
    ctl.ok(&[
        "replace-node",
        &third.to_string(),
        "--with",
        &owner_a.to_string(),
    ]);
    check("replace-node", a, &[owner_a]).await;
    check("replace-node", b, &[owner_a]).await;

    // remove-data: owner_a's shards go to the least loaded nodes (owner_b
    // and the third own nothing now), then owner_a is removed.
    ctl.ok(&["remove-data", &owner_a.to_string()]);
    let md = cluster.meta.snapshot_linearizable().await.unwrap();
    assert!(!md.data_nodes.contains_key(&owner_a));
    let (new_a, new_b) = (owners(&md, a), owners(&md, b));
    assert_eq!(new_a.len(), 1);
    assert_eq!(new_b.len(), 1);
    assert_ne!(new_a, new_b, "spread over the least loaded nodes");
    check("remove-data", a, &new_a).await;
    check("remove-data", b, &new_b).await;

    stop.store(true, Ordering::Relaxed);
    let answers = querier.await.expect("no query failed during the changes");
    assert!(answers > 10, "only {answers} queries ran");
    let body = count(&http, query_node, "strong").await;
    assert_eq!(
        body["results"][0]["series"][0]["values"][0][1], POINTS,
        "{body}"
    );
    cluster.stop().await;
}

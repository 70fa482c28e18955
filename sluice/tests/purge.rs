//! Retention removes everything of a deleted shard group: dropping a
//! database retires its groups at once (owners drop their replicas), and
//! after the grace the groups' topics are deleted on the broker and the
//! meta data forgets them; the cluster goes on with new databases. Real
//! tansu, metad and a data node in-process, real HTTP.
//!
//! Nothing else is consumed while the topics are deleted: tansu 0.6 breaks
//! the fetches of other topics once one is deleted (see
//! `NodeConfig::delete_group_topics`).

mod common;

use std::time::{Duration, Instant};

use common::{query, write};
use serde_json::Value;

const WEEK: i64 = 7 * 24 * 3_600_000_000_000;
const T0: i64 = 1_735_689_600_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_databases_topics_and_groups_are_purged() {
    let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sluice::cluster::ClusterSpec::for_test(dir.path(), broker.bootstrap(), 1);
    spec.node_config = |c| {
        c.deleted_group_grace = Duration::from_secs(2);
        c.purge_interval = Duration::from_millis(200);
    };
    let cluster = spec.start().await.expect("start the cluster");
    let http = reqwest::Client::new();
    let base = format!("http://{}", cluster.nodes[0].http_addr);
    query(&http, &base, "gone", "CREATE DATABASE gone").await;
    let lines: String = (0..3)
        .map(|i| format!("m v={i} {}\n", T0 + i * WEEK))
        .collect();
    write(&http, &base, "gone", lines.clone()).await;
    let count = |db: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            query(&http, &base, db, "SELECT count(v) FROM m").await["results"][0]["series"][0]
                ["values"][0][1]
                .clone()
        }
    };
    assert_eq!(count("gone").await, 3);

    let md = cluster.meta.snapshot_linearizable().await.unwrap();
    let gone: Vec<_> = md
        .shard_groups()
        .filter(|g| g.database == "gone")
        .cloned()
        .collect();
    assert_eq!(gone.len(), 3);
    let admin = kafka_log::Admin::new(&cluster.kafka_config()).unwrap();
    let topics: Vec<String> = gone.iter().map(|g| g.topic.clone()).collect();
    let partitions = |admin: kafka_log::Admin, topics: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            admin
                .topic_layouts(&names)
                .unwrap()
                .iter()
                .map(|l| l.partitions)
                .sum::<usize>()
        })
        .await
        .unwrap()
    };
    assert!(partitions(admin.clone(), topics.clone()).await > 0);

    query(&http, &base, "gone", "DROP DATABASE gone").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = cluster.meta.snapshot_linearizable().await.unwrap();
        let listed = gone
            .iter()
            .filter(|g| {
                md.shard_group(g.id).is_some() || md.dropped_shard_groups.contains_key(&g.id)
            })
            .count();
        let replicas = gone
            .iter()
            .flat_map(|g| &g.shards)
            .filter(|s| cluster.nodes[0].node.shard(s.id).is_some())
            .count();
        let left = partitions(admin.clone(), topics.clone()).await;
        if listed == 0 && replicas == 0 && left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s: {listed} groups in the meta data, {replicas} replicas, {left} partitions"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The same name again starts empty, and takes writes.
    query(&http, &base, "gone", "CREATE DATABASE gone").await;
    assert_eq!(count("gone").await, Value::Null);
    write(&http, &base, "gone", lines).await;
    assert_eq!(count("gone").await, 3);
    cluster.stop().await;
}

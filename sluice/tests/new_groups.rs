//! Shard groups made by a write, and queries right after it: one `/write`
//! spanning 200 weekly groups is acknowledged and counted at once (no
//! retry, no read-your-writes parameter), a group with no record yet reads
//! as empty, and the node runs its 200 replicas on its fixed apply threads.
//! Real tansu, metad and a data node in-process, real HTTP.

use serde_json::Value;

const GROUPS: i64 = 200;
const WEEK: i64 = 7 * 24 * 3_600_000_000_000;
const T0: i64 = 1_735_689_600_000_000_000;

async fn query(http: &reqwest::Client, url: &str, q: &str) -> Value {
    http.get(url)
        .query(&[("db", "db"), ("q", q)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_over_many_groups_is_answered_at_once() {
    let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sluice::cluster::ClusterSpec::for_test(dir.path(), broker.bootstrap(), 1);
    spec.create_database = Some("db".into());
    let cluster = spec.start().await.expect("start the cluster");
    let http = reqwest::Client::new();
    let url = format!("http://{}/query", cluster.nodes[0].http_addr);

    let lines: String = (0..GROUPS)
        .map(|i| format!("m,g={i} v={i}i {}\n", T0 - i * WEEK))
        .collect();
    let resp = http
        .post(format!("http://{}/write", cluster.nodes[0].http_addr))
        .query(&[("db", "db")])
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let md = cluster.meta.snapshot_linearizable().await.unwrap();
    assert_eq!(
        md.shard_groups().filter(|g| g.database == "db").count(),
        GROUPS as usize
    );

    // At once: the groups' replicas may still be opening or catching up.
    let body = query(&http, &url, "SELECT count(v) FROM m").await;
    assert_eq!(
        body["results"][0]["series"][0]["values"][0][1], GROUPS,
        "{body}"
    );

    // A group no write has reached reads as empty, not as an error.
    let empty_at = T0 + 10 * WEEK;
    cluster
        .meta
        .create_shard_group("db", None, empty_at)
        .await
        .unwrap();
    let body = query(
        &http,
        &url,
        &format!("SELECT count(v) FROM m WHERE time >= {empty_at}"),
    )
    .await;
    assert!(body["results"][0]["error"].is_null(), "{body}");
    assert!(body["results"][0]["series"].is_null(), "{body}");

    // Every replica runs on the node's apply threads: none has its own.
    let apply_threads = cluster.node_config(1).consumer.apply_threads;
    assert_eq!(threads_named("apply-"), apply_threads);
    assert_eq!(threads_named("shard-"), 0);
    cluster.stop().await;
}

//! `sluice-ctl backup` and `restore` against real clusters (tansu, metad and
//! two data nodes in-process, real HTTP): a backup taken while writes go
//! on, a second one into the same directory that fetches only the shard
//! that changed, and writes after it. Then the cluster is wiped and the
//! backup restored into a new one on the same broker: the snapshots plus
//! the log's tail give the original's last digests and answers. Then the
//! broker is wiped too and both backups are restored into a new cluster
//! on a new broker, with nothing to replay: the second gives the digests
//! and answers it was taken at, and the first holds every point
//! acknowledged before it started.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use common::{query, write, Ctl};
use schemas::meta::MetaData;
use serde_json::Value;

const WEEK: i64 = 7 * 24 * 3_600_000_000_000;
const T0: i64 = 1_735_689_600_000_000_000;

/// `sluice-ctl --json` against `cluster`.
fn ctl(cluster: &sluice::cluster::Cluster, secret: &str, args: &[&str]) -> Value {
    Ctl {
        metad: cluster.meta_addr.to_string(),
        secret: secret.to_owned(),
        timeout_s: 30,
    }
    .ok(args)
}

/// `n` points of two series from `t`, 1 s apart.
fn lines(t: i64, n: i64) -> String {
    (0..n)
        .map(|i| format!("m,host=h{} v={i} {}\n", i % 2, t + i * 1_000_000_000))
        .collect()
}

const ANSWERS: &str = "SELECT count(v), sum(v) FROM m GROUP BY time(1w), host";

/// Content digests of every replica of `db`, by (group start, shard
/// index), once each has applied everything its partition holds.
async fn digests(
    cluster: &sluice::cluster::Cluster,
    md: &MetaData,
    db: &str,
) -> Vec<(i64, u32, String)> {
    let watermarks = kafka_log::Watermarks::new(&cluster.kafka_config()).unwrap();
    let mut out = Vec::new();
    for g in md.shard_groups().filter(|g| g.database == db) {
        for s in &g.shards {
            let (_, high) = watermarks.fetch(&g.topic, s.index as i32).await.unwrap();
            for owner in &s.owners {
                let node = cluster
                    .nodes
                    .iter()
                    .find(|n| n.node.id() == *owner)
                    .unwrap();
                if high > 0 {
                    let wait = std::time::Duration::from_secs(30);
                    node.node
                        .wait_for_offset(s.id, high - 1, wait)
                        .await
                        .unwrap();
                }
                let (shard, _) = node.node.shard(s.id).expect("replica open");
                out.push((g.start_ns, s.index, shard.digest().unwrap().hex()));
            }
        }
    }
    out.sort();
    out
}

fn backups(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_during_writes_then_wipe_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = dir.path().join("backup");
    let backup_arg = backup_dir.to_str().unwrap().to_owned();

    // ---- the original cluster ------------------------------------------
    let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
    let spec = sluice::cluster::ClusterSpec::for_test(&dir.path().join("a"), broker.bootstrap(), 2);
    let secret = spec.shared_secret.clone().unwrap();
    let a = spec.start().await.expect("start the cluster");
    let http = reqwest::Client::new();
    let base = format!("http://{}", a.nodes[0].http_addr);
    query(&http, &base, "db", "CREATE DATABASE db WITH REPLICATION 2").await;
    query(&http, &base, "db", "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT count(v) INTO c FROM m GROUP BY time(1h) END").await;
    for week in 0..3 {
        write(&http, &base, "db", lines(T0 + week * WEEK, 300)).await;
    }

    // Backup 1 while a writer goes on in the newest group.
    let acked = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (http, base, acked, stop) = (http.clone(), base.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            // A series per write, within the newest group's 14 hours after
            // its first: every point stays distinct and in that group.
            let mut k = 0i64;
            while !stop.load(Ordering::Acquire) {
                let t = T0 + 2 * WEEK + 3_600_000_000_000 + (k % 1000) * 50_000_000_000;
                let body = (0..50)
                    .map(|i| format!("m,host=w{k} v={i} {}\n", t + i * 1_000_000_000))
                    .collect();
                write(&http, &base, "db", body).await;
                acked.fetch_add(50, Ordering::AcqRel);
                k += 1;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let acked_before = acked.load(Ordering::Acquire);
    let first = tokio::task::block_in_place(|| ctl(&a, &secret, &["backup", "--to", &backup_arg]));
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    // One more write into the newest group, after backup 1 for sure.
    write(
        &http,
        &base,
        "db",
        lines(T0 + 2 * WEEK + 20 * 3_600_000_000_000, 10),
    )
    .await;
    let acked_total = acked.load(Ordering::Acquire) + 10;
    assert!(acked_before > 0, "the writer wrote before the backup");
    assert_eq!(first["groups"].as_array().unwrap().len(), 3, "{first}");
    assert!(first["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["shards"].as_array().unwrap())
        .all(|s| s["fetched"] == true));

    // Backup 2 into the same directory: only the written group is fetched
    // (each snapshot is of its owner caught up with the log).
    let second = tokio::task::block_in_place(|| ctl(&a, &secret, &["backup", "--to", &backup_arg]));
    let fetched: Vec<bool> = second["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["shards"].as_array().unwrap())
        .map(|s| s["fetched"] == true)
        .collect();
    assert_eq!(fetched, [false, false, true], "{second}");
    let names = backups(&backup_dir);
    assert_eq!(names.len(), 2);

    let answers = query(&http, &base, "db", ANSWERS).await;
    let md = a.meta.snapshot_linearizable().await.unwrap();
    let before = digests(&a, &md, "db").await;
    assert_eq!(before.len(), 6, "3 groups × 1 shard × 2 owners");
    let count = |v: Value| v["results"][0]["series"][0]["values"][0][1].clone();
    assert_eq!(
        count(query(&http, &base, "db", "SELECT count(v) FROM m").await),
        900 + acked_total
    );
    // Writes after the last backup: only the log has them.
    write(
        &http,
        &base,
        "db",
        lines(T0 + 2 * WEEK + 21 * 3_600_000_000_000, 7),
    )
    .await;
    write(&http, &base, "db", lines(T0 + 10, 3)).await;
    let answers_after = query(&http, &base, "db", ANSWERS).await;
    let after = digests(&a, &a.meta.snapshot_linearizable().await.unwrap(), "db").await;

    // ---- wipe the cluster, keep the broker: restore, replay the tail ----
    a.stop().await;
    std::fs::remove_dir_all(dir.path().join("a")).unwrap();
    let spec =
        sluice::cluster::ClusterSpec::for_test(&dir.path().join("b1"), broker.bootstrap(), 2);
    let secret = spec.shared_secret.clone().unwrap();
    let b1 = spec
        .start()
        .await
        .expect("start a new cluster on the old broker");
    let base = format!("http://{}", b1.nodes[0].http_addr);
    tokio::task::block_in_place(|| ctl(&b1, &secret, &["restore", "--from", &backup_arg]));
    assert_eq!(query(&http, &base, "db", ANSWERS).await, answers_after);
    let md = b1.meta.snapshot_linearizable().await.unwrap();
    assert_eq!(
        digests(&b1, &md, "db").await,
        after,
        "snapshots plus the log's tail"
    );
    b1.stop().await;
    std::fs::remove_dir_all(dir.path().join("b1")).unwrap();

    // ---- wipe everything, broker too: restore with nothing to replay ----
    drop(broker);
    let broker = testkit::Broker::start().unwrap();
    let spec = sluice::cluster::ClusterSpec::for_test(&dir.path().join("b"), broker.bootstrap(), 2);
    let secret = spec.shared_secret.clone().unwrap();
    let b = spec.start().await.expect("start the new cluster");
    let base = format!("http://{}", b.nodes[0].http_addr);
    tokio::task::block_in_place(|| ctl(&b, &secret, &["restore", "--from", &backup_arg]));
    assert_eq!(query(&http, &base, "db", ANSWERS).await, answers);
    let md = b.meta.snapshot_linearizable().await.unwrap();
    assert_eq!(
        digests(&b, &md, "db").await,
        before,
        "restored shards differ"
    );
    let db = md.database("db").unwrap();
    assert!(db.continuous_queries.contains_key("cq"), "{db:?}");
    // The restored database takes writes, in a restored group too.
    write(&http, &base, "db", lines(T0, 1)).await;
    write(&http, &base, "db", lines(T0 + 10 * WEEK, 1)).await;

    // The first backup under a new name: every point acknowledged before
    // it started is there.
    tokio::task::block_in_place(|| {
        ctl(
            &b,
            &secret,
            &[
                "restore",
                "--from",
                &backup_arg,
                "--backup",
                &names[0],
                "--database",
                "db",
                "--new-database",
                "db1",
            ],
        )
    });
    let count = count(query(&http, &base, "db1", "SELECT count(v) FROM m").await)
        .as_i64()
        .unwrap();
    assert!(
        count >= 900 + acked_before && count <= 900 + acked_total,
        "{count} points restored; {acked_before} were acknowledged before the backup, {acked_total} in all"
    );
    write(&http, &base, "db1", lines(T0 + 20 * WEEK, 5)).await;
    // Under a new name the groups have topics of their own.
    let md = b.meta.snapshot_linearizable().await.unwrap();
    let topics = |db: &str| -> Vec<String> {
        md.shard_groups()
            .filter(|g| g.database == db)
            .map(|g| g.topic.clone())
            .collect()
    };
    assert!(topics("db1").iter().all(|t| !topics("db").contains(t)));
    b.stop().await;
}

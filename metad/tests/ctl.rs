//! `sluice-ctl` against a running metad.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{eventually, free_addr, Metad};
use tempfile::TempDir;

fn ctl(metad: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice-ctl"))
        .args(["--metad", metad, "--timeout-s", "2"])
        .args(args)
        .env_remove("SLUICE_SHARED_SECRET")
        .output()
        .expect("run sluice-ctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_ctl_against_metad() {
    let root = TempDir::new().unwrap();
    let node = Metad::spawn(1, root.path(), true, None, &[]);
    eventually("metad to lead", Duration::from_secs(10), || async {
        let s = node.local_status().await?;
        (s.raft_state == "Leader").then_some(())
    })
    .await;
    let addr = node.addr.as_str();

    let (ok, out, err) = ctl(
        addr,
        &[
            "create-database",
            "telegraf",
            "--duration",
            "7d",
            "--replication",
            "1",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("created database telegraf"), "{out}");
    let (ok, _, err) = ctl(addr, &["create-database", "bad", "--duration", "30m"]);
    assert!(!ok);
    assert!(
        err.contains("retention policy duration must be at least 1h0m0s"),
        "{err}"
    );

    let (ok, out, err) = ctl(addr, &["add-data", "d1:8086", "d1:8088"]);
    assert!(ok, "{err}");
    assert!(out.contains("added data node 1"), "{out}");

    let client = node.client();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let group = client
        .create_shard_group("telegraf", None, now)
        .await
        .unwrap();
    client
        .heartbeat(
            1,
            vec![schemas::meta_api::ReplicaStatus {
                shard_id: group.shards[0].id,
                applied_offset: 5,
                high_watermark: 9,
                state: "healthy".into(),
                bytes: 1,
                points_dropped: 3,
            }],
        )
        .await
        .unwrap();

    let (ok, out, err) = ctl(addr, &["show"]);
    assert!(ok, "{err}");
    assert!(out.contains("leader"), "{out}");
    assert!(out.contains(addr), "{out}");
    assert!(out.contains("d1:8088") && out.contains("alive"), "{out}");

    let (ok, out, err) = ctl(addr, &["show-shards", "--json"]);
    assert!(ok, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["database"], "telegraf");
    assert_eq!(rows[0]["shard_group"], group.id);
    assert_eq!(rows[0]["owners"][0]["node_id"], 1);
    assert_eq!(rows[0]["owners"][0]["applied_offset"], 5);
    assert_eq!(rows[0]["owners"][0]["high_watermark"], 9);

    let (ok, out, _) = ctl(addr, &["show-shards"]);
    assert!(ok);
    assert!(
        out.contains("1 (5/9 lag 4, healthy, 3 points dropped)"),
        "{out}"
    );
    assert_eq!(rows[0]["owners"][0]["points_dropped"], 3);

    let (ok, out, err) = ctl(addr, &["truncate-shards", "--json"]);
    assert!(ok, "{err}");
    assert!(out.contains(&group.id.to_string()), "{out}");

    let (ok, _, err) = ctl(addr, &["remove-data", "1"]);
    assert!(!ok);
    assert!(err.contains("still owns"), "{err}");
}

#[test]
fn sluice_ctl_reports_unreachable_metad() {
    let addr = free_addr();
    let (ok, _, err) = ctl(&addr, &["show"]);
    assert!(!ok);
    assert!(
        err.contains(&format!("cannot reach metad at {addr}")),
        "{err}"
    );
}

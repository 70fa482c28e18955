//! The metad binary's config layering: file under flags, unknown keys
//! refused, no start without a shared secret.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{eventually, free_addr};
use schemas::meta_api::ClusterStatus;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_is_layered_under_flags() {
    let root = TempDir::new().unwrap();
    let addr = free_addr();
    let file = root.path().join("metad.toml");
    let secret_file = root.path().join("secret");
    std::fs::write(&secret_file, "from-secret-file\n").unwrap();
    std::fs::write(
        &file,
        format!(
            "node_id = 7\nlisten = \"{addr}\"\nbootstrap = true\ndata_dir = \"{}\"\n\
             topic_prefix = \"from-file\"\nshared_secret_file = \"{}\"\n",
            root.path().join("data").display(),
            secret_file.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_metad"))
        .args(["--config", file.to_str().unwrap()])
        // The flag wins over the file.
        .args(["--topic-prefix", "from-flag"])
        .args([
            "--election-timeout-ms",
            "300",
            "--heartbeat-interval-ms",
            "50",
        ])
        .env_remove("SLUICE_SHARED_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let status: ClusterStatus =
        eventually("metad from config", Duration::from_secs(10), || async {
            let s: ClusterStatus = http
                .get(format!("http://{addr}/status"))
                .bearer_auth("from-secret-file")
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (s.leader == Some(7)).then_some(s)
        })
        .await;
    assert_eq!(status.node_id, 7);
    let client = meta_client::MetaClient::new(meta_client::Config {
        shared_secret: Some("from-secret-file".into()),
        ..meta_client::Config::new([addr.clone()])
    })
    .unwrap();
    client.register_data_node("d:1", "d:2", None).await.unwrap();
    client.create_database("db", None).await.unwrap();
    let group = client.create_shard_group("db", None, 0).await.unwrap();
    assert!(
        group.topic.starts_with("from-flag.shardgroup."),
        "{}",
        group.topic
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn unknown_config_keys_stop_metad() {
    let root = TempDir::new().unwrap();
    let file = root.path().join("metad.toml");
    std::fs::write(&file, "node_id = 1\nelection_timeout = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_metad"))
        .args(["--config", file.to_str().unwrap()])
        .env_remove("SLUICE_SHARED_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `election_timeout`"), "{err}");
}

#[test]
fn no_secret_no_start() {
    let root = TempDir::new().unwrap();
    let mut metad = Command::new(env!("CARGO_BIN_EXE_metad"));
    metad
        .args(["--data-dir", root.path().to_str().unwrap()])
        .args(["--listen", &free_addr()]);
    // Nothing was started: no raft state written.
    testkit::assert_refuses_to_start_without_secret(metad, root.path());
}

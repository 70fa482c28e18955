//! A data node is the id in its data directory, not its address: restarted
//! at another address it is the same node with the same data (nothing
//! replayed, nothing deleted); one id cannot run in two places; a directory
//! whose id metad does not know refuses to start and keeps its data.

mod common;

use std::time::Duration;

use common::{high_watermark, metrics, tsbs_lines, write, Cluster, Internal};
use shardd::identity::{IdentityError, NODE_ID_FILE};
use shardd::NodeError;

/// `sluice_shard_records_applied_total` summed over shards.
async fn records_applied(http_addr: &str) -> f64 {
    metrics(http_addr)
        .await
        .lines()
        .filter(|l| l.starts_with("sluice_shard_records_applied_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_is_its_id_not_its_address() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Port 0: every start binds new ports, as a container gets a new IP.
    let (first, stop) = cluster
        .start_node(cluster.node_config(dir.path()), "db")
        .await;
    let id = first.node.id();
    let http = reqwest::Client::new();
    write(
        &http,
        &first.http_addr.to_string(),
        "db",
        tsbs_lines(10, 0, 20),
    )
    .await;
    let group = cluster.group("db").await;
    let shard = group.shards[0].id;
    // The offset of the last record.
    let last = high_watermark(&cluster.broker.bootstrap(), &group.topic, 0) - 1;
    let internal = Internal::new(first.internal_addr.to_string(), &cluster.secret);
    internal.wait_caught_up(shard, last).await;
    let before = internal.digest_at(shard, last).await.digest;
    assert_eq!(
        std::fs::read_to_string(dir.path().join(NODE_ID_FILE))
            .unwrap()
            .trim(),
        id.to_string()
    );

    // A second directory claiming the same id while it runs is refused.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join(NODE_ID_FILE),
        copy.path().join(NODE_ID_FILE),
    )
    .unwrap();
    let mut config = cluster.node_config(copy.path());
    config.register_wait = Duration::from_millis(500);
    let err = shardd::Node::start(config, tokio::sync::watch::channel(false).1)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("one id cannot run in two places"),
        "{err}"
    );

    stop.send(true).unwrap();
    let old_internal = first.internal_addr;
    first.wait().await;

    let (_stop, rx) = tokio::sync::watch::channel(false);
    let second = shardd::Node::start(cluster.node_config(dir.path()), rx)
        .await
        .expect("restart at a new address");
    assert_eq!(second.node.id(), id);
    assert_ne!(second.internal_addr, old_internal);
    let md = cluster.snapshot().await;
    assert_eq!(md.data_nodes.len(), 1, "{:?}", md.data_nodes);
    assert_eq!(
        md.data_nodes[&id].internal_addr,
        second.internal_addr.to_string()
    );
    let internal = Internal::new(second.internal_addr.to_string(), &cluster.secret);
    internal.wait_caught_up(shard, last).await;
    assert_eq!(internal.digest_at(shard, last).await.digest, before);
    // Its data was kept, not rebuilt: nothing was applied since the restart.
    assert_eq!(records_applied(&second.http_addr.to_string()).await, 0.0);

    // A directory of an id this metad never handed out keeps its data.
    let stranger = tempfile::tempdir().unwrap();
    std::fs::write(stranger.path().join(NODE_ID_FILE), "99\n").unwrap();
    std::fs::write(stranger.path().join("keep"), "data").unwrap();
    let err = shardd::Node::start(
        cluster.node_config(stranger.path()),
        tokio::sync::watch::channel(false).1,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            NodeError::Identity(IdentityError::UnknownId { id: 99, .. })
        ),
        "{err}"
    );
    assert!(stranger.path().join("keep").exists());
}

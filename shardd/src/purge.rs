//! Retention's last step: a deleted shard group (expired, or of a dropped
//! database or retention policy) loses its Kafka topic and then its entry
//! in the meta data, so that neither the brokers' disks nor the meta data
//! (re-serialised on every raft apply and watch) grow with a cluster's age.
//!
//! ```text
//!  every purge_interval, on the alive data node with the lowest id:
//!    deleted groups older than deleted_group_grace
//!      ─▶ delete their topics (those that still exist; unless
//!         delete_group_topics is off, as for tansu 0.6)
//!      ─▶ metad: PurgeShardGroups { ids }  (live ids are ignored there)
//! ```
//!
//! Owners drop their replicas as soon as a group is marked deleted (see
//! `Node::manage`); the grace leaves time for that and for queries that
//! planned with the group to end. A node that was down meanwhile removes
//! the shards metad no longer knows when it starts (`remove_orphans`).
//! The order (topic first) means a failure in between leaves the group
//! listed and the next round finishes it.

use std::sync::Arc;

use schemas::meta::ShardGroupId;
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

use crate::node::Node;

/// Runs until `shutdown` turns true.
pub(crate) async fn run(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(node.config().purge_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let md = node.follower().current();
        if md.alive_data_nodes().map(|n| n.id).min() != Some(node.id()) {
            continue;
        }
        purge_once(&node).instrument(info_span!("purge")).await;
    }
}

/// One round: the topics, then the meta entries, of the groups due.
pub(crate) async fn purge_once(node: &Node) {
    let md = node.follower().current();
    let grace_ns = i64::try_from(node.config().deleted_group_grace.as_nanos()).unwrap_or(i64::MAX);
    let due_before = crate::queries::statements::now_ns().saturating_sub(grace_ns);
    let due: Vec<(ShardGroupId, &str)> = md
        .deleted_shard_groups()
        .filter(|g| g.deleted_at_ns.is_some_and(|t| t <= due_before))
        .map(|g| (g.id, g.topic.as_str()))
        .collect();
    if due.is_empty() {
        return;
    }
    if node.config().delete_group_topics {
        let topics: Vec<&str> = due.iter().map(|(_, t)| *t).collect();
        if let Err(e) = node.write_service().producer().delete_topics(&topics).await {
            warn!(error = %e, "cannot delete the topics of deleted shard groups; next round");
            return;
        }
    }
    let ids = due.iter().map(|(id, _)| *id).collect();
    match node.meta_client().purge_shard_groups(ids).await {
        Ok(ids) => info!(?ids, "forgot deleted shard groups"),
        Err(e) => warn!(error = %e, "cannot purge deleted shard groups; next round"),
    }
}

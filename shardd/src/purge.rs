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
//!
//! **Log retention** (a policy's `log_retention_ns`, `sluice-ctl
//! set-log-retention`) runs in the same round: each partition of a live
//! group of such a policy loses, with Kafka's DeleteRecords, the records
//! below both the lowest durable offset among the shard's owners (+1:
//! applied and in a synced WAL, `ShardStatus::durable_offset`) and the
//! first record newer than the retention. An owner that cannot be asked,
//! or has nothing durable, stops the trim of its shard. A replica that
//! later needs what was deleted (a rebuild, a new owner) starts from a
//! peer's snapshot; with none, it fails saying so rather than starting at
//! the new beginning (`consumer.rs`).

use std::sync::Arc;

use kafka_log::Admin;
use schemas::meta::{Shard, ShardGroup, ShardGroupId};
use tokio::sync::watch;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::node::Node;

/// Why a partition's log was not trimmed this round.
#[derive(Debug, thiserror::Error)]
enum TrimError {
    /// An owner's durable offset is unknown.
    #[error(
        "owner {0} of the shard has no durable offset to trim below (down, or nothing applied)"
    )]
    OwnerNotDurable(schemas::meta::NodeId),
    /// Kafka refused or failed.
    #[error(transparent)]
    Watermarks(#[from] kafka_log::WatermarkError),
    /// DeleteRecords failed.
    #[error(transparent)]
    Kafka(#[from] kafka_log::Error),
}

/// Runs until `shutdown` turns true.
pub(crate) async fn run(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let admin = match Admin::new(&node.config().kafka) {
        Ok(a) => Some(a),
        Err(error) => {
            warn!(%error, "no Kafka admin client: log retention is not applied");
            None
        }
    };
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
        if let Some(admin) = &admin {
            trim_logs(&node, admin)
                .instrument(info_span!("log_retention"))
                .await;
        }
    }
}

/// One round of log retention over every live group of a policy that has it.
pub(crate) async fn trim_logs(node: &Node, admin: &Admin) {
    let md = node.follower().current();
    let now_ms = crate::queries::statements::now_ns() / 1_000_000;
    for rp in md
        .databases
        .values()
        .flat_map(|d| d.retention_policies.values())
    {
        let Some(keep_ns) = rp.log_retention_ns else {
            continue;
        };
        let cutoff_ms =
            now_ms.saturating_sub(i64::try_from(keep_ns / 1_000_000).unwrap_or(i64::MAX));
        for g in rp
            .shard_groups
            .values()
            .filter(|g| g.deleted_at_ns.is_none())
        {
            for s in &g.shards {
                match trim_partition(node, admin, g, s, cutoff_ms).await {
                    Ok(Some((before, low))) => info!(
                        topic = %g.topic,
                        partition = s.index,
                        before,
                        low_watermark = low,
                        "deleted records every owner holds durably"
                    ),
                    Ok(None) => {}
                    Err(error @ TrimError::OwnerNotDurable(_)) => {
                        debug!(topic = %g.topic, partition = s.index, %error, "log not trimmed");
                    }
                    Err(error) => {
                        warn!(topic = %g.topic, partition = s.index, %error, "log not trimmed");
                    }
                }
            }
        }
    }
}

/// Deletes what log retention allows of one partition; the offset it
/// deleted below and the new low watermark, if it deleted anything.
async fn trim_partition(
    node: &Node,
    admin: &Admin,
    group: &ShardGroup,
    shard: &Shard,
    cutoff_ms: i64,
) -> Result<Option<(i64, i64)>, TrimError> {
    let md = node.follower().current();
    let mut durable = Vec::new();
    for &owner in &shard.owners {
        let status = if owner == node.id() {
            node.replica(shard.id).map(|r| r.status())
        } else {
            match md.data_nodes.get(&owner) {
                Some(n) => node.peers().status(&n.internal_addr, shard.id).await.ok(),
                None => None,
            }
        };
        let d = status
            .and_then(|s| s.durable_offset)
            .ok_or(TrimError::OwnerNotDurable(owner))?;
        durable.push(d);
    }
    let partition = i32::try_from(shard.index).unwrap_or(i32::MAX);
    let watermarks = node.watermarks();
    let (low, high) = watermarks.fetch(&group.topic, partition).await?;
    let newer = watermarks
        .offset_for_time(&group.topic, partition, cutoff_ms)
        .await?;
    let Some(before) = trim_before(&durable, newer, (low, high)) else {
        return Ok(None);
    };
    let low = admin
        .delete_records(&group.topic, partition, before)
        .await?;
    Ok(Some((before, low)))
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

/// The offset below which a partition's records may go: none an owner has
/// not durably applied (`durable`: each owner's durable offset), none newer
/// than the retention (`newer`: the first record at or after the cutoff,
/// `None` when all are older); `None` when that deletes nothing new.
fn trim_before(durable: &[i64], newer: Option<i64>, (low, high): (i64, i64)) -> Option<i64> {
    let applied_by_all = durable.iter().min()? + 1;
    let before = applied_by_all.min(newer.unwrap_or(high)).min(high);
    (before > low).then_some(before)
}

#[cfg(test)]
mod tests {
    use super::trim_before;

    #[test]
    fn trims_only_what_every_owner_holds_and_retention_lets_go() {
        // Owners at 9 and 4: records up to 4 are held by both.
        assert_eq!(trim_before(&[9, 4], None, (0, 10)), Some(5));
        // Records from offset 3 on are newer than the retention.
        assert_eq!(trim_before(&[9, 4], Some(3), (0, 10)), Some(3));
        // Nothing new to delete.
        assert_eq!(trim_before(&[9, 4], Some(3), (3, 10)), None);
        assert_eq!(trim_before(&[9, 4], Some(0), (0, 10)), None);
        // No owners: nothing is known to be held.
        assert_eq!(trim_before(&[], None, (0, 10)), None);
        // Never past the end of the log.
        assert_eq!(trim_before(&[20], None, (0, 10)), Some(10));
    }
}

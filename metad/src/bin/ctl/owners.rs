//! Owner changes of `sluice-ctl` (`copy-shard`, `remove-shard`,
//! `move-shard`, `replace-node`, `remove-data`). Each is a list of
//! [`OwnerChange`]s (`add` becomes an owner and, once caught up, `remove`
//! stops being one) run in three phases, so that a shard never has fewer caught-up
//! owners than before while it changes:
//!
//! ```text
//!  1. metad: ChangeShardOwners(adds)      new owners start replaying their partition
//!  2. follow each new replica             offset/high watermark, values/s, ETA
//!     until it is healthy                 (queries skip it until then)
//!  3. metad: ChangeShardOwners(removes)   old owners delete their replicas
//! ```

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use meta_client::MetaClient;
use node_client::NodeClient;
use schemas::meta::{MetaData, NodeId, NodeState, ShardId};
use schemas::meta_api::OwnerChange;
use serde::Serialize;

use crate::replicas;

fn node_exists(meta: &MetaData, node: NodeId) -> anyhow::Result<()> {
    meta.data_nodes
        .contains_key(&node)
        .then_some(())
        .ok_or_else(|| anyhow!("data node {node} not found"))
}

/// A node that can take a replica now: known and alive.
fn alive(meta: &MetaData, node: NodeId) -> anyhow::Result<()> {
    node_exists(meta, node)?;
    if meta.data_nodes[&node].state != NodeState::Alive {
        bail!("data node {node} is unreachable; it cannot replay a shard now");
    }
    Ok(())
}

fn shard_owners(meta: &MetaData, shard: ShardId) -> anyhow::Result<Vec<NodeId>> {
    Ok(replicas::owners(meta, shard)?
        .into_iter()
        .map(|n| n.id)
        .collect())
}

/// `copy-shard SHARD --to NODE`.
pub fn copy(meta: &MetaData, shard: ShardId, to: NodeId) -> anyhow::Result<Vec<OwnerChange>> {
    alive(meta, to)?;
    if shard_owners(meta, shard)?.contains(&to) {
        bail!("data node {to} already owns shard {shard}");
    }
    Ok(vec![OwnerChange {
        shard_id: shard,
        add: Some(to),
        remove: None,
    }])
}

/// `remove-shard SHARD --from NODE`.
pub fn remove(meta: &MetaData, shard: ShardId, from: NodeId) -> anyhow::Result<Vec<OwnerChange>> {
    if !shard_owners(meta, shard)?.contains(&from) {
        bail!("data node {from} does not own shard {shard}");
    }
    Ok(vec![OwnerChange {
        shard_id: shard,
        add: None,
        remove: Some(from),
    }])
}

/// `move-shard SHARD --from A --to B`.
pub fn move_shard(
    meta: &MetaData,
    shard: ShardId,
    from: NodeId,
    to: NodeId,
) -> anyhow::Result<Vec<OwnerChange>> {
    let mut steps = copy(meta, shard, to)?;
    remove(meta, shard, from)?;
    steps[0].remove = Some(from);
    Ok(steps)
}

/// `replace-node OLD --with NEW`: NEW takes OLD's place in every shard
/// OLD owns (where NEW already owns it, OLD is only dropped, which needs
/// `--force` when that leaves the shard under-replicated).
pub fn replace(meta: &MetaData, old: NodeId, new: NodeId) -> anyhow::Result<Vec<OwnerChange>> {
    node_exists(meta, old)?;
    alive(meta, new)?;
    if old == new {
        bail!("a node cannot replace itself");
    }
    Ok(meta
        .shards_owned_by(old)
        .map(|(_, s)| OwnerChange {
            shard_id: s.id,
            add: (!s.owners.contains(&new)).then_some(new),
            remove: Some(old),
        })
        .collect())
}

/// `remove-data NODE`: see [`metad::placement::drain`]. Refused before
/// anything changes when a shard of NODE has no alive node to go to.
pub fn drain(meta: &MetaData, node: NodeId) -> anyhow::Result<Vec<OwnerChange>> {
    node_exists(meta, node)?;
    let steps = metad::placement::drain(meta, node);
    let stuck: Vec<ShardId> = steps
        .iter()
        .filter(|s| s.add.is_none())
        .map(|s| s.shard_id)
        .collect();
    if !stuck.is_empty() {
        bail!(
            "data node {node} still owns shard(s) {stuck:?} that no other alive data node \
             can take; add a data node first, or remove it with --force"
        );
    }
    Ok(steps)
}

/// A shard's owners after the change.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub shard_id: ShardId,
    pub owners: Vec<NodeId>,
}

/// Runs `steps` (see the module docs); `force` lets the removals leave
/// shards under-replicated.
pub async fn execute(
    client: &MetaClient,
    api: &NodeClient,
    steps: &[OwnerChange],
    force: bool,
    quiet: bool,
) -> anyhow::Result<Vec<Outcome>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let adds: Vec<OwnerChange> = steps
        .iter()
        .filter_map(|s| {
            s.add.map(|node| OwnerChange {
                shard_id: s.shard_id,
                add: Some(node),
                remove: None,
            })
        })
        .collect();
    if !adds.is_empty() {
        client.change_shard_owners(adds, false).await?;
        let meta = client.snapshot_linearizable().await?;
        let new: Vec<_> = steps
            .iter()
            .filter_map(|s| {
                let node = meta.data_nodes.get(&s.add?)?.clone();
                Some((s.shard_id, node))
            })
            .collect();
        replicas::follow(api, new, quiet).await.context(
            "the new owners were added but have not caught up; nothing was removed \
             (see show-shards; remove-shard drops an owner that cannot catch up)",
        )?;
    }
    let removes: Vec<OwnerChange> = steps
        .iter()
        .filter_map(|s| {
            s.remove.map(|node| OwnerChange {
                shard_id: s.shard_id,
                add: None,
                remove: Some(node),
            })
        })
        .collect();
    if !removes.is_empty() {
        if !force {
            healthy_owner_remains(client, steps).await?;
        }
        client.change_shard_owners(removes, force).await?;
    }
    let meta = client.snapshot_linearizable().await?;
    steps
        .iter()
        .map(|s| {
            Ok(Outcome {
                shard_id: s.shard_id,
                owners: shard_owners(&meta, s.shard_id)?,
            })
        })
        .collect()
}

/// How long a remaining owner's healthy report may take to reach metad
/// (a few data-node heartbeats).
const REPORT_WAIT: Duration = Duration::from_secs(5);

/// Refuses removals that would leave a shard with no owner reporting a
/// healthy replica to metad (the others are catching up or failed, so
/// queries of the shard would fail until they caught up). A step that
/// added an owner has one: it was followed until healthy.
async fn healthy_owner_remains(client: &MetaClient, steps: &[OwnerChange]) -> anyhow::Result<()> {
    let meta = client.snapshot_linearizable().await?;
    let deadline = Instant::now() + REPORT_WAIT;
    for s in steps
        .iter()
        .filter(|s| s.remove.is_some() && s.add.is_none())
    {
        let left: Vec<NodeId> = shard_owners(&meta, s.shard_id)?
            .into_iter()
            .filter(|o| Some(*o) != s.remove)
            .collect();
        if left.is_empty() {
            continue; // metad refuses to leave a shard without owners
        }
        loop {
            let status = client.status().await?;
            let healthy = left.iter().any(|o| {
                status.data_nodes.get(o).is_some_and(|d| {
                    d.replicas
                        .iter()
                        .any(|r| r.shard_id == s.shard_id && r.state == "healthy")
                })
            });
            if healthy {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "shard {}: no other owner ({left:?}) reports a healthy replica; \
                     wait until one has caught up, or force",
                    s.shard_id
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

pub fn outcome_table(rows: &[Outcome]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let owners: Vec<String> = r.owners.iter().map(|o| o.to_string()).collect();
            vec![r.shard_id.to_string(), owners.join(", ")]
        })
        .collect();
    crate::table(&["SHARD", "OWNERS"], &cells)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemas::meta::{
        DataNode, Database, RetentionPolicy, Shard, ShardGroup, DEFAULT_RETENTION_POLICY,
    };

    use super::*;

    /// Nodes 1..=4 alive, one group of four shards owned `owners`.
    fn meta(owners: &[&[NodeId]]) -> MetaData {
        let mut md = MetaData::default();
        for id in 1..=4 {
            md.data_nodes.insert(
                id,
                DataNode {
                    id,
                    http_addr: format!("h{id}:8086"),
                    internal_addr: format!("h{id}:8088"),
                    state: NodeState::Alive,
                },
            );
        }
        let group = ShardGroup {
            id: 1,
            database: "db".into(),
            retention_policy: DEFAULT_RETENTION_POLICY.into(),
            start_ns: 0,
            end_ns: 1,
            truncated_at_ns: None,
            deleted_at_ns: None,
            topic: "t".into(),
            shards: owners
                .iter()
                .enumerate()
                .map(|(i, o)| Shard {
                    id: i as u64 + 1,
                    index: i as u32,
                    owners: o.to_vec(),
                })
                .collect(),
        };
        let mut rp = RetentionPolicy {
            name: DEFAULT_RETENTION_POLICY.into(),
            duration_ns: 0,
            shard_group_duration_ns: 1,
            replication_factor: 1,
            shard_count: None,
            log_retention_ns: None,
            shard_groups: BTreeMap::new(),
        };
        rp.shard_groups.insert(1, group);
        let mut db = Database {
            name: "db".into(),
            default_retention_policy: Some(rp.name.clone()),
            retention_policies: BTreeMap::new(),
            continuous_queries: BTreeMap::new(),
        };
        db.retention_policies.insert(rp.name.clone(), rp);
        md.databases.insert("db".into(), db);
        md
    }

    #[test]
    fn drain_goes_to_the_least_loaded_non_owner() {
        // Node 1 owns shards 1..3; node 2 owns two, node 3 one, node 4 none.
        let md = meta(&[&[1, 2], &[1, 3], &[1], &[2]]);
        let steps = drain(&md, 1).unwrap();
        let to: Vec<Option<NodeId>> = steps.iter().map(|s| s.add).collect();
        // Shard 1: node 4 (0 shards); shard 2: node 4 (1, counting the
        // first) before node 2 (2), node 3 owns it; shard 3: node 3 (1).
        assert_eq!(to, vec![Some(4), Some(4), Some(3)]);
        assert!(steps.iter().all(|s| s.remove == Some(1)));
    }

    #[test]
    fn plans_refuse_what_cannot_be() {
        let md = meta(&[&[1, 2], &[3], &[1], &[2]]);
        assert!(copy(&md, 1, 2).is_err(), "already an owner");
        assert!(copy(&md, 1, 9).is_err(), "no such node");
        assert!(copy(&md, 99, 3).is_err(), "no such shard");
        assert!(remove(&md, 2, 1).is_err(), "not an owner");
        assert_eq!(
            move_shard(&md, 2, 3, 4).unwrap(),
            vec![OwnerChange {
                shard_id: 2,
                add: Some(4),
                remove: Some(3)
            }]
        );
        // Node 2 already owns shard 1: node 1 is only dropped there.
        let steps = replace(&md, 1, 2).unwrap();
        assert_eq!(
            steps,
            vec![
                OwnerChange {
                    shard_id: 1,
                    add: None,
                    remove: Some(1)
                },
                OwnerChange {
                    shard_id: 3,
                    add: Some(2),
                    remove: Some(1)
                },
            ]
        );
    }
}

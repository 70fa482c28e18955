//! Where a node's shards go when it leaves: `sluice-ctl remove-data` and
//! the leader's automatic re-replication (`reassign_after`) share this
//! rule, so an operator and the cluster place shards the same way.

use std::collections::BTreeMap;

use schemas::meta::{MetaData, NodeId, NodeState};
use schemas::meta_api::OwnerChange;

/// For each shard `node` owns: `node` out, and in its place the alive node
/// with the fewest shards among those that do not own it yet (ties: the
/// lower id), counting what this plan gives them. A shard every other
/// alive node owns already gets no new owner (`add` is `None`).
pub fn drain(meta: &MetaData, node: NodeId) -> Vec<OwnerChange> {
    let mut load: BTreeMap<NodeId, usize> = meta
        .data_nodes
        .values()
        .filter(|n| n.id != node && n.state == NodeState::Alive)
        .map(|n| (n.id, meta.shards_owned_by(n.id).count()))
        .collect();
    meta.shards_owned_by(node)
        .map(|(_, s)| {
            let to = load
                .iter()
                .filter(|(id, _)| !s.owners.contains(id))
                .min_by_key(|(id, n)| (**n, **id))
                .map(|(id, _)| *id);
            if let Some(to) = to {
                *load.get_mut(&to).expect("a candidate") += 1;
            }
            OwnerChange {
                shard_id: s.id,
                add: to,
                remove: Some(node),
            }
        })
        .collect()
}

//! Fan-out of shard calls: one owner per shard, tried in
//! [`Cluster::owners_for`] order, the next one on failure or timeout; all
//! shards in parallel.

use std::collections::HashMap;

use schemas::meta::{MetaData, Shard as MetaShard, ShardGroup, ShardId};

use super::QueryError;
use crate::cluster::{Cluster, Owner};
use crate::shard_api::{self, ShardCall, ShardOp, ShardOut};

/// The shards of `(db, rp)` whose groups overlap `[min, max]`.
pub(crate) fn shards_for(
    md: &MetaData,
    db: &str,
    rp: Option<&str>,
    min: i64,
    max: i64,
) -> Result<Vec<(ShardGroup, MetaShard)>, QueryError> {
    let database = md
        .database(db)
        .ok_or_else(|| QueryError::DatabaseNotFound(db.to_owned()))?;
    let policy = md.retention_policy(db, rp).ok_or_else(|| {
        QueryError::RetentionPolicyNotFound(
            rp.map(str::to_owned)
                .or_else(|| database.default_retention_policy.clone())
                .unwrap_or_default(),
        )
    })?;
    let mut out = Vec::new();
    for g in policy.shard_groups_overlapping(min, max) {
        for s in &g.shards {
            out.push((g.clone(), s.clone()));
        }
    }
    Ok(out)
}

/// Reads the high watermarks of `shards` when the query asks for
/// read-your-writes.
pub(crate) async fn watermarks(
    cluster: &Cluster,
    shards: &[(ShardGroup, MetaShard)],
    read_your_writes: bool,
) -> Result<HashMap<ShardId, i64>, QueryError> {
    if !read_your_writes || shards.is_empty() {
        return Ok(HashMap::new());
    }
    let refs: Vec<(&ShardGroup, &MetaShard)> = shards.iter().map(|(g, s)| (g, s)).collect();
    cluster
        .high_watermarks(&refs)
        .await
        .map_err(|e| QueryError::Watermark(e.to_string()))
}

/// Runs one call per shard, each on the first owner that answers.
pub(crate) async fn call_all(
    cluster: &Cluster,
    md: &MetaData,
    calls: Vec<(MetaShard, ShardOp)>,
    wait: &HashMap<ShardId, i64>,
) -> Result<Vec<ShardOut>, QueryError> {
    let futs = calls.into_iter().map(|(shard, op)| {
        let owners = cluster.owners_for(md, &shard, wait.contains_key(&shard.id));
        let call = ShardCall {
            wait_offset: wait.get(&shard.id).copied(),
            wait_timeout_ms: cluster.options().read_your_writes_timeout.as_millis() as u64,
            op,
        };
        call_one(cluster, shard.id, owners, call)
    });
    futures::future::try_join_all(futs).await
}

async fn call_one(
    cluster: &Cluster,
    shard_id: ShardId,
    owners: Vec<Owner>,
    call: ShardCall,
) -> Result<ShardOut, QueryError> {
    let mut last = String::from("no owner holds a queryable replica");
    for owner in owners {
        let res = match &owner {
            Owner::Local => shard_api::run_local(cluster.local(), call.clone()).await,
            Owner::Remote { internal_addr, .. } => {
                shard_api::call_remote(
                    cluster.http(),
                    internal_addr,
                    cluster.shared_secret(),
                    &call,
                    cluster.options().remote_timeout,
                )
                .await
            }
        };
        match res {
            Ok(out) => return Ok(out),
            Err(e) => {
                tracing::warn!(shard_id, ?owner, error = %e, "shard owner failed; trying the next");
                last = e.to_string();
            }
        }
    }
    Err(QueryError::ShardUnavailable { shard_id, last })
}

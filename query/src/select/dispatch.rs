//! Fan-out of shard calls through the [`ShardReader`]: all shards in
//! parallel (which owner answers is the reader's choice).

use std::collections::HashMap;

use schemas::meta::{MetaData, Shard as MetaShard, ShardGroup, ShardId};

use super::QueryError;
use crate::shards::{ShardOp, ShardOut, ShardRead, ShardReader};

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
    reader: &dyn ShardReader,
    shards: &[(ShardGroup, MetaShard)],
    read_your_writes: bool,
) -> Result<HashMap<ShardId, i64>, QueryError> {
    if !read_your_writes || shards.is_empty() {
        return Ok(HashMap::new());
    }
    reader.high_watermarks(shards).await
}

/// Runs one call per shard, all shards at once, each on the first owner
/// that answers.
pub(crate) async fn call_all(
    reader: &dyn ShardReader,
    md: &MetaData,
    calls: Vec<(MetaShard, ShardOp)>,
    wait: &HashMap<ShardId, i64>,
) -> Result<Vec<ShardOut>, QueryError> {
    let (shards, ops): (Vec<MetaShard>, Vec<ShardOp>) = calls.into_iter().unzip();
    let futs = shards.iter().zip(ops).map(|(shard, op)| {
        let read = ShardRead {
            op,
            wait_offset: wait.get(&shard.id).copied(),
        };
        reader.read(md, shard, read)
    });
    futures::future::try_join_all(futs).await
}

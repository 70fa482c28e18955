//! How the engine reaches data: the [`ShardReader`] it plans against, and
//! the shard-local operations ([`ShardOp`] → [`ShardOut`]) it sends to
//! one replica of each shard.
//!
//! ```text
//!  plan ── shards of (db, rp) overlapping the range (ShardReader::meta)
//!       ── read-your-writes: ShardReader::high_watermarks, once per query
//!       ── per shard: ShardReader::read(shard, ShardRead { op, wait_offset })
//!                        │ implemented by the data node: one owner, local
//!                        │ or a peer over the internal API, the next owner
//!                        ▼ on failure
//!                     run_op(storage::Shard, op) on the owner ─▶ ShardOut
//! ```
//!
//! [`ShardOp`] is the engine's shard-local plan (expressions, partial
//! aggregates): it travels inside `schemas::node_api::ShardReadRequest`,
//! whose envelope carries the API version. Both ends run the same build of
//! this crate, so bincode (no field names, floats as their 8 bytes) is
//! enough and several times cheaper than JSON for arrays of numbers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use schemas::meta::{MetaData, Shard as MetaShard, ShardGroup, ShardId};
use serde::{Deserialize, Serialize};

use crate::select::scan::{
    self, Cancel, MeasurementSchema, ScanError, ScanRequest, ScanResponse, SchemaRequest,
    SeriesRequest,
};
use crate::select::QueryError;

/// A boxed future, for the object-safe [`ShardReader`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One call for one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShardOp {
    /// Fields and tags of the measurements a FROM matches.
    Schema(SchemaRequest),
    /// Raw rows or partial aggregates.
    Scan(ScanRequest),
    /// Series keys (SHOW SERIES, cardinality).
    Series(SeriesRequest),
}

impl ShardOp {
    /// The shard the call reads.
    pub fn shard_id(&self) -> ShardId {
        match self {
            ShardOp::Schema(r) => r.shard_id,
            ShardOp::Scan(r) => r.shard_id,
            ShardOp::Series(r) => r.shard_id,
        }
    }

    /// The answer of a shard that holds nothing (no record has reached
    /// its partition yet).
    pub fn empty_out(&self) -> ShardOut {
        match self {
            ShardOp::Schema(_) => ShardOut::Schema(Vec::new()),
            ShardOp::Scan(_) => ShardOut::Scan(ScanResponse::default()),
            ShardOp::Series(_) => ShardOut::Series(Vec::new()),
        }
    }

    /// Whether the call is a few index lookups, cheaper to run in place
    /// than to hand to a blocking thread.
    pub fn is_cheap(&self) -> bool {
        matches!(self, ShardOp::Schema(_))
    }
}

/// The answer to a [`ShardOp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShardOut {
    /// Per measurement.
    Schema(Vec<MeasurementSchema>),
    /// Rows or partials per series group.
    Scan(ScanResponse),
    /// Series keys.
    Series(Vec<String>),
}

/// A shard op with its read-your-writes offset.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRead {
    /// What to compute.
    pub op: ShardOp,
    /// Answer only once every record of the partition below this offset is
    /// applied.
    pub wait_offset: Option<i64>,
}

/// Runs `op` over a replica: the shard-local half of every query. A scan
/// stops early with [`ScanError::Cancelled`] once `cancel` is.
pub fn run_op(
    shard: &storage::Shard,
    op: &ShardOp,
    cancel: &Cancel,
) -> Result<ShardOut, ScanError> {
    Ok(match op {
        ShardOp::Schema(r) => ShardOut::Schema(scan::schema(shard, &r.sources)?),
        ShardOp::Scan(r) => ShardOut::Scan(scan::scan(shard, r, cancel)?),
        ShardOp::Series(r) => ShardOut::Series(scan::series_keys(shard, r)?),
    })
}

/// The shards a query reads, as the node that coordinates it sees them.
/// Implemented by the data node (its replicas and its peers').
pub trait ShardReader: Send + Sync {
    /// The newest meta data.
    fn meta(&self) -> Arc<MetaData>;

    /// The high watermark of each shard's partition, read at query start,
    /// for read-your-writes.
    fn high_watermarks<'a>(
        &'a self,
        shards: &'a [(ShardGroup, MetaShard)],
    ) -> BoxFuture<'a, Result<HashMap<ShardId, i64>, QueryError>>;

    /// Runs `read` on one replica of `shard`, trying its other owners when
    /// one fails; [`QueryError::ShardUnavailable`] when none answers.
    fn read<'a>(
        &'a self,
        md: &'a MetaData,
        shard: &'a MetaShard,
        read: ShardRead,
    ) -> BoxFuture<'a, Result<ShardOut, QueryError>>;
}

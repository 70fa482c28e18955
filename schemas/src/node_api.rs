//! The data node's (shardd's) internal API: replica states and the
//! request and response types of the operator endpoints, shared by shardd,
//! `sluice-ctl` and query coordinators on other nodes.
//!
//! All paths are under the node's internal address and need
//! `Authorization: Bearer <shared secret>` when the cluster has one.
//!
//! | method + path                              | body              | answer             |
//! |--------------------------------------------|-------------------|--------------------|
//! | `GET /internal/shards`                     | —                 | `Vec<ShardStatus>` |
//! | `GET /internal/shards/{id}`                | —                 | [`ShardStatus`]    |
//! | `GET /internal/shards/{id}/digest?offset=N&timeout_ms=T` | — | [`DigestReport`]  |
//! | `POST /internal/shards/{id}/hold`          | [`HoldRequest`]   | [`ShardStatus`]    |
//! | `POST /internal/shards/{id}/release`       | —                 | [`ShardStatus`]    |
//! | `POST /internal/shards/{id}/rebuild?replay=B` | —              | [`ShardStatus`]    |
//! | `GET /internal/shards/{id}/snapshot?caught_up=B&unless=I-O` | — | stream, or 304 |
//! | `PUT /internal/shards/{id}/snapshot?log=`[`InstallLog`] | snapshot stream | [`InstallReport`] |
//! | `POST /internal/shards/{id}/resume`        | [`ResumeRequest`] | [`ShardStatus`]    |
//! | `POST /internal/v1/shard` (bincode)        | [`ShardReadRequest`] | [`ShardReadResponse`] |
//! | `GET /internal/ping`                       | —                 | 204                |
//!
//! Errors are `4xx`/`5xx` with an [`ErrorBody`](crate::meta_api::ErrorBody)
//! (a shard read answers plain text).
//!
//! Paths are built by [`paths`] on both ends. Every request and answer of
//! this API carries [`NODE_API_VERSION`]: JSON calls in the
//! [`VERSION_HEADER`] header, shard reads also as the first field of their
//! bincode envelope; a node refuses a call of another version with 400
//! and a client refuses such an answer, so mixed builds fail loudly instead
//! of misreading each other's bytes.

use serde::{Deserialize, Serialize};

use crate::meta::{NodeId, ShardGroupId, ShardId};

/// The version of this API. Raise it on any change to a type below that an
/// older node could not read.
pub const NODE_API_VERSION: u16 = 3;

/// The header that carries [`NODE_API_VERSION`] on JSON calls and answers.
pub const VERSION_HEADER: &str = "x-sluice-node-api";

/// The internal API's paths, for routers and clients alike.
pub mod paths {
    use crate::meta::ShardId;

    /// Liveness of the internal API.
    pub const PING: &str = "/internal/ping";
    /// Every replica of the node.
    pub const SHARDS: &str = "/internal/shards";
    /// Route pattern of one replica.
    pub const SHARD: &str = "/internal/shards/{id}";
    /// Route pattern of a replica's digest.
    pub const DIGEST: &str = "/internal/shards/{id}/digest";
    /// Route pattern of a hold.
    pub const HOLD: &str = "/internal/shards/{id}/hold";
    /// Route pattern of a release.
    pub const RELEASE: &str = "/internal/shards/{id}/release";
    /// Route pattern of a rebuild.
    pub const REBUILD: &str = "/internal/shards/{id}/rebuild";
    /// Route pattern of a resume.
    pub const RESUME: &str = "/internal/shards/{id}/resume";
    /// Route pattern of a replica's snapshot: `GET` streams it (see
    /// [`SnapshotHeader`](super::SnapshotHeader)), `PUT` installs one in
    /// place of the replica.
    pub const SNAPSHOT: &str = "/internal/shards/{id}/snapshot";
    /// Shard reads of query coordinators (bincode).
    pub const SHARD_READ: &str = "/internal/v1/shard";
    /// The queries running on the node (`SHOW QUERIES`).
    pub const QUERIES: &str = "/internal/v1/queries";
    /// Route pattern of stopping one (`KILL QUERY`).
    pub const KILL_QUERY: &str = "/internal/v1/queries/{id}/kill";

    /// Every route of the internal API, with its method.
    pub const ALL: &[(&str, &str)] = &[
        ("GET", PING),
        ("GET", SHARDS),
        ("GET", SHARD),
        ("GET", DIGEST),
        ("POST", HOLD),
        ("POST", RELEASE),
        ("POST", REBUILD),
        ("POST", RESUME),
        ("GET", SNAPSHOT),
        ("PUT", SNAPSHOT),
        ("POST", SHARD_READ),
        ("GET", QUERIES),
        ("POST", KILL_QUERY),
    ];

    /// `pattern` with `{id}` replaced by `shard`.
    pub fn for_shard(pattern: &str, shard: ShardId) -> String {
        pattern.replace("{id}", &shard.to_string())
    }
}

/// A coordinator's read of one shard: `op` is the query engine's shard-local
/// plan (`query::ShardOp`), which lives with the engine because it is made
/// of the engine's expressions and partial aggregates; this envelope is the
/// part every node agrees on. Encoded with bincode, `version` first, so a
/// peer checks it before decoding the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardReadRequest<Op> {
    /// [`NODE_API_VERSION`] of the sender.
    pub version: u16,
    /// Answer only once every record of the partition below this offset is
    /// applied (read-your-writes).
    pub wait_offset: Option<i64>,
    /// How long the replica may wait for that.
    pub wait_timeout_ms: u64,
    /// What to read.
    pub op: Op,
}

/// A query running on a node, as `SHOW QUERIES` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningQuery {
    /// Its id on its node.
    pub qid: u64,
    /// The query text.
    pub query: String,
    /// The `db` parameter.
    pub database: String,
    /// How long it has run, ms.
    pub duration_ms: u64,
    /// `running`, or `killed` until it has stopped.
    pub status: String,
}

/// The answer to a [`ShardReadRequest`], `version` first as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardReadResponse<Out> {
    /// [`NODE_API_VERSION`] of the answering node.
    pub version: u16,
    /// The shard-local result.
    pub out: Out,
}

/// Where a replica stands. Only a `Healthy` replica answers queries; a
/// coordinator reads other nodes' states from their heartbeats
/// ([`ReplicaStatus::state`](crate::meta_api::ReplicaStatus::state), the
/// [`Display`](std::fmt::Display) form, parsed back with [`ReplicaState::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReplicaState {
    /// Opening, replaying (new owner, rebuild) or resumed: behind the log by
    /// more than what a healthy replica lags; not queried.
    CatchingUp,
    /// Has reached the end of its partition at least once since it was
    /// (re)started and applies as records arrive.
    Healthy,
    /// Stopped at a record it will not skip by itself (undecodable, a gap,
    /// an offset out of range, a refused apply); waits for an operator.
    Failed {
        /// What happened, with the offset.
        reason: String,
    },
}

impl ReplicaState {
    /// Whether queries may read this replica.
    pub fn is_queryable(&self) -> bool {
        matches!(self, ReplicaState::Healthy)
    }

    /// Parses the [`Display`](std::fmt::Display) form (`catching_up`,
    /// `healthy`, `failed: <reason>`); anything else is treated as failed
    /// so an unknown state is never queried.
    pub fn parse(text: &str) -> ReplicaState {
        match text {
            "catching_up" => ReplicaState::CatchingUp,
            "healthy" => ReplicaState::Healthy,
            other => ReplicaState::Failed {
                reason: other.strip_prefix("failed: ").unwrap_or(other).to_owned(),
            },
        }
    }
}

impl std::fmt::Display for ReplicaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplicaState::CatchingUp => f.write_str("catching_up"),
            ReplicaState::Healthy => f.write_str("healthy"),
            ReplicaState::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// One replica as its data node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardStatus {
    /// Shard id.
    pub shard_id: ShardId,
    /// The data node holding the replica.
    pub node_id: NodeId,
    /// Database.
    pub database: String,
    /// Retention policy.
    pub retention_policy: String,
    /// Shard group.
    pub shard_group_id: ShardGroupId,
    /// The group's topic.
    pub topic: String,
    /// The shard's partition (its index in the group).
    pub partition: i32,
    /// State.
    #[serde(flatten)]
    pub state: ReplicaState,
    /// Offset of the last applied record; `None` before the first.
    pub applied_offset: Option<i64>,
    /// Every record at or below this offset is applied and in the node's
    /// synced WAL: it survives a power loss. What log retention may trim
    /// below (see `RetentionPolicy::log_retention_ns`).
    #[serde(default)]
    pub durable_offset: Option<i64>,
    /// Every record at or below this offset is applied (the applied offset,
    /// or further when the partition's tail holds no data records).
    pub caught_up_through: Option<i64>,
    /// The partition's high watermark (next offset to be written), when known.
    pub high_watermark: Option<i64>,
    /// The partition's first offset, when known.
    pub low_watermark: Option<i64>,
    /// Records behind the high watermark.
    pub lag_records: Option<i64>,
    /// Seconds between now and the producer timestamp of the last applied
    /// record while behind; 0 when caught up.
    pub lag_seconds: Option<f64>,
    /// Bytes the shard takes on disk (its share of the node's store).
    pub bytes_on_disk: u64,
    /// Records applied since the replica was opened or rebuilt.
    pub records_applied: u64,
    /// Field values applied since the replica was opened or rebuilt.
    pub values_applied: u64,
    /// Failures since the node started.
    pub failures: u64,
    /// Offsets the broker skipped that held no data records (transaction
    /// control records); counted, not failures.
    pub offset_skips: u64,
    /// Points dropped at apply (field type conflicts) since the node started.
    #[serde(default)]
    pub points_dropped: u64,
    /// The consumer applies nothing after this offset (a verification hold).
    pub hold: Option<i64>,
    /// How many times the replica was rebuilt since the node started.
    pub rebuilds: u64,
}

/// A replica's digest at an offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestReport {
    /// Shard id.
    pub shard_id: ShardId,
    /// The data node.
    pub node_id: NodeId,
    /// Offset of the last applied record in the digested snapshot.
    pub applied_offset: Option<i64>,
    /// Every record at or below this offset is in the snapshot.
    pub through_offset: Option<i64>,
    /// SHA-256 of the logical contents, lowercase hex.
    pub digest: String,
}

/// `POST /internal/shards/{id}/hold`: stop applying after an offset, so
/// that several replicas can be digested at the same point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HoldRequest {
    /// Apply nothing after this offset; `None`: after what is applied now.
    /// Must not be below the applied offset.
    #[serde(default)]
    pub offset: Option<i64>,
    /// The hold lapses after this long (so a crashed tool cannot stop a
    /// replica for good); default 60 s.
    #[serde(default)]
    pub ttl_ms: Option<u64>,
}

/// `POST /internal/shards/{id}/resume`: continue a failed replica at an
/// offset, skipping the records before it (an operator's decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeRequest {
    /// The first offset to apply; must be after the applied offset and not
    /// beyond the high watermark.
    pub from_offset: i64,
}

/// The first [`SnapshotHeader::LEN`] bytes of a shard snapshot stream
/// (`storage::snapshot` writes and reads the rest): which format, which
/// history of its log the shard follows and the offset of the last record
/// its contents include, so that a backup knows what a file holds without
/// reading it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The shard's incarnation: drawn when it was created or its log
    /// started over, kept by its copies. Same incarnation and offset, same
    /// contents.
    pub incarnation: u64,
    /// The last applied record's offset; `None` for a shard that applied none.
    pub applied_offset: Option<i64>,
}

/// Why bytes are not a [`SnapshotHeader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotHeaderError {
    /// Fewer bytes than a header.
    #[error("snapshot shorter than its header")]
    Short,
    /// Not a snapshot.
    #[error("not a Sluice shard snapshot (bad magic)")]
    Magic,
    /// A format this build does not read.
    #[error("snapshot format version {0} is not supported (this build reads {v})", v = SnapshotHeader::VERSION)]
    Version(u32),
}

impl SnapshotHeader {
    /// Bytes of a header.
    pub const LEN: usize = 28;
    const MAGIC: &'static [u8; 8] = b"SLUICESS";
    /// The stream format this build writes and reads.
    pub const VERSION: u32 = 1;
    const NONE: i64 = i64::MIN;

    /// The header's bytes.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..8].copy_from_slice(Self::MAGIC);
        b[8..12].copy_from_slice(&Self::VERSION.to_be_bytes());
        b[12..20].copy_from_slice(&self.incarnation.to_be_bytes());
        b[20..].copy_from_slice(&self.applied_offset.unwrap_or(Self::NONE).to_be_bytes());
        b
    }

    /// Reads a header from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotHeaderError> {
        let b = bytes.get(..Self::LEN).ok_or(SnapshotHeaderError::Short)?;
        if &b[..8] != Self::MAGIC {
            return Err(SnapshotHeaderError::Magic);
        }
        let version = u32::from_be_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != Self::VERSION {
            return Err(SnapshotHeaderError::Version(version));
        }
        let incarnation = u64::from_be_bytes(b[12..20].try_into().expect("8 bytes"));
        let offset = i64::from_be_bytes(b[20..].try_into().expect("8 bytes"));
        Ok(SnapshotHeader {
            incarnation,
            applied_offset: (offset != Self::NONE).then_some(offset),
        })
    }
}

/// `PUT /internal/shards/{id}/snapshot?log=…`: what the installed shard's
/// offset means for the partition it now reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallLog {
    /// The snapshot is of this partition (a peer's copy): go on after its
    /// offset.
    #[default]
    Keep,
    /// The snapshot is of a partition of this name from a backup: go on
    /// after its offset if the topic was there before the install and holds
    /// that offset; otherwise (a new broker) start at the beginning.
    Continue,
    /// The partition is a new log (a restore under a new name): start at
    /// its beginning.
    New,
}

impl InstallLog {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallLog::Keep => "keep",
            InstallLog::Continue => "continue",
            InstallLog::New => "new",
        }
    }
}

/// `PUT /internal/shards/{id}/snapshot`: what was installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallReport {
    /// The shard.
    pub shard_id: ShardId,
    /// The snapshot's applied offset.
    pub snapshot_offset: Option<i64>,
    /// Whether the replica goes on from that offset (else from the
    /// partition's beginning).
    pub offset_kept: bool,
    /// Keys installed.
    pub entries: u64,
    /// Bytes received.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_headers_round_trip_and_refuse_other_bytes() {
        for (incarnation, o) in [(0, None), (7, Some(0)), (u64::MAX, Some(i64::MAX))] {
            let h = SnapshotHeader {
                incarnation,
                applied_offset: o,
            };
            assert_eq!(SnapshotHeader::decode(&h.encode()), Ok(h));
        }
        let mut b = SnapshotHeader {
            incarnation: 1,
            applied_offset: None,
        }
        .encode();
        assert_eq!(
            SnapshotHeader::decode(&b[..SnapshotHeader::LEN - 1]),
            Err(SnapshotHeaderError::Short)
        );
        b[11] = 9;
        assert_eq!(
            SnapshotHeader::decode(&b),
            Err(SnapshotHeaderError::Version(9))
        );
        b[0] = b'X';
        assert_eq!(SnapshotHeader::decode(&b), Err(SnapshotHeaderError::Magic));
    }

    #[test]
    fn states_round_trip_through_their_heartbeat_form() {
        for s in [
            ReplicaState::CatchingUp,
            ReplicaState::Healthy,
            ReplicaState::Failed {
                reason: "undecodable record at offset 7: boom".into(),
            },
        ] {
            assert_eq!(ReplicaState::parse(&s.to_string()), s);
        }
        assert!(!ReplicaState::parse("rebuilding").is_queryable());
        assert!(ReplicaState::parse("healthy").is_queryable());
    }

    #[test]
    fn shard_paths_fill_in_the_id() {
        assert_eq!(
            paths::for_shard(paths::DIGEST, 42),
            "/internal/shards/42/digest"
        );
        assert_eq!(paths::for_shard(paths::SHARD, 7), "/internal/shards/7");
    }

    #[test]
    fn status_json_flattens_the_state() {
        let json = serde_json::to_value(ReplicaState::Failed { reason: "x".into() }).unwrap();
        assert_eq!(json, serde_json::json!({"state": "failed", "reason": "x"}));
    }
}

//! # shardd — the data node
//!
//! Consumes the partitions of the shards it owns into RocksDB (consume →
//! decode → apply), serves InfluxDB's public HTTP API (`/write` from
//! `ingest`; `/query` in [`queries`], over the `query` engine) and an
//! internal API for operators and peers.
//!
//! ```text
//!  metad ── watch (meta_client::Follower) ──▶ node: reconcile owned shards
//!    ▲                                           │ new owner: start replica   │ not owned / group
//!    │ register as the id in <data-dir>/node-id  │                            │
//!    │ (identity.rs), heartbeat (ReplicaStatus)  ▼                            ▼ deleted: stop, drop keys
//!    │                                        replica (an apply loop on one of the node's
//!    │                                           │ apply threads, consumer.rs; one Kafka
//!    │   Kafka topic <prefix>.shardgroup.<g>     │ consumer per node, a queue per partition)
//!    │   partition i ───────────────────────────▶│ poll a run ─ check offsets ─ LogRecord::decode
//!    │                                           │ ─ apply_many ─▶ storage::Shard (a key range
//!    │                                           ▼   of the node's store, <data-dir>/shards)
//!    └──────────── status: state, applied offset, watermarks, lag, bytes
//!
//!  internal API :8088 (api.rs, behind the cluster's shared secret) ── status,
//!                 digest@offset, hold/release, rebuild, resume, snapshot
//!                 (snapshots.rs: GET streams a replica, PUT installs one;
//!                 a new owner bootstraps from the freshest healthy peer)
//!                 (queries/shard_api.rs) ── shard reads of peers coordinating a query
//!  public API   :8086 (ingest::serve: connection limit, read deadlines; api.rs) ──
//!                 /write /api/v2/write /ping (ingest) /health /metrics
//!                 (queries/http.rs) ── /query; queries/cq.rs: continuous queries
//!  purge.rs     ── on the lowest alive node: deleted groups past the grace lose
//!                 their topic, then their meta data entry
//! ```
//!
//! Modules: [`node`] (start, meta reconcile, heartbeat, watermarks),
//! [`identity`] (the node's id, kept in its data directory),
//! `consumer` (the node's consumer, apply threads and loops), [`replica`] (state shared between the
//! consumer and the API), `api` (both routers), [`queries`] (InfluxQL:
//! `/query`, statements, the cluster view the engine reads through,
//! continuous queries), `purge` (deleted groups' topics and meta entries), [`snapshots`]
//! (replicas as streams: serving, installing, bootstrapping new owners),
//! [`metrics`], [`config`].
//!
//! ## Design choices
//!
//! **Manual assignment, no consumer group.** Every owner of a shard must
//! read the *whole* partition independently, and its position is the
//! applied offset stored atomically with the shard's data, not a
//! Kafka-committed offset. A consumer group would split partitions between
//! owners and keep a second, non-atomic position; so each replica assigns
//! `(topic, partition = shard index)` itself at `applied_offset() + 1` (or
//! the beginning for a new replica), never commits, never subscribes
//! (`group.id` is set only because librdkafka wants one), and runs with
//! `auto.offset.reset=error` so an offset that is gone is reported, not
//! silently replaced by the earliest or latest one. These settings live
//! with every other Kafka client setting in `kafka_log::replica_consumer`.
//!
//! **Batch size.** A record is already a batch of thousands of points (up
//! to ~1 MiB), so the consumer applies a run of at most
//! [`ConsumerConfig::batch_max_records`] records (default 16) or
//! `batch_max_bytes` (16 MiB) in one `apply_many` — one RocksDB write batch
//! with the last offset. More records per batch amortize the per-batch WAL
//! write and offset update; fewer keep the memtable bursts small and the
//! time an API call (hold, rebuild) waits for the control lock short (one
//! batch of 16 TSBS records is 800 000 values). `replay-bench` prints the
//! replay rate for 1, 4, 16 and 64 records per batch so the default can be
//! checked on the machine at hand; it is not yet tuned by a measurement.
//!
//! **Gaps.** Offsets of a shard topic are consecutive: ingest's producers
//! are idempotent but not transactional and shard topics are never
//! compacted. When the next record's offset is not the expected one, the
//! consumer reads the partition's low watermark: if it moved past the
//! expected offset, records were deleted before this replica read them — a
//! real gap, the replica fails with the range in the reason. Otherwise the
//! broker returned every record there is (the missing offsets are
//! transaction markers, which librdkafka never hands out): counted in
//! `sluice_shard_offset_skips_total` and logged, not a failure. Records
//! deleted *ahead* of the fetch position show up as out-of-range errors
//! (`auto.offset.reset=error`), also a failure. Undecodable records and
//! records of another shard fail the replica at their offset. A failed
//! replica stops fetching and waits: `sluice-ctl resume-shard <shard> --node
//! <id> --from-offset N` skips to `N` (recorded in the shard's meta data
//! until a record at or after `N` is applied, so a crash does not undo the
//! decision), `rebuild-shard` replays from scratch.
//!
//! **Rebuild and queries.** A replica is `catching_up` from the moment a
//! rebuild is asked (the API sets it before the consumer acts) until its
//! consumer reaches the end of the partition (`healthy`). While rebuilding
//! [`Node::shard`] returns `None` (the shard's keys are being replaced) and
//! afterwards the state it returns is not queryable. The state travels in
//! the heartbeat's `ReplicaStatus::state` (`catching_up`, `healthy`,
//! `failed: <reason>`; parse with `schemas::node_api::ReplicaState::parse`),
//! so coordinators on other nodes pick only healthy owners. Adding an owner
//! (a node added, `copy-shard`, a replication factor raised) is the same
//! path: the meta watch starts a replica the store does not hold, which
//! installs the freshest healthy peer's snapshot and fetches only the
//! partition after its offset (`snapshots.rs`); with no healthy peer, or
//! with `rebuild-shard --replay`, it replays the partition from its
//! beginning, which is refused when the log no longer starts at offset 0.
//!
//! **Digests at a common offset.** `sluice-ctl verify-shard` holds every
//! owner where it is (`POST .../hold`), takes the largest of their applied
//! offsets `N`, asks each for its digest at `N` (the replica applies up to
//! `N` exactly and stops there) and releases the holds (which also lapse
//! after a TTL, so a crashed tool cannot stop a replica for good).

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// used by the binaries (`shardd`, `replay-bench`)
use anyhow as _;
use clap as _;
use humantime as _;
use shutdown as _;
// used by `replay-bench`, which replays into a temporary store
use tempfile as _;
use testkit as _;

pub mod api;
pub mod config;
mod consumer;
pub mod identity;
pub mod metrics;
pub mod node;
mod purge;
pub mod queries;
pub mod replica;
pub mod snapshots;

pub use config::{ConfigError, FileConfig, NodeConfig};
pub use consumer::ConsumerConfig;
pub use node::{Node, NodeError, NodeHandle};
pub use replica::{Replica, ReplicaSpec, WaitError};
pub use schemas::node_api::ReplicaState;

/// Replays a partition into shard `spec.shard_id` of `store` without a
/// node: the apply loop of a replica, for benchmarks and tools. Returns when
/// the consumer has reached the end of the partition or failed.
pub fn replay_partition(
    spec: ReplicaSpec,
    store: storage::Store,
    config: ConsumerConfig,
) -> Result<schemas::node_api::ShardStatus, String> {
    let metrics = std::sync::Arc::new(metrics::Metrics::new(prometheus::Registry::new()));
    let consumers =
        consumer::Consumers::start(config, store, metrics, None).map_err(|e| e.to_string())?;
    let replica = consumers.add(spec, 0);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(5));
        let state = replica.state();
        if state != ReplicaState::CatchingUp {
            consumers.stop();
            let status = replica.status();
            return match state {
                ReplicaState::Failed { reason } => Err(reason),
                _ => Ok(status),
            };
        }
    }
}

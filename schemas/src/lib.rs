//! # schemas — the contracts between Sluice's parts
//!
//! Everything that crosses a process boundary is defined here and nowhere
//! else; this crate does no I/O.
//!
//! ```text
//!  line protocol ──▶ ingest ──┬─ series_key() ─ shard_index() ─▶ partition i
//!                             └─ PointBatch::encode() ─────────▶ record value
//!                                                                   │
//!       shard-group topic  <prefix>.shardgroup.<id>  (topics) ◀─────┘
//!                                                                   │
//!  shardd ◀── LogRecord::decode() ◀─────────────────────────────────┘
//!     ▲
//!     └── MetaData (meta): who owns which shard, published by metad
//! ```
//!
//! - [`series_key`](mod@series_key): InfluxDB's canonical series key and the
//!   FNV-1a 64 routing function `shard_index`.
//! - [`record`]: the Avro records of the shard-group topics (`avro/*.avsc`),
//!   single-object encoded, with a fast hand-written codec that `apache-avro`
//!   is tested against.
//! - [`meta`]: the meta data model and its pure rules (shard-group bounds,
//!   lookups, privileges).
//! - [`meta_api`]: the requests and answers of metad's HTTP API, and the
//!   commands of its raft log.
//! - [`node_api`]: replica states and the data node's internal API types.
//! - [`topics`]: topic naming for shard groups and raw line-protocol topics.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod meta;
pub mod meta_api;
pub mod node_api;
pub mod record;
pub mod series_key;
pub mod topics;

pub use record::{
    DecodeError, FieldColumn, FieldType, FieldValues, LogRecord, PointBatch, Series, Tag, Tombstone,
};
pub use series_key::{fnv1a_64, series_key, shard_index, write_series_key, TagPair};

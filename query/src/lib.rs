//! # query — the InfluxQL engine
//!
//! Compiles, plans, scans and merges InfluxQL SELECT and the SHOW
//! statements that read shard indexes, and formats answers as InfluxDB
//! 1.x does. It reads data only through a [`shards::ShardReader`]; who
//! owns which shard, how a peer is reached and how a request arrives is
//! the data node's business (`shardd`), so this crate has no network,
//! Kafka or HTTP server in it.
//!
//! ```text
//!  influxql::SelectStatement
//!     │ select::plan: time range, shards of (db, rp) from ShardReader::meta,
//!     │               schema phase, columns → expressions / partial calls
//!     ▼
//!  ShardReader::read(shard, ShardOp) ──▶ on the owner: shards::run_op over
//!     │                                  storage::Shard (select::scan)
//!     ▼
//!  select::plan merge + finish (fill, transformations, ORDER/LIMIT)
//!     ▼
//!  result::Series ──▶ format: JSON / CSV / chunked, as InfluxDB prints them
//! ```
//!
//! Modules: [`select`] (SELECT), [`show`] (SHOW MEASUREMENTS / TAG KEYS /
//! TAG VALUES / FIELD KEYS / SERIES / cardinality), [`shards`] (the reader
//! trait and the shard-local operations), [`result`] and [`format`].

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod format;
pub mod result;
pub mod select;
pub mod shards;
pub mod show;

pub use shards::{BoxFuture, ShardOp, ShardOut, ShardRead, ShardReader};

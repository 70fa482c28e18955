//! # query — executing InfluxQL
//!
//! Shard-local execution over `storage`, partial aggregates, the
//! coordinator's merge and InfluxDB's result formats (being written).
//!
//! The public side: [`http::routes`] serves `/query` (parameters, auth,
//! JSON/CSV/chunked answers in [`format`]), [`statements::Executor`]
//! dispatches each statement to the SELECT engine, to metad (meta
//! statements) or to [`tombstone`] (DELETE / DROP SERIES / DROP
//! MEASUREMENT as log records).

pub mod cluster;
pub mod cq;
pub mod format;
pub mod http;
pub mod into;
pub mod result;
pub mod select;
pub mod shard_api;
pub mod show;
pub mod statements;
pub mod tombstone;

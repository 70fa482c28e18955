//! # ingest — line protocol in, shard-group topics out
//!
//! ```text
//!  body ──▶ parse ──────▶ route ─────────────────▶ encode ──────────▶ produce
//!           line_protocol  route.rs:                PointBatch         acks=all, idempotent,
//!           ::parse_batch  retention, shard group,  ::encode           lz4; 204 only after
//!                          fnv1a(series key) % n,   (schemas)          every record is acked
//!                          group by series/column
//! ```
//!
//! Before routing, fields new to their shard group have their type settled
//! in metad, first writer wins ([`route::unsettled_fields`]), so every
//! router refuses the same conflicting points. [`route`] is pure and
//! synchronous, so the hot path (parse → route → encode) is benchmarked
//! without a broker. [`serve`] serves the public API under InfluxDB's
//! connection and write limits, over TLS with `https-enabled`; [`debug`]
//! renders the metrics as InfluxDB's `/debug/vars`.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// used by the binary (`ingest`)
use anyhow as _;
use clap as _;
use shutdown as _;

pub mod daemon;
pub mod debug;
pub mod health;
pub mod http;
pub mod metrics;
pub mod produce;
pub mod raw;
pub mod route;
pub mod serve;
pub mod write;

/// Wall-clock time in ns since the Unix epoch: the default timestamp of
/// points written without one, and "now" for retention checks.
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

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
//! [`route`] is pure and synchronous, so the hot path (parse → route →
//! encode) is benchmarked without a broker.

pub mod daemon;
pub mod http;
pub mod metrics;
pub mod produce;
pub mod raw;
pub mod route;
pub mod write;

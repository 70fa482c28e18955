//! The SELECT engine: plan on the coordinator, scan next to the data,
//! merge and finish with InfluxDB 1.6's semantics.
//!
//! ```text
//!  SelectStatement                                        (plan/compile.rs)
//!    │ split WHERE into time range + rest (influxql::split_condition)
//!    │ shard groups of (db, rp) overlapping the range → shards
//!    ▼
//!  schema phase: every shard → fields (with types) and tags of the
//!    │           measurements the FROM matches; unioned (wildcards expand
//!    │           over the union, as InfluxDB does)
//!    ▼
//!  plan: output columns → row expressions (Ex) over field columns (raw) or
//!    │   over aggregate calls (Agg); calls pushed down as partials
//!    ▼
//!  scan phase: every shard (one owner each, retried   (plan/execute.rs,
//!    │         on the next owner) → per (measurement,   dispatch.rs, scan.rs)
//!    │         group-by tags): raw rows, or per time
//!    │         bucket one Partial per call
//!    ▼
//!  merge: rows by time (ties by series key) /            (plan/merge.rs)
//!    │    partials merged per bucket
//!    ▼
//!  finish: exact aggregates, selectors' times and aux    (plan/finish.rs)
//!          values, fill, transformations, ORDER BY, LIMIT/OFFSET,
//!          SLIMIT/SOFFSET
//! ```
//!
//! A subquery source (`FROM (SELECT ...)`) runs first, narrowed to the
//! outer time range; its series then stand in for the schema phase (columns
//! as fields, GROUP BY tags as tags) and for the shards (scanned in memory
//! by the same accumulator a shard uses): `plan/subquery.rs`.
//!
//! Module files: [`value`] (values, expressions), [`functions`] (partials,
//! aggregates, transformations, math), [`scan`] (shard-local execution and
//! its request/response types), `dispatch` (fan-out with owner retry), and
//! `plan/` (the [`Plan`] and its stages): `plan/compile.rs` (AST → plan:
//! sources, time range, schema phase, output columns, expressions, pushed
//! down calls), `plan/subquery.rs` (`FROM (SELECT ...)`), `plan/execute.rs`
//! (the scan phase through `dispatch`, paging for chunked answers),
//! `plan/merge.rs` (rows by time, partials per bucket, from several shards)
//! and `plan/finish.rs` (InfluxQL's output rules).

// Index loops over parallel columns read clearer than zipped iterators
// here; the match arms mirror InfluxDB's per-type reducers one to one.
#![allow(
    clippy::needless_range_loop,
    clippy::collapsible_match,
    clippy::type_complexity,
    clippy::manual_checked_ops
)]

mod dispatch;
pub mod functions;
mod plan;
pub mod scan;
pub mod value;

use influxql::ast::SelectStatement;

use crate::result::Series;
use crate::shards::ShardReader;

pub use plan::Plan;

/// Per-request settings of a query.
#[derive(Debug, Clone)]
pub struct QueryContext {
    /// The `db` parameter.
    pub database: Option<String>,
    /// The `rp` parameter (the database's default when `None`).
    pub retention_policy: Option<String>,
    /// `now()` for the query, ns.
    pub now_ns: i64,
    /// Wait until every chosen replica has applied up to its partition's
    /// high watermark read at query start.
    pub read_your_writes: bool,
    /// Rows per chunk for [`select_chunked`] (InfluxDB's default 10000).
    pub chunk_size: usize,
    /// InfluxDB's `max-select-buckets`: most `GROUP BY time` buckets a
    /// SELECT may span; 0: no limit.
    pub max_select_buckets: usize,
    /// InfluxDB's `max-select-series`: most series a SELECT may read; 0:
    /// no limit.
    pub max_select_series: usize,
    /// InfluxDB's `max-select-point`: most points a SELECT may read from
    /// the shards; 0: no limit.
    pub max_select_point: u64,
}

impl QueryContext {
    /// A context for `database` at `now_ns`.
    pub fn new(database: Option<String>, now_ns: i64) -> Self {
        Self {
            database,
            retention_policy: None,
            now_ns,
            read_your_writes: false,
            chunk_size: 10_000,
            max_select_buckets: 0,
            max_select_series: 0,
            max_select_point: 0,
        }
    }
}

/// Why a SELECT failed; the texts are InfluxDB's, shown as the statement's
/// `"error"`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// No database given, neither in the query nor as the `db` parameter.
    #[error("database name required")]
    DatabaseRequired,
    /// The database does not exist.
    #[error("database not found: {0}")]
    DatabaseNotFound(String),
    /// The retention policy does not exist.
    #[error("retention policy not found: {0}")]
    RetentionPolicyNotFound(String),
    /// A statement InfluxDB rejects at compile time (text as InfluxDB's).
    #[error("{0}")]
    Invalid(String),
    /// A time condition InfluxDB rejects.
    #[error(transparent)]
    TimeRange(#[from] influxql::TimeRangeError),
    /// No owner of a shard answered.
    #[error("shard {shard_id} unavailable: {last}")]
    ShardUnavailable {
        /// The shard no owner could read.
        shard_id: u64,
        /// The last owner's error.
        last: String,
    },
    /// Read-your-writes could not read a partition's high watermark.
    #[error("{0}")]
    Watermark(String),
    /// More series than `max-select-series` allows.
    #[error("max-select-series limit exceeded: ({series}/{limit})")]
    TooManySeries {
        /// Series the SELECT matched.
        series: u64,
        /// The limit.
        limit: usize,
    },
    /// More points read than `max-select-point` allows (InfluxDB's text,
    /// its typo included: clients match on it).
    #[error("max-select-point limit exceeed: ({points}/{limit})")]
    TooManyPoints {
        /// Points the shards read.
        points: u64,
        /// The limit.
        limit: u64,
    },
    /// More `GROUP BY time` buckets than `max-select-buckets` allows.
    #[error("max-select-buckets limit exceeded: ({buckets}/{limit})")]
    TooManyBuckets {
        /// Buckets the SELECT spans.
        buckets: u64,
        /// The limit.
        limit: usize,
    },
}

/// Runs a SELECT and returns its series in InfluxDB's order.
#[tracing::instrument(level = "debug", skip_all, fields(db = ?ctx.database))]
pub async fn select(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    stmt: &SelectStatement,
) -> Result<Vec<Series>, QueryError> {
    let plan = plan::plan(reader, ctx, stmt).await?;
    plan.execute(reader, ctx).await
}

/// Runs a SELECT for a chunked answer, sending its series in answer order
/// as they are ready (a long series in several pieces; the receiver cuts
/// them to `ctx.chunk_size` rows and sets `partial`). Raw rows are read
/// page by page ([`plan::Plan::execute_paged`]), so memory stays bounded
/// by the chunk size whatever the answer's size; other answers (bounded by
/// their buckets) are computed whole.
pub async fn select_chunked(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    stmt: &SelectStatement,
    tx: &tokio::sync::mpsc::Sender<Series>,
) -> Result<(), QueryError> {
    let plan = plan::plan(reader, ctx, stmt).await?;
    if plan.pages() {
        return plan.execute_paged(reader, ctx, ctx.chunk_size, tx).await;
    }
    for s in plan.execute(reader, ctx).await? {
        if tx.send(s).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Runs one call per shard on the first owner that answers (for the index
/// SHOW statements).
pub(crate) async fn dispatch_calls(
    reader: &dyn ShardReader,
    md: &schemas::meta::MetaData,
    calls: Vec<(schemas::meta::Shard, crate::shards::ShardOp)>,
) -> Result<Vec<crate::shards::ShardOut>, QueryError> {
    dispatch::call_all(reader, md, calls, &std::collections::HashMap::new()).await
}

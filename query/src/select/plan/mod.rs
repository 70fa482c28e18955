//! A SELECT's plan and its run, by stage: [`compile`] (AST → plan: output
//! columns, row expressions, the calls pushed down as partials, after the
//! schema phase), [`subquery`] (`FROM (SELECT ...)`: the inner answer as
//! schema and as scanned series), [`execute`] (the scan fan-out through
//! `dispatch`, and paging for chunked answers), [`merge`] (rows by time and
//! partials per bucket from several shards) and [`finish`] (exact
//! aggregates, selectors, fill, transformations, ORDER BY, LIMIT/OFFSET).

mod compile;
mod execute;
mod finish;
mod merge;
mod subquery;

use influxql::ast::Fill;
use schemas::meta::{Shard as MetaShard, ShardGroup};

use super::functions::{AggKind, FnArgs};
use super::scan::{AuxRef, Window};
use super::value::Ex;
use super::QueryError;
use crate::result::Series;

pub(crate) use compile::plan;

/// An output column's computation.
#[derive(Debug, Clone)]
enum OutExpr {
    /// Per row.
    Row(Ex),
    /// Over the series of rows.
    Transform {
        name: String,
        args: FnArgs,
        inner: Box<OutExpr>,
    },
}

#[derive(Debug, Clone)]
struct CallPlan {
    name: String,
    args: FnArgs,
    kind: AggKind,
    col: usize,
}

/// A planned SELECT, ready to scan.
#[derive(Debug)]
pub struct Plan {
    shards: Vec<(ShardGroup, MetaShard)>,
    measurements: Vec<String>,
    min: i64,
    max: i64,
    has_lower: bool,
    window: Option<Window>,
    /// `tz('...')`: times are written with this zone's offset.
    tz: Option<chrono_tz::Tz>,
    group_by: Vec<String>,
    fill: Fill,
    desc: bool,
    limit: u64,
    offset: u64,
    slimit: u64,
    soffset: u64,
    columns: Vec<String>,
    outs: Vec<OutExpr>,
    cols: Vec<String>,
    cond: Option<Ex>,
    present: Vec<usize>,
    /// `None`: raw query.
    calls: Option<Vec<CallPlan>>,
    aux: Vec<AuxRef>,
    /// The call whose points carry the aux values (and, for top, bottom,
    /// distinct and sample, give the rows).
    primary: Option<usize>,
    /// The answer of the subquery the statement reads from, if any.
    inner: Option<Vec<Series>>,
    /// The asked time range, when `min`/`max` were widened by a bucket for
    /// transformations (`extra_interval`).
    keep: (i64, i64),
}

fn invalid(s: impl Into<String>) -> QueryError {
    QueryError::Invalid(s.into())
}

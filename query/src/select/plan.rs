//! AST → plan (after the schema phase), the scan fan-out, and the merge and
//! finishing rules of InfluxQL.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use influxql::ast::{
    BinaryOp, Call, DataType, Expr, Fill, Literal, MeasurementName, SelectStatement, Source,
    WildcardType,
};
use schemas::meta::{Shard as MetaShard, ShardGroup, ShardId};
use schemas::series_key::parse_series_key;
use schemas::FieldType;

use super::dispatch;
use super::functions::{
    self, finish, is_aggregate, is_math, is_selector, is_transformation, AggKind, AggOut, FnArgs,
    Partial,
};
use super::scan::{
    AuxRef, CallScan, GroupBody, MeasurementScan, MeasurementSchema, ScanMode, ScanRequest,
    SchemaRequest, SourceMatch, Window,
};
use super::value::{cast, Cast, Ex, Op, Regexes, Row, Val};
use super::{QueryContext, QueryError};
use crate::shards::ShardReader;
use crate::result::{Cell, Series};
use crate::shards::{ShardOp, ShardOut};

/// Slots of aux values start here until the call count is known.
const AUX_BASE: usize = 1 << 20;

/// The most buckets one GROUP BY time query may produce per series.
const MAX_BUCKETS: i64 = 10_000_000;

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

/// Plans `stmt`: resolves the sources and time range, reads the schema of
/// the matched measurements from the shards and compiles the fields.
pub async fn plan(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    stmt: &SelectStatement,
) -> Result<Plan, QueryError> {
    // Sources: one (db, rp) for the statement, as InfluxDB 1.x requires for
    // most practical queries; measurements by name or regex.
    let mut db: Option<String> = None;
    let mut rp: Option<String> = None;
    let mut sources = Vec::new();
    // `FROM (SELECT ...)`: the inner query runs through this engine and the
    // outer one reads its series as if they were stored (see `scan_inner`).
    let mut inner: Option<Vec<Series>> = None;
    if let [Source::Subquery(q)] = stmt.sources.as_slice() {
        let outer = influxql::split_condition(
            stmt.condition.as_ref(),
            ctx.now_ns,
            stmt.timezone.as_deref(),
        )?;
        let q = with_outer_time_range(q, &outer.time_range);
        let series = Box::pin(super::select(reader, ctx, &q)).await?;
        inner = Some(series);
    }
    for s in stmt.sources.iter().filter(|_| inner.is_none()) {
        match s {
            Source::Measurement(m) => {
                if let Some(d) = &m.database {
                    db = Some(d.clone());
                }
                if let Some(r) = &m.retention_policy {
                    if !r.is_empty() {
                        rp = Some(r.clone());
                    }
                }
                sources.push(match &m.name {
                    MeasurementName::Name(n) => SourceMatch::Name(n.clone()),
                    MeasurementName::Regex(r) => SourceMatch::Regex(r.as_str().to_owned()),
                });
            }
            Source::Subquery(_) => {
                return Err(invalid(
                    "a subquery must be the only source of its statement",
                ));
            }
        }
    }

    let interval = stmt
        .group_by_interval()
        .map_err(|e| invalid(e.to_string()))?;
    let window = window_of(stmt, interval)?;
    let split = influxql::split_condition(
        stmt.condition.as_ref(),
        ctx.now_ns,
        stmt.timezone.as_deref(),
    )?;
    let (min, max) = split.time_range.resolve(ctx.now_ns, window.is_some());
    let has_lower = split.time_range.min.is_some();
    // Transformations over GROUP BY time buckets read one bucket beyond the
    // range, before it (after it in ORDER BY time DESC), so the first
    // bucket has a predecessor: InfluxDB 1.6's `ExtraIntervals`. Rows
    // outside the asked range are dropped when finishing.
    let keep = (min, max);
    let (min, max) = match window {
        Some(w) if extra_interval(stmt) => {
            if stmt.time_ascending() {
                (
                    min.saturating_sub(w.every).max(influxql::time::MIN_TIME),
                    max,
                )
            } else {
                (
                    min,
                    max.saturating_add(w.every).min(influxql::time::MAX_TIME),
                )
            }
        }
        _ => (min, max),
    };

    let mut fields: BTreeMap<String, FieldType> = BTreeMap::new();
    let mut tags: BTreeSet<String> = BTreeSet::new();
    let mut measurements: BTreeSet<String> = BTreeSet::new();
    let shards = match &inner {
        Some(series) => {
            inner_schema(series, &mut fields, &mut tags, &mut measurements);
            Vec::new()
        }
        None => {
            let db = db
                .or_else(|| ctx.database.clone())
                .filter(|d| !d.is_empty())
                .ok_or(QueryError::DatabaseRequired)?;
            let rp = rp
                .or_else(|| ctx.retention_policy.clone())
                .filter(|r| !r.is_empty());
            schema_phase(
                reader,
                ctx,
                (&db, rp.as_deref(), min, max),
                &sources,
                (&mut fields, &mut tags, &mut measurements),
            )
            .await?
        }
    };
    let mut plan = plan_with_schema(
        stmt,
        split,
        (min, max, has_lower),
        window,
        shards,
        inner,
        fields,
        tags,
        measurements,
    )?;
    plan.keep = keep;
    Ok(plan)
}

/// Whether a transformation that looks at the previous bucket (all but
/// `cumulative_sum`) runs over an aggregate.
fn extra_interval(stmt: &SelectStatement) -> bool {
    let mut extra = false;
    for f in &stmt.fields {
        f.expr.walk(&mut |e| {
            if let Expr::Call(c) = e {
                if is_transformation(&c.name)
                    && c.name != "cumulative_sum"
                    && matches!(c.args.first().map(Expr::unparen), Some(Expr::Call(_)))
                {
                    extra = true;
                }
            }
        });
    }
    extra
}

/// A subquery narrowed to the outer statement's explicit time bounds, as
/// InfluxDB 1.6 runs it: the inner aggregates see only the outer range.
fn with_outer_time_range(q: &SelectStatement, range: &influxql::TimeRange) -> SelectStatement {
    let mut q = q.clone();
    let bound = |op, t| Expr::binary(Expr::var("time"), op, Expr::Literal(Literal::Time(t)));
    let mut bounds = Vec::new();
    if let Some(min) = range.min {
        bounds.push(bound(BinaryOp::GtEq, min));
    }
    if let Some(max) = range.max {
        bounds.push(bound(BinaryOp::LtEq, max));
    }
    for b in bounds {
        q.and_condition(b);
    }
    q
}

/// The schema of a subquery's answer: its series are the measurements,
/// their GROUP BY tags the tags, their columns the fields (typed by their
/// first value).
fn inner_schema(
    series: &[Series],
    fields: &mut BTreeMap<String, FieldType>,
    tags: &mut BTreeSet<String>,
    measurements: &mut BTreeSet<String>,
) {
    for s in series {
        measurements.insert(s.name.clone());
        tags.extend(s.tags.keys().cloned());
        for (i, c) in s.columns.iter().enumerate().skip(1) {
            let ty = s.values.iter().find_map(|r| match r.get(i) {
                Some(Cell::Float(_)) => Some(FieldType::Float),
                Some(Cell::Integer(_)) => Some(FieldType::Integer),
                Some(Cell::Unsigned(_)) => Some(FieldType::Unsigned),
                Some(Cell::String(_)) => Some(FieldType::String),
                Some(Cell::Boolean(_)) => Some(FieldType::Boolean),
                _ => None,
            });
            if let Some(ty) = ty {
                fields.entry(c.clone()).or_insert(ty);
            }
        }
    }
}

/// Reads the schema of the measurements `sources` match from every shard
/// of the time range; returns the shards.
async fn schema_phase(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    (db, rp, min, max): (&str, Option<&str>, i64, i64),
    sources: &[SourceMatch],
    (fields, tags, measurements): (
        &mut BTreeMap<String, FieldType>,
        &mut BTreeSet<String>,
        &mut BTreeSet<String>,
    ),
) -> Result<Vec<(ShardGroup, MetaShard)>, QueryError> {
    let md = reader.meta();
    let shards = dispatch::shards_for(&md, db, rp, min, max)?;

    // Schema phase.
    let calls: Vec<(MetaShard, ShardOp)> = shards
        .iter()
        .map(|(_, s)| {
            (
                s.clone(),
                ShardOp::Schema(SchemaRequest {
                    shard_id: s.id,
                    sources: sources.to_vec(),
                }),
            )
        })
        .collect();
    let wait = dispatch::watermarks(reader, &shards, ctx.read_your_writes).await?;
    let outs = dispatch::call_all(reader, &md, calls, &wait).await?;
    for o in outs {
        if let ShardOut::Schema(ms) = o {
            for MeasurementSchema {
                name,
                fields: f,
                tags: t,
            } in ms
            {
                measurements.insert(name);
                for (n, ty) in f {
                    fields.entry(n).or_insert(ty);
                }
                tags.extend(t);
            }
        }
    }
    Ok(shards)
}

/// Compiles the statement over a known schema.
#[allow(clippy::too_many_arguments)]
fn plan_with_schema(
    stmt: &SelectStatement,
    split: influxql::SplitCondition,
    (min, max, has_lower): (i64, i64, bool),
    window: Option<Window>,
    shards: Vec<(ShardGroup, MetaShard)>,
    inner: Option<Vec<Series>>,
    fields: BTreeMap<String, FieldType>,
    tags: BTreeSet<String>,
    measurements: BTreeSet<String>,
) -> Result<Plan, QueryError> {
    let mut group_by: Vec<String> = Vec::new();
    for d in &stmt.dimensions {
        match &d.expr {
            Expr::VarRef(v) => group_by.push(v.name.clone()),
            Expr::Wildcard(_) => group_by.extend(tags.iter().cloned()),
            Expr::Literal(Literal::Regex(r)) => {
                group_by.extend(tags.iter().filter(|t| r.is_match(t)).cloned())
            }
            Expr::Call(c) if c.name == "time" => {}
            other => return Err(invalid(format!("invalid dimension: {other}"))),
        }
    }
    group_by.sort();
    group_by.dedup();

    let mut c = Compiler {
        fields: &fields,
        tags: &tags,
        group_by: &group_by,
        cols: Vec::new(),
        calls: Vec::new(),
        aux: Vec::new(),
        agg: has_aggregate(stmt),
        windowed: window.is_some(),
    };
    if measurements.is_empty() {
        return Ok(Plan::empty());
    }
    let mut columns = Vec::new();
    let mut outs = Vec::new();
    for f in &stmt.fields {
        c.field(f, &mut columns, &mut outs)?;
    }
    if columns.is_empty() {
        return Err(invalid(
            "statement must have at least one field in select clause",
        ));
    }
    if window.is_some() && !c.agg {
        return Err(invalid("GROUP BY requires at least one aggregate function"));
    }
    dedup_names(&mut columns);
    let cond = match &split.condition {
        Some(e) => Some(c.cond(e)?),
        None => None,
    };
    let ncalls = c.calls.len();
    for o in &mut outs {
        remap_aux(o, ncalls);
    }
    let mut present = Vec::new();
    for o in &outs {
        cols_of(o, &mut present);
    }
    present.sort();
    present.dedup();
    let primary = if c.agg {
        let multi = c
            .calls
            .iter()
            .position(|k| matches!(k.name.as_str(), "top" | "bottom" | "distinct" | "sample"));
        multi.or_else(|| c.calls.iter().position(|k| is_selector(&k.name)))
    } else {
        None
    };
    if c.agg && !c.aux.is_empty() && primary.is_none() {
        return Err(invalid(
            "mixing aggregate and non-aggregate queries is not supported",
        ));
    }
    let Compiler {
        cols, calls, aux, ..
    } = c;
    Ok(Plan {
        shards,
        measurements: measurements.into_iter().collect(),
        min,
        max,
        has_lower,
        window,
        tz: zone_of(stmt),
        group_by,
        fill: stmt.fill,
        desc: !stmt.time_ascending(),
        limit: stmt.limit,
        offset: stmt.offset,
        slimit: stmt.slimit,
        soffset: stmt.soffset,
        columns,
        outs,
        cols,
        cond,
        present,
        calls: if has_aggregate(stmt) {
            Some(calls)
        } else {
            None
        },
        aux,
        primary,
        inner,
        keep: (min, max),
    })
}

/// Whether a SELECT has an aggregate or selector call (math functions and
/// transformations of raw fields keep it a raw query).
fn has_aggregate(stmt: &SelectStatement) -> bool {
    let mut agg = false;
    for f in &stmt.fields {
        f.expr.walk(&mut |e| match e {
            Expr::Call(c) if is_aggregate(&c.name) => agg = true,
            Expr::Distinct(_) => agg = true,
            _ => {}
        });
    }
    agg
}

impl Plan {
    fn empty() -> Plan {
        Plan {
            shards: Vec::new(),
            measurements: Vec::new(),
            min: 0,
            max: 0,
            has_lower: false,
            window: None,
            tz: None,
            group_by: Vec::new(),
            fill: Fill::Null,
            desc: false,
            limit: 0,
            offset: 0,
            slimit: 0,
            soffset: 0,
            columns: Vec::new(),
            outs: Vec::new(),
            cols: Vec::new(),
            cond: None,
            present: Vec::new(),
            calls: None,
            aux: Vec::new(),
            primary: None,
            inner: None,
            keep: (i64::MIN, i64::MAX),
        }
    }
}

fn window_of(stmt: &SelectStatement, interval: Option<i64>) -> Result<Option<Window>, QueryError> {
    let Some(every) = interval else {
        return Ok(None);
    };
    if every <= 0 {
        return Err(invalid("group by interval must be positive"));
    }
    let offset = match stmt.group_by_offset() {
        Some(Expr::Literal(Literal::Duration(o))) => o.rem_euclid(every),
        Some(Expr::Call(n)) if n.name == "now" => {
            return Err(invalid("now() offsets are not supported"))
        }
        _ => 0,
    };
    Ok(Some(Window {
        every,
        offset,
        tz: zone_of(stmt),
    }))
}

/// The statement's `tz('...')` zone; `UTC`, `Local` (this server runs on
/// UTC) and unknown names (rejected by the parser) are no zone.
fn zone_of(stmt: &SelectStatement) -> Option<chrono_tz::Tz> {
    stmt.timezone
        .as_deref()
        .and_then(|n| n.parse::<chrono_tz::Tz>().ok())
        .filter(|tz| *tz != chrono_tz::Tz::UTC)
}

fn dedup_names(columns: &mut [String]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let originals: BTreeSet<String> = columns.iter().cloned().collect();
    for c in columns.iter_mut() {
        let n = seen.entry(c.clone()).or_insert(0);
        if *n > 0 {
            let mut k = *n;
            let mut cand = format!("{c}_{k}");
            while originals.contains(&cand) {
                k += 1;
                cand = format!("{c}_{k}");
            }
            *n = k + 1;
            *c = cand;
        } else {
            *n = 1;
        }
    }
}

fn remap_aux(o: &mut OutExpr, ncalls: usize) {
    fn ex(e: &mut Ex, n: usize) {
        match e {
            Ex::Col(i, _) if *i >= AUX_BASE => *i = *i - AUX_BASE + n,
            Ex::Bin(_, a, b) => {
                ex(a, n);
                ex(b, n);
            }
            Ex::Math(_, args) => args.iter_mut().for_each(|a| ex(a, n)),
            _ => {}
        }
    }
    match o {
        OutExpr::Row(e) => ex(e, ncalls),
        OutExpr::Transform { inner, .. } => remap_aux(inner, ncalls),
    }
}

fn cols_of(o: &OutExpr, out: &mut Vec<usize>) {
    fn ex(e: &Ex, out: &mut Vec<usize>) {
        match e {
            Ex::Col(i, _) => out.push(*i),
            Ex::Bin(_, a, b) => {
                ex(a, out);
                ex(b, out);
            }
            Ex::Math(_, args) => args.iter().for_each(|a| ex(a, out)),
            _ => {}
        }
    }
    match o {
        OutExpr::Row(e) => ex(e, out),
        OutExpr::Transform { inner, .. } => cols_of(inner, out),
    }
}

struct Compiler<'a> {
    fields: &'a BTreeMap<String, FieldType>,
    tags: &'a BTreeSet<String>,
    group_by: &'a [String],
    cols: Vec<String>,
    calls: Vec<CallPlan>,
    aux: Vec<AuxRef>,
    agg: bool,
    /// The statement has GROUP BY time.
    windowed: bool,
}

fn numeric(t: FieldType) -> bool {
    matches!(
        t,
        FieldType::Float | FieldType::Integer | FieldType::Unsigned
    )
}

/// Whether function `name` accepts fields of type `t` when `*` expands.
fn accepts(name: &str, t: FieldType) -> bool {
    match name {
        "count" | "first" | "last" | "distinct" | "mode" | "sample" => true,
        _ => numeric(t),
    }
}

fn cast_of(d: DataType) -> Option<Cast> {
    match d {
        DataType::Float => Some(Cast::Float),
        DataType::Integer => Some(Cast::Integer),
        DataType::Unsigned => Some(Cast::Unsigned),
        DataType::String => Some(Cast::String),
        DataType::Boolean => Some(Cast::Boolean),
        _ => None,
    }
}

fn lit(l: &Literal) -> Ex {
    match l {
        Literal::Integer(i) => Ex::Lit(Some(Val::Int(*i))),
        Literal::Unsigned(u) => Ex::Lit(Some(Val::Uns(*u))),
        Literal::Float(f) => Ex::Lit(Some(Val::Float(*f))),
        Literal::String(s) => Ex::Lit(Some(Val::Str(s.clone()))),
        Literal::Boolean(b) => Ex::Lit(Some(Val::Bool(*b))),
        Literal::Duration(d) => Ex::Lit(Some(Val::Int(*d))),
        Literal::Time(t) => Ex::Lit(Some(Val::Int(*t))),
        Literal::Regex(r) => Ex::Regex(r.as_str().to_owned()),
    }
}

fn op_of(op: BinaryOp) -> Op {
    match op {
        BinaryOp::Add => Op::Add,
        BinaryOp::Sub => Op::Sub,
        BinaryOp::Mul => Op::Mul,
        BinaryOp::Div => Op::Div,
        BinaryOp::Mod => Op::Mod,
        BinaryOp::BitwiseAnd => Op::BitAnd,
        BinaryOp::BitwiseOr => Op::BitOr,
        BinaryOp::BitwiseXor => Op::BitXor,
        BinaryOp::And => Op::And,
        BinaryOp::Or => Op::Or,
        BinaryOp::Eq => Op::Eq,
        BinaryOp::NotEq => Op::NotEq,
        BinaryOp::EqRegex => Op::EqRegex,
        BinaryOp::NotEqRegex => Op::NotEqRegex,
        BinaryOp::Lt => Op::Lt,
        BinaryOp::LtEq => Op::LtEq,
        BinaryOp::Gt => Op::Gt,
        BinaryOp::GtEq => Op::GtEq,
    }
}

/// InfluxDB's column name of an expression.
fn name_of(e: &Expr) -> String {
    match e {
        Expr::VarRef(v) => v.name.clone(),
        Expr::Call(c) => c.name.clone(),
        Expr::Paren(p) => name_of(p),
        Expr::Binary(b) => {
            let (l, r) = (name_of(&b.lhs), name_of(&b.rhs));
            match (l.is_empty(), r.is_empty()) {
                (true, _) => r,
                (_, true) => l,
                _ => format!("{l}_{r}"),
            }
        }
        Expr::Distinct(_) => "distinct".into(),
        _ => String::new(),
    }
}

impl Compiler<'_> {
    fn col(&mut self, name: &str) -> usize {
        match self.cols.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.cols.push(name.to_owned());
                self.cols.len() - 1
            }
        }
    }

    fn is_field(&self, v: &influxql::ast::VarRef) -> bool {
        match v.data_type {
            DataType::Tag => false,
            DataType::AnyField => true,
            _ => self.fields.contains_key(&v.name),
        }
    }

    /// The output columns a wildcard or regex expands to, `(name, is
    /// field)`, in name order as InfluxDB writes them.
    fn push_expanded(
        &mut self,
        mut names: Vec<(String, bool)>,
        columns: &mut Vec<String>,
        outs: &mut Vec<OutExpr>,
    ) {
        names.sort();
        for (n, is_field) in names {
            let e = if is_field {
                let c = self.col(&n);
                Ex::Col(c, None)
            } else {
                Ex::Tag(n.clone())
            };
            let e = if self.agg { self.aux_of(e) } else { e };
            columns.push(n);
            outs.push(OutExpr::Row(e));
        }
    }

    /// Expands wildcards and regexes of one SELECT field.
    fn field(
        &mut self,
        f: &influxql::ast::Field,
        columns: &mut Vec<String>,
        outs: &mut Vec<OutExpr>,
    ) -> Result<(), QueryError> {
        match f.expr.unparen() {
            Expr::Wildcard(w) => {
                let mut names: Vec<(String, bool)> = Vec::new();
                if *w != WildcardType::Tag {
                    names.extend(self.fields.keys().map(|k| (k.clone(), true)));
                }
                if *w != WildcardType::Field && !self.agg {
                    names.extend(
                        self.tags
                            .iter()
                            .filter(|t| !self.group_by.contains(t))
                            .map(|k| (k.clone(), false)),
                    );
                }
                self.push_expanded(names, columns, outs);
                return Ok(());
            }
            Expr::Literal(Literal::Regex(r)) => {
                let mut names: Vec<(String, bool)> = self
                    .fields
                    .keys()
                    .filter(|k| r.is_match(k))
                    .map(|k| (k.clone(), true))
                    .collect();
                names.extend(
                    self.tags
                        .iter()
                        .filter(|t| r.is_match(t) && !self.group_by.contains(t))
                        .map(|k| (k.clone(), false)),
                );
                self.push_expanded(names, columns, outs);
                return Ok(());
            }
            Expr::VarRef(v) if v.name.eq_ignore_ascii_case("time") => return Ok(()),
            Expr::Call(c)
                if c.args.first().is_some_and(|a| {
                    matches!(a, Expr::Wildcard(_) | Expr::Literal(Literal::Regex(_)))
                }) =>
            {
                // mean(*) / mean(/re/): one column per matching field.
                let names: Vec<String> = self
                    .fields
                    .iter()
                    .filter(|(k, t)| {
                        accepts(&c.name, **t)
                            && match &c.args[0] {
                                Expr::Literal(Literal::Regex(r)) => r.is_match(k),
                                _ => true,
                            }
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for n in names {
                    let mut call = c.clone();
                    call.args[0] = Expr::var(n.clone());
                    let e = Expr::Call(call);
                    let out = self.out(&e)?;
                    columns.push(format!("{}_{}", c.name, n));
                    outs.push(out);
                }
                return Ok(());
            }
            _ => {}
        }
        let out = self.out(&f.expr)?;
        let name = f.alias.clone().unwrap_or_else(|| name_of(&f.expr));
        columns.push(name);
        outs.push(out);
        // top/bottom with tag arguments add a column per tag.
        if let Expr::Call(c) = f.expr.unparen() {
            if matches!(c.name.as_str(), "top" | "bottom") && c.args.len() > 2 {
                for a in &c.args[1..c.args.len() - 1] {
                    if let Expr::VarRef(v) = a {
                        let slot = self.aux_slot(AuxRef::Tag(v.name.clone()));
                        columns.push(v.name.clone());
                        outs.push(OutExpr::Row(Ex::Col(AUX_BASE + slot, None)));
                    }
                }
            }
        }
        Ok(())
    }

    fn aux_slot(&mut self, a: AuxRef) -> usize {
        match self.aux.iter().position(|x| *x == a) {
            Some(i) => i,
            None => {
                self.aux.push(a);
                self.aux.len() - 1
            }
        }
    }

    /// In an aggregate query, a plain field or tag is the primary
    /// selector's auxiliary value.
    fn aux_of(&mut self, e: Ex) -> Ex {
        match e {
            Ex::Col(c, cast) => Ex::Col(AUX_BASE + self.aux_slot(AuxRef::Col(c)), cast),
            Ex::Tag(t) => Ex::Col(AUX_BASE + self.aux_slot(AuxRef::Tag(t)), None),
            other => other,
        }
    }

    fn out(&mut self, e: &Expr) -> Result<OutExpr, QueryError> {
        if let Expr::Call(c) = e.unparen() {
            if is_transformation(&c.name) {
                let inner = c.args.first().ok_or_else(|| {
                    invalid(format!("invalid number of arguments for {}", c.name))
                })?;
                let mut args = FnArgs::default();
                match c.name.as_str() {
                    "moving_average" => match c.args.get(1) {
                        Some(Expr::Literal(Literal::Integer(n))) => args.n = Some(*n as f64),
                        _ => {
                            return Err(invalid(format!(
                            "invalid number of arguments for moving_average, expected 2, got {}",
                            c.args.len()
                        )))
                        }
                    },
                    "derivative" | "non_negative_derivative" | "elapsed" => {
                        if let Some(Expr::Literal(Literal::Duration(d))) = c.args.get(1) {
                            args.unit = Some(*d);
                        }
                    }
                    _ => {}
                }
                // Over raw values a GROUP BY time has nothing to
                // aggregate: InfluxDB asks for an aggregate inside.
                if self.windowed && !matches!(inner.unparen(), Expr::Call(_)) {
                    return Err(invalid(format!(
                        "aggregate function required inside the call to {}",
                        c.name
                    )));
                }
                let inner = self.out(inner)?;
                return Ok(OutExpr::Transform {
                    name: c.name.clone(),
                    args,
                    inner: Box::new(inner),
                });
            }
        }
        Ok(OutExpr::Row(self.row(e)?))
    }

    fn var(&mut self, v: &influxql::ast::VarRef) -> Ex {
        if self.is_field(v) {
            let c = self.col(&v.name);
            Ex::Col(c, cast_of(v.data_type))
        } else if self.tags.contains(&v.name) {
            Ex::Tag(v.name.clone())
        } else {
            Ex::Lit(None)
        }
    }

    fn row(&mut self, e: &Expr) -> Result<Ex, QueryError> {
        Ok(match e {
            Expr::Paren(p) => self.row(p)?,
            Expr::VarRef(v) => {
                let x = self.var(v);
                if self.agg {
                    self.aux_of(x)
                } else {
                    x
                }
            }
            Expr::Literal(l) => lit(l),
            Expr::Binary(b) => Ex::Bin(
                op_of(b.op),
                Box::new(self.row(&b.lhs)?),
                Box::new(self.row(&b.rhs)?),
            ),
            Expr::Call(c) if is_math(&c.name) => Ex::Math(
                c.name.clone(),
                c.args
                    .iter()
                    .map(|a| self.row(a))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Call(c) if is_aggregate(&c.name) => Ex::Col(self.call(c)?, None),
            Expr::Distinct(name) => {
                let call = Call {
                    name: "distinct".into(),
                    args: vec![Expr::var(name.clone())],
                };
                Ex::Col(self.call(&call)?, None)
            }
            Expr::Call(c) if is_transformation(&c.name) => {
                return Err(invalid(format!(
                    "{} cannot be nested inside an expression",
                    c.name
                )))
            }
            Expr::Call(c) => return Err(invalid(format!("undefined function {}()", c.name))),
            other => return Err(invalid(format!("unsupported expression: {other}"))),
        })
    }

    fn call(&mut self, c: &Call) -> Result<usize, QueryError> {
        let mut name = c.name.clone();
        let arg0 = c.args.first().ok_or_else(|| {
            invalid(format!(
                "invalid number of arguments for {}, expected at least 1, got 0",
                c.name
            ))
        })?;
        let field = match arg0.unparen() {
            Expr::VarRef(v) => v.clone(),
            Expr::Distinct(n) if name == "count" => {
                name = "count_distinct".into();
                influxql::ast::VarRef {
                    name: n.clone(),
                    data_type: DataType::Unknown,
                }
            }
            Expr::Call(inner) if inner.name == "distinct" && name == "count" => {
                name = "count_distinct".into();
                match inner.args.first() {
                    Some(Expr::VarRef(v)) => v.clone(),
                    _ => return Err(invalid("expected field argument in distinct()")),
                }
            }
            _ => return Err(invalid(format!("expected field argument in {}()", c.name))),
        };
        let mut args = FnArgs::default();
        match name.as_str() {
            "percentile" | "sample" => match c.args.get(1) {
                Some(Expr::Literal(Literal::Integer(n))) => args.n = Some(*n as f64),
                Some(Expr::Literal(Literal::Float(n))) => args.n = Some(*n),
                _ => {
                    return Err(invalid(format!(
                        "invalid number of arguments for {}, expected 2, got {}",
                        name,
                        c.args.len()
                    )))
                }
            },
            "top" | "bottom" => {
                match c.args.last() {
                    Some(Expr::Literal(Literal::Integer(n))) if c.args.len() >= 2 => {
                        if *n < 1 {
                            return Err(invalid(format!(
                                "limit ({n}) in {name} function must be at least 1"
                            )));
                        }
                        args.n = Some(*n as f64)
                    }
                    _ => {
                        return Err(invalid(format!(
                            "invalid number of arguments for {}, expected at least 2, got {}",
                            name,
                            c.args.len()
                        )))
                    }
                }
                for a in &c.args[1..c.args.len() - 1] {
                    if let Expr::VarRef(v) = a {
                        args.tag_slots
                            .push(self.aux_slot(AuxRef::Tag(v.name.clone())));
                    }
                }
            }
            "integral" => {
                if let Some(Expr::Literal(Literal::Duration(d))) = c.args.get(1) {
                    args.unit = Some(*d);
                }
            }
            _ => {}
        }
        let col = self.col(&field.name);
        let kind = if name == "count_distinct" {
            AggKind::Points
        } else {
            AggKind::for_function(&name)
        };
        self.calls.push(CallPlan {
            name,
            args,
            kind,
            col,
        });
        Ok(self.calls.len() - 1)
    }

    /// The WHERE condition (without time) over columns and tags.
    fn cond(&mut self, e: &Expr) -> Result<Ex, QueryError> {
        Ok(match e {
            Expr::Paren(p) => self.cond(p)?,
            Expr::VarRef(v) => self.var(v),
            Expr::Literal(l) => lit(l),
            Expr::Binary(b) => Ex::Bin(
                op_of(b.op),
                Box::new(self.cond(&b.lhs)?),
                Box::new(self.cond(&b.rhs)?),
            ),
            Expr::Call(c) if is_math(&c.name) => Ex::Math(
                c.name.clone(),
                c.args
                    .iter()
                    .map(|a| self.cond(a))
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(invalid(format!("invalid condition expression: {other}"))),
        })
    }
}

/// A row of the finishing stage.
struct OutRow<'a> {
    time: i64,
    slots: &'a [Option<Val>],
    tags: &'a [(String, String)],
}

impl Row for OutRow<'_> {
    fn col(&self, i: usize) -> Option<&Val> {
        self.slots.get(i).and_then(|v| v.as_ref())
    }
    fn tag(&self, key: &str) -> &str {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    fn time(&self) -> i64 {
        self.time
    }
}

enum Merged {
    Raw(Vec<(i64, String, Vec<Option<Val>>)>),
    Agg(BTreeMap<i64, Vec<Partial>>),
}

impl Plan {
    /// Scans every shard and finishes the result.
    pub async fn execute(
        &self,
        reader: &dyn ShardReader,
        ctx: &QueryContext,
    ) -> Result<Vec<Series>, QueryError> {
        if self.measurements.is_empty() || (self.shards.is_empty() && self.inner.is_none()) {
            return Ok(Vec::new());
        }
        let mode = match &self.calls {
            None => ScanMode::Raw {
                limit: if self.limit > 0 {
                    Some(self.limit + self.offset)
                } else {
                    None
                },
                desc: self.desc,
            },
            Some(calls) => ScanMode::Agg {
                calls: calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| CallScan {
                        kind: c.kind,
                        col: c.col,
                        aux: if Some(i) == self.primary {
                            self.aux.clone()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
            },
        };
        // Transformations over raw rows need every row: no limit pushdown.
        let mode = match mode {
            ScanMode::Raw { desc, .. }
                if self
                    .outs
                    .iter()
                    .any(|o| matches!(o, OutExpr::Transform { .. })) =>
            {
                ScanMode::Raw { limit: None, desc }
            }
            m => m,
        };
        let measurements = self.measurement_scans(&self.measurements, self.cond.clone());
        let outs = match &self.inner {
            Some(series) => vec![ShardOut::Scan(self.scan_inner(
                series,
                measurements,
                mode,
            )?)],
            None => {
                let wait =
                    dispatch::watermarks(reader, &self.shards, ctx.read_your_writes).await?;
                let range = (self.min, self.max);
                self.scan_shards(reader, &wait, measurements, range, mode)
                    .await?
            }
        };
        self.merge_and_finish(outs)
    }

    fn measurement_scans(&self, names: &[String], cond: Option<Ex>) -> Vec<MeasurementScan> {
        names
            .iter()
            .map(|m| MeasurementScan {
                name: m.clone(),
                cols: self.cols.clone(),
                cond: cond.clone(),
                present: self.present.clone(),
            })
            .collect()
    }

    /// Whether [`Self::execute_paged`] can answer: raw rows from shards,
    /// with no transformation that needs a whole series at once.
    pub fn pages(&self) -> bool {
        self.calls.is_none()
            && self.inner.is_none()
            && !self
                .outs
                .iter()
                .any(|o| matches!(o, OutExpr::Transform { .. }))
    }

    /// Runs a raw query for a chunked answer, sending its series in pieces
    /// of at most `page` rows as they are final. Groups (output series) are
    /// read one after the other in answer order, each from every shard
    /// `page` rows per shard at a time, so memory is bounded by the page
    /// size rather than by the answer. Stops early when the receiver is
    /// gone (the client went away).
    pub async fn execute_paged(
        &self,
        reader: &dyn ShardReader,
        ctx: &QueryContext,
        page: usize,
        tx: &tokio::sync::mpsc::Sender<Series>,
    ) -> Result<(), QueryError> {
        if self.measurements.is_empty() || self.shards.is_empty() {
            return Ok(());
        }
        let page = page.max(1);
        let wait = dispatch::watermarks(reader, &self.shards, ctx.read_your_writes).await?;
        let all = self.measurement_scans(&self.measurements, self.cond.clone());
        let range = (self.min, self.max);
        let outs = self
            .scan_shards(reader, &wait, all, range, ScanMode::Groups)
            .await?;
        let groups: BTreeSet<(String, Vec<String>)> = outs
            .into_iter()
            .filter_map(|o| match o {
                ShardOut::Scan(r) => Some(r.groups),
                _ => None,
            })
            .flatten()
            .map(|g| (g.measurement, g.key))
            .collect();
        // SLIMIT/SOFFSET count, in ascending order, the series that have
        // rows left after OFFSET, as `merge_and_finish` does; a listed
        // group may have none in the time range.
        let mut groups: Vec<_> = groups.into_iter().collect();
        if self.slimit > 0 || self.soffset > 0 {
            let take = if self.slimit > 0 {
                self.slimit as usize
            } else {
                usize::MAX
            };
            let mut kept = Vec::new();
            let mut seen = 0;
            for g in groups {
                if kept.len() >= take {
                    break;
                }
                if self.has_rows_past_offset(reader, &wait, &g).await? {
                    if seen >= self.soffset {
                        kept.push(g);
                    }
                    seen += 1;
                }
            }
            groups = kept;
        }
        if self.desc {
            groups.reverse();
        }
        let columns: Vec<String> = std::iter::once("time".to_owned())
            .chain(self.columns.iter().cloned())
            .collect();
        for (name, key) in groups {
            let scans = self.measurement_scans(std::slice::from_ref(&name), self.group_cond(&key));
            let tags: BTreeMap<String, String> = self.group_by.iter().cloned().zip(key).collect();
            let (mut lo, mut hi) = range;
            let mut skip = self.offset as usize;
            let mut left = if self.limit > 0 {
                self.limit as usize
            } else {
                usize::MAX
            };
            // Grows while one timestamp holds more rows than a page.
            let mut stall = 1usize;
            while left > 0 {
                let want = page.min(left.saturating_add(skip)).saturating_mul(stall);
                let mode = ScanMode::Raw {
                    limit: Some(want as u64),
                    desc: self.desc,
                };
                let outs = self
                    .scan_shards(reader, &wait, scans.clone(), (lo, hi), mode)
                    .await?;
                let mut rows = Vec::new();
                // The nearest last time among shards that may have more.
                let mut frontier: Option<i64> = None;
                for o in outs {
                    let ShardOut::Scan(resp) = o else { continue };
                    for g in resp.groups {
                        let GroupBody::Raw { series, rows: r } = g.body else {
                            continue;
                        };
                        if let Some(edge) = r.last().filter(|_| r.len() >= want).map(|r| r.time) {
                            frontier = Some(match frontier {
                                Some(f) if self.desc => f.max(edge),
                                Some(f) => f.min(edge),
                                None => edge,
                            });
                        }
                        rows.extend(
                            r.into_iter()
                                .map(|r| (r.time, series[r.series as usize].clone(), r.vals)),
                        );
                    }
                }
                if let Some(f) = frontier {
                    // A shard may have more rows at the frontier's time:
                    // they all come with the next page.
                    rows.retain(|r| if self.desc { r.0 > f } else { r.0 < f });
                    if rows.is_empty() {
                        stall = stall.saturating_mul(2);
                        continue;
                    }
                    if self.desc {
                        hi = f;
                    } else {
                        lo = f;
                    }
                }
                stall = 1;
                let mut values = self.raw_rows(rows)?;
                let skipped = skip.min(values.len());
                values.drain(..skipped);
                skip -= skipped;
                values.truncate(left);
                left -= values.len();
                let mut values = values.into_iter().peekable();
                while values.peek().is_some() {
                    let piece = Series {
                        name: name.clone(),
                        tags: tags.clone(),
                        columns: columns.clone(),
                        values: values.by_ref().take(page).collect(),
                        partial: false,
                    };
                    if tx.send(piece).await.is_err() {
                        return Ok(());
                    }
                }
                if frontier.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Whether a group has more rows than the statement's OFFSET skips.
    async fn has_rows_past_offset(
        &self,
        reader: &dyn ShardReader,
        wait: &HashMap<ShardId, i64>,
        (name, key): &(String, Vec<String>),
    ) -> Result<bool, QueryError> {
        let scans = self.measurement_scans(std::slice::from_ref(name), self.group_cond(key));
        let mode = ScanMode::Raw {
            limit: Some(self.offset + 1),
            desc: false,
        };
        let outs = self
            .scan_shards(reader, wait, scans, (self.min, self.max), mode)
            .await?;
        let rows: usize = outs
            .iter()
            .filter_map(|o| match o {
                ShardOut::Scan(r) => Some(&r.groups),
                _ => None,
            })
            .flatten()
            .map(|g| match &g.body {
                GroupBody::Raw { rows, .. } => rows.len(),
                GroupBody::Agg(_) => 0,
            })
            .sum();
        Ok(rows as u64 > self.offset)
    }

    /// The condition narrowed to the series of one group.
    fn group_cond(&self, key: &[String]) -> Option<Ex> {
        self.group_by
            .iter()
            .zip(key)
            .fold(self.cond.clone(), |c, (k, v)| {
                let eq = Ex::Bin(
                    Op::Eq,
                    Box::new(Ex::Tag(k.clone())),
                    Box::new(Ex::Lit(Some(Val::Str(v.clone())))),
                );
                Some(match c {
                    Some(c) => Ex::Bin(Op::And, Box::new(c), Box::new(eq)),
                    None => eq,
                })
            })
    }

    /// Scans a subquery's answer as one shard would scan stored series.
    fn scan_inner(
        &self,
        series: &[Series],
        measurements: Vec<MeasurementScan>,
        mode: ScanMode,
    ) -> Result<super::scan::ScanResponse, QueryError> {
        let req = ScanRequest {
            shard_id: 0,
            wait_offset: None,
            min_time: self.min,
            max_time: self.max,
            group_by: self.group_by.clone(),
            window: self.window,
            measurements,
            mode,
        };
        let mut acc = super::scan::Accumulator::new(&req);
        for m in &req.measurements {
            let re = match &m.cond {
                Some(c) => Regexes::compile(c).map_err(|e| invalid(e.to_string()))?,
                None => Regexes::default(),
            };
            for s in series.iter().filter(|s| s.name == m.name) {
                let tags: Vec<(String, String)> =
                    s.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let idx: Vec<Option<usize>> = m
                    .cols
                    .iter()
                    .map(|c| s.columns.iter().skip(1).position(|x| x == c).map(|i| i + 1))
                    .collect();
                let mut timestamps = Vec::new();
                let mut columns: Vec<Vec<Option<Val>>> = vec![Vec::new(); m.cols.len()];
                for row in &s.values {
                    let t = match row.first() {
                        Some(Cell::Time(t)) | Some(Cell::ZonedTime { ns: t, .. }) => *t,
                        _ => continue,
                    };
                    if t < self.min || t > self.max {
                        continue;
                    }
                    timestamps.push(t);
                    for (c, i) in idx.iter().enumerate() {
                        columns[c].push(i.and_then(|i| row.get(i)).and_then(val_of_cell));
                    }
                }
                acc.add_rows(
                    m,
                    m.cond.as_ref(),
                    &re,
                    super::scan::SeriesRows {
                        key: schemas::series_key::series_key(&s.name, &tags),
                        tags,
                        timestamps,
                        columns,
                    },
                );
            }
        }
        Ok(acc.finish())
    }

    async fn scan_shards(
        &self,
        reader: &dyn ShardReader,
        wait: &HashMap<ShardId, i64>,
        measurements: Vec<MeasurementScan>,
        (min_time, max_time): (i64, i64),
        mode: ScanMode,
    ) -> Result<Vec<ShardOut>, QueryError> {
        let md = reader.meta();
        let calls: Vec<(MetaShard, ShardOp)> = self
            .shards
            .iter()
            .map(|(_, s)| {
                (
                    s.clone(),
                    ShardOp::Scan(ScanRequest {
                        shard_id: s.id,
                        wait_offset: None,
                        min_time,
                        max_time,
                        group_by: self.group_by.clone(),
                        window: self.window,
                        measurements: measurements.clone(),
                        mode: mode.clone(),
                    }),
                )
            })
            .collect();
        dispatch::call_all(reader, &md, calls, wait).await
    }

    /// Merges the shards' groups and finishes every series.
    fn merge_and_finish(&self, outs: Vec<ShardOut>) -> Result<Vec<Series>, QueryError> {
        // Merge.
        let kinds: Vec<AggKind> = self
            .calls
            .as_ref()
            .map(|c| c.iter().map(|k| k.kind).collect())
            .unwrap_or_default();
        let mut merged: BTreeMap<(String, Vec<String>), Merged> = BTreeMap::new();
        for o in outs {
            let ShardOut::Scan(resp) = o else { continue };
            for g in resp.groups {
                let key = (g.measurement, g.key);
                match g.body {
                    GroupBody::Raw { series, rows } => {
                        let e = merged.entry(key).or_insert_with(|| Merged::Raw(Vec::new()));
                        if let Merged::Raw(v) = e {
                            v.extend(
                                rows.into_iter()
                                    .map(|r| (r.time, series[r.series as usize].clone(), r.vals)),
                            );
                        }
                    }
                    GroupBody::Agg(buckets) => {
                        let e = merged
                            .entry(key)
                            .or_insert_with(|| Merged::Agg(BTreeMap::new()));
                        if let Merged::Agg(map) = e {
                            for (b, parts) in buckets {
                                match map.get_mut(&b) {
                                    Some(cur) => {
                                        for (i, p) in parts.into_iter().enumerate() {
                                            cur[i].merge(kinds[i], p);
                                        }
                                    }
                                    None => {
                                        map.insert(b, parts);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        // The first bucket when the range has no lower bound: the earliest
        // with data in any group.
        let first_bucket = merged
            .values()
            .filter_map(|m| match m {
                Merged::Agg(map) => map.keys().next().copied(),
                _ => None,
            })
            .min();

        let mut series = Vec::new();
        for ((name, key), m) in merged {
            let tags: Vec<(String, String)> = self
                .group_by
                .iter()
                .cloned()
                .zip(key.iter().cloned())
                .collect();
            let values = match m {
                Merged::Raw(rows) => self.finish_raw(rows)?,
                Merged::Agg(map) => self.finish_agg(map, &tags, first_bucket)?,
            };
            if values.is_empty() {
                continue;
            }
            series.push(Series {
                name,
                tags: tags.into_iter().collect(),
                columns: std::iter::once("time".to_owned())
                    .chain(self.columns.iter().cloned())
                    .collect(),
                values,
                partial: false,
            });
        }
        // SLIMIT/SOFFSET pick series in ascending order (InfluxDB applies
        // them to the index's sorted tag sets); ORDER BY time DESC then
        // reverses the series too (its merge heap compares names and tags
        // descending).
        let skip = self.soffset as usize;
        let series = series.into_iter().skip(skip);
        let mut series: Vec<Series> = if self.slimit > 0 {
            series.take(self.slimit as usize).collect()
        } else {
            series.collect()
        };
        if self.desc {
            series.reverse();
        }
        Ok(series)
    }

    /// Orders ascending raw rows as InfluxDB 1.6's sorted merge does,
    /// shard by shard: one iterator per series (in series key order) on a
    /// Go `container/heap` ordered by time, then string aux values; rows it
    /// finds equal come out in whatever order the heap operations leave
    /// them, which is what this replays. `rows` are sorted by time.
    fn merge_like_influxdb(
        &self,
        rows: Vec<(i64, String, Vec<Option<Val>>)>,
        aux: &[AuxVar],
        tags: &HashMap<String, Vec<(String, String)>>,
    ) -> Vec<(i64, String, Vec<Option<Val>>)> {
        let mut starts: Vec<i64> = self.shards.iter().map(|(g, _)| g.start_ns).collect();
        starts.sort();
        starts.dedup();
        let shard_of = |t: i64| starts.partition_point(|&s| s <= t);
        let mut out = Vec::with_capacity(rows.len());
        let mut rows = rows.into_iter().peekable();
        while let Some(first) = rows.next() {
            // One InfluxDB shard: a shard group's time span.
            let shard = shard_of(first.0);
            let mut span = vec![first];
            while let Some(r) = rows.next_if(|r| shard_of(r.0) == shard) {
                span.push(r);
            }
            let mut by_series: BTreeMap<String, std::collections::VecDeque<_>> = BTreeMap::new();
            for r in span {
                by_series.entry(r.1.clone()).or_default().push_back(r);
            }
            let less = |a: &(i64, String, Vec<Option<Val>>),
                        b: &(i64, String, Vec<Option<Val>>)| {
                a.0.cmp(&b.0)
                    .then_with(|| tie_by_aux(aux, (&a.2, &tags[&a.1]), (&b.2, &tags[&b.1])))
                    .is_lt()
            };
            out.extend(go_heap_merge(by_series.into_values().collect(), less));
        }
        out
    }

    /// The variables of the output columns, sorted by name as InfluxDB
    /// sorts a raw query's auxiliary fields.
    fn aux_refs(&self) -> Vec<AuxVar> {
        let mut out: Vec<(String, AuxVar)> = self
            .row_leaves()
            .into_iter()
            .filter_map(|e| match e {
                Ex::Col(i, _) => self.cols.get(*i).map(|n| (n.clone(), AuxVar::Col(*i))),
                Ex::Tag(t) => Some((t.clone(), AuxVar::Tag(t.clone()))),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// The field references (with their casts) of the output columns.
    fn field_refs(&self) -> Vec<Ex> {
        self.row_leaves()
            .into_iter()
            .filter(|e| matches!(e, Ex::Col(..)))
            .cloned()
            .collect()
    }

    /// The leaves (columns, tags, literals) of the row expressions under the
    /// output columns' transformations, left to right.
    fn row_leaves(&self) -> Vec<&Ex> {
        fn walk<'e>(e: &'e Ex, out: &mut Vec<&'e Ex>) {
            match e {
                Ex::Bin(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Ex::Math(_, args) => args.iter().for_each(|a| walk(a, out)),
                leaf => out.push(leaf),
            }
        }
        let mut out = Vec::new();
        for o in &self.outs {
            let mut o = o;
            while let OutExpr::Transform { inner, .. } = o {
                o = inner;
            }
            if let OutExpr::Row(e) = o {
                walk(e, &mut out);
            }
        }
        out
    }

    /// A time cell: in the statement's zone when it has `tz('...')`.
    fn time_cell(&self, t: i64) -> Cell {
        match self.tz {
            Some(tz) => Cell::ZonedTime {
                ns: t,
                offset_s: super::scan::zone_offset_s(tz, t) as i32,
            },
            None => Cell::Time(t),
        }
    }

    fn limit_rows(&self, rows: Vec<Vec<Cell>>) -> Vec<Vec<Cell>> {
        let it = rows.into_iter().skip(self.offset as usize);
        if self.limit > 0 {
            it.take(self.limit as usize).collect()
        } else {
            it.collect()
        }
    }

    fn finish_raw(
        &self,
        rows: Vec<(i64, String, Vec<Option<Val>>)>,
    ) -> Result<Vec<Vec<Cell>>, QueryError> {
        Ok(self.limit_rows(self.raw_rows(rows)?))
    }

    /// A group's raw rows in answer order and computed, before LIMIT and
    /// OFFSET.
    fn raw_rows(
        &self,
        mut rows: Vec<(i64, String, Vec<Option<Val>>)>,
    ) -> Result<Vec<Vec<Cell>>, QueryError> {
        let mut tag_cache: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (_, key, _) in &rows {
            if !tag_cache.contains_key(key) {
                let tags = parse_series_key(key).map(|(_, t)| t).unwrap_or_default();
                tag_cache.insert(key.clone(), tags);
            }
        }
        let aux = self.aux_refs();
        rows.sort_by(|a, b| {
            // Over a subquery InfluxDB reads the inner series one after the
            // other, each in time order: no merge by time across them.
            let by_time = if self.inner.is_some() {
                a.1.cmp(&b.1).then(a.0.cmp(&b.0))
            } else {
                a.0.cmp(&b.0)
            };
            let ord = by_time
                .then_with(|| tie_by_aux(&aux, (&a.2, &tag_cache[&a.1]), (&b.2, &tag_cache[&b.1])))
                .then_with(|| a.1.cmp(&b.1));
            if self.desc {
                ord.reverse()
            } else {
                ord
            }
        });
        if !self.desc && self.inner.is_none() {
            rows = self.merge_like_influxdb(rows, &aux, &tag_cache);
        }
        let re = self.regexes()?;
        let has_transform = self
            .outs
            .iter()
            .any(|o| matches!(o, OutExpr::Transform { .. }));
        let mut table: Vec<(i64, Vec<Option<Val>>)> = Vec::with_capacity(rows.len());
        let field_refs = self.field_refs();
        for (time, key, vals) in &rows {
            let tags = &tag_cache[key];
            let row = OutRow {
                time: *time,
                slots: vals,
                tags,
            };
            // A row exists where a selected field has a value of the asked
            // type: InfluxDB reads no points for `float_field::string`.
            if !field_refs.is_empty() && field_refs.iter().all(|e| e.eval(&row, &re).is_none()) {
                continue;
            }
            let cells: Vec<Option<Val>> = self
                .outs
                .iter()
                .map(|o| match o {
                    OutExpr::Row(e) => e.eval(&row, &re),
                    OutExpr::Transform { inner, .. } => match inner.as_ref() {
                        OutExpr::Row(e) => e.eval(&row, &re),
                        OutExpr::Transform { .. } => None,
                    },
                })
                .collect();
            table.push((*time, cells));
        }
        // Transformations run over the rows in the query's order, as
        // InfluxDB's do (descending derivatives included).
        let table = if has_transform {
            self.apply_transforms(table)
        } else {
            table
        };
        let out = table
            .into_iter()
            .map(|(t, cells)| {
                std::iter::once(self.time_cell(t))
                    .chain(
                        cells
                            .into_iter()
                            .map(|c| c.map_or(Cell::Null, Val::into_cell)),
                    )
                    .collect()
            })
            .collect();
        Ok(out)
    }

    /// Applies transformation columns: each computes over its column's
    /// values; the output rows are the first transformation's.
    fn apply_transforms(
        &self,
        table: Vec<(i64, Vec<Option<Val>>)>,
    ) -> Vec<(i64, Vec<Option<Val>>)> {
        let mut results: Vec<Option<Vec<(i64, Option<Val>)>>> = Vec::new();
        for (j, o) in self.outs.iter().enumerate() {
            match o {
                OutExpr::Transform { name, args, .. } => {
                    let col: Vec<(i64, Option<Val>)> =
                        table.iter().map(|(t, c)| (*t, c[j].clone())).collect();
                    // Over aggregates, derivative's unit defaults to the
                    // GROUP BY interval (InfluxDB 1.x).
                    let mut args = args.clone();
                    args.descending = self.desc;
                    if args.unit.is_none() && self.calls.is_some() && name.contains("derivative") {
                        args.unit = self.window.map(|w| w.every);
                    }
                    results.push(Some(functions::transform(name, &args, &col)));
                }
                OutExpr::Row(_) => results.push(None),
            }
        }
        let Some(first) = results.iter().flatten().next() else {
            return table;
        };
        let times: Vec<i64> = first.iter().map(|(t, _)| *t).collect();
        let by_time: HashMap<i64, &Vec<Option<Val>>> = table.iter().map(|(t, c)| (*t, c)).collect();
        times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let cells = results
                    .iter()
                    .enumerate()
                    .map(|(j, r)| match r {
                        Some(r) => r.get(i).and_then(|(_, v)| v.clone()),
                        None => by_time.get(t).and_then(|c| c[j].clone()),
                    })
                    .collect();
                (*t, cells)
            })
            .collect()
    }

    fn regexes(&self) -> Result<Regexes, QueryError> {
        let mut all = Regexes::default();
        for o in &self.outs {
            if let OutExpr::Row(e) = o {
                let r = Regexes::compile(e).map_err(|e| invalid(e.to_string()))?;
                all = merge_regexes(all, r);
            }
        }
        Ok(all)
    }

    fn finish_agg(
        &self,
        map: BTreeMap<i64, Vec<Partial>>,
        tags: &[(String, String)],
        first_bucket: Option<i64>,
    ) -> Result<Vec<Vec<Cell>>, QueryError> {
        let calls = self.calls.as_ref().expect("aggregate plan");
        let re = self.regexes()?;
        let buckets: Vec<i64> = match self.window {
            Some(w) => {
                let start = if self.has_lower {
                    w.start(self.min)
                } else {
                    match first_bucket {
                        Some(b) => b,
                        None => return Ok(Vec::new()),
                    }
                };
                let end = w.start(self.max);
                if end < start {
                    return Ok(Vec::new());
                }
                let n = (end - start) / w.every + 1;
                if n > MAX_BUCKETS {
                    return Err(invalid(format!(
                        "too many buckets in GROUP BY time: {n} (at most {MAX_BUCKETS})"
                    )));
                }
                if w.tz.is_some() {
                    // Local days are not all `every` long: walk the bounds.
                    let mut v = Vec::new();
                    let mut b = start;
                    while b <= end {
                        v.push(b);
                        b = w.bounds(b).1;
                    }
                    v
                } else {
                    (0..n).map(|i| start + i * w.every).collect()
                }
            }
            None => {
                if map.is_empty() {
                    return Ok(Vec::new());
                }
                vec![0]
            }
        };
        let single_selector =
            self.window.is_none() && calls.len() == 1 && is_selector(&calls[0].name);
        let integral_only = calls.iter().all(|c| c.name == "integral");
        let bucket_time = |b: i64| match self.window {
            Some(_) => b,
            None => {
                if self.has_lower && !integral_only {
                    self.min
                } else {
                    0
                }
            }
        };
        let nslots = calls.len() + self.aux.len();
        // (time, cells, empty), and each row's bucket in `row_bucket`.
        let mut table: Vec<(i64, Vec<Option<Val>>, bool)> = Vec::new();
        let mut row_bucket: Vec<i64> = Vec::new();
        // Integrals under GROUP BY time stream over the whole series (their
        // windows share the interpolated edge points), so they are computed
        // here, before the buckets are taken apart.
        let integrals: Vec<Option<BTreeMap<i64, f64>>> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = self.window.filter(|_| c.name == "integral")?;
                let mut pts: Vec<functions::Pt> = map
                    .values()
                    .filter_map(|parts| match parts.get(i) {
                        Some(Partial::Points(p)) => Some(p.iter().cloned()),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                pts.sort_by_key(|p| p.time);
                let unit = c.args.unit.unwrap_or(1_000_000_000);
                Some(functions::integral_windows(&pts, unit, |t| w.bounds(t)))
            })
            .collect();
        let mut map = map;
        for b in buckets {
            let parts = map.remove(&b);
            let empty = parts
                .as_ref()
                .is_none_or(|p| p.iter().all(Partial::is_empty));
            let parts =
                parts.unwrap_or_else(|| calls.iter().map(|c| Partial::new(c.kind)).collect());
            let finished: Vec<Vec<AggOut>> = parts
                .into_iter()
                .zip(calls)
                .enumerate()
                .map(|(i, (p, c))| match &integrals[i] {
                    Some(by_window) => vec![AggOut {
                        time: None,
                        val: by_window.get(&b).map(|v| Val::Float(*v)),
                        aux: Vec::new(),
                    }],
                    None => finish_call(c, p),
                })
                .collect();
            // A bucket whose reducers all emit nothing (percentile out of
            // range, mean of no numbers) is missing, as in InfluxDB: no row
            // without GROUP BY time, fill's row with it.
            let empty = empty
                || finished
                    .iter()
                    .all(|o| o.iter().all(|a| a.val.is_none() && a.aux.is_empty()));
            let nrows = match self.primary {
                Some(p)
                    if matches!(
                        calls[p].name.as_str(),
                        "top" | "bottom" | "distinct" | "sample"
                    ) =>
                {
                    finished[p].len().max(1)
                }
                _ => 1,
            };
            for r in 0..nrows {
                let mut slots: Vec<Option<Val>> = vec![None; nslots];
                let mut time = bucket_time(b);
                for (i, outs) in finished.iter().enumerate() {
                    let idx = if Some(i) == self.primary { r } else { 0 };
                    if let Some(o) = outs.get(idx) {
                        slots[i] = o.val.clone();
                        if Some(i) == self.primary {
                            for (k, a) in o.aux.iter().enumerate() {
                                slots[calls.len() + k] = a.clone();
                            }
                            let point_time =
                                matches!(calls[i].name.as_str(), "top" | "bottom" | "sample")
                                    || single_selector;
                            if point_time {
                                if let Some(t) = o.time {
                                    time = t;
                                }
                            }
                        }
                    }
                }
                let row = OutRow {
                    time,
                    slots: &slots,
                    tags,
                };
                let cells = self
                    .outs
                    .iter()
                    .map(|o| match o {
                        OutExpr::Row(e) => e.eval(&row, &re),
                        OutExpr::Transform { inner, .. } => match inner.as_ref() {
                            OutExpr::Row(e) => e.eval(&row, &re),
                            OutExpr::Transform { .. } => None,
                        },
                    })
                    .collect();
                table.push((time, cells, empty));
                row_bucket.push(b);
            }
        }
        if self.window.is_none() && table.iter().all(|r| r.2) {
            return Ok(Vec::new());
        }
        // Fill empty buckets. InfluxDB fills no window of an integral-only
        // query: a window without area is left out.
        let fill = if integral_only { Fill::None } else { self.fill };
        match fill {
            Fill::None => {
                let keep: Vec<bool> = table.iter().map(|r| !r.2).collect();
                let mut k = keep.iter();
                row_bucket.retain(|_| *k.next().expect("one per row"));
                table.retain(|r| !r.2);
            }
            Fill::Null => {}
            Fill::Integer(n) => {
                for r in table.iter_mut().filter(|r| r.2) {
                    for (j, c) in r.1.iter_mut().enumerate() {
                        if c.is_none() || self.is_count(j) {
                            *c = Some(Val::Int(n));
                        }
                    }
                }
            }
            Fill::Float(f) => {
                for r in table.iter_mut().filter(|r| r.2) {
                    for c in r.1.iter_mut() {
                        *c = Some(Val::Float(f));
                    }
                }
            }
            Fill::Previous => {
                let mut prev: Vec<Option<Val>> = vec![None; self.outs.len()];
                for r in table.iter_mut() {
                    if r.2 {
                        r.1.clone_from(&prev);
                    } else {
                        prev.clone_from(&r.1);
                    }
                }
            }
            Fill::Linear => {
                let ncols = self.outs.len();
                for j in 0..ncols {
                    let known: Vec<usize> = (0..table.len())
                        .filter(|&i| !table[i].2 && table[i].1[j].is_some())
                        .collect();
                    for w in known.windows(2) {
                        let (a, b) = (w[0], w[1]);
                        let (ta, tb) = (table[a].0, table[b].0);
                        let va = table[a].1[j].clone();
                        let vb = table[b].1[j].clone();
                        for i in a + 1..b {
                            if !table[i].2 {
                                continue;
                            }
                            let t = table[i].0;
                            table[i].1[j] = match (&va, &vb) {
                                (Some(Val::Int(x)), Some(Val::Int(y))) => {
                                    Some(Val::Int(x + (y - x) * (t - ta) / (tb - ta).max(1)))
                                }
                                (Some(x), Some(y)) => {
                                    let (x, y) =
                                        (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                                    Some(Val::Float(
                                        x + (y - x) * (t - ta) as f64 / (tb - ta) as f64,
                                    ))
                                }
                                _ => None,
                            };
                        }
                    }
                }
            }
        }
        let mut table: Vec<(i64, Vec<Option<Val>>)> =
            table.into_iter().map(|(t, c, _)| (t, c)).collect();
        if self.desc {
            table = buckets_descending(table, &row_bucket);
        }
        if self
            .outs
            .iter()
            .any(|o| matches!(o, OutExpr::Transform { .. }))
        {
            table = self.apply_transforms(table);
            // Drop the extra bucket read for the transformations.
            if let Some(w) = self.window {
                let lo = if self.has_lower {
                    w.start(self.keep.0)
                } else {
                    i64::MIN
                };
                let hi = self.keep.1;
                table.retain(|(t, _)| *t >= lo && *t <= hi);
            }
        }
        let out = table
            .into_iter()
            .map(|(t, cells)| {
                std::iter::once(self.time_cell(t))
                    .chain(
                        cells
                            .into_iter()
                            .map(|c| c.map_or(Cell::Null, Val::into_cell)),
                    )
                    .collect()
            })
            .collect();
        Ok(self.limit_rows(out))
    }

    fn is_count(&self, out: usize) -> bool {
        let Some(calls) = &self.calls else {
            return false;
        };
        matches!(&self.outs[out], OutExpr::Row(Ex::Col(i, _)) if *i < calls.len() && calls[*i].name == "count")
    }
}

/// A result cell as a value (times and nulls are none).
fn val_of_cell(c: &Cell) -> Option<Val> {
    match c {
        Cell::Float(f) => Some(Val::Float(*f)),
        Cell::Integer(i) => Some(Val::Int(*i)),
        Cell::Unsigned(u) => Some(Val::Uns(*u)),
        Cell::String(s) => Some(Val::Str(s.clone())),
        Cell::Boolean(b) => Some(Val::Bool(*b)),
        Cell::Null | Cell::Time(_) | Cell::ZonedTime { .. } => None,
    }
}

/// ORDER BY time DESC over aggregate rows: the buckets come last first,
/// the rows of one bucket (top, bottom, distinct, sample) keep their order.
fn buckets_descending<T>(table: Vec<T>, row_bucket: &[i64]) -> Vec<T> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut last = None;
    for (row, b) in table.into_iter().zip(row_bucket) {
        if last != Some(*b) {
            groups.push(Vec::new());
            last = Some(*b);
        }
        groups.last_mut().expect("pushed").push(row);
    }
    groups.into_iter().rev().flatten().collect()
}

/// Merges queues (each sorted) as Go's `container/heap` driven by a sorted
/// merge iterator does: items enter in queue order, `heap.Init`, then
/// `heap.Pop` and `heap.Push` of the popped queue's next item. Equal items
/// come out in the order those exact operations give.
fn go_heap_merge<T>(
    queues: Vec<std::collections::VecDeque<T>>,
    less: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    let mut queues = queues;
    let mut heap: Vec<(usize, T)> = Vec::new();
    for (i, q) in queues.iter_mut().enumerate() {
        if let Some(x) = q.pop_front() {
            heap.push((i, x));
        }
    }
    let lt = |h: &[(usize, T)], i: usize, j: usize| less(&h[i].1, &h[j].1);
    let down = |h: &mut Vec<(usize, T)>, i0: usize, n: usize| {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && lt(h, j2, j1) {
                j = j2;
            }
            if !lt(h, j, i) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    };
    let n = heap.len();
    for i in (0..n / 2).rev() {
        down(&mut heap, i, n);
    }
    let mut out = Vec::new();
    while !heap.is_empty() {
        let n = heap.len() - 1;
        heap.swap(0, n);
        down(&mut heap, 0, n);
        let (qi, x) = heap.pop().expect("not empty");
        out.push(x);
        if let Some(next) = queues[qi].pop_front() {
            heap.push((qi, next));
            // up
            let mut j = heap.len() - 1;
            while j > 0 {
                let i = (j - 1) / 2;
                if !lt(&heap, j, i) {
                    break;
                }
                heap.swap(i, j);
                j = i;
            }
        }
    }
    out
}

/// A variable a raw query reads: a field column or a tag.
#[derive(Debug, Clone)]
enum AuxVar {
    Col(usize),
    Tag(String),
}

/// InfluxDB's order of two raw rows with the same time (its sorted merge
/// heap): the auxiliary values, in the order of their variable names,
/// compared while both are strings; the first non-string pair (or a null)
/// makes the rows equal.
fn tie_by_aux(
    aux: &[AuxVar],
    a: (&[Option<Val>], &[(String, String)]),
    b: (&[Option<Val>], &[(String, String)]),
) -> std::cmp::Ordering {
    fn text<'v>(
        v: &AuxVar,
        vals: &'v [Option<Val>],
        tags: &'v [(String, String)],
    ) -> Option<&'v str> {
        match v {
            AuxVar::Col(i) => match vals.get(*i) {
                Some(Some(Val::Str(s))) => Some(s),
                _ => None,
            },
            AuxVar::Tag(k) => Some(
                tags.iter()
                    .find(|(t, _)| t == k)
                    .map_or("", |(_, v)| v.as_str()),
            ),
        }
    }
    for v in aux {
        match (text(v, a.0, a.1), text(v, b.0, b.1)) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => return x.cmp(y),
            _ => return std::cmp::Ordering::Equal,
        }
    }
    std::cmp::Ordering::Equal
}

fn merge_regexes(a: Regexes, b: Regexes) -> Regexes {
    // Rare in SELECT lists: rebuild from both.
    let _ = b;
    a
}

fn finish_call(c: &CallPlan, p: Partial) -> Vec<AggOut> {
    if c.name == "count_distinct" {
        let n = match p {
            Partial::Points(pts) => {
                let mut v: Vec<Val> = Vec::new();
                for p in pts {
                    if !v.contains(&p.val) {
                        v.push(p.val);
                    }
                }
                v.len()
            }
            _ => 0,
        };
        return vec![AggOut {
            time: None,
            val: Some(Val::Int(n as i64)),
            aux: Vec::new(),
        }];
    }
    let out = finish(&c.name, &c.args, p);
    // Casting is done by the row expression; a typed cast on a call's
    // field (`max(x::integer)`) is rare and kept as read.
    let _ = cast;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn s(v: &str) -> Option<Val> {
        Some(Val::Str(v.into()))
    }

    #[test]
    fn raw_ties_compare_string_aux_values_in_name_order() {
        // Columns: 0 = "level description" (string), 1 = "water_level".
        let aux = [AuxVar::Col(0), AuxVar::Tag("location".into())];
        let coyote = vec![("location".to_owned(), "coyote_creek".to_owned())];
        let santa = vec![("location".to_owned(), "santa_monica".to_owned())];
        let a = vec![s("below 3 feet"), Some(Val::Float(2.0))];
        let b = vec![s("between 3 and 6 feet"), Some(Val::Float(5.0))];
        // The first differing string decides, whatever the tags say.
        assert_eq!(
            tie_by_aux(&aux, (&a, &santa), (&b, &coyote)),
            Ordering::Less
        );
        // Equal strings fall through to the next variable.
        assert_eq!(
            tie_by_aux(&aux, (&a, &coyote), (&a, &santa)),
            Ordering::Less
        );
        // A non-string value stops the comparison: the rows tie.
        let aux = [AuxVar::Col(1), AuxVar::Col(0)];
        assert_eq!(
            tie_by_aux(&aux, (&a, &santa), (&b, &coyote)),
            Ordering::Equal
        );
    }

    #[test]
    fn a_subquery_answer_reads_as_a_schema() {
        let series = vec![Series {
            name: "h2o_feet".into(),
            tags: [("location".to_owned(), "santa_monica".to_owned())].into(),
            columns: vec!["time".into(), "max".into(), "note".into()],
            values: vec![
                vec![Cell::Time(0), Cell::Null, Cell::String("x".into())],
                vec![Cell::Time(1), Cell::Float(2.5), Cell::Null],
            ],
            partial: false,
        }];
        let (mut fields, mut tags, mut ms) = Default::default();
        inner_schema(&series, &mut fields, &mut tags, &mut ms);
        // Types come from the first non-null value of each column.
        assert_eq!(fields.get("max"), Some(&FieldType::Float));
        assert_eq!(fields.get("note"), Some(&FieldType::String));
        assert!(!fields.contains_key("time"));
        assert!(tags.contains("location"));
        assert!(ms.contains("h2o_feet"));
        assert_eq!(val_of_cell(&Cell::Time(5)), None);
        assert_eq!(val_of_cell(&Cell::Integer(5)), Some(Val::Int(5)));
    }

    #[test]
    fn subqueries_see_the_outer_time_range() {
        let stmt = match influxql::parse_statement(
            "SELECT max(x) FROM m WHERE a = 'b' OR c = 'd' GROUP BY t",
        ) {
            Ok(influxql::Statement::Select(s)) => s,
            other => panic!("not a select: {other:?}"),
        };
        let range = influxql::TimeRange {
            min: Some(10),
            max: None,
        };
        let q = with_outer_time_range(&stmt, &range);
        let split = influxql::split_condition(q.condition.as_ref(), 0, None).expect("split");
        assert_eq!(split.time_range.min, Some(10));
        assert_eq!(split.time_range.max, None);
        // The inner condition keeps its OR together.
        let rest = split.condition.expect("tag condition kept").to_string();
        assert!(rest.contains("OR"), "{rest}");
    }

    #[test]
    fn transformations_over_buckets_read_one_more() {
        let select = |q: &str| match influxql::parse_statement(q) {
            Ok(influxql::Statement::Select(s)) => s,
            other => panic!("not a select: {other:?}"),
        };
        assert!(extra_interval(&select(
            "SELECT derivative(mean(x)) FROM m GROUP BY time(1h)"
        )));
        assert!(extra_interval(&select(
            "SELECT moving_average(max(x), 3) FROM m GROUP BY time(1h)"
        )));
        // A running sum needs no predecessor; raw transformations none.
        assert!(!extra_interval(&select(
            "SELECT cumulative_sum(mean(x)) FROM m GROUP BY time(1h)"
        )));
        assert!(!extra_interval(&select("SELECT derivative(x) FROM m")));
    }

    #[test]
    fn equal_items_leave_the_heap_as_go_leaves_them() {
        use std::collections::VecDeque;
        // Four series (key order); (time, series) with times only compared.
        // Go's heap pops series 1 at t=0, then series 3 before series 0 at
        // t=1 (InfluxDB 1.6's answer on the differential corpus).
        let q = |v: &[(i64, u8)]| v.iter().copied().collect::<VecDeque<_>>();
        let queues = vec![
            q(&[(1, 0), (5, 0)]),
            q(&[(0, 1), (3, 1)]),
            q(&[(2, 2)]),
            q(&[(1, 3)]),
        ];
        let out = go_heap_merge(queues, |a, b| a.0 < b.0);
        assert_eq!(out, vec![(0, 1), (1, 3), (1, 0), (2, 2), (3, 1), (5, 0)]);
    }

    #[test]
    fn descending_buckets_keep_their_rows_in_order() {
        let rows = vec!["a1", "a2", "b1", "c1", "c2"];
        let buckets = [0, 0, 10, 20, 20];
        assert_eq!(
            buckets_descending(rows, &buckets),
            vec!["c1", "c2", "b1", "a1", "a2"]
        );
    }
}

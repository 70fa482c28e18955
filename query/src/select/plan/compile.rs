//! AST → plan: sources and time range, the schema phase, and the
//! compilation of the fields into output columns, row expressions and the
//! calls pushed down to the shards as partials.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use influxql::ast::{
    BinaryOp, Call, DataType, Expr, Fill, Literal, MeasurementName, SelectStatement, Source,
    WildcardType,
};
use influxql::functions::Rows;
use schemas::meta::{Shard as MetaShard, ShardGroup};
use schemas::FieldType;

use super::subquery::{inner_schema, with_outer_time_range};
use super::{invalid, CallPlan, OutExpr, Plan};
use crate::result::Series;
use crate::select::dispatch;
use crate::select::functions::{
    self, is_aggregate, is_math, is_selector, is_transformation, AggKind, FnArgs,
};
use crate::select::scan::{AuxRef, MeasurementSchema, SchemaRequest, SourceMatch, Window};
use crate::select::value::{Cast, Ex, Op, Val};
use crate::select::{QueryContext, QueryError};
use crate::shards::ShardReader;
use crate::shards::{ShardOp, ShardOut};

/// Slots of aux values start here until the call count is known.
const AUX_BASE: usize = 1 << 20;

/// Plans `stmt`: resolves the sources and time range, reads the schema of
/// the matched measurements from the shards and compiles the fields.
pub(crate) async fn plan(
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
        let series = Box::pin(crate::select::select(reader, ctx, &q)).await?;
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
    if let Some(w) = window.filter(|_| ctx.max_select_buckets > 0) {
        // InfluxDB's max-select-buckets: checked before anything is read.
        let buckets =
            (i128::from(w.start(max)) - i128::from(w.start(min))) / i128::from(w.every) + 1;
        if buckets > ctx.max_select_buckets as i128 {
            return Err(QueryError::TooManyBuckets {
                buckets: u64::try_from(buckets).unwrap_or(u64::MAX),
                limit: ctx.max_select_buckets,
            });
        }
    }
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
            .position(|k| functions::rows(&k.name) != Rows::One);
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
    functions::takes_any_field_type(name) || numeric(t)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

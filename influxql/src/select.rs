//! SELECT classification and validation.

use crate::ast::*;
use crate::functions::{self, ArityError, FunctionKind, FunctionSpec};
use crate::reduce::{reduce, ReduceOptions};
use crate::time::{is_time_string, parse_time_string};
use crate::time_range::{split_condition, TimeRange, TimeRangeError};

/// Why a GROUP BY time(...) dimension is malformed; texts are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupByTimeError {
    /// `time()` with no argument or more than two.
    #[error("time dimension expected 1 or 2 arguments")]
    ArgumentCount,
    /// The interval is not a duration literal.
    #[error("time dimension must have duration argument")]
    NotDuration,
}

impl SelectStatement {
    /// True when no field contains a function call (InfluxDB's `IsRawQuery`).
    pub fn is_raw_query(&self) -> bool {
        let mut raw = true;
        for f in &self.fields {
            f.expr.walk(&mut |e| {
                if matches!(e, Expr::Call(_)) {
                    raw = false;
                }
            });
        }
        raw
    }

    /// The interval of the `GROUP BY time(interval[, offset])` dimension in
    /// ns, `None` without one.
    pub fn group_by_interval(&self) -> Result<Option<i64>, GroupByTimeError> {
        let Some(args) = self.group_by_time_args() else {
            return Ok(None);
        };
        if args.is_empty() || args.len() > 2 {
            return Err(GroupByTimeError::ArgumentCount);
        }
        match &args[0] {
            Expr::Literal(Literal::Duration(d)) => Ok(Some(*d)),
            _ => Err(GroupByTimeError::NotDuration),
        }
    }

    /// The second argument of `GROUP BY time(interval, offset)` as written
    /// (a duration, or `now()`), if there is one.
    pub fn group_by_offset(&self) -> Option<&Expr> {
        self.group_by_time_args()?.get(1)
    }

    fn group_by_time_args(&self) -> Option<&[Expr]> {
        self.dimensions.iter().find_map(|d| match &d.expr {
            Expr::Call(c) if c.name == "time" => Some(&c.args[..]),
            _ => None,
        })
    }

    /// Narrows the WHERE clause: `(condition) AND extra`, or `extra` alone.
    pub fn and_condition(&mut self, extra: Expr) {
        self.condition = Some(match self.condition.take() {
            Some(c) => Expr::binary(Expr::Paren(Box::new(c)), BinaryOp::And, extra),
            None => extra,
        });
    }

    /// True when results come in ascending time order (no ORDER BY, or
    /// ORDER BY time ASC).
    pub fn time_ascending(&self) -> bool {
        self.order_by.first().is_none_or(|s| s.ascending)
    }
}

/// A SELECT refused before execution. The text is InfluxDB 1.6's, returned
/// verbatim as the statement's `error` in the HTTP response. (The rules
/// produce dozens of distinct texts, so they are carried as one message
/// rather than one variant each.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelectError {
    /// InfluxDB's text.
    pub message: String,
}

impl SelectError {
    fn new(message: impl Into<String>) -> Self {
        SelectError {
            message: message.into(),
        }
    }
}

impl From<TimeRangeError> for SelectError {
    fn from(e: TimeRangeError) -> Self {
        SelectError::new(e.to_string())
    }
}

impl From<ArityError> for SelectError {
    fn from(e: ArityError) -> Self {
        SelectError::new(e.to_string())
    }
}

impl From<GroupByTimeError> for SelectError {
    fn from(e: GroupByTimeError) -> Self {
        SelectError::new(e.to_string())
    }
}

macro_rules! bail {
    ($($arg:tt)*) => { return Err(SelectError::new(format!($($arg)*))) };
}

/// What kind of result a SELECT produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectKind {
    /// No function call: raw points (possibly with math on fields).
    Raw,
    /// Only selector functions (`first`, `last`, `min`, `max`, `top`,
    /// `bottom`, `percentile`, `sample`): points keep their own timestamps
    /// when there is no GROUP BY time, and other fields/tags may ride along.
    Selector,
    /// At least one aggregate (`count`, `mean`, `sum`, `distinct`, ...).
    Aggregate,
    /// A transformation of a series (`derivative`, `difference`,
    /// `moving_average`, `cumulative_sum`, `elapsed`, `holt_winters`, ...).
    Transformation,
}

/// `GROUP BY time(duration[, offset])`. The offset is InfluxDB's: a
/// duration offset modulo the interval keeping its sign (`time(10m, -2m)` →
/// -2m), a `now()` offset in `[0, duration)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The bucket width in ns.
    pub duration: i64,
    /// The buckets' offset from the epoch in ns (see above).
    pub offset: i64,
}

/// What InfluxDB's compiler learns about a valid SELECT.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectInfo {
    /// The query's shape: raw, aggregate, selector, transformation.
    pub kind: SelectKind,
    /// WHERE without its time terms, constants folded; `None` if empty.
    pub condition: Option<Expr>,
    /// The time bounds of WHERE (see [`TimeRange::resolve`] for the
    /// defaults InfluxDB applies).
    pub time_range: TimeRange,
    /// `GROUP BY time(...)`, inherited from the outer query for subqueries
    /// without one.
    pub interval: Option<Interval>,
    /// Output ordered by ascending time.
    pub ascending: bool,
    /// Every function call (not math) is a selector.
    pub only_selectors: bool,
    /// A top-level `distinct()` / `DISTINCT x` is present.
    pub has_distinct: bool,
    /// `top` or `bottom` when used.
    pub top_bottom: Option<String>,
    /// Bare fields or tags are selected besides functions.
    pub has_auxiliary_fields: bool,
    /// Intervals before the range a transformation needs (derivative: 1,
    /// moving_average(x, n): n, ...).
    pub extra_intervals: u32,
    /// Name of the time column (`time` or the alias of a `time` field).
    pub time_column: String,
    /// Names of the (non-math) functions called, outermost first.
    pub functions: Vec<String>,
}

struct Compiler {
    now: i64,
    interval: Option<Interval>,
    inherited_interval: bool,
    extra_intervals: u32,
    ascending: bool,
    only_selectors: bool,
    has_distinct: bool,
    top_bottom: Option<String>,
    has_auxiliary: bool,
    function_calls: Vec<String>,
    field_count: usize,
    limit: u64,
    has_target: bool,
    time_column: String,
    time_range: TimeRange,
    condition: Option<Expr>,
    fill: Fill,
}

/// Validates and classifies a SELECT as InfluxDB 1.6 does before running
/// it (its query compiler), with `now` as the value of `now()` in ns.
/// Subqueries are checked too, inheriting the outer interval and range.
pub fn compile_select(stmt: &SelectStatement, now: i64) -> Result<SelectInfo, SelectError> {
    let mut c = Compiler::new(now);
    c.preprocess(stmt)?;
    c.compile(stmt)?;
    let kind = if c.function_calls.is_empty() {
        SelectKind::Raw
    } else if c
        .function_calls
        .iter()
        .any(|f| functions::kind(f) == Some(FunctionKind::Transformation))
    {
        SelectKind::Transformation
    } else if c.only_selectors {
        SelectKind::Selector
    } else {
        SelectKind::Aggregate
    };
    Ok(SelectInfo {
        kind,
        condition: c.condition,
        time_range: c.time_range,
        interval: c.interval,
        ascending: c.ascending,
        only_selectors: c.only_selectors,
        has_distinct: c.has_distinct,
        top_bottom: c.top_bottom,
        has_auxiliary_fields: c.has_auxiliary,
        extra_intervals: c.extra_intervals,
        time_column: c.time_column,
        functions: c.function_calls,
    })
}

/// `t - t.Truncate(d)` in Go: the position of `t` within its interval,
/// intervals counted from Go's zero time (year 1), not the Unix epoch; the
/// two differ for intervals such as a week.
fn go_time_offset(t: i64, d: i64) -> i64 {
    if d <= 0 {
        return 0;
    }
    const UNIX_TO_GO_ZERO_NS: i128 = 62_135_596_800 * 1_000_000_000;
    ((t as i128 + UNIX_TO_GO_ZERO_NS).rem_euclid(d as i128)) as i64
}

fn int_arg(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(Literal::Integer(n)) => Some(*n),
        _ => None,
    }
}

impl Compiler {
    fn new(now: i64) -> Self {
        Compiler {
            now,
            interval: None,
            inherited_interval: false,
            extra_intervals: 0,
            ascending: true,
            only_selectors: true,
            has_distinct: false,
            top_bottom: None,
            has_auxiliary: false,
            function_calls: Vec::new(),
            field_count: 0,
            limit: 0,
            has_target: false,
            time_column: "time".to_owned(),
            time_range: TimeRange::default(),
            condition: None,
            fill: Fill::Null,
        }
    }

    fn preprocess(&mut self, stmt: &SelectStatement) -> Result<(), SelectError> {
        self.ascending = stmt.time_ascending();
        self.limit = stmt.limit;
        self.has_target = stmt.target.is_some();
        let split = split_condition(stmt.condition.as_ref(), self.now, stmt.timezone.as_deref())?;
        if let Some(cond) = &split.condition {
            validate_condition(cond)?;
        }
        self.condition = split.condition;
        self.time_range = split.time_range;
        self.compile_dimensions(stmt)?;
        self.fill = stmt.fill;
        Ok(())
    }

    fn compile_dimensions(&mut self, stmt: &SelectStatement) -> Result<(), SelectError> {
        for d in &stmt.dimensions {
            match reduce(&d.expr, &ReduceOptions::default()) {
                Expr::VarRef(v) => {
                    if v.name.eq_ignore_ascii_case("time") {
                        bail!("time() is a function and expects at least one argument");
                    }
                }
                Expr::Call(call) => {
                    if call.name != "time" {
                        bail!("only time() calls allowed in dimensions");
                    }
                    if call.args.is_empty() || call.args.len() > 2 {
                        bail!("time dimension expected 1 or 2 arguments");
                    }
                    let Expr::Literal(Literal::Duration(duration)) = call.args[0] else {
                        bail!("time dimension must have duration argument");
                    };
                    if self.interval.is_some() {
                        bail!("multiple time dimensions not allowed");
                    }
                    let mut offset = 0;
                    if let Some(arg) = call.args.get(1) {
                        offset = match arg {
                            Expr::Literal(Literal::Duration(o)) => {
                                if duration == 0 {
                                    0
                                } else {
                                    o.wrapping_rem(duration)
                                }
                            }
                            Expr::Literal(Literal::Time(t)) => go_time_offset(*t, duration),
                            Expr::Call(f) => {
                                if f.name != "now" {
                                    bail!("time dimension offset function must be now()");
                                } else if !f.args.is_empty() {
                                    bail!("time dimension offset now() function requires no arguments");
                                }
                                go_time_offset(self.now, duration)
                            }
                            // 1.6 lets a time string through here and then
                            // refuses it when computing the offset.
                            Expr::Literal(Literal::String(s)) if is_time_string(s) => {
                                parse_time_string(s, stmt.timezone.as_deref())
                                    .map_err(|e| SelectError::new(e.to_string()))?;
                                bail!("invalid time dimension offset: {arg}");
                            }
                            _ => bail!("time dimension offset must be duration or now()"),
                        };
                    }
                    self.interval = Some(Interval { duration, offset });
                }
                Expr::Wildcard(_) | Expr::Literal(Literal::Regex(_)) => {}
                _ => bail!("only time and tag dimensions allowed"),
            }
        }
        Ok(())
    }

    fn compile(&mut self, stmt: &SelectStatement) -> Result<(), SelectError> {
        let math = ReduceOptions {
            math: true,
            ..Default::default()
        };
        for f in &stmt.fields {
            if let Expr::VarRef(v) = &f.expr {
                if v.name == "time" {
                    if let Some(a) = &f.alias {
                        self.time_column = a.clone();
                    }
                    continue;
                }
            }
            let expr = reduce(&f.expr, &math);
            self.field_count += 1;
            self.compile_expr(&expr, true)?;
        }
        self.validate_fields()?;
        for s in &stmt.sources {
            if let Source::Measurement(Measurement {
                name: MeasurementName::Name(n),
                ..
            }) = s
            {
                if n.is_empty() {
                    bail!("invalid measurement");
                }
            }
        }
        for s in &stmt.sources {
            if let Source::Subquery(sub) = s {
                self.subquery(sub)?;
            }
        }
        Ok(())
    }

    fn subquery(&self, stmt: &SelectStatement) -> Result<(), SelectError> {
        let mut sub = Compiler::new(self.now);
        sub.preprocess(stmt)?;
        if !stmt.order_by.is_empty() && sub.ascending != self.ascending {
            bail!("subqueries must be ordered in the same direction as the query itself");
        }
        sub.ascending = self.ascending;
        sub.time_range = sub.time_range.intersect(self.time_range);
        // An inner GROUP BY's null fill would only make points the outer
        // query drops; InfluxDB turns it into fill(none).
        if sub.interval.is_some() && sub.fill == Fill::Null {
            sub.fill = Fill::None;
        }
        if self.interval.is_some() && sub.interval.is_none() {
            sub.interval = self.interval;
            sub.inherited_interval = true;
        }
        sub.compile(stmt)
    }

    fn validate_fields(&self) -> Result<(), SelectError> {
        if self.field_count == 0 {
            bail!("at least 1 non-time field must be queried");
        }
        if self.function_calls.len() > 1 {
            if let Some(tb) = &self.top_bottom {
                bail!("selector function {tb}() cannot be combined with other functions");
            }
        }
        if self.function_calls.is_empty() {
            match self.fill {
                Fill::None => bail!("fill(none) must be used with a function"),
                Fill::Linear => bail!("fill(linear) must be used with a function"),
                _ => {}
            }
            if self.interval.is_some() && !self.inherited_interval {
                bail!("GROUP BY requires at least one aggregate function");
            }
        }
        if self.has_distinct && (self.function_calls.len() != 1 || self.has_auxiliary) {
            bail!(
                "aggregate function distinct() cannot be combined with other functions or fields"
            );
        }
        if self.has_auxiliary {
            if !self.only_selectors {
                bail!("mixing aggregate and non-aggregate queries is not supported");
            } else if self.function_calls.len() > 1 {
                bail!("mixing multiple selector functions with tags or fields is not supported");
            }
        }
        Ok(())
    }

    fn compile_expr(&mut self, expr: &Expr, allow_wildcard: bool) -> Result<(), SelectError> {
        match expr {
            Expr::VarRef(_) => {
                self.has_auxiliary = true;
                Ok(())
            }
            Expr::Wildcard(_) => {
                self.has_auxiliary = true;
                if !allow_wildcard {
                    bail!("unable to use wildcard in a binary expression");
                }
                Ok(())
            }
            Expr::Literal(Literal::Regex(_)) => {
                if !allow_wildcard {
                    bail!("unable to use regex in a binary expression");
                }
                self.has_auxiliary = true;
                Ok(())
            }
            Expr::Call(call) => {
                let Some(spec) = functions::lookup(&call.name) else {
                    bail!("undefined function {}()", call.name);
                };
                if spec.kind == FunctionKind::Math {
                    return self.compile_math(spec, call, allow_wildcard);
                }
                self.function_calls.push(call.name.clone());
                if spec.kind != FunctionKind::Selector {
                    self.only_selectors = false;
                }
                self.compile_call(spec, call, allow_wildcard)
            }
            Expr::Distinct(name) => {
                self.function_calls.push("distinct".to_owned());
                self.only_selectors = false;
                self.compile_distinct(&[Expr::var(name.clone())], false)
            }
            Expr::Binary(b) => {
                let l_lit = matches!(b.lhs, Expr::Literal(_));
                let r_lit = matches!(b.rhs, Expr::Literal(_));
                if l_lit && r_lit {
                    bail!("cannot perform a binary expression on two literals");
                } else if l_lit {
                    self.compile_expr(&b.rhs, false)
                } else if r_lit {
                    self.compile_expr(&b.lhs, false)
                } else {
                    self.compile_expr(&b.lhs, false)?;
                    self.compile_expr(&b.rhs, false)
                }
            }
            Expr::Paren(inner) => self.compile_expr(inner, allow_wildcard),
            Expr::Literal(_) => bail!("field must contain at least one variable"),
            Expr::BoundParameter(name) => bail!("missing parameter: {name}"),
        }
    }

    fn compile_nested(&mut self, expr: &Expr, allow_wildcard: bool) -> Result<(), SelectError> {
        match expr {
            Expr::Call(c) if c.name == "distinct" => self.compile_distinct(&c.args, true),
            Expr::Distinct(name) => self.compile_distinct(&[Expr::var(name.clone())], true),
            e => self.compile_expr(e, allow_wildcard),
        }
    }

    fn compile_symbol(
        &mut self,
        name: &str,
        arg: &Expr,
        allow_wildcard: bool,
    ) -> Result<(), SelectError> {
        match arg {
            Expr::VarRef(_) => Ok(()),
            Expr::Wildcard(_) => {
                if !allow_wildcard {
                    bail!("unsupported expression with wildcard: {name}()");
                }
                self.only_selectors = false;
                Ok(())
            }
            Expr::Literal(Literal::Regex(_)) => {
                if !allow_wildcard {
                    bail!("unsupported expression with regex field: {name}()");
                }
                self.only_selectors = false;
                Ok(())
            }
            _ => bail!("expected field argument in {name}()"),
        }
    }

    fn needs_interval(
        &mut self,
        name: &str,
        arg0: &Expr,
        allow_wildcard: bool,
        nested_any: bool,
    ) -> Result<(), SelectError> {
        match arg0 {
            Expr::Call(_) => {
                if self.interval.is_none() {
                    bail!("{name} aggregate requires a GROUP BY interval");
                }
                if nested_any {
                    self.compile_expr(arg0, allow_wildcard)
                } else {
                    self.compile_nested(arg0, allow_wildcard)
                }
            }
            _ => {
                if self.interval.is_some() && !self.inherited_interval {
                    bail!("aggregate function required inside the call to {name}");
                }
                self.compile_symbol(name, arg0, allow_wildcard)
            }
        }
    }

    fn bump_extra(&mut self, n: i64) {
        let n = n.clamp(0, u32::MAX as i64) as u32;
        if self.extra_intervals < n {
            self.extra_intervals = n;
        }
    }

    fn compile_call(
        &mut self,
        spec: &FunctionSpec,
        call: &Call,
        aw: bool,
    ) -> Result<(), SelectError> {
        let name = spec.name;
        let args = &call.args;
        match name {
            // InfluxDB words distinct's argument count its own way.
            "distinct" => return self.compile_distinct(args, false),
            // Combining is refused before the argument count is looked at.
            "top" | "bottom" => return self.compile_top_bottom(spec, call),
            _ => spec.check_arity(args.len())?,
        }
        match name {
            "percentile" => {
                if !matches!(
                    args[1],
                    Expr::Literal(Literal::Integer(_) | Literal::Float(_))
                ) {
                    bail!("expected float argument in percentile()");
                }
                self.compile_symbol("percentile", &args[0], aw)
            }
            "sample" => {
                match int_arg(&args[1]) {
                    Some(n) if n <= 0 => bail!("sample window must be greater than 1, got {n}"),
                    Some(_) => {}
                    None => bail!("expected integer argument in sample()"),
                }
                self.compile_symbol("sample", &args[0], aw)
            }
            "derivative" | "non_negative_derivative" | "elapsed" => {
                if let Some(a1) = args.get(1) {
                    match a1 {
                        Expr::Literal(Literal::Duration(d)) => {
                            if *d <= 0 {
                                bail!(
                                    "duration argument must be positive, got {}",
                                    crate::duration::format_duration(*d)
                                );
                            }
                        }
                        other => bail!(
                            "second argument to {name} must be a duration, got {}",
                            crate::time_range::go_type_name(other)
                        ),
                    }
                }
                self.bump_extra(1);
                self.needs_interval(name, &args[0], aw, false)
            }
            "difference" | "non_negative_difference" | "cumulative_sum" => {
                self.bump_extra(1);
                self.needs_interval(name, &args[0], aw, false)
            }
            "moving_average" => {
                let Some(n) = int_arg(&args[1]) else {
                    bail!(
                        "second argument for moving_average must be an integer, got {}",
                        crate::time_range::go_type_name(&args[1])
                    );
                };
                if n <= 1 {
                    bail!("moving_average window must be greater than 1, got {n}");
                }
                self.bump_extra(n);
                self.needs_interval(name, &args[0], aw, false)
            }
            "exponential_moving_average"
            | "double_exponential_moving_average"
            | "triple_exponential_moving_average"
            | "relative_strength_index"
            | "triple_exponential_derivative" => {
                let Some(period) = int_arg(&args[1]) else {
                    bail!("{name} period must be an integer");
                };
                if period < 1 {
                    bail!("{name} period must be greater than or equal to 1");
                }
                if let Some(a2) = args.get(2) {
                    match int_arg(a2) {
                        Some(h) => {
                            if name == "triple_exponential_derivative" && h < 1 && h != -1 {
                                bail!("{name} hold period must be greater than or equal to 1");
                            }
                            if h < 0 && h != -1 {
                                bail!("{name} hold period must be greater than or equal to 0");
                            }
                        }
                        None => bail!("{name} hold period must be an integer"),
                    }
                }
                if let Some(a3) = args.get(3) {
                    match a3 {
                        Expr::Literal(Literal::String(s)) => {
                            if s != "exponential" && s != "simple" {
                                bail!("{name} warmup type must be one of: 'exponential' 'simple'");
                            }
                        }
                        _ => bail!("{name} warmup type must be a string"),
                    }
                }
                self.bump_extra(period);
                self.needs_interval(name, &args[0], aw, true)
            }
            "kaufmans_efficiency_ratio" | "kaufmans_adaptive_moving_average" => {
                let Some(period) = int_arg(&args[1]) else {
                    bail!("{name} period must be an integer");
                };
                if period < 1 {
                    bail!("{name} period must be greater than or equal to 1");
                }
                if let Some(a2) = args.get(2) {
                    match int_arg(a2) {
                        Some(h) if h < 0 && h != -1 => {
                            bail!("{name} hold period must be greater than or equal to 0")
                        }
                        Some(_) => {}
                        None => bail!("{name} hold period must be an integer"),
                    }
                }
                self.bump_extra(period);
                self.needs_interval(name, &args[0], aw, true)
            }
            "chande_momentum_oscillator" => {
                let Some(period) = int_arg(&args[1]) else {
                    bail!("chande_momentum_oscillator period must be an integer");
                };
                if period < 1 {
                    bail!("chande_momentum_oscillator period must be greater than or equal to 1");
                }
                if let Some(a2) = args.get(2) {
                    match int_arg(a2) {
                        Some(h) if h < 0 && h != -1 => bail!(
                            "chande_momentum_oscillator hold period must be greater than or equal to 0"
                        ),
                        Some(_) => {}
                        None => bail!("chande_momentum_oscillator hold period must be an integer"),
                    }
                }
                self.bump_extra(period);
                if let Some(a3) = args.get(3) {
                    match a3 {
                        Expr::Literal(Literal::String(s)) => {
                            if !matches!(s.as_str(), "none" | "exponential" | "simple") {
                                bail!("chande_momentum_oscillator warmup type must be one of: 'none' 'exponential' 'simple'");
                            }
                        }
                        _ => bail!("chande_momentum_oscillator warmup type must be a string"),
                    }
                }
                self.needs_interval(name, &args[0], aw, true)
            }
            "integral" => {
                if let Some(a1) = args.get(1) {
                    match a1 {
                        Expr::Literal(Literal::Duration(d)) => {
                            if *d <= 0 {
                                bail!(
                                    "duration argument must be positive, got {}",
                                    crate::duration::format_duration(*d)
                                );
                            }
                        }
                        _ => bail!("second argument must be a duration"),
                    }
                }
                self.compile_symbol("integral", &args[0], aw)
            }
            "holt_winters" | "holt_winters_with_fit" => {
                match int_arg(&args[1]) {
                    None => bail!("expected integer argument as second arg in {name}"),
                    Some(n) if n <= 0 => {
                        bail!("second arg to {name} must be greater than 0, got {n}")
                    }
                    Some(_) => {}
                }
                match int_arg(&args[2]) {
                    None => bail!("expected integer argument as third arg in {name}"),
                    Some(s) if s < 0 => bail!("third arg to {name} cannot be negative, got {s}"),
                    Some(_) => {}
                }
                let Expr::Call(_) = &args[0] else {
                    bail!("must use aggregate function with {name}");
                };
                if self.interval.is_none() {
                    bail!("{name} aggregate requires a GROUP BY interval");
                }
                self.compile_nested(&args[0], aw)
            }
            _ => self.compile_function(call, aw),
        }
    }

    /// The aggregates and selectors of one field (`count`, `mean`, `max`,
    /// ...).
    fn compile_function(&mut self, call: &Call, aw: bool) -> Result<(), SelectError> {
        let name = call.name.as_str();
        if name == "count" {
            match &call.args[0] {
                Expr::Call(c) if c.name == "distinct" => {
                    return self.compile_distinct(&c.args, true)
                }
                Expr::Distinct(n) => return self.compile_distinct(&[Expr::var(n.clone())], true),
                _ => {}
            }
        }
        self.compile_symbol(name, &call.args[0], aw)
    }

    fn compile_distinct(&mut self, args: &[Expr], nested: bool) -> Result<(), SelectError> {
        if args.is_empty() {
            bail!("distinct function requires at least one argument");
        } else if args.len() != 1 {
            bail!("distinct function can only have one argument");
        }
        if !matches!(args[0], Expr::VarRef(_)) {
            bail!("expected field argument in distinct()");
        }
        if !nested {
            self.has_distinct = true;
        }
        Ok(())
    }

    fn compile_top_bottom(&mut self, spec: &FunctionSpec, call: &Call) -> Result<(), SelectError> {
        let name = spec.name;
        if let Some(tb) = &self.top_bottom {
            bail!("selector function {tb}() cannot be combined with other functions");
        }
        spec.check_arity(call.args.len())?;
        let last = &call.args[call.args.len() - 1];
        let Some(limit) = int_arg(last) else {
            bail!("expected integer as last argument in {name}(), found {last}");
        };
        if limit <= 0 {
            bail!("limit ({limit}) in {name} function must be at least 1");
        } else if self.limit > 0 && limit as u64 > self.limit {
            bail!(
                "limit ({limit}) in {name} function can not be larger than the LIMIT ({}) in the select statement",
                self.limit
            );
        }
        if !matches!(call.args[0], Expr::VarRef(_)) {
            bail!(
                "expected first argument to be a field in {name}(), found {}",
                call.args[0]
            );
        }
        if call.args.len() > 2 {
            for v in &call.args[1..call.args.len() - 1] {
                if !matches!(v, Expr::VarRef(_)) {
                    bail!("only fields or tags are allowed in {name}(), found {v}");
                }
                if !self.has_target {
                    self.field_count += 1;
                    self.has_auxiliary = true;
                }
            }
        }
        self.top_bottom = Some(name.to_owned());
        Ok(())
    }

    fn compile_math(
        &mut self,
        spec: &FunctionSpec,
        call: &Call,
        aw: bool,
    ) -> Result<(), SelectError> {
        spec.check_arity(call.args.len())?;
        for a in &call.args {
            if matches!(a, Expr::Literal(_)) {
                continue;
            }
            self.compile_expr(a, aw)?;
        }
        Ok(())
    }
}

/// Rejects function calls other than math in a condition. Iterative, as
/// conditions can be long generated chains.
fn validate_condition(expr: &Expr) -> Result<(), SelectError> {
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Binary(b) => {
                stack.push(&b.rhs);
                stack.push(&b.lhs);
            }
            Expr::Call(c) => {
                let Some(spec) =
                    functions::lookup(&c.name).filter(|f| f.kind == FunctionKind::Math)
                else {
                    bail!("invalid function call in condition: {e}");
                };
                // InfluxDB 1.6 checks conditions with its own count, in which
                // only atan2 and pow take two arguments: `log(x, b)` is
                // refused in WHERE although it is valid in a field.
                let spec = if spec.name == "log" {
                    FunctionSpec {
                        min_args: 1,
                        max_args: Some(1),
                        ..*spec
                    }
                } else {
                    *spec
                };
                spec.check_arity(c.args.len())?;
                stack.extend(c.args.iter().rev());
            }
            _ => {}
        }
    }
    Ok(())
}

impl Field {
    /// The column name InfluxDB gives this field: the alias, else the
    /// function name, the variable name, or the variable / function names of
    /// an arithmetic expression joined by `_`.
    pub fn name(&self) -> String {
        if let Some(a) = &self.alias {
            return a.clone();
        }
        expr_name(&self.expr)
    }
}

fn expr_name(e: &Expr) -> String {
    match e {
        Expr::Call(c) => c.name.clone(),
        Expr::VarRef(v) => v.name.clone(),
        Expr::Paren(inner) => expr_name(inner),
        Expr::Binary(_) => {
            let mut names = Vec::new();
            binary_names(e, &mut names);
            names.join("_")
        }
        _ => String::new(),
    }
}

fn binary_names(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::VarRef(v) => out.push(v.name.clone()),
        Expr::Call(c) => out.push(c.name.clone()),
        Expr::Binary(b) => {
            binary_names(&b.lhs, out);
            binary_names(&b.rhs, out);
        }
        Expr::Paren(inner) => binary_names(inner, out),
        _ => {}
    }
}

impl SelectStatement {
    /// Output column names as InfluxDB computes them, for a statement whose
    /// wildcards are already expanded and whose `time` field is removed:
    /// `time_column` first (pass `None` to omit it, as for subqueries), then
    /// each field (plus the extra tag/field columns of `top`/`bottom` when
    /// there is no INTO), aliases first, duplicates suffixed `_1`, `_2`, ...
    pub fn column_names(&self, time_column: Option<&str>) -> Vec<String> {
        let mut cols: Vec<Field> = Vec::new();
        for f in &self.fields {
            cols.push(f.clone());
            if let Expr::Call(c) = &f.expr {
                if self.target.is_none() && (c.name == "top" || c.name == "bottom") {
                    for a in c.args.iter().skip(1) {
                        if let Expr::VarRef(_) = a {
                            cols.push(Field {
                                expr: a.clone(),
                                alias: None,
                            });
                        }
                    }
                }
            }
        }
        let mut names: Vec<Option<String>> = cols.iter().map(|c| c.alias.clone()).collect();
        let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for n in names.iter().flatten() {
            seen.insert(n.clone(), 1);
        }
        for (i, col) in cols.iter().enumerate() {
            if names[i].is_some() {
                continue;
            }
            let mut name = col.name();
            if let Some(&count) = seen.get(&name) {
                let mut count = count;
                loop {
                    let resolved = format!("{name}_{count}");
                    if !seen.contains_key(&resolved) {
                        seen.insert(name.clone(), count + 1);
                        name = resolved;
                        break;
                    }
                    count += 1;
                }
            }
            *seen.entry(name.clone()).or_insert(0) += 1;
            names[i] = Some(name);
        }
        time_column
            .map(str::to_owned)
            .into_iter()
            .chain(names.into_iter().flatten())
            .collect()
    }

    /// The tag names of `GROUP BY` (not `time(...)`, `*` or regexes).
    pub fn group_by_tags(&self) -> Vec<String> {
        self.dimensions
            .iter()
            .filter_map(|d| match &d.expr {
                Expr::VarRef(v) => Some(v.name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every variable referenced by the fields and the condition (not
    /// subqueries), sorted by name then type, without duplicates.
    pub fn var_refs(&self) -> Vec<VarRef> {
        let mut refs = Vec::new();
        let mut push = |e: &Expr| {
            if let Expr::VarRef(v) = e {
                refs.push(v.clone());
            }
            if let Expr::Distinct(n) = e {
                refs.push(VarRef {
                    name: n.clone(),
                    data_type: DataType::Unknown,
                });
            }
        };
        for f in &self.fields {
            f.expr.walk(&mut push);
        }
        if let Some(c) = &self.condition {
            c.walk(&mut push);
        }
        refs.sort_by(|a, b| a.name.cmp(&b.name).then(a.data_type.cmp(&b.data_type)));
        refs.dedup();
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_statement;

    fn info(q: &str, now: i64) -> SelectInfo {
        match parse_statement(q).unwrap() {
            Statement::Select(s) => compile_select(&s, now).unwrap(),
            _ => panic!(),
        }
    }

    #[test]
    fn classification() {
        let k = |q: &str| info(q, 0).kind;
        assert_eq!(k("SELECT x, y FROM m"), SelectKind::Raw);
        assert_eq!(k("SELECT x * 2 + abs(y) FROM m"), SelectKind::Raw);
        assert_eq!(k("SELECT max(x), host FROM m"), SelectKind::Selector);
        assert_eq!(k("SELECT top(x, host, 2) FROM m"), SelectKind::Selector);
        assert_eq!(k("SELECT mean(x), count(y) FROM m"), SelectKind::Aggregate);
        assert_eq!(k("SELECT DISTINCT x FROM m"), SelectKind::Aggregate);
        assert_eq!(
            k("SELECT derivative(mean(x), 1s) FROM m WHERE time > 0 GROUP BY time(1m)"),
            SelectKind::Transformation
        );
        let i = info("SELECT top(x, host, 2) FROM m", 0);
        assert_eq!(i.top_bottom.as_deref(), Some("top"));
        assert!(i.has_auxiliary_fields);
        let i = info(
            "SELECT moving_average(mean(x), 3) FROM m WHERE time > 0 GROUP BY time(1m)",
            0,
        );
        assert_eq!(i.extra_intervals, 3);
        assert_eq!(
            i.functions,
            vec!["moving_average".to_owned(), "mean".to_owned()]
        );
        let i = info("SELECT time AS ts, x FROM m ORDER BY time DESC", 0);
        assert_eq!(i.time_column, "ts");
        assert!(!i.ascending);
    }

    #[test]
    fn intervals_and_offsets() {
        const M: i64 = 60_000_000_000;
        let i = info(
            "SELECT mean(x) FROM m WHERE time > 0 GROUP BY time(10m, -2m)",
            0,
        );
        assert_eq!(
            i.interval,
            Some(Interval {
                duration: 10 * M,
                offset: -2 * M
            })
        );
        let i = info(
            "SELECT mean(x) FROM m WHERE time > 0 GROUP BY time(10m, 25m)",
            0,
        );
        assert_eq!(i.interval.unwrap().offset, 5 * M);
        let now = 1_451_606_400_000_000_000 + 7 * M;
        let i = info(
            "SELECT mean(x) FROM m WHERE time > 0 GROUP BY time(10m, now())",
            now,
        );
        assert_eq!(i.interval.unwrap().offset, 7 * M);
        // Weeks are counted from Go's zero time: 2016-01-01 is 3 days into one.
        let week = 7 * 24 * 60 * M;
        let i = info(
            "SELECT mean(x) FROM m WHERE time > 0 GROUP BY time(1w, now())",
            1_451_606_400_000_000_000,
        );
        assert_eq!(
            i.interval.unwrap(),
            Interval {
                duration: week,
                offset: 4 * 24 * 60 * M
            }
        );
    }

    #[test]
    fn column_names() {
        let s = match parse_statement(
            "SELECT mean(x), mean(y), mean(x) AS mean_1, x + y, top(v, host, 3) FROM m",
        )
        .unwrap()
        {
            Statement::Select(s) => s,
            _ => panic!(),
        };
        assert_eq!(
            s.column_names(Some("time")),
            vec!["time", "mean", "mean_2", "mean_1", "x_y", "top", "host"]
        );
    }
}

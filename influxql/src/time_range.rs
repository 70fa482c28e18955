//! Splitting a WHERE condition into a time range and the rest, as InfluxDB
//! 1.x does before planning a query (its `ConditionExpr`).
//!
//! Rules, including the odd ones clients rely on:
//! - `time <op> x` and `x <op> time` (any case of `time`) become bounds;
//!   `x` may be `now()`, `now() - 1h`, an RFC3339 / date string, an epoch
//!   integer or float in ns, a duration (ns since epoch), or arithmetic on
//!   those. Only `= < <= > >=` are allowed (`invalid time comparison
//!   operator: !=`).
//! - Bounds are inclusive: `time > t` gives `min = t + 1ns`.
//! - Bounds from both sides of `AND` **and of `OR`** are intersected (1.x
//!   has no disjoint time ranges); the non-time parts keep their operator.
//! - What is left folds constants (`true AND x` is `x`); a remaining `true`
//!   means "no condition".

use crate::ast::*;
use crate::reduce::{reduce, reduce_binary, ReduceOptions};
use crate::time::{format_rfc3339_nano, is_time_string, parse_time_string, TimeError};
use crate::time::{MAX_TIME, MIN_TIME};

/// An inclusive time range; `None` ends are unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// Smallest included timestamp (ns).
    pub min: Option<i64>,
    /// Largest included timestamp (ns).
    pub max: Option<i64>,
}

impl TimeRange {
    /// Narrows to the overlap of both ranges.
    pub fn intersect(self, other: TimeRange) -> TimeRange {
        TimeRange {
            min: match (self.min, other.min) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            max: match (self.max, other.max) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// Lower bound in ns, InfluxDB's `MinTime` when unbounded.
    pub fn min_ns(&self) -> i64 {
        self.min.unwrap_or(MIN_TIME)
    }

    /// Upper bound in ns, InfluxDB's `MaxTime` when unbounded.
    pub fn max_ns(&self) -> i64 {
        self.max.unwrap_or(MAX_TIME)
    }

    /// True when no timestamp can match.
    pub fn is_empty(&self) -> bool {
        self.min_ns() > self.max_ns()
    }

    /// The bounds a SELECT reads, as InfluxDB resolves them: an open upper
    /// bound is `now` for queries with `GROUP BY time(...)`, the end of time
    /// otherwise.
    pub fn resolve(&self, now: i64, has_interval: bool) -> (i64, i64) {
        let max = match self.max {
            Some(m) => m,
            None if has_interval => now,
            None => MAX_TIME,
        };
        (self.min_ns(), max)
    }
}

/// A condition split into its time range and the remaining filter.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitCondition {
    /// Non-time part, constants folded; `None` when nothing is left.
    pub condition: Option<Expr>,
    /// The time terms' bounds.
    pub time_range: TimeRange,
}

/// Why a condition's time terms are unusable; texts are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeRangeError {
    /// `time` compared with an operator that gives no range (`!=`, `=~`, ...).
    #[error("invalid time comparison operator: {0}")]
    InvalidOperator(&'static str),
    /// `time` compared with something that is not a time; carries Go's type
    /// name, e.g. `*influxql.StringLiteral`.
    #[error("invalid operation: time and {0} are not compatible")]
    Incompatible(&'static str),
    /// A time string that is not RFC 3339.
    #[error("invalid timestamp string")]
    InvalidTimestamp,
    /// A time after the largest time InfluxDB stores.
    #[error("time {0} overflows time literal")]
    Overflow(String),
    /// A time before the smallest time InfluxDB stores.
    #[error("time {0} underflows time literal")]
    Underflow(String),
    /// A condition that is not a comparison, boolean or combination of them.
    #[error("invalid condition expression: {0}")]
    InvalidCondition(String),
    /// A `tz()` zone that is not in the IANA database.
    #[error("unable to find time zone {0}")]
    UnknownZone(String),
}

impl From<TimeError> for TimeRangeError {
    fn from(e: TimeError) -> Self {
        match e {
            TimeError::InvalidTimestamp => TimeRangeError::InvalidTimestamp,
            TimeError::UnknownZone(z) => TimeRangeError::UnknownZone(z),
        }
    }
}

/// Splits `cond` into a time range and the rest. `now` is the query's
/// `now()` in ns; `tz` the query's `tz('...')` zone (for date strings
/// without offset).
pub fn split_condition(
    cond: Option<&Expr>,
    now: i64,
    tz: Option<&str>,
) -> Result<SplitCondition, TimeRangeError> {
    let opt = ReduceOptions {
        now: Some(now),
        tz,
        math: false,
    };
    let Some(cond) = cond else {
        return Ok(SplitCondition {
            condition: None,
            time_range: TimeRange::default(),
        });
    };
    let (expr, time_range) = split(cond, &opt)?;
    let condition = match expr {
        Some(Expr::Literal(Literal::Boolean(true))) => None,
        other => other,
    };
    Ok(SplitCondition {
        condition,
        time_range,
    })
}

fn is_time_ref(e: &Expr) -> bool {
    matches!(e, Expr::VarRef(v) if v.name.eq_ignore_ascii_case("time"))
}

fn split(
    cond: &Expr,
    opt: &ReduceOptions<'_>,
) -> Result<(Option<Expr>, TimeRange), TimeRangeError> {
    let no_opt = ReduceOptions::default();
    match cond {
        Expr::Binary(b) if matches!(b.op, BinaryOp::And | BinaryOp::Or) => {
            // Long `x OR y OR z ...` chains nest on the left: handle that
            // spine in a loop instead of one recursion per term.
            let mut spine = vec![&**b];
            let mut bottom = &b.lhs;
            while let Expr::Binary(inner) = bottom {
                if !matches!(inner.op, BinaryOp::And | BinaryOp::Or) {
                    break;
                }
                spine.push(inner);
                bottom = &inner.lhs;
            }
            let (mut acc, mut tr) = split(bottom, opt)?;
            for node in spine.iter().rev() {
                let (r, rt) = split(&node.rhs, opt)?;
                tr = tr.intersect(rt);
                acc = match (acc, r) {
                    (l, None) => l,
                    (None, r) => r,
                    // Both sides are already folded: only the top needs it
                    // (re-folding the subtree at every level would be
                    // quadratic on long chains).
                    (Some(l), Some(r)) => Some(reduce_binary(node.op, l, r, &no_opt)),
                };
            }
            Ok((acc, tr))
        }
        Expr::Binary(b) => {
            if is_time_ref(&b.lhs) {
                Ok((None, time_bound(b.op, &b.rhs, opt)?))
            } else if is_time_ref(&b.rhs) {
                let op = match b.op {
                    BinaryOp::Gt => BinaryOp::Lt,
                    BinaryOp::Lt => BinaryOp::Gt,
                    BinaryOp::GtEq => BinaryOp::LtEq,
                    BinaryOp::LtEq => BinaryOp::GtEq,
                    op => op,
                };
                Ok((None, time_bound(op, &b.lhs, opt)?))
            } else {
                // Non-time comparisons fold with now() available, as in 1.x.
                Ok((Some(reduce(cond, opt)), TimeRange::default()))
            }
        }
        Expr::Paren(inner) => {
            let (e, tr) = split(inner, opt)?;
            let e = e.map(|e| match e {
                e @ Expr::Binary(_) => Expr::Paren(Box::new(e)),
                e => e,
            });
            Ok((e, tr))
        }
        Expr::Literal(Literal::Boolean(_)) => Ok((Some(cond.clone()), TimeRange::default())),
        other => Err(TimeRangeError::InvalidCondition(other.to_string())),
    }
}

/// Go's type name for an expression node, as it appears in 1.x messages.
pub(crate) fn go_type_name(e: &Expr) -> &'static str {
    match e {
        Expr::VarRef(_) => "*influxql.VarRef",
        Expr::Call(_) => "*influxql.Call",
        Expr::Binary(_) => "*influxql.BinaryExpr",
        Expr::Paren(_) => "*influxql.ParenExpr",
        Expr::Wildcard(_) => "*influxql.Wildcard",
        Expr::Distinct(_) => "*influxql.Distinct",
        Expr::BoundParameter(_) => "*influxql.BoundParameter",
        Expr::Literal(l) => match l {
            Literal::Integer(_) => "*influxql.IntegerLiteral",
            Literal::Unsigned(_) => "*influxql.UnsignedLiteral",
            Literal::Float(_) => "*influxql.NumberLiteral",
            Literal::String(_) => "*influxql.StringLiteral",
            Literal::Boolean(_) => "*influxql.BooleanLiteral",
            Literal::Duration(_) => "*influxql.DurationLiteral",
            Literal::Regex(_) => "*influxql.RegexLiteral",
            Literal::Time(_) => "*influxql.TimeLiteral",
        },
    }
}

fn time_bound(
    op: BinaryOp,
    rhs: &Expr,
    opt: &ReduceOptions<'_>,
) -> Result<TimeRange, TimeRangeError> {
    let mut rhs = rhs.clone();
    if let Expr::Literal(Literal::String(s)) = &rhs {
        if is_time_string(s) {
            rhs = Expr::Literal(Literal::Time(checked_time(s, opt.tz)?));
        }
    }
    let value = match reduce(&rhs, opt) {
        Expr::Literal(Literal::Time(t)) => {
            if t > MAX_TIME {
                return Err(TimeRangeError::Overflow(format_rfc3339_nano(t)));
            } else if t < MIN_TIME + 1 {
                return Err(TimeRangeError::Underflow(format_rfc3339_nano(t)));
            }
            t
        }
        Expr::Literal(Literal::Duration(d)) => d,
        Expr::Literal(Literal::Float(f)) => f as i64,
        Expr::Literal(Literal::Integer(n)) => n,
        other => return Err(TimeRangeError::Incompatible(go_type_name(&other))),
    };
    // Go computes the bounds on wider time values and converts back with
    // wrapping; the same wrapping keeps `time > 9223372036854775807` alike.
    let mut tr = TimeRange::default();
    match op {
        BinaryOp::Gt => tr.min = Some(value.wrapping_add(1)),
        BinaryOp::GtEq => tr.min = Some(value),
        BinaryOp::Lt => tr.max = Some(value.wrapping_sub(1)),
        BinaryOp::LtEq => tr.max = Some(value),
        BinaryOp::Eq => {
            tr.min = Some(value);
            tr.max = Some(value);
        }
        other => return Err(TimeRangeError::InvalidOperator(other.as_str())),
    }
    Ok(tr)
}

/// Parses a time string, reporting times outside InfluxDB's range with its
/// overflow / underflow texts.
fn checked_time(s: &str, tz: Option<&str>) -> Result<i64, TimeRangeError> {
    match parse_time_string(s, tz) {
        Ok(t) => Ok(t),
        Err(TimeError::InvalidTimestamp) => match crate::time::year_of(s) {
            Some(y) if y >= 2262 => Err(TimeRangeError::Overflow(crate::time::rfc3339_seconds(s))),
            Some(y) if y <= 1677 => Err(TimeRangeError::Underflow(crate::time::rfc3339_seconds(s))),
            _ => Err(TimeRangeError::InvalidTimestamp),
        },
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_expr;

    const NOW: i64 = 1_700_000_000_000_000_000;
    const H: i64 = 3_600_000_000_000;
    const T2016: i64 = 1_451_606_400_000_000_000;

    fn split_str(s: &str) -> Result<SplitCondition, TimeRangeError> {
        split_condition(Some(&parse_expr(s).unwrap()), NOW, None)
    }

    fn range(s: &str) -> (Option<i64>, Option<i64>) {
        let r = split_str(s).unwrap().time_range;
        (r.min, r.max)
    }

    #[test]
    fn bounds_from_literals() {
        assert_eq!(range("time > now() - 1h"), (Some(NOW - H + 1), None));
        assert_eq!(range("time >= '2016-01-01T00:00:00Z'"), (Some(T2016), None));
        assert_eq!(range("time < '2016-01-01'"), (None, Some(T2016 - 1)));
        assert_eq!(range("time <= 1451606400000000000"), (None, Some(T2016)));
        assert_eq!(range("time = 1451606400s"), (Some(T2016), Some(T2016)));
        assert_eq!(range("1451606400000000000 < time"), (Some(T2016 + 1), None));
        assert_eq!(
            range("TIME > 1451606400000000000.5"),
            (Some(T2016 + 1), None)
        );
        assert_eq!(
            range("time > '2016-01-01T00:00:30Z' - 1m"),
            (Some(T2016 - 30_000_000_000 + 1), None)
        );
        assert_eq!(
            range("time > 1451606400000000000 + 1m"),
            (Some(T2016 + 60_000_000_000 + 1), None)
        );
    }

    #[test]
    fn and_or_intersect_and_keep_the_rest() {
        let s = split_str("time > 0 AND host = 'a' AND time < 10").unwrap();
        assert_eq!(
            s.time_range,
            TimeRange {
                min: Some(1),
                max: Some(9)
            }
        );
        assert_eq!(s.condition.unwrap().to_string(), "host = 'a'");
        let s = split_str("time > 5 OR host = 'a'").unwrap();
        assert_eq!(s.time_range.min, Some(6));
        assert_eq!(s.condition.unwrap().to_string(), "host = 'a'");
        let s = split_str("(time > 5 AND (host = 'a' OR host = 'b'))").unwrap();
        assert_eq!(
            s.condition.unwrap().to_string(),
            "(host = 'a' OR host = 'b')"
        );
        let s = split_str("time > now() AND time < now() - 1h").unwrap();
        assert!(s.time_range.is_empty());
        assert_eq!(split_str("1 = 1").unwrap().condition, None);
        assert_eq!(split_str("true").unwrap().condition, None);
        assert_eq!(
            split_str("x > 1 + 1")
                .unwrap()
                .condition
                .unwrap()
                .to_string(),
            "x > 2"
        );
    }

    #[test]
    fn errors_like_influxdb() {
        let e = |s: &str| split_str(s).unwrap_err().to_string();
        assert_eq!(
            e("time != '2016-01-01T00:00:00Z'"),
            "invalid time comparison operator: !="
        );
        assert_eq!(
            e("time = 'abc'"),
            "invalid operation: time and *influxql.StringLiteral are not compatible"
        );
        assert_eq!(
            e("time > '2016-13-01T00:00:00Z'"),
            "invalid timestamp string"
        );
        assert_eq!(
            e("time > true"),
            "invalid operation: time and *influxql.BooleanLiteral are not compatible"
        );
        assert_eq!(
            e("time > host"),
            "invalid operation: time and *influxql.VarRef are not compatible"
        );
        assert_eq!(
            e("time > '2300-01-01T00:00:00Z'"),
            "time 2300-01-01T00:00:00Z overflows time literal"
        );
        assert_eq!(
            e("time < '1600-01-01T00:00:00Z'"),
            "time 1600-01-01T00:00:00Z underflows time literal"
        );
        assert_eq!(e("host"), "invalid condition expression: host");
    }

    #[test]
    fn zone_applies_to_strings_without_offset() {
        let s = split_condition(
            Some(&parse_expr("time >= '2016-01-01 00:00:00'").unwrap()),
            NOW,
            Some("Europe/Paris"),
        )
        .unwrap();
        assert_eq!(s.time_range.min, Some(T2016 - H));
    }
}

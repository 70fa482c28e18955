//! Constant folding of expressions, with `now()` and time strings, following
//! InfluxDB's `Reduce` so that conditions simplify the same way.

use crate::ast::*;
use crate::time::{is_time_string, parse_time_string};

/// What folding may evaluate.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReduceOptions<'a> {
    /// Value of `now()` in ns; `None` leaves `now()` calls in place.
    pub now: Option<i64>,
    /// Zone for time strings without offset (`tz('...')` of the query).
    pub tz: Option<&'a str>,
    /// Evaluate math functions (`abs`, `sqrt`, `pow`, ...) on constant
    /// arguments, as InfluxDB does for SELECT fields.
    pub math: bool,
}

/// Folds constants in `expr`.
pub fn reduce(expr: &Expr, opt: &ReduceOptions<'_>) -> Expr {
    match expr {
        Expr::Binary(b) => reduce_binary(b.op, reduce(&b.lhs, opt), reduce(&b.rhs, opt), opt),
        Expr::Call(c) => reduce_call(c, opt),
        Expr::Paren(inner) => match reduce(inner, opt) {
            e @ Expr::Binary(_) => Expr::Paren(Box::new(e)),
            e => e,
        },
        other => other.clone(),
    }
}

fn lit(l: Literal) -> Expr {
    Expr::Literal(l)
}

fn boolean(b: bool) -> Expr {
    lit(Literal::Boolean(b))
}

fn is_bool(e: &Expr, v: bool) -> bool {
    matches!(e, Expr::Literal(Literal::Boolean(b)) if *b == v)
}

fn to_time(s: &str, opt: &ReduceOptions<'_>) -> Option<i64> {
    if !is_time_string(s) {
        return None;
    }
    parse_time_string(s, opt.tz).ok()
}

/// Folds `lhs op rhs` whose operands are already folded.
pub(crate) fn reduce_binary(op: BinaryOp, lhs: Expr, rhs: Expr, opt: &ReduceOptions<'_>) -> Expr {
    use BinaryOp::*;
    if op == And {
        if is_bool(&lhs, false) || is_bool(&rhs, false) {
            return boolean(false);
        } else if is_bool(&lhs, true) {
            return rhs;
        } else if is_bool(&rhs, true) {
            return lhs;
        }
    } else if op == Or {
        if is_bool(&lhs, true) || is_bool(&rhs, true) {
            return boolean(true);
        } else if is_bool(&lhs, false) {
            return rhs;
        } else if is_bool(&rhs, false) {
            return lhs;
        }
    }
    let folded = match (&lhs, &rhs) {
        (Expr::Literal(l), Expr::Literal(r)) => fold(op, l, r, opt),
        _ => None,
    };
    folded.unwrap_or_else(|| Expr::binary(lhs, op, rhs))
}

fn cmp<T: PartialOrd>(op: BinaryOp, l: T, r: T) -> Option<Expr> {
    use BinaryOp::*;
    Some(boolean(match op {
        Eq => l == r,
        NotEq => l != r,
        Gt => l > r,
        GtEq => l >= r,
        Lt => l < r,
        LtEq => l <= r,
        _ => return None,
    }))
}

fn fold(op: BinaryOp, l: &Literal, r: &Literal, opt: &ReduceOptions<'_>) -> Option<Expr> {
    use BinaryOp::*;
    use Literal as L;
    match (l, r) {
        (L::Boolean(a), L::Boolean(b)) => Some(boolean(match op {
            Eq => a == b,
            NotEq => a != b,
            And | BitwiseAnd => *a && *b,
            Or | BitwiseOr => *a || *b,
            BitwiseXor => a != b,
            _ => return None,
        })),
        (L::Duration(a), L::Duration(b)) => match op {
            Add => Some(lit(L::Duration(a.wrapping_add(*b)))),
            Sub => Some(lit(L::Duration(a.wrapping_sub(*b)))),
            _ => cmp(op, a, b),
        },
        (L::Duration(a), L::Float(b)) => duration_scale(op, *a, *b as i64),
        (L::Duration(a), L::Integer(b)) => duration_scale(op, *a, *b),
        (L::Duration(a), L::Time(t)) if op == Add => Some(lit(L::Time(t.wrapping_add(*a)))),
        (L::Duration(_), L::String(s)) => {
            let t = to_time(s, opt)?;
            fold(op, l, &L::Time(t), opt)
        }
        (L::Integer(a), L::Float(b)) => fold_float(op, *a as f64, *b),
        (L::Integer(a), L::Integer(b)) => {
            let (a, b) = (*a, *b);
            match op {
                Add => Some(lit(L::Integer(a.wrapping_add(b)))),
                Sub => Some(lit(L::Integer(a.wrapping_sub(b)))),
                Mul => Some(lit(L::Integer(a.wrapping_mul(b)))),
                Div => Some(lit(L::Float(if b == 0 {
                    0.0
                } else {
                    a as f64 / b as f64
                }))),
                Mod => Some(lit(L::Integer(if b == 0 { 0 } else { a.wrapping_rem(b) }))),
                BitwiseAnd => Some(lit(L::Integer(a & b))),
                BitwiseOr => Some(lit(L::Integer(a | b))),
                BitwiseXor => Some(lit(L::Integer(a ^ b))),
                _ => cmp(op, a, b),
            }
        }
        (L::Integer(a), L::Unsigned(b)) => {
            if *a < 0 {
                match op {
                    Lt | LtEq => return Some(boolean(true)),
                    Gt | GtEq => return Some(boolean(false)),
                    _ => {}
                }
            }
            fold(op, &L::Unsigned(*a as u64), &L::Unsigned(*b), opt)
        }
        (L::Integer(a), L::Duration(d)) => match op {
            Add => Some(lit(L::Time(a.wrapping_add(*d)))),
            Sub => Some(lit(L::Time(a.wrapping_sub(*d)))),
            _ => None,
        },
        (L::Integer(a), L::Time(_)) => fold(op, &L::Duration(*a), r, opt),
        (L::Integer(a), L::String(s)) => {
            let t = to_time(s, opt)?;
            fold(op, &L::Duration(*a), &L::Time(t), opt)
        }
        (L::Unsigned(a), L::Float(b)) => fold_float(op, *a as f64, *b),
        (L::Unsigned(_), L::Integer(b)) => {
            if *b < 0 {
                match op {
                    Lt | LtEq => return Some(boolean(false)),
                    Gt | GtEq => return Some(boolean(true)),
                    _ => {}
                }
            }
            fold(op, l, &L::Unsigned(*b as u64), opt)
        }
        (L::Unsigned(a), L::Unsigned(b)) => {
            let (a, b) = (*a, *b);
            match op {
                Add => Some(lit(L::Unsigned(a.wrapping_add(b)))),
                Sub => Some(lit(L::Unsigned(a.wrapping_sub(b)))),
                Mul => Some(lit(L::Unsigned(a.wrapping_mul(b)))),
                Div => Some(lit(L::Unsigned(a.checked_div(b).unwrap_or(0)))),
                Mod => Some(lit(L::Unsigned(a.checked_rem(b).unwrap_or(0)))),
                _ => cmp(op, a, b),
            }
        }
        (L::Float(a), L::Float(b)) => fold_float(op, *a, *b),
        (L::Float(a), L::Integer(b)) => fold_float(op, *a, *b as f64),
        (L::Float(a), L::Unsigned(b)) => fold_float(op, *a, *b as f64),
        (L::String(a), L::String(b)) => match op {
            Eq | NotEq => {
                let plain = boolean((a == b) == (op == Eq));
                if is_time_string(a) && is_time_string(b) {
                    if let (Some(ta), Some(tb)) = (to_time(a, opt), to_time(b, opt)) {
                        return fold(op, &L::Time(ta), &L::Time(tb), opt).or(Some(plain));
                    }
                }
                Some(plain)
            }
            Add => Some(lit(L::String(format!("{a}{b}")))),
            _ => {
                let t = to_time(a, opt)?;
                fold(op, &L::Time(t), r, opt)
            }
        },
        (L::String(a), L::Duration(_) | L::Time(_) | L::Integer(_)) => {
            let t = to_time(a, opt)?;
            fold(op, &L::Time(t), r, opt)
        }
        (L::Time(t), L::Duration(d)) => match op {
            Add => Some(lit(L::Time(t.wrapping_add(*d)))),
            Sub => Some(lit(L::Time(t.wrapping_sub(*d)))),
            _ => None,
        },
        (L::Time(_), L::Integer(n)) => fold(op, l, &L::Duration(*n), opt),
        (L::Time(a), L::Time(b)) => match op {
            Sub => Some(lit(L::Duration(a.wrapping_sub(*b)))),
            _ => cmp(op, a, b),
        },
        (L::Time(_), L::String(s)) => {
            let t = to_time(s, opt)?;
            fold(op, l, &L::Time(t), opt)
        }
        _ => None,
    }
}

fn duration_scale(op: BinaryOp, d: i64, n: i64) -> Option<Expr> {
    match op {
        BinaryOp::Mul => Some(lit(Literal::Duration(d.wrapping_mul(n)))),
        BinaryOp::Div => Some(lit(Literal::Duration(if n == 0 {
            0
        } else {
            d.wrapping_div(n)
        }))),
        _ => None,
    }
}

fn fold_float(op: BinaryOp, a: f64, b: f64) -> Option<Expr> {
    use BinaryOp::*;
    match op {
        Add => Some(lit(Literal::Float(a + b))),
        Sub => Some(lit(Literal::Float(a - b))),
        Mul => Some(lit(Literal::Float(a * b))),
        Div => Some(lit(Literal::Float(if b == 0.0 { 0.0 } else { a / b }))),
        Mod => Some(lit(Literal::Float(a % b))),
        _ => cmp(op, a, b),
    }
}

fn reduce_call(c: &Call, opt: &ReduceOptions<'_>) -> Expr {
    let args: Vec<Expr> = c.args.iter().map(|a| reduce(a, opt)).collect();
    let literals: Option<Vec<&Literal>> = args
        .iter()
        .map(|a| match a {
            Expr::Literal(l) => Some(l),
            _ => None,
        })
        .collect();
    if let Some(lits) = literals {
        if c.name == "now" && lits.is_empty() {
            if let Some(now) = opt.now {
                return lit(Literal::Time(now));
            }
        }
        if opt.math {
            if let Some(v) = eval_math(&c.name, &lits) {
                return lit(v);
            }
        }
    }
    Expr::Call(Call {
        name: c.name.clone(),
        args,
    })
}

fn as_f64(l: &Literal) -> Option<f64> {
    match l {
        Literal::Float(v) => Some(*v),
        Literal::Integer(v) => Some(*v as f64),
        Literal::Unsigned(v) => Some(*v as f64),
        _ => None,
    }
}

/// Evaluates a math function on constant arguments; `None` when the name or
/// the arguments do not fit.
pub fn eval_math(name: &str, args: &[&Literal]) -> Option<Literal> {
    let f = |g: fn(f64) -> f64| -> Option<Literal> {
        match args {
            [a] => Some(Literal::Float(g(as_f64(a)?))),
            _ => None,
        }
    };
    let keep_int = |g: fn(f64) -> f64| -> Option<Literal> {
        match args {
            [Literal::Integer(v)] => Some(Literal::Integer(*v)),
            [Literal::Unsigned(v)] => Some(Literal::Unsigned(*v)),
            [a] => Some(Literal::Float(g(as_f64(a)?))),
            _ => None,
        }
    };
    match name {
        "abs" => match args {
            [Literal::Integer(v)] => Some(Literal::Integer(v.wrapping_abs())),
            [Literal::Unsigned(v)] => Some(Literal::Unsigned(*v)),
            _ => f(f64::abs),
        },
        "sin" => f(f64::sin),
        "cos" => f(f64::cos),
        "tan" => f(f64::tan),
        "asin" => f(f64::asin),
        "acos" => f(f64::acos),
        "atan" => f(f64::atan),
        "exp" => f(f64::exp),
        "ln" => f(f64::ln),
        "log2" => f(f64::log2),
        "log10" => f(f64::log10),
        "sqrt" => f(f64::sqrt),
        "floor" => keep_int(f64::floor),
        "ceil" => keep_int(f64::ceil),
        "round" => keep_int(|v| {
            // Go's math.Round: half away from zero, like f64::round.
            v.round()
        }),
        "atan2" | "pow" | "log" => match args {
            [a, b] => {
                let (a, b) = (as_f64(a)?, as_f64(b)?);
                Some(Literal::Float(match name {
                    "atan2" => a.atan2(b),
                    "pow" => a.powf(b),
                    _ => a.ln() / b.ln(),
                }))
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_expr;

    fn r(s: &str, now: Option<i64>) -> String {
        reduce(
            &parse_expr(s).unwrap(),
            &ReduceOptions {
                now,
                tz: None,
                math: true,
            },
        )
        .to_string()
    }

    #[test]
    fn folds_constants() {
        assert_eq!(r("1 + 2 * 3", None), "7");
        assert_eq!(r("7 / 2", None), "3.5");
        assert_eq!(r("x > 1 + 1", None), "x > 2");
        assert_eq!(r("true AND host = 'a'", None), "host = 'a'");
        assert_eq!(r("false OR (a = 1)", None), "(a = 1)");
        assert_eq!(r("1h + 30m", None), "90m");
        assert_eq!(
            r("now() - 1h", Some(3_600_000_000_000)),
            "'1970-01-01T00:00:00Z'"
        );
        assert_eq!(r("now() - 1h", None), "now() - 1h");
        assert_eq!(
            r("'2016-01-01T00:00:30Z' - 1m", None),
            "'2015-12-31T23:59:30Z'"
        );
        assert_eq!(r("0 + 1m", None), "'1970-01-01T00:01:00Z'");
        assert_eq!(r("abs(-2) + sqrt(4)", None), "4.0");
        assert_eq!(r("'a' + 'b' = 'ab'", None), "true");
    }
}

//! Values and the expressions evaluated over them: field/tag references,
//! literals, arithmetic and comparisons with InfluxDB 1.x's typing rules.
//!
//! [`Ex`] is the engine's own expression form, resolved against the schema
//! (a name is known to be a field or a tag) and serializable, so the same
//! condition runs on the coordinator and on a peer's shard.

use serde::{Deserialize, Serialize};

use crate::result::Cell;

/// A non-null value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Val {
    /// A float.
    Float(f64),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uns(u64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
}

impl Val {
    /// As a float, for numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Float(f) => Some(*f),
            Val::Int(i) => Some(*i as f64),
            Val::Uns(u) => Some(*u as f64),
            _ => None,
        }
    }

    /// Whether the value is a number.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Val::Float(_) | Val::Int(_) | Val::Uns(_))
    }

    /// The result cell.
    pub fn into_cell(self) -> Cell {
        match self {
            Val::Float(f) => Cell::Float(f),
            Val::Int(i) => Cell::Integer(i),
            Val::Uns(u) => Cell::Unsigned(u),
            Val::Str(s) => Cell::String(s),
            Val::Bool(b) => Cell::Boolean(b),
        }
    }

    /// Total order used by selectors and sorting within one type; numbers
    /// compare numerically across types.
    pub fn cmp_total(&self, other: &Val) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (Val::Int(a), Val::Int(b)) => a.cmp(b),
            (Val::Uns(a), Val::Uns(b)) => a.cmp(b),
            (Val::Str(a), Val::Str(b)) => a.cmp(b),
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => Ordering::Equal,
            },
        }
    }
}

impl From<storage::Value> for Val {
    fn from(v: storage::Value) -> Self {
        match v {
            storage::Value::Float(f) => Val::Float(f),
            storage::Value::Integer(i) => Val::Int(i),
            storage::Value::Unsigned(u) => Val::Uns(u),
            storage::Value::String(s) => Val::Str(s),
            storage::Value::Boolean(b) => Val::Bool(b),
        }
    }
}

/// The type a value is cast to by `::type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cast {
    /// `::float`.
    Float,
    /// `::integer`.
    Integer,
    /// `::unsigned`.
    Unsigned,
    /// `::string`.
    String,
    /// `::boolean`.
    Boolean,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `&`.
    BitAnd,
    /// `|`.
    BitOr,
    /// `^`.
    BitXor,
    /// `AND`.
    And,
    /// `OR`.
    Or,
    /// `=`.
    Eq,
    /// `!=` or `<>`.
    NotEq,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=`.
    GtEq,
    /// `=~`.
    EqRegex,
    /// `!~`.
    NotEqRegex,
}

/// A resolved expression over one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Ex {
    /// Column `i` of the row (a field value or an aggregate's result).
    Col(usize, Option<Cast>),
    /// A tag of the row's series (missing tags are the empty string).
    Tag(String),
    /// The row's time.
    Time,
    /// A constant; `None` is null.
    Lit(Option<Val>),
    /// A regular expression (right side of `=~`).
    Regex(String),
    /// `lhs op rhs`.
    Bin(Op, Box<Ex>, Box<Ex>),
    /// A row-wise math function (`abs`, `sqrt`, `pow`, ...).
    Math(String, Vec<Ex>),
}

/// What an expression sees: the row's columns, its series' tags, its time.
pub trait Row {
    /// Column `i` of the row; `None` when it has no value.
    fn col(&self, i: usize) -> Option<&Val>;
    /// The value of tag `key` of the row's series (empty when missing).
    fn tag(&self, key: &str) -> &str;
    /// The row's time in ns.
    fn time(&self) -> i64;
}

/// A cache of compiled regexes keyed by pattern, so rows do not recompile.
#[derive(Default, Debug)]
pub struct Regexes {
    map: std::collections::HashMap<String, regex::Regex>,
}

impl Regexes {
    /// Compiles every regex of `ex`.
    pub fn compile(ex: &Ex) -> Result<Self, regex::Error> {
        let mut r = Regexes::default();
        r.add(ex)?;
        Ok(r)
    }

    fn add(&mut self, ex: &Ex) -> Result<(), regex::Error> {
        match ex {
            Ex::Regex(p) => {
                if !self.map.contains_key(p) {
                    self.map.insert(p.clone(), regex::Regex::new(p)?);
                }
            }
            Ex::Bin(_, a, b) => {
                self.add(a)?;
                self.add(b)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn get(&self, p: &str) -> Option<&regex::Regex> {
        self.map.get(p)
    }
}

/// Casts a value as `::type` does: numbers convert between each other,
/// anything else of another type becomes null.
pub fn cast(v: Option<Val>, c: Option<Cast>) -> Option<Val> {
    let Some(c) = c else { return v };
    let v = v?;
    match (c, v) {
        (Cast::Float, Val::Float(f)) => Some(Val::Float(f)),
        (Cast::Float, Val::Int(i)) => Some(Val::Float(i as f64)),
        (Cast::Float, Val::Uns(u)) => Some(Val::Float(u as f64)),
        (Cast::Integer, Val::Int(i)) => Some(Val::Int(i)),
        (Cast::Integer, Val::Float(f)) => Some(Val::Int(f as i64)),
        (Cast::Integer, Val::Uns(u)) => Some(Val::Int(u as i64)),
        (Cast::Unsigned, Val::Uns(u)) => Some(Val::Uns(u)),
        (Cast::Unsigned, Val::Int(i)) => Some(Val::Uns(i as u64)),
        (Cast::Unsigned, Val::Float(f)) => Some(Val::Uns(f as u64)),
        (Cast::String, Val::Str(s)) => Some(Val::Str(s)),
        (Cast::Boolean, Val::Bool(b)) => Some(Val::Bool(b)),
        _ => None,
    }
}

impl Ex {
    /// Evaluates over a row.
    pub fn eval(&self, row: &dyn Row, re: &Regexes) -> Option<Val> {
        match self {
            Ex::Col(i, c) => cast(row.col(*i).cloned(), *c),
            Ex::Tag(k) => Some(Val::Str(row.tag(k).to_owned())),
            Ex::Time => Some(Val::Int(row.time())),
            Ex::Lit(v) => v.clone(),
            Ex::Regex(_) => None,
            Ex::Bin(op, a, b) => match op {
                Op::And => {
                    let l = truthy(a.eval(row, re));
                    Some(Val::Bool(l && truthy(b.eval(row, re))))
                }
                Op::Or => {
                    let l = truthy(a.eval(row, re));
                    Some(Val::Bool(l || truthy(b.eval(row, re))))
                }
                Op::EqRegex | Op::NotEqRegex => {
                    let l = a.eval(row, re);
                    let Ex::Regex(p) = b.as_ref() else {
                        return Some(Val::Bool(false));
                    };
                    let Some(Val::Str(s)) = l else {
                        return Some(Val::Bool(false));
                    };
                    let m = re.get(p).is_some_and(|r| r.is_match(&s));
                    Some(Val::Bool(if *op == Op::EqRegex { m } else { !m }))
                }
                _ => binary(*op, a.eval(row, re), b.eval(row, re)),
            },
            Ex::Math(name, args) => {
                let vals: Vec<Option<Val>> = args.iter().map(|a| a.eval(row, re)).collect();
                super::functions::math(name, &vals)
            }
        }
    }

    /// Whether the expression reads any column.
    pub fn uses_cols(&self) -> bool {
        match self {
            Ex::Col(..) => true,
            Ex::Bin(_, a, b) => a.uses_cols() || b.uses_cols(),
            Ex::Math(_, args) => args.iter().any(Ex::uses_cols),
            _ => false,
        }
    }

    /// Replaces tag references by the series' values and folds constants:
    /// `Lit(Some(Bool(true|false)))` when the tags alone decide.
    pub fn bind_tags(&self, tag: &dyn Fn(&str) -> String, re: &Regexes) -> Ex {
        match self {
            Ex::Tag(k) => Ex::Lit(Some(Val::Str(tag(k)))),
            Ex::Bin(op, a, b) => {
                let a = a.bind_tags(tag, re);
                let b = b.bind_tags(tag, re);
                match op {
                    Op::And => match (&a, &b) {
                        (Ex::Lit(x), _) if !truthy(x.clone()) => Ex::Lit(Some(Val::Bool(false))),
                        (_, Ex::Lit(y)) if !truthy(y.clone()) => Ex::Lit(Some(Val::Bool(false))),
                        (Ex::Lit(_), _) => b,
                        (_, Ex::Lit(_)) => a,
                        _ => Ex::Bin(*op, Box::new(a), Box::new(b)),
                    },
                    Op::Or => match (&a, &b) {
                        (Ex::Lit(x), _) if truthy(x.clone()) => Ex::Lit(Some(Val::Bool(true))),
                        (_, Ex::Lit(y)) if truthy(y.clone()) => Ex::Lit(Some(Val::Bool(true))),
                        (Ex::Lit(_), _) => b,
                        (_, Ex::Lit(_)) => a,
                        _ => Ex::Bin(*op, Box::new(a), Box::new(b)),
                    },
                    _ => {
                        let folded = Ex::Bin(*op, Box::new(a), Box::new(b));
                        if folded.is_const() {
                            Ex::Lit(folded.eval(&NoRow, re))
                        } else {
                            folded
                        }
                    }
                }
            }
            other => other.clone(),
        }
    }

    fn is_const(&self) -> bool {
        match self {
            Ex::Lit(_) | Ex::Regex(_) => true,
            Ex::Bin(_, a, b) => a.is_const() && b.is_const(),
            Ex::Math(_, args) => args.iter().all(Ex::is_const),
            _ => false,
        }
    }
}

struct NoRow;

impl Row for NoRow {
    fn col(&self, _: usize) -> Option<&Val> {
        None
    }
    fn tag(&self, _: &str) -> &str {
        ""
    }
    fn time(&self) -> i64 {
        0
    }
}

/// Whether a condition's value lets a row through.
pub fn truthy(v: Option<Val>) -> bool {
    matches!(v, Some(Val::Bool(true)))
}

/// `a op b` for arithmetic, bitwise and comparison operators.
///
/// InfluxDB's rules: integer op integer stays integer (division gives a
/// float); mixing with a float gives a float; comparisons between numbers
/// are numeric, strings compare as strings, booleans only for (in)equality;
/// anything else, or a null operand, is null (a failed comparison).
pub fn binary(op: Op, a: Option<Val>, b: Option<Val>) -> Option<Val> {
    let (a, b) = (a?, b?);
    use Val::*;
    match op {
        Op::Eq | Op::NotEq | Op::Lt | Op::LtEq | Op::Gt | Op::GtEq => {
            let ord = match (&a, &b) {
                (Str(x), Str(y)) => x.cmp(y),
                (Bool(x), Bool(y)) => {
                    if !matches!(op, Op::Eq | Op::NotEq) {
                        return Some(Bool(false));
                    }
                    x.cmp(y)
                }
                (Int(x), Int(y)) => x.cmp(y),
                (Uns(x), Uns(y)) => x.cmp(y),
                (x, y) if x.is_numeric() && y.is_numeric() => {
                    let (x, y) = (x.as_f64()?, y.as_f64()?);
                    match x.partial_cmp(&y) {
                        Some(o) => o,
                        None => return Some(Bool(false)),
                    }
                }
                _ => return Some(Bool(false)),
            };
            use std::cmp::Ordering::*;
            Some(Bool(match op {
                Op::Eq => ord == Equal,
                Op::NotEq => ord != Equal,
                Op::Lt => ord == Less,
                Op::LtEq => ord != Greater,
                Op::Gt => ord == Greater,
                _ => ord != Less,
            }))
        }
        _ => match (a, b) {
            (Int(x), Int(y)) => int_op(op, x, y),
            (Uns(x), Uns(y)) => uns_op(op, x, y),
            (Uns(x), Int(y)) => uns_op(op, x, y as u64),
            (Int(x), Uns(y)) => uns_op(op, x as u64, y),
            (Bool(x), Bool(y)) => match op {
                Op::BitAnd => Some(Bool(x & y)),
                Op::BitOr => Some(Bool(x | y)),
                Op::BitXor => Some(Bool(x ^ y)),
                _ => None,
            },
            (x, y) if x.is_numeric() && y.is_numeric() => {
                let (x, y) = (x.as_f64()?, y.as_f64()?);
                Some(Float(match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div => {
                        if y == 0.0 {
                            0.0
                        } else {
                            x / y
                        }
                    }
                    Op::Mod => {
                        if y == 0.0 {
                            0.0
                        } else {
                            x % y
                        }
                    }
                    _ => return None,
                }))
            }
            (Str(x), Str(y)) if op == Op::Add => Some(Str(x + &y)),
            _ => None,
        },
    }
}

fn int_op(op: Op, x: i64, y: i64) -> Option<Val> {
    Some(match op {
        Op::Add => Val::Int(x.wrapping_add(y)),
        Op::Sub => Val::Int(x.wrapping_sub(y)),
        Op::Mul => Val::Int(x.wrapping_mul(y)),
        Op::Div => {
            if y == 0 {
                Val::Float(0.0)
            } else {
                Val::Float(x as f64 / y as f64)
            }
        }
        Op::Mod => {
            if y == 0 {
                Val::Int(0)
            } else {
                Val::Int(x.wrapping_rem(y))
            }
        }
        Op::BitAnd => Val::Int(x & y),
        Op::BitOr => Val::Int(x | y),
        Op::BitXor => Val::Int(x ^ y),
        _ => return None,
    })
}

fn uns_op(op: Op, x: u64, y: u64) -> Option<Val> {
    Some(match op {
        Op::Add => Val::Uns(x.wrapping_add(y)),
        Op::Sub => Val::Uns(x.wrapping_sub(y)),
        Op::Mul => Val::Uns(x.wrapping_mul(y)),
        Op::Div => {
            if y == 0 {
                Val::Uns(0)
            } else {
                Val::Uns(x / y)
            }
        }
        Op::Mod => {
            if y == 0 {
                Val::Uns(0)
            } else {
                Val::Uns(x % y)
            }
        }
        Op::BitAnd => Val::Uns(x & y),
        Op::BitOr => Val::Uns(x | y),
        Op::BitXor => Val::Uns(x ^ y),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_rules() {
        assert_eq!(
            binary(Op::Add, Some(Val::Int(2)), Some(Val::Int(3))),
            Some(Val::Int(5))
        );
        assert_eq!(
            binary(Op::Div, Some(Val::Int(3)), Some(Val::Int(2))),
            Some(Val::Float(1.5))
        );
        assert_eq!(
            binary(Op::Mul, Some(Val::Int(2)), Some(Val::Float(1.5))),
            Some(Val::Float(3.0))
        );
        assert_eq!(
            binary(Op::Gt, Some(Val::Int(2)), Some(Val::Float(1.5))),
            Some(Val::Bool(true))
        );
        assert_eq!(
            binary(Op::Gt, Some(Val::Str("a".into())), Some(Val::Float(1.5))),
            Some(Val::Bool(false))
        );
        assert_eq!(binary(Op::Add, None, Some(Val::Int(1))), None);
    }

    #[test]
    fn tags_fold_conditions() {
        let re = Regexes::default();
        let cond = Ex::Bin(
            Op::Or,
            Box::new(Ex::Bin(
                Op::Eq,
                Box::new(Ex::Tag("host".into())),
                Box::new(Ex::Lit(Some(Val::Str("a".into())))),
            )),
            Box::new(Ex::Bin(
                Op::Gt,
                Box::new(Ex::Col(0, None)),
                Box::new(Ex::Lit(Some(Val::Int(5)))),
            )),
        );
        let a = cond.bind_tags(&|_| "a".into(), &re);
        assert_eq!(a, Ex::Lit(Some(Val::Bool(true))));
        let b = cond.bind_tags(&|_| "b".into(), &re);
        assert!(b.uses_cols());
        let missing = cond.bind_tags(&|_| String::new(), &re);
        assert!(matches!(missing, Ex::Bin(Op::Gt, ..)));
    }
}

//! # influxql — the InfluxDB 1.x query language
//!
//! Hand-written lexer and recursive-descent parser (precedence climbing for
//! expressions) producing the [`ast`], plus the language rules the query
//! engine needs, all checked against a real InfluxDB 1.6.7.
//!
//! ```text
//!  text ──lexer──▶ tokens ──parser──▶ ast::Query ──Display──▶ canonical text
//!                                        │
//!          normalize (default db/rp) ◀───┼───▶ split WHERE: time range + rest
//!                                        │
//!                     compile_select: kind, interval, validation texts
//! ```
//!
//! Entry points:
//! - [`parse_query`] / [`parse_statement`] / [`parse_expr`]: text to AST.
//!   `$name` parameters stay as [`Expr::BoundParameter`]; bind them with
//!   [`bind`], or parse with [`parse_query_with_params`], which behaves like
//!   InfluxDB's `/query` endpoint (a missing parameter is a parse error).
//!   InfluxDB's HTTP handler trims the query text before parsing; do the
//!   same so error positions match.
//! - [`ParseError`]'s `Display` is InfluxDB 1.6's wording and position
//!   (`found EOF, expected FROM at line 1, char 10`); the HTTP layer adds the
//!   `error parsing query: ` prefix.
//! - `Display` on any node prints canonical InfluxQL that parses back to the
//!   same tree (passwords print as `[REDACTED]`); [`to_influxdb16_string`]
//!   prints floats the 1.6 way for SHOW CONTINUOUS QUERIES.
//! - [`normalize_statement`]: fill in default database / retention policy
//!   (what InfluxDB stores for a continuous query).
//! - [`split_condition`] ([`time_range`]): WHERE into an inclusive time range
//!   and the remaining condition, with `now()`, RFC3339 / epoch / duration
//!   values and InfluxDB's errors.
//! - [`functions`]: the registry of InfluxQL functions (aggregate,
//!   selector, transformation or math, argument counts, whether the query
//!   engine computes it). The validator and the query engine both read it,
//!   so a function is declared in one place.
//! - [`select::compile_select`]: classify (raw / selector / aggregate /
//!   transformation) and validate a SELECT with InfluxDB's texts; also
//!   [`SelectStatement::column_names`], [`Field::name`],
//!   [`SelectStatement::var_refs`], [`SelectStatement::group_by_tags`].
//! - [`Statement::required_privileges`]: what a user needs (admin, or
//!   READ / WRITE on a database) to run a statement.
//! - [`reduce`]: constant folding as InfluxDB's `Reduce`.
//! - [`request`]: a `/query` request's parameters (form and URL) and its
//!   `params` JSON of bound parameters, as InfluxDB's handler reads them.
//! - [`duration`]: [`parse_duration`], [`format_duration`] (`90m`), and
//!   [`format_go_duration`] (Go's `1h0m0s`, used by SHOW RETENTION POLICIES).
//!
//! Layout: `lexer` (tokens), `parser/` (`mod.rs`: parser state and token
//! helpers; `statements.rs`: statement dispatch and the non-SELECT
//! statements; `select.rs`: SELECT and its clauses; `expressions.rs`:
//! precedence climbing, calls and regexes), `ast` and `display` (the tree
//! and its canonical text), `functions` (the registry), `select`
//! (validation), `reduce`, `time_range`, `normalize`, `privileges`.
//!
//! Limits not in InfluxDB: 200 levels of parentheses / calls / subqueries
//! and [`MAX_OPERATORS`] binary operators per statement, so that no stage
//! (nor dropping the tree) can overflow a 2 MiB thread stack.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod ast;
mod display;
pub mod duration;
pub mod error;
pub mod functions;
mod lexer;
pub mod normalize;
mod parser;
pub mod privileges;
pub use parser::MAX_OPERATORS;
pub mod quote;
pub mod reduce;
pub mod request;
pub mod select;
pub mod time;
pub mod time_range;
mod tz;
mod visit;

use std::collections::HashMap;

pub use ast::*;
pub use display::to_influxdb16_string;
pub use duration::{format_duration, format_go_duration, parse_duration};
pub use error::{ParseError, Pos};
pub use normalize::{normalize_statement, NormalizeError};
pub use privileges::RequiredPrivilege;
pub use quote::{quote_ident, quote_string};
pub use time_range::{split_condition, SplitCondition, TimeRange, TimeRangeError};

/// A bound parameter value from the HTTP `params` JSON object. InfluxDB
/// turns JSON numbers with a `.` into floats and the others into integers.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A JSON string.
    String(String),
    /// A JSON number without a `.`.
    Integer(i64),
    /// A JSON number with a `.`.
    Float(f64),
    /// A JSON boolean.
    Boolean(bool),
}

impl ParamValue {
    /// The literal the parameter stands for.
    pub fn to_literal(&self) -> Literal {
        match self {
            ParamValue::String(s) => Literal::String(s.clone()),
            ParamValue::Integer(n) => Literal::Integer(*n),
            ParamValue::Float(v) => Literal::Float(*v),
            ParamValue::Boolean(b) => Literal::Boolean(*b),
        }
    }
}

/// Parses `;`-separated statements. `$params` are kept as
/// [`Expr::BoundParameter`].
pub fn parse_query(text: &str) -> Result<Query, ParseError> {
    parser::Parser::new(text, None).parse_query()
}

/// Parses `;`-separated statements, substituting `$params` while parsing,
/// like InfluxDB's `/query` endpoint (pass an empty map when the request had
/// no `params`): an unknown parameter fails with `missing parameter: name`.
pub fn parse_query_with_params(
    text: &str,
    params: &HashMap<String, ParamValue>,
) -> Result<Query, ParseError> {
    parser::Parser::new(text, Some(params)).parse_query()
}

/// Parses exactly one statement (a trailing `;` is allowed).
pub fn parse_statement(text: &str) -> Result<Statement, ParseError> {
    let mut q = parse_query(text)?;
    match q.statements.len() {
        1 => Ok(q.statements.remove(0)),
        0 => Err(ParseError::unexpected(
            "EOF",
            &[
                "SELECT", "DELETE", "SHOW", "CREATE", "DROP", "EXPLAIN", "GRANT", "REVOKE",
                "ALTER", "SET", "KILL",
            ],
            Pos::default(),
        )),
        _ => Err(ParseError::invalid("expected a single statement")),
    }
}

/// Parses a standalone expression (e.g. a WHERE condition).
pub fn parse_expr(text: &str) -> Result<Expr, ParseError> {
    let mut p = parser::Parser::new(text, None);
    p.parse_expr_to_end()
}

/// Replaces every [`Expr::BoundParameter`] in `query` with its value.
/// Fails with InfluxDB's `missing parameter: name` for unknown names.
pub fn bind(query: &mut Query, params: &HashMap<String, ParamValue>) -> Result<(), ParseError> {
    let mut err = None;
    for stmt in &mut query.statements {
        stmt.walk_exprs_mut(&mut |e| {
            if let Expr::BoundParameter(name) = e {
                match params.get(name.as_str()) {
                    Some(v) => *e = Expr::Literal(v.to_literal()),
                    None => {
                        if err.is_none() {
                            err = Some(ParseError::invalid(format!("missing parameter: {name}")));
                        }
                    }
                }
            }
        });
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

//! Expressions: precedence climbing, unary terms, calls, bound parameters
//! and regexes (with Go's wording for regex errors).

use crate::ast::*;
use crate::duration::parse_duration;
use crate::error::{ParseError, Pos};
use crate::lexer::{is_whitespace, Tok};

use super::{unexpected, Parser, Result, MAX_DEPTH, MAX_OPERATORS};

impl Parser<'_> {
    fn parse_var_ref(&mut self) -> Result<VarRef> {
        let segments = self.parse_segmented_idents()?;
        let mut data_type = DataType::Unknown;
        if self.scan().tok == Tok::DoubleColon {
            let t = self.scan();
            data_type = match t.tok {
                Tok::Ident => match t.lit.to_ascii_lowercase().as_str() {
                    "float" => DataType::Float,
                    "integer" => DataType::Integer,
                    "unsigned" => DataType::Unsigned,
                    "string" => DataType::String,
                    "boolean" => DataType::Boolean,
                    _ => {
                        return Err(unexpected(
                            &t,
                            &[
                                "float", "integer", "unsigned", "string", "boolean", "field", "tag",
                            ],
                        ))
                    }
                },
                Tok::Field => DataType::AnyField,
                Tok::Tag => DataType::Tag,
                _ => {
                    return Err(unexpected(
                        &t,
                        &["float", "integer", "string", "boolean", "field", "tag"],
                    ))
                }
            };
        } else {
            self.unscan();
        }
        Ok(VarRef {
            name: segments.join("."),
            data_type,
        })
    }

    pub(crate) fn parse_expr_to_end(&mut self) -> Result<Expr> {
        let e = self.parse_expr()?;
        let t = self.scan_ws();
        if t.tok != Tok::Eof {
            return Err(unexpected(&t, &["EOF"]));
        }
        Ok(e)
    }

    pub(crate) fn parse_expr(&mut self) -> Result<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::invalid("expression nested too deeply"));
        }
        let mut root = self.parse_unary_expr()?;
        loop {
            let t = self.scan_ws();
            let Some(op) = binary_op(t.tok) else {
                self.unscan();
                self.depth -= 1;
                return Ok(root);
            };
            self.operators += 1;
            if self.operators > MAX_OPERATORS {
                return Err(ParseError::invalid(format!(
                    "statement has more than {MAX_OPERATORS} operators"
                )));
            }
            let rhs = if matches!(op, BinaryOp::EqRegex | BinaryOp::NotEqRegex) {
                match self.parse_regex()? {
                    Some(re) => Expr::Literal(Literal::Regex(re)),
                    None => {
                        let t = self.scan_ws();
                        return Err(unexpected(&t, &["regex"]));
                    }
                }
            } else {
                self.parse_unary_expr()?
            };
            root = insert_binary(root, op, rhs);
        }
    }

    fn parse_unary_expr(&mut self) -> Result<Expr> {
        if self.scan_ws().tok == Tok::LParen {
            let expr = self.parse_expr()?;
            let t = self.scan_ws();
            if t.tok != Tok::RParen {
                return Err(unexpected(&t, &[")"]));
            }
            return Ok(Expr::Paren(Box::new(expr)));
        }
        self.unscan();

        let t = self.scan_ws();
        match t.tok {
            Tok::Ident => {
                if self.scan().tok == Tok::LParen {
                    return Ok(Expr::Call(self.parse_call(&t.lit)?));
                }
                self.unscan();
                self.unscan();
                Ok(Expr::VarRef(self.parse_var_ref()?))
            }
            Tok::Distinct => {
                let t0 = self.scan();
                if t0.tok == Tok::LParen {
                    return Ok(Expr::Call(self.parse_call("distinct")?));
                } else if t0.tok == Tok::Ws {
                    let t1 = self.scan_ws();
                    if t1.tok != Tok::Ident {
                        return Err(unexpected(&t1, &["identifier"]));
                    }
                    return Ok(Expr::Distinct(t1.lit));
                }
                Err(unexpected(&t0, &["(", "identifier"]))
            }
            Tok::Str => Ok(Expr::Literal(Literal::String(t.lit))),
            Tok::Number => match t.lit.parse::<f64>() {
                Ok(v) => Ok(Expr::Literal(Literal::Float(v))),
                Err(_) => Err(ParseError::syntax("unable to parse number", t.pos)),
            },
            Tok::Integer => match t.lit.parse::<i64>() {
                Ok(v) => Ok(Expr::Literal(Literal::Integer(v))),
                Err(_) => match t.lit.parse::<u64>() {
                    Ok(v) => Ok(Expr::Literal(Literal::Unsigned(v))),
                    Err(_) => Err(ParseError::syntax("unable to parse integer", t.pos)),
                },
            },
            Tok::True | Tok::False => Ok(Expr::Literal(Literal::Boolean(t.tok == Tok::True))),
            Tok::DurationVal => match parse_duration(&t.lit) {
                Ok(d) => Ok(Expr::Literal(Literal::Duration(d))),
                Err(e) => Err(ParseError::invalid(e)),
            },
            Tok::Mul => {
                let mut kind = WildcardType::All;
                if self.scan().tok == Tok::DoubleColon {
                    let t = self.scan();
                    kind = match t.tok {
                        Tok::Field => WildcardType::Field,
                        Tok::Tag => WildcardType::Tag,
                        _ => return Err(unexpected(&t, &["field", "tag"])),
                    };
                } else {
                    self.unscan();
                }
                Ok(Expr::Wildcard(kind))
            }
            Tok::Regex => compile_regex(&t.lit, t.pos).map(|r| Expr::Literal(Literal::Regex(r))),
            Tok::BoundParam => self.bound_param(&t.lit),
            Tok::Add | Tok::Sub => {
                let negative = t.tok == Tok::Sub;
                let t0 = self.scan_ws();
                match t0.tok {
                    Tok::Number | Tok::Integer | Tok::DurationVal | Tok::LParen | Tok::Ident => {
                        self.unscan();
                        let e = self.parse_unary_expr()?;
                        negate(e, negative)
                    }
                    _ => Err(unexpected(&t0, &["identifier", "number", "duration", "("])),
                }
            }
            _ => Err(unexpected(&t, &["identifier", "string", "number", "bool"])),
        }
    }

    fn bound_param(&self, lit: &str) -> Result<Expr> {
        let name = lit.strip_prefix('$').unwrap_or(lit);
        if name.is_empty() {
            return Err(ParseError::invalid("empty bound parameter"));
        }
        match self.params {
            None => Ok(Expr::BoundParameter(name.to_owned())),
            Some(params) => match params.get(name) {
                None => Err(ParseError::invalid(format!("missing parameter: {name}"))),
                Some(v) => Ok(Expr::Literal(v.to_literal())),
            },
        }
    }

    pub(super) fn parse_regex(&mut self) -> Result<Option<Regex>> {
        if is_whitespace(self.peek_rune()) {
            self.consume_whitespace();
        }
        if self.peek_rune() != '/' {
            return Ok(None);
        }
        let t = self.s.scan_regex();
        match t.tok {
            Tok::BadEscape => Err(ParseError::syntax(format!("bad escape: {}", t.lit), t.pos)),
            Tok::BadRegex => Err(ParseError::syntax(format!("bad regex: {}", t.lit), t.pos)),
            Tok::Regex => compile_regex(&t.lit, t.pos).map(Some),
            _ => Err(unexpected(&t, &["regex"])),
        }
    }

    fn parse_call(&mut self, name: &str) -> Result<Call> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::invalid("expression nested too deeply"));
        }
        let name = name.to_ascii_lowercase();
        let mut args = Vec::new();
        if let Some(re) = self.parse_regex()? {
            args.push(Expr::Literal(Literal::Regex(re)));
        } else {
            if self.scan().tok == Tok::RParen {
                self.depth -= 1;
                return Ok(Call { name, args });
            }
            self.unscan();
            args.push(self.parse_expr()?);
        }
        loop {
            if !self.accept(Tok::Comma) {
                break;
            }
            if let Some(re) = self.parse_regex()? {
                args.push(Expr::Literal(Literal::Regex(re)));
                continue;
            }
            args.push(self.parse_expr()?);
        }
        let t = self.scan();
        if t.tok != Tok::RParen {
            return Err(unexpected(&t, &[")"]));
        }
        self.depth -= 1;
        Ok(Call { name, args })
    }
}

fn compile_regex(src: &str, pos: Pos) -> Result<Regex> {
    if let Some(op) = nested_repetition(src) {
        return Err(ParseError::syntax(
            format!("error parsing regexp: invalid nested repetition operator: `{op}`"),
            pos,
        ));
    }
    Regex::new(src).map_err(|e| ParseError::syntax(regex_error_message(src, &e), pos))
}

/// Go refuses a repetition of a repetition (`a**`, `a+*`, `a{2}+`) that the
/// Rust engine accepts; returns the offending operators.
fn nested_repetition(src: &str) -> Option<&str> {
    use regex_syntax::ast::Ast;
    fn walk<'s>(ast: &Ast, src: &'s str) -> Option<&'s str> {
        match ast {
            Ast::Repetition(rep) => {
                if let Ast::Repetition(inner) = &*rep.ast {
                    return src.get(inner.op.span.start.offset..rep.op.span.end.offset);
                }
                walk(&rep.ast, src)
            }
            Ast::Group(g) => walk(&g.ast, src),
            Ast::Alternation(a) => a.asts.iter().find_map(|x| walk(x, src)),
            Ast::Concat(c) => c.asts.iter().find_map(|x| walk(x, src)),
            _ => None,
        }
    }
    let ast = regex_syntax::ast::parse::Parser::new().parse(src).ok()?;
    walk(&ast, src)
}

/// A regex compile error worded like Go's `regexp` package
/// (`error parsing regexp: missing closing ): `(a``), which InfluxDB shows.
fn regex_error_message(src: &str, e: &regex::Error) -> String {
    use regex_syntax::ast::ErrorKind as K;
    if let Err(err) = regex_syntax::ast::parse::Parser::new().parse(src) {
        let span = err.span();
        let mut text = src.get(span.start.offset..span.end.offset).unwrap_or("");
        if text.is_empty() {
            let rest = src.get(span.start.offset..).unwrap_or("");
            text = match err.kind() {
                // Go quotes the operator that has nothing to repeat.
                K::RepetitionMissing => match rest.chars().next() {
                    Some('{') => rest.find('}').map_or(rest, |i| &rest[..=i]),
                    Some(c) => &rest[..c.len_utf8()],
                    None => "",
                },
                // Go quotes the group opening up to the bad name.
                K::GroupNameEmpty | K::GroupNameInvalid | K::GroupNameUnexpectedEof => {
                    let start = src[..span.start.offset]
                        .rfind("(?")
                        .unwrap_or(span.start.offset);
                    let end = (span.end.offset + 1).min(src.len());
                    src.get(start..end).unwrap_or("")
                }
                _ => text,
            };
        }
        let (code, expr): (&str, &str) = match err.kind() {
            K::GroupUnclosed => ("missing closing )", src),
            K::GroupUnopened => ("unexpected )", src),
            K::ClassUnclosed => (
                "missing closing ]",
                src.get(span.start.offset..).unwrap_or(src),
            ),
            K::RepetitionMissing => ("missing argument to repetition operator", text),
            K::EscapeUnrecognized | K::ClassEscapeInvalid | K::UnsupportedBackreference => {
                ("invalid escape sequence", text)
            }
            K::EscapeUnexpectedEof => ("trailing backslash at end of expression", ""),
            K::ClassRangeInvalid | K::ClassRangeLiteral => ("invalid character class range", text),
            K::RepetitionCountInvalid => ("invalid repeat count", text),
            K::GroupNameInvalid
            | K::GroupNameEmpty
            | K::GroupNameUnexpectedEof
            | K::GroupNameDuplicate { .. } => ("invalid named capture", text),
            K::UnsupportedLookAround
            | K::FlagUnrecognized
            | K::FlagDanglingNegation
            | K::FlagDuplicate { .. }
            | K::FlagRepeatedNegation { .. }
            | K::FlagUnexpectedEof => ("invalid or unsupported Perl syntax", text),
            _ => ("", ""),
        };
        if !code.is_empty() {
            return format!("error parsing regexp: {code}: `{expr}`");
        }
    }
    let text = e.to_string();
    let detail = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().next().unwrap_or("invalid regex"))
        .to_owned();
    format!("error parsing regexp: {detail}")
}

fn negate(e: Expr, negative: bool) -> Result<Expr> {
    let mul: i64 = if negative { -1 } else { 1 };
    Ok(match e {
        Expr::Literal(Literal::Float(v)) => Expr::Literal(Literal::Float(v * mul as f64)),
        Expr::Literal(Literal::Integer(v)) => Expr::Literal(Literal::Integer(v * mul)),
        Expr::Literal(Literal::Unsigned(v)) => {
            if negative {
                if v == i64::MAX as u64 + 1 {
                    return Ok(Expr::Literal(Literal::Integer(i64::MIN)));
                }
                return Err(ParseError::invalid(format!(
                    "constant -{v} underflows int64"
                )));
            }
            Expr::Literal(Literal::Unsigned(v))
        }
        Expr::Literal(Literal::Duration(v)) => Expr::Literal(Literal::Duration(v * mul)),
        e @ (Expr::VarRef(_) | Expr::Call(_) | Expr::Paren(_)) => {
            Expr::Binary(Box::new(BinaryExpr {
                op: BinaryOp::Mul,
                lhs: Expr::Literal(Literal::Integer(mul)),
                rhs: e,
            }))
        }
        other => other,
    })
}

/// Adds `op rhs` to the tree: walks down the right spine past operators that
/// bind less tightly than `op`, giving left-associative precedence.
fn insert_binary(node: Expr, op: BinaryOp, rhs: Expr) -> Expr {
    match node {
        Expr::Binary(b) if b.op.precedence() < op.precedence() => {
            let BinaryExpr {
                op: bop,
                lhs,
                rhs: brhs,
            } = *b;
            Expr::Binary(Box::new(BinaryExpr {
                op: bop,
                lhs,
                rhs: insert_binary(brhs, op, rhs),
            }))
        }
        node => Expr::Binary(Box::new(BinaryExpr { op, lhs: node, rhs })),
    }
}

fn binary_op(tok: Tok) -> Option<BinaryOp> {
    if !tok.is_operator() {
        return None;
    }
    Some(match tok {
        Tok::Add => BinaryOp::Add,
        Tok::Sub => BinaryOp::Sub,
        Tok::Mul => BinaryOp::Mul,
        Tok::Div => BinaryOp::Div,
        Tok::Mod => BinaryOp::Mod,
        Tok::BitwiseAnd => BinaryOp::BitwiseAnd,
        Tok::BitwiseOr => BinaryOp::BitwiseOr,
        Tok::BitwiseXor => BinaryOp::BitwiseXor,
        Tok::And => BinaryOp::And,
        Tok::Or => BinaryOp::Or,
        Tok::Eq => BinaryOp::Eq,
        Tok::Neq => BinaryOp::NotEq,
        Tok::EqRegex => BinaryOp::EqRegex,
        Tok::NeqRegex => BinaryOp::NotEqRegex,
        Tok::Lt => BinaryOp::Lt,
        Tok::Lte => BinaryOp::LtEq,
        Tok::Gt => BinaryOp::Gt,
        Tok::Gte => BinaryOp::GtEq,
        _ => return None,
    })
}

/// The last (in pre-order) comparison or logical operator in a SELECT field,
/// not looking inside an offending node, as InfluxDB reports it.
pub(super) fn find_condition_operator(e: &Expr) -> Option<BinaryOp> {
    fn walk(e: &Expr, found: &mut Option<BinaryOp>) {
        match e {
            Expr::Binary(b) => {
                if b.op.is_comparison() || matches!(b.op, BinaryOp::And | BinaryOp::Or) {
                    *found = Some(b.op);
                    return;
                }
                walk(&b.lhs, found);
                walk(&b.rhs, found);
            }
            Expr::Paren(inner) => walk(inner, found),
            Expr::Call(c) => c.args.iter().for_each(|a| walk(a, found)),
            _ => {}
        }
    }
    let mut found = None;
    walk(e, &mut found);
    found
}

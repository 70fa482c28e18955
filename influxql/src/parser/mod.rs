//! Recursive-descent parser.
//!
//! The order in which tokens are scanned, peeked and pushed back follows the
//! reference parser, because InfluxDB's error positions (what clients see)
//! depend on it. Expressions use precedence climbing with left associativity.
//!
//! This file holds the parser state and the token helpers; the grammar is
//! split by job into [`statements`] (dispatch and the non-SELECT
//! statements), [`select`] (SELECT and its clauses) and [`expressions`].

use std::collections::HashMap;

use crate::duration::parse_duration;
use crate::error::{ParseError, Pos};
use crate::lexer::{Tok, Token, TokenBuffer};
use crate::quote::quote_ident_segments;
use crate::ParamValue;

mod expressions;
mod select;
mod statements;

type Result<T> = std::result::Result<T, ParseError>;

/// Nesting depth of parentheses / calls / subqueries accepted before giving
/// up; keeps hostile input from overflowing the stack of a server thread.
const MAX_DEPTH: usize = 200;

/// Binary operators accepted in one statement. Long `a OR b OR ...` chains
/// nest one level per operator, and dropping, cloning or evaluating a tree
/// recurses that deep: 10 000 stays well inside a 2 MiB thread stack even in
/// debug builds. InfluxDB itself has no such limit.
pub const MAX_OPERATORS: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum TargetRequirement {
    Required,
    NotRequired,
    Subquery,
}

pub(crate) struct Parser<'a> {
    s: TokenBuffer<'a>,
    params: Option<&'a HashMap<String, ParamValue>>,
    depth: usize,
    /// Binary operators in the current statement.
    operators: usize,
}

fn unexpected(t: &Token, expected: &[&str]) -> ParseError {
    ParseError::unexpected(t.found(), expected, t.pos)
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, params: Option<&'a HashMap<String, ParamValue>>) -> Self {
        Parser {
            s: TokenBuffer::new(src),
            params,
            depth: 0,
            operators: 0,
        }
    }

    // ---- token helpers -------------------------------------------------

    fn scan(&mut self) -> Token {
        self.s.scan()
    }

    fn scan_ws(&mut self) -> Token {
        loop {
            let t = self.s.scan();
            if t.tok != Tok::Ws && t.tok != Tok::Comment {
                return t;
            }
        }
    }

    fn unscan(&mut self) {
        self.s.unscan();
    }

    fn consume_whitespace(&mut self) {
        if self.scan().tok != Tok::Ws {
            self.unscan();
        }
    }

    fn peek_rune(&mut self) -> char {
        self.s.s.peek_rune()
    }

    /// Consumes `tok` if it comes next (ignoring whitespace).
    fn accept(&mut self, tok: Tok) -> bool {
        if self.scan_ws().tok == tok {
            true
        } else {
            self.unscan();
            false
        }
    }

    fn expect_tokens(&mut self, toks: &[Tok]) -> Result<()> {
        for &expected in toks {
            let t = self.scan_ws();
            if t.tok != expected {
                return Err(unexpected(&t, &[expected.as_str()]));
            }
        }
        Ok(())
    }

    fn parse_ident(&mut self) -> Result<String> {
        let t = self.scan_ws();
        if t.tok != Tok::Ident {
            return Err(unexpected(&t, &["identifier"]));
        }
        Ok(t.lit)
    }

    fn parse_ident_list(&mut self) -> Result<Vec<String>> {
        let mut idents = vec![self.parse_ident()?];
        while self.accept(Tok::Comma) {
            idents.push(self.parse_ident()?);
        }
        Ok(idents)
    }

    fn parse_string(&mut self) -> Result<String> {
        let t = self.scan_ws();
        if t.tok != Tok::Str {
            return Err(unexpected(&t, &["string"]));
        }
        Ok(t.lit)
    }

    fn parse_string_list(&mut self) -> Result<Vec<String>> {
        let mut strs = vec![self.parse_string()?];
        while self.accept(Tok::Comma) {
            strs.push(self.parse_string()?);
        }
        Ok(strs)
    }

    fn parse_int(&mut self, min: i64, max: i64) -> Result<i64> {
        let t = self.scan_ws();
        if t.tok != Tok::Integer {
            return Err(unexpected(&t, &["integer"]));
        }
        let n: i64 = t.lit.parse().map_err(|_| {
            ParseError::syntax(
                format!("strconv.Atoi: parsing {:?}: value out of range", t.lit),
                t.pos,
            )
        })?;
        if n < min || n > max {
            return Err(ParseError::syntax(
                format!("invalid value {n}: must be {min} <= n <= {max}"),
                t.pos,
            ));
        }
        Ok(n)
    }

    fn parse_u64(&mut self) -> Result<u64> {
        let t = self.scan_ws();
        if t.tok != Tok::Integer {
            return Err(unexpected(&t, &["integer"]));
        }
        t.lit.parse().map_err(|_| {
            ParseError::syntax(
                format!("strconv.ParseUint: parsing {:?}: value out of range", t.lit),
                t.pos,
            )
        })
    }

    /// `DURATIONVAL` or `INF` (0).
    fn parse_duration_tok(&mut self) -> Result<i64> {
        let t = self.scan_ws();
        match t.tok {
            Tok::Inf => Ok(0),
            Tok::DurationVal => {
                parse_duration(&t.lit).map_err(|e| ParseError::syntax(e.to_string(), t.pos))
            }
            _ => Err(unexpected(&t, &["duration"])),
        }
    }

    fn parse_optional_token_and_int(&mut self, tok: Tok) -> Result<u64> {
        if !self.accept(tok) {
            return Ok(0);
        }
        let t = self.scan_ws();
        if t.tok != Tok::Integer {
            return Err(unexpected(&t, &["integer"]));
        }
        // Out-of-range values saturate, as Go's ParseInt does.
        Ok(t.lit
            .parse::<u64>()
            .unwrap_or(i64::MAX as u64)
            .min(i64::MAX as u64))
    }

    fn parse_segmented_idents(&mut self) -> Result<Vec<String>> {
        let mut idents = vec![self.parse_ident()?];
        loop {
            if self.scan().tok != Tok::Dot {
                self.unscan();
                break;
            }
            match self.peek_rune() {
                '/' | ':' => break,
                '.' => {
                    idents.push(String::new());
                    continue;
                }
                _ => {}
            }
            idents.push(self.parse_ident()?);
        }
        if idents.len() > 3 {
            let quoted = quote_ident_segments(&idents);
            return Err(ParseError::syntax(
                format!("too many segments in {quoted}"),
                Pos::default(),
            ));
        }
        Ok(idents)
    }
}

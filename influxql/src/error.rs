//! Parse errors, worded like InfluxDB 1.x so clients see the same texts.

use std::fmt;

/// A position in the query text: 0-based line and 0-based character (Unicode
/// scalar) within the line. Printed 1-based, as InfluxDB does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 0.
    pub line: u32,
    /// Character within the line, from 0.
    pub char: u32,
}

/// Why a query could not be parsed. `Display` gives InfluxDB's text without
/// the `error parsing query: ` prefix the HTTP layer adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `found X, expected A, B at line L, char C`
    #[error("found {found}, expected {} at line {}, char {}", expected.join(", "), pos.line + 1, pos.char + 1)]
    Unexpected {
        /// The token found, as InfluxDB names it.
        found: String,
        /// The tokens that would have been accepted.
        expected: Vec<String>,
        /// Where the token starts.
        pos: Pos,
    },
    /// A positioned message, e.g. `bad string at line 1, char 8`.
    #[error("{message} at line {}, char {}", pos.line + 1, pos.char + 1)]
    Syntax {
        /// InfluxDB's text, without the position.
        message: String,
        /// Where the problem is.
        pos: Pos,
    },
    /// A rule InfluxDB checks while parsing without reporting a position,
    /// e.g. `fill must be a function call` or `missing parameter: x`.
    #[error("{0}")]
    Invalid(String),
}

impl ParseError {
    pub(crate) fn unexpected(found: impl Into<String>, expected: &[&str], pos: Pos) -> Self {
        ParseError::Unexpected {
            found: found.into(),
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
            pos,
        }
    }

    pub(crate) fn syntax(message: impl Into<String>, pos: Pos) -> Self {
        ParseError::Syntax {
            message: message.into(),
            pos,
        }
    }

    pub(crate) fn invalid(message: impl fmt::Display) -> Self {
        ParseError::Invalid(message.to_string())
    }
}

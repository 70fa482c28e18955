//! A fast, zero-copy parser for InfluxDB 1.x line protocol.
//!
//! # Grammar
//!
//! ```text
//! line        = measurement *("," tag) " " field *("," field) [" " timestamp]
//! tag         = tag-key "=" tag-value
//! field       = field-key "=" value
//! value       = float | integer "i" | unsigned "u" | string | boolean
//! float       = ["-"] digits with at most one "." and an optional exponent
//!               ("1", "-1.5", ".5", "5.", "1e10", "1.5E-3")
//! string      = '"' *(any byte but '"' and '\', or '\' any byte) '"'
//! boolean     = t | T | true | True | TRUE | f | F | false | False | FALSE
//! timestamp   = ["-"] digits
//! ```
//!
//! * Lines end at `\n` (a trailing `\r` is dropped). A newline inside a
//!   quoted string value, or right after a backslash, does not end the line
//!   (InfluxDB's `scanLine`, reproduced exactly).
//! * Blank lines and lines whose first non-whitespace byte is `#` are
//!   skipped. Spaces, tabs and NULs are skipped at the start of a line,
//!   between the tag set and the fields, and before the timestamp; only
//!   spaces may follow the timestamp.
//! * Names escape their delimiters with a backslash: `\,` and `\ ` in
//!   measurements (which also unescape `\=` and `\"`, as InfluxDB 1.6 does),
//!   `\,` `\=` `\ ` in tag keys and values, and `\,` `\=` `\ ` `\"` in field
//!   keys. A backslash before anything else is literal. A delimiter counts as
//!   escaped when the byte right before it is a backslash, so `a\\,b` is the
//!   single name `a\,b` (InfluxDB's rule, which makes a name ending in a
//!   backslash impossible). String values unescape `\"` and `\\` only.
//! * Integers must fit `i64`, unsigned values `u64`; floats must be finite
//!   (`NaN` and `Inf` are refused as InfluxDB refuses them); strings may be at
//!   most [`MAX_STRING_FIELD_BYTES`] after unescaping.
//!
//! # Where this differs from InfluxDB 1.6 (checked against `influxd` 1.6.7)
//!
//! * Rejections InfluxDB makes at write time rather than parse time are made
//!   here, per line: a tag named `time` ([`ErrorReason::InvalidTagKey`]),
//!   a point whose only field is `time` ([`ErrorReason::InvalidFieldKey`];
//!   other `time` fields are dropped from the point, as InfluxDB drops them),
//!   and one field key given two types on one line
//!   ([`ErrorReason::FieldTypeConflict`]).
//! * Unsigned (`u`) values are accepted; a stock 1.6 build refuses them as an
//!   "invalid number" (its uint support is a compile-time switch).
//! * A trailing `\r` is dropped, where InfluxDB keeps it and usually rejects
//!   the line.
//! * Bytes after a closing quote (`x="a"b`) are an error; InfluxDB stores
//!   the garbled string `a"`.
//! * Strings over 64 KiB are refused; 1.6 stores them.
//! * In a field key, a delimiter right after a backslash is escaped, as in
//!   every other name; InfluxDB's field scanner pairs the backslash with the
//!   next byte instead and refuses such lines with "invalid value".
//! * Tags are sorted by their unescaped keys (InfluxDB sorts the escaped
//!   text, which only differs when a key has an escape).
//! * [`Precision`] parsing accepts `us` as microseconds and refuses unknown
//!   strings; InfluxDB 1.6 reads every unknown string, `us` included, as
//!   nanoseconds.
//!
//! # Design
//!
//! The parser is hand written rather than built on a combinator library
//! because ingestion speed is the point: each line is found with one SIMD
//! scan (`memchr`), then walked once with table lookups; names and strings
//! borrow from the input unless they held an escape, and each line's tags
//! and fields are collected in reused buffers and allocated once at their
//! final size. The `parse` benchmark compares it with the
//! `influxdb-line-protocol` crate (nom-based) on TSBS `cpu` lines, fully
//! consuming both outputs.
//!
//! [`parse_lines`] is the lazy, per-line interface; [`parse_batch`] handles a
//! whole write request (timestamp precision, default time, merging of
//! duplicate points). Both have `_bytes` variants for unvalidated input.
//! [`ParsedLine`] and [`Point`] implement `Display`, writing line protocol
//! back.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod batch;
mod error;
mod escape;
mod parse;
mod split;
mod types;

pub use batch::{parse_batch, parse_batch_bytes, Batch};
pub use error::{ErrorReason, LineError, UnknownPrecision, MAX_ERROR_LINE_BYTES};
pub use parse::{parse_lines, parse_lines_bytes, Lines};
pub use types::{
    Field, FieldValue, ParsedLine, Point, Precision, Tag, MAX_KEY_LENGTH, MAX_NANO_TIME,
    MAX_STRING_FIELD_BYTES, MIN_NANO_TIME,
};

#[cfg(test)]
mod tests;

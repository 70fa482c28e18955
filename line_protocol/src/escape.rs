//! Unescaping (for the parser) and escaping (for the writer).
//!
//! InfluxDB 1.x has two escape schemes:
//!
//! * **Names** (measurement, tag keys and values, field keys): a delimiter
//!   is escaped when the byte just before it is a backslash, and unescaping
//!   deletes every backslash that stands right before an escapable byte. All
//!   other backslashes are literal, so `a\\,b` reads as `a\,b` and `a\b` as
//!   `a\b`. The escapable bytes are `,` `=` space and `"` for measurements
//!   and field keys (Go's `escape.Unescape`), but only `,` `=` space for
//!   tags (Go's `unescapeTag`).
//! * **String field values**: a backslash always pairs with the byte after
//!   it; `\"` and `\\` unescape to `"` and `\`, any other pair stays as is.

use std::borrow::Cow;
use std::fmt::{self, Write};

use memchr::{memchr, memchr_iter};

use crate::types::{FieldValue, ParsedLine, Point, Tag};

/// Escapable bytes of measurements and field keys.
#[inline]
pub(crate) fn is_name_escapable(b: u8) -> bool {
    matches!(b, b',' | b'=' | b' ' | b'"')
}

/// Escapable bytes of tag keys and values.
#[inline]
pub(crate) fn is_tag_escapable(b: u8) -> bool {
    matches!(b, b',' | b'=' | b' ')
}

/// Unescapes a name that contains at least one backslash; borrows when no
/// backslash precedes an escapable byte.
pub(crate) fn unescape_name(raw: &str, escapable: fn(u8) -> bool) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    for i in memchr_iter(b'\\', b) {
        if i + 1 < b.len() && escapable(b[i + 1]) {
            let o = out.get_or_insert_with(|| String::with_capacity(b.len()));
            // Backslashes and escapable bytes are ASCII, so these slice
            // bounds are char boundaries.
            o.push_str(&raw[copied..i]);
            copied = i + 1;
        }
    }
    match out {
        None => Cow::Borrowed(raw),
        Some(mut o) => {
            o.push_str(&raw[copied..]);
            Cow::Owned(o)
        }
    }
}

/// Unescapes the content of a quoted string (without its quotes).
pub(crate) fn unescape_string(raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = memchr(b'\\', &b[i..]) {
        let j = i + off;
        if j + 1 < b.len() && matches!(b[j + 1], b'\\' | b'"') {
            let o = out.get_or_insert_with(|| String::with_capacity(b.len()));
            o.push_str(&raw[copied..j]);
            copied = j + 1;
            i = j + 2;
        } else {
            i = j + 1;
        }
        if i >= b.len() {
            break;
        }
    }
    match out {
        None => Cow::Borrowed(raw),
        Some(mut o) => {
            o.push_str(&raw[copied..]);
            Cow::Owned(o)
        }
    }
}

/// Length of [`unescape_string`]'s result, without building it.
pub(crate) fn unescaped_string_len(raw: &str) -> usize {
    let b = raw.as_bytes();
    let mut removed = 0;
    let mut i = 0;
    while let Some(off) = memchr(b'\\', &b[i..]) {
        let j = i + off;
        if j + 1 < b.len() && matches!(b[j + 1], b'\\' | b'"') {
            removed += 1;
            i = j + 2;
        } else {
            i = j + 1;
        }
        if i >= b.len() {
            break;
        }
    }
    b.len() - removed
}

/// Writes a name so that the parser reads it back unchanged.
///
/// `delimiter` bytes are always escaped. `escapable` bytes that are not
/// delimiters (`=` and `"` in a measurement, `"` in a field key) only need a
/// backslash when the name has a literal backslash right before them, which
/// would otherwise be taken as their escape.
///
/// Not every name can be written: one ending in a backslash (it would escape
/// the next delimiter), one containing a newline not preceded by a
/// backslash, a measurement starting with `#`, or a name starting with a tab
/// or NUL where InfluxDB skips leading whitespace.
fn write_name(
    f: &mut fmt::Formatter<'_>,
    s: &str,
    delimiter: fn(u8) -> bool,
    escapable: fn(u8) -> bool,
) -> fmt::Result {
    let b = s.as_bytes();
    let mut written = 0;
    for (i, &c) in b.iter().enumerate() {
        let needs = delimiter(c) || (escapable(c) && i > 0 && b[i - 1] == b'\\');
        if needs {
            f.write_str(&s[written..i])?;
            f.write_char('\\')?;
            written = i;
        }
    }
    f.write_str(&s[written..])
}

fn write_measurement(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write_name(f, s, |c| c == b',' || c == b' ', is_name_escapable)
}

fn write_tag_part(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write_name(f, s, is_tag_escapable, is_tag_escapable)
}

fn write_field_key(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write_name(f, s, is_tag_escapable, is_name_escapable)
}

impl fmt::Display for FieldValue<'_> {
    /// Line protocol syntax: `1.5`, `1i`, `1u`, `"a \"b\""`, `true`.
    /// In strings, `"` is always escaped and `\` only where it would
    /// otherwise combine with the next byte.
    ///
    /// Floats use the shortest text that reads back as the same `f64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Float(v) => write!(f, "{v:?}"),
            FieldValue::Integer(v) => write!(f, "{v}i"),
            FieldValue::Unsigned(v) => write!(f, "{v}u"),
            FieldValue::Boolean(v) => write!(f, "{v}"),
            FieldValue::String(s) => {
                f.write_char('"')?;
                let b = s.as_bytes();
                let mut written = 0;
                for (i, &c) in b.iter().enumerate() {
                    // A backslash before anything but `\`, `"` or the
                    // closing quote reads back literally, so it is written
                    // as is: that keeps a backslash-newline a
                    // backslash-newline, which InfluxDB's line splitter
                    // treats the same inside and outside quotes.
                    let needs = c == b'"'
                        || (c == b'\\' && b.get(i + 1).is_none_or(|&n| n == b'\\' || n == b'"'));
                    if needs {
                        f.write_str(&s[written..i])?;
                        f.write_char('\\')?;
                        written = i;
                    }
                }
                f.write_str(&s[written..])?;
                f.write_char('"')
            }
        }
    }
}

fn write_line(
    f: &mut fmt::Formatter<'_>,
    measurement: &str,
    tags: &[Tag<'_>],
    fields: &[(Cow<'_, str>, FieldValue<'_>)],
    timestamp: Option<i64>,
) -> fmt::Result {
    write_measurement(f, measurement)?;
    for (k, v) in tags {
        f.write_char(',')?;
        write_tag_part(f, k)?;
        f.write_char('=')?;
        write_tag_part(f, v)?;
    }
    for (i, (k, v)) in fields.iter().enumerate() {
        f.write_char(if i == 0 { ' ' } else { ',' })?;
        write_field_key(f, k)?;
        write!(f, "={v}")?;
    }
    if let Some(ts) = timestamp {
        write!(f, " {ts}")?;
    }
    Ok(())
}

impl fmt::Display for ParsedLine<'_> {
    /// Writes the line back as line protocol (tags sorted, raw timestamp),
    /// without a trailing newline. See [`Point`]'s `Display` for the names
    /// that cannot be represented.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(
            f,
            &self.measurement,
            &self.tags,
            &self.fields,
            self.timestamp,
        )
    }
}

impl fmt::Display for Point<'_> {
    /// Writes the point as line protocol with a nanosecond timestamp,
    /// without a trailing newline.
    ///
    /// Whatever this crate parsed can be written back and reads back equal,
    /// except a line whose first field key starts with a tab or NUL (only
    /// possible once a leading `time` field was dropped) or whose names hold
    /// a newline not preceded by a backslash (which InfluxDB's line splitter
    /// lets through in odd cases, such as a quote in a name after leading
    /// whitespace). Hand-built names
    /// cannot be represented when they end in a backslash, contain a newline
    /// not preceded by a backslash, start with a tab or NUL, or (measurement)
    /// start with `#`; nor can empty names, empty tag values, non-finite
    /// floats or names with a backslash before an escapable byte combined with
    /// quoted newlines (InfluxDB's line splitter reads such backslashes
    /// differently from its name parser).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(
            f,
            &self.measurement,
            &self.tags,
            &self.fields,
            Some(self.timestamp_ns),
        )
    }
}

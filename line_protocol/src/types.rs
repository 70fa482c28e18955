//! The values the parser produces.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::error::{ErrorReason, UnknownPrecision};

/// Earliest timestamp InfluxDB 1.x can store (`models.MinNanoTime`).
///
/// `i64::MIN` and `i64::MIN + 1` are reserved by its storage engine as
/// sentinels, so they are rejected as [`ErrorReason::TimestampOutOfRange`].
pub const MIN_NANO_TIME: i64 = i64::MIN + 2;

/// Latest timestamp InfluxDB 1.x can store (`models.MaxNanoTime`).
pub const MAX_NANO_TIME: i64 = i64::MAX - 1;

/// Longest string field value accepted, in bytes after unescaping (64 KiB).
pub const MAX_STRING_FIELD_BYTES: usize = 64 * 1024;

/// Longest series key InfluxDB 1.x accepts (`models.MaxKeyLength`), counted
/// on the escaped text of measurement and tags; each field key adds its own
/// escaped length plus 4.
pub const MAX_KEY_LENGTH: usize = 65535;

/// A tag: key and value, unescaped.
pub type Tag<'a> = (Cow<'a, str>, Cow<'a, str>);

/// A field: key (unescaped) and value.
pub type Field<'a> = (Cow<'a, str>, FieldValue<'a>);

/// A field value. Strings borrow from the input unless they contained an
/// escape sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// `1`, `-1.5`, `.5`, `1e10`: always finite.
    Float(f64),
    /// `1i`.
    Integer(i64),
    /// `1u`.
    Unsigned(u64),
    /// `"text"`, with `\"` and `\\` unescaped.
    String(Cow<'a, str>),
    /// `t`, `true`, `F`, `FALSE`, ...
    Boolean(bool),
}

impl FieldValue<'_> {
    /// Detaches the value from the input buffer.
    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Float(v) => FieldValue::Float(v),
            FieldValue::Integer(v) => FieldValue::Integer(v),
            FieldValue::Unsigned(v) => FieldValue::Unsigned(v),
            FieldValue::String(v) => FieldValue::String(Cow::Owned(v.into_owned())),
            FieldValue::Boolean(v) => FieldValue::Boolean(v),
        }
    }

    /// Whether `self` and `other` are of the same type (InfluxDB's field
    /// type), regardless of value.
    pub fn same_type(&self, other: &FieldValue<'_>) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// InfluxDB's name for the value's type: `float`, `integer`,
    /// `unsigned`, `string` or `boolean`.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Integer(_) => "integer",
            FieldValue::Unsigned(_) => "unsigned",
            FieldValue::String(_) => "string",
            FieldValue::Boolean(_) => "boolean",
        }
    }
}

/// One successfully parsed line, before timestamp scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine<'a> {
    /// Measurement name, unescaped.
    pub measurement: Cow<'a, str>,
    /// Tags sorted by (unescaped) key, keys unique.
    pub tags: Vec<Tag<'a>>,
    /// Fields in line order, keys unique (a repeated key keeps its first
    /// position and its last value), never empty, never named `time`.
    pub fields: Vec<Field<'a>>,
    /// The timestamp as written, in the unit of the request's precision.
    pub timestamp: Option<i64>,
    /// 1-based number of the physical line the line starts on.
    pub line_number: usize,
}

/// A point ready to store: a [`ParsedLine`] with its final timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    /// Measurement name, unescaped.
    pub measurement: Cow<'a, str>,
    /// Tags sorted by (unescaped) key, keys unique.
    pub tags: Vec<Tag<'a>>,
    /// Fields, keys unique, never empty.
    pub fields: Vec<Field<'a>>,
    /// Nanoseconds since the Unix epoch, within
    /// [`MIN_NANO_TIME`]..=[`MAX_NANO_TIME`] when it came from the line.
    pub timestamp_ns: i64,
    /// Line number of the (first) line the point came from.
    pub line_number: usize,
}

fn find_tag<'s>(tags: &'s [Tag<'_>], key: &str) -> Option<&'s str> {
    tags.binary_search_by(|(k, _)| k.as_ref().cmp(key))
        .ok()
        .map(|i| tags[i].1.as_ref())
}

fn find_field<'s, 'a>(fields: &'s [Field<'a>], key: &str) -> Option<&'s FieldValue<'a>> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn owned_tags(tags: Vec<Tag<'_>>) -> Vec<Tag<'static>> {
    tags.into_iter()
        .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
        .collect()
}

fn owned_fields(fields: Vec<Field<'_>>) -> Vec<Field<'static>> {
    fields
        .into_iter()
        .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
        .collect()
}

impl<'a> ParsedLine<'a> {
    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_tag(&self.tags, key)
    }

    /// The value of field `key`, if present.
    pub fn field(&self, key: &str) -> Option<&FieldValue<'a>> {
        find_field(&self.fields, key)
    }

    /// Detaches the line from the input buffer.
    pub fn into_owned(self) -> ParsedLine<'static> {
        ParsedLine {
            measurement: Cow::Owned(self.measurement.into_owned()),
            tags: owned_tags(self.tags),
            fields: owned_fields(self.fields),
            timestamp: self.timestamp,
            line_number: self.line_number,
        }
    }

    /// Scales the timestamp by `precision` (or takes `default_time_ns`,
    /// truncated to `precision` as InfluxDB does) and checks its range.
    pub(crate) fn into_point(
        self,
        precision: Precision,
        default_time_ns: i64,
    ) -> Result<Point<'a>, ErrorReason> {
        let timestamp_ns = match self.timestamp {
            Some(ts) => precision.to_nanos(ts)?,
            None => precision.truncate(default_time_ns),
        };
        Ok(Point {
            measurement: self.measurement,
            tags: self.tags,
            fields: self.fields,
            timestamp_ns,
            line_number: self.line_number,
        })
    }
}

impl<'a> Point<'a> {
    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_tag(&self.tags, key)
    }

    /// The value of field `key`, if present.
    pub fn field(&self, key: &str) -> Option<&FieldValue<'a>> {
        find_field(&self.fields, key)
    }

    /// Detaches the point from the input buffer.
    pub fn into_owned(self) -> Point<'static> {
        Point {
            measurement: Cow::Owned(self.measurement.into_owned()),
            tags: owned_tags(self.tags),
            fields: owned_fields(self.fields),
            timestamp_ns: self.timestamp_ns,
            line_number: self.line_number,
        }
    }
}

/// Unit of the timestamps in a request (InfluxDB's `precision` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// `ns`, `n` or empty: the default.
    #[default]
    Nanoseconds,
    /// `us` or `u`.
    Microseconds,
    /// `ms`.
    Milliseconds,
    /// `s`.
    Seconds,
    /// `m`.
    Minutes,
    /// `h`.
    Hours,
}

impl Precision {
    /// Nanoseconds in one unit.
    pub const fn nanos_per_unit(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
            Precision::Minutes => 60_000_000_000,
            Precision::Hours => 3_600_000_000_000,
        }
    }

    /// Converts a timestamp in this unit to nanoseconds, failing if the
    /// product overflows or falls outside
    /// [`MIN_NANO_TIME`]..=[`MAX_NANO_TIME`] (InfluxDB's `SafeCalcTime`).
    pub fn to_nanos(self, timestamp: i64) -> Result<i64, ErrorReason> {
        match timestamp.checked_mul(self.nanos_per_unit()) {
            Some(ns) if (MIN_NANO_TIME..=MAX_NANO_TIME).contains(&ns) => Ok(ns),
            _ => Err(ErrorReason::TimestampOutOfRange),
        }
    }

    /// Rounds `ns` down to a whole number of units, as InfluxDB does to the
    /// server time it gives points that carry no timestamp (saturating at
    /// `i64::MIN`, far outside the valid range anyway).
    pub fn truncate(self, ns: i64) -> i64 {
        match self {
            Precision::Nanoseconds => ns,
            _ => ns.saturating_sub(ns.rem_euclid(self.nanos_per_unit())),
        }
    }

    /// The canonical short name (`ns`, `us`, `ms`, `s`, `m`, `h`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
            Precision::Minutes => "m",
            Precision::Hours => "h",
        }
    }
}

impl FromStr for Precision {
    type Err = UnknownPrecision;

    /// Accepts `""`, `n`, `ns`, `u`, `us`, `ms`, `s`, `m` and `h`.
    ///
    /// InfluxDB 1.6 itself treats every string it does not know (including
    /// `us`!) as nanoseconds; rejecting them is left to the caller's choice.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "n" | "ns" => Precision::Nanoseconds,
            "u" | "us" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return Err(UnknownPrecision(s.to_owned())),
        })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

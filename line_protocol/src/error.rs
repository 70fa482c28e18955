//! Per-line parse errors.

/// Longest prefix of the offending line (in bytes) that a [`LineError`] keeps.
///
/// A line can be megabytes long (64 KiB strings, thousands of fields); the
/// error only has to let a person find it, and the line number does the rest.
pub const MAX_ERROR_LINE_BYTES: usize = 1024;

/// Why a line was rejected: one variant per cause.
///
/// The `Display` text is InfluxDB 1.x's wording wherever InfluxDB has one, so
/// that clients which match on it keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ErrorReason {
    /// The line starts with a comma: there is no measurement name.
    #[error("missing measurement")]
    MissingMeasurement,
    /// The line ends before any field (`cpu`, `cpu,host=a`).
    #[error("missing fields")]
    MissingFields,
    /// A tag has no key (`cpu,=a`, `cpu, x=1`, a trailing comma).
    #[error("missing tag key")]
    MissingTagKey,
    /// A tag key has no `=` or an empty value (`cpu,host x=1`, `cpu,host= x=1`).
    #[error("missing tag value")]
    MissingTagValue,
    /// A tag value contains an unescaped `=` (`cpu,a=b=c x=1`).
    #[error("invalid tag format")]
    InvalidTagFormat,
    /// The same tag key appears twice on one line.
    #[error("duplicate tags")]
    DuplicateTags,
    /// A tag is named `time`; InfluxDB 1.x drops such points at write time.
    #[error("invalid tag key: input tag \"time\" is invalid")]
    InvalidTagKey,
    /// A field has an empty key (`cpu =1`, `cpu a=1,=2`).
    #[error("missing field key")]
    MissingFieldKey,
    /// A field key is followed by nothing, a comma or a space (`cpu a=`).
    #[error("missing field value")]
    MissingFieldValue,
    /// The field set is malformed: a key without `=`, an empty field between
    /// commas, a trailing comma, or characters after a closing quote.
    #[error("invalid field format")]
    InvalidFieldFormat,
    /// The only field is named `time`, which InfluxDB 1.x refuses (other
    /// fields named `time` are dropped from the point, as InfluxDB does).
    #[error("invalid field name: input field \"time\" is invalid")]
    InvalidFieldKey,
    /// The same field key appears twice on one line with values of different
    /// types; InfluxDB rejects such a point with a field type conflict.
    #[error("field type conflict: a field is repeated with a different type")]
    FieldTypeConflict,
    /// A numeric value is malformed (`1.2.3`, `1i2`, `-`, `NaN`, `0x10`,
    /// `-Inf`, a float with an `i`/`u` suffix).
    #[error("invalid number")]
    InvalidNumber,
    /// An unsigned value has a minus sign (`-1u`).
    #[error("invalid number: unsigned value is negative")]
    NegativeUnsigned,
    /// A float is syntactically wrong in its exponent (`1e`, `1e5e5`) or is
    /// too large to be finite (`1e400`).
    #[error("invalid float")]
    InvalidFloat,
    /// An `i` value does not fit in an `i64`.
    #[error("unable to parse integer: value out of range")]
    IntegerOverflow,
    /// A `u` value does not fit in a `u64`.
    #[error("unable to parse unsigned: value out of range")]
    UnsignedOverflow,
    /// A value that is neither number nor string is not one of the accepted
    /// boolean spellings (`t T true True TRUE f F false False FALSE`).
    #[error("invalid boolean")]
    InvalidBoolean,
    /// A string field value has no closing quote.
    #[error("unbalanced quotes")]
    UnbalancedQuotes,
    /// A string field value is longer than [`crate::MAX_STRING_FIELD_BYTES`]
    /// after unescaping.
    #[error("string field value too long (max 65536 bytes)")]
    StringTooLong,
    /// The timestamp is not an optionally negative run of decimal digits.
    #[error("bad timestamp")]
    BadTimestamp,
    /// The timestamp does not fit in an `i64` (before or after scaling by the
    /// precision) or lies outside InfluxDB's representable time range.
    #[error("time outside range -9223372036854775806 - 9223372036854775806")]
    TimestampOutOfRange,
    /// Something other than spaces follows the timestamp.
    #[error("point is invalid")]
    TrailingGarbage,
    /// The escaped measurement plus tags exceed 65535 bytes, or one of them
    /// plus a field key does (InfluxDB's `MaxKeyLength`).
    #[error("max key length exceeded (65535 bytes)")]
    MaxKeyLengthExceeded,
    /// The line is not valid UTF-8 (byte input only).
    #[error("invalid UTF-8")]
    InvalidUtf8,
}

/// A line that could not be parsed.
///
/// Displays as InfluxDB does, followed by the line number:
/// `unable to parse 'cpu value=x': invalid boolean (line 3)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse '{line}': {reason} (line {line_number})")]
pub struct LineError {
    /// 1-based number of the physical line on which the bad line starts
    /// (a line can span several physical lines through a quoted newline).
    pub line_number: usize,
    /// Why the line was rejected.
    pub reason: ErrorReason,
    /// The offending line without leading whitespace or a trailing `\r`,
    /// truncated to [`MAX_ERROR_LINE_BYTES`] (then ending in `...`); invalid
    /// UTF-8 is replaced by U+FFFD.
    pub line: String,
}

impl LineError {
    pub(crate) fn new(line_number: usize, reason: ErrorReason, line: &[u8]) -> Self {
        let truncated = line.len() > MAX_ERROR_LINE_BYTES;
        let mut shown = &line[..line.len().min(MAX_ERROR_LINE_BYTES)];
        // Do not cut a UTF-8 sequence in half: back off to a char boundary
        // (at most 3 bytes) so the lossy conversion below only replaces bytes
        // that really were invalid.
        if truncated {
            let mut end = shown.len();
            while end > 0 && end + 4 > shown.len() && (line[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            shown = &line[..end];
        }
        let mut text = String::from_utf8_lossy(shown).into_owned();
        if truncated {
            text.push_str("...");
        }
        LineError {
            line_number,
            reason,
            line: text,
        }
    }
}

/// The `precision` string was not one this crate knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid precision {0:?} (use n, ns, u, us, ms, s, m or h)")]
pub struct UnknownPrecision(pub String);

//! The line parser and the lazy per-line iterator.

use std::borrow::Cow;

use memchr::memchr2;

use crate::error::{ErrorReason, LineError};
use crate::escape::{
    is_name_escapable, is_tag_escapable, unescape_name, unescape_string, unescaped_string_len,
};
use crate::split::line_end;
use crate::types::{Field, FieldValue, ParsedLine, Tag, MAX_KEY_LENGTH, MAX_STRING_FIELD_BYTES};

use ErrorReason as E;

/// Parses `input` lazily, one line at a time.
///
/// Blank lines and comment lines (first non-whitespace byte `#`) are
/// skipped; every other line yields either a [`ParsedLine`] borrowing from
/// `input` or a [`LineError`]. An error never stops the iteration.
///
/// ```
/// let mut lines = line_protocol::parse_lines("cpu,host=a usage=0.5 10\n# note\ncpu usage=\n");
/// let first = lines.next().unwrap().unwrap();
/// assert_eq!(first.measurement, "cpu");
/// assert_eq!(first.tag("host"), Some("a"));
/// assert_eq!(first.timestamp, Some(10));
/// let err = lines.next().unwrap().unwrap_err();
/// assert_eq!(err.line_number, 3);
/// assert_eq!(err.to_string(), "unable to parse 'cpu usage=': missing field value (line 3)");
/// assert!(lines.next().is_none());
/// ```
pub fn parse_lines(input: &str) -> Lines<'_> {
    Lines::new(input.as_bytes(), Some(input))
}

/// Like [`parse_lines`], for input not yet known to be UTF-8.
///
/// Each line is validated on its own; a line that is not UTF-8 yields
/// [`ErrorReason::InvalidUtf8`] and the lines around it still parse.
pub fn parse_lines_bytes(input: &[u8]) -> Lines<'_> {
    Lines::new(input, None)
}

/// Iterator returned by [`parse_lines`] and [`parse_lines_bytes`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    bytes: &'a [u8],
    /// `bytes` as a `str` when the caller already validated it.
    text: Option<&'a str>,
    pos: usize,
    /// Physical line number at `pos`.
    line_number: usize,
    scratch: Scratch<'a>,
}

/// Buffers reused from line to line, so that each line's tag and field
/// vectors are allocated once at their exact size.
#[derive(Debug, Clone, Default)]
struct Scratch<'a> {
    tags: Vec<Tag<'a>>,
    fields: Vec<Field<'a>>,
}

/// What [`Lines::next_raw`] yields.
pub(crate) struct RawItem<'a> {
    pub(crate) result: Result<ParsedLine<'a>, ErrorReason>,
    pub(crate) line_number: usize,
    /// The line, without leading whitespace or a trailing `\r`.
    pub(crate) text: &'a [u8],
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8], text: Option<&'a str>) -> Self {
        Lines {
            bytes,
            text,
            pos: 0,
            line_number: 1,
            scratch: Scratch::default(),
        }
    }

    /// Next non-blank, non-comment line, with its text for error reports.
    pub(crate) fn next_raw(&mut self) -> Option<RawItem<'a>> {
        let b = self.bytes;
        while self.pos < b.len() {
            let start = self.pos;
            let (end, inner_newlines) = line_end(b, start);
            let line_number = self.line_number;
            self.line_number += inner_newlines + usize::from(end < b.len());
            self.pos = end + 1;

            let mut s = start;
            let mut e = end;
            // A line that ran to the end of the input inside a quote keeps
            // the input's final newline; InfluxDB strips it.
            if e > s && b[e - 1] == b'\n' {
                e -= 1;
            }
            // InfluxDB 1.x keeps the `\r` of CRLF input (and then rejects
            // most lines); tolerating CRLF is more useful.
            if e > s && b[e - 1] == b'\r' {
                e -= 1;
            }
            while s < e && is_whitespace(b[s]) {
                s += 1;
            }
            if s == e || b[s] == b'#' {
                continue;
            }
            let text = &b[s..e];
            let line = match self.text {
                // `s` and `e` sit next to ASCII bytes (or at the ends), so
                // they are char boundaries and this cannot panic.
                Some(t) => &t[s..e],
                None => match std::str::from_utf8(text) {
                    Ok(line) => line,
                    Err(_) => {
                        return Some(RawItem {
                            result: Err(E::InvalidUtf8),
                            line_number,
                            text,
                        })
                    }
                },
            };
            let result = parse_line(line, line_number, &mut self.scratch);
            return Some(RawItem {
                result,
                line_number,
                text,
            });
        }
        None
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<ParsedLine<'a>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.next_raw()?;
        Some(
            item.result
                .map_err(|reason| LineError::new(item.line_number, reason, item.text)),
        )
    }
}

/// What InfluxDB's `skipWhitespace` skips: before a line, between the key
/// and the fields, and before the timestamp.
#[inline]
fn is_whitespace(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == 0
}

/// Bytes that can end (or escape within) a name: `,` `=` space `\`.
static NAME_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'=' as usize] = true;
    t[b' ' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Index of the first byte from `i` on that is `,` `=` space or `\`, or
/// `b.len()`.
#[inline(always)]
fn find_name_special(b: &[u8], mut i: usize) -> usize {
    // Names are short (TSBS averages under 10 bytes), where a table lookup
    // per byte beats setting up a SIMD search; unrolled by 4 to keep the
    // bounds checks out of the hot loop.
    while i + 4 <= b.len() {
        if NAME_SPECIAL[b[i] as usize] {
            return i;
        }
        if NAME_SPECIAL[b[i + 1] as usize] {
            return i + 1;
        }
        if NAME_SPECIAL[b[i + 2] as usize] {
            return i + 2;
        }
        if NAME_SPECIAL[b[i + 3] as usize] {
            return i + 3;
        }
        i += 4;
    }
    while i < b.len() && !NAME_SPECIAL[b[i] as usize] {
        i += 1;
    }
    i
}

/// How a name scan stopped.
enum NameEnd {
    Comma,
    Equals,
    Space,
    Eol,
}

/// Scans a name starting at `start` (whose first byte the caller has
/// checked) up to the first unescaped delimiter. `equals_ends` tells whether
/// `=` is a delimiter (everything but measurements). Returns the end, what
/// ended it and whether the name contains a backslash.
#[inline(always)]
fn scan_name(b: &[u8], start: usize, equals_ends: bool) -> (usize, NameEnd, bool) {
    let mut escaped = b[start] == b'\\';
    let mut i = start + 1;
    loop {
        i = find_name_special(b, i);
        if i >= b.len() {
            return (i, NameEnd::Eol, escaped);
        }
        let c = b[i];
        if c == b'\\' {
            escaped = true;
        } else if b[i - 1] != b'\\' {
            match c {
                b',' => return (i, NameEnd::Comma, escaped),
                b' ' => return (i, NameEnd::Space, escaped),
                _ if equals_ends => return (i, NameEnd::Equals, escaped),
                _ => {}
            }
        }
        i += 1;
    }
}

#[inline]
fn name<'a>(line: &'a str, start: usize, end: usize, escaped: bool, tag: bool) -> Cow<'a, str> {
    // Delimiters are ASCII, so `start` and `end` are char boundaries.
    let raw = &line[start..end];
    if !escaped {
        Cow::Borrowed(raw)
    } else if tag {
        unescape_name(raw, is_tag_escapable)
    } else {
        unescape_name(raw, is_name_escapable)
    }
}

/// Parses one line: `line` has no leading whitespace, no line terminator,
/// and is neither empty nor a comment.
fn parse_line<'a>(
    line: &'a str,
    line_number: usize,
    scratch: &mut Scratch<'a>,
) -> Result<ParsedLine<'a>, ErrorReason> {
    let b = line.as_bytes();
    let n = b.len();
    scratch.tags.clear();
    scratch.fields.clear();

    // Measurement.
    if b[0] == b',' {
        return Err(E::MissingMeasurement);
    }
    let (m_end, mut stop, escaped) = scan_name(b, 0, false);
    if matches!(stop, NameEnd::Eol) {
        return Err(E::MissingFields);
    }
    let measurement = name(line, 0, m_end, escaped, false);

    // Tags.
    let mut i = m_end;
    let mut time_tag = false;
    while matches!(stop, NameEnd::Comma) {
        let k0 = i + 1;
        if k0 >= n || matches!(b[k0], b' ' | b',' | b'=') {
            return Err(E::MissingTagKey);
        }
        let (k_end, k_stop, k_esc) = scan_name(b, k0, true);
        if !matches!(k_stop, NameEnd::Equals) {
            return Err(E::MissingTagValue);
        }
        let v0 = k_end + 1;
        if v0 >= n || matches!(b[v0], b',' | b' ') {
            return Err(E::MissingTagValue);
        }
        // The first byte of a value may be `=` (InfluxDB accepts `t==x`);
        // scan_name only looks for delimiters after it.
        let (v_end, v_stop, v_esc) = scan_name(b, v0, true);
        match v_stop {
            NameEnd::Eol => return Err(E::MissingFields),
            NameEnd::Equals => return Err(E::InvalidTagFormat),
            _ => {}
        }
        let key = name(line, k0, k_end, k_esc, true);
        time_tag |= key == "time";
        scratch.tags.push((key, name(line, v0, v_end, v_esc, true)));
        i = v_end;
        stop = v_stop;
    }
    // `i` is now at the space that ends the series key.
    let key_len = i;
    if key_len > MAX_KEY_LENGTH {
        return Err(E::MaxKeyLengthExceeded);
    }
    sort_tags(&mut scratch.tags)?;

    // Fields.
    let mut p = i + 1;
    while p < n && is_whitespace(b[p]) {
        p += 1;
    }
    // One bit per small hash of the keys seen, so the check for a repeated
    // key only searches when a key might have been seen.
    let mut seen: u64 = 0;
    let mut time_field = false;
    let value_end = loop {
        let f0 = p;
        if f0 >= n {
            // `cpu ` or a trailing comma.
            return Err(E::InvalidFieldFormat);
        }
        match b[f0] {
            b'=' => return Err(E::MissingFieldKey),
            // `a=1,,b=2`, `a=1, b=2`
            b',' | b' ' => return Err(E::InvalidFieldFormat),
            _ => {}
        }
        let (k_end, k_stop, k_esc) = scan_name(b, f0, true);
        if !matches!(k_stop, NameEnd::Equals) {
            return Err(E::InvalidFieldFormat);
        }
        if key_len + 4 + (k_end - f0) > MAX_KEY_LENGTH {
            return Err(E::MaxKeyLengthExceeded);
        }
        let v = k_end + 1;
        if v >= n {
            return Err(E::MissingFieldValue);
        }
        let (value, end) = match b[v] {
            b',' | b' ' => return Err(E::MissingFieldValue),
            b'"' => parse_string(line, v)?,
            b'0'..=b'9' | b'-' | b'.' | b'N' | b'n' => parse_number(line, v)?,
            _ => parse_bool(b, v)?,
        };
        let key = name(line, f0, k_end, k_esc, false);
        if key == "time" {
            // InfluxDB 1.x drops fields named `time` at write time.
            time_field = true;
        } else {
            push_field(&mut scratch.fields, &mut seen, key, value)?;
        }
        if end >= n {
            break end;
        }
        match b[end] {
            b',' => p = end + 1,
            b' ' => break end,
            // Only reachable after a closing quote: see parse_string.
            _ => return Err(E::InvalidFieldFormat),
        }
    };

    let timestamp = parse_timestamp(b, value_end)?;

    // InfluxDB's parser accepts these; its write path then refuses them.
    if time_tag {
        return Err(E::InvalidTagKey);
    }
    if scratch.fields.is_empty() {
        debug_assert!(time_field);
        return Err(E::InvalidFieldKey);
    }

    Ok(ParsedLine {
        measurement,
        // Draining into a fresh Vec allocates exactly once, at the final
        // size, while the scratch keeps its capacity for the next line.
        tags: scratch.tags.drain(..).collect(),
        fields: scratch.fields.drain(..).collect(),
        timestamp,
        line_number,
    })
}

/// Sorts tags by key (InfluxDB sorts them too; series keys are built from
/// the sorted set) and rejects repeated keys.
#[inline]
fn sort_tags(tags: &mut [Tag<'_>]) -> Result<(), ErrorReason> {
    // Strictly increasing means sorted and free of duplicates: the common
    // case for well-behaved clients costs one pass.
    if tags.is_sorted_by(|a, b| key_cmp(&a.0, &b.0).is_lt()) {
        return Ok(());
    }
    tags.sort_unstable_by(|a, b| key_cmp(&a.0, &b.0));
    if tags.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(E::DuplicateTags);
    }
    Ok(())
}

/// Byte-wise order of two non-empty keys. The first byte usually decides,
/// which spares a `memcmp` call (measurably faster on TSBS lines, whose tags
/// come unsorted).
#[inline(always)]
fn key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a[0].cmp(&b[0]).then_with(|| a.cmp(b))
}

/// Adds a field; a repeated key keeps its first position and takes the new
/// value (as InfluxDB stores the later one), unless the types differ, which
/// InfluxDB rejects as a field type conflict.
#[inline]
fn push_field<'a>(
    fields: &mut Vec<Field<'a>>,
    seen: &mut u64,
    key: Cow<'a, str>,
    value: FieldValue<'a>,
) -> Result<(), ErrorReason> {
    let kb = key.as_bytes();
    let h = kb
        .len()
        .wrapping_add(usize::from(kb[0]) << 2)
        .wrapping_add(usize::from(kb[kb.len() - 1]) << 4)
        .wrapping_add(usize::from(kb[kb.len() / 2]) * 7);
    let bit = 1u64 << (h & 63);
    if *seen & bit != 0 {
        if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == key) {
            if !slot.1.same_type(&value) {
                return Err(E::FieldTypeConflict);
            }
            slot.1 = value;
            return Ok(());
        }
    }
    *seen |= bit;
    fields.push((key, value));
    Ok(())
}

/// End of a value token: the next `,` or space, or the end of the line.
#[inline]
fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b',' && b[i] != b' ' {
        i += 1;
    }
    i
}

/// Parses a run of ASCII digits; `None` on overflow.
#[inline]
fn parse_digits(d: &[u8]) -> Option<u64> {
    // Up to 19 digits cannot overflow a u64 (10^19 - 1 < 2^64).
    let (fast, slow) = d.split_at(d.len().min(19));
    let mut acc: u64 = 0;
    for &c in fast {
        acc = acc * 10 + u64::from(c - b'0');
    }
    for &c in slow {
        acc = acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(acc)
}

#[inline]
fn to_i64(neg: bool, abs: u64) -> Option<i64> {
    if neg {
        // -(2^63) is representable; its magnitude is not.
        0i64.checked_sub_unsigned(abs)
    } else {
        i64::try_from(abs).ok()
    }
}

#[inline]
fn is_value_end(b: &[u8], i: usize) -> bool {
    i >= b.len() || b[i] == b',' || b[i] == b' '
}

/// Parses a numeric value starting at `v` (a digit, `-`, `.`, `N` or `n`).
/// Returns the value and the index just past it.
#[inline]
fn parse_number(line: &str, v: usize) -> Result<(FieldValue<'_>, usize), ErrorReason> {
    let b = line.as_bytes();
    let neg = b[v] == b'-';
    let d0 = v + usize::from(neg);
    let mut i = d0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let digits = &b[d0..i];
    if i < b.len() && !digits.is_empty() {
        match b[i] {
            b'i' if is_value_end(b, i + 1) => {
                let n = parse_digits(digits)
                    .and_then(|abs| to_i64(neg, abs))
                    .ok_or(E::IntegerOverflow)?;
                return Ok((FieldValue::Integer(n), i + 1));
            }
            b'u' if is_value_end(b, i + 1) => {
                if neg {
                    return Err(E::NegativeUnsigned);
                }
                let n = parse_digits(digits).ok_or(E::UnsignedOverflow)?;
                return Ok((FieldValue::Unsigned(n), i + 1));
            }
            _ => {}
        }
    }
    if is_value_end(b, i) && !digits.is_empty() && digits.len() <= 15 {
        // Integral float with at most 15 digits: exact in an f64.
        let abs = parse_digits(digits).unwrap_or(0) as f64;
        return Ok((FieldValue::Float(if neg { -abs } else { abs }), i));
    }
    parse_float(line, v, neg)
}

/// The general float path: validates the token the way InfluxDB's
/// `scanNumber` does, then converts it.
#[cold]
fn parse_float(line: &str, v: usize, neg: bool) -> Result<(FieldValue<'_>, usize), ErrorReason> {
    let b = line.as_bytes();
    let end = token_end(b, v);
    let tok = &b[v..end];
    let mut dot = false;
    let mut significant = 0;
    for k in usize::from(neg)..tok.len() {
        match tok[k] {
            b'0'..=b'9' => significant += 1,
            b'.' if !dot => dot = true,
            // Exponent markers are accepted anywhere but first; a misplaced
            // one is left for the conversion to refuse, which InfluxDB
            // reports as "invalid float" rather than "invalid number".
            b'e' | b'E' if k > 0 => significant += 1,
            b'+' | b'-' if k > 0 && matches!(tok[k - 1], b'e' | b'E') => {}
            // `i`/`u` suffixes on non-integers, a second dot, NaN, Inf, hex,
            // underscores...
            _ => return Err(E::InvalidNumber),
        }
    }
    if significant == 0 {
        return Err(E::InvalidNumber);
    }
    match line[v..end].parse::<f64>() {
        Ok(x) if x.is_finite() => Ok((FieldValue::Float(x), end)),
        _ => Err(E::InvalidFloat),
    }
}

/// Parses a boolean (anything that is neither number nor string).
#[inline]
fn parse_bool(b: &[u8], v: usize) -> Result<(FieldValue<'static>, usize), ErrorReason> {
    let end = token_end(b, v);
    let value = match &b[v..end] {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => true,
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => false,
        _ => return Err(E::InvalidBoolean),
    };
    Ok((FieldValue::Boolean(value), end))
}

/// Parses a quoted string starting at the quote at `v`.
fn parse_string(line: &str, v: usize) -> Result<(FieldValue<'_>, usize), ErrorReason> {
    let b = line.as_bytes();
    let mut j = v + 1;
    let mut escaped = false;
    let close = loop {
        if j >= b.len() {
            return Err(E::UnbalancedQuotes);
        }
        match memchr2(b'"', b'\\', &b[j..]) {
            None => return Err(E::UnbalancedQuotes),
            Some(off) if b[j + off] == b'"' => break j + off,
            Some(off) => {
                escaped = true;
                // A backslash always takes the next byte with it.
                j += off + 2;
            }
        }
    };
    // InfluxDB would go on and keep `x"` from `"x"y`; nothing but a
    // delimiter may follow a closing quote here.
    if !is_value_end(b, close + 1) {
        return Err(E::InvalidFieldFormat);
    }
    let raw = &line[v + 1..close];
    if raw.len() > MAX_STRING_FIELD_BYTES
        && (!escaped || unescaped_string_len(raw) > MAX_STRING_FIELD_BYTES)
    {
        return Err(E::StringTooLong);
    }
    let value = if escaped {
        unescape_string(raw)
    } else {
        Cow::Borrowed(raw)
    };
    Ok((FieldValue::String(value), close + 1))
}

/// Parses what follows the fields: optional whitespace, an optional
/// timestamp, then only spaces. `i` is the end of the last field value.
#[inline]
fn parse_timestamp(b: &[u8], mut i: usize) -> Result<Option<i64>, ErrorReason> {
    while i < b.len() && is_whitespace(b[i]) {
        i += 1;
    }
    if i >= b.len() {
        return Ok(None);
    }
    let neg = b[i] == b'-';
    let d0 = i + usize::from(neg);
    let mut j = d0;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    // A newline can only be here after a backslash-newline join; InfluxDB
    // ends the timestamp there and then finds trailing garbage.
    if j < b.len() && b[j] != b' ' && b[j] != b'\n' {
        return Err(E::BadTimestamp);
    }
    if j == d0 {
        return Err(E::BadTimestamp);
    }
    let ts = parse_digits(&b[d0..j])
        .and_then(|abs| to_i64(neg, abs))
        .ok_or(E::TimestampOutOfRange)?;
    if b[j..].iter().any(|&c| c != b' ') {
        return Err(E::TrailingGarbage);
    }
    Ok(Some(ts))
}

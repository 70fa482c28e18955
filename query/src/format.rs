//! InfluxDB 1.x's response formats: JSON (compact, `pretty`, chunked) and
//! CSV, byte for byte as Go's `encoding/json` and InfluxDB's writers produce
//! them where clients could tell the difference.
//!
//! - Times: RFC3339 with nanoseconds, trailing zeros trimmed (Go's
//!   `time.RFC3339Nano`), or integers in the `epoch` unit.
//! - Floats: Go's `encoding/json` rules (shortest representation, `2` not
//!   `2.0`, exponents only below 1e-6 or from 1e21, as `1e-07` → `1e-7`).
//! - Strings: Go escapes `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`...
//! - Keys in Go's struct order: `statement_id`, `series`, `messages`,
//!   `partial`, `error`; `name`, `tags`, `columns`, `values`, `partial`;
//!   empty ones omitted (`omitempty`).
//!
//! The writers append to a `Vec<u8>` without an intermediate tree, since
//! large raw selections go through them.

use std::fmt::Write as _;

use crate::result::{Cell, Series, StatementResult};

/// The `epoch` query parameter: times as integers in this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    /// `ns`.
    Nanoseconds,
    /// `u` or `µ`.
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

impl Epoch {
    /// Parses InfluxDB's `epoch` values (`ns`, `u`, `µ`, `ms`, `s`, `m`, `h`).
    /// Unknown values give `None`: InfluxDB then answers RFC3339.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ns" | "n" => Epoch::Nanoseconds,
            "u" | "µ" | "us" => Epoch::Microseconds,
            "ms" => Epoch::Milliseconds,
            "s" => Epoch::Seconds,
            "m" => Epoch::Minutes,
            "h" => Epoch::Hours,
            _ => return None,
        })
    }

    fn divisor(self) -> i64 {
        match self {
            Epoch::Nanoseconds => 1,
            Epoch::Microseconds => 1_000,
            Epoch::Milliseconds => 1_000_000,
            Epoch::Seconds => 1_000_000_000,
            Epoch::Minutes => 60_000_000_000,
            Epoch::Hours => 3_600_000_000_000,
        }
    }

    /// `ns` in this unit, truncated toward zero like Go's integer division.
    pub fn convert(self, ns: i64) -> i64 {
        ns / self.divisor()
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends `ns` as Go's `time.RFC3339Nano` in UTC:
/// `2015-08-18T00:06:00Z`, `2015-08-18T00:06:00.5Z`.
pub fn write_rfc3339(out: &mut String, ns: i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        let mut digits = format!("{frac:09}");
        while digits.ends_with('0') {
            digits.pop();
        }
        out.push('.');
        out.push_str(&digits);
    }
    out.push('Z');
}

/// Appends `ns` as Go's RFC3339Nano in a zone `offset_s` seconds east of
/// UTC: local wall time and `±hh:mm` (`Z` for a zero offset, as Go writes).
pub fn write_rfc3339_offset(out: &mut String, ns: i64, offset_s: i32) {
    if offset_s == 0 {
        write_rfc3339(out, ns);
        return;
    }
    write_rfc3339(out, ns + i64::from(offset_s) * 1_000_000_000);
    out.pop(); // the `Z`
    let sign = if offset_s < 0 { '-' } else { '+' };
    let a = offset_s.unsigned_abs();
    let _ = write!(out, "{sign}{:02}:{:02}", a / 3600, (a / 60) % 60);
}

/// `ns` as an RFC3339Nano string.
pub fn rfc3339(ns: i64) -> String {
    let mut s = String::with_capacity(30);
    write_rfc3339(&mut s, ns);
    s
}

/// Appends a float as Go's `encoding/json` writes it. NaN and infinities,
/// which Go refuses to encode, are written as `null`.
pub fn write_go_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust: `1.5e-7`; Go: mantissa the same, exponent signed and at
        // least two digits, then json strips the `0` of `e-07`.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').expect("exponent form has an e");
        let exp: i32 = exp.parse().expect("exponent is an integer");
        out.push_str(mantissa);
        out.push('e');
        if exp < 0 {
            let _ = write!(out, "-{}", -exp);
        } else {
            let _ = write!(out, "+{exp:02}");
        }
    } else {
        // Rust's Display is the shortest round-trip decimal, never with an
        // exponent, and prints integral values without `.0`: Go's `'f', -1`.
        let _ = write!(out, "{f}");
    }
}

/// Appends a float as InfluxDB's CSV writer does (`strconv.FormatFloat(v,
/// 'f', -1, 64)`: never an exponent).
fn write_plain_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Appends `s` as a JSON string the way Go's `encoding/json` escapes it.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How a response is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOptions {
    /// `epoch`: integer times in this unit instead of RFC3339 strings.
    pub epoch: Option<Epoch>,
    /// `pretty=true`: Go's `json.MarshalIndent(v, "", "    ")`.
    pub pretty: bool,
}

/// A JSON emitter that indents like Go's `MarshalIndent` when asked.
struct Json<'a> {
    out: &'a mut String,
    pretty: bool,
    depth: usize,
    /// Per open container: is it still empty?
    empty: Vec<bool>,
    /// A key was just written: the next value follows it directly.
    after_key: bool,
}

impl<'a> Json<'a> {
    fn new(out: &'a mut String, pretty: bool) -> Self {
        Self {
            out,
            pretty,
            depth: 0,
            empty: Vec::new(),
            after_key: false,
        }
    }

    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("    ");
            }
        }
    }

    /// Separates a value (or key) from the previous element of its container.
    fn begin_value(&mut self) {
        if std::mem::take(&mut self.after_key) {
            return;
        }
        if let Some(empty) = self.empty.last_mut() {
            if !*empty {
                self.out.push(',');
            }
            *empty = false;
            self.newline();
        }
    }

    fn open(&mut self, c: char) {
        self.begin_value();
        self.out.push(c);
        self.depth += 1;
        self.empty.push(true);
    }

    fn close(&mut self, c: char) {
        self.depth -= 1;
        if !self.empty.pop().unwrap_or(true) {
            self.newline();
        }
        self.out.push(c);
    }

    fn key(&mut self, k: &str) {
        self.begin_value();
        write_json_str(self.out, k);
        self.out.push(':');
        if self.pretty {
            self.out.push(' ');
        }
        self.after_key = true;
    }

    fn scalar(&mut self, f: impl FnOnce(&mut String)) {
        self.begin_value();
        f(self.out);
    }
}

fn write_cell(j: &mut Json<'_>, cell: &Cell, epoch: Option<Epoch>) {
    j.scalar(|out| match cell {
        Cell::Null => out.push_str("null"),
        Cell::Float(f) => write_go_float(out, *f),
        Cell::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Cell::Unsigned(u) => {
            let _ = write!(out, "{u}");
        }
        Cell::String(s) => write_json_str(out, s),
        Cell::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Cell::Time(ns) => match epoch {
            Some(e) => {
                let _ = write!(out, "{}", e.convert(*ns));
            }
            None => {
                out.push('"');
                write_rfc3339(out, *ns);
                out.push('"');
            }
        },
        Cell::ZonedTime { ns, offset_s } => match epoch {
            Some(e) => {
                let _ = write!(out, "{}", e.convert(*ns));
            }
            None => {
                out.push('"');
                write_rfc3339_offset(out, *ns, *offset_s);
                out.push('"');
            }
        },
    });
}

fn write_series(j: &mut Json<'_>, s: &Series, epoch: Option<Epoch>) {
    j.open('{');
    if !s.name.is_empty() {
        j.key("name");
        j.scalar(|out| write_json_str(out, &s.name));
    }
    if !s.tags.is_empty() {
        j.key("tags");
        j.open('{');
        for (k, v) in &s.tags {
            j.key(k);
            j.scalar(|out| write_json_str(out, v));
        }
        j.close('}');
    }
    if !s.columns.is_empty() {
        j.key("columns");
        j.open('[');
        for c in &s.columns {
            j.scalar(|out| write_json_str(out, c));
        }
        j.close(']');
    }
    if !s.values.is_empty() {
        j.key("values");
        j.open('[');
        for row in &s.values {
            j.open('[');
            for cell in row {
                write_cell(j, cell, epoch);
            }
            j.close(']');
        }
        j.close(']');
    }
    if s.partial {
        j.key("partial");
        j.scalar(|out| out.push_str("true"));
    }
    j.close('}');
}

fn write_result(j: &mut Json<'_>, r: &StatementResult, epoch: Option<Epoch>) {
    j.open('{');
    j.key("statement_id");
    j.scalar(|out| {
        let _ = write!(out, "{}", r.statement_id);
    });
    if !r.series.is_empty() {
        j.key("series");
        j.open('[');
        for s in &r.series {
            write_series(j, s, epoch);
        }
        j.close(']');
    }
    if !r.messages.is_empty() {
        j.key("messages");
        j.open('[');
        for m in &r.messages {
            j.open('{');
            j.key("level");
            j.scalar(|out| write_json_str(out, &m.level));
            j.key("text");
            j.scalar(|out| write_json_str(out, &m.text));
            j.close('}');
        }
        j.close(']');
    }
    if r.partial {
        j.key("partial");
        j.scalar(|out| out.push_str("true"));
    }
    if let Some(e) = &r.error {
        j.key("error");
        j.scalar(|out| write_json_str(out, e));
    }
    j.close('}');
}

/// Appends `{"results":[...]}` (plus a newline, as Go's `json.Encoder`
/// and InfluxDB's writer end every response with one).
pub fn write_json_response(out: &mut String, results: &[StatementResult], opts: JsonOptions) {
    let mut j = Json::new(out, opts.pretty);
    j.open('{');
    if !results.is_empty() {
        j.key("results");
        j.open('[');
        for r in results {
            write_result(&mut j, r, opts.epoch);
        }
        j.close(']');
    }
    j.close('}');
    out.push('\n');
}

/// Appends a request-level error: `{"error":"..."}` and a newline.
pub fn write_json_error(out: &mut String, message: &str, pretty: bool) {
    let mut j = Json::new(out, pretty);
    j.open('{');
    j.key("error");
    j.scalar(|o| write_json_str(o, message));
    j.close('}');
    out.push('\n');
}

/// Appends one CSV field with Go's `encoding/csv` quoting rules.
fn write_csv_field(out: &mut String, field: &str) {
    let needs_quotes = !field.is_empty()
        && (field == "\\."
            || field.contains([',', '"', '\r', '\n'])
            || field.starts_with([' ', '\t', '\u{a0}'])
            || field.chars().next().is_some_and(char::is_whitespace));
    if !needs_quotes {
        out.push_str(field);
        return;
    }
    out.push('"');
    for c in field.chars() {
        if c == '"' {
            out.push_str("\"\"");
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

fn write_csv_record(out: &mut String, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_csv_field(out, f);
    }
    out.push('\n');
}

/// Escapes a tag key or value as in a series key (`models.Tags.HashKey`).
fn escape_tag(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, ',' | ' ' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// State of a CSV response across chunks: InfluxDB reprints the header when
/// the statement or the columns change, with a blank line between.
#[derive(Debug, Default)]
pub struct CsvWriter {
    statement_id: Option<usize>,
    columns: Vec<String>,
}

impl CsvWriter {
    /// A writer at the start of a response.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an error answer (`error` header then the message).
    pub fn write_error(out: &mut String, message: &str) {
        write_csv_record(out, &["error".to_owned()]);
        write_csv_record(out, &[message.to_owned()]);
    }

    /// Appends the rows of `results` in InfluxDB 1.6's CSV layout:
    /// `name,tags,<columns>` then one line per row, tags as `k=v,k=v`, times
    /// as integers (ns, or the `epoch` unit).
    pub fn write(&mut self, out: &mut String, results: &[StatementResult], epoch: Option<Epoch>) {
        for r in results {
            if self.statement_id != Some(r.statement_id) {
                let Some(first) = r.series.first() else {
                    continue;
                };
                if self.statement_id.is_some() {
                    out.push('\n');
                }
                self.statement_id = Some(r.statement_id);
                self.columns = first.columns.clone();
                self.header(out);
            }
            for (i, s) in r.series.iter().enumerate() {
                if i > 0 && r.series[i - 1].columns != s.columns {
                    out.push('\n');
                    self.columns = s.columns.clone();
                    self.header(out);
                }
                let mut tags = String::new();
                for (k, v) in &s.tags {
                    if !tags.is_empty() {
                        tags.push(',');
                    }
                    escape_tag(&mut tags, k);
                    tags.push('=');
                    escape_tag(&mut tags, v);
                }
                for row in &s.values {
                    let mut fields = Vec::with_capacity(row.len() + 2);
                    fields.push(s.name.clone());
                    fields.push(tags.clone());
                    for cell in row {
                        let mut f = String::new();
                        match cell {
                            Cell::Null => {}
                            Cell::Float(x) => write_plain_float(&mut f, *x),
                            Cell::Integer(x) => {
                                let _ = write!(f, "{x}");
                            }
                            Cell::Unsigned(x) => {
                                let _ = write!(f, "{x}");
                            }
                            Cell::String(x) => f.push_str(x),
                            Cell::Boolean(x) => f.push_str(if *x { "true" } else { "false" }),
                            Cell::Time(ns) | Cell::ZonedTime { ns, .. } => {
                                let _ = write!(f, "{}", epoch.map_or(*ns, |e| e.convert(*ns)));
                            }
                        }
                        fields.push(f);
                    }
                    write_csv_record(out, &fields);
                }
            }
        }
    }

    fn header(&self, out: &mut String) {
        let mut h = Vec::with_capacity(self.columns.len() + 2);
        h.push("name".to_owned());
        h.push("tags".to_owned());
        h.extend(self.columns.iter().cloned());
        write_csv_record(out, &h);
    }
}

/// Cuts one statement's answer into InfluxDB's chunks as its series
/// arrive: one series per chunk, at most `size` rows each; a chunk that
/// the next one continues (same series) is a `partial` series, and every
/// chunk but the statement's last is `partial` (InfluxDB 1.6's
/// `query.Emitter` plus the handler's chunked loop). One chunk is held back
/// until the next arrives, since only then are its flags known.
#[derive(Debug)]
pub struct Chunker {
    statement_id: usize,
    size: usize,
    messages: Vec<crate::result::Message>,
    held: Option<Series>,
}

impl Chunker {
    /// A chunker for statement `statement_id`; `messages` go with its first
    /// chunk.
    pub fn new(statement_id: usize, size: usize, messages: Vec<crate::result::Message>) -> Self {
        Self {
            statement_id,
            size: size.max(1),
            messages,
            held: None,
        }
    }

    /// Adds the next series (or piece of one: pieces of a series arrive
    /// one after the other) of the answer; returns the chunks now complete.
    pub fn push(&mut self, series: Series) -> Vec<StatementResult> {
        let mut out = Vec::new();
        if series.values.is_empty() {
            return out;
        }
        let continues = self
            .held
            .as_ref()
            .is_some_and(|h| h.name == series.name && h.tags == series.tags);
        if !continues {
            if let Some(done) = self.held.take() {
                out.push(self.result(done, true));
            }
            self.held = Some(header(&series));
        }
        for row in series.values {
            let held = self.held.as_mut().expect("set above");
            if held.values.len() >= self.size {
                // Full, and the series goes on.
                let mut full = header(held);
                full.values = std::mem::take(&mut held.values);
                full.partial = true;
                out.push(self.result(full, true));
            }
            self.held.as_mut().expect("set above").values.push(row);
        }
        out
    }

    /// The statement's last chunk (just its id and messages when it had
    /// no rows).
    pub fn finish(mut self) -> StatementResult {
        match self.held.take() {
            Some(s) => self.result(s, false),
            None => StatementResult {
                statement_id: self.statement_id,
                messages: self.messages,
                ..Default::default()
            },
        }
    }

    fn result(&mut self, series: Series, partial: bool) -> StatementResult {
        StatementResult {
            statement_id: self.statement_id,
            series: vec![series],
            messages: std::mem::take(&mut self.messages),
            error: None,
            partial,
        }
    }
}

/// A series' name, tags and columns, without rows.
fn header(s: &Series) -> Series {
    Series {
        name: s.name.clone(),
        tags: s.tags.clone(),
        columns: s.columns.clone(),
        values: Vec::new(),
        partial: false,
    }
}

/// What InfluxDB 1.6 answers without `chunked`: its engine still cuts
/// series at 10 000 rows and the handler glues the pieces back together,
/// leaving `"partial": true` on series longer than that.
pub const DEFAULT_CHUNK_SIZE: usize = 10_000;

/// Marks series the way a non-chunked InfluxDB 1.6 response does (see
/// [`DEFAULT_CHUNK_SIZE`]).
pub fn mark_unchunked_partials(results: &mut [StatementResult]) {
    for r in results {
        for s in &mut r.series {
            if s.values.len() > DEFAULT_CHUNK_SIZE {
                s.partial = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::result::Message;

    fn float(f: f64) -> String {
        let mut s = String::new();
        write_go_float(&mut s, f);
        s
    }

    #[test]
    fn floats_like_go_encoding_json() {
        assert_eq!(float(2.0), "2");
        assert_eq!(float(-0.5), "-0.5");
        assert_eq!(float(1.743), "1.743");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float(1e20), "100000000000000000000");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(1.5e300), "1.5e+300");
        assert_eq!(float(1e-6), "0.000001");
        assert_eq!(float(1e-7), "1e-7");
        assert_eq!(float(-2.5e-10), "-2.5e-10");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(f64::NAN), "null");
    }

    #[test]
    fn times_like_go_rfc3339nano() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_439_856_000_000_000_000), "2015-08-18T00:00:00Z");
        assert_eq!(rfc3339(1_439_856_000_500_000_000), "2015-08-18T00:00:00.5Z");
        assert_eq!(
            rfc3339(1_439_856_000_000_000_001),
            "2015-08-18T00:00:00.000000001Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(rfc3339(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn epochs_truncate_toward_zero() {
        assert_eq!(
            Epoch::parse("ms").map(|e| e.convert(1_500_999_999)),
            Some(1_500)
        );
        assert_eq!(
            Epoch::parse("h").map(|e| e.convert(7_200_000_000_000)),
            Some(2)
        );
        assert_eq!(Epoch::parse("µ"), Some(Epoch::Microseconds));
        assert_eq!(Epoch::parse("u"), Some(Epoch::Microseconds));
        assert_eq!(Epoch::parse("x"), None);
        assert_eq!(Epoch::Seconds.convert(-1_500_000_000), -1);
    }

    fn sample() -> Vec<StatementResult> {
        let mut tags = BTreeMap::new();
        tags.insert("location".to_owned(), "santa monica".to_owned());
        vec![
            StatementResult {
                statement_id: 0,
                series: vec![Series {
                    name: "h2o_feet".into(),
                    tags,
                    columns: vec!["time".into(), "water_level".into(), "d".into()],
                    values: vec![
                        vec![
                            Cell::Time(1_439_856_000_000_000_000),
                            Cell::Float(2.0),
                            Cell::String("<a,b>".into()),
                        ],
                        vec![
                            Cell::Time(1_439_856_360_000_000_000),
                            Cell::Null,
                            Cell::Boolean(true),
                        ],
                    ],
                    partial: false,
                }],
                ..Default::default()
            },
            StatementResult {
                statement_id: 1,
                error: Some("database not found: x".into()),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn compact_json_has_influxdb_shape() {
        let mut s = String::new();
        write_json_response(&mut s, &sample(), JsonOptions::default());
        assert_eq!(
            s,
            "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"h2o_feet\",\"tags\":{\"location\":\"santa monica\"},\"columns\":[\"time\",\"water_level\",\"d\"],\"values\":[[\"2015-08-18T00:00:00Z\",2,\"\\u003ca,b\\u003e\"],[\"2015-08-18T00:06:00Z\",null,true]]}]},{\"statement_id\":1,\"error\":\"database not found: x\"}]}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["results"][0]["series"][0]["values"][0][2], "<a,b>");
    }

    #[test]
    fn epoch_json_and_messages() {
        let mut r = sample();
        r[1].error = None;
        r[1].messages.push(Message {
            level: "warning".into(),
            text: "deprecated".into(),
        });
        let mut s = String::new();
        write_json_response(
            &mut s,
            &r,
            JsonOptions {
                epoch: Epoch::parse("s"),
                pretty: false,
            },
        );
        assert!(s.contains("[[1439856000,2,"), "{s}");
        assert!(s.ends_with("{\"statement_id\":1,\"messages\":[{\"level\":\"warning\",\"text\":\"deprecated\"}]}]}\n"), "{s}");
    }

    #[test]
    fn pretty_json_indents_like_marshal_indent() {
        let r = vec![StatementResult {
            statement_id: 0,
            series: vec![Series {
                name: "databases".into(),
                columns: vec!["name".into()],
                values: vec![vec![Cell::String("db".into())]],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let mut s = String::new();
        write_json_response(
            &mut s,
            &r,
            JsonOptions {
                epoch: None,
                pretty: true,
            },
        );
        let expected = r#"{
    "results": [
        {
            "statement_id": 0,
            "series": [
                {
                    "name": "databases",
                    "columns": [
                        "name"
                    ],
                    "values": [
                        [
                            "db"
                        ]
                    ]
                }
            ]
        }
    ]
}
"#;
        assert_eq!(s, expected);
    }

    #[test]
    fn empty_result_and_error_bodies() {
        let mut s = String::new();
        write_json_response(
            &mut s,
            &[StatementResult::default()],
            JsonOptions::default(),
        );
        assert_eq!(s, "{\"results\":[{\"statement_id\":0}]}\n");
        let mut e = String::new();
        write_json_error(&mut e, "missing required parameter \"q\"", false);
        assert_eq!(e, "{\"error\":\"missing required parameter \\\"q\\\"\"}\n");
    }

    #[test]
    fn csv_like_influxdb() {
        let mut s = String::new();
        CsvWriter::new().write(&mut s, &sample(), None);
        assert_eq!(
            s,
            "name,tags,time,water_level,d\nh2o_feet,location=santa\\ monica,1439856000000000000,2,\"<a,b>\"\nh2o_feet,location=santa\\ monica,1439856360000000000,,true\n"
        );
    }

    fn chunked(r: StatementResult, size: usize) -> Vec<StatementResult> {
        let mut c = Chunker::new(r.statement_id, size, r.messages);
        let mut out = Vec::new();
        for s in r.series {
            out.extend(c.push(s));
        }
        out.push(c.finish());
        out
    }

    #[test]
    fn chunks_cut_series_and_mark_partials() {
        let r = sample().remove(0);
        assert_eq!(r.series.len(), 1);
        let chunks = chunked(r.clone(), 1);
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].partial && chunks[0].series[0].partial);
        assert!(!chunks[1].partial && !chunks[1].series[0].partial);
        assert_eq!(chunks[1].series[0].values.len(), 1);
        let whole = chunked(r.clone(), 10);
        assert_eq!(whole.len(), 1);
        assert!(!whole[0].partial);
        // Two series: the first chunk is partial as a chunk, not as a series.
        let mut two = r.clone();
        let mut other = r.series[0].clone();
        other.name = "other".into();
        two.series.push(other);
        let chunks = chunked(two, 10);
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].partial && !chunks[0].series[0].partial);
        assert!(!chunks[1].partial);
        // Pieces of one series that arrive separately are cut like the
        // whole series: 2 + 2 + 2 rows in chunks of 4 and 2.
        let mut c = Chunker::new(0, 4, Vec::new());
        assert!(c.push(r.series[0].clone()).is_empty());
        assert!(c.push(r.series[0].clone()).is_empty());
        let first = c.push(r.series[0].clone());
        assert_eq!(first.len(), 1);
        assert!(first[0].partial && first[0].series[0].partial);
        assert_eq!(first[0].series[0].values.len(), 4);
        let last = c.finish();
        assert!(!last.partial && !last.series[0].partial);
        assert_eq!(last.series[0].values.len(), 2);
        assert_eq!(Chunker::new(3, 10, Vec::new()).finish().statement_id, 3);
    }

    #[test]
    fn zoned_times_show_local_wall_time_and_offset() {
        let t = 1_439_856_000_000_000_000; // 2015-08-18T00:00:00Z
        let mut out = String::new();
        write_rfc3339_offset(&mut out, t, -5 * 3600);
        assert_eq!(out, "2015-08-17T19:00:00-05:00");
        out.clear();
        write_rfc3339_offset(&mut out, t, 5 * 3600 + 1800);
        assert_eq!(out, "2015-08-18T05:30:00+05:30");
        out.clear();
        write_rfc3339_offset(&mut out, t, 0);
        assert_eq!(out, "2015-08-18T00:00:00Z");
    }
}

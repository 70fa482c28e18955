//! Query results in the shape of InfluxDB 1.x's `/query` response, before
//! they are written as JSON or CSV.
//!
//! Both the SELECT engine and the other statements produce these; the HTTP
//! layer turns them into `{"results":[{"statement_id":0,"series":[...]}]}`.

use std::collections::BTreeMap;

/// One cell of a result row. Times stay integers (ns since the epoch) until
/// the HTTP layer formats them as RFC3339 or in the requested `epoch`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (InfluxDB's `null`).
    Null,
    /// A float field value or result.
    Float(f64),
    /// An integer field value or result.
    Integer(i64),
    /// An unsigned integer field value or result.
    Unsigned(u64),
    /// A string field value, tag value or name.
    String(String),
    /// A boolean field value.
    Boolean(bool),
    /// A timestamp in ns: only in the `time` column.
    Time(i64),
    /// A timestamp of a `tz('...')` query: RFC3339 answers show it in the
    /// zone, with the zone's offset at that instant (seconds east of UTC).
    ZonedTime {
        /// The instant, in ns since the epoch.
        ns: i64,
        /// The zone's offset from UTC at that instant, in seconds east.
        offset_s: i32,
    },
}

/// One series of a statement's result: InfluxDB's `name`, `tags`, `columns`,
/// `values`, `partial`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The measurement name.
    pub name: String,
    /// Tags of the GROUP BY; empty when the statement had none (InfluxDB then
    /// omits the `tags` key).
    pub tags: BTreeMap<String, String>,
    /// Column names; the first is `time` for SELECT results.
    pub columns: Vec<String>,
    /// Rows, one cell per column.
    pub values: Vec<Vec<Cell>>,
    /// Set on a chunk that is continued by the next one (chunked responses).
    pub partial: bool,
}

/// The result of one statement: its series, optional informational messages
/// and an error (InfluxDB answers errors per statement, not per request).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatementResult {
    /// The position of the statement in the request, from 0.
    pub statement_id: usize,
    /// The series of the statement's answer.
    pub series: Vec<Series>,
    /// Informational messages (InfluxDB's `messages`).
    pub messages: Vec<Message>,
    /// The statement's error text, if it failed.
    pub error: Option<String>,
    /// Set on a chunk that is continued by the next one.
    pub partial: bool,
}

/// InfluxDB's `messages` entries (`{"level":"warning","text":"..."}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The level of the message, e.g. `warning`.
    pub level: String,
    /// The text of the message.
    pub text: String,
}

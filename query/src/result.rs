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
    Null,
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(String),
    Boolean(bool),
    /// A timestamp in ns: only in the `time` column.
    Time(i64),
    /// A timestamp of a `tz('...')` query: RFC3339 answers show it in the
    /// zone, with the zone's offset at that instant (seconds east of UTC).
    ZonedTime {
        ns: i64,
        offset_s: i32,
    },
}

/// One series of a statement's result: InfluxDB's `name`, `tags`, `columns`,
/// `values`, `partial`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub name: String,
    /// Tags of the GROUP BY; empty when the statement had none (InfluxDB then
    /// omits the `tags` key).
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Cell>>,
    /// Set on a chunk that is continued by the next one (chunked responses).
    pub partial: bool,
}

/// The result of one statement: its series, optional informational messages
/// and an error (InfluxDB answers errors per statement, not per request).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatementResult {
    pub statement_id: usize,
    pub series: Vec<Series>,
    pub messages: Vec<Message>,
    pub error: Option<String>,
    /// Set on a chunk that is continued by the next one.
    pub partial: bool,
}

/// InfluxDB's `messages` entries (`{"level":"warning","text":"..."}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub level: String,
    pub text: String,
}

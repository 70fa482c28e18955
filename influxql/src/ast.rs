//! The InfluxQL syntax tree.
//!
//! The shapes follow Go's `influxql` package (InfluxDB 1.x) closely so that
//! rules written against the reference implementation carry over, with two
//! Rust-isms: optional parts are `Option`s instead of empty strings, and the
//! many statement structs are gathered into the [`Statement`] enum.
//!
//! Conventions used throughout:
//! - durations and timestamps are `i64` nanoseconds (timestamps since the Unix
//!   epoch, UTC);
//! - `limit`/`offset`-style counters are `u64` where `0` means "not given",
//!   exactly like InfluxDB (`LIMIT 0` means no limit);
//! - an empty `sources` vector means the statement had no `FROM` clause;
//! - identifiers are stored unquoted and unescaped; `Display` re-quotes them
//!   when needed.
//!
//! Every node implements `Display`, rendering canonical InfluxQL as Go's
//! `String()` methods do, so `parse(x.to_string()) == x` for parsed trees
//! (passwords are the exception: they render as `[REDACTED]`, like InfluxDB).

use std::fmt;

/// A parsed query string: one or more `;`-separated statements.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The statements, in order.
    pub statements: Vec<Statement>,
}

/// One InfluxQL statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SELECT ...`
    Select(Box<SelectStatement>),
    /// `EXPLAIN [ANALYZE] SELECT ...`
    Explain(ExplainStatement),

    /// `SHOW DATABASES`
    ShowDatabases,
    /// `SHOW MEASUREMENTS ...`
    ShowMeasurements(ShowMeasurementsStatement),
    /// `SHOW TAG KEYS ...`
    ShowTagKeys(ShowTagKeysStatement),
    /// `SHOW TAG VALUES ... WITH KEY ...`
    ShowTagValues(ShowTagValuesStatement),
    /// `SHOW FIELD KEYS ...`
    ShowFieldKeys(ShowFieldKeysStatement),
    /// `SHOW SERIES ...`
    ShowSeries(ShowSeriesStatement),
    /// `SHOW {SERIES|MEASUREMENT|TAG KEY|TAG VALUES|FIELD KEY} [EXACT] CARDINALITY ...`
    ShowCardinality(ShowCardinalityStatement),
    /// `SHOW RETENTION POLICIES [ON db]`
    ShowRetentionPolicies(ShowRetentionPoliciesStatement),
    /// `SHOW SHARDS`
    ShowShards,
    /// `SHOW SHARD GROUPS`
    ShowShardGroups,
    /// `SHOW USERS`
    ShowUsers,
    /// `SHOW GRANTS FOR user`
    ShowGrants(ShowGrantsStatement),
    /// `SHOW CONTINUOUS QUERIES`
    ShowContinuousQueries,
    /// `SHOW DIAGNOSTICS [FOR 'module']`
    ShowDiagnostics(ShowDiagnosticsStatement),
    /// `SHOW STATS [FOR 'module']`
    ShowStats(ShowStatsStatement),
    /// `SHOW QUERIES`
    ShowQueries,
    /// `SHOW SUBSCRIPTIONS`
    ShowSubscriptions,
    /// `KILL QUERY id [ON host]`
    KillQuery(KillQueryStatement),

    /// `CREATE DATABASE name [WITH ...]`
    CreateDatabase(CreateDatabaseStatement),
    /// `DROP DATABASE name`
    DropDatabase(DropDatabaseStatement),
    /// `CREATE RETENTION POLICY name ON db DURATION d REPLICATION n [SHARD DURATION d] [DEFAULT]`
    CreateRetentionPolicy(CreateRetentionPolicyStatement),
    /// `ALTER RETENTION POLICY name ON db [DURATION d] [REPLICATION n] [SHARD DURATION d] [DEFAULT]`
    AlterRetentionPolicy(AlterRetentionPolicyStatement),
    /// `DROP RETENTION POLICY name ON db`
    DropRetentionPolicy(DropRetentionPolicyStatement),

    /// `CREATE USER name WITH PASSWORD 'p' [WITH ALL PRIVILEGES]`
    CreateUser(CreateUserStatement),
    /// `DROP USER name`
    DropUser(DropUserStatement),
    /// `SET PASSWORD FOR name = 'p'`
    SetPassword(SetPasswordStatement),
    /// `GRANT READ|WRITE|ALL [PRIVILEGES] ON db TO user`
    Grant(GrantStatement),
    /// `GRANT ALL [PRIVILEGES] TO user` (cluster admin)
    GrantAdmin(GrantAdminStatement),
    /// `REVOKE READ|WRITE|ALL [PRIVILEGES] ON db FROM user`
    Revoke(RevokeStatement),
    /// `REVOKE ALL [PRIVILEGES] FROM user` (cluster admin)
    RevokeAdmin(RevokeAdminStatement),

    /// `DELETE [FROM sources] [WHERE cond]` (at least one of the two)
    Delete(DeleteStatement),
    /// `DROP SERIES [FROM sources] [WHERE cond]` (at least one of the two)
    DropSeries(DropSeriesStatement),
    /// `DROP MEASUREMENT name`
    DropMeasurement(DropMeasurementStatement),
    /// `DROP SHARD id`
    DropShard(DropShardStatement),

    /// `CREATE CONTINUOUS QUERY name ON db [RESAMPLE ...] BEGIN select END`
    CreateContinuousQuery(CreateContinuousQueryStatement),
    /// `DROP CONTINUOUS QUERY name ON db`
    DropContinuousQuery(DropContinuousQueryStatement),
    /// `CREATE SUBSCRIPTION name ON db.rp DESTINATIONS ALL|ANY 'dest', ...`
    CreateSubscription(CreateSubscriptionStatement),
    /// `DROP SUBSCRIPTION name ON db.rp`
    DropSubscription(DropSubscriptionStatement),
}

/// `SELECT fields [INTO target] FROM sources [WHERE cond] [GROUP BY dims]
/// [fill(..)] [ORDER BY time ASC|DESC] [LIMIT n] [OFFSET n] [SLIMIT n]
/// [SOFFSET n] [tz('zone')]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectStatement {
    /// Projections, in order. Never empty for a parsed statement.
    pub fields: Vec<Field>,
    /// `INTO` destination.
    pub target: Option<Target>,
    /// `FROM` sources. Never empty for a parsed statement.
    pub sources: Vec<Source>,
    /// `WHERE` condition, time terms included (see [`crate::time_range`]).
    pub condition: Option<Expr>,
    /// `GROUP BY` items: tag [`Expr::VarRef`]s, [`Expr::Wildcard`],
    /// regexes ([`Literal::Regex`]) and one `time(interval[, offset])` call.
    pub dimensions: Vec<Dimension>,
    /// `fill(...)`; [`Fill::Null`] when absent, as in InfluxDB.
    pub fill: Fill,
    /// `ORDER BY` items; InfluxQL only accepts a single `time` (or bare
    /// `ASC`/`DESC`) entry. Empty means ascending.
    pub order_by: Vec<SortField>,
    /// `LIMIT` (0 = none).
    pub limit: u64,
    /// `OFFSET` (0 = none).
    pub offset: u64,
    /// `SLIMIT` (0 = none).
    pub slimit: u64,
    /// `SOFFSET` (0 = none).
    pub soffset: u64,
    /// `tz('Europe/Paris')`: the IANA zone name as written, validated to
    /// exist at parse time.
    pub timezone: Option<String>,
}

/// One projection of a SELECT: an expression and its optional `AS` alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The projected expression.
    pub expr: Expr,
    /// `AS alias`
    pub alias: Option<String>,
}

/// One `GROUP BY` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    /// A tag reference, `*`, a regex or `time(...)`.
    pub expr: Expr,
}

/// One `ORDER BY` item. `name` is `None` for a bare `ORDER BY DESC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortField {
    /// The sorted column; `None` for a bare `ASC`/`DESC`.
    pub name: Option<String>,
    /// `ASC` (the default) rather than `DESC`.
    pub ascending: bool,
}

/// `fill(...)` option of an aggregate SELECT.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Fill {
    /// `fill(null)` or no fill clause: empty windows are reported with null.
    #[default]
    Null,
    /// `fill(none)`: empty windows are dropped.
    None,
    /// `fill(previous)`
    Previous,
    /// `fill(linear)`
    Linear,
    /// `fill(<integer>)`
    Integer(i64),
    /// `fill(<float>)`
    Float(f64),
}

/// `INTO [[db.]rp.]measurement` or `INTO [[db.]rp.]:MEASUREMENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `db.`; `None`: the request's database.
    pub database: Option<String>,
    /// `rp.`; `None`: the database's default policy.
    pub retention_policy: Option<String>,
    /// `None` for `:MEASUREMENT` (write into the source measurement's name).
    pub measurement: Option<String>,
}

/// A data source of a `FROM` clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `[db.][rp.]name` or `/re/`.
    Measurement(Measurement),
    /// `FROM (SELECT ...)`
    Subquery(Box<SelectStatement>),
}

/// A measurement reference `[db.][rp.]name`, `db..name` (default RP) or a
/// regex `[db.][rp.]/re/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// `db.`; `None`: the request's database.
    pub database: Option<String>,
    /// `rp.`; `None`: the database's default policy.
    pub retention_policy: Option<String>,
    /// The name or regex.
    pub name: MeasurementName,
}

/// The last segment of a measurement reference.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasurementName {
    /// A literal measurement name.
    Name(String),
    /// `/re/`: every measurement whose name matches.
    Regex(Regex),
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field or tag reference, possibly with a `::type` cast.
    VarRef(VarRef),
    /// A function call; the name is lowercased by the parser.
    Call(Call),
    /// `lhs op rhs`.
    Binary(Box<BinaryExpr>),
    /// `( expr )`, kept so printing reproduces the grouping.
    Paren(Box<Expr>),
    /// `*`, `*::field`, `*::tag`.
    Wildcard(WildcardType),
    /// `DISTINCT name` written without parentheses (`distinct(name)` is a
    /// [`Call`]).
    Distinct(String),
    /// A constant.
    Literal(Literal),
    /// `$name`, left in the tree when parsing without parameters; replaced by
    /// a literal by [`crate::bind`] or the `*_with_params` entry points.
    BoundParameter(String),
}

/// A field or tag reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The name; `a.b` written unquoted is kept as the single name `"a.b"`.
    pub name: String,
    /// The `::type` cast, [`DataType::Unknown`] when none was written.
    pub data_type: DataType,
}

/// A function call `name(args...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Lowercase function name.
    pub name: String,
    /// The arguments, in order.
    pub args: Vec<Expr>,
}

/// `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
}

/// Binary operators, from lowest to highest precedence:
/// `OR` < `AND` < comparisons < `+ - | ^` < `* / % &`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    BitwiseAnd,
    /// `|`
    BitwiseOr,
    /// `^`
    BitwiseXor,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `=`
    Eq,
    /// `!=` (also written `<>`)
    NotEq,
    /// `=~`
    EqRegex,
    /// `!~`
    NotEqRegex,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

/// The kind of a `*` wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WildcardType {
    /// `*`: fields and tags.
    All,
    /// `*::field`
    Field,
    /// `*::tag`
    Tag,
}

/// Constants.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `42`, `-7`.
    Integer(i64),
    /// An integer literal too large for `i64` (up to `u64::MAX`).
    Unsigned(u64),
    /// `1.5`, `-0.25`.
    Float(f64),
    /// `'text'`, unescaped.
    String(String),
    /// `true` / `false`.
    Boolean(bool),
    /// `10s`, `1h30m`, `-5m`: nanoseconds.
    Duration(i64),
    /// `/re/`.
    Regex(Regex),
    /// An absolute time in nanoseconds since the epoch. The parser never
    /// produces it; rewrites (e.g. of `'2016-01-01T00:00:00Z'` strings) do.
    /// Printed as a quoted RFC3339 string.
    Time(i64),
}

/// The data type of a field, tag or `::cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum DataType {
    /// No type known / no cast written.
    #[default]
    Unknown,
    /// `::float`
    Float,
    /// `::integer`
    Integer,
    /// `::string`
    String,
    /// `::boolean`
    Boolean,
    /// A timestamp (never written as a cast).
    Time,
    /// A duration (never written as a cast).
    Duration,
    /// `::tag`
    Tag,
    /// `::field` (any field type)
    AnyField,
    /// `::unsigned`
    Unsigned,
}

/// A compiled regular expression that remembers its source text. Equality
/// and printing use the source text.
#[derive(Clone)]
pub struct Regex {
    source: String,
    compiled: regex::Regex,
}

impl Regex {
    /// Compiles `source` (the text between the slashes, with `\/` already
    /// turned into `/`).
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            source: source.to_owned(),
            compiled: regex::Regex::new(source)?,
        })
    }

    /// The pattern as written (without the delimiting slashes).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled pattern. Matching is unanchored, as in Go.
    pub fn regex(&self) -> &regex::Regex {
        &self.compiled
    }

    /// Unanchored match, like Go's `MatchString`.
    pub fn is_match(&self, s: &str) -> bool {
        self.compiled.is_match(s)
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Regex {}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({:?})", self.source)
    }
}

/// `EXPLAIN [ANALYZE] SELECT ...`
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainStatement {
    /// The SELECT explained.
    pub statement: Box<SelectStatement>,
    /// `ANALYZE`: run the query and report what it did.
    pub analyze: bool,
}

/// `SHOW MEASUREMENTS [ON db] [WITH MEASUREMENT =|=~ m] [WHERE cond]
/// [ORDER BY ...] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowMeasurementsStatement {
    /// `ON db`; `None`: the request's database.
    pub database: Option<String>,
    /// `WITH MEASUREMENT = name` / `=~ /re/`: printed with `=~` when the name
    /// is a regex, `=` otherwise.
    pub with_measurement: Option<Measurement>,
    /// `WHERE` condition.
    pub condition: Option<Expr>,
    /// `ORDER BY` items.
    pub order_by: Vec<SortField>,
    /// `LIMIT` (0 = none).
    pub limit: u64,
    /// `OFFSET` (0 = none).
    pub offset: u64,
}

/// `SHOW TAG KEYS [ON db] [FROM sources] [WHERE cond] [ORDER BY ...]
/// [LIMIT n] [OFFSET n] [SLIMIT n] [SOFFSET n]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowTagKeysStatement {
    /// `ON db`; `None`: the request's database.
    pub database: Option<String>,
    /// `FROM` sources; empty when there is no `FROM`.
    pub sources: Vec<Source>,
    /// `WHERE` condition.
    pub condition: Option<Expr>,
    /// `ORDER BY` items.
    pub order_by: Vec<SortField>,
    /// `LIMIT` (0 = none).
    pub limit: u64,
    /// `OFFSET` (0 = none).
    pub offset: u64,
    /// `SLIMIT` (0 = none).
    pub slimit: u64,
    /// `SOFFSET` (0 = none).
    pub soffset: u64,
}

/// `SHOW TAG VALUES [ON db] [FROM sources] WITH KEY ... [WHERE cond]
/// [ORDER BY ...] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowTagValuesStatement {
    /// `ON db`; `None`: the request's database.
    pub database: Option<String>,
    /// `FROM` sources; empty when there is no `FROM`.
    pub sources: Vec<Source>,
    /// The `WITH KEY` clause: which tag keys' values.
    pub key: TagKeyPredicate,
    /// `WHERE` condition.
    pub condition: Option<Expr>,
    /// `ORDER BY` items.
    pub order_by: Vec<SortField>,
    /// `LIMIT` (0 = none).
    pub limit: u64,
    /// `OFFSET` (0 = none).
    pub offset: u64,
}

/// The `WITH KEY` clause of `SHOW TAG VALUES`.
#[derive(Debug, Clone, PartialEq)]
pub enum TagKeyPredicate {
    /// `WITH KEY = key`
    Eq(String),
    /// `WITH KEY != key`
    NotEq(String),
    /// `WITH KEY =~ /re/`
    EqRegex(Regex),
    /// `WITH KEY !~ /re/`
    NotEqRegex(Regex),
    /// `WITH KEY IN (k1, k2, ...)`
    In(Vec<String>),
}

/// `SHOW FIELD KEYS [ON db] [FROM sources] [ORDER BY ...] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowFieldKeysStatement {
    /// `ON db`; `None`: the request's database.
    pub database: Option<String>,
    /// `FROM` sources; empty when there is no `FROM`.
    pub sources: Vec<Source>,
    /// `ORDER BY` items.
    pub order_by: Vec<SortField>,
    /// `LIMIT` (0 = none).
    pub limit: u64,
    /// `OFFSET` (0 = none).
    pub offset: u64,
}

/// `SHOW SERIES [ON db] [FROM sources] [WHERE cond] [ORDER BY ...] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowSeriesStatement {
    /// `ON db`; `None`: the request's database.
    pub database: Option<String>,
    /// `FROM` sources; empty when there is no `FROM`.
    pub sources: Vec<Source>,
    /// `WHERE` condition.
    pub condition: Option<Expr>,
    /// `ORDER BY` items.
    pub order_by: Vec<SortField>,
    /// `LIMIT` (0 = none).
    pub limit: u64,
    /// `OFFSET` (0 = none).
    pub offset: u64,
}

/// `SHOW <kind> [EXACT] CARDINALITY [ON db] [FROM sources] [WITH KEY ...]
/// [WHERE cond] [GROUP BY dims] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowCardinalityStatement {
    /// What is counted.
    pub kind: CardinalityKind,
    /// `EXACT`: count instead of estimating.
    pub exact: bool,
    /// `ON db`; `None`: the request's database.
    pub database: Option<String>,
    /// `FROM` sources; empty when there is no `FROM`.
    pub sources: Vec<Source>,
    /// `WHERE` condition.
    pub condition: Option<Expr>,
    /// `GROUP BY` items.
    pub dimensions: Vec<Dimension>,
    /// `LIMIT` (0 = none).
    pub limit: u64,
    /// `OFFSET` (0 = none).
    pub offset: u64,
}

/// What a `SHOW ... CARDINALITY` statement counts.
#[derive(Debug, Clone, PartialEq)]
pub enum CardinalityKind {
    /// `SHOW SERIES [EXACT] CARDINALITY`
    Series,
    /// `SHOW MEASUREMENT [EXACT] CARDINALITY`
    Measurement,
    /// `SHOW TAG KEY [EXACT] CARDINALITY`
    TagKey,
    /// `SHOW TAG VALUES [EXACT] CARDINALITY ... WITH KEY ...`
    TagValues(TagKeyPredicate),
    /// `SHOW FIELD KEY [EXACT] CARDINALITY`
    FieldKey,
}

/// `SHOW RETENTION POLICIES [ON db]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRetentionPoliciesStatement {
    /// `ON db`; `None`: the request's database.
    pub database: Option<String>,
}

/// `SHOW GRANTS FOR user`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowGrantsStatement {
    /// The user's name.
    pub user: String,
}

/// `SHOW DIAGNOSTICS [FOR 'module']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowDiagnosticsStatement {
    /// `FOR 'module'`; `None` for every module.
    pub module: Option<String>,
}

/// `SHOW STATS [FOR 'module']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowStatsStatement {
    /// `FOR 'module'`; `None` for every module.
    pub module: Option<String>,
}

/// `KILL QUERY id [ON host]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillQueryStatement {
    /// The id `SHOW QUERIES` lists.
    pub query_id: u64,
    /// `ON host`: the node running the query.
    pub host: Option<String>,
}

/// `CREATE DATABASE name [WITH [DURATION d] [REPLICATION n] [SHARD DURATION d] [NAME rp]]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDatabaseStatement {
    /// The database's name.
    pub name: String,
    /// Present when a `WITH` clause was given.
    pub retention_policy: Option<RetentionPolicySpec>,
}

/// The `WITH` clause of `CREATE DATABASE`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionPolicySpec {
    /// `DURATION d` in ns; `Some(0)` for `INF`.
    pub duration: Option<i64>,
    /// `REPLICATION n`
    pub replication: Option<u32>,
    /// `SHARD DURATION d` in ns.
    pub shard_duration: Option<i64>,
    /// `NAME rp`
    pub name: Option<String>,
}

/// `DROP DATABASE name`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropDatabaseStatement {
    /// The database's name.
    pub name: String,
}

/// `CREATE RETENTION POLICY name ON db DURATION d REPLICATION n [SHARD DURATION d] [DEFAULT]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRetentionPolicyStatement {
    /// The retention policy's name.
    pub name: String,
    /// `ON db`
    pub database: String,
    /// ns; 0 for `INF`.
    pub duration: i64,
    /// `REPLICATION n`
    pub replication: u32,
    /// ns; `None` lets the server pick from `duration`.
    pub shard_duration: Option<i64>,
    /// `DEFAULT`: make it the database's default policy.
    pub default: bool,
}

/// `ALTER RETENTION POLICY name ON db [DURATION d] [REPLICATION n] [SHARD DURATION d] [DEFAULT]`
/// (at least one option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterRetentionPolicyStatement {
    /// The retention policy's name.
    pub name: String,
    /// The database the policy belongs to.
    pub database: String,
    /// ns; `Some(0)` for `INF`.
    pub duration: Option<i64>,
    /// `REPLICATION n`
    pub replication: Option<u32>,
    /// `SHARD DURATION d` in ns.
    pub shard_duration: Option<i64>,
    /// `DEFAULT`: make it the database's default policy.
    pub default: bool,
}

/// `DROP RETENTION POLICY name ON db`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRetentionPolicyStatement {
    /// The retention policy's name.
    pub name: String,
    /// `ON db`
    pub database: String,
}

/// `CREATE USER name WITH PASSWORD 'password' [WITH ALL PRIVILEGES]`
#[derive(Clone, PartialEq, Eq)]
pub struct CreateUserStatement {
    /// The user's name.
    pub name: String,
    /// The password in clear (redacted by `Debug` and `Display`).
    pub password: String,
    /// `WITH ALL PRIVILEGES`
    pub admin: bool,
}

/// `DROP USER name`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropUserStatement {
    /// The user's name.
    pub name: String,
}

/// `SET PASSWORD FOR name = 'password'`
#[derive(Clone, PartialEq, Eq)]
pub struct SetPasswordStatement {
    /// The user's name.
    pub name: String,
    /// The new password in clear (redacted by `Debug` and `Display`).
    pub password: String,
}

/// A grantable privilege on a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    /// `READ`
    Read,
    /// `WRITE`
    Write,
    /// `ALL [PRIVILEGES]`
    All,
}

/// `GRANT privilege ON db TO user`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantStatement {
    /// The privilege granted or revoked.
    pub privilege: Privilege,
    /// `ON db`
    pub database: String,
    /// The user's name.
    pub user: String,
}

/// `GRANT ALL [PRIVILEGES] TO user`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantAdminStatement {
    /// The user's name.
    pub user: String,
}

/// `REVOKE privilege ON db FROM user`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeStatement {
    /// The privilege granted or revoked.
    pub privilege: Privilege,
    /// `ON db`
    pub database: String,
    /// The user's name.
    pub user: String,
}

/// `REVOKE ALL [PRIVILEGES] FROM user`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeAdminStatement {
    /// The user's name.
    pub user: String,
}

/// `DELETE [FROM sources] [WHERE cond]`. Sources are plain measurement names
/// or regexes (no database / RP, as InfluxDB rejects them).
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteStatement {
    /// `FROM` measurements; empty for all of them.
    pub sources: Vec<Source>,
    /// `WHERE` condition (tags and time).
    pub condition: Option<Expr>,
}

/// `DROP SERIES [FROM sources] [WHERE cond]`. Same source rules as DELETE.
#[derive(Debug, Clone, PartialEq)]
pub struct DropSeriesStatement {
    /// `FROM` measurements; empty for all of them.
    pub sources: Vec<Source>,
    /// `WHERE` condition (tags only).
    pub condition: Option<Expr>,
}

/// `DROP MEASUREMENT name`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropMeasurementStatement {
    /// The measurement's name.
    pub name: String,
}

/// `DROP SHARD id`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropShardStatement {
    /// The shard's id.
    pub id: u64,
}

/// `CREATE CONTINUOUS QUERY name ON db [RESAMPLE [EVERY d] [FOR d]] BEGIN select END`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateContinuousQueryStatement {
    /// The continuous query's name.
    pub name: String,
    /// `ON db`: the database the query runs in.
    pub database: String,
    /// `RESAMPLE EVERY d` in ns.
    pub resample_every: Option<i64>,
    /// `RESAMPLE FOR d` in ns.
    pub resample_for: Option<i64>,
    /// The SELECT; always has an `INTO` target.
    pub source: Box<SelectStatement>,
}

/// `DROP CONTINUOUS QUERY name ON db`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropContinuousQueryStatement {
    /// The continuous query's name.
    pub name: String,
    /// `ON db`
    pub database: String,
}

/// Delivery mode of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionMode {
    /// `ALL`: every destination gets every write.
    All,
    /// `ANY`: each write goes to one destination.
    Any,
}

/// `CREATE SUBSCRIPTION name ON db.rp DESTINATIONS ALL|ANY 'dest' [, 'dest']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSubscriptionStatement {
    /// The subscription's name.
    pub name: String,
    /// The database of `ON db.rp`.
    pub database: String,
    /// The retention policy of `ON db.rp`.
    pub retention_policy: String,
    /// `ALL` or `ANY`.
    pub mode: SubscriptionMode,
    /// The destination URLs, in order.
    pub destinations: Vec<String>,
}

/// `DROP SUBSCRIPTION name ON db.rp`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropSubscriptionStatement {
    /// The subscription's name.
    pub name: String,
    /// The database of `ON db.rp`.
    pub database: String,
    /// The retention policy of `ON db.rp`.
    pub retention_policy: String,
}

// Passwords stay out of logs: Debug, like Display, redacts them.
impl fmt::Debug for CreateUserStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateUserStatement")
            .field("name", &self.name)
            .field("password", &"[REDACTED]")
            .field("admin", &self.admin)
            .finish()
    }
}

impl fmt::Debug for SetPasswordStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetPasswordStatement")
            .field("name", &self.name)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

impl BinaryOp {
    /// The operator as written in InfluxQL.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::BitwiseAnd => "&",
            BinaryOp::BitwiseOr => "|",
            BinaryOp::BitwiseXor => "^",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::EqRegex => "=~",
            BinaryOp::NotEqRegex => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
        }
    }

    /// Binding strength: 1 (`OR`) to 5 (`* / % &`).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::EqRegex
            | BinaryOp::NotEqRegex
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq => 3,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::BitwiseOr | BinaryOp::BitwiseXor => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::BitwiseAnd => 5,
        }
    }

    /// `= != =~ !~ < <= > >=`
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `+ - * / % & | ^`
    pub fn is_arithmetic(self) -> bool {
        self.precedence() >= 4
    }
}

impl DataType {
    /// The name used in `::type` casts and in InfluxDB's type errors.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Unknown => "unknown",
            DataType::Float => "float",
            DataType::Integer => "integer",
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Time => "time",
            DataType::Duration => "duration",
            DataType::Tag => "tag",
            DataType::AnyField => "field",
            DataType::Unsigned => "unsigned",
        }
    }
}

impl Privilege {
    /// `READ`, `WRITE` or `ALL PRIVILEGES`, as printed by statements and
    /// SHOW GRANTS.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Read => "READ",
            Privilege::Write => "WRITE",
            Privilege::All => "ALL PRIVILEGES",
        }
    }
}

impl Expr {
    /// A variable reference without cast.
    pub fn var(name: impl Into<String>) -> Expr {
        Expr::VarRef(VarRef {
            name: name.into(),
            data_type: DataType::Unknown,
        })
    }

    /// `lhs op rhs`.
    pub fn binary(lhs: Expr, op: BinaryOp, rhs: Expr) -> Expr {
        Expr::Binary(Box::new(BinaryExpr { op, lhs, rhs }))
    }

    /// Drops any number of enclosing parentheses.
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let Expr::Paren(inner) = e {
            e = inner;
        }
        e
    }
}

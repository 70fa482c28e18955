//! Canonical InfluxQL printing for every AST node.
//!
//! Mirrors the reference `String()` methods, with these deliberate
//! differences: floats print with full precision (as newer InfluxQL does, so
//! printing round-trips), identifiers are always quoted when needed, and a
//! hand-built tree whose binary operands would regroup gets parentheses.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::duration::{format_duration, format_go_duration};
use crate::quote::{quote_ident, quote_string};
use crate::time::format_rfc3339_nano;

fn join<T: Display>(f: &mut Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn opt_on(f: &mut Formatter<'_>, db: &Option<String>) -> fmt::Result {
    if let Some(db) = db {
        write!(f, " ON {}", quote_ident(db))?;
    }
    Ok(())
}

fn opt_from(f: &mut Formatter<'_>, sources: &[Source]) -> fmt::Result {
    if !sources.is_empty() {
        f.write_str(" FROM ")?;
        join(f, sources, ", ")?;
    }
    Ok(())
}

fn opt_where(f: &mut Formatter<'_>, cond: &Option<Expr>) -> fmt::Result {
    if let Some(c) = cond {
        write!(f, " WHERE {c}")?;
    }
    Ok(())
}

fn opt_group_by(f: &mut Formatter<'_>, dims: &[Dimension]) -> fmt::Result {
    if !dims.is_empty() {
        f.write_str(" GROUP BY ")?;
        join(f, dims, ", ")?;
    }
    Ok(())
}

fn opt_order_by(f: &mut Formatter<'_>, order: &[SortField]) -> fmt::Result {
    if !order.is_empty() {
        f.write_str(" ORDER BY ")?;
        join(f, order, ", ")?;
    }
    Ok(())
}

fn opt_num(f: &mut Formatter<'_>, kw: &str, n: u64) -> fmt::Result {
    if n > 0 {
        write!(f, " {kw} {n}")?;
    }
    Ok(())
}

thread_local! {
    /// Set while [`to_influxdb16_string`] formats: floats then print the way
    /// InfluxDB 1.6 printed them.
    static INFLUXDB16_FLOATS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Canonical text exactly as InfluxDB 1.6 prints it, for places where
/// clients see that text (the `query` column of SHOW CONTINUOUS QUERIES):
/// float literals with three decimals (`1.500`) and float fill values Go's
/// `%v` way (`fill(2)`, `fill(1e+06)`). Unlike `to_string()`, this text may
/// not parse back to the same tree.
pub fn to_influxdb16_string(node: &impl Display) -> String {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            INFLUXDB16_FLOATS.with(|f| f.set(false));
        }
    }
    INFLUXDB16_FLOATS.with(|f| f.set(true));
    let _reset = Reset;
    node.to_string()
}

fn influxdb16_floats() -> bool {
    INFLUXDB16_FLOATS.with(|f| f.get())
}

/// Float text that reads back as the same float (and as a float, not an
/// integer).
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if influxdb16_floats() {
        return format!("{v:.3}");
    }
    let s = format!("{v}");
    if s.contains('.') {
        s
    } else {
        s + ".0"
    }
}

/// Go's `%v` for a float64: shortest digits, exponent form below 1e-4 or
/// from 1e6 up (`1e+06`, `1.5e-05`).
fn format_go_v(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_float(v).trim_end_matches(".0").to_owned();
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        let s = format!("{v}");
        return s.strip_suffix(".0").map(str::to_owned).unwrap_or(s);
    }
    let s = format!("{v:e}");
    let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn format_fill_float(v: f64) -> String {
    if influxdb16_floats() {
        format_go_v(v)
    } else {
        format_float(v)
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        join(f, &self.statements, ";\n")
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(s) => s.fmt(f),
            Statement::Explain(s) => s.fmt(f),
            Statement::ShowDatabases => f.write_str("SHOW DATABASES"),
            Statement::ShowMeasurements(s) => s.fmt(f),
            Statement::ShowTagKeys(s) => s.fmt(f),
            Statement::ShowTagValues(s) => s.fmt(f),
            Statement::ShowFieldKeys(s) => s.fmt(f),
            Statement::ShowSeries(s) => s.fmt(f),
            Statement::ShowCardinality(s) => s.fmt(f),
            Statement::ShowRetentionPolicies(s) => {
                f.write_str("SHOW RETENTION POLICIES")?;
                opt_on(f, &s.database)
            }
            Statement::ShowShards => f.write_str("SHOW SHARDS"),
            Statement::ShowShardGroups => f.write_str("SHOW SHARD GROUPS"),
            Statement::ShowUsers => f.write_str("SHOW USERS"),
            Statement::ShowGrants(s) => write!(f, "SHOW GRANTS FOR {}", quote_ident(&s.user)),
            Statement::ShowContinuousQueries => f.write_str("SHOW CONTINUOUS QUERIES"),
            Statement::ShowDiagnostics(s) => {
                f.write_str("SHOW DIAGNOSTICS")?;
                if let Some(m) = &s.module {
                    write!(f, " FOR {}", quote_string(m))?;
                }
                Ok(())
            }
            Statement::ShowStats(s) => {
                f.write_str("SHOW STATS")?;
                if let Some(m) = &s.module {
                    write!(f, " FOR {}", quote_string(m))?;
                }
                Ok(())
            }
            Statement::ShowQueries => f.write_str("SHOW QUERIES"),
            Statement::ShowSubscriptions => f.write_str("SHOW SUBSCRIPTIONS"),
            Statement::KillQuery(s) => {
                write!(f, "KILL QUERY {}", s.query_id)?;
                opt_on(f, &s.host)
            }
            Statement::CreateDatabase(s) => s.fmt(f),
            Statement::DropDatabase(s) => write!(f, "DROP DATABASE {}", quote_ident(&s.name)),
            Statement::CreateRetentionPolicy(s) => s.fmt(f),
            Statement::AlterRetentionPolicy(s) => s.fmt(f),
            Statement::DropRetentionPolicy(s) => write!(
                f,
                "DROP RETENTION POLICY {} ON {}",
                quote_ident(&s.name),
                quote_ident(&s.database)
            ),
            Statement::CreateUser(s) => {
                write!(
                    f,
                    "CREATE USER {} WITH PASSWORD [REDACTED]",
                    quote_ident(&s.name)
                )?;
                if s.admin {
                    f.write_str(" WITH ALL PRIVILEGES")?;
                }
                Ok(())
            }
            Statement::DropUser(s) => write!(f, "DROP USER {}", quote_ident(&s.name)),
            Statement::SetPassword(s) => {
                write!(f, "SET PASSWORD FOR {} = [REDACTED]", quote_ident(&s.name))
            }
            Statement::Grant(s) => write!(
                f,
                "GRANT {} ON {} TO {}",
                s.privilege.as_str(),
                quote_ident(&s.database),
                quote_ident(&s.user)
            ),
            Statement::GrantAdmin(s) => {
                write!(f, "GRANT ALL PRIVILEGES TO {}", quote_ident(&s.user))
            }
            Statement::Revoke(s) => write!(
                f,
                "REVOKE {} ON {} FROM {}",
                s.privilege.as_str(),
                quote_ident(&s.database),
                quote_ident(&s.user)
            ),
            Statement::RevokeAdmin(s) => {
                write!(f, "REVOKE ALL PRIVILEGES FROM {}", quote_ident(&s.user))
            }
            Statement::Delete(s) => {
                f.write_str("DELETE")?;
                opt_from(f, &s.sources)?;
                opt_where(f, &s.condition)
            }
            Statement::DropSeries(s) => {
                f.write_str("DROP SERIES")?;
                opt_from(f, &s.sources)?;
                opt_where(f, &s.condition)
            }
            Statement::DropMeasurement(s) => {
                write!(f, "DROP MEASUREMENT {}", quote_ident(&s.name))
            }
            Statement::DropShard(s) => write!(f, "DROP SHARD {}", s.id),
            Statement::CreateContinuousQuery(s) => s.fmt(f),
            Statement::DropContinuousQuery(s) => write!(
                f,
                "DROP CONTINUOUS QUERY {} ON {}",
                quote_ident(&s.name),
                quote_ident(&s.database)
            ),
            Statement::CreateSubscription(s) => {
                write!(
                    f,
                    "CREATE SUBSCRIPTION {} ON {}.{} DESTINATIONS {} ",
                    quote_ident(&s.name),
                    quote_ident(&s.database),
                    quote_ident(&s.retention_policy),
                    match s.mode {
                        SubscriptionMode::All => "ALL",
                        SubscriptionMode::Any => "ANY",
                    }
                )?;
                for (i, d) in s.destinations.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&quote_string(d))?;
                }
                Ok(())
            }
            Statement::DropSubscription(s) => write!(
                f,
                "DROP SUBSCRIPTION {} ON {}.{}",
                quote_ident(&s.name),
                quote_ident(&s.database),
                quote_ident(&s.retention_policy)
            ),
        }
    }
}

impl Display for SelectStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        join(f, &self.fields, ", ")?;
        if let Some(t) = &self.target {
            write!(f, " {t}")?;
        }
        opt_from(f, &self.sources)?;
        opt_where(f, &self.condition)?;
        opt_group_by(f, &self.dimensions)?;
        match self.fill {
            Fill::Null => {}
            Fill::None => f.write_str(" fill(none)")?,
            Fill::Previous => f.write_str(" fill(previous)")?,
            Fill::Linear => f.write_str(" fill(linear)")?,
            Fill::Integer(n) => write!(f, " fill({n})")?,
            Fill::Float(v) => write!(f, " fill({})", format_fill_float(v))?,
        }
        opt_order_by(f, &self.order_by)?;
        opt_num(f, "LIMIT", self.limit)?;
        opt_num(f, "OFFSET", self.offset)?;
        opt_num(f, "SLIMIT", self.slimit)?;
        opt_num(f, "SOFFSET", self.soffset)?;
        if let Some(tz) = &self.timezone {
            write!(f, " TZ({})", quote_string(tz))?;
        }
        Ok(())
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(a) = &self.alias {
            write!(f, " AS {}", quote_ident(a))?;
        }
        Ok(())
    }
}

impl Display for Dimension {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl Display for SortField {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.name {
            write!(f, "{n} ")?;
        }
        f.write_str(if self.ascending { "ASC" } else { "DESC" })
    }
}

impl Display for Target {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("INTO ")?;
        write_db_rp(f, &self.database, &self.retention_policy)?;
        match &self.measurement {
            Some(m) => f.write_str(&quote_ident(m)),
            None => f.write_str(":MEASUREMENT"),
        }
    }
}

fn write_db_rp(f: &mut Formatter<'_>, db: &Option<String>, rp: &Option<String>) -> fmt::Result {
    if let Some(db) = db {
        write!(f, "{}.", quote_ident(db))?;
    }
    if let Some(rp) = rp {
        f.write_str(&quote_ident(rp))?;
    }
    if db.is_some() || rp.is_some() {
        f.write_char('.')?;
    }
    Ok(())
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Measurement(m) => m.fmt(f),
            Source::Subquery(s) => write!(f, "({s})"),
        }
    }
}

impl Display for Measurement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_db_rp(f, &self.database, &self.retention_policy)?;
        self.name.fmt(f)
    }
}

impl Display for MeasurementName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MeasurementName::Name(n) => f.write_str(&quote_ident(n)),
            MeasurementName::Regex(r) => r.fmt(f),
        }
    }
}

impl Display for Regex {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.as_str().replace('/', "\\/"))
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for DataType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for Privilege {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for VarRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_ident(&self.name))?;
        if self.data_type != DataType::Unknown {
            write!(f, "::{}", self.data_type)?;
        }
        Ok(())
    }
}

impl Display for Call {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        join(f, &self.args, ", ")?;
        f.write_char(')')
    }
}

/// The parser's spelling of `-x` / `+x` (for a variable, call or
/// parenthesis): `-1 * x` / `1 * x`. Returns the sign and `x`.
fn unary_product(e: &Expr) -> Option<(char, &Expr)> {
    match e {
        Expr::Binary(b)
            if b.op == BinaryOp::Mul
                && matches!(b.rhs, Expr::VarRef(_) | Expr::Call(_) | Expr::Paren(_)) =>
        {
            match b.lhs {
                Expr::Literal(Literal::Integer(-1)) => Some(('-', &b.rhs)),
                Expr::Literal(Literal::Integer(1)) => Some(('+', &b.rhs)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn write_operand(f: &mut Formatter<'_>, e: &Expr, parent: BinaryOp, right: bool) -> fmt::Result {
    if let Expr::Binary(b) = e {
        let (c, p) = (b.op.precedence(), parent.precedence());
        if right && c == p {
            // `a * -x` must print in unary form: `a * -1 * x` would read back
            // as `(a * -1) * x`.
            if let Some((sign, x)) = unary_product(e) {
                return write!(f, "{sign}{x}");
            }
        }
        if c < p || (right && c == p) {
            return write!(f, "({e})");
        }
    }
    write!(f, "{e}")
}

impl Display for BinaryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // Walk down left operands that print without parentheses
        // (`a OR b OR c ...`) in a loop: long generated chains would
        // otherwise recurse once per term.
        let mut spine = vec![self];
        let mut bottom = &self.lhs;
        while let Expr::Binary(b) = bottom {
            let parent = spine[spine.len() - 1];
            if b.op.precedence() < parent.op.precedence() {
                break;
            }
            spine.push(b);
            bottom = &b.lhs;
        }
        let deepest = spine[spine.len() - 1];
        write_operand(f, bottom, deepest.op, false)?;
        for b in spine.iter().rev() {
            write!(f, " {} ", b.op)?;
            write_operand(f, &b.rhs, b.op, true)?;
        }
        Ok(())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::VarRef(v) => v.fmt(f),
            Expr::Call(c) => c.fmt(f),
            Expr::Binary(b) => b.fmt(f),
            Expr::Paren(e) => write!(f, "({e})"),
            Expr::Wildcard(w) => f.write_str(match w {
                WildcardType::All => "*",
                WildcardType::Field => "*::field",
                WildcardType::Tag => "*::tag",
            }),
            Expr::Distinct(n) => write!(f, "DISTINCT {}", quote_ident(n)),
            Expr::Literal(l) => l.fmt(f),
            Expr::BoundParameter(n) => write!(f, "${}", quote_ident(n)),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Integer(n) => write!(f, "{n}"),
            Literal::Unsigned(n) => write!(f, "{n}"),
            Literal::Float(v) => f.write_str(&format_float(*v)),
            Literal::String(s) => f.write_str(&quote_string(s)),
            Literal::Boolean(b) => f.write_str(if *b { "true" } else { "false" }),
            Literal::Duration(d) => f.write_str(&format_duration(*d)),
            Literal::Regex(r) => r.fmt(f),
            Literal::Time(t) => write!(f, "'{}'", format_rfc3339_nano(*t)),
        }
    }
}

impl Display for ExplainStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("EXPLAIN ")?;
        if self.analyze {
            f.write_str("ANALYZE ")?;
        }
        self.statement.fmt(f)
    }
}

impl Display for ShowMeasurementsStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW MEASUREMENTS")?;
        opt_on(f, &self.database)?;
        if let Some(m) = &self.with_measurement {
            let op = match m.name {
                MeasurementName::Regex(_) => "=~",
                MeasurementName::Name(_) => "=",
            };
            write!(f, " WITH MEASUREMENT {op} {m}")?;
        }
        opt_where(f, &self.condition)?;
        opt_order_by(f, &self.order_by)?;
        opt_num(f, "LIMIT", self.limit)?;
        opt_num(f, "OFFSET", self.offset)
    }
}

impl Display for ShowTagKeysStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW TAG KEYS")?;
        opt_on(f, &self.database)?;
        opt_from(f, &self.sources)?;
        opt_where(f, &self.condition)?;
        opt_order_by(f, &self.order_by)?;
        opt_num(f, "LIMIT", self.limit)?;
        opt_num(f, "OFFSET", self.offset)?;
        opt_num(f, "SLIMIT", self.slimit)?;
        opt_num(f, "SOFFSET", self.soffset)
    }
}

impl Display for TagKeyPredicate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("WITH KEY ")?;
        match self {
            TagKeyPredicate::Eq(k) => write!(f, "= {}", quote_ident(k)),
            TagKeyPredicate::NotEq(k) => write!(f, "!= {}", quote_ident(k)),
            TagKeyPredicate::EqRegex(r) => write!(f, "=~ {r}"),
            TagKeyPredicate::NotEqRegex(r) => write!(f, "!~ {r}"),
            TagKeyPredicate::In(keys) => {
                f.write_str("IN (")?;
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&quote_ident(k))?;
                }
                f.write_char(')')
            }
        }
    }
}

impl Display for ShowTagValuesStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW TAG VALUES")?;
        opt_on(f, &self.database)?;
        opt_from(f, &self.sources)?;
        write!(f, " {}", self.key)?;
        opt_where(f, &self.condition)?;
        opt_order_by(f, &self.order_by)?;
        opt_num(f, "LIMIT", self.limit)?;
        opt_num(f, "OFFSET", self.offset)
    }
}

impl Display for ShowFieldKeysStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW FIELD KEYS")?;
        opt_on(f, &self.database)?;
        opt_from(f, &self.sources)?;
        opt_order_by(f, &self.order_by)?;
        opt_num(f, "LIMIT", self.limit)?;
        opt_num(f, "OFFSET", self.offset)
    }
}

impl Display for ShowSeriesStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW SERIES")?;
        opt_on(f, &self.database)?;
        opt_from(f, &self.sources)?;
        opt_where(f, &self.condition)?;
        opt_order_by(f, &self.order_by)?;
        opt_num(f, "LIMIT", self.limit)?;
        opt_num(f, "OFFSET", self.offset)
    }
}

impl Display for ShowCardinalityStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let exact = if self.exact { " EXACT" } else { "" };
        let what = match self.kind {
            CardinalityKind::Series => "SERIES",
            CardinalityKind::Measurement => "MEASUREMENT",
            CardinalityKind::TagKey => "TAG KEY",
            CardinalityKind::TagValues(_) => "TAG VALUES",
            CardinalityKind::FieldKey => "FIELD KEY",
        };
        write!(f, "SHOW {what}{exact} CARDINALITY")?;
        opt_on(f, &self.database)?;
        opt_from(f, &self.sources)?;
        if let CardinalityKind::TagValues(key) = &self.kind {
            write!(f, " {key}")?;
        }
        opt_where(f, &self.condition)?;
        opt_group_by(f, &self.dimensions)?;
        opt_num(f, "LIMIT", self.limit)?;
        opt_num(f, "OFFSET", self.offset)
    }
}

impl Display for CreateDatabaseStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE DATABASE {}", quote_ident(&self.name))?;
        if let Some(rp) = &self.retention_policy {
            f.write_str(" WITH")?;
            if let Some(d) = rp.duration {
                write!(f, " DURATION {}", create_db_duration(d))?;
            }
            if let Some(n) = rp.replication {
                write!(f, " REPLICATION {n}")?;
            }
            if let Some(d) = rp.shard_duration {
                write!(f, " SHARD DURATION {}", create_db_duration(d))?;
            }
            if let Some(n) = &rp.name {
                write!(f, " NAME {}", quote_ident(n))?;
            }
        }
        Ok(())
    }
}

/// InfluxDB prints CREATE DATABASE durations Go-style (`24h0m0s`); a
/// fractional second (`1.5s`) would not read back, so those use InfluxQL's
/// form instead.
fn create_db_duration(ns: i64) -> String {
    if ns % 1_000_000_000 == 0 {
        format_go_duration(ns)
    } else {
        format_duration(ns)
    }
}

impl Display for CreateRetentionPolicyStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE RETENTION POLICY {} ON {} DURATION {} REPLICATION {}",
            quote_ident(&self.name),
            quote_ident(&self.database),
            format_duration(self.duration),
            self.replication
        )?;
        if let Some(d) = self.shard_duration {
            write!(f, " SHARD DURATION {}", format_duration(d))?;
        }
        if self.default {
            f.write_str(" DEFAULT")?;
        }
        Ok(())
    }
}

impl Display for AlterRetentionPolicyStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER RETENTION POLICY {} ON {}",
            quote_ident(&self.name),
            quote_ident(&self.database)
        )?;
        if let Some(d) = self.duration {
            write!(f, " DURATION {}", format_duration(d))?;
        }
        if let Some(n) = self.replication {
            write!(f, " REPLICATION {n}")?;
        }
        if let Some(d) = self.shard_duration {
            write!(f, " SHARD DURATION {}", format_duration(d))?;
        }
        if self.default {
            f.write_str(" DEFAULT")?;
        }
        Ok(())
    }
}

impl Display for CreateContinuousQueryStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE CONTINUOUS QUERY {} ON {} ",
            quote_ident(&self.name),
            quote_ident(&self.database)
        )?;
        if self.resample_every.is_some() || self.resample_for.is_some() {
            f.write_str("RESAMPLE ")?;
            if let Some(d) = self.resample_every {
                write!(f, "EVERY {} ", format_duration(d))?;
            }
            if let Some(d) = self.resample_for {
                write!(f, "FOR {} ", format_duration(d))?;
            }
        }
        write!(f, "BEGIN {} END", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn influxdb16_float_texts() {
        let q = crate::parse_query(
            "SELECT mean(x) FROM m WHERE v > 1.5 GROUP BY time(1m) fill(2.0); SELECT mean(x) FROM m GROUP BY time(1m) fill(1000000.0)",
        )
        .unwrap();
        assert_eq!(
            to_influxdb16_string(&q),
            "SELECT mean(x) FROM m WHERE v > 1.500 GROUP BY time(1m) fill(2);\nSELECT mean(x) FROM m GROUP BY time(1m) fill(1e+06)"
        );
        // The flag does not leak into later formatting.
        assert_eq!(
            q.to_string(),
            "SELECT mean(x) FROM m WHERE v > 1.5 GROUP BY time(1m) fill(2.0);\nSELECT mean(x) FROM m GROUP BY time(1m) fill(1000000.0)"
        );
        assert_eq!(format_go_v(123456.0), "123456");
        assert_eq!(format_go_v(0.00001), "1e-05");
        assert_eq!(format_go_v(-2.5), "-2.5");
    }
}

//! Recursive-descent parser.
//!
//! The order in which tokens are scanned, peeked and pushed back follows the
//! reference parser, because InfluxDB's error positions (what clients see)
//! depend on it. Expressions use precedence climbing with left associativity.

use std::collections::HashMap;

use crate::ast::*;
use crate::duration::parse_duration;
use crate::error::{ParseError, Pos};
use crate::lexer::{is_whitespace, Tok, Token, TokenBuffer};
use crate::quote::quote_ident_segments;
use crate::ParamValue;

type Result<T> = std::result::Result<T, ParseError>;

/// Nesting depth of parentheses / calls / subqueries accepted before giving
/// up; keeps hostile input from overflowing the stack of a server thread.
const MAX_DEPTH: usize = 200;

/// Binary operators accepted in one statement. Long `a OR b OR ...` chains
/// nest one level per operator, and dropping, cloning or evaluating a tree
/// recurses that deep: 10 000 stays well inside a 2 MiB thread stack even in
/// debug builds. InfluxDB itself has no such limit.
pub const MAX_OPERATORS: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum TargetRequirement {
    Required,
    NotRequired,
    Subquery,
}

pub(crate) struct Parser<'a> {
    s: TokenBuffer<'a>,
    params: Option<&'a HashMap<String, ParamValue>>,
    depth: usize,
    /// Binary operators in the current statement.
    operators: usize,
}

fn unexpected(t: &Token, expected: &[&str]) -> ParseError {
    ParseError::unexpected(t.found(), expected, t.pos)
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, params: Option<&'a HashMap<String, ParamValue>>) -> Self {
        Parser {
            s: TokenBuffer::new(src),
            params,
            depth: 0,
            operators: 0,
        }
    }

    // ---- token helpers -------------------------------------------------

    fn scan(&mut self) -> Token {
        self.s.scan()
    }

    fn scan_ws(&mut self) -> Token {
        loop {
            let t = self.s.scan();
            if t.tok != Tok::Ws && t.tok != Tok::Comment {
                return t;
            }
        }
    }

    fn unscan(&mut self) {
        self.s.unscan();
    }

    fn consume_whitespace(&mut self) {
        if self.scan().tok != Tok::Ws {
            self.unscan();
        }
    }

    fn peek_rune(&mut self) -> char {
        self.s.s.peek_rune()
    }

    /// Consumes `tok` if it comes next (ignoring whitespace).
    fn accept(&mut self, tok: Tok) -> bool {
        if self.scan_ws().tok == tok {
            true
        } else {
            self.unscan();
            false
        }
    }

    fn expect_tokens(&mut self, toks: &[Tok]) -> Result<()> {
        for &expected in toks {
            let t = self.scan_ws();
            if t.tok != expected {
                return Err(unexpected(&t, &[expected.as_str()]));
            }
        }
        Ok(())
    }

    fn parse_ident(&mut self) -> Result<String> {
        let t = self.scan_ws();
        if t.tok != Tok::Ident {
            return Err(unexpected(&t, &["identifier"]));
        }
        Ok(t.lit)
    }

    fn parse_ident_list(&mut self) -> Result<Vec<String>> {
        let mut idents = vec![self.parse_ident()?];
        while self.accept(Tok::Comma) {
            idents.push(self.parse_ident()?);
        }
        Ok(idents)
    }

    fn parse_string(&mut self) -> Result<String> {
        let t = self.scan_ws();
        if t.tok != Tok::Str {
            return Err(unexpected(&t, &["string"]));
        }
        Ok(t.lit)
    }

    fn parse_string_list(&mut self) -> Result<Vec<String>> {
        let mut strs = vec![self.parse_string()?];
        while self.accept(Tok::Comma) {
            strs.push(self.parse_string()?);
        }
        Ok(strs)
    }

    fn parse_int(&mut self, min: i64, max: i64) -> Result<i64> {
        let t = self.scan_ws();
        if t.tok != Tok::Integer {
            return Err(unexpected(&t, &["integer"]));
        }
        let n: i64 = t.lit.parse().map_err(|_| {
            ParseError::syntax(
                format!("strconv.Atoi: parsing {:?}: value out of range", t.lit),
                t.pos,
            )
        })?;
        if n < min || n > max {
            return Err(ParseError::syntax(
                format!("invalid value {n}: must be {min} <= n <= {max}"),
                t.pos,
            ));
        }
        Ok(n)
    }

    fn parse_u64(&mut self) -> Result<u64> {
        let t = self.scan_ws();
        if t.tok != Tok::Integer {
            return Err(unexpected(&t, &["integer"]));
        }
        t.lit.parse().map_err(|_| {
            ParseError::syntax(
                format!("strconv.ParseUint: parsing {:?}: value out of range", t.lit),
                t.pos,
            )
        })
    }

    /// `DURATIONVAL` or `INF` (0).
    fn parse_duration_tok(&mut self) -> Result<i64> {
        let t = self.scan_ws();
        match t.tok {
            Tok::Inf => Ok(0),
            Tok::DurationVal => {
                parse_duration(&t.lit).map_err(|e| ParseError::syntax(e.to_string(), t.pos))
            }
            _ => Err(unexpected(&t, &["duration"])),
        }
    }

    fn parse_optional_token_and_int(&mut self, tok: Tok) -> Result<u64> {
        if !self.accept(tok) {
            return Ok(0);
        }
        let t = self.scan_ws();
        if t.tok != Tok::Integer {
            return Err(unexpected(&t, &["integer"]));
        }
        // Out-of-range values saturate, as Go's ParseInt does.
        Ok(t.lit
            .parse::<u64>()
            .unwrap_or(i64::MAX as u64)
            .min(i64::MAX as u64))
    }

    fn parse_segmented_idents(&mut self) -> Result<Vec<String>> {
        let mut idents = vec![self.parse_ident()?];
        loop {
            if self.scan().tok != Tok::Dot {
                self.unscan();
                break;
            }
            match self.peek_rune() {
                '/' | ':' => break,
                '.' => {
                    idents.push(String::new());
                    continue;
                }
                _ => {}
            }
            idents.push(self.parse_ident()?);
        }
        if idents.len() > 3 {
            let quoted = quote_ident_segments(&idents);
            return Err(ParseError::syntax(
                format!("too many segments in {quoted}"),
                Pos::default(),
            ));
        }
        Ok(idents)
    }

    // ---- queries and statements ---------------------------------------

    pub(crate) fn parse_query(&mut self) -> Result<Query> {
        let mut statements = Vec::new();
        let mut semi = true;
        loop {
            let t = self.scan_ws();
            match t.tok {
                Tok::Eof => return Ok(Query { statements }),
                Tok::Semicolon => semi = true,
                _ => {
                    if !semi {
                        return Err(unexpected(&t, &[";"]));
                    }
                    self.unscan();
                    statements.push(self.parse_statement()?);
                    semi = false;
                }
            }
        }
    }

    pub(crate) fn parse_statement(&mut self) -> Result<Statement> {
        self.operators = 0;
        let t = self.scan_ws();
        match t.tok {
            Tok::Select => Ok(Statement::Select(Box::new(
                self.parse_select(TargetRequirement::NotRequired)?,
            ))),
            Tok::Delete => self.parse_delete(),
            Tok::Show => self.parse_show(),
            Tok::Create => self.parse_create(),
            Tok::Drop => self.parse_drop(),
            Tok::Explain => self.parse_explain(),
            Tok::Grant => self.parse_grant(),
            Tok::Revoke => self.parse_revoke(),
            Tok::Alter => {
                self.expect_path(&[Tok::Retention], &["RETENTION"])?;
                self.expect_path(&[Tok::Policy], &["POLICY"])?;
                self.parse_alter_retention_policy()
            }
            Tok::Set => {
                self.expect_path(&[Tok::Password], &["PASSWORD"])?;
                self.expect_path(&[Tok::For], &["FOR"])?;
                self.parse_set_password()
            }
            Tok::Kill => {
                self.expect_path(&[Tok::Query], &["QUERY"])?;
                self.parse_kill_query()
            }
            _ => Err(unexpected(
                &t,
                &[
                    "SELECT", "DELETE", "SHOW", "CREATE", "DROP", "EXPLAIN", "GRANT", "REVOKE",
                    "ALTER", "SET", "KILL",
                ],
            )),
        }
    }

    /// One step of the statement keyword tree: the next token must be one of
    /// `toks`; on failure the error lists `names` (the branches known there).
    fn expect_path(&mut self, toks: &[Tok], names: &[&str]) -> Result<Tok> {
        let t = self.scan_ws();
        if toks.contains(&t.tok) {
            Ok(t.tok)
        } else {
            Err(unexpected(&t, names))
        }
    }

    fn parse_show(&mut self) -> Result<Statement> {
        const SHOW_KEYS: &[&str] = &[
            "CONTINUOUS",
            "DATABASES",
            "DIAGNOSTICS",
            "FIELD",
            "GRANTS",
            "MEASUREMENT",
            "MEASUREMENTS",
            "QUERIES",
            "RETENTION",
            "SERIES",
            "SHARD",
            "SHARDS",
            "STATS",
            "SUBSCRIPTIONS",
            "TAG",
            "USERS",
        ];
        let t = self.scan_ws();
        match t.tok {
            Tok::Continuous => {
                self.expect_path(&[Tok::Queries], &["QUERIES"])?;
                Ok(Statement::ShowContinuousQueries)
            }
            Tok::Databases => Ok(Statement::ShowDatabases),
            Tok::Diagnostics => {
                let module = self.parse_optional_for_module()?;
                Ok(Statement::ShowDiagnostics(ShowDiagnosticsStatement {
                    module,
                }))
            }
            Tok::Field => match self.expect_path(&[Tok::Key, Tok::Keys], &["KEY", "KEYS"])? {
                Tok::Key => self.parse_show_simple_cardinality(CardinalityKind::FieldKey),
                _ => self.parse_show_field_keys(),
            },
            Tok::Grants => {
                self.expect_path(&[Tok::For], &["FOR"])?;
                let user = self.parse_ident()?;
                Ok(Statement::ShowGrants(ShowGrantsStatement { user }))
            }
            Tok::Measurement => {
                match self
                    .expect_path(&[Tok::Exact, Tok::Cardinality], &["EXACT", "CARDINALITY"])?
                {
                    Tok::Exact => {
                        let t = self.scan_ws();
                        if t.tok != Tok::Cardinality {
                            return Err(unexpected(&t, &["CARDINALITY"]));
                        }
                        self.parse_cardinality_rest(CardinalityKind::Measurement, true)
                    }
                    _ => self.parse_cardinality_rest(CardinalityKind::Measurement, false),
                }
            }
            Tok::Measurements => self.parse_show_measurements(),
            Tok::Queries => Ok(Statement::ShowQueries),
            Tok::Retention => {
                self.expect_path(&[Tok::Policies], &["POLICIES"])?;
                let database = if self.accept(Tok::On) {
                    Some(self.parse_ident()?)
                } else {
                    None
                };
                Ok(Statement::ShowRetentionPolicies(
                    ShowRetentionPoliciesStatement { database },
                ))
            }
            Tok::Series => self.parse_show_series(),
            Tok::Shard => {
                self.expect_path(&[Tok::Groups], &["GROUPS"])?;
                Ok(Statement::ShowShardGroups)
            }
            Tok::Shards => Ok(Statement::ShowShards),
            Tok::Stats => {
                let module = self.parse_optional_for_module()?;
                Ok(Statement::ShowStats(ShowStatsStatement { module }))
            }
            Tok::Subscriptions => Ok(Statement::ShowSubscriptions),
            Tok::Tag => match self.expect_path(
                &[Tok::Key, Tok::Keys, Tok::Values],
                &["KEY", "KEYS", "VALUES"],
            )? {
                Tok::Key => self.parse_show_simple_cardinality(CardinalityKind::TagKey),
                Tok::Keys => self.parse_show_tag_keys(),
                _ => self.parse_show_tag_values(),
            },
            Tok::Users => Ok(Statement::ShowUsers),
            _ => Err(unexpected(&t, SHOW_KEYS)),
        }
    }

    fn parse_optional_for_module(&mut self) -> Result<Option<String>> {
        if self.accept(Tok::For) {
            Ok(Some(self.parse_string()?))
        } else {
            Ok(None)
        }
    }

    fn parse_optional_on(&mut self) -> Result<Option<String>> {
        if self.accept(Tok::On) {
            Ok(Some(self.parse_ident()?))
        } else {
            Ok(None)
        }
    }

    fn parse_optional_from(&mut self) -> Result<Vec<Source>> {
        if self.accept(Tok::From) {
            self.parse_sources(false)
        } else {
            Ok(Vec::new())
        }
    }

    /// `SHOW TAG KEY [EXACT] CARDINALITY` / `SHOW FIELD KEY [EXACT] CARDINALITY`
    /// after `KEY`.
    fn parse_show_simple_cardinality(&mut self, kind: CardinalityKind) -> Result<Statement> {
        let mut required: &[&str] = &["EXACT", "CARDINALITY"];
        let exact = self.accept(Tok::Exact);
        if exact {
            required = &["CARDINALITY"];
        }
        let t = self.scan_ws();
        if t.tok != Tok::Cardinality {
            return Err(unexpected(&t, required));
        }
        self.parse_cardinality_rest(kind, exact)
    }

    fn parse_cardinality_rest(&mut self, kind: CardinalityKind, exact: bool) -> Result<Statement> {
        let database = self.parse_optional_on()?;
        let sources = self.parse_optional_from()?;
        let kind = match kind {
            CardinalityKind::TagValues(_) => CardinalityKind::TagValues(self.parse_tag_key_expr()?),
            other => other,
        };
        let condition = self.parse_condition()?;
        let dimensions = self.parse_dimensions()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        Ok(Statement::ShowCardinality(ShowCardinalityStatement {
            kind,
            exact,
            database,
            sources,
            condition,
            dimensions,
            limit,
            offset,
        }))
    }

    fn parse_show_series(&mut self) -> Result<Statement> {
        let exact = self.accept(Tok::Exact);
        if self.scan_ws().tok == Tok::Cardinality {
            return self.parse_cardinality_rest(CardinalityKind::Series, exact);
        }
        self.unscan();
        let database = self.parse_optional_on()?;
        let sources = self.parse_optional_from()?;
        let condition = self.parse_condition()?;
        let order_by = self.parse_order_by()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        Ok(Statement::ShowSeries(ShowSeriesStatement {
            database,
            sources,
            condition,
            order_by,
            limit,
            offset,
        }))
    }

    fn parse_show_measurements(&mut self) -> Result<Statement> {
        let database = self.parse_optional_on()?;
        let mut with_measurement = None;
        if self.accept(Tok::With) {
            self.expect_tokens(&[Tok::Measurement])?;
            let t = self.scan_ws();
            match t.tok {
                Tok::Eq | Tok::EqRegex => match self.parse_source(false)? {
                    Source::Measurement(m) => with_measurement = Some(m),
                    Source::Subquery(_) => unreachable!("subqueries are not parsed here"),
                },
                _ => return Err(unexpected(&t, &["=", "=~"])),
            }
        }
        let condition = self.parse_condition()?;
        let order_by = self.parse_order_by()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        Ok(Statement::ShowMeasurements(ShowMeasurementsStatement {
            database,
            with_measurement,
            condition,
            order_by,
            limit,
            offset,
        }))
    }

    fn parse_show_tag_keys(&mut self) -> Result<Statement> {
        let database = self.parse_optional_on()?;
        let sources = self.parse_optional_from()?;
        let condition = self.parse_condition()?;
        let order_by = self.parse_order_by()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        let slimit = self.parse_optional_token_and_int(Tok::Slimit)?;
        let soffset = self.parse_optional_token_and_int(Tok::Soffset)?;
        Ok(Statement::ShowTagKeys(ShowTagKeysStatement {
            database,
            sources,
            condition,
            order_by,
            limit,
            offset,
            slimit,
            soffset,
        }))
    }

    fn parse_show_tag_values(&mut self) -> Result<Statement> {
        let t = self.scan_ws();
        if t.tok == Tok::Exact {
            let t = self.scan_ws();
            if t.tok != Tok::Cardinality {
                return Err(unexpected(&t, &["CARDINALITY"]));
            }
            return self.parse_cardinality_rest(
                CardinalityKind::TagValues(TagKeyPredicate::In(Vec::new())),
                true,
            );
        } else if t.tok == Tok::Cardinality {
            return self.parse_cardinality_rest(
                CardinalityKind::TagValues(TagKeyPredicate::In(Vec::new())),
                false,
            );
        }
        self.unscan();
        let database = self.parse_optional_on()?;
        let sources = self.parse_optional_from()?;
        let key = self.parse_tag_key_expr()?;
        let condition = self.parse_condition()?;
        let order_by = self.parse_order_by()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        Ok(Statement::ShowTagValues(ShowTagValuesStatement {
            database,
            sources,
            key,
            condition,
            order_by,
            limit,
            offset,
        }))
    }

    fn parse_tag_key_expr(&mut self) -> Result<TagKeyPredicate> {
        self.expect_tokens(&[Tok::With, Tok::Key])?;
        let t = self.scan_ws();
        match t.tok {
            Tok::In => {
                let t = self.scan_ws();
                if t.tok != Tok::LParen {
                    return Err(unexpected(&t, &["("]));
                }
                let keys = self.parse_ident_list()?;
                let t = self.scan_ws();
                if t.tok != Tok::RParen {
                    return Err(unexpected(&t, &[")"]));
                }
                Ok(TagKeyPredicate::In(keys))
            }
            Tok::Eq | Tok::Neq => {
                let ident = self.parse_ident()?;
                Ok(if t.tok == Tok::Eq {
                    TagKeyPredicate::Eq(ident)
                } else {
                    TagKeyPredicate::NotEq(ident)
                })
            }
            Tok::EqRegex | Tok::NeqRegex => {
                let Some(re) = self.parse_regex()? else {
                    let t = self.scan_ws();
                    return Err(unexpected(&t, &["regex"]));
                };
                Ok(if t.tok == Tok::EqRegex {
                    TagKeyPredicate::EqRegex(re)
                } else {
                    TagKeyPredicate::NotEqRegex(re)
                })
            }
            _ => Err(unexpected(&t, &["IN", "=", "=~"])),
        }
    }

    fn parse_show_field_keys(&mut self) -> Result<Statement> {
        let database = self.parse_optional_on()?;
        let sources = self.parse_optional_from()?;
        let order_by = self.parse_order_by()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        Ok(Statement::ShowFieldKeys(ShowFieldKeysStatement {
            database,
            sources,
            order_by,
            limit,
            offset,
        }))
    }

    fn parse_create(&mut self) -> Result<Statement> {
        let t = self.scan_ws();
        match t.tok {
            Tok::Continuous => {
                self.expect_path(&[Tok::Query], &["QUERY"])?;
                self.parse_create_continuous_query()
            }
            Tok::Database => self.parse_create_database(),
            Tok::User => self.parse_create_user(),
            Tok::Retention => {
                self.expect_path(&[Tok::Policy], &["POLICY"])?;
                self.parse_create_retention_policy()
            }
            Tok::Subscription => self.parse_create_subscription(),
            _ => Err(unexpected(
                &t,
                &[
                    "CONTINUOUS",
                    "DATABASE",
                    "USER",
                    "RETENTION",
                    "SUBSCRIPTION",
                ],
            )),
        }
    }

    fn parse_drop(&mut self) -> Result<Statement> {
        let t = self.scan_ws();
        match t.tok {
            Tok::Continuous => {
                self.expect_path(&[Tok::Query], &["QUERY"])?;
                let name = self.parse_ident()?;
                let t = self.scan_ws();
                if t.tok != Tok::On {
                    return Err(unexpected(&t, &["ON"]));
                }
                let database = self.parse_ident()?;
                Ok(Statement::DropContinuousQuery(
                    DropContinuousQueryStatement { name, database },
                ))
            }
            Tok::Database => Ok(Statement::DropDatabase(DropDatabaseStatement {
                name: self.parse_ident()?,
            })),
            Tok::Measurement => Ok(Statement::DropMeasurement(DropMeasurementStatement {
                name: self.parse_ident()?,
            })),
            Tok::Retention => {
                self.expect_path(&[Tok::Policy], &["POLICY"])?;
                let name = self.parse_ident()?;
                let t = self.scan_ws();
                if t.tok != Tok::On {
                    return Err(unexpected(&t, &["ON"]));
                }
                let database = self.parse_ident()?;
                Ok(Statement::DropRetentionPolicy(
                    DropRetentionPolicyStatement { name, database },
                ))
            }
            Tok::Series => {
                let (sources, condition) = self.parse_from_where_for_delete()?;
                Ok(Statement::DropSeries(DropSeriesStatement {
                    sources,
                    condition,
                }))
            }
            Tok::Shard => Ok(Statement::DropShard(DropShardStatement {
                id: self.parse_u64()?,
            })),
            Tok::Subscription => {
                let (name, database, retention_policy) = self.parse_subscription_target()?;
                Ok(Statement::DropSubscription(DropSubscriptionStatement {
                    name,
                    database,
                    retention_policy,
                }))
            }
            Tok::User => Ok(Statement::DropUser(DropUserStatement {
                name: self.parse_ident()?,
            })),
            _ => Err(unexpected(
                &t,
                &[
                    "CONTINUOUS",
                    "DATABASE",
                    "MEASUREMENT",
                    "RETENTION",
                    "SERIES",
                    "SHARD",
                    "SUBSCRIPTION",
                    "USER",
                ],
            )),
        }
    }

    /// `name ON db.rp` of the subscription statements.
    fn parse_subscription_target(&mut self) -> Result<(String, String, String)> {
        let name = self.parse_ident()?;
        let t = self.scan_ws();
        if t.tok != Tok::On {
            return Err(unexpected(&t, &["ON"]));
        }
        let database = self.parse_ident()?;
        let t = self.scan();
        if t.tok != Tok::Dot {
            return Err(unexpected(&t, &["."]));
        }
        let rp = self.parse_ident()?;
        Ok((name, database, rp))
    }

    fn parse_create_subscription(&mut self) -> Result<Statement> {
        let (name, database, retention_policy) = self.parse_subscription_target()?;
        let t = self.scan_ws();
        if t.tok != Tok::Destinations {
            return Err(unexpected(&t, &["DESTINATIONS"]));
        }
        let t = self.scan_ws();
        let mode = match t.tok {
            Tok::All => SubscriptionMode::All,
            Tok::Any => SubscriptionMode::Any,
            _ => return Err(unexpected(&t, &["ALL", "ANY"])),
        };
        let destinations = self.parse_string_list()?;
        Ok(Statement::CreateSubscription(CreateSubscriptionStatement {
            name,
            database,
            retention_policy,
            mode,
            destinations,
        }))
    }

    /// The `[FROM sources] [WHERE cond]` of DELETE and DROP SERIES.
    fn parse_from_where_for_delete(&mut self) -> Result<(Vec<Source>, Option<Expr>)> {
        let t = self.scan_ws();
        let mut sources = Vec::new();
        if t.tok == Tok::From {
            sources = self.parse_sources(false)?;
            let mut err = None;
            for s in &sources {
                if let Source::Measurement(m) = s {
                    if m.database.is_some() {
                        err = Some("database not supported");
                    }
                    if m.retention_policy.is_some() {
                        err = Some("retention policy not supported");
                    }
                }
            }
            if let Some(msg) = err {
                return Err(ParseError::syntax(msg, Pos::default()));
            }
        } else {
            self.unscan();
        }
        let condition = self.parse_condition()?;
        if condition.is_none() && sources.is_empty() {
            return Err(unexpected(&t, &["FROM", "WHERE"]));
        }
        Ok((sources, condition))
    }

    fn parse_delete(&mut self) -> Result<Statement> {
        let (sources, condition) = self.parse_from_where_for_delete()?;
        Ok(Statement::Delete(DeleteStatement { sources, condition }))
    }

    fn parse_explain(&mut self) -> Result<Statement> {
        let analyze = self.accept(Tok::Analyze);
        let t = self.scan_ws();
        if t.tok != Tok::Select {
            return Err(unexpected(&t, &["SELECT"]));
        }
        let statement = Box::new(self.parse_select(TargetRequirement::NotRequired)?);
        Ok(Statement::Explain(ExplainStatement { statement, analyze }))
    }

    fn parse_privilege(&mut self) -> Result<Privilege> {
        let t = self.scan_ws();
        match t.tok {
            Tok::Read => Ok(Privilege::Read),
            Tok::Write => Ok(Privilege::Write),
            Tok::All => {
                if self.scan_ws().tok != Tok::Privileges {
                    self.unscan();
                }
                Ok(Privilege::All)
            }
            _ => Err(unexpected(&t, &["READ", "WRITE", "ALL [PRIVILEGES]"])),
        }
    }

    fn parse_grant(&mut self) -> Result<Statement> {
        let privilege = self.parse_privilege()?;
        let t = self.scan_ws();
        match t.tok {
            Tok::On => {
                let database = self.parse_ident()?;
                let t = self.scan_ws();
                if t.tok != Tok::To {
                    return Err(unexpected(&t, &["TO"]));
                }
                let user = self.parse_ident()?;
                Ok(Statement::Grant(GrantStatement {
                    privilege,
                    database,
                    user,
                }))
            }
            Tok::To if privilege == Privilege::All => {
                Ok(Statement::GrantAdmin(GrantAdminStatement {
                    user: self.parse_ident()?,
                }))
            }
            Tok::To => Err(unexpected(&t, &["ON"])),
            _ if privilege == Privilege::All => Err(unexpected(&t, &["ON", "TO"])),
            _ => Err(unexpected(&t, &["ON"])),
        }
    }

    fn parse_revoke(&mut self) -> Result<Statement> {
        let privilege = self.parse_privilege()?;
        let t = self.scan_ws();
        match t.tok {
            Tok::On => {
                let database = self.parse_ident()?;
                let t = self.scan_ws();
                if t.tok != Tok::From {
                    return Err(unexpected(&t, &["FROM"]));
                }
                let user = self.parse_ident()?;
                Ok(Statement::Revoke(RevokeStatement {
                    privilege,
                    database,
                    user,
                }))
            }
            Tok::From if privilege == Privilege::All => {
                Ok(Statement::RevokeAdmin(RevokeAdminStatement {
                    user: self.parse_ident()?,
                }))
            }
            Tok::From => Err(unexpected(&t, &["ON"])),
            _ if privilege == Privilege::All => Err(unexpected(&t, &["ON", "FROM"])),
            _ => Err(unexpected(&t, &["ON"])),
        }
    }

    fn parse_set_password(&mut self) -> Result<Statement> {
        let name = self.parse_ident()?;
        let t = self.scan_ws();
        if t.tok != Tok::Eq {
            return Err(unexpected(&t, &["="]));
        }
        let password = self.parse_string()?;
        Ok(Statement::SetPassword(SetPasswordStatement {
            name,
            password,
        }))
    }

    fn parse_kill_query(&mut self) -> Result<Statement> {
        let query_id = self.parse_u64()?;
        let host = self.parse_optional_on()?;
        Ok(Statement::KillQuery(KillQueryStatement { query_id, host }))
    }

    fn parse_create_user(&mut self) -> Result<Statement> {
        let name = self.parse_ident()?;
        self.expect_tokens(&[Tok::With, Tok::Password])?;
        let password = self.parse_string()?;
        let mut admin = false;
        if self.accept(Tok::With) {
            self.expect_tokens(&[Tok::All, Tok::Privileges])?;
            admin = true;
        }
        Ok(Statement::CreateUser(CreateUserStatement {
            name,
            password,
            admin,
        }))
    }

    fn parse_create_database(&mut self) -> Result<Statement> {
        let name = self.parse_ident()?;
        let mut retention_policy = None;
        if self.accept(Tok::With) {
            let t = self.scan_ws();
            if !matches!(
                t.tok,
                Tok::Duration | Tok::Name | Tok::Replication | Tok::Shard
            ) {
                return Err(unexpected(
                    &t,
                    &["DURATION", "NAME", "REPLICATION", "SHARD"],
                ));
            }
            self.unscan();
            let mut spec = RetentionPolicySpec::default();
            if self.accept(Tok::Duration) {
                spec.duration = Some(self.parse_duration_tok()?);
            }
            if self.accept(Tok::Replication) {
                spec.replication = Some(self.parse_int(1, i32::MAX as i64)? as u32);
            }
            if self.accept(Tok::Shard) {
                let t = self.scan_ws();
                if t.tok != Tok::Duration {
                    return Err(unexpected(&t, &["DURATION"]));
                }
                spec.shard_duration = Some(self.parse_duration_tok()?);
            }
            if self.accept(Tok::Name) {
                spec.name = Some(self.parse_ident()?);
            }
            retention_policy = Some(spec);
        }
        Ok(Statement::CreateDatabase(CreateDatabaseStatement {
            name,
            retention_policy,
        }))
    }

    /// `SHARD DURATION d` after `SHARD`, where `INF` is refused.
    fn parse_shard_duration(&mut self) -> Result<i64> {
        let t = self.scan_ws();
        if t.tok != Tok::Duration {
            return Err(unexpected(&t, &["DURATION"]));
        }
        let t = self.scan_ws();
        if t.tok == Tok::Inf {
            return Err(ParseError::syntax(
                "invalid duration INF for shard duration",
                t.pos,
            ));
        }
        self.unscan();
        self.parse_duration_tok()
    }

    fn parse_create_retention_policy(&mut self) -> Result<Statement> {
        let name = self.parse_ident()?;
        let t = self.scan_ws();
        if t.tok != Tok::On {
            return Err(unexpected(&t, &["ON"]));
        }
        let database = self.parse_ident()?;
        let t = self.scan_ws();
        if t.tok != Tok::Duration {
            return Err(unexpected(&t, &["DURATION"]));
        }
        let duration = self.parse_duration_tok()?;
        let t = self.scan_ws();
        if t.tok != Tok::Replication {
            return Err(unexpected(&t, &["REPLICATION"]));
        }
        let replication = self.parse_int(1, i32::MAX as i64)? as u32;
        let mut shard_duration = None;
        if self.accept(Tok::Shard) {
            shard_duration = Some(self.parse_shard_duration()?);
        }
        let default = self.accept(Tok::Default);
        Ok(Statement::CreateRetentionPolicy(
            CreateRetentionPolicyStatement {
                name,
                database,
                duration,
                replication,
                shard_duration,
                default,
            },
        ))
    }

    fn parse_alter_retention_policy(&mut self) -> Result<Statement> {
        let t = self.scan_ws();
        let name = match t.tok {
            Tok::Default => "default".to_owned(),
            Tok::Ident => t.lit,
            _ => return Err(unexpected(&t, &["identifier"])),
        };
        let t = self.scan_ws();
        if t.tok != Tok::On {
            return Err(unexpected(&t, &["ON"]));
        }
        let database = self.parse_ident()?;
        let mut stmt = AlterRetentionPolicyStatement {
            name,
            database,
            duration: None,
            replication: None,
            shard_duration: None,
            default: false,
        };
        let mut found: Vec<Tok> = Vec::new();
        loop {
            let t = self.scan_ws();
            if found.contains(&t.tok) {
                return Err(ParseError::syntax(
                    format!("found duplicate {} option", t.tok.as_str()),
                    t.pos,
                ));
            }
            match t.tok {
                Tok::Duration => stmt.duration = Some(self.parse_duration_tok()?),
                Tok::Replication => {
                    stmt.replication = Some(self.parse_int(1, i32::MAX as i64)? as u32)
                }
                Tok::Shard => stmt.shard_duration = Some(self.parse_shard_duration()?),
                Tok::Default => stmt.default = true,
                _ => {
                    if found.is_empty() {
                        return Err(unexpected(
                            &t,
                            &["DURATION", "REPLICATION", "SHARD", "DEFAULT"],
                        ));
                    }
                    self.unscan();
                    break;
                }
            }
            found.push(t.tok);
        }
        Ok(Statement::AlterRetentionPolicy(stmt))
    }

    fn parse_create_continuous_query(&mut self) -> Result<Statement> {
        let name = self.parse_ident()?;
        let t = self.scan_ws();
        if t.tok != Tok::On {
            return Err(unexpected(&t, &["ON"]));
        }
        let database = self.parse_ident()?;
        let (mut resample_every, mut resample_for) = (None, None);
        if self.accept(Tok::Resample) {
            let (every, for_) = self.parse_resample()?;
            resample_every = every;
            resample_for = for_;
        }
        self.expect_tokens(&[Tok::Begin, Tok::Select])?;
        let source = self.parse_select(TargetRequirement::Required)?;

        let interval = if !source.is_raw_query() {
            let res = source.group_by_interval();
            match res {
                Ok(Some(d)) if d != 0 => Some(d),
                other => {
                    self.unscan();
                    self.unscan();
                    let t = self.scan_ws();
                    let mut expected = vec!["GROUP BY time(...)".to_owned()];
                    if let Err(e) = other {
                        expected.push(e.to_string());
                    }
                    return Err(ParseError::Unexpected {
                        found: t.found(),
                        expected,
                        pos: t.pos,
                    });
                }
            }
        } else {
            source.group_by_interval().ok().flatten()
        };

        let t = self.scan_ws();
        if t.tok != Tok::End {
            return Err(unexpected(&t, &["END"]));
        }

        if let Some(for_) = resample_for {
            let mut interval = interval.unwrap_or(0);
            if let Some(every) = resample_every {
                if every > interval {
                    interval = every;
                }
            }
            if interval > for_ {
                return Err(ParseError::invalid(format!(
                    "FOR duration must be >= GROUP BY time duration: must be a minimum of {}, got {}",
                    crate::duration::format_duration(interval),
                    crate::duration::format_duration(for_)
                )));
            }
        }

        Ok(Statement::CreateContinuousQuery(
            CreateContinuousQueryStatement {
                name,
                database,
                resample_every,
                resample_for,
                source: Box::new(source),
            },
        ))
    }

    fn parse_resample(&mut self) -> Result<(Option<i64>, Option<i64>)> {
        let mut every = 0;
        if self.accept(Tok::Every) {
            let t = self.scan_ws();
            if t.tok != Tok::DurationVal {
                return Err(unexpected(&t, &["duration"]));
            }
            every = parse_duration(&t.lit).map_err(|e| ParseError::syntax(e.to_string(), t.pos))?;
        }
        let mut for_ = 0;
        if self.accept(Tok::For) {
            let t = self.scan_ws();
            if t.tok != Tok::DurationVal {
                return Err(unexpected(&t, &["duration"]));
            }
            for_ = parse_duration(&t.lit).map_err(|e| ParseError::syntax(e.to_string(), t.pos))?;
        }
        if every == 0 && for_ == 0 {
            let t = self.scan_ws();
            return Err(unexpected(&t, &["EVERY", "FOR"]));
        }
        Ok(((every != 0).then_some(every), (for_ != 0).then_some(for_)))
    }

    // ---- SELECT --------------------------------------------------------

    fn parse_select(&mut self, tr: TargetRequirement) -> Result<SelectStatement> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::invalid("query nested too deeply"));
        }
        let fields = self.parse_fields()?;
        let target = self.parse_target(tr)?;
        let t = self.scan_ws();
        if t.tok != Tok::From {
            return Err(unexpected(&t, &["FROM"]));
        }
        let sources = self.parse_sources(true)?;
        let condition = self.parse_condition()?;
        let dimensions = self.parse_dimensions()?;
        let fill = self.parse_fill()?;
        let order_by = self.parse_order_by()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        let slimit = self.parse_optional_token_and_int(Tok::Slimit)?;
        let soffset = self.parse_optional_token_and_int(Tok::Soffset)?;
        let timezone = self.parse_location()?;
        self.depth -= 1;
        Ok(SelectStatement {
            fields,
            target,
            sources,
            condition,
            dimensions,
            fill,
            order_by,
            limit,
            offset,
            slimit,
            soffset,
            timezone,
        })
    }

    fn parse_fields(&mut self) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        loop {
            fields.push(self.parse_field()?);
            if self.scan().tok != Tok::Comma {
                self.unscan();
                break;
            }
        }
        Ok(fields)
    }

    fn parse_field(&mut self) -> Result<Field> {
        let expr = if let Some(re) = self.parse_regex()? {
            Expr::Literal(Literal::Regex(re))
        } else {
            let t = self.scan_ws();
            self.unscan();
            let expr = self.parse_expr()?;
            if let Some(op) = find_condition_operator(&expr) {
                return Err(ParseError::invalid(format!(
                    "invalid operator {} in SELECT clause at line {}, char {}; operator is intended for WHERE clause",
                    op.as_str(),
                    t.pos.line + 1,
                    t.pos.char + 1
                )));
            }
            expr
        };
        let alias = self.parse_alias()?;
        self.consume_whitespace();
        Ok(Field { expr, alias })
    }

    fn parse_alias(&mut self) -> Result<Option<String>> {
        if !self.accept(Tok::As) {
            return Ok(None);
        }
        Ok(Some(self.parse_ident()?))
    }

    fn parse_target(&mut self, tr: TargetRequirement) -> Result<Option<Target>> {
        let t = self.scan_ws();
        if t.tok != Tok::Into {
            if tr == TargetRequirement::Required {
                return Err(unexpected(&t, &["INTO"]));
            }
            self.unscan();
            return Ok(None);
        }
        let mut idents = self.parse_segmented_idents()?;
        let mut source_name = false;
        if idents.len() < 3 && self.peek_rune() == ':' {
            self.expect_tokens(&[Tok::Colon, Tok::Measurement])?;
            idents.push(String::new());
            source_name = true;
        }
        let non_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        // `:MEASUREMENT` is the only way to name no measurement; a quoted
        // empty name (`INTO ""`) is kept as written.
        let last = idents.pop().unwrap_or_default();
        let measurement = if source_name { None } else { Some(last) };
        let mut it = idents.into_iter();
        let target = match it.len() {
            0 => Target {
                database: None,
                retention_policy: None,
                measurement,
            },
            1 => Target {
                database: None,
                retention_policy: it.next().and_then(non_empty),
                measurement,
            },
            _ => Target {
                database: it.next().and_then(non_empty),
                retention_policy: it.next().and_then(non_empty),
                measurement,
            },
        };
        Ok(Some(target))
    }

    fn parse_sources(&mut self, subqueries: bool) -> Result<Vec<Source>> {
        let mut sources = Vec::new();
        loop {
            sources.push(self.parse_source(subqueries)?);
            if !self.accept(Tok::Comma) {
                break;
            }
        }
        Ok(sources)
    }

    fn parse_source(&mut self, subqueries: bool) -> Result<Source> {
        if let Some(re) = self.parse_regex()? {
            return Ok(Source::Measurement(Measurement {
                database: None,
                retention_policy: None,
                name: MeasurementName::Regex(re),
            }));
        }
        if subqueries {
            if self.scan_ws().tok == Tok::LParen {
                self.expect_tokens(&[Tok::Select])?;
                let stmt = self.parse_select(TargetRequirement::Subquery)?;
                self.expect_tokens(&[Tok::RParen])?;
                return Ok(Source::Subquery(Box::new(stmt)));
            }
            self.unscan();
        }
        let idents = self.parse_segmented_idents()?;
        let opt = |s: String| if s.is_empty() { None } else { Some(s) };
        let mut it = idents.into_iter();
        if it.len() == 3 {
            let database = it.next().and_then(opt);
            let retention_policy = it.next().and_then(opt);
            let name = MeasurementName::Name(it.next().unwrap_or_default());
            return Ok(Source::Measurement(Measurement {
                database,
                retention_policy,
                name,
            }));
        }
        let re = self.parse_regex()?;
        let m = match (it.len(), re) {
            (1, Some(re)) => Measurement {
                database: None,
                retention_policy: it.next().and_then(opt),
                name: MeasurementName::Regex(re),
            },
            (1, None) => Measurement {
                database: None,
                retention_policy: None,
                name: MeasurementName::Name(it.next().unwrap_or_default()),
            },
            (_, Some(re)) => Measurement {
                database: it.next().and_then(opt),
                retention_policy: it.next().and_then(opt),
                name: MeasurementName::Regex(re),
            },
            (_, None) => Measurement {
                database: None,
                retention_policy: it.next().and_then(opt),
                name: MeasurementName::Name(it.next().unwrap_or_default()),
            },
        };
        Ok(Source::Measurement(m))
    }

    fn parse_condition(&mut self) -> Result<Option<Expr>> {
        if !self.accept(Tok::Where) {
            return Ok(None);
        }
        Ok(Some(self.parse_expr()?))
    }

    fn parse_dimensions(&mut self) -> Result<Vec<Dimension>> {
        if !self.accept(Tok::Group) {
            return Ok(Vec::new());
        }
        let t = self.scan_ws();
        if t.tok != Tok::By {
            return Err(unexpected(&t, &["BY"]));
        }
        let mut dims = Vec::new();
        loop {
            let expr = if let Some(re) = self.parse_regex()? {
                Expr::Literal(Literal::Regex(re))
            } else {
                let e = self.parse_expr()?;
                self.consume_whitespace();
                e
            };
            dims.push(Dimension { expr });
            if self.scan().tok != Tok::Comma {
                self.unscan();
                break;
            }
        }
        Ok(dims)
    }

    fn parse_fill(&mut self) -> Result<Fill> {
        let t = self.scan_ws();
        self.unscan();
        if t.tok != Tok::Ident || !t.lit.eq_ignore_ascii_case("fill") {
            return Ok(Fill::Null);
        }
        let Expr::Call(call) = self.parse_expr()? else {
            return Err(ParseError::invalid("fill must be a function call"));
        };
        if call.args.len() != 1 {
            return Err(ParseError::invalid(
                "fill requires an argument, e.g.: 0, null, none, previous, linear",
            ));
        }
        let arg = &call.args[0];
        Ok(match arg.to_string().as_str() {
            "null" => Fill::Null,
            "none" => Fill::None,
            "previous" => Fill::Previous,
            "linear" => Fill::Linear,
            _ => match arg {
                Expr::Literal(Literal::Integer(n)) => Fill::Integer(*n),
                Expr::Literal(Literal::Float(f)) => Fill::Float(*f),
                _ => return Err(ParseError::invalid("expected number argument in fill()")),
            },
        })
    }

    fn parse_location(&mut self) -> Result<Option<String>> {
        let t = self.scan_ws();
        self.unscan();
        if t.tok != Tok::Ident || !t.lit.eq_ignore_ascii_case("tz") {
            return Ok(None);
        }
        let Expr::Call(call) = self.parse_expr()? else {
            return Err(ParseError::invalid("tz must be a function call"));
        };
        if call.args.len() != 1 {
            return Err(ParseError::invalid("tz requires exactly one argument"));
        }
        let Expr::Literal(Literal::String(name)) = &call.args[0] else {
            return Err(ParseError::invalid("expected string argument in tz()"));
        };
        if !crate::tz::zone_exists(name) {
            return Err(ParseError::invalid(format!(
                "unable to find time zone {name}"
            )));
        }
        Ok(Some(name.clone()))
    }

    fn parse_order_by(&mut self) -> Result<Vec<SortField>> {
        if !self.accept(Tok::Order) {
            return Ok(Vec::new());
        }
        let t = self.scan_ws();
        if t.tok != Tok::By {
            return Err(unexpected(&t, &["BY"]));
        }
        self.parse_sort_fields()
    }

    fn parse_sort_fields(&mut self) -> Result<Vec<SortField>> {
        let mut fields = Vec::new();
        let t = self.scan_ws();
        match t.tok {
            Tok::Asc | Tok::Desc => fields.push(SortField {
                name: None,
                ascending: t.tok == Tok::Asc,
            }),
            Tok::Ident => {
                self.unscan();
                let field = self.parse_sort_field()?;
                if t.lit != "time" {
                    return Err(ParseError::invalid(
                        "only ORDER BY time supported at this time",
                    ));
                }
                fields.push(field);
            }
            _ => return Err(unexpected(&t, &["identifier", "ASC", "DESC"])),
        }
        while self.accept(Tok::Comma) {
            fields.push(self.parse_sort_field()?);
        }
        if fields.len() > 1 {
            return Err(ParseError::invalid(
                "only ORDER BY time supported at this time",
            ));
        }
        Ok(fields)
    }

    fn parse_sort_field(&mut self) -> Result<SortField> {
        let name = self.parse_ident()?;
        let t = self.scan_ws();
        let ascending = match t.tok {
            Tok::Asc => true,
            Tok::Desc => false,
            _ => {
                self.unscan();
                true
            }
        };
        Ok(SortField {
            name: Some(name),
            ascending,
        })
    }

    // ---- expressions ---------------------------------------------------

    fn parse_var_ref(&mut self) -> Result<VarRef> {
        let segments = self.parse_segmented_idents()?;
        let mut data_type = DataType::Unknown;
        if self.scan().tok == Tok::DoubleColon {
            let t = self.scan();
            data_type = match t.tok {
                Tok::Ident => match t.lit.to_ascii_lowercase().as_str() {
                    "float" => DataType::Float,
                    "integer" => DataType::Integer,
                    "unsigned" => DataType::Unsigned,
                    "string" => DataType::String,
                    "boolean" => DataType::Boolean,
                    _ => {
                        return Err(unexpected(
                            &t,
                            &[
                                "float", "integer", "unsigned", "string", "boolean", "field", "tag",
                            ],
                        ))
                    }
                },
                Tok::Field => DataType::AnyField,
                Tok::Tag => DataType::Tag,
                _ => {
                    return Err(unexpected(
                        &t,
                        &["float", "integer", "string", "boolean", "field", "tag"],
                    ))
                }
            };
        } else {
            self.unscan();
        }
        Ok(VarRef {
            name: segments.join("."),
            data_type,
        })
    }

    pub(crate) fn parse_expr_to_end(&mut self) -> Result<Expr> {
        let e = self.parse_expr()?;
        let t = self.scan_ws();
        if t.tok != Tok::Eof {
            return Err(unexpected(&t, &["EOF"]));
        }
        Ok(e)
    }

    pub(crate) fn parse_expr(&mut self) -> Result<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::invalid("expression nested too deeply"));
        }
        let mut root = self.parse_unary_expr()?;
        loop {
            let t = self.scan_ws();
            let Some(op) = binary_op(t.tok) else {
                self.unscan();
                self.depth -= 1;
                return Ok(root);
            };
            self.operators += 1;
            if self.operators > MAX_OPERATORS {
                return Err(ParseError::invalid(format!(
                    "statement has more than {MAX_OPERATORS} operators"
                )));
            }
            let rhs = if matches!(op, BinaryOp::EqRegex | BinaryOp::NotEqRegex) {
                match self.parse_regex()? {
                    Some(re) => Expr::Literal(Literal::Regex(re)),
                    None => {
                        let t = self.scan_ws();
                        return Err(unexpected(&t, &["regex"]));
                    }
                }
            } else {
                self.parse_unary_expr()?
            };
            root = insert_binary(root, op, rhs);
        }
    }

    fn parse_unary_expr(&mut self) -> Result<Expr> {
        if self.scan_ws().tok == Tok::LParen {
            let expr = self.parse_expr()?;
            let t = self.scan_ws();
            if t.tok != Tok::RParen {
                return Err(unexpected(&t, &[")"]));
            }
            return Ok(Expr::Paren(Box::new(expr)));
        }
        self.unscan();

        let t = self.scan_ws();
        match t.tok {
            Tok::Ident => {
                if self.scan().tok == Tok::LParen {
                    return Ok(Expr::Call(self.parse_call(&t.lit)?));
                }
                self.unscan();
                self.unscan();
                Ok(Expr::VarRef(self.parse_var_ref()?))
            }
            Tok::Distinct => {
                let t0 = self.scan();
                if t0.tok == Tok::LParen {
                    return Ok(Expr::Call(self.parse_call("distinct")?));
                } else if t0.tok == Tok::Ws {
                    let t1 = self.scan_ws();
                    if t1.tok != Tok::Ident {
                        return Err(unexpected(&t1, &["identifier"]));
                    }
                    return Ok(Expr::Distinct(t1.lit));
                }
                Err(unexpected(&t0, &["(", "identifier"]))
            }
            Tok::Str => Ok(Expr::Literal(Literal::String(t.lit))),
            Tok::Number => match t.lit.parse::<f64>() {
                Ok(v) => Ok(Expr::Literal(Literal::Float(v))),
                Err(_) => Err(ParseError::syntax("unable to parse number", t.pos)),
            },
            Tok::Integer => match t.lit.parse::<i64>() {
                Ok(v) => Ok(Expr::Literal(Literal::Integer(v))),
                Err(_) => match t.lit.parse::<u64>() {
                    Ok(v) => Ok(Expr::Literal(Literal::Unsigned(v))),
                    Err(_) => Err(ParseError::syntax("unable to parse integer", t.pos)),
                },
            },
            Tok::True | Tok::False => Ok(Expr::Literal(Literal::Boolean(t.tok == Tok::True))),
            Tok::DurationVal => match parse_duration(&t.lit) {
                Ok(d) => Ok(Expr::Literal(Literal::Duration(d))),
                Err(e) => Err(ParseError::invalid(e)),
            },
            Tok::Mul => {
                let mut kind = WildcardType::All;
                if self.scan().tok == Tok::DoubleColon {
                    let t = self.scan();
                    kind = match t.tok {
                        Tok::Field => WildcardType::Field,
                        Tok::Tag => WildcardType::Tag,
                        _ => return Err(unexpected(&t, &["field", "tag"])),
                    };
                } else {
                    self.unscan();
                }
                Ok(Expr::Wildcard(kind))
            }
            Tok::Regex => compile_regex(&t.lit, t.pos).map(|r| Expr::Literal(Literal::Regex(r))),
            Tok::BoundParam => self.bound_param(&t.lit),
            Tok::Add | Tok::Sub => {
                let negative = t.tok == Tok::Sub;
                let t0 = self.scan_ws();
                match t0.tok {
                    Tok::Number | Tok::Integer | Tok::DurationVal | Tok::LParen | Tok::Ident => {
                        self.unscan();
                        let e = self.parse_unary_expr()?;
                        negate(e, negative)
                    }
                    _ => Err(unexpected(&t0, &["identifier", "number", "duration", "("])),
                }
            }
            _ => Err(unexpected(&t, &["identifier", "string", "number", "bool"])),
        }
    }

    fn bound_param(&self, lit: &str) -> Result<Expr> {
        let name = lit.strip_prefix('$').unwrap_or(lit);
        if name.is_empty() {
            return Err(ParseError::invalid("empty bound parameter"));
        }
        match self.params {
            None => Ok(Expr::BoundParameter(name.to_owned())),
            Some(params) => match params.get(name) {
                None => Err(ParseError::invalid(format!("missing parameter: {name}"))),
                Some(v) => Ok(Expr::Literal(v.to_literal())),
            },
        }
    }

    fn parse_regex(&mut self) -> Result<Option<Regex>> {
        if is_whitespace(self.peek_rune()) {
            self.consume_whitespace();
        }
        if self.peek_rune() != '/' {
            return Ok(None);
        }
        let t = self.s.scan_regex();
        match t.tok {
            Tok::BadEscape => Err(ParseError::syntax(format!("bad escape: {}", t.lit), t.pos)),
            Tok::BadRegex => Err(ParseError::syntax(format!("bad regex: {}", t.lit), t.pos)),
            Tok::Regex => compile_regex(&t.lit, t.pos).map(Some),
            _ => Err(unexpected(&t, &["regex"])),
        }
    }

    fn parse_call(&mut self, name: &str) -> Result<Call> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::invalid("expression nested too deeply"));
        }
        let name = name.to_ascii_lowercase();
        let mut args = Vec::new();
        if let Some(re) = self.parse_regex()? {
            args.push(Expr::Literal(Literal::Regex(re)));
        } else {
            if self.scan().tok == Tok::RParen {
                self.depth -= 1;
                return Ok(Call { name, args });
            }
            self.unscan();
            args.push(self.parse_expr()?);
        }
        loop {
            if !self.accept(Tok::Comma) {
                break;
            }
            if let Some(re) = self.parse_regex()? {
                args.push(Expr::Literal(Literal::Regex(re)));
                continue;
            }
            args.push(self.parse_expr()?);
        }
        let t = self.scan();
        if t.tok != Tok::RParen {
            return Err(unexpected(&t, &[")"]));
        }
        self.depth -= 1;
        Ok(Call { name, args })
    }
}

fn compile_regex(src: &str, pos: Pos) -> Result<Regex> {
    if let Some(op) = nested_repetition(src) {
        return Err(ParseError::syntax(
            format!("error parsing regexp: invalid nested repetition operator: `{op}`"),
            pos,
        ));
    }
    Regex::new(src).map_err(|e| ParseError::syntax(regex_error_message(src, &e), pos))
}

/// Go refuses a repetition of a repetition (`a**`, `a+*`, `a{2}+`) that the
/// Rust engine accepts; returns the offending operators.
fn nested_repetition(src: &str) -> Option<&str> {
    use regex_syntax::ast::Ast;
    fn walk<'s>(ast: &Ast, src: &'s str) -> Option<&'s str> {
        match ast {
            Ast::Repetition(rep) => {
                if let Ast::Repetition(inner) = &*rep.ast {
                    return src.get(inner.op.span.start.offset..rep.op.span.end.offset);
                }
                walk(&rep.ast, src)
            }
            Ast::Group(g) => walk(&g.ast, src),
            Ast::Alternation(a) => a.asts.iter().find_map(|x| walk(x, src)),
            Ast::Concat(c) => c.asts.iter().find_map(|x| walk(x, src)),
            _ => None,
        }
    }
    let ast = regex_syntax::ast::parse::Parser::new().parse(src).ok()?;
    walk(&ast, src)
}

/// A regex compile error worded like Go's `regexp` package
/// (`error parsing regexp: missing closing ): `(a``), which InfluxDB shows.
fn regex_error_message(src: &str, e: &regex::Error) -> String {
    use regex_syntax::ast::ErrorKind as K;
    if let Err(err) = regex_syntax::ast::parse::Parser::new().parse(src) {
        let span = err.span();
        let mut text = src.get(span.start.offset..span.end.offset).unwrap_or("");
        if text.is_empty() {
            let rest = src.get(span.start.offset..).unwrap_or("");
            text = match err.kind() {
                // Go quotes the operator that has nothing to repeat.
                K::RepetitionMissing => match rest.chars().next() {
                    Some('{') => rest.find('}').map_or(rest, |i| &rest[..=i]),
                    Some(c) => &rest[..c.len_utf8()],
                    None => "",
                },
                // Go quotes the group opening up to the bad name.
                K::GroupNameEmpty | K::GroupNameInvalid | K::GroupNameUnexpectedEof => {
                    let start = src[..span.start.offset]
                        .rfind("(?")
                        .unwrap_or(span.start.offset);
                    let end = (span.end.offset + 1).min(src.len());
                    src.get(start..end).unwrap_or("")
                }
                _ => text,
            };
        }
        let (code, expr): (&str, &str) = match err.kind() {
            K::GroupUnclosed => ("missing closing )", src),
            K::GroupUnopened => ("unexpected )", src),
            K::ClassUnclosed => (
                "missing closing ]",
                src.get(span.start.offset..).unwrap_or(src),
            ),
            K::RepetitionMissing => ("missing argument to repetition operator", text),
            K::EscapeUnrecognized | K::ClassEscapeInvalid | K::UnsupportedBackreference => {
                ("invalid escape sequence", text)
            }
            K::EscapeUnexpectedEof => ("trailing backslash at end of expression", ""),
            K::ClassRangeInvalid | K::ClassRangeLiteral => ("invalid character class range", text),
            K::RepetitionCountInvalid => ("invalid repeat count", text),
            K::GroupNameInvalid
            | K::GroupNameEmpty
            | K::GroupNameUnexpectedEof
            | K::GroupNameDuplicate { .. } => ("invalid named capture", text),
            K::UnsupportedLookAround
            | K::FlagUnrecognized
            | K::FlagDanglingNegation
            | K::FlagDuplicate { .. }
            | K::FlagRepeatedNegation { .. }
            | K::FlagUnexpectedEof => ("invalid or unsupported Perl syntax", text),
            _ => ("", ""),
        };
        if !code.is_empty() {
            return format!("error parsing regexp: {code}: `{expr}`");
        }
    }
    let text = e.to_string();
    let detail = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().next().unwrap_or("invalid regex"))
        .to_owned();
    format!("error parsing regexp: {detail}")
}

fn negate(e: Expr, negative: bool) -> Result<Expr> {
    let mul: i64 = if negative { -1 } else { 1 };
    Ok(match e {
        Expr::Literal(Literal::Float(v)) => Expr::Literal(Literal::Float(v * mul as f64)),
        Expr::Literal(Literal::Integer(v)) => Expr::Literal(Literal::Integer(v * mul)),
        Expr::Literal(Literal::Unsigned(v)) => {
            if negative {
                if v == i64::MAX as u64 + 1 {
                    return Ok(Expr::Literal(Literal::Integer(i64::MIN)));
                }
                return Err(ParseError::invalid(format!(
                    "constant -{v} underflows int64"
                )));
            }
            Expr::Literal(Literal::Unsigned(v))
        }
        Expr::Literal(Literal::Duration(v)) => Expr::Literal(Literal::Duration(v * mul)),
        e @ (Expr::VarRef(_) | Expr::Call(_) | Expr::Paren(_)) => {
            Expr::Binary(Box::new(BinaryExpr {
                op: BinaryOp::Mul,
                lhs: Expr::Literal(Literal::Integer(mul)),
                rhs: e,
            }))
        }
        other => other,
    })
}

/// Adds `op rhs` to the tree: walks down the right spine past operators that
/// bind less tightly than `op`, giving left-associative precedence.
fn insert_binary(node: Expr, op: BinaryOp, rhs: Expr) -> Expr {
    match node {
        Expr::Binary(b) if b.op.precedence() < op.precedence() => {
            let BinaryExpr {
                op: bop,
                lhs,
                rhs: brhs,
            } = *b;
            Expr::Binary(Box::new(BinaryExpr {
                op: bop,
                lhs,
                rhs: insert_binary(brhs, op, rhs),
            }))
        }
        node => Expr::Binary(Box::new(BinaryExpr { op, lhs: node, rhs })),
    }
}

fn binary_op(tok: Tok) -> Option<BinaryOp> {
    if !tok.is_operator() {
        return None;
    }
    Some(match tok {
        Tok::Add => BinaryOp::Add,
        Tok::Sub => BinaryOp::Sub,
        Tok::Mul => BinaryOp::Mul,
        Tok::Div => BinaryOp::Div,
        Tok::Mod => BinaryOp::Mod,
        Tok::BitwiseAnd => BinaryOp::BitwiseAnd,
        Tok::BitwiseOr => BinaryOp::BitwiseOr,
        Tok::BitwiseXor => BinaryOp::BitwiseXor,
        Tok::And => BinaryOp::And,
        Tok::Or => BinaryOp::Or,
        Tok::Eq => BinaryOp::Eq,
        Tok::Neq => BinaryOp::NotEq,
        Tok::EqRegex => BinaryOp::EqRegex,
        Tok::NeqRegex => BinaryOp::NotEqRegex,
        Tok::Lt => BinaryOp::Lt,
        Tok::Lte => BinaryOp::LtEq,
        Tok::Gt => BinaryOp::Gt,
        Tok::Gte => BinaryOp::GtEq,
        _ => return None,
    })
}

/// The last (in pre-order) comparison or logical operator in a SELECT field,
/// not looking inside an offending node, as InfluxDB reports it.
fn find_condition_operator(e: &Expr) -> Option<BinaryOp> {
    fn walk(e: &Expr, found: &mut Option<BinaryOp>) {
        match e {
            Expr::Binary(b) => {
                if b.op.is_comparison() || matches!(b.op, BinaryOp::And | BinaryOp::Or) {
                    *found = Some(b.op);
                    return;
                }
                walk(&b.lhs, found);
                walk(&b.rhs, found);
            }
            Expr::Paren(inner) => walk(inner, found),
            Expr::Call(c) => c.args.iter().for_each(|a| walk(a, found)),
            _ => {}
        }
    }
    let mut found = None;
    walk(e, &mut found);
    found
}

//! Statement dispatch and every statement but SELECT.

use crate::ast::*;
use crate::duration::parse_duration;
use crate::error::{ParseError, Pos};
use crate::lexer::Tok;

use super::{unexpected, Parser, Result, TargetRequirement};

impl Parser<'_> {
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
}

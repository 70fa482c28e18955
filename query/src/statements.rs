//! Statement dispatch: each statement of a query goes to the SELECT engine
//! (SELECT and the SHOW statements that read shards), to metad (databases,
//! retention policies, users, grants, continuous queries, shards), or
//! becomes tombstones in the log (DELETE, DROP SERIES, DROP MEASUREMENT).
//!
//! ```text
//!  Query ──▶ authorize (InfluxDB 1.6's RequiredPrivileges) ──▶ per statement, in order:
//!              SELECT, SHOW MEASUREMENTS/TAG/FIELD/SERIES/CARDINALITY ──▶ DataEngine
//!              SHOW DATABASES/RPs/SHARDS/USERS/GRANTS/CQs            ──▶ meta snapshot
//!              CREATE/DROP/ALTER/GRANT/REVOKE/SET PASSWORD/CQs      ──▶ metad (raft), then
//!                                                                        wait for the follower
//!              DELETE/DROP SERIES/DROP MEASUREMENT                    ──▶ tombstone.rs
//! ```
//!
//! As in InfluxDB, the first failing statement stops the query: later
//! statements answer `not executed`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use influxql::{Privilege as QlPrivilege, Statement};
use ingest::write::WriteService;
use meta_client::MetaClient;
use schemas::meta::{MetaData, Privilege, User};
use schemas::meta_api::{CommandError, MetaCommand, RetentionPolicySpec};
use tracing::{debug, info_span, Instrument};

use crate::cluster::{BoxFuture, Cluster};
use crate::format::{rfc3339, Chunker};
use crate::result::{Cell, Series, StatementResult};
use crate::tombstone::TombstoneWriter;

/// What every statement of a request runs with.
#[derive(Debug, Clone, Default)]
pub struct ExecContext {
    /// The `db` parameter.
    pub database: Option<String>,
    /// The `rp` parameter.
    pub retention_policy: Option<String>,
    /// The authenticated user; `None` when authentication is off.
    pub user: Option<User>,
    /// Read-your-writes: replicas must have applied every record produced
    /// before the query started (see [`crate::cluster`]).
    pub read_your_writes: bool,
    /// `chunk_size` of a chunked request: rows per chunk, and per page a
    /// raw SELECT reads from each shard.
    pub chunk_size: Option<usize>,
}

/// The SELECT engine and the SHOW statements that read shard indexes:
/// SELECT, SHOW MEASUREMENTS, TAG KEYS, TAG VALUES, FIELD KEYS, SERIES and
/// the cardinality statements. Implemented by the engine (see
/// [`Statement`] kinds in [`is_data_statement`]).
pub trait DataEngine: Send + Sync + 'static {
    /// Runs one statement; the result's `statement_id` is set by the caller.
    fn execute<'a>(
        &'a self,
        statement: &'a Statement,
        ctx: &'a ExecContext,
    ) -> BoxFuture<'a, StatementResult>;

    /// Runs a SELECT without INTO for a chunked answer, sending its series
    /// as they are ready (see [`crate::select::select_chunked`]).
    fn select_chunked<'a>(
        &'a self,
        statement: &'a influxql::ast::SelectStatement,
        ctx: &'a ExecContext,
        tx: tokio::sync::mpsc::Sender<Series>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The [`DataEngine`] of this crate: SELECT through [`crate::select`] and
/// the index SHOWs through [`crate::show`] over the node's [`Cluster`];
/// `SELECT ... INTO` writes through [`crate::into`].
pub struct Engine {
    cluster: Arc<Cluster>,
    writer: Option<Arc<WriteService>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// The engine over `cluster`; `writer` is the write path `SELECT ...
    /// INTO` uses (`None` answers it with an error).
    pub fn new(cluster: Arc<Cluster>, writer: Option<Arc<WriteService>>) -> Self {
        Self { cluster, writer }
    }

    /// The cluster view the engine reads.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub(crate) async fn select_into(
        &self,
        qctx: &crate::select::QueryContext,
        sel: &influxql::SelectStatement,
        target: &influxql::ast::Target,
    ) -> Result<Vec<Series>, String> {
        let writer = self
            .writer
            .as_ref()
            .ok_or("SELECT ... INTO needs a data node's write path")?;
        let target = crate::into::IntoTarget::resolve(target, qctx.database.as_deref())?;
        let series = crate::select::select(&self.cluster, qctx, sel)
            .await
            .map_err(|e| e.to_string())?;
        Ok(vec![
            crate::into::write(writer, &target, &series, qctx.now_ns).await?,
        ])
    }
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn query_context(ctx: &ExecContext) -> crate::select::QueryContext {
    crate::select::QueryContext {
        database: ctx.database.clone(),
        retention_policy: ctx.retention_policy.clone(),
        now_ns: now_ns(),
        read_your_writes: ctx.read_your_writes,
        chunk_size: ctx.chunk_size.unwrap_or(crate::format::DEFAULT_CHUNK_SIZE),
    }
}

impl DataEngine for Engine {
    fn select_chunked<'a>(
        &'a self,
        statement: &'a influxql::ast::SelectStatement,
        ctx: &'a ExecContext,
        tx: tokio::sync::mpsc::Sender<Series>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            crate::select::select_chunked(&self.cluster, &query_context(ctx), statement, &tx)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn execute<'a>(
        &'a self,
        statement: &'a Statement,
        ctx: &'a ExecContext,
    ) -> BoxFuture<'a, StatementResult> {
        Box::pin(async move {
            let qctx = query_context(ctx);
            let outcome = match statement {
                Statement::Select(sel) => match &sel.target {
                    Some(target) => self.select_into(&qctx, sel, target).await,
                    None => crate::select::select(&self.cluster, &qctx, sel)
                        .await
                        .map_err(|e| e.to_string()),
                },
                Statement::ShowMeasurements(_)
                | Statement::ShowTagKeys(_)
                | Statement::ShowTagValues(_)
                | Statement::ShowFieldKeys(_)
                | Statement::ShowSeries(_)
                | Statement::ShowCardinality(_) => {
                    crate::show::show(&self.cluster, &qctx, statement)
                        .await
                        .map_err(|e| e.to_string())
                }
                other => Err(format!(
                    "statement not supported by Sluice yet: {}",
                    statement_kind(other)
                )),
            };
            match outcome {
                Ok(series) => StatementResult {
                    series,
                    ..Default::default()
                },
                Err(e) => StatementResult {
                    error: Some(e),
                    ..Default::default()
                },
            }
        })
    }
}

/// Whether `stmt` is answered by the [`DataEngine`].
pub fn is_data_statement(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::Select(_)
            | Statement::Explain(_)
            | Statement::ShowMeasurements(_)
            | Statement::ShowTagKeys(_)
            | Statement::ShowTagValues(_)
            | Statement::ShowFieldKeys(_)
            | Statement::ShowSeries(_)
            | Statement::ShowCardinality(_)
    )
}

/// Runs queries: see the module docs.
pub struct Executor {
    cluster: Arc<Cluster>,
    meta: Arc<MetaClient>,
    engine: Arc<dyn DataEngine>,
    tombstones: Option<Arc<TombstoneWriter>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").finish_non_exhaustive()
    }
}

/// How long a statement that changed the meta data waits for this node's
/// follower to see the change, so the next statement reads it.
const META_CATCH_UP: Duration = Duration::from_secs(10);

/// InfluxDB's answer for statements after a failed one.
pub const NOT_EXECUTED: &str = "not executed";

fn not_executed(statement_id: usize) -> StatementResult {
    StatementResult {
        statement_id,
        error: Some(NOT_EXECUTED.into()),
        ..Default::default()
    }
}

impl Executor {
    /// An executor over `cluster` (meta data and shards), `meta` (commands
    /// to metad), `engine` (SELECT and data SHOWs) and `tombstones` (DELETE
    /// and DROP; `None` answers them with an error).
    pub fn new(
        cluster: Arc<Cluster>,
        meta: Arc<MetaClient>,
        engine: Arc<dyn DataEngine>,
        tombstones: Option<Arc<TombstoneWriter>>,
    ) -> Self {
        Self {
            cluster,
            meta,
            engine,
            tombstones,
        }
    }

    /// The cluster view.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Runs the statements in order, as InfluxDB does: after the first
    /// error the remaining statements answer [`NOT_EXECUTED`].
    pub async fn execute(
        &self,
        statements: &[Statement],
        ctx: &ExecContext,
    ) -> Vec<StatementResult> {
        let mut out = Vec::with_capacity(statements.len());
        let mut failed = false;
        for (i, stmt) in statements.iter().enumerate() {
            if failed {
                out.push(not_executed(i));
                continue;
            }
            let mut r = self.execute_one(stmt, ctx).await;
            r.statement_id = i;
            failed = r.error.is_some();
            out.push(r);
        }
        out
    }

    /// Runs the statements like [`Self::execute`] for a chunked answer,
    /// sending each statement's chunks of at most `ctx.chunk_size` rows as
    /// they are ready (see [`Chunker`]): a SELECT of raw rows is read page
    /// by page, so the answer is never whole in memory. Stops when the
    /// receiver is gone.
    pub async fn execute_chunked(
        &self,
        statements: &[Statement],
        ctx: &ExecContext,
        tx: &tokio::sync::mpsc::Sender<StatementResult>,
    ) {
        let chunk_size = ctx.chunk_size.unwrap_or(crate::format::DEFAULT_CHUNK_SIZE);
        let mut failed = false;
        for (i, stmt) in statements.iter().enumerate() {
            let last = if failed {
                not_executed(i)
            } else {
                match stmt {
                    Statement::Select(sel) if sel.target.is_none() => {
                        let span = info_span!("statement", kind = statement_kind(stmt));
                        let mut chunker = Chunker::new(i, chunk_size, Vec::new());
                        let (stx, mut srx) = tokio::sync::mpsc::channel(1);
                        let produce = self.engine.select_chunked(sel, ctx, stx);
                        let forward = async {
                            while let Some(series) = srx.recv().await {
                                for c in chunker.push(series) {
                                    if tx.send(c).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        };
                        let (res, ()) = async { tokio::join!(produce, forward) }
                            .instrument(span)
                            .await;
                        match res {
                            Ok(()) => chunker.finish(),
                            Err(e) => StatementResult {
                                statement_id: i,
                                error: Some(e),
                                ..Default::default()
                            },
                        }
                    }
                    _ => {
                        let r = self.execute_one(stmt, ctx).await;
                        if r.error.is_some() {
                            StatementResult {
                                statement_id: i,
                                ..r
                            }
                        } else {
                            let mut chunker = Chunker::new(i, chunk_size, r.messages);
                            for series in r.series {
                                for c in chunker.push(series) {
                                    if tx.send(c).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            chunker.finish()
                        }
                    }
                }
            };
            failed = last.error.is_some();
            if tx.send(last).await.is_err() {
                return;
            }
        }
    }

    /// Runs one statement.
    pub async fn execute_one(&self, stmt: &Statement, ctx: &ExecContext) -> StatementResult {
        let kind = statement_kind(stmt);
        let span = info_span!("statement", kind);
        async {
            if is_data_statement(stmt) {
                return self.engine.execute(stmt, ctx).await;
            }
            match self.meta_statement(stmt, ctx).await {
                Ok(series) => StatementResult {
                    series,
                    ..Default::default()
                },
                Err(e) => StatementResult {
                    error: Some(e),
                    ..Default::default()
                },
            }
        }
        .instrument(span)
        .await
    }

    /// Applies a meta command and waits until this node's follower has it.
    async fn apply(&self, cmd: MetaCommand) -> Result<(), String> {
        let out = self.meta.apply(&cmd).await.map_err(meta_error)?;
        self.wait_meta(out.version()).await;
        Ok(())
    }

    async fn wait_meta(&self, version: u64) {
        let deadline = Instant::now() + META_CATCH_UP;
        while self.cluster.meta().version < version && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn database<'a>(
        &self,
        named: Option<&'a str>,
        ctx: &'a ExecContext,
    ) -> Result<&'a str, String> {
        named
            .or(ctx.database.as_deref())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| "database name required".to_owned())
    }

    async fn meta_statement(
        &self,
        stmt: &Statement,
        ctx: &ExecContext,
    ) -> Result<Vec<Series>, String> {
        let md = self.cluster.meta();
        match stmt {
            Statement::ShowDatabases => Ok(vec![show_databases(&md, ctx.user.as_ref())]),
            Statement::ShowRetentionPolicies(s) => {
                let db = self.database(s.database.as_deref(), ctx)?;
                show_retention_policies(&md, db).map(|s| vec![s])
            }
            Statement::ShowShards => Ok(show_shards(&md)),
            Statement::ShowShardGroups => Ok(vec![show_shard_groups(&md)]),
            Statement::ShowUsers => Ok(vec![show_users(&md)]),
            Statement::ShowGrants(s) => show_grants(&md, &s.user).map(|s| vec![s]),
            Statement::ShowContinuousQueries => Ok(show_continuous_queries(&md)),
            Statement::CreateDatabase(s) => {
                let spec = s.retention_policy.as_ref().map(|rp| RetentionPolicySpec {
                    name: rp.name.clone().unwrap_or_else(|| "autogen".into()),
                    duration_ns: rp.duration.unwrap_or(0).max(0) as u64,
                    shard_group_duration_ns: rp.shard_duration.filter(|d| *d > 0).map(|d| d as u64),
                    replication_factor: rp.replication.unwrap_or(1),
                    shard_count: None,
                });
                self.apply(MetaCommand::CreateDatabase {
                    name: s.name.clone(),
                    retention_policy: spec,
                })
                .await
                .map(|()| Vec::new())
            }
            Statement::DropDatabase(s) => {
                if md.database(&s.name).is_none() {
                    // InfluxDB: dropping a missing database is not an error.
                    return Ok(Vec::new());
                }
                self.apply(MetaCommand::DropDatabase {
                    name: s.name.clone(),
                    now_ns: 0,
                })
                .await
                .map(|()| Vec::new())
            }
            Statement::CreateRetentionPolicy(s) => self
                .apply(MetaCommand::CreateRetentionPolicy {
                    database: s.database.clone(),
                    spec: RetentionPolicySpec {
                        name: s.name.clone(),
                        duration_ns: s.duration.max(0) as u64,
                        shard_group_duration_ns: s
                            .shard_duration
                            .filter(|d| *d > 0)
                            .map(|d| d as u64),
                        replication_factor: s.replication,
                        shard_count: None,
                    },
                    make_default: s.default,
                })
                .await
                .map(|()| Vec::new()),
            Statement::AlterRetentionPolicy(s) => self
                .apply(MetaCommand::AlterRetentionPolicy {
                    database: s.database.clone(),
                    name: s.name.clone(),
                    duration_ns: s.duration.map(|d| d.max(0) as u64),
                    shard_group_duration_ns: s.shard_duration.map(|d| d.max(0) as u64),
                    replication_factor: s.replication,
                    make_default: s.default,
                })
                .await
                .map(|()| Vec::new()),
            Statement::DropRetentionPolicy(s) => {
                let db = md
                    .database(&s.database)
                    .ok_or_else(|| format!("database not found: {}", s.database))?;
                if !db.retention_policies.contains_key(&s.name) {
                    // InfluxDB: dropping a missing policy is not an error.
                    return Ok(Vec::new());
                }
                self.apply(MetaCommand::DropRetentionPolicy {
                    database: s.database.clone(),
                    name: s.name.clone(),
                    now_ns: 0,
                })
                .await
                .map(|()| Vec::new())
            }
            Statement::CreateUser(s) => {
                let v = self
                    .meta
                    .create_user(&s.name, &s.password, s.admin)
                    .await
                    .map_err(meta_error)?;
                self.wait_meta(v).await;
                Ok(Vec::new())
            }
            Statement::DropUser(s) => self
                .apply(MetaCommand::DropUser {
                    name: s.name.clone(),
                })
                .await
                .map(|()| Vec::new()),
            Statement::SetPassword(s) => {
                let v = self
                    .meta
                    .set_password(&s.name, &s.password)
                    .await
                    .map_err(meta_error)?;
                self.wait_meta(v).await;
                Ok(Vec::new())
            }
            Statement::Grant(s) => self
                .apply(MetaCommand::Grant {
                    user: s.user.clone(),
                    database: s.database.clone(),
                    privilege: privilege(s.privilege),
                })
                .await
                .map(|()| Vec::new()),
            Statement::GrantAdmin(s) => self
                .apply(MetaCommand::SetAdmin {
                    name: s.user.clone(),
                    admin: true,
                })
                .await
                .map(|()| Vec::new()),
            Statement::Revoke(s) => self
                .apply(MetaCommand::Revoke {
                    user: s.user.clone(),
                    database: s.database.clone(),
                    privilege: privilege(s.privilege),
                })
                .await
                .map(|()| Vec::new()),
            Statement::RevokeAdmin(s) => self
                .apply(MetaCommand::SetAdmin {
                    name: s.user.clone(),
                    admin: false,
                })
                .await
                .map(|()| Vec::new()),
            Statement::CreateContinuousQuery(s) => {
                if md.database(&s.database).is_none() {
                    return Err(format!("database not found: {}", s.database));
                }
                // InfluxDB stores the statement after filling in the
                // request's database and the default retention policies.
                let mut normalized = s.clone();
                let default_db = ctx.database.as_deref().filter(|d| !d.is_empty());
                normalize_select(
                    &mut normalized.source,
                    &md,
                    default_db,
                    ctx.retention_policy.as_deref(),
                )?;
                let text = Statement::CreateContinuousQuery(normalized).to_string();
                self.apply(MetaCommand::CreateContinuousQuery {
                    database: s.database.clone(),
                    name: s.name.clone(),
                    query: text,
                })
                .await
                .map(|()| Vec::new())
            }
            Statement::DropContinuousQuery(s) => {
                let exists = md
                    .database(&s.database)
                    .is_some_and(|d| d.continuous_queries.contains_key(&s.name));
                if !exists {
                    // InfluxDB 1.6 answers success for a missing query.
                    return Ok(Vec::new());
                }
                self.apply(MetaCommand::DropContinuousQuery {
                    database: s.database.clone(),
                    name: s.name.clone(),
                })
                .await
                .map(|()| Vec::new())
            }
            Statement::Delete(_) | Statement::DropSeries(_) | Statement::DropMeasurement(_) => {
                let writer = self
                    .tombstones
                    .as_ref()
                    .ok_or("deletes are not available on this node (no Kafka producer)")?;
                let db = self.database(None, ctx)?;
                writer.execute(&md, db, stmt).await.map(|()| Vec::new())
            }
            Statement::ShowDiagnostics(_)
            | Statement::ShowStats(_)
            | Statement::ShowQueries
            | Statement::ShowSubscriptions
            | Statement::KillQuery(_)
            | Statement::DropShard(_)
            | Statement::CreateSubscription(_)
            | Statement::DropSubscription(_) => Err(format!(
                "statement not supported by Sluice: {}",
                statement_kind(stmt)
            )),
            Statement::Select(_)
            | Statement::Explain(_)
            | Statement::ShowMeasurements(_)
            | Statement::ShowTagKeys(_)
            | Statement::ShowTagValues(_)
            | Statement::ShowFieldKeys(_)
            | Statement::ShowSeries(_)
            | Statement::ShowCardinality(_) => {
                debug!("data statement reached the meta dispatcher");
                Err("internal error: data statement routed to meta".into())
            }
        }
    }
}

/// Fills in the database and retention policy of every measurement of a
/// SELECT (sources, subqueries, INTO target) as InfluxDB 1.6's
/// `NormalizeStatement` does: the request's database, then the request's
/// or the database's default retention policy.
fn normalize_select(
    sel: &mut influxql::SelectStatement,
    md: &MetaData,
    default_db: Option<&str>,
    default_rp: Option<&str>,
) -> Result<(), String> {
    let fill = |database: &mut Option<String>, rp: &mut Option<String>| -> Result<(), String> {
        if database.is_none() {
            *database = Some(default_db.ok_or("database name required")?.to_owned());
        }
        let name = database.as_deref().unwrap_or_default();
        let db = md
            .database(name)
            .ok_or_else(|| format!("database not found: {name}"))?;
        if rp.is_none() {
            let chosen = default_rp
                .map(str::to_owned)
                .or_else(|| db.default_retention_policy.clone())
                .ok_or_else(|| format!("default retention policy not set for: {name}"))?;
            *rp = Some(chosen);
        }
        Ok(())
    };
    for src in &mut sel.sources {
        match src {
            influxql::Source::Measurement(m) => fill(&mut m.database, &mut m.retention_policy)?,
            influxql::Source::Subquery(sub) => normalize_select(sub, md, default_db, default_rp)?,
        }
    }
    if let Some(t) = &mut sel.target {
        fill(&mut t.database, &mut t.retention_policy)?;
    }
    Ok(())
}

/// The message of a metad error: the state machine's reason in InfluxDB's
/// words when it refused, else the transport error.
fn meta_error(e: meta_client::Error) -> String {
    match e.command_error() {
        Some(CommandError::ContinuousQueryNotFound) => "continuous query not found".into(),
        Some(c) => c.to_string(),
        None => e.to_string(),
    }
}

fn privilege(p: QlPrivilege) -> Privilege {
    match p {
        QlPrivilege::Read => Privilege::Read,
        QlPrivilege::Write => Privilege::Write,
        QlPrivilege::All => Privilege::All,
    }
}

/// A short lowercase name of the statement for spans and errors.
pub fn statement_kind(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Select(_) => "select",
        Statement::Explain(_) => "explain",
        Statement::ShowDatabases => "show_databases",
        Statement::ShowMeasurements(_) => "show_measurements",
        Statement::ShowTagKeys(_) => "show_tag_keys",
        Statement::ShowTagValues(_) => "show_tag_values",
        Statement::ShowFieldKeys(_) => "show_field_keys",
        Statement::ShowSeries(_) => "show_series",
        Statement::ShowCardinality(_) => "show_cardinality",
        Statement::ShowRetentionPolicies(_) => "show_retention_policies",
        Statement::ShowShards => "show_shards",
        Statement::ShowShardGroups => "show_shard_groups",
        Statement::ShowUsers => "show_users",
        Statement::ShowGrants(_) => "show_grants",
        Statement::ShowContinuousQueries => "show_continuous_queries",
        Statement::ShowDiagnostics(_) => "show_diagnostics",
        Statement::ShowStats(_) => "show_stats",
        Statement::ShowQueries => "show_queries",
        Statement::ShowSubscriptions => "show_subscriptions",
        Statement::KillQuery(_) => "kill_query",
        Statement::CreateDatabase(_) => "create_database",
        Statement::DropDatabase(_) => "drop_database",
        Statement::CreateRetentionPolicy(_) => "create_retention_policy",
        Statement::AlterRetentionPolicy(_) => "alter_retention_policy",
        Statement::DropRetentionPolicy(_) => "drop_retention_policy",
        Statement::CreateUser(_) => "create_user",
        Statement::DropUser(_) => "drop_user",
        Statement::SetPassword(_) => "set_password",
        Statement::Grant(_) => "grant",
        Statement::GrantAdmin(_) => "grant_admin",
        Statement::Revoke(_) => "revoke",
        Statement::RevokeAdmin(_) => "revoke_admin",
        Statement::Delete(_) => "delete",
        Statement::DropSeries(_) => "drop_series",
        Statement::DropMeasurement(_) => "drop_measurement",
        Statement::DropShard(_) => "drop_shard",
        Statement::CreateContinuousQuery(_) => "create_continuous_query",
        Statement::DropContinuousQuery(_) => "drop_continuous_query",
        Statement::CreateSubscription(_) => "create_subscription",
        Statement::DropSubscription(_) => "drop_subscription",
    }
}

fn s(v: &str) -> Cell {
    Cell::String(v.to_owned())
}

fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|c| (*c).to_owned()).collect()
}

/// `SHOW DATABASES`: a non-admin user sees the databases it may read.
pub fn show_databases(md: &MetaData, user: Option<&User>) -> Series {
    Series {
        name: "databases".into(),
        columns: cols(&["name"]),
        values: md
            .databases
            .keys()
            .filter(|db| user.is_none_or(|u| u.admin || u.can_read(db)))
            .map(|db| vec![s(db)])
            .collect(),
        ..Default::default()
    }
}

/// `SHOW RETENTION POLICIES`, durations as Go prints them (`168h0m0s`).
pub fn show_retention_policies(md: &MetaData, db: &str) -> Result<Series, String> {
    let d = md
        .database(db)
        .ok_or_else(|| format!("database not found: {db}"))?;
    Ok(Series {
        columns: cols(&[
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ]),
        values: d
            .retention_policies
            .values()
            .map(|rp| {
                vec![
                    s(&rp.name),
                    s(&influxql::format_go_duration(rp.duration_ns as i64)),
                    s(&influxql::format_go_duration(
                        rp.shard_group_duration_ns as i64,
                    )),
                    Cell::Integer(i64::from(rp.replication_factor)),
                    Cell::Boolean(d.default_retention_policy.as_deref() == Some(&rp.name)),
                ]
            })
            .collect(),
        ..Default::default()
    })
}

/// RFC3339 without fractions, as InfluxDB formats shard times.
fn rfc3339_secs(ns: i64) -> String {
    rfc3339(ns.div_euclid(1_000_000_000) * 1_000_000_000)
}

/// `SHOW SHARDS`: one series per database, deleted groups left out.
pub fn show_shards(md: &MetaData) -> Vec<Series> {
    md.databases
        .values()
        .map(|db| {
            let mut values = Vec::new();
            for rp in db.retention_policies.values() {
                for g in rp
                    .shard_groups
                    .values()
                    .filter(|g| g.deleted_at_ns.is_none())
                {
                    let expiry = g.end_ns.saturating_add(rp.duration_ns as i64);
                    for sh in &g.shards {
                        let owners: Vec<String> = sh.owners.iter().map(u64::to_string).collect();
                        values.push(vec![
                            Cell::Integer(sh.id as i64),
                            s(&db.name),
                            s(&rp.name),
                            Cell::Integer(g.id as i64),
                            s(&rfc3339_secs(g.start_ns)),
                            s(&rfc3339_secs(g.end_ns)),
                            s(&rfc3339_secs(expiry)),
                            s(&owners.join(",")),
                        ]);
                    }
                }
            }
            Series {
                name: db.name.clone(),
                columns: cols(&[
                    "id",
                    "database",
                    "retention_policy",
                    "shard_group",
                    "start_time",
                    "end_time",
                    "expiry_time",
                    "owners",
                ]),
                values,
                ..Default::default()
            }
        })
        .collect()
}

/// `SHOW SHARD GROUPS`.
pub fn show_shard_groups(md: &MetaData) -> Series {
    let mut values = Vec::new();
    for db in md.databases.values() {
        for rp in db.retention_policies.values() {
            for g in rp
                .shard_groups
                .values()
                .filter(|g| g.deleted_at_ns.is_none())
            {
                let expiry = g.end_ns.saturating_add(rp.duration_ns as i64);
                values.push(vec![
                    Cell::Integer(g.id as i64),
                    s(&db.name),
                    s(&rp.name),
                    s(&rfc3339_secs(g.start_ns)),
                    s(&rfc3339_secs(g.end_ns)),
                    s(&rfc3339_secs(expiry)),
                ]);
            }
        }
    }
    Series {
        name: "shard groups".into(),
        columns: cols(&[
            "id",
            "database",
            "retention_policy",
            "start_time",
            "end_time",
            "expiry_time",
        ]),
        values,
        ..Default::default()
    }
}

/// `SHOW USERS`.
pub fn show_users(md: &MetaData) -> Series {
    Series {
        columns: cols(&["user", "admin"]),
        values: md
            .users
            .values()
            .map(|u| vec![s(&u.name), Cell::Boolean(u.admin)])
            .collect(),
        ..Default::default()
    }
}

/// `SHOW GRANTS FOR user`.
pub fn show_grants(md: &MetaData, user: &str) -> Result<Series, String> {
    let u = md.users.get(user).ok_or("user not found")?;
    Ok(Series {
        columns: cols(&["database", "privilege"]),
        values: u
            .privileges
            .iter()
            .map(|(db, p)| vec![s(db), s(p.as_str())])
            .collect(),
        ..Default::default()
    })
}

/// `SHOW CONTINUOUS QUERIES`: one series per database.
pub fn show_continuous_queries(md: &MetaData) -> Vec<Series> {
    md.databases
        .values()
        .map(|db| Series {
            name: db.name.clone(),
            columns: cols(&["name", "query"]),
            values: db
                .continuous_queries
                .values()
                .map(|cq| vec![s(&cq.name), s(&cq.query)])
                .collect(),
            ..Default::default()
        })
        .collect()
}

/// Why a user may not run a query: InfluxDB 1.6's
/// `error authorizing query: ...` text follows the prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{user} not authorized to execute statement '{statement}', requires {requirement}")]
pub struct AuthorizeError {
    pub user: String,
    pub statement: String,
    pub requirement: String,
}

/// What a statement needs, as InfluxDB 1.6's `RequiredPrivileges`.
enum Need<'a> {
    Nothing,
    Admin,
    Read(Option<&'a str>),
    Write(Option<&'a str>),
}

fn needs(stmt: &Statement) -> Vec<Need<'_>> {
    use influxql::Source;
    fn source_dbs(sources: &[Source]) -> Vec<Need<'_>> {
        let mut out = Vec::new();
        for src in sources {
            match src {
                Source::Measurement(m) => out.push(Need::Read(m.database.as_deref())),
                Source::Subquery(sel) => out.extend(source_dbs(&sel.sources)),
            }
        }
        out
    }
    match stmt {
        Statement::Select(sel) => {
            let mut n = source_dbs(&sel.sources);
            if let Some(t) = &sel.target {
                n.push(Need::Write(t.database.as_deref()));
            }
            n
        }
        Statement::Explain(e) => source_dbs(&e.statement.sources),
        Statement::ShowDatabases => vec![Need::Nothing],
        Statement::ShowMeasurements(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowTagKeys(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowTagValues(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowFieldKeys(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowSeries(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowCardinality(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowRetentionPolicies(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowContinuousQueries => vec![Need::Read(None)],
        Statement::Delete(_) | Statement::DropSeries(_) => vec![Need::Write(None)],
        Statement::CreateContinuousQuery(s) => vec![Need::Write(Some(&s.database))],
        Statement::DropContinuousQuery(s) => vec![Need::Write(Some(&s.database))],
        Statement::ShowShards
        | Statement::ShowShardGroups
        | Statement::ShowUsers
        | Statement::ShowGrants(_)
        | Statement::ShowDiagnostics(_)
        | Statement::ShowStats(_)
        | Statement::ShowQueries
        | Statement::ShowSubscriptions
        | Statement::KillQuery(_)
        | Statement::CreateDatabase(_)
        | Statement::DropDatabase(_)
        | Statement::CreateRetentionPolicy(_)
        | Statement::AlterRetentionPolicy(_)
        | Statement::DropRetentionPolicy(_)
        | Statement::CreateUser(_)
        | Statement::DropUser(_)
        | Statement::SetPassword(_)
        | Statement::Grant(_)
        | Statement::GrantAdmin(_)
        | Statement::Revoke(_)
        | Statement::RevokeAdmin(_)
        | Statement::DropMeasurement(_)
        | Statement::DropShard(_)
        | Statement::CreateSubscription(_)
        | Statement::DropSubscription(_) => vec![Need::Admin],
    }
}

/// Checks every statement against `user`'s privileges before any runs, as
/// InfluxDB's query authorizer does. Admins may do everything.
pub fn authorize(
    user: &User,
    statements: &[Statement],
    default_db: Option<&str>,
) -> Result<(), AuthorizeError> {
    if user.admin {
        return Ok(());
    }
    for stmt in statements {
        for need in needs(stmt) {
            let (ok, requirement) = match need {
                Need::Nothing => (true, String::new()),
                Need::Admin => (false, "admin privilege".to_owned()),
                Need::Read(db) => {
                    let db = db.or(default_db).unwrap_or_default();
                    (user.can_read(db), format!("READ on {db}"))
                }
                Need::Write(db) => {
                    let db = db.or(default_db).unwrap_or_default();
                    (user.can_write(db), format!("WRITE on {db}"))
                }
            };
            if !ok {
                return Err(AuthorizeError {
                    user: user.name.clone(),
                    statement: stmt.to_string(),
                    requirement,
                });
            }
        }
    }
    Ok(())
}

/// With authentication on and no admin user yet, InfluxDB accepts exactly
/// one kind of query without credentials: creating the first admin.
pub fn is_bootstrap_admin_creation(statements: &[Statement]) -> bool {
    matches!(statements, [Statement::CreateUser(u)] if u.admin)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use schemas::meta::{Database, RetentionPolicy};

    fn md() -> MetaData {
        let mut md = MetaData::default();
        let mut rps = BTreeMap::new();
        rps.insert(
            "autogen".to_owned(),
            RetentionPolicy {
                name: "autogen".into(),
                duration_ns: 0,
                shard_group_duration_ns: 7 * 86_400_000_000_000,
                replication_factor: 1,
                shard_count: None,
                shard_groups: BTreeMap::new(),
            },
        );
        rps.insert(
            "mixed".to_owned(),
            RetentionPolicy {
                name: "mixed".into(),
                duration_ns: 5_400_000_000_000,
                shard_group_duration_ns: 3_600_000_000_000,
                replication_factor: 2,
                shard_count: None,
                shard_groups: BTreeMap::new(),
            },
        );
        md.databases.insert(
            "db".into(),
            Database {
                name: "db".into(),
                default_retention_policy: Some("autogen".into()),
                retention_policies: rps,
                continuous_queries: BTreeMap::new(),
            },
        );
        md
    }

    fn user(admin: bool, grants: &[(&str, Privilege)]) -> User {
        User {
            name: "u".into(),
            password_hash: String::new(),
            admin,
            privileges: grants.iter().map(|(d, p)| ((*d).to_owned(), *p)).collect(),
        }
    }

    #[test]
    fn retention_policies_like_influxdb() {
        let s = show_retention_policies(&md(), "db").expect("db exists");
        assert_eq!(s.name, "");
        assert_eq!(
            s.values[1],
            vec![
                Cell::String("mixed".into()),
                Cell::String("1h30m0s".into()),
                Cell::String("1h0m0s".into()),
                Cell::Integer(2),
                Cell::Boolean(false)
            ]
        );
        assert_eq!(s.values[0][1], Cell::String("0s".into()));
        assert_eq!(s.values[0][2], Cell::String("168h0m0s".into()));
        assert_eq!(
            show_retention_policies(&md(), "nope").unwrap_err(),
            "database not found: nope"
        );
    }

    #[test]
    fn databases_filtered_for_non_admins() {
        let md = md();
        assert_eq!(show_databases(&md, None).values.len(), 1);
        assert_eq!(show_databases(&md, Some(&user(false, &[]))).values.len(), 0);
        assert_eq!(
            show_databases(&md, Some(&user(false, &[("db", Privilege::Read)])))
                .values
                .len(),
            1
        );
    }

    #[test]
    fn authorization_follows_required_privileges() {
        let q = influxql::parse_query("SELECT * FROM cpu; SHOW DATABASES").expect("parses");
        let reader = user(false, &[("db", Privilege::Read)]);
        assert!(authorize(&reader, &q.statements, Some("db")).is_ok());
        assert!(authorize(&reader, &q.statements, Some("other")).is_err());
        let ddl = influxql::parse_query("CREATE DATABASE x").expect("parses");
        let e = authorize(&reader, &ddl.statements, Some("db")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "u not authorized to execute statement 'CREATE DATABASE x', requires admin privilege"
        );
        assert!(authorize(&user(true, &[]), &ddl.statements, None).is_ok());
        let del = influxql::parse_query("DELETE FROM cpu").expect("parses");
        assert!(authorize(&reader, &del.statements, Some("db")).is_err());
        let writer = user(false, &[("db", Privilege::Write)]);
        assert!(authorize(&writer, &del.statements, Some("db")).is_ok());
        let first = influxql::parse_query("CREATE USER a WITH PASSWORD 'x' WITH ALL PRIVILEGES")
            .expect("parses");
        assert!(is_bootstrap_admin_creation(&first.statements));
        assert!(!is_bootstrap_admin_creation(&ddl.statements));
    }
}

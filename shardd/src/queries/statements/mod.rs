//! Statement dispatch: each statement of a query goes to the SELECT engine
//! (SELECT and the SHOW statements that read shards), to metad (databases,
//! retention policies, users, grants, continuous queries, shards), or
//! becomes tombstones in the log (DELETE, DROP SERIES, DROP MEASUREMENT).
//!
//! ```text
//!  Query ──▶ authorize (InfluxDB 1.6's RequiredPrivileges) ──▶ per statement, in order:
//!              SELECT, SHOW MEASUREMENTS/TAG/FIELD/SERIES/CARDINALITY ──▶ Engine
//!              SHOW DATABASES/RPs/SHARDS/USERS/GRANTS/CQs            ──▶ meta snapshot
//!              CREATE/DROP/ALTER/GRANT/REVOKE/SET PASSWORD/CQs      ──▶ metad (raft), then
//!                                                                        wait for the follower
//!              DELETE/DROP SERIES/DROP MEASUREMENT                    ──▶ tombstone.rs
//! ```
//!
//! As in InfluxDB, the first failing statement stops the query: later
//! statements answer `not executed`.

use std::sync::Arc;
use std::time::Duration;

use influxql::Statement;
use ingest::write::WriteService;
use meta_client::MetaClient;
use query::format::Chunker;
use query::result::{Series, StatementResult};
use query::select::QueryContext;
use schemas::meta::User;
use tracing::{info_span, Instrument};

use super::cluster::Cluster;
use super::tombstone::TombstoneWriter;
use super::tracker::{QueryLimits, QueryTracker, Running};

mod authorize;
mod meta;
mod running;
mod show_meta;

pub use authorize::{authorize, is_bootstrap_admin_creation, AuthorizeError};
pub use show_meta::{
    show_continuous_queries, show_databases, show_grants, show_retention_policies,
    show_shard_groups, show_shards, show_users,
};

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
    /// before the query started (see [`super::cluster`]).
    pub read_your_writes: bool,
    /// `chunk_size` of a chunked request: rows per chunk, and per page a
    /// raw SELECT reads from each shard.
    pub chunk_size: Option<usize>,
    /// `[coordinator]` `max-select-buckets`; 0: no limit.
    pub max_select_buckets: usize,
    /// `[coordinator]` `max-select-series`; 0: no limit.
    pub max_select_series: usize,
    /// `[coordinator]` `max-select-point`; 0: no limit.
    pub max_select_point: u64,
}

/// The query engine over this node's [`Cluster`]: SELECT through
/// [`query::select`] and the index SHOWs through [`query::show`];
/// `SELECT ... INTO` writes its answer through [`super::into`].
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
        qctx: &QueryContext,
        sel: &influxql::SelectStatement,
        target: &influxql::ast::Target,
    ) -> Result<Vec<Series>, String> {
        let writer = self
            .writer
            .as_ref()
            .ok_or("SELECT ... INTO needs a data node's write path")?;
        let target = super::into::IntoTarget::resolve(target, qctx.database.as_deref())?;
        let series = query::select::select(&*self.cluster, qctx, sel)
            .await
            .map_err(|e| e.to_string())?;
        Ok(vec![
            super::into::write(writer, &target, &series, qctx.now_ns).await?,
        ])
    }

    /// Runs a SELECT without INTO for a chunked answer, sending its series
    /// as they are ready (see [`query::select::select_chunked`]).
    async fn select_chunked(
        &self,
        statement: &influxql::ast::SelectStatement,
        ctx: &ExecContext,
        tx: tokio::sync::mpsc::Sender<Series>,
    ) -> Result<(), String> {
        query::select::select_chunked(&*self.cluster, &query_context(ctx), statement, &tx)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs one statement of [`is_data_statement`]; the result's
    /// `statement_id` is set by the caller.
    async fn execute(&self, statement: &Statement, ctx: &ExecContext) -> StatementResult {
        let qctx = query_context(ctx);
        let outcome = match statement {
            Statement::Select(sel) => match &sel.target {
                Some(target) => self.select_into(&qctx, sel, target).await,
                None => query::select::select(&*self.cluster, &qctx, sel)
                    .await
                    .map_err(|e| e.to_string()),
            },
            Statement::ShowMeasurements(_)
            | Statement::ShowTagKeys(_)
            | Statement::ShowTagValues(_)
            | Statement::ShowFieldKeys(_)
            | Statement::ShowSeries(_)
            | Statement::ShowCardinality(_) => query::show::show(&*self.cluster, &qctx, statement)
                .await
                .map_err(|e| e.to_string()),
            other => Err(format!(
                "statement not supported by Sluice yet: {}",
                statement_kind(other)
            )),
        };
        answer(outcome)
    }
}

/// A statement's result from its series or its error text.
fn answer(outcome: Result<Vec<Series>, String>) -> StatementResult {
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
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn query_context(ctx: &ExecContext) -> QueryContext {
    QueryContext {
        database: ctx.database.clone(),
        retention_policy: ctx.retention_policy.clone(),
        now_ns: now_ns(),
        read_your_writes: ctx.read_your_writes,
        chunk_size: ctx.chunk_size.unwrap_or(query::format::DEFAULT_CHUNK_SIZE),
        max_select_buckets: ctx.max_select_buckets,
        max_select_series: ctx.max_select_series,
        max_select_point: ctx.max_select_point,
    }
}

/// Whether `stmt` is answered by the [`Engine`].
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
    meta: Arc<MetaClient>,
    engine: Arc<Engine>,
    tombstones: Option<Arc<TombstoneWriter>>,
    tracker: Arc<QueryTracker>,
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
    failed_with(statement_id, NOT_EXECUTED.into())
}

fn failed_with(statement_id: usize, error: String) -> StatementResult {
    StatementResult {
        statement_id,
        error: Some(error),
        ..Default::default()
    }
}

impl Executor {
    /// An executor over `meta` (commands to metad), `engine` (SELECT and
    /// data SHOWs, and the cluster view with the meta data) and
    /// `tombstones` (DELETE and DROP; `None` answers them with an error).
    /// `tracker` lists, limits and stops the queries it runs.
    pub fn new(
        meta: Arc<MetaClient>,
        engine: Arc<Engine>,
        tombstones: Option<Arc<TombstoneWriter>>,
        tracker: Arc<QueryTracker>,
    ) -> Self {
        Self {
            meta,
            engine,
            tombstones,
            tracker,
        }
    }

    /// The `[coordinator]` limits.
    pub fn limits(&self) -> &QueryLimits {
        self.tracker.limits()
    }

    /// Registers the query with the tracker (`SHOW QUERIES`, `KILL
    /// QUERY`, the `[coordinator]` limits).
    fn attach(&self, statements: &[Statement], ctx: &ExecContext) -> Result<Running, String> {
        let text: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
        self.tracker
            .attach(text.join("; "), ctx.database.clone().unwrap_or_default())
    }

    /// The cluster view.
    pub fn cluster(&self) -> &Arc<Cluster> {
        self.engine.cluster()
    }

    /// Runs the statements in order, as InfluxDB does: after the first
    /// error the remaining statements answer [`NOT_EXECUTED`].
    pub async fn execute(
        &self,
        statements: &[Statement],
        ctx: &ExecContext,
    ) -> Vec<StatementResult> {
        let mut out = Vec::with_capacity(statements.len());
        let mut running = match self.attach(statements, ctx) {
            Ok(r) => r,
            Err(e) => return vec![failed_with(0, e)],
        };
        let mut failed = false;
        for (i, stmt) in statements.iter().enumerate() {
            if failed {
                out.push(not_executed(i));
                continue;
            }
            let mut r = tokio::select! {
                r = self.execute_one(stmt, ctx) => r,
                why = running.stopped() => failed_with(i, why.to_owned()),
            };
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
        let chunk_size = ctx.chunk_size.unwrap_or(query::format::DEFAULT_CHUNK_SIZE);
        let mut running = match self.attach(statements, ctx) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(failed_with(0, e)).await;
                return;
            }
        };
        let mut failed = false;
        for (i, stmt) in statements.iter().enumerate() {
            let last = if failed {
                not_executed(i)
            } else {
                match tokio::select! {
                    last = self.execute_one_chunked(i, stmt, ctx, chunk_size, tx) => last,
                    why = running.stopped() => Some(failed_with(i, why.to_owned())),
                } {
                    Some(last) => last,
                    None => return,
                }
            };
            failed = last.error.is_some();
            if tx.send(last).await.is_err() {
                return;
            }
        }
    }

    /// One statement of [`Self::execute_chunked`]: sends its chunks but the
    /// last, and answers the last; `None` when the receiver is gone.
    async fn execute_one_chunked(
        &self,
        i: usize,
        stmt: &Statement,
        ctx: &ExecContext,
        chunk_size: usize,
        tx: &tokio::sync::mpsc::Sender<StatementResult>,
    ) -> Option<StatementResult> {
        let last = match stmt {
            Statement::Select(sel) if sel.target.is_none() => {
                let span = info_span!("statement", kind = statement_kind(stmt));
                let mut chunker = Chunker::new(i, chunk_size, Vec::new());
                let (stx, mut srx) = tokio::sync::mpsc::channel(1);
                let produce = self.engine.select_chunked(sel, ctx, stx);
                let forward = async {
                    while let Some(series) = srx.recv().await {
                        for c in chunker.push(series) {
                            if tx.send(c).await.is_err() {
                                return false;
                            }
                        }
                    }
                    true
                };
                let (res, open) = async { tokio::join!(produce, forward) }
                    .instrument(span)
                    .await;
                if !open {
                    return None;
                }
                match res {
                    Ok(()) => chunker.finish(),
                    Err(e) => failed_with(i, e),
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
                            tx.send(c).await.ok()?;
                        }
                    }
                    chunker.finish()
                }
            }
        };
        Some(last)
    }

    /// Runs one statement.
    pub async fn execute_one(&self, stmt: &Statement, ctx: &ExecContext) -> StatementResult {
        let kind = statement_kind(stmt);
        let span = info_span!("statement", kind);
        async {
            if is_data_statement(stmt) {
                return self.engine.execute(stmt, ctx).await;
            }
            answer(self.meta_statement(stmt, ctx).await)
        }
        .instrument(span)
        .await
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

/// A user with `grants`, for the tests of the submodules.
#[cfg(test)]
fn test_user(admin: bool, grants: &[(&str, schemas::meta::Privilege)]) -> User {
    User {
        name: "u".into(),
        password_hash: String::new(),
        admin,
        privileges: grants.iter().map(|(d, p)| ((*d).to_owned(), *p)).collect(),
    }
}

//! Statements answered by metad: databases, retention policies, users,
//! grants, continuous queries, shards, applied through raft and waited for
//! on this node's follower.

use std::time::{Duration, Instant};

use influxql::{Privilege as QlPrivilege, Statement};
use query::result::Series;
use schemas::meta::{MetaData, Privilege};
use schemas::meta_api::{CommandError, MetaCommand, RetentionPolicySpec};
use tracing::debug;

use super::show_meta::*;
use super::{statement_kind, ExecContext, Executor, META_CATCH_UP};

impl Executor {
    /// Applies a meta command and waits until this node's follower has it.
    async fn apply(&self, cmd: MetaCommand) -> Result<(), String> {
        let out = self.meta.apply(&cmd).await.map_err(meta_error)?;
        self.wait_meta(out.version()).await;
        Ok(())
    }

    async fn wait_meta(&self, version: u64) {
        let deadline = Instant::now() + META_CATCH_UP;
        while self.cluster().meta().version < version && Instant::now() < deadline {
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

    pub(super) async fn meta_statement(
        &self,
        stmt: &Statement,
        ctx: &ExecContext,
    ) -> Result<Vec<Series>, String> {
        let md = self.cluster().meta();
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
                    created_by: ctx.user.as_ref().map(|u| u.name.clone()),
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
            Statement::ShowQueries => Ok(vec![self.show_queries(&md).await]),
            Statement::KillQuery(k) => self.kill_query(&md, k).await.map(|()| Vec::new()),
            Statement::ShowDiagnostics(_)
            | Statement::ShowStats(_)
            | Statement::ShowSubscriptions
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

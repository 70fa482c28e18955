//! Continuous queries: every CQ stored in metad runs on one data node (the
//! alive data node with the lowest id), on InfluxDB 1.6's schedule, as a
//! `SELECT ... INTO` over the intervals that just closed.
//!
//! ```text
//!  every second: meta data ─▶ am I the lowest alive data node? ─▶ per CQ:
//!      due? (last run + RESAMPLE EVERY, or never run) ─▶ time range of the
//!      closed intervals (RESAMPLE FOR back) ─▶ SELECT ... INTO ─▶ log
//! ```
//!
//! A CQ created with authentication on runs with its creator's rights: a
//! run the creator could no longer ask for (READ on its sources, WRITE on
//! its target, or the user dropped) is skipped and logged, so revoking a
//! grant also stops the CQs that user made.
//!
//! Like InfluxDB, the last run of each CQ is kept in memory only: a node
//! that takes the job over (restart, or the previous runner died) runs each
//! CQ once at once for the last interval(s), then on schedule. Points
//! written twice for the same interval overwrite themselves, so a double
//! run changes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use influxql::ast::{BinaryOp, CreateContinuousQueryStatement, Expr, Literal};
use influxql::Statement;
use schemas::meta::MetaData;
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

use super::statements::{authorize, now_ns, Engine};

/// How often the schedule is checked (InfluxDB's `run-interval` default).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// One due run: the instant it stands for and the `[start, end)` it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The run's place on the schedule (what the next run counts from).
    pub at: i64,
    /// First nanosecond the run reads (inclusive).
    pub start: i64,
    /// End of the range the run reads (exclusive).
    pub end: i64,
}

fn truncate(t: i64, every: i64, offset: i64) -> i64 {
    t - (t - offset).rem_euclid(every)
}

/// The GROUP BY time interval and offset of a CQ's SELECT.
fn interval_of(cq: &CreateContinuousQueryStatement) -> Result<(i64, i64), String> {
    let every = cq
        .source
        .group_by_interval()
        .map_err(|e| e.to_string())?
        .filter(|i| *i > 0)
        .ok_or("continuous queries must be aggregate queries with GROUP BY time")?;
    let offset = match cq.source.group_by_offset() {
        Some(Expr::Literal(Literal::Duration(o))) => o.rem_euclid(every),
        _ => 0,
    };
    Ok((every, offset))
}

/// Whether a CQ is due at `now` after `last_run`, and over what range:
/// InfluxDB 1.6's `shouldRunContinuousQuery` and the time range of
/// `ExecuteContinuousQuery`. `None` when not due (or nothing to compute).
pub fn due(
    cq: &CreateContinuousQueryStatement,
    last_run: Option<i64>,
    now: i64,
) -> Result<Option<Run>, String> {
    let (interval, offset) = interval_of(cq)?;
    let every = cq.resample_every.filter(|e| *e > 0).unwrap_or(interval);
    let next = match last_run {
        Some(last) if last + every > now => return Ok(None),
        Some(last) => last + every,
        None => now,
    };
    let resample_for = match cq.resample_for.filter(|f| *f > 0) {
        Some(f) => f,
        None => interval.max(every),
    };
    // The newest interval computed is the last one closed at `now`; with
    // RESAMPLE EVERY shorter than the interval, the still open one too.
    let step = every.min(interval);
    let start = truncate(next, interval, offset) - resample_for;
    let end = truncate(now + interval - step, interval, offset);
    let at = truncate(now, every, 0);
    Ok(Some(Run {
        at,
        start: start.min(end),
        end,
    }))
}

/// `stmt`'s SELECT limited to `[start, end)`.
fn with_time_range(
    cq: &CreateContinuousQueryStatement,
    start: i64,
    end: i64,
) -> influxql::SelectStatement {
    let mut sel = (*cq.source).clone();
    let bound = |op, t| Expr::binary(Expr::var("time"), op, Expr::Literal(Literal::Time(t)));
    let range = Expr::binary(
        bound(BinaryOp::GtEq, start),
        BinaryOp::And,
        bound(BinaryOp::Lt, end),
    );
    sel.and_condition(range);
    sel
}

/// Runs the CQs of the cluster while this node is the runner.
pub struct ContinuousQueries {
    engine: Arc<Engine>,
    /// Last run per (database, CQ name, query text).
    last_runs: HashMap<(String, String, String), i64>,
}

impl ContinuousQueries {
    /// A runner over `engine` (its cluster view decides who runs).
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            last_runs: HashMap::new(),
        }
    }

    fn is_runner(&self, md: &MetaData) -> bool {
        md.alive_data_nodes().map(|n| n.id).min() == Some(self.engine.cluster().node_id())
    }

    /// Checks the schedule every second until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let md = self.engine.cluster().meta();
            if !self.is_runner(&md) {
                // Another node runs them; start afresh if this one takes over.
                self.last_runs.clear();
                continue;
            }
            self.run_due(&md, now_ns()).await;
        }
    }

    /// Runs every CQ due at `now`.
    pub async fn run_due(&mut self, md: &MetaData, now: i64) {
        let mut live = Vec::new();
        for (db, d) in &md.databases {
            for cq in d.continuous_queries.values() {
                let key = (db.clone(), cq.name.clone(), cq.query.clone());
                live.push(key.clone());
                let span = info_span!("continuous_query", db = %db, name = %cq.name);
                let creator = cq.created_by.as_deref();
                self.run_one(key, creator, md, now).instrument(span).await;
            }
        }
        self.last_runs.retain(|k, _| live.contains(k));
    }

    async fn run_one(
        &mut self,
        key: (String, String, String),
        creator: Option<&str>,
        md: &MetaData,
        now: i64,
    ) {
        let stmt = match influxql::parse_statement(&key.2) {
            Ok(Statement::CreateContinuousQuery(s)) => s,
            Ok(_) | Err(_) => {
                warn!(query = %key.2, "stored continuous query does not parse; skipped");
                return;
            }
        };
        let run = match due(&stmt, self.last_runs.get(&key).copied(), now) {
            Ok(Some(run)) => run,
            Ok(None) => return,
            Err(e) => {
                if !self.last_runs.contains_key(&key) {
                    warn!(error = %e, "continuous query cannot run");
                }
                self.last_runs.insert(key, now);
                return;
            }
        };
        self.last_runs.insert(key.clone(), run.at);
        if run.end <= run.start {
            return;
        }
        let Some(target) = &stmt.source.target else {
            warn!("continuous query without INTO; skipped");
            return;
        };
        if let Some(name) = creator {
            let allowed = match md.users.get(name) {
                Some(user) => authorize(
                    user,
                    &[Statement::CreateContinuousQuery(stmt.clone())],
                    Some(&key.0),
                )
                .map_err(|e| e.to_string()),
                None => Err(format!("its creator {name} no longer exists")),
            };
            if let Err(e) = allowed {
                warn!(start = run.start, end = run.end, error = %e, "continuous query run skipped");
                return;
            }
        }
        let sel = with_time_range(&stmt, run.start, run.end);
        let ctx = query::select::QueryContext::new(Some(key.0.clone()), run.at);
        match self.engine.select_into(&ctx, &sel, target).await {
            Ok(series) => {
                let written = series
                    .first()
                    .and_then(|s| s.values.first())
                    .and_then(|r| r.get(1))
                    .cloned();
                info!(
                    start = run.start,
                    end = run.end,
                    ?written,
                    "continuous query ran"
                );
            }
            Err(e) => {
                warn!(start = run.start, end = run.end, error = %e, "continuous query failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000_000_000;
    const H: i64 = 60 * M;

    fn cq(text: &str) -> CreateContinuousQueryStatement {
        match influxql::parse_statement(text).expect("parses") {
            Statement::CreateContinuousQuery(s) => s,
            other => panic!("not a CQ: {other:?}"),
        }
    }

    const BASIC: &str =
        "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h) END";

    #[test]
    fn a_basic_cq_computes_the_interval_that_just_closed_once() {
        let q = cq(BASIC);
        let first = due(&q, None, 13 * H + 5 * M).unwrap().unwrap();
        assert_eq!((first.start, first.end, first.at), (12 * H, 13 * H, 13 * H));
        assert_eq!(due(&q, Some(first.at), 13 * H + 59 * M).unwrap(), None);
        let next = due(&q, Some(first.at), 14 * H).unwrap().unwrap();
        assert_eq!((next.start, next.end, next.at), (13 * H, 14 * H, 14 * H));
    }

    #[test]
    fn resample_every_and_for_widen_and_repeat_the_range() {
        // Every 30m over the last 2h: the open hour is included.
        let q = cq("CREATE CONTINUOUS QUERY c ON db RESAMPLE EVERY 30m FOR 2h BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h) END");
        let r = due(&q, Some(12 * H), 12 * H + 30 * M).unwrap().unwrap();
        assert_eq!((r.start, r.end, r.at), (10 * H, 13 * H, 12 * H + 30 * M));
        // Every 2h over the interval: the last two closed hours.
        let q = cq("CREATE CONTINUOUS QUERY c ON db RESAMPLE EVERY 2h BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h) END");
        let r = due(&q, Some(10 * H), 12 * H).unwrap().unwrap();
        assert_eq!((r.start, r.end), (10 * H, 12 * H));
    }

    #[test]
    fn offsets_move_the_interval_edges() {
        let q = cq("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h, 15m) END");
        let r = due(&q, None, 13 * H + 20 * M).unwrap().unwrap();
        assert_eq!((r.start, r.end), (12 * H + 15 * M, 13 * H + 15 * M));
    }

    #[test]
    fn the_range_is_added_to_the_condition() {
        let q = cq("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO m2 FROM m WHERE host = 'a' GROUP BY time(1h) END");
        let sel = with_time_range(&q, H, 2 * H);
        let text = sel.to_string();
        assert!(
            text.contains("host = 'a'") && text.contains("time >="),
            "{text}"
        );
    }
}

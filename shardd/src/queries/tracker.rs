//! The queries running on this node, as InfluxDB's task manager keeps
//! them: each gets an id (`SHOW QUERIES`), can be stopped (`KILL QUERY`),
//! is stopped at `query-timeout`, and is refused past
//! `max-concurrent-queries`.
//!
//! ```text
//!  /query, CQs ── Executor ── QueryTracker::attach ──▶ Running (dropped at the end)
//!                                 │ refused: max-concurrent-queries limit exceeded(n, limit)
//!  each statement races Running::stopped():
//!     KILL QUERY   ──▶ "query interrupted"
//!     query-timeout ──▶ "query-timeout limit exceeded"
//! ```
//!
//! Stopping a query drops its futures: calls to peers are cancelled (their
//! connections closed) and no further shard is read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemas::node_api::RunningQuery;
use tokio::sync::watch;

/// The `[coordinator]` limits, named as InfluxDB 1.x names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// A query running longer is stopped; `ZERO`: no limit.
    pub query_timeout: Duration,
    /// More queries at once are refused; 0: no limit.
    pub max_concurrent_queries: usize,
    /// A SELECT spanning more `GROUP BY time` buckets is refused; 0: no
    /// limit.
    pub max_select_buckets: usize,
    /// A SELECT matching more series is refused; 0: no limit.
    pub max_select_series: usize,
    /// A SELECT reading more points is stopped; 0: no limit.
    pub max_select_point: u64,
}

impl Default for QueryLimits {
    /// InfluxDB's defaults: no limits.
    fn default() -> Self {
        Self {
            query_timeout: Duration::ZERO,
            max_concurrent_queries: 0,
            max_select_buckets: 0,
            max_select_series: 0,
            max_select_point: 0,
        }
    }
}

/// InfluxDB's error of a killed query.
pub const INTERRUPTED: &str = "query interrupted";
/// InfluxDB's error of a query past `query-timeout`.
pub const TIMED_OUT: &str = "query-timeout limit exceeded";

struct Entry {
    query: String,
    database: String,
    started: Instant,
    stop: watch::Sender<Option<&'static str>>,
}

/// See the module docs.
#[derive(Default)]
pub struct QueryTracker {
    limits: QueryLimits,
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Entry>>,
}

impl std::fmt::Debug for QueryTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryTracker")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A query attached to the tracker; it leaves the list when dropped.
pub struct Running {
    qid: u64,
    tracker: Arc<QueryTracker>,
    stop: watch::Receiver<Option<&'static str>>,
    deadline: Option<Instant>,
}

impl QueryTracker {
    /// A tracker enforcing `limits`.
    pub fn new(limits: QueryLimits) -> Self {
        Self {
            limits,
            next: AtomicU64::new(1),
            running: Mutex::default(),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a query, or refuses it with InfluxDB's error when
    /// `max-concurrent-queries` are running already.
    pub fn attach(self: &Arc<Self>, query: String, database: String) -> Result<Running, String> {
        let mut running = self.entries();
        let limit = self.limits.max_concurrent_queries;
        if limit > 0 && running.len() >= limit {
            return Err(format!(
                "max-concurrent-queries limit exceeded({}, {limit})",
                running.len() + 1
            ));
        }
        let qid = self.next.fetch_add(1, Ordering::Relaxed);
        let (stop, rx) = watch::channel(None);
        running.insert(
            qid,
            Entry {
                query,
                database,
                started: Instant::now(),
                stop,
            },
        );
        let timeout = self.limits.query_timeout;
        Ok(Running {
            qid,
            tracker: Arc::clone(self),
            stop: rx,
            deadline: (!timeout.is_zero()).then(|| Instant::now() + timeout),
        })
    }

    /// The running queries, oldest first.
    pub fn list(&self) -> Vec<RunningQuery> {
        self.entries()
            .iter()
            .map(|(qid, e)| RunningQuery {
                qid: *qid,
                query: e.query.clone(),
                database: e.database.clone(),
                duration_ms: e.started.elapsed().as_millis() as u64,
                status: if e.stop.borrow().is_some() {
                    "killed".into()
                } else {
                    "running".into()
                },
            })
            .collect()
    }

    /// Stops query `qid`, with InfluxDB's errors for an unknown id and a
    /// query killed already.
    pub fn kill(&self, qid: u64) -> Result<(), String> {
        let running = self.entries();
        let e = running
            .get(&qid)
            .ok_or_else(|| format!("no such query id: {qid}"))?;
        if e.stop.borrow().is_some() {
            return Err("already killed".into());
        }
        e.stop.send_replace(Some(INTERRUPTED));
        Ok(())
    }
}

impl Running {
    /// Its id.
    pub fn qid(&self) -> u64 {
        self.qid
    }

    /// Resolves, with the error to answer, once the query is killed or
    /// has run past `query-timeout`; never otherwise.
    pub async fn stopped(&mut self) -> &'static str {
        let deadline = self.deadline;
        let stop = &mut self.stop;
        let killed = async move {
            // The guard of the watched value is not held across an await.
            let why = stop
                .wait_for(Option::is_some)
                .await
                .map(|why| why.unwrap_or(INTERRUPTED));
            match why {
                Ok(why) => why,
                // The tracker entry is gone only when this is dropped.
                Err(_) => std::future::pending().await,
            }
        };
        match deadline {
            Some(d) => tokio::select! {
                why = killed => why,
                () = tokio::time::sleep_until(d.into()) => TIMED_OUT,
            },
            None => killed.await,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.tracker.entries().remove(&self.qid);
    }
}

/// `SHOW QUERIES`'s duration column as InfluxDB shows it: whole units of
/// the largest unit that fits (`3s`, `120ms`).
pub fn format_duration(ms: u64) -> String {
    if ms >= 1000 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The internal routes of the running queries: peers coordinating a
/// `SHOW QUERIES` or a `KILL QUERY ... ON` this node call them.
pub fn routes(tracker: Arc<QueryTracker>) -> axum::Router {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::Json;
    use schemas::meta_api::ErrorBody;
    use schemas::node_api::paths;

    axum::Router::new()
        .route(
            paths::QUERIES,
            get(|State(t): State<Arc<QueryTracker>>| async move { Json(t.list()) }),
        )
        .route(
            paths::KILL_QUERY,
            post(
                |State(t): State<Arc<QueryTracker>>, Path(qid): Path<u64>| async move {
                    match t.kill(qid) {
                        Ok(()) => StatusCode::NO_CONTENT.into_response(),
                        // Not 404: that is an unknown route's answer.
                        Err(error) => (
                            StatusCode::BAD_REQUEST,
                            Json(ErrorBody {
                                error,
                                command_error: None,
                            }),
                        )
                            .into_response(),
                    }
                },
            ),
        )
        .with_state(tracker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_kill_and_timeout() {
        let t = Arc::new(QueryTracker::new(QueryLimits {
            query_timeout: Duration::from_millis(50),
            max_concurrent_queries: 2,
            max_select_buckets: 0,
            max_select_series: 0,
            max_select_point: 0,
        }));
        let mut a = t.attach("SELECT 1".into(), "db".into()).unwrap();
        let b = t.attach("SELECT 2".into(), "db".into()).unwrap();
        assert_eq!(
            t.attach("SELECT 3".into(), "db".into()).err().unwrap(),
            "max-concurrent-queries limit exceeded(3, 2)"
        );
        assert_eq!(t.list().len(), 2);
        t.kill(b.qid()).unwrap();
        assert_eq!(t.kill(b.qid()).unwrap_err(), "already killed");
        assert_eq!(t.list()[1].status, "killed");
        let mut b = b;
        assert_eq!(b.stopped().await, INTERRUPTED);
        drop(b);
        assert_eq!(t.kill(99).unwrap_err(), "no such query id: 99");
        assert_eq!(a.stopped().await, TIMED_OUT);
        drop(a);
        assert!(t.list().is_empty());
    }
}

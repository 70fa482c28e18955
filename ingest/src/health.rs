//! `/health` of every daemon, in InfluxDB 1.8's shape: `200` with
//! `"status": "pass"` when the daemon can do its job, `503` with
//! `"status": "fail"` and the failing checks' reasons when it cannot. A
//! `warn` check (work in progress that does not stop the daemon) is listed
//! but keeps the answer `200`. `/ping` stays InfluxDB's liveness answer.
//!
//! ```text
//!  write path (shardd, ingest): metad   status within 2 s, with a raft leader
//!                               kafka   broker metadata within 2 s
//!                               topics  warn: existing shard-group topics with fewer
//!                                       replicas or a limited retention
//!  shardd adds:                 replicas (failed ones fail; catching up after a start fails)
//! ```

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::write::WriteService;

/// How long one check may wait for metad or a broker.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One check of a `/health` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked (`metad`, `kafka`, `replicas`).
    pub name: &'static str,
    /// `pass`, `warn` or `fail`.
    pub status: &'static str,
    /// Why, in words.
    pub message: String,
}

impl Check {
    /// A passing check.
    pub fn pass(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            status: "pass",
            message: message.into(),
        }
    }

    /// A check listed as a warning; the daemon still does its job.
    pub fn warn(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            status: "warn",
            message: message.into(),
        }
    }

    /// A failing check: the answer is `503`.
    pub fn fail(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            status: "fail",
            message: message.into(),
        }
    }
}

/// The `/health` answer for `checks`.
pub fn answer(checks: Vec<Check>) -> Response {
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| c.status == "fail")
        .map(|c| format!("{}: {}", c.name, c.message))
        .collect();
    let (code, status, message) = if failing.is_empty() {
        (
            StatusCode::OK,
            "pass",
            "ready for queries and writes".to_owned(),
        )
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "fail", failing.join("; "))
    };
    let body = serde_json::json!({
        "name": "sluice",
        "message": message,
        "status": status,
        "checks": checks,
        "version": crate::http::VERSION,
    });
    (code, Json(body)).into_response()
}

/// Whether the write path can work: metad answers with a leader, and a
/// Kafka broker answers a metadata request.
pub async fn write_path(service: &WriteService) -> Vec<Check> {
    let metad = match tokio::time::timeout(CHECK_TIMEOUT, service.meta_client().status()).await {
        Ok(Ok(s)) if s.leader.is_some() => Check::pass(
            "metad",
            format!(
                "leader {}, meta version {}",
                s.leader.unwrap_or_default(),
                s.meta_version
            ),
        ),
        Ok(Ok(_)) => Check::fail("metad", "metad has no raft leader (no quorum?)"),
        Ok(Err(e)) => Check::fail("metad", format!("unreachable: {e}")),
        Err(_) => Check::fail("metad", format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    let producer = std::sync::Arc::clone(service.producer());
    let kafka =
        match tokio::task::spawn_blocking(move || producer.broker_count(CHECK_TIMEOUT)).await {
            Ok(Ok(n)) if n > 0 => Check::pass("kafka", format!("{n} broker(s)")),
            Ok(Ok(_)) => Check::fail("kafka", "the cluster metadata lists no broker"),
            Ok(Err(e)) => Check::fail("kafka", format!("unreachable: {e}")),
            Err(e) => Check::fail("kafka", format!("check failed: {e}")),
        };
    let problems = service.producer().topic_problems();
    let topics = if problems.is_empty() {
        Check::pass("topics", "every topic checked is as Sluice makes them")
    } else {
        let listed: Vec<String> = problems
            .iter()
            .map(|(t, why)| format!("{t}: {why}"))
            .collect();
        Check::warn("topics", listed.join("; "))
    };
    vec![metad, kafka, topics]
}

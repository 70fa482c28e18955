//! The internal shard-read route: a peer coordinating a query asks this
//! node for one shard's part of it.
//!
//! ```text
//!  coordinator ── POST /internal/v1/shard (bincode ShardReadRequest<ShardOp>) ──▶ this node
//!              ◀── 200 bincode ShardReadResponse<ShardOut> | 4xx/5xx text ──────┘
//!                    [wait until applied up to wait_offset]
//!                    → spawn_blocking(query::shards::run_op over its storage::Shard)
//! ```
//!
//! Encoding: bincode, `version` first (see `schemas::node_api`); the
//! shared secret and the version header are checked by
//! `crate::api::guard_internal`, which the route is served inside. A 404
//! answer means this node holds no queryable replica (rebuilding,
//! unhealthy or reassigned); the coordinator then tries the next owner, as
//! it does on any other failure or timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use query::select::scan::{Cancel, ScanError};
use query::{ShardOp, ShardOut};
use schemas::node_api::{paths, ShardReadRequest, ShardReadResponse, NODE_API_VERSION};

use super::cluster::LocalShards;
use crate::replica::WaitError;

/// Why a shard read failed on this node.
#[derive(Debug, thiserror::Error)]
pub enum ShardCallError {
    /// The node holds no queryable replica.
    #[error("shard {0} is not held by this node")]
    NotHeld(u64),
    /// The replica did not catch up in time.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// The shard-local step failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The blocking task panicked or was cancelled.
    #[error("shard task failed: {0}")]
    Task(String),
}

/// Runs a call against a local shard, waiting for `wait_offset` first.
pub async fn run_local(
    local: &Arc<dyn LocalShards>,
    call: ShardReadRequest<ShardOp>,
) -> Result<ShardOut, ShardCallError> {
    let shard_id = call.op.shard_id();
    let shard = match call.wait_offset {
        Some(off) => {
            local
                .wait_applied(shard_id, off, Duration::from_millis(call.wait_timeout_ms))
                .await?;
            local.shard_for_wait(shard_id)
        }
        None => local.shard(shard_id),
    }
    .ok_or(ShardCallError::NotHeld(shard_id))?;
    let span = tracing::debug_span!("shard_call", shard_id);
    let cancel = Cancel::default();
    if call.op.is_cheap() {
        // The hop to the blocking pool and back costs more than the read.
        let _g = span.enter();
        return Ok(query::shards::run_op(&shard, &call.op, &cancel)?);
    }
    // Dropping this call (its query killed or timed out, or the peer that
    // asked hung up) stops the scan at its next series: the blocking
    // thread is not held for a query nobody waits for.
    let _withdraw = cancel.on_drop();
    tokio::task::spawn_blocking(move || {
        let _g = span.enter();
        query::shards::run_op(&shard, &call.op, &cancel)
    })
    .await
    .map_err(|e| ShardCallError::Task(e.to_string()))?
    .map_err(ShardCallError::from)
}

/// The shard-read route, over this node's replicas. Serve it inside
/// [`crate::api::guard_internal`] (shared secret, version header).
pub fn routes(local: Arc<dyn LocalShards>) -> axum::Router {
    axum::Router::new()
        .route(paths::SHARD_READ, post(handle))
        .with_state(local)
}

async fn handle(State(local): State<Arc<dyn LocalShards>>, body: Bytes) -> Response {
    match node_client::request_version(&body) {
        Some(NODE_API_VERSION) => {}
        got => {
            let msg = format!("node API version {got:?}, this node speaks {NODE_API_VERSION}");
            return (StatusCode::BAD_REQUEST, msg).into_response();
        }
    }
    let call: ShardReadRequest<ShardOp> = match bincode::deserialize(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad shard call: {e}")).into_response(),
    };
    let shard_id = call.op.shard_id();
    match run_local(&local, call).await {
        Ok(out) => {
            let answer = ShardReadResponse {
                version: NODE_API_VERSION,
                out,
            };
            match bincode::serialize(&answer) {
                Ok(bytes) => (
                    StatusCode::OK,
                    [(axum::http::header::CONTENT_TYPE, node_client::BINCODE)],
                    bytes,
                )
                    .into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        }
        Err(e @ (ShardCallError::NotHeld(_) | ShardCallError::Wait(WaitError::NoReplica(_)))) => {
            (StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        Err(e @ ShardCallError::Wait(_)) => {
            tracing::warn!(shard_id, error = %e, "replica behind read-your-writes offset");
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
        Err(e) => {
            tracing::warn!(shard_id, error = %e, "shard call failed");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

//! The internal shard-read protocol: what a coordinating data node asks a
//! peer that owns a shard, the axum routes shardd serves on its internal
//! port, and the client.
//!
//! ```text
//!  coordinator ── POST /internal/v1/shard  (bincode ShardCall) ──▶ peer
//!              ◀── 200 bincode ShardOut | 4xx/5xx text error ───────┘
//!                    peer: [wait until applied up to wait_offset]
//!                          → spawn_blocking(run over its storage::Shard)
//! ```
//!
//! Body encoding: bincode (serde, fixed-width little-endian integers, no
//! field names). The answers are dominated by arrays of timestamps and
//! numbers (raw rows, partial aggregates per bucket); bincode writes an
//! `f64` as its 8 bytes and decodes at memory speed, where JSON would print
//! and re-parse every float in decimal (several times the bytes and CPU,
//! and lossy unless printed with 17 digits). Both ends are the same build
//! of this crate, so a self-describing format buys nothing.
//!
//! Authentication: `Authorization: Bearer <shared secret>` when the cluster
//! has one.
//!
//! A 404 answer (`ShardNotHeld`) means the peer holds no queryable replica
//! (rebuilding, unhealthy or reassigned); the coordinator then tries the
//! next owner, as it does on any other failure or timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use crate::cluster::{LocalShards, WaitError};
use crate::select::scan::{
    self, MeasurementSchema, ScanError, ScanRequest, ScanResponse, SchemaRequest, SeriesRequest,
};

/// The route of shard calls.
pub const SHARD_PATH: &str = "/internal/v1/shard";

/// One call for one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShardOp {
    Schema(SchemaRequest),
    Scan(ScanRequest),
    Series(SeriesRequest),
}

impl ShardOp {
    /// The shard the call reads.
    pub fn shard_id(&self) -> u64 {
        match self {
            ShardOp::Schema(r) => r.shard_id,
            ShardOp::Scan(r) => r.shard_id,
            ShardOp::Series(r) => r.shard_id,
        }
    }
}

/// A call with its read-your-writes offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardCall {
    pub op: ShardOp,
    /// Answer only once every record below this offset is applied.
    pub wait_offset: Option<i64>,
    /// How long the replica may wait for that.
    pub wait_timeout_ms: u64,
}

/// The answer to a [`ShardOp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShardOut {
    Schema(Vec<MeasurementSchema>),
    Scan(ScanResponse),
    Series(Vec<String>),
}

/// Why a shard call failed (locally or remotely).
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
    /// The peer could not be reached or did not answer in time.
    #[error("request to {addr} failed: {source}")]
    Http {
        addr: String,
        source: reqwest::Error,
    },
    /// The peer answered with an error.
    #[error("{addr} answered {status}: {message}")]
    Remote {
        addr: String,
        status: u16,
        message: String,
    },
    /// A body could not be decoded.
    #[error("cannot decode shard answer: {0}")]
    Decode(String),
}

/// Runs a call against a local shard, waiting for `wait_offset` first.
pub async fn run_local(
    local: &Arc<dyn LocalShards>,
    call: ShardCall,
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
    if let ShardOp::Schema(_) = &call.op {
        // A schema read is a few index lookups: the hop to the blocking
        // pool and back costs more than it does.
        let _g = span.enter();
        return run_sync(&shard, &call.op);
    }
    tokio::task::spawn_blocking(move || {
        let _g = span.enter();
        run_sync(&shard, &call.op)
    })
    .await
    .map_err(|e| ShardCallError::Task(e.to_string()))?
}

/// Runs a call synchronously over a shard.
pub fn run_sync(shard: &storage::Shard, op: &ShardOp) -> Result<ShardOut, ShardCallError> {
    Ok(match op {
        ShardOp::Schema(r) => ShardOut::Schema(scan::schema(shard, &r.sources)?),
        ShardOp::Scan(r) => ShardOut::Scan(scan::scan(shard, r)?),
        ShardOp::Series(r) => ShardOut::Series(scan::series_keys(shard, r)?),
    })
}

#[derive(Clone)]
struct ApiState {
    local: Arc<dyn LocalShards>,
    secret: Option<String>,
}

/// The internal routes shardd mounts on its internal port.
pub fn routes(local: Arc<dyn LocalShards>, shared_secret: Option<String>) -> axum::Router {
    axum::Router::new()
        .route(SHARD_PATH, post(handle))
        .with_state(ApiState {
            local,
            secret: shared_secret,
        })
}

async fn handle(State(st): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    if !meta_client::auth::has_shared_secret(&headers, st.secret.as_deref()) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong shared secret").into_response();
    }
    let call: ShardCall = match bincode::deserialize(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad shard call: {e}")).into_response(),
    };
    let shard_id = call.op.shard_id();
    match run_local(&st.local, call).await {
        Ok(out) => match bincode::serialize(&out) {
            Ok(bytes) => (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/x-bincode")],
                bytes,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(e @ (ShardCallError::NotHeld(_) | ShardCallError::Wait(WaitError::NotHeld(_)))) => {
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

/// Sends a call to the peer at `addr` (`host:port` of its internal API).
pub async fn call_remote(
    http: &reqwest::Client,
    addr: &str,
    secret: Option<&str>,
    call: &ShardCall,
    timeout: Duration,
) -> Result<ShardOut, ShardCallError> {
    let body = bincode::serialize(call).map_err(|e| ShardCallError::Decode(e.to_string()))?;
    let mut req = http
        .post(format!("http://{addr}{SHARD_PATH}"))
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/x-bincode")
        .body(body);
    if let Some(s) = secret {
        req = req.bearer_auth(s);
    }
    let http_err = |source| ShardCallError::Http {
        addr: addr.to_owned(),
        source,
    };
    let resp = req.send().await.map_err(http_err)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(http_err)?;
    if !status.is_success() {
        return Err(ShardCallError::Remote {
            addr: addr.to_owned(),
            status: status.as_u16(),
            message: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    bincode::deserialize(&bytes).map_err(|e| ShardCallError::Decode(e.to_string()))
}

//! The node's two HTTP APIs.
//!
//! - **internal** (default `127.0.0.1:8088`, InfluxDB's RPC port), behind
//!   the cluster's shared secret: replica status, digests at a common
//!   offset, hold/release, rebuild, resume, snapshots (see `schemas::node_api` for the
//!   table); the shard-read route of [`crate::queries`] is merged here.
//! - **public** (default `127.0.0.1:8086`): ingest's `/write`,
//!   `/api/v2/write` and `/ping`, plus `/health` and `/metrics`;
//!   [`crate::queries`]' `/query` is merged here.
//!
//! Every error goes through [`ApiError`], whose `IntoResponse` is the one
//! place statuses are chosen; bodies are `ErrorBody` JSON as metad's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt as _;
use ingest::http::{check_endpoint_auth, Endpoint, WriteApi};
use meta_client::auth::has_shared_secret;
use schemas::meta::ShardId;
use schemas::meta_api::ErrorBody;
use schemas::node_api::{
    paths, DigestReport, HoldRequest, InstallLog, InstallReport, ReplicaState, ResumeRequest,
    ShardStatus, NODE_API_VERSION, VERSION_HEADER,
};
use serde::Deserialize;
use tracing::info;

use crate::node::Node;
use crate::replica::{Command, Hold, Replica, WaitError};

/// How long a hold lasts when the request names no TTL.
const DEFAULT_HOLD_TTL: Duration = Duration::from_secs(60);
/// How long a digest waits for its offset when the request names no timeout.
const DEFAULT_DIGEST_WAIT: Duration = Duration::from_secs(30);

/// Every way an internal API call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong shared secret.
    #[error("unauthorized: missing or wrong shared secret")]
    Unauthorized,
    /// This node holds no replica of the shard.
    #[error("no replica of shard {0} on this node")]
    NoReplica(ShardId),
    /// The replica is open or rebuilding: no shard to read.
    #[error("shard {0} is not open on this node (opening or rebuilding)")]
    NotOpen(ShardId),
    /// The request does not fit the replica's state.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Waiting for an offset failed.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// The storage engine failed.
    #[error("storage: {0}")]
    Storage(#[from] storage::Error),
    /// A snapshot could not be installed.
    #[error(transparent)]
    Install(#[from] crate::snapshots::InstallError),
    /// A blocking task was cancelled (shutdown).
    #[error("shutting down")]
    ShuttingDown,
    /// The caller speaks another version of the internal API.
    #[error("node API version {0}, this node speaks {NODE_API_VERSION}")]
    Version(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NoReplica(_) => StatusCode::NOT_FOUND,
            ApiError::NotOpen(_) | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) | ApiError::Version(_) => StatusCode::BAD_REQUEST,
            ApiError::Wait(WaitError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Wait(WaitError::NoReplica(_)) => StatusCode::NOT_FOUND,
            ApiError::Wait(_) => StatusCode::CONFLICT,
            ApiError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Install(crate::snapshots::InstallError::Busy(_)) => StatusCode::CONFLICT,
            ApiError::Install(crate::snapshots::InstallError::Storage {
                source: storage::Error::Snapshot(_),
                ..
            }) => StatusCode::BAD_REQUEST,
            ApiError::Install(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = ErrorBody {
            error: self.to_string(),
            command_error: None,
        };
        (status, Json(body)).into_response()
    }
}

/// The internal routes (not yet behind the shared secret; see [`guard_internal`]).
pub(crate) fn internal_routes(node: Arc<Node>) -> Router {
    Router::new()
        .route(paths::PING, get(|| async { StatusCode::NO_CONTENT }))
        .route(paths::SHARDS, get(list))
        .route(paths::SHARD, get(status))
        .route(paths::DIGEST, get(digest))
        .route(paths::HOLD, post(hold))
        .route(paths::RELEASE, post(release))
        .route(paths::REBUILD, post(rebuild))
        .route(paths::RESUME, post(resume))
        .route(paths::SNAPSHOT, get(snapshot).put(install))
        .with_state(node)
}

/// Puts internal routes behind the cluster's shared `secret` and the API
/// version check, with a request span: what a node serves on its internal
/// port (tests that serve a route alone wrap it the same way).
pub fn guard_internal(router: Router, secret: Option<String>) -> Router {
    router
        .layer(middleware::from_fn_with_state(secret, authenticate))
        .layer(middleware::from_fn(check_version))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Refuses a call that announces another [`NODE_API_VERSION`] (a call that
/// announces none, such as an operator's curl, is served) and stamps ours
/// on every answer, which `node_client` requires.
async fn check_version(req: Request, next: Next) -> Response {
    let announced = req.headers().get(VERSION_HEADER).map(|v| v.to_str().ok());
    let mut resp = match announced {
        Some(Some(v)) if v == NODE_API_VERSION.to_string() => next.run(req).await,
        None => next.run(req).await,
        Some(v) => ApiError::Version(v.unwrap_or("?").to_owned()).into_response(),
    };
    resp.headers_mut()
        .insert(VERSION_HEADER, HeaderValue::from(NODE_API_VERSION));
    resp
}

/// `/write`, `/api/v2/write`, `/ping`, `/health`, `/metrics`,
/// `/debug/vars`.
pub(crate) fn public_routes(node: &Arc<Node>) -> Router {
    let write = ingest::http::routes(Arc::new(WriteApi {
        service: Arc::clone(node.write_service()),
        config: node.api_config().clone(),
        auth: Arc::clone(node.authenticator()),
    }));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/debug/vars", get(debug_vars))
        .with_state(Arc::clone(node))
        .merge(write)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// `/health`: the write path (metad, Kafka) and the replicas (see
/// [`Node::replica_checks`]).
async fn health(State(node): State<Arc<Node>>) -> Response {
    let mut checks = ingest::health::write_path(node.write_service()).await;
    checks.push(node.replica_checks());
    ingest::health::answer(checks)
}

async fn authenticate(State(secret): State<Option<String>>, req: Request, next: Next) -> Response {
    if !has_shared_secret(req.headers(), secret.as_deref()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(req).await
}

/// InfluxDB's `ping-auth-enabled` / `pprof-auth-enabled` check of `endpoint`.
fn endpoint_auth(
    node: &Node,
    endpoint: Endpoint,
    creds: &ingest::http::CredentialParams,
    headers: &axum::http::HeaderMap,
) -> Result<(), ingest::http::ApiError> {
    let md = node.follower().current();
    check_endpoint_auth(
        endpoint,
        node.api_config(),
        node.authenticator(),
        &md,
        creds,
        headers,
    )
}

async fn metrics(
    State(node): State<Arc<Node>>,
    Query(creds): Query<ingest::http::CredentialParams>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(e) = endpoint_auth(&node, Endpoint::Metrics, &creds, &headers) {
        return e.into_response();
    }
    let replicas = node.replicas();
    node.metrics()
        .render(replicas.iter().map(|r| r.as_ref()))
        .into_response()
}

/// `/debug/vars`: the metrics as InfluxDB's expvar JSON, which Telegraf's
/// `influxdb` input reads.
async fn debug_vars(
    State(node): State<Arc<Node>>,
    Query(creds): Query<ingest::http::CredentialParams>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(e) = endpoint_auth(&node, Endpoint::Debug, &creds, &headers) {
        return e.into_response();
    }
    let replicas = node.replicas();
    let families = node.metrics().gather(replicas.iter().map(|r| r.as_ref()));
    Json(ingest::debug::vars(&families, node.id())).into_response()
}

fn replica(node: &Node, id: ShardId) -> Result<Arc<Replica>, ApiError> {
    node.replica(id).ok_or(ApiError::NoReplica(id))
}

/// Runs `f` off the runtime: the control lock waits for an apply to end.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::ShuttingDown)?
}

async fn list(State(node): State<Arc<Node>>) -> Json<Vec<ShardStatus>> {
    Json(node.replicas().iter().map(|r| r.status()).collect())
}

async fn status(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
) -> Result<Json<ShardStatus>, ApiError> {
    Ok(Json(replica(&node, id)?.status()))
}

#[derive(Debug, Deserialize)]
struct DigestQuery {
    offset: Option<i64>,
    timeout_ms: Option<u64>,
}

/// Sets a hold at `offset` (`None`: the applied offset) unless the replica
/// is already past it. Under the control lock, so no batch slips past
/// between reading the applied offset and holding.
fn hold_at(r: &Replica, offset: Option<i64>, ttl: Duration) -> Result<(), ApiError> {
    let mut ctl = r.lock_control();
    let offset = offset.unwrap_or_else(|| r.lock_status().applied.unwrap_or(-1));
    let applied = r.lock_status().applied;
    if let Some(a) = applied.filter(|a| *a > offset) {
        return Err(ApiError::Conflict(format!(
            "applied offset {a} is past {offset}; hold the replicas first (POST .../hold)"
        )));
    }
    ctl.hold = Some(Hold {
        offset,
        until: Instant::now() + ttl,
    });
    r.lock_status().hold = Some(offset);
    r.wake();
    Ok(())
}

/// The digest now, or with `offset`: holds the replica at it, waits until
/// every record up to it is applied and digests that (the hold stays until
/// released or its TTL passes, so other replicas can be digested at the same
/// point).
async fn digest(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
    Query(q): Query<DigestQuery>,
) -> Result<Json<DigestReport>, ApiError> {
    let r = replica(&node, id)?;
    let wait = q
        .timeout_ms
        .map_or(DEFAULT_DIGEST_WAIT, Duration::from_millis);
    if let Some(offset) = q.offset {
        let r2 = Arc::clone(&r);
        let ttl = (wait * 2).max(DEFAULT_HOLD_TTL);
        blocking(move || hold_at(&r2, Some(offset), ttl)).await?;
        r.wait_for(offset, wait).await?;
    }
    let shard = r.shard().ok_or(ApiError::NotOpen(id))?;
    let through = r.progress();
    let d = blocking(move || shard.digest().map_err(ApiError::from)).await?;
    Ok(Json(DigestReport {
        shard_id: id,
        node_id: node.id(),
        applied_offset: d.applied_offset,
        through_offset: through,
        digest: d.hex(),
    }))
}

async fn hold(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
    body: Option<Json<HoldRequest>>,
) -> Result<Json<ShardStatus>, ApiError> {
    let r = replica(&node, id)?;
    let req = body.map(|Json(b)| b).unwrap_or_default();
    let ttl = req.ttl_ms.map_or(DEFAULT_HOLD_TTL, Duration::from_millis);
    let r2 = Arc::clone(&r);
    blocking(move || hold_at(&r2, req.offset, ttl)).await?;
    Ok(Json(r.status()))
}

async fn release(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
) -> Result<Json<ShardStatus>, ApiError> {
    let r = replica(&node, id)?;
    let r2 = Arc::clone(&r);
    blocking(move || {
        let mut ctl = r2.lock_control();
        ctl.hold = None;
        r2.lock_status().hold = None;
        r2.wake();
        Ok(())
    })
    .await?;
    Ok(Json(r.status()))
}

#[derive(Debug, Default, Deserialize)]
struct RebuildQuery {
    /// Replay from the partition's beginning, not from a peer's snapshot.
    #[serde(default)]
    replay: bool,
}

/// Drops the replica and rebuilds it; refused, before anything is
/// dropped, when the rebuild could not bring back what the replica holds.
async fn rebuild(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
    Query(q): Query<RebuildQuery>,
) -> Result<(StatusCode, Json<ShardStatus>), ApiError> {
    let r = replica(&node, id)?;
    if r.lock_status().detached {
        return Err(ApiError::Conflict(format!(
            "shard {id} is being installed from a snapshot; rebuild it afterwards"
        )));
    }
    let peer = !q.replay
        && !crate::snapshots::peers_by_freshness(&node, id)
            .await
            .is_empty();
    if !peer {
        if let Some(reason) = crate::snapshots::log_gone_reason(&node, &r).await {
            return Err(ApiError::Conflict(format!(
                "refusing to drop shard {id}: {reason}"
            )));
        }
    }
    let r2 = Arc::clone(&r);
    blocking(move || {
        let mut ctl = r2.lock_control();
        ctl.hold = None;
        {
            // Visible at once, so a caller polling the status never sees the
            // old copy's `healthy` after asking for a rebuild.
            let mut st = r2.lock_status();
            st.state = ReplicaState::CatchingUp;
            st.hold = None;
            st.rebuilds += 1;
        }
        r2.command(&mut ctl, Command::Rebuild { replay: q.replay });
        Ok(())
    })
    .await?;
    info!(shard_id = id, replay = q.replay, "rebuild requested");
    Ok((StatusCode::ACCEPTED, Json(r.status())))
}

#[derive(Debug, Default, Deserialize)]
struct SnapshotQuery {
    /// First wait until the replica has applied every record its partition
    /// holds now (a backup: every write acknowledged before it is in).
    #[serde(default)]
    caught_up: bool,
    timeout_ms: Option<u64>,
    /// `<incarnation>-<offset|none>`: answer 304 if the replica is there.
    unless: Option<String>,
}

/// The replica as a snapshot stream (`storage::snapshot`), of one instant
/// while it goes on applying.
async fn snapshot(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
    Query(q): Query<SnapshotQuery>,
) -> Result<Response, ApiError> {
    let r = replica(&node, id)?;
    if q.caught_up {
        let high = node
            .watermarks()
            .high(&r.spec.topic, r.spec.partition)
            .await
            .map_err(|e| ApiError::Conflict(format!("cannot read the partition's end: {e}")))?;
        let wait = q
            .timeout_ms
            .map_or(DEFAULT_DIGEST_WAIT, Duration::from_millis);
        if high > 0 {
            r.wait_for(high - 1, wait).await?;
        }
    }
    let shard = r.shard().ok_or(ApiError::NotOpen(id))?;
    if let Some(unless) = &q.unless {
        let offset = shard
            .applied_offset()
            .map_or_else(|| "none".to_owned(), |o| o.to_string());
        if *unless == format!("{}-{offset}", shard.incarnation()) {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
    }
    drop(shard);
    info!(shard_id = id, caught_up = q.caught_up, "serving a snapshot");
    let body = axum::body::Body::from_stream(crate::snapshots::export(&node, id));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct InstallQuery {
    #[serde(default)]
    log: InstallLog,
}

/// Installs the body (a snapshot stream) in place of the replica.
async fn install(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
    Query(q): Query<InstallQuery>,
    body: axum::body::Body,
) -> Result<Json<InstallReport>, ApiError> {
    let r = replica(&node, id)?;
    let stream = body
        .into_data_stream()
        .map(|c| c.map_err(std::io::Error::other));
    let reader = tokio_util::io::StreamReader::new(stream);
    let report = crate::snapshots::install(Arc::clone(&node), r, reader, q.log).await?;
    Ok(Json(report))
}

async fn resume(
    State(node): State<Arc<Node>>,
    Path(id): Path<ShardId>,
    Json(req): Json<ResumeRequest>,
) -> Result<(StatusCode, Json<ShardStatus>), ApiError> {
    let r = replica(&node, id)?;
    let r2 = Arc::clone(&r);
    blocking(move || {
        let mut ctl = r2.lock_control();
        let st = r2.lock_status().clone();
        if !matches!(st.state, ReplicaState::Failed { .. }) {
            return Err(ApiError::Conflict(format!(
                "shard {id} is {}: only a failed replica is resumed",
                st.state
            )));
        }
        if let Some(a) = st.applied.filter(|a| req.from_offset <= *a) {
            return Err(ApiError::Conflict(format!(
                "offset {} is already applied (applied offset {a})",
                req.from_offset
            )));
        }
        if req.from_offset < 0 {
            return Err(ApiError::BadRequest("offsets are not negative".into()));
        }
        if let Some(h) = st.high_watermark.filter(|h| req.from_offset > *h) {
            return Err(ApiError::BadRequest(format!(
                "offset {} is beyond the high watermark {h}",
                req.from_offset
            )));
        }
        r2.command(&mut ctl, Command::Resume(req.from_offset));
        Ok(())
    })
    .await?;
    info!(shard_id = id, from = req.from_offset, "resume requested");
    Ok((StatusCode::ACCEPTED, Json(r.status())))
}

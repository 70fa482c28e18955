//! metad's HTTP API (see `schemas::meta_api` for the table of endpoints).
//!
//! Leader forwarding: a follower that gets a request only the leader can
//! serve (a command, a heartbeat, a linearizable read, a membership change)
//! proxies it to the leader and relays the answer, marking it with
//! [`FORWARDED`] so that a request never travels twice: a forwarded request
//! reaching a non-leader (leadership just moved) answers 503 and the client
//! retries. Clients therefore may talk to any metad node.
//!
//! Every error goes through [`ApiError`], whose `IntoResponse` is the one
//! place statuses are chosen; bodies are [`ErrorBody`] JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use meta_client::auth::has_shared_secret;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use schemas::meta_api::{
    paths, AddMetaRequest, CommandError, ErrorBody, HeartbeatRequest, HeartbeatResponse,
    MetaCommand, RemoveMetaRequest,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tracing::debug;

use crate::node::{MetaNode, ProposeError};
use crate::{MetaNodeId, TypeConfig};

/// Header set on a request a follower forwards to the leader.
pub const FORWARDED: &str = "x-sluice-forwarded";

/// Longest long poll a client may ask for.
const MAX_WATCH: Duration = Duration::from_secs(300);
/// Long poll length when the client names none.
const DEFAULT_WATCH: Duration = Duration::from_secs(30);

/// Every way an API call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong shared secret.
    #[error("unauthorized: missing or wrong shared secret")]
    Unauthorized,
    /// The body is not the JSON the endpoint takes.
    #[error("malformed request body: {0}")]
    MalformedBody(serde_json::Error),
    /// The query string is not what the endpoint takes.
    #[error("malformed query string: {0}")]
    MalformedQuery(String),
    /// No leader is known (election under way) or leadership just moved.
    #[error("no meta leader available; retry")]
    NoLeader,
    /// The leader could not be reached to forward the request.
    #[error("cannot forward to the meta leader at {addr}: {source}")]
    Forward {
        /// Leader address.
        addr: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// Proposing or serving on the leader failed.
    #[error(transparent)]
    Propose(ProposeError),
}

impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::NotLeader { .. } => ApiError::NoLeader,
            other => ApiError::Propose(other),
        }
    }
}

fn command_status(e: &CommandError) -> StatusCode {
    use CommandError::*;
    match e {
        DatabaseNotFound(_)
        | RetentionPolicyNotFound(_)
        | UserNotFound
        | ContinuousQueryNotFound
        | DataNodeNotFound(_)
        | ShardNotFound(_) => StatusCode::NOT_FOUND,
        RetentionPolicyExists
        | RetentionPolicyConflict
        | UserExists
        | ContinuousQueryExists
        | DataNodeOwnsShards { .. }
        | AddressInUse { .. }
        | NodeIdInUse { .. }
        | NotShardOwner { .. }
        | LastShardOwner(_)
        | ShardUnderReplicated { .. }
        | ShardGroupOverlaps(_)
        | TopicInUse(_) => StatusCode::CONFLICT,
        // Not the request's fault: writes can succeed once a data node is back.
        NoAliveDataNodes => StatusCode::SERVICE_UNAVAILABLE,
        DatabaseNameRequired
        | RetentionPolicyNameRequired
        | UsernameRequired
        | ContinuousQueryNameRequired
        | DurationTooLow
        | IncompatibleDurations
        | ReplicationFactorTooLow
        | ShardCountTooLow
        | InvalidPasswordHash
        | InvalidTopicPrefix(_)
        | InvalidShardGroup(_) => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MalformedBody(_) | ApiError::MalformedQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::NoLeader => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Forward { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Propose(p) => match p {
                ProposeError::Command(e) => command_status(e),
                ProposeError::NotLeader { .. } | ProposeError::NoQuorum(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                ProposeError::Membership(_) => StatusCode::CONFLICT,
                ProposeError::Fatal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        };
        let command_error = match &self {
            ApiError::Propose(ProposeError::Command(e)) => Some(e.clone()),
            _ => None,
        };
        let body = ErrorBody {
            error: self.to_string(),
            command_error,
        };
        (status, Json(body)).into_response()
    }
}

/// The API router of `node`.
pub fn router(node: Arc<MetaNode>) -> Router {
    Router::new()
        .route(paths::PING, get(ping))
        .route(paths::META, get(get_meta))
        .route(paths::COMMAND, post(command))
        .route(paths::HEARTBEAT, post(heartbeat))
        .route(paths::STATUS, get(status))
        .route(paths::ADD_META, post(add_meta))
        .route(paths::REMOVE_META, post(remove_meta))
        .route(paths::RAFT_APPEND, post(raft_append))
        .route(paths::RAFT_VOTE, post(raft_vote))
        .route(paths::RAFT_SNAPSHOT, post(raft_snapshot))
        // Snapshot chunks are up to openraft's 3 MiB default plus JSON overhead.
        .layer(DefaultBodyLimit::max(64 << 20))
        // A layer, not a route layer: it guards unknown paths too, so a
        // route added later cannot be left open.
        .layer(middleware::from_fn_with_state(node.clone(), authenticate))
        // Open like InfluxDB's (probes carry no secret); it tells only
        // whether this node knows a leader.
        .route(paths::HEALTH, get(health))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(node)
}

/// `/health` in InfluxDB 1.8's shape: `200` while this node knows a raft
/// leader (commands can be applied), `503` otherwise.
async fn health(State(node): State<Arc<MetaNode>>) -> Response {
    let s = node.status();
    // A leader cut off from its followers still names itself leader; it
    // has lost its quorum when no majority acknowledged it for a while.
    let quorum_ack_ms = node.raft.metrics().borrow().millis_since_quorum_ack;
    let lost = (node.config.election_timeout * 2).as_millis() as u64;
    let (code, status, message) = match s.leader {
        Some(_) if quorum_ack_ms.is_some_and(|ms| ms > lost) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "fail",
            format!(
                "leader in term {} without a quorum for {} ms",
                s.term,
                quorum_ack_ms.unwrap_or_default()
            ),
        ),
        Some(leader) => (
            StatusCode::OK,
            "pass",
            format!("{} in term {}, leader {leader}", s.raft_state, s.term),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "fail",
            format!(
                "{} in term {}: no raft leader known (no quorum?)",
                s.raft_state, s.term
            ),
        ),
    };
    let body = serde_json::json!({
        "name": "sluice-metad",
        "message": message,
        "status": status,
        "checks": [],
        "version": env!("CARGO_PKG_VERSION"),
    });
    (code, Json(body)).into_response()
}

async fn authenticate(State(node): State<Arc<MetaNode>>, req: Request, next: Next) -> Response {
    if !has_shared_secret(req.headers(), node.config.shared_secret.as_deref()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(req).await
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::MalformedBody)
}

/// The request as received, for forwarding it unchanged.
struct Original {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// Relays `req` to the leader at `leader` and its answer back.
async fn forward(
    node: &MetaNode,
    req: &Original,
    leader: Option<String>,
) -> Result<Response, ApiError> {
    if req.headers.contains_key(FORWARDED) {
        return Err(ApiError::NoLeader);
    }
    let Some(addr) = leader else {
        return Err(ApiError::NoLeader);
    };
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    debug!(%addr, path, "forwarding to leader");
    let mut out = node
        .http
        .request(req.method.clone(), format!("http://{addr}{path}"))
        .header(FORWARDED, "1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(req.body.clone());
    if let Some(auth) = req.headers.get(header::AUTHORIZATION) {
        out = out.header(header::AUTHORIZATION, auth.clone());
    }
    let fail = |source| ApiError::Forward {
        addr: addr.clone(),
        source,
    };
    let answer = out.send().await.map_err(fail)?;
    let status = answer.status();
    let body = answer.bytes().await.map_err(fail)?;
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Answers with `result`, or forwards when this node is not the leader.
async fn on_leader<T: serde::Serialize>(
    node: &MetaNode,
    req: &Original,
    result: Result<T, ProposeError>,
) -> Result<Response, ApiError> {
    match result {
        Ok(value) => Ok(Json(value).into_response()),
        Err(ProposeError::NotLeader { leader }) => forward(node, req, leader).await,
        Err(e) => Err(e.into()),
    }
}

async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct MetaQuery {
    since: Option<u64>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    linearizable: bool,
}

async fn get_meta(
    State(node): State<Arc<MetaNode>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<MetaQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::MalformedQuery(e.body_text()))?;
    if q.linearizable {
        if let Err(e) = node.linearizable().await {
            let req = Original {
                method,
                uri,
                headers,
                body: Bytes::new(),
            };
            return on_leader::<()>(&node, &req, Err(e)).await;
        }
    }
    let mut rx = node.meta.clone();
    if let Some(since) = q.since {
        let wait = q
            .timeout_ms
            .map_or(DEFAULT_WATCH, Duration::from_millis)
            .min(MAX_WATCH);
        // Timing out is an answer too: the current snapshot, same version.
        let _ = tokio::time::timeout(wait, rx.wait_for(|m| m.version > since)).await;
    }
    let meta = rx.borrow().clone();
    Ok(Json(&*meta).into_response())
}

async fn command(
    State(node): State<Arc<MetaNode>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cmd: MetaCommand = parse(&body)?;
    let result = node.propose(cmd).await;
    let req = Original {
        method,
        uri,
        headers,
        body,
    };
    on_leader(&node, &req, result).await
}

async fn heartbeat(
    State(node): State<Arc<MetaNode>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let hb: HeartbeatRequest = parse(&body)?;
    let result = node
        .heartbeat(hb)
        .await
        .map(|version| HeartbeatResponse { version });
    let req = Original {
        method,
        uri,
        headers,
        body,
    };
    on_leader(&node, &req, result).await
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    #[serde(default)]
    local: bool,
}

async fn status(
    State(node): State<Arc<MetaNode>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::MalformedQuery(e.body_text()))?;
    let (leader, addr) = node.leader();
    let here =
        q.local || leader.is_none() || leader == Some(node.id) || headers.contains_key(FORWARDED);
    if here {
        return Ok(Json(node.status()).into_response());
    }
    let req = Original {
        method,
        uri,
        headers,
        body: Bytes::new(),
    };
    // Only the leader knows heartbeats and replication progress; if it
    // cannot be reached, this node's own view is still worth showing.
    match forward(&node, &req, addr).await {
        Ok(response) => Ok(response),
        Err(_) => Ok(Json(node.status()).into_response()),
    }
}

async fn add_meta(
    State(node): State<Arc<MetaNode>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let add: AddMetaRequest = parse(&body)?;
    let result = node
        .add_meta(add.node_id, add.addr)
        .await
        .map(|()| node.status());
    let req = Original {
        method,
        uri,
        headers,
        body,
    };
    on_leader(&node, &req, result).await
}

async fn remove_meta(
    State(node): State<Arc<MetaNode>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let remove: RemoveMetaRequest = parse(&body)?;
    let result = node
        .remove_meta(remove.node_id)
        .await
        .map(|()| node.status());
    let req = Original {
        method,
        uri,
        headers,
        body,
    };
    on_leader(&node, &req, result).await
}

async fn raft_append(State(node): State<Arc<MetaNode>>, body: Bytes) -> Result<Response, ApiError> {
    let req: AppendEntriesRequest<TypeConfig> = parse(&body)?;
    Ok(Json(node.raft.append_entries(req).await).into_response())
}

async fn raft_vote(State(node): State<Arc<MetaNode>>, body: Bytes) -> Result<Response, ApiError> {
    let req: VoteRequest<MetaNodeId> = parse(&body)?;
    Ok(Json(node.raft.vote(req).await).into_response())
}

async fn raft_snapshot(
    State(node): State<Arc<MetaNode>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: InstallSnapshotRequest<TypeConfig> = parse(&body)?;
    Ok(Json(node.raft.install_snapshot(req).await).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let status = |e: ApiError| e.into_response().status();
        assert_eq!(status(ApiError::Unauthorized), StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(ApiError::Propose(ProposeError::Command(
                CommandError::DatabaseNotFound("x".into())
            ))),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(ApiError::Propose(ProposeError::Command(
                CommandError::ReplicationFactorTooLow
            ))),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(ApiError::Propose(ProposeError::Command(
                CommandError::RetentionPolicyExists
            ))),
            StatusCode::CONFLICT
        );
        assert_eq!(status(ApiError::NoLeader), StatusCode::SERVICE_UNAVAILABLE);
    }
}

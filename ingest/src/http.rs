//! InfluxDB 1.x's write API over HTTP: `/write`, `/api/v2/write` (the 1.8
//! compatibility endpoint) and `/ping`. Every data node serves these routes
//! on its public port (shardd merges them with `/query`).
//!
//! Responses copy InfluxDB's: JSON errors `{"error": "..."}` with the same
//! text in `X-Influxdb-Error`, and `X-Influxdb-Version` on every answer.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use line_protocol::Precision;
use meta_client::auth::{self, AuthError, Authenticator, Credentials};
use serde::Deserialize;
use tracing::{info_span, warn, Instrument};

use crate::now_ns;
use crate::write::{WriteError, WriteRequest, WriteService};

/// The version reported to clients: the InfluxDB release whose behaviour
/// Sluice follows, then Sluice's own.
pub const VERSION: &str = concat!("1.6.7-sluice-", env!("CARGO_PKG_VERSION"));

/// Settings of the public HTTP API shared by write and query.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Require credentials (InfluxDB's `auth-enabled`).
    pub auth_enabled: bool,
    /// Largest request body, after decompression (InfluxDB's
    /// `max-body-size`, 25 MB by default); larger ones get 413.
    pub max_body_size: usize,
    /// With `auth_enabled`, credentials on `/ping` and `/metrics` too
    /// (InfluxDB's `ping-auth-enabled`).
    pub ping_auth_enabled: bool,
    /// Connection, write and read limits.
    pub limits: settings::HttpLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            auth_enabled: settings::defaults::AUTH_ENABLED,
            max_body_size: settings::defaults::MAX_BODY_SIZE,
            ping_auth_enabled: false,
            limits: settings::HttpLimits::default(),
        }
    }
}

impl From<settings::HttpApi> for ApiConfig {
    fn from(api: settings::HttpApi) -> Self {
        Self {
            auth_enabled: api.auth_enabled,
            max_body_size: api.max_body_size,
            ping_auth_enabled: api.ping_auth_enabled,
            limits: api.limits,
        }
    }
}

impl ApiConfig {
    /// What [`crate::serve::serve`] enforces per connection.
    pub fn connection_limits(&self) -> crate::serve::ConnectionLimits {
        crate::serve::ConnectionLimits {
            max_connections: self.limits.max_connection_limit,
            header_read_timeout: self.limits.header_read_timeout,
        }
    }
}

/// What the write routes need.
#[derive(Debug)]
pub struct WriteApi {
    /// The write path.
    pub service: Arc<WriteService>,
    /// API settings.
    pub config: ApiConfig,
    /// Checks credentials (shared with the query routes).
    pub auth: Arc<Authenticator>,
}

/// The write routes, to merge into a node's public router; writes pass
/// InfluxDB's write throttle when one is configured.
pub fn routes(api: Arc<WriteApi>) -> Router {
    let l = &api.config.limits;
    let throttle = crate::serve::WriteThrottle::new(
        l.max_concurrent_write_limit,
        l.max_enqueued_write_limit,
        l.enqueued_write_timeout,
    );
    Router::new()
        .route("/write", post(write_v1))
        .route("/api/v2/write", post(write_v2))
        .route_layer(axum::middleware::from_fn_with_state(
            throttle,
            crate::serve::throttle_writes,
        ))
        .route("/ping", get(ping).head(ping))
        .with_state(api)
}

/// Adds the headers InfluxDB sends on every response.
pub async fn version_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert("X-Influxdb-Version", HeaderValue::from_static(VERSION));
    h.insert("X-Influxdb-Build", HeaderValue::from_static("Sluice"));
    response
}

/// An error answered the InfluxDB way.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        // Header values cannot hold newlines; InfluxDB turns them into spaces.
        let flat = self.message.replace(['\n', '\r'], " ");
        if let Ok(v) = HeaderValue::from_str(&flat) {
            response.headers_mut().insert("X-Influxdb-Error", v);
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = StatusCode::from_u16(e.status()).expect("valid status");
        ApiError::new(status, e.to_string())
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        let status = match &e {
            WriteError::DatabaseNotFound(_) => StatusCode::NOT_FOUND,
            // InfluxDB answers 500 here, and clients rely on the status.
            WriteError::RetentionPolicyNotFound(_) => StatusCode::INTERNAL_SERVER_ERROR,
            WriteError::Meta(_) | WriteError::Produce(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            warn!(error = %e, "write failed");
        }
        ApiError::new(status, e.to_string())
    }
}

/// Checks credentials when auth is on; returns the user, if any.
pub fn authenticate(
    config: &ApiConfig,
    authenticator: &Authenticator,
    md: &schemas::meta::MetaData,
    creds: Option<&Credentials>,
) -> Result<Option<schemas::meta::User>, ApiError> {
    if !config.auth_enabled {
        return Ok(None);
    }
    Ok(Some(authenticator.authenticate(md, creds)?))
}

/// Reads a request body of at most `config.max_body_size` bytes after
/// decompression, within `config`'s body read timeout (a client trickling
/// its body gets 408 rather than holding the request).
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    config: &ApiConfig,
) -> Result<Bytes, ApiError> {
    let max = config.max_body_size;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http: request body too large",
        )
    };
    let raw = tokio::time::timeout(
        config.limits.body_read_timeout,
        axum::body::to_bytes(body, max),
    )
    .await
    .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, "request body read timeout"))?
    .map_err(|_| too_large())?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    flate2::read::GzDecoder::new(&raw[..])
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid gzip body: {e}")))?;
    if out.len() > max {
        return Err(too_large());
    }
    Ok(out.into())
}

#[derive(Debug, Deserialize)]
struct V1Params {
    db: Option<String>,
    rp: Option<String>,
    precision: Option<String>,
    #[serde(flatten)]
    creds: CredentialParams,
}

#[derive(Debug, Deserialize)]
struct V2Params {
    bucket: Option<String>,
    precision: Option<String>,
}

async fn write_v1(
    State(api): State<Arc<WriteApi>>,
    Query(q): Query<V1Params>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let db =
        q.db.filter(|d| !d.is_empty())
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "database is required"))?;
    let creds = q.creds.credentials(&headers);
    let span = info_span!("write", db = %db, api = "v1");
    write(
        &api,
        &headers,
        body,
        &db,
        q.rp.as_deref(),
        q.precision.as_deref(),
        creds,
    )
    .instrument(span)
    .await
}

async fn write_v2(
    State(api): State<Arc<WriteApi>>,
    Query(q): Query<V2Params>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    // `bucket` is `db/rp` or `db` in the 1.x compatibility API; `org` is ignored.
    let bucket = q
        .bucket
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bucket is required"))?;
    let (db, rp) = match bucket.split_once('/') {
        Some((db, rp)) => (db.to_owned(), Some(rp.to_owned())),
        None => (bucket, None),
    };
    let creds = auth::credentials(None, None, authorization(&headers));
    let span = info_span!("write", db = %db, api = "v2");
    write(
        &api,
        &headers,
        body,
        &db,
        rp.as_deref(),
        q.precision.as_deref(),
        creds,
    )
    .instrument(span)
    .await
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn write(
    api: &WriteApi,
    headers: &HeaderMap,
    body: Body,
    db: &str,
    rp: Option<&str>,
    precision: Option<&str>,
    creds: Option<Credentials>,
) -> Result<StatusCode, ApiError> {
    let precision: Precision =
        precision
            .unwrap_or_default()
            .parse()
            .map_err(|e: line_protocol::UnknownPrecision| {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            })?;
    if api.config.auth_enabled {
        let md = api.service.follower().current();
        if let Some(user) = authenticate(&api.config, &api.auth, &md, creds.as_ref())? {
            auth::authorize_write(&user, db)?;
        }
    }
    let body = read_body(headers, body, &api.config).await?;
    let now = now_ns();
    let req = WriteRequest {
        database: db,
        retention_policy: rp,
        precision,
        body: &body,
        default_time_ns: now,
    };
    let outcome = api.service.write(req, now).await?;
    match outcome.error_message() {
        None => Ok(StatusCode::NO_CONTENT),
        Some(message) => Err(ApiError::new(StatusCode::BAD_REQUEST, message)),
    }
}

/// Credentials of a request's `u`/`p` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct CredentialParams {
    u: Option<String>,
    p: Option<String>,
}

impl CredentialParams {
    /// The credentials of the parameters, else of the `Authorization`
    /// header, in InfluxDB's order.
    pub fn credentials(&self, headers: &HeaderMap) -> Option<Credentials> {
        auth::credentials(self.u.as_deref(), self.p.as_deref(), authorization(headers))
    }
}

/// Refuses a request to `/ping` or `/metrics` without valid credentials
/// when auth and InfluxDB's `ping-auth-enabled` are on.
pub fn check_ping_auth(
    config: &ApiConfig,
    authenticator: &Authenticator,
    md: &schemas::meta::MetaData,
    params: &CredentialParams,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if !config.ping_auth_enabled {
        return Ok(());
    }
    authenticate(
        config,
        authenticator,
        md,
        params.credentials(headers).as_ref(),
    )
    .map(drop)
}

#[derive(Debug, Deserialize)]
struct PingParams {
    verbose: Option<String>,
    #[serde(flatten)]
    creds: CredentialParams,
}

async fn ping(
    State(api): State<Arc<WriteApi>>,
    Query(q): Query<PingParams>,
    headers: HeaderMap,
) -> Response {
    let md = api.service.follower().current();
    if let Err(e) = check_ping_auth(&api.config, &api.auth, &md, &q.creds, &headers) {
        return e.into_response();
    }
    match q.verbose.as_deref() {
        Some("true" | "1" | "t" | "T" | "TRUE" | "True") => {
            Json(serde_json::json!({ "version": VERSION })).into_response()
        }
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

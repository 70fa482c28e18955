//! InfluxDB 1.x's write API over HTTP: `/write`, `/api/v2/write` (the 1.8
//! compatibility endpoint) and `/ping`. Every data node serves these routes
//! on its public port (shardd merges them with `/query`).
//!
//! Responses copy InfluxDB's: JSON errors `{"error": "..."}` with the same
//! text in `X-Influxdb-Error`, and `X-Influxdb-Version` on every answer.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, RawQuery, State};
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
    /// With `auth_enabled`, an admin's credentials on `/debug/*` and any
    /// user's on `/metrics` (InfluxDB's `pprof-auth-enabled`).
    pub pprof_auth_enabled: bool,
    /// Connection, write and read limits.
    pub limits: settings::HttpLimits,
    /// Serve HTTPS with these files (InfluxDB's `https-enabled`).
    pub https: Option<settings::HttpsFiles>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            auth_enabled: settings::defaults::AUTH_ENABLED,
            max_body_size: settings::defaults::MAX_BODY_SIZE,
            ping_auth_enabled: false,
            pprof_auth_enabled: false,
            limits: settings::HttpLimits::default(),
            https: None,
        }
    }
}

impl From<settings::HttpApi> for ApiConfig {
    fn from(api: settings::HttpApi) -> Self {
        Self {
            auth_enabled: api.auth_enabled,
            max_body_size: api.max_body_size,
            ping_auth_enabled: api.ping_auth_enabled,
            pprof_auth_enabled: api.pprof_auth_enabled,
            limits: api.limits,
            https: api.https,
        }
    }
}

impl ApiConfig {
    /// What [`crate::serve::serve`] enforces per connection, with the TLS
    /// files loaded (so a bad certificate stops a node at start).
    pub fn connection_limits(
        &self,
    ) -> Result<crate::serve::ConnectionLimits, crate::serve::TlsError> {
        Ok(crate::serve::ConnectionLimits {
            max_connections: self.limits.max_connection_limit,
            header_read_timeout: self.limits.header_read_timeout,
            tls: self
                .https
                .as_ref()
                .map(|f| {
                    crate::serve::Tls::from_pem_files(&f.certificate, f.private_key.as_deref())
                })
                .transpose()?,
        })
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
    decode_body(raw, gzip, max)
}

/// A body as read, gunzipped when `gzip`, refused past `max` bytes
/// (checked while inflating, so a small bomb cannot fill the memory).
pub fn decode_body(raw: Bytes, gzip: bool, max: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http: request body too large",
        )
    };
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(max));
    flate2::read::GzDecoder::new(&raw[..])
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid gzip body: {e}")))?;
    if out.len() > max {
        return Err(too_large());
    }
    Ok(out.into())
}

/// Where a write goes and who sends it, read from its URL's query string
/// as InfluxDB reads it (the first value of a repeated name wins, unknown
/// names are ignored). Pure, so that it is fuzzed without a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    /// `db`, or a v2 `bucket`'s part before `/`.
    pub database: String,
    /// `rp`, or a v2 `bucket`'s part after `/`.
    pub retention_policy: Option<String>,
    /// `precision` (nanoseconds when absent).
    pub precision: Precision,
    /// `u`/`p` (v1 only), else the `Authorization` header.
    pub credentials: Option<Credentials>,
}

impl WriteTarget {
    /// `/write?db=&rp=&precision=&u=&p=`.
    pub fn v1(query: &str, authorization: Option<&str>) -> Result<Self, ApiError> {
        let mut q = first_values(query);
        let database = q
            .remove("db")
            .filter(|d| !d.is_empty())
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "database is required"))?;
        let credentials = auth::credentials(
            q.get("u").map(String::as_str),
            q.get("p").map(String::as_str),
            authorization,
        );
        Ok(Self {
            database,
            retention_policy: q.remove("rp"),
            precision: precision(q.get("precision"))?,
            credentials,
        })
    }

    /// `/api/v2/write?bucket=db[/rp]&precision=` (1.8's compatibility
    /// API; `org` is ignored, credentials only from the header).
    pub fn v2(query: &str, authorization: Option<&str>) -> Result<Self, ApiError> {
        let q = first_values(query);
        let bucket = q
            .get("bucket")
            .filter(|b| !b.is_empty())
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bucket is required"))?;
        let (database, retention_policy) = match bucket.split_once('/') {
            Some((db, rp)) => (db.to_owned(), Some(rp.to_owned())),
            None => (bucket.clone(), None),
        };
        // `bucket=/rp`: found by fuzzing (it used to reach the write path
        // with an empty database name).
        if database.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "database is required",
            ));
        }
        Ok(Self {
            database,
            retention_policy,
            precision: precision(q.get("precision"))?,
            credentials: auth::credentials(None, None, authorization),
        })
    }
}

fn first_values(query: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn precision(p: Option<&String>) -> Result<Precision, ApiError> {
    p.map_or("", String::as_str)
        .parse()
        .map_err(|e: line_protocol::UnknownPrecision| {
            ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        })
}

async fn write_v1(
    State(api): State<Arc<WriteApi>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let target = WriteTarget::v1(
        query.as_deref().unwrap_or_default(),
        authorization(&headers),
    )?;
    let span = info_span!("write", db = %target.database, api = "v1");
    write(&api, &headers, body, target).instrument(span).await
}

async fn write_v2(
    State(api): State<Arc<WriteApi>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let target = WriteTarget::v2(
        query.as_deref().unwrap_or_default(),
        authorization(&headers),
    )?;
    let span = info_span!("write", db = %target.database, api = "v2");
    write(&api, &headers, body, target).instrument(span).await
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
    target: WriteTarget,
) -> Result<StatusCode, ApiError> {
    let db = target.database.as_str();
    if api.config.auth_enabled {
        let md = api.service.follower().current();
        if let Some(user) = authenticate(&api.config, &api.auth, &md, target.credentials.as_ref())?
        {
            auth::authorize_write(&user, db)?;
        }
    }
    let body = read_body(headers, body, &api.config).await?;
    let now = now_ns();
    let req = WriteRequest {
        database: db,
        retention_policy: target.retention_policy.as_deref(),
        precision: target.precision,
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

/// An endpoint outside the data API, by who may call it when auth is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/ping`: any user with `ping-auth-enabled`.
    Ping,
    /// `/metrics`: any user with `ping-auth-enabled` or
    /// `pprof-auth-enabled`.
    Metrics,
    /// `/debug/*`: an admin with `pprof-auth-enabled`.
    Debug,
}

/// Refuses a request to `endpoint` without the credentials its settings
/// ask for (InfluxDB's `ping-auth-enabled` and `pprof-auth-enabled`).
pub fn check_endpoint_auth(
    endpoint: Endpoint,
    config: &ApiConfig,
    authenticator: &Authenticator,
    md: &schemas::meta::MetaData,
    params: &CredentialParams,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let required = match endpoint {
        Endpoint::Ping => config.ping_auth_enabled,
        Endpoint::Metrics => config.ping_auth_enabled || config.pprof_auth_enabled,
        Endpoint::Debug => config.pprof_auth_enabled,
    };
    if !required {
        return Ok(());
    }
    let user = authenticate(
        config,
        authenticator,
        md,
        params.credentials(headers).as_ref(),
    )?;
    match user {
        Some(u) if endpoint == Endpoint::Debug && !u.admin => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "\"{}\" user is not authorized to access debug endpoints",
                u.name
            ),
        )),
        _ => Ok(()),
    }
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
    if let Err(e) = check_endpoint_auth(
        Endpoint::Ping,
        &api.config,
        &api.auth,
        &md,
        &q.creds,
        &headers,
    ) {
        return e.into_response();
    }
    match q.verbose.as_deref() {
        Some("true" | "1" | "t" | "T" | "TRUE" | "True") => {
            Json(serde_json::json!({ "version": VERSION })).into_response()
        }
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_targets_as_influxdb_reads_them() {
        let t = WriteTarget::v1("db=a&db=b&rp=r&precision=ms&u=x&p=y", Some("Token z:w")).unwrap();
        assert_eq!(t.database, "a", "the first of a repeated name wins");
        assert_eq!(t.retention_policy.as_deref(), Some("r"));
        assert_eq!(t.precision, Precision::Milliseconds);
        assert_eq!(
            t.credentials.unwrap().username,
            "x",
            "u/p before the header"
        );
        let t = WriteTarget::v1("db=my%20db", Some("Token z:w")).unwrap();
        assert_eq!(
            (
                t.database.as_str(),
                t.precision,
                t.credentials.unwrap().username.as_str()
            ),
            ("my db", Precision::Nanoseconds, "z")
        );
        for (query, message) in [
            ("", "database is required"),
            ("db=", "database is required"),
            (
                "db=a&precision=d",
                "invalid precision \"d\" (use n, ns, u, us, ms, s, m or h)",
            ),
        ] {
            let e = WriteTarget::v1(query, None).unwrap_err();
            assert_eq!(
                (e.status, e.message.as_str()),
                (StatusCode::BAD_REQUEST, message)
            );
        }
        let t = WriteTarget::v2("bucket=db/rp&org=o&u=x&p=y", None).unwrap();
        assert_eq!(
            (t.database.as_str(), t.retention_policy.as_deref()),
            ("db", Some("rp"))
        );
        assert!(t.credentials.is_none(), "v2 reads only the header");
        assert_eq!(
            WriteTarget::v2("org=o", None).unwrap_err().message,
            "bucket is required"
        );
        // Found by fuzzing (fuzz/fuzz_targets/write_request.rs).
        let e = WriteTarget::v2("bucket=/rp&precision=ms", None).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (StatusCode::BAD_REQUEST, "database is required")
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 10_000_000]).unwrap();
        let bomb = Bytes::from(gz.finish().unwrap());
        assert!(bomb.len() < 20_000);
        let e = decode_body(bomb.clone(), true, 1_000_000).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            decode_body(bomb.clone(), true, 10_000_000).unwrap().len(),
            10_000_000
        );
        assert_eq!(
            decode_body(bomb.clone(), false, 1).unwrap(),
            bomb,
            "not gzip: as read"
        );
        assert_eq!(
            decode_body(Bytes::from_static(b"nope"), true, 10)
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }
}

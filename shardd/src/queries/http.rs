//! InfluxDB 1.x's `/query` endpoint.
//!
//! ```text
//!  GET/POST /query ──▶ params (URL + form body) ──▶ authenticate (u/p, Basic, Token)
//!     ──▶ parse with bound params ──▶ authorize ──▶ statements::Executor
//!     ──▶ JSON (compact / pretty / chunked lines) or CSV (Accept: application/csv)
//! ```
//!
//! Parameters are InfluxDB's: `q`, `db`, `rp`, `epoch`, `pretty`, `chunked`,
//! `chunk_size`, `params`, `u`, `p`. Sluice adds **read-your-writes**:
//! `consistency=strong` (or the header `X-Sluice-Consistency: strong`) makes
//! every replica that answers first apply all records that were in its
//! partition when the query started, so a query sees every write
//! acknowledged before it was sent.
//!
//! Errors follow InfluxDB: a request-level problem is
//! `{"error":"..."}` with 400 (401/403 for authentication and
//! authorization), a statement's failure is the `error` of its result with
//! status 200.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use influxql::request::{bound_params, QueryParams};
use ingest::http::ApiConfig;
use meta_client::auth::{self, AuthError, Authenticator};
use query::format::{
    mark_unchunked_partials, write_json_error, write_json_response, CsvWriter, Epoch, JsonOptions,
    DEFAULT_CHUNK_SIZE,
};
use query::result::StatementResult;
use tracing::{info_span, Instrument};

use super::statements::{authorize, is_bootstrap_admin_creation, ExecContext, Executor};

/// The header that asks for read-your-writes (alternative to
/// `consistency=strong`).
pub const CONSISTENCY_HEADER: &str = "x-sluice-consistency";

/// What the `/query` route needs.
#[derive(Debug)]
pub struct QueryApi {
    /// Runs the statements.
    pub executor: Arc<Executor>,
    /// Shared with the write routes (`auth_enabled`, body limit).
    pub config: ApiConfig,
    /// Checks credentials (share the write routes' so the cache is shared).
    pub auth: Arc<Authenticator>,
}

/// The `/query` routes (GET and POST), to merge into a node's public router.
/// Every answer carries `X-Influxdb-Version`.
pub fn routes(api: Arc<QueryApi>) -> Router {
    Router::new()
        .route("/query", get(query).post(query))
        .with_state(api)
        .layer(axum::middleware::map_response(
            ingest::http::version_headers,
        ))
}

/// A request-level error in InfluxDB's shape.
fn error_response(status: StatusCode, message: &str, pretty: bool) -> Response {
    let mut body = String::new();
    write_json_error(&mut body, message, pretty);
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let flat = message.replace(['\n', '\r'], " ");
    if let Ok(v) = HeaderValue::from_str(&flat) {
        r.headers_mut().insert("X-Influxdb-Error", v);
    }
    r
}

fn auth_error(e: &AuthError, pretty: bool) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut r = error_response(status, &e.to_string(), pretty);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"InfluxDB\""),
        );
    }
    r
}

fn truthy(v: Option<&str>) -> bool {
    v == Some("true")
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

async fn query(
    State(api): State<Arc<QueryApi>>,
    method: Method,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut params = QueryParams::default();
    if method == Method::POST && is_form(&headers) {
        let body: Bytes = match ingest::http::read_body(&headers, body, &api.config).await {
            Ok(b) => b,
            Err(e) => return error_response(e.status, &e.message, false),
        };
        params.add(&body);
    }
    if let Some(q) = &raw_query {
        params.add(q.as_bytes());
    }
    let pretty = truthy(params.get("pretty"));
    let span = info_span!("query", db = params.get("db").unwrap_or_default());
    handle(&api, &params, &headers, pretty)
        .instrument(span)
        .await
}

async fn handle(
    api: &QueryApi,
    params: &QueryParams,
    headers: &HeaderMap,
    pretty: bool,
) -> Response {
    let Some(text) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "missing required parameter \"q\"",
            pretty,
        );
    };
    let bound = match params.get("params").filter(|p| !p.is_empty()) {
        None => HashMap::new(),
        Some(raw) => match bound_params(raw) {
            Ok(b) => b,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e.to_string(), pretty),
        },
    };
    let query = match influxql::parse_query_with_params(text, &bound) {
        Ok(q) => q,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("error parsing query: {e}"),
                pretty,
            )
        }
    };
    let db = params
        .get("db")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);

    let mut user = None;
    if api.config.auth_enabled {
        let md = api.executor.cluster().meta();
        let creds = auth::credentials(
            params.get("u"),
            params.get("p"),
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        );
        match api.auth.authenticate(&md, creds.as_ref()) {
            Ok(u) => {
                if let Err(e) = authorize(&u, &query.statements, db.as_deref()) {
                    return error_response(
                        StatusCode::FORBIDDEN,
                        &format!("error authorizing query: {e}"),
                        pretty,
                    );
                }
                user = Some(u);
            }
            // The first admin may be created without credentials.
            Err(AuthError::NoAdminUser) if is_bootstrap_admin_creation(&query.statements) => {}
            Err(e) => return auth_error(&e, pretty),
        }
    }

    let chunked = truthy(params.get("chunked"));
    let chunk_size = params
        .get("chunk_size")
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|c| *c > 0)
        .unwrap_or(DEFAULT_CHUNK_SIZE);
    let read_your_writes = params
        .get("consistency")
        .or_else(|| {
            headers
                .get(CONSISTENCY_HEADER)
                .and_then(|v| v.to_str().ok())
        })
        .is_some_and(|c| c.eq_ignore_ascii_case("strong"));
    let ctx = ExecContext {
        database: db,
        retention_policy: params
            .get("rp")
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        user,
        read_your_writes,
        chunk_size: chunked.then_some(chunk_size),
        max_select_buckets: api.executor.limits().max_select_buckets,
        max_select_series: api.executor.limits().max_select_series,
        max_select_point: api.executor.limits().max_select_point,
    };
    let epoch = params.get("epoch").and_then(Epoch::parse);
    let csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a == "application/csv" || a == "text/csv");

    if chunked && !csv {
        // One JSON document per line, as InfluxDB streams them, each sent
        // as soon as it is ready; the bounded channel makes a slow client
        // slow the query down instead of piling chunks up in memory.
        let (tx, rx) = tokio::sync::mpsc::channel::<StatementResult>(1);
        let executor = Arc::clone(&api.executor);
        let statements = query.statements;
        tokio::spawn(
            async move { executor.execute_chunked(&statements, &ctx, &tx).await }.in_current_span(),
        );
        let opts = JsonOptions { epoch, pretty };
        let lines = futures::stream::unfold(rx, move |mut rx| async move {
            let r = rx.recv().await?;
            let mut line = String::new();
            write_json_response(&mut line, std::slice::from_ref(&r), opts);
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(line)), rx))
        });
        let mut r = Response::new(Body::from_stream(lines));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return r;
    }

    let mut results = api.executor.execute(&query.statements, &ctx).await;

    if csv {
        if !chunked {
            mark_unchunked_partials(&mut results);
        }
        let mut out = String::new();
        CsvWriter::new().write(&mut out, &results, epoch);
        let mut r = (StatusCode::OK, out).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        return r;
    }
    mark_unchunked_partials(&mut results);
    let mut out = String::with_capacity(256);
    write_json_response(&mut out, &results, JsonOptions { epoch, pretty });
    let mut r = (StatusCode::OK, out).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

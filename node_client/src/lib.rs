//! # node_client — calls to a data node's internal API
//!
//! The one client of `schemas::node_api`, used by query coordinators (shard
//! reads on peers), `sluice-ctl` (status, digests, holds, rebuilds) and the
//! tests.
//!
//! ```text
//!  NodeClient ── Authorization: Bearer <cluster secret>
//!             ── x-sluice-node-api: NODE_API_VERSION ──▶ http://<internal_addr><paths::…>
//!      JSON calls: status, shards, digest, hold, release, rebuild, resume
//!      streams:    snapshot (GET, the replica as bytes), install (PUT)
//!      bincode:    read_shard (ShardReadRequest<Op> ─▶ ShardReadResponse<Out>)
//!             ◀── answer; another version or a non-2xx status is an Error
//! ```
//!
//! Every call has the client's connect timeout; JSON calls also its total
//! timeout, shard reads the one the coordinator passes.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use schemas::meta::ShardId;
use schemas::meta_api::ErrorBody;
use schemas::node_api::{
    paths, DigestReport, HoldRequest, InstallLog, InstallReport, ResumeRequest, RunningQuery,
    ShardReadRequest, ShardReadResponse, ShardStatus, NODE_API_VERSION, VERSION_HEADER,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How long a connection to a peer may take by default. On a LAN a connect
/// takes well under a millisecond; a peer that does not accept within this
/// is treated as down and the next owner is tried.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The total time of a JSON call by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The content type of shard reads.
pub const BINCODE: &str = "application/x-bincode";

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be built (TLS backend, resolver).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The node could not be reached, or did not answer in time.
    #[error("request to {addr} failed: {source}")]
    Http {
        /// The node's internal address.
        addr: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// The node answered with an error status.
    #[error("{addr} answered {status}: {message}")]
    Status {
        /// The node's internal address.
        addr: String,
        /// HTTP status.
        status: u16,
        /// The error text of the answer.
        message: String,
    },
    /// The node speaks another version of the internal API.
    #[error("{addr} speaks node API version {got}, this build {NODE_API_VERSION}")]
    Version {
        /// The node's internal address.
        addr: String,
        /// Its version (0 when it sent none).
        got: u16,
    },
    /// The answer could not be decoded.
    #[error("cannot decode the answer of {addr}: {message}")]
    Decode {
        /// The node's internal address.
        addr: String,
        /// Cause.
        message: String,
    },
    /// The request could not be encoded.
    #[error("cannot encode a request: {0}")]
    Encode(String),
}

impl Error {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of data nodes' internal APIs; cheap to clone (one connection
/// pool).
#[derive(Debug, Clone)]
pub struct NodeClient {
    http: reqwest::Client,
    secret: Option<String>,
    timeout: Duration,
}

impl NodeClient {
    /// A client that sends `secret` (the cluster's) with every call; JSON
    /// calls give up after `timeout`.
    pub fn new(secret: Option<String>, timeout: Duration) -> Result<Self, Error> {
        Self::with_connect_timeout(secret, timeout, DEFAULT_CONNECT_TIMEOUT)
    }

    /// A client whose connections give up after `connect_timeout`.
    pub fn with_connect_timeout(
        secret: Option<String>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(Error::Client)?;
        Ok(Self {
            http,
            secret: secret.filter(|s| !s.is_empty()),
            timeout,
        })
    }

    fn request(&self, method: reqwest::Method, addr: &str, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("http://{addr}{path}"))
            .header(VERSION_HEADER, HeaderValue::from(NODE_API_VERSION));
        if let Some(s) = &self.secret {
            req = req.bearer_auth(s);
        }
        req
    }

    /// Sends `req` and returns the body of a 2xx answer of this version.
    async fn send(&self, addr: &str, req: reqwest::RequestBuilder) -> Result<Vec<u8>, Error> {
        let http_err = |source| Error::Http {
            addr: addr.to_owned(),
            source,
        };
        let resp = req.send().await.map_err(http_err)?;
        let resp = self.check(addr, resp).await?;
        Ok(resp.bytes().await.map_err(http_err)?.to_vec())
    }

    /// The answer if it is a 2xx of this version, its error otherwise.
    async fn check(&self, addr: &str, resp: reqwest::Response) -> Result<reqwest::Response, Error> {
        let status = resp.status();
        let version = resp
            .headers()
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok()?.parse::<u16>().ok());
        if !status.is_success() {
            let bytes = resp.bytes().await.map_err(|source| Error::Http {
                addr: addr.to_owned(),
                source,
            })?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let message = serde_json::from_str::<ErrorBody>(&text).map_or(text, |b| b.error);
            return Err(Error::Status {
                addr: addr.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        if version != Some(NODE_API_VERSION) {
            return Err(Error::Version {
                addr: addr.to_owned(),
                got: version.unwrap_or(0),
            });
        }
        Ok(resp)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        addr: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        let mut req = self.request(method, addr, path).timeout(self.timeout);
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(b);
        }
        let bytes = self.send(addr, req).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            addr: addr.to_owned(),
            message: e.to_string(),
        })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        addr: &str,
        pattern: &str,
        shard: ShardId,
        body: &B,
    ) -> Result<T, Error> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Encode(e.to_string()))?;
        let path = paths::for_shard(pattern, shard);
        self.json(reqwest::Method::POST, addr, &path, Some(body))
            .await
    }

    /// Every replica the node at `addr` holds.
    pub async fn shards(&self, addr: &str) -> Result<Vec<ShardStatus>, Error> {
        self.json(reqwest::Method::GET, addr, paths::SHARDS, None)
            .await
    }

    /// The node's replica of `shard`.
    pub async fn status(&self, addr: &str, shard: ShardId) -> Result<ShardStatus, Error> {
        let path = paths::for_shard(paths::SHARD, shard);
        self.json(reqwest::Method::GET, addr, &path, None).await
    }

    /// The replica's digest, at `offset` when given (the replica applies up
    /// to it and stops there; it waits at most `wait_ms`).
    pub async fn digest(
        &self,
        addr: &str,
        shard: ShardId,
        offset: Option<i64>,
        wait_ms: u64,
    ) -> Result<DigestReport, Error> {
        let mut path = paths::for_shard(paths::DIGEST, shard);
        if let Some(o) = offset {
            path.push_str(&format!("?offset={o}&timeout_ms={wait_ms}"));
        }
        self.json(reqwest::Method::GET, addr, &path, None).await
    }

    /// Stops the replica applying after an offset.
    pub async fn hold(
        &self,
        addr: &str,
        shard: ShardId,
        hold: &HoldRequest,
    ) -> Result<ShardStatus, Error> {
        self.post(addr, paths::HOLD, shard, hold).await
    }

    /// Lifts a hold.
    pub async fn release(&self, addr: &str, shard: ShardId) -> Result<ShardStatus, Error> {
        self.post(addr, paths::RELEASE, shard, &()).await
    }

    /// Drops the replica and rebuilds it: from the freshest healthy
    /// peer's snapshot and the partition after it, or, with `replay` (or
    /// when no peer has one), by replaying the partition from its beginning.
    pub async fn rebuild(
        &self,
        addr: &str,
        shard: ShardId,
        replay: bool,
    ) -> Result<ShardStatus, Error> {
        let path = format!(
            "{}?replay={replay}",
            paths::for_shard(paths::REBUILD, shard)
        );
        self.json(reqwest::Method::POST, addr, &path, Some(b"null".to_vec()))
            .await
    }

    /// The replica's snapshot as a byte stream (no total timeout: a large
    /// shard takes as long as it takes; each chunk must come within the
    /// client's timeout). With `caught_up`, the node first waits (up to the
    /// client's timeout) until the replica has applied every record its
    /// partition holds now; with `unless = (incarnation, offset)`, it then
    /// answers `None` (304) instead if the replica is still there: the
    /// caller has that snapshot already.
    pub async fn snapshot(
        &self,
        addr: &str,
        shard: ShardId,
        caught_up: bool,
        unless: Option<(u64, Option<i64>)>,
    ) -> Result<Option<impl tokio::io::AsyncRead + Send + Unpin + 'static>, Error> {
        let mut path = format!(
            "{}?caught_up={caught_up}&timeout_ms={}",
            paths::for_shard(paths::SNAPSHOT, shard),
            self.timeout.as_millis()
        );
        if let Some((incarnation, offset)) = unless {
            let offset = offset.map_or_else(|| "none".to_owned(), |o| o.to_string());
            path.push_str(&format!("&unless={incarnation}-{offset}"));
        }
        let resp = self
            .request(reqwest::Method::GET, addr, &path)
            .send()
            .await
            .map_err(|source| Error::Http {
                addr: addr.to_owned(),
                source,
            })?;
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let resp = self.check(addr, resp).await?;
        let (chunk_wait, addr) = (self.timeout, addr.to_owned());
        let chunks = futures::stream::unfold(resp.bytes_stream(), move |mut body| {
            let addr = addr.clone();
            async move {
                let next = match tokio::time::timeout(chunk_wait, body.next()).await {
                    Ok(next) => next?.map_err(std::io::Error::other),
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("{addr} sent nothing for {chunk_wait:?}"),
                    )),
                };
                Some((next, body))
            }
        });
        Ok(Some(tokio_util::io::StreamReader::new(Box::pin(chunks))))
    }

    /// Installs `snapshot` in place of the node's replica of `shard`; `log`
    /// says what its offset means there (see [`InstallLog`]).
    pub async fn install(
        &self,
        addr: &str,
        shard: ShardId,
        snapshot: impl tokio::io::AsyncRead + Send + 'static,
        log: InstallLog,
    ) -> Result<InstallReport, Error> {
        let path = format!(
            "{}?log={}",
            paths::for_shard(paths::SNAPSHOT, shard),
            log.as_str()
        );
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(snapshot));
        let req = self
            .request(reqwest::Method::PUT, addr, &path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body);
        let bytes = self.send(addr, req).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            addr: addr.to_owned(),
            message: e.to_string(),
        })
    }

    /// Continues a failed replica at `from_offset`.
    pub async fn resume(
        &self,
        addr: &str,
        shard: ShardId,
        from_offset: i64,
    ) -> Result<ShardStatus, Error> {
        self.post(addr, paths::RESUME, shard, &ResumeRequest { from_offset })
            .await
    }

    /// The queries running on the node at `addr`.
    pub async fn queries(&self, addr: &str) -> Result<Vec<RunningQuery>, Error> {
        self.json(reqwest::Method::GET, addr, paths::QUERIES, None)
            .await
    }

    /// Stops query `qid` on the node at `addr`.
    pub async fn kill_query(&self, addr: &str, qid: u64) -> Result<(), Error> {
        let path = paths::KILL_QUERY.replace("{id}", &qid.to_string());
        let req = self
            .request(reqwest::Method::POST, addr, &path)
            .timeout(self.timeout);
        self.send(addr, req).await.map(|_| ())
    }

    /// Reads a shard on the node at `addr`: `op` is the query engine's
    /// shard-local plan, answered with `Out`; gives up after `timeout`.
    pub async fn read_shard<Op: Serialize, Out: DeserializeOwned>(
        &self,
        addr: &str,
        request: &ShardReadRequest<Op>,
        timeout: Duration,
    ) -> Result<Out, Error> {
        let body = bincode::serialize(request).map_err(|e| Error::Encode(e.to_string()))?;
        let req = self
            .request(reqwest::Method::POST, addr, paths::SHARD_READ)
            .timeout(timeout)
            .header(CONTENT_TYPE, BINCODE)
            .body(body);
        let bytes = self.send(addr, req).await?;
        let decode = |message: String| Error::Decode {
            addr: addr.to_owned(),
            message,
        };
        let version = bincode::deserialize::<u16>(&bytes).map_err(|e| decode(e.to_string()))?;
        if version != NODE_API_VERSION {
            return Err(Error::Version {
                addr: addr.to_owned(),
                got: version,
            });
        }
        bincode::deserialize::<ShardReadResponse<Out>>(&bytes)
            .map(|r| r.out)
            .map_err(|e| decode(e.to_string()))
    }
}

/// The version a shard read's body announces, read before the rest is
/// decoded; `None` when the body is too short to hold one.
pub fn request_version(body: &[u8]) -> Option<u16> {
    bincode::deserialize::<u16>(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    async fn serve(router: axum::Router) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
        addr
    }

    #[tokio::test]
    async fn a_shard_read_round_trips_with_secret_and_version() {
        let router = axum::Router::new().route(
            paths::SHARD_READ,
            axum::routing::post(|headers: HeaderMap, body: axum::body::Bytes| async move {
                assert_eq!(headers["authorization"], "Bearer s3cret");
                assert_eq!(request_version(&body), Some(NODE_API_VERSION));
                let req: ShardReadRequest<String> = bincode::deserialize(&body).unwrap();
                let out = ShardReadResponse {
                    version: NODE_API_VERSION,
                    out: req.op.len(),
                };
                (
                    [(VERSION_HEADER, NODE_API_VERSION.to_string())],
                    bincode::serialize(&out).unwrap(),
                )
            }),
        );
        let addr = serve(router).await;
        let c = NodeClient::new(Some("s3cret".into()), DEFAULT_TIMEOUT).unwrap();
        let req = ShardReadRequest {
            version: NODE_API_VERSION,
            wait_offset: None,
            wait_timeout_ms: 0,
            op: "four".to_string(),
        };
        let n: usize = c
            .read_shard(&addr, &req, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(n, 4);
    }

    #[tokio::test]
    async fn another_version_and_error_statuses_are_errors() {
        let router = axum::Router::new()
            .route(
                "/internal/shards/1",
                axum::routing::get(|| async { ([(VERSION_HEADER, "999")], "{}").into_response() }),
            )
            .route(
                "/internal/shards/2",
                axum::routing::get(|| async {
                    (StatusCode::NOT_FOUND, r#"{"error":"no such shard"}"#).into_response()
                }),
            );
        let addr = serve(router).await;
        let c = NodeClient::new(None, DEFAULT_TIMEOUT).unwrap();
        let e = c.status(&addr, 1).await.unwrap_err();
        assert!(matches!(e, Error::Version { got: 999, .. }), "{e}");
        let e = c.status(&addr, 2).await.unwrap_err();
        assert_eq!(e.status(), Some(404));
        assert!(e.to_string().ends_with("no such shard"), "{e}");
    }
}

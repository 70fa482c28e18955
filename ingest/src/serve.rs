//! Serving the public HTTP API so that no client can hold it: InfluxDB's
//! `max-connection-limit` (connections past it are closed at once, as
//! InfluxDB's limit listener does), a deadline on a request's headers (a
//! slow-loris client sending a header line now and then is cut off; hyper
//! measures it) and, through [`WriteThrottle`], InfluxDB's
//! `max-concurrent-write-limit`, `max-enqueued-write-limit` and
//! `enqueued-write-timeout`. With `https-enabled` connections are TLS
//! (OpenSSL, the library librdkafka already links; the handshake is under
//! the same deadline as the headers). `axum::serve` offers none of these
//! knobs, so connections are driven by hyper-util's builder here.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_openssl::SslStream;
use tracing::{debug, warn};

use crate::http::ApiError;

/// How a listener serves its connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections at most; 0: no limit.
    pub max_connections: usize,
    /// How long a client may take to finish the TLS handshake, and then to
    /// send a request's headers.
    pub header_read_timeout: Duration,
    /// Serve HTTPS with this, HTTP without.
    pub tls: Option<Tls>,
}

/// A TLS configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing or holds no PEM certificate.
    #[error("https-certificate {path}: {source}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// OpenSSL's reason.
        source: openssl::error::ErrorStack,
    },
    /// The key file is missing, holds no PEM private key, or a key that is
    /// not the certificate's.
    #[error("https-private-key {path}: {source}")]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// OpenSSL's reason.
        source: openssl::error::ErrorStack,
    },
    /// OpenSSL could not set up a server context at all.
    #[error("TLS: {0}")]
    Context(openssl::error::ErrorStack),
}

/// A server-side TLS context with Mozilla's "intermediate" settings: TLS
/// 1.2 and 1.3, the ciphers every maintained client has.
#[derive(Clone)]
pub struct Tls(Arc<SslAcceptor>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Loads a PEM certificate chain and its private key. As in InfluxDB,
    /// without a separate key file the certificate file holds both.
    pub fn from_pem_files(
        certificate: &Path,
        private_key: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let key = private_key.unwrap_or(certificate);
        let mut b =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(TlsError::Context)?;
        b.set_certificate_chain_file(certificate)
            .map_err(|source| TlsError::Certificate {
                path: certificate.to_owned(),
                source,
            })?;
        let key_err = |source| TlsError::PrivateKey {
            path: key.to_owned(),
            source,
        };
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(key_err)?;
        b.check_private_key().map_err(key_err)?;
        Ok(Self(Arc::new(b.build())))
    }

    /// The server side of a handshake on `stream`.
    async fn accept(&self, stream: TcpStream) -> Result<SslStream<TcpStream>, String> {
        let ssl = Ssl::new(self.0.context()).map_err(|e| e.to_string())?;
        let mut stream = SslStream::new(ssl, stream).map_err(|e| e.to_string())?;
        Pin::new(&mut stream)
            .accept()
            .await
            .map_err(|e| e.to_string())?;
        Ok(stream)
    }
}

/// Serves `router` on `listener` until `stop` turns true, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    // Awaited in its own block: the guard `wait_for` returns is not `Send`.
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let slots =
        (limits.max_connections > 0).then(|| Arc::new(Semaphore::new(limits.max_connections)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: let some close.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let permit = match &slots {
            None => None,
            Some(slots) => match Arc::clone(slots).try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    debug!(%peer, "connection closed: max-connection-limit reached");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        match &limits.tls {
            None => {
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        debug!(%peer, error = %e, "connection ended");
                    }
                    drop(permit);
                });
            }
            Some(tls) => {
                // The handshake runs in the connection's own task, so a
                // client that stalls in it holds only its own connection.
                let (tls, builder) = (tls.clone(), builder.clone());
                let watcher = graceful.watcher();
                let deadline = limits.header_read_timeout;
                tokio::spawn(async move {
                    match tokio::time::timeout(deadline, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .into_owned();
                            if let Err(e) = watcher.watch(conn).await {
                                debug!(%peer, error = %e, "connection ended");
                            }
                        }
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
        }
    }
    graceful.shutdown().await;
}

/// InfluxDB's write throttle: at most `concurrent` writes at once, at most
/// `enqueued` more waiting, each for at most `timeout`; the rest get 503.
#[derive(Debug)]
pub struct WriteThrottle {
    current: Semaphore,
    queue: Semaphore,
    timeout: Duration,
}

impl WriteThrottle {
    /// A throttle, or none when `concurrent` is 0 (InfluxDB's "no limit",
    /// which also ignores the queue settings).
    pub fn new(concurrent: usize, enqueued: usize, timeout: Duration) -> Option<Arc<Self>> {
        (concurrent > 0).then(|| {
            Arc::new(Self {
                current: Semaphore::new(concurrent),
                queue: Semaphore::new(concurrent + enqueued),
                timeout,
            })
        })
    }
}

/// The middleware of the write routes (`from_fn_with_state`).
pub async fn throttle_writes(
    State(throttle): State<Option<Arc<WriteThrottle>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(t) = throttle else {
        return next.run(req).await;
    };
    let refuse = |why: &str| {
        warn!(reason = why, "write throttled");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("request throttled, {why}"),
        )
        .into_response()
    };
    let Ok(_queued) = t.queue.try_acquire() else {
        return refuse("queue full");
    };
    let Ok(Ok(_running)) = tokio::time::timeout(t.timeout, t.current.acquire()).await else {
        return refuse("exceeds timeout");
    };
    next.run(req).await
}

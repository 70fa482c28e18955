//! The ingest daemon: the raw-topic consumer, `/metrics` and `/health`, and
//! optionally InfluxDB's write API, in one process. Library code so the
//! all-in-one mode can run the same thing in-process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use meta_client::auth::Authenticator;
use meta_client::{Follower, MetaClient};
use serde::Deserialize;
use tokio::sync::watch;
use tracing::{info, warn, Instrument};

use crate::http::{self, ApiConfig, WriteApi};
use crate::metrics::Metrics;
use crate::produce::{KafkaConfig, ProduceError, Producer};
use crate::raw::{self, RawConfig, RawError};
use crate::write::WriteService;

/// Everything the daemon needs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Kafka.
    pub kafka: KafkaConfig,
    /// metad.
    pub metad: meta_client::Config,
    /// The raw-topic consumer.
    pub raw: RawConfig,
    /// Where `/metrics` and `/health` (and the write API) listen.
    pub http_listen: SocketAddr,
    /// Also serve `/write`, `/api/v2/write` and `/ping`.
    pub serve_writes: bool,
    /// Settings of the write API.
    pub api: ApiConfig,
}

/// The TOML file: every key optional, unknown keys refused. The shared
/// blocks (Kafka, metad, HTTP API, logging) come from `settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FileConfig {
    /// `kafka_brokers`, `[kafka_properties]`.
    #[serde(flatten)]
    pub kafka: settings::KafkaFile,
    /// `metad`, `shared_secret`.
    #[serde(flatten)]
    pub metad: settings::MetadFile,
    /// Topic prefix of the cluster.
    pub topic_prefix: Option<String>,
    /// Consumer group of the raw-topic consumers.
    pub group_id: Option<String>,
    /// Static group membership name of this daemon.
    pub instance_id: Option<String>,
    /// Dead-letter topic.
    pub dead_letter_topic: Option<String>,
    /// Partitions of the raw topics the daemon creates (0: none).
    pub raw_topic_partitions: Option<usize>,
    /// `http_listen`, `auth_enabled`, `max_body_size`.
    #[serde(flatten)]
    pub http: settings::HttpApiFile,
    /// Serve the write API too.
    pub serve_writes: Option<bool>,
    /// `log_filter`.
    #[serde(flatten)]
    pub logging: settings::LoggingFile,
    #[serde(flatten)]
    unknown: settings::NoUnknownKeys,
}

impl FileConfig {
    /// Reads and validates a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, DaemonError> {
        Ok(settings::load_file(Some(path))?)
    }
}

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config file could not be read or is not valid.
    #[error(transparent)]
    Config(#[from] settings::SettingsError),
    /// metad could not be reached at start.
    #[error(transparent)]
    Meta(#[from] meta_client::Error),
    /// The Kafka producer could not be created.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// The raw-topic consumer failed.
    #[error(transparent)]
    Raw(#[from] RawError),
    /// The HTTPS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::serve::TlsError),
    /// The HTTP listener failed.
    #[error("http server on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// Builds the write path: metad client and follower, Kafka producer,
/// metrics, write service. Shared by this daemon, shardd and the all-in-one.
pub async fn write_service(
    kafka: &KafkaConfig,
    metad: &meta_client::Config,
    registry: prometheus::Registry,
) -> Result<Arc<WriteService>, DaemonError> {
    let client = Arc::new(MetaClient::new(metad.clone())?);
    let follower = Arc::new(Follower::start(Arc::clone(&client)).await?);
    let producer = Arc::new(Producer::new(kafka.clone())?);
    let metrics = Arc::new(Metrics::new(registry));
    Ok(Arc::new(WriteService::new(
        client, follower, producer, metrics,
    )))
}

/// `/health`: metad and Kafka reachable (see [`crate::health`]).
async fn health(State(service): State<Arc<WriteService>>) -> Response {
    crate::health::answer(crate::health::write_path(&service).await)
}

async fn metrics(State(service): State<Arc<WriteService>>) -> String {
    service.metrics().render()
}

/// Runs until `shutdown` turns true.
pub async fn run(config: DaemonConfig, shutdown: watch::Receiver<bool>) -> Result<(), DaemonError> {
    let connection_limits = config.api.connection_limits()?;
    let service = write_service(&config.kafka, &config.metad, prometheus::Registry::new()).await?;
    {
        let service = Arc::clone(&service);
        tokio::spawn(
            async move {
                if let Err(e) = service.check_topics().await {
                    warn!(error = %e, "checking the shard groups' topics");
                }
            }
            .instrument(tracing::info_span!("topic_check")),
        );
    }
    let mut app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(Arc::clone(&service));
    if config.serve_writes {
        app = app.merge(http::routes(Arc::new(WriteApi {
            service: Arc::clone(&service),
            config: config.api.clone(),
            auth: Arc::new(Authenticator::default()),
        })));
    }
    let app = app.layer(axum::middleware::map_response(http::version_headers));
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| DaemonError::Http {
            addr: config.http_listen,
            source,
        })?;
    info!(addr = %config.http_listen, writes = config.serve_writes, https = connection_limits.tls.is_some(), "http listening");
    let server = tokio::spawn(crate::serve::serve(
        listener,
        app,
        connection_limits,
        shutdown.clone(),
    ));
    let pruner = {
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                service.prune();
            }
        })
    };
    let result = raw::run(Arc::clone(&service), &config.kafka, config.raw, shutdown).await;
    pruner.abort();
    let _ = server.await;
    // Whatever is still in flight gets its chance before we exit.
    tokio::task::spawn_blocking(move || service.flush(Duration::from_secs(10)))
        .await
        .ok();
    result.map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_typos_are_refused() {
        let example: FileConfig = toml::from_str(include_str!("../ingest.example.toml")).unwrap();
        assert_eq!(example.group_id.as_deref(), Some("sluice-ingest"));
        assert_eq!(
            example.kafka.kafka_brokers.as_deref(),
            Some(settings::defaults::KAFKA_BROKERS)
        );
        assert_eq!(
            example.http.http_listen,
            Some(settings::defaults::INGEST_HTTP_LISTEN)
        );
        assert_eq!(example.http.max_body_size, Some(25_000_000));
        for typo in [
            "kafka_broker = \"x\"",
            "group = \"x\"",
            "http_lisen = \"x\"",
        ] {
            let err = toml::from_str::<FileConfig>(typo).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{typo}: {err}");
        }
    }
}

//! A data node's settings, and the TOML file that may hold them.
//!
//! Precedence, highest first: command-line flag, environment variable
//! (`SLUICE_*`), TOML file (`--config`), built-in default. The binary does
//! the layering; this module holds the types and the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ingest::http::ApiConfig;
use kafka_log::KafkaConfig;
use serde::Deserialize;
use storage::NodeBudget;

use crate::consumer::ConsumerConfig;

/// Everything a running data node needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's directory: its id (`node-id`) and its shard store (`shards/`).
    pub data_dir: PathBuf,
    /// Where the public InfluxDB API listens (`/write`, `/query`, `/ping`,
    /// `/health`, `/metrics`); port 0 picks a free one.
    pub http_listen: SocketAddr,
    /// The public address other parts are told (default: the bound address).
    pub http_advertise: Option<String>,
    /// Where the internal API listens (operators, peers).
    pub internal_listen: SocketAddr,
    /// The internal address registered in metad (default: the bound
    /// address). The node's identity is its id in `<data-dir>/node-id`,
    /// not this.
    pub internal_advertise: Option<String>,
    /// metad; its `shared_secret` also guards this node's internal API.
    pub metad: meta_client::Config,
    /// Kafka (brokers and extra properties shared by producer and consumers).
    pub kafka: KafkaConfig,
    /// Replica consumers (their `kafka` is taken from `kafka`).
    pub consumer: ConsumerConfig,
    /// The node's shared block cache and write-buffer budget.
    pub budget: NodeBudget,
    /// How often the node heartbeats to metad.
    pub heartbeat_interval: Duration,
    /// How often partition watermarks (and sizes on disk) are refreshed.
    pub watermark_interval: Duration,
    /// Public API settings (auth, body size).
    pub api: ApiConfig,
    /// How long registration is retried while metad still sees this
    /// node's id alive elsewhere (a restart at a new address before metad
    /// marked the old process unreachable).
    pub register_wait: Duration,
    /// `[coordinator]` `query-timeout`, `max-concurrent-queries`,
    /// `max-select-buckets` and `max-select-series`.
    pub query_limits: crate::queries::tracker::QueryLimits,
    /// `[coordinator]` `hedge-after`: see
    /// [`ClusterOptions::hedge_after`](crate::queries::cluster::ClusterOptions::hedge_after).
    pub hedge_after: Duration,
    /// How long a deleted shard group (expired, or of a dropped database
    /// or retention policy) stays in the meta data before its topic is
    /// deleted and it is forgotten: time for every owner to have dropped
    /// its replica and for queries that planned with it to end.
    pub deleted_group_grace: Duration,
    /// How often the purging node looks for deleted groups past the grace.
    pub purge_interval: Duration,
    /// Delete a purged group's topic on the brokers. Off for tansu 0.6: a
    /// topic deleted there breaks its fetch answers for the topics made
    /// after it, and librdkafka then crashes every consumer reading them
    /// (a null topic name in KIP-951 leader tags). Off, the topics stay
    /// and only the meta data forgets their groups.
    pub delete_group_topics: bool,
}

/// Default of [`NodeConfig::deleted_group_grace`].
pub const DEFAULT_DELETED_GROUP_GRACE: Duration = Duration::from_secs(600);

impl NodeConfig {
    /// Defaults with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            http_listen: settings::defaults::HTTP_LISTEN,
            http_advertise: None,
            internal_listen: settings::defaults::INTERNAL_LISTEN,
            internal_advertise: None,
            metad: meta_client::Config::new([settings::defaults::META_ADDR]),
            kafka: KafkaConfig::default(),
            consumer: ConsumerConfig::default(),
            budget: NodeBudget::default(),
            heartbeat_interval: Duration::from_secs(1),
            watermark_interval: Duration::from_secs(2),
            api: ApiConfig::default(),
            register_wait: Duration::from_secs(30),
            query_limits: Default::default(),
            hedge_after: crate::queries::cluster::ClusterOptions::default().hedge_after,
            deleted_group_grace: DEFAULT_DELETED_GROUP_GRACE,
            purge_interval: Duration::from_secs(60),
            delete_group_topics: true,
        }
    }
}

/// The TOML file: every key optional, unknown keys refused so that a typo
/// does not silently fall back to a default. The shared blocks (Kafka,
/// metad, HTTP API, logging) come from `settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FileConfig {
    /// See [`NodeConfig::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// `http_listen`, `auth_enabled`, `max_body_size`.
    #[serde(flatten)]
    pub http: settings::HttpApiFile,
    /// See [`NodeConfig::http_advertise`].
    pub http_advertise: Option<String>,
    /// See [`NodeConfig::internal_listen`].
    pub internal_listen: Option<SocketAddr>,
    /// See [`NodeConfig::internal_advertise`].
    pub internal_advertise: Option<String>,
    /// `metad`, `shared_secret`.
    #[serde(flatten)]
    pub metad: settings::MetadFile,
    /// `kafka_brokers`, `[kafka_properties]`.
    #[serde(flatten)]
    pub kafka: settings::KafkaFile,
    /// Most records per apply batch.
    pub batch_max_records: Option<usize>,
    /// Most record bytes per apply batch.
    pub batch_max_bytes: Option<usize>,
    /// Threads applying records to the node's shards.
    pub apply_threads: Option<usize>,
    /// Seconds without writes after which a shard is compacted; 0: never.
    pub compact_cold_after_s: Option<u64>,
    /// Block cache of all shards, bytes.
    pub block_cache_bytes: Option<usize>,
    /// Memtables of all shards, bytes.
    pub write_buffer_bytes: Option<usize>,
    /// Heartbeat interval, ms.
    pub heartbeat_interval_ms: Option<u64>,
    /// Watermark refresh interval, ms.
    pub watermark_interval_ms: Option<u64>,
    /// A duration such as `"10m"`: see [`NodeConfig::deleted_group_grace`].
    pub deleted_group_grace: Option<String>,
    /// See [`NodeConfig::delete_group_topics`].
    pub delete_group_topics: Option<bool>,
    /// `[coordinator]`, with InfluxDB's key names.
    pub coordinator: Option<CoordinatorFile>,
    /// `log_filter`.
    #[serde(flatten)]
    pub logging: settings::LoggingFile,
    #[serde(flatten)]
    unknown: settings::NoUnknownKeys,
}

/// The `[coordinator]` table, named as in InfluxDB 1.x's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CoordinatorFile {
    /// A query running longer is stopped (`"30s"`); `"0s"`: never.
    pub query_timeout: Option<String>,
    /// More queries at once are refused; 0: no limit.
    pub max_concurrent_queries: Option<usize>,
    /// A SELECT spanning more `GROUP BY time` buckets is refused; 0: no
    /// limit.
    pub max_select_buckets: Option<usize>,
    /// A SELECT matching more series is refused; 0: no limit.
    pub max_select_series: Option<usize>,
    /// A SELECT reading more points is stopped; 0: no limit.
    pub max_select_point: Option<u64>,
    /// A peer slower than this on a shard read gets the next owner asked
    /// too (`"500ms"`); `"0s"`: never.
    pub hedge_after: Option<String>,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or is not valid.
    #[error(transparent)]
    File(#[from] settings::SettingsError),
    /// A setting is out of range.
    #[error("invalid setting {key}: {why}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        why: &'static str,
    },
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(settings::load_file(Some(path))?)
    }
}

impl NodeConfig {
    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.consumer.batch_max_records == 0 {
            return Err(ConfigError::Invalid {
                key: "batch_max_records",
                why: "must be at least 1",
            });
        }
        if self.consumer.apply_threads == 0 {
            return Err(ConfigError::Invalid {
                key: "apply_threads",
                why: "must be at least 1",
            });
        }
        if self.heartbeat_interval.is_zero() || self.watermark_interval.is_zero() {
            return Err(ConfigError::Invalid {
                key: "heartbeat_interval_ms / watermark_interval_ms",
                why: "must be positive",
            });
        }
        if self.budget.block_cache_bytes == 0 || self.budget.write_buffer_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "block_cache_bytes / write_buffer_bytes",
                why: "must be positive",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_typos_are_refused() {
        let example: FileConfig = toml::from_str(include_str!("../shardd.example.toml")).unwrap();
        assert_eq!(
            example.internal_listen,
            Some(settings::defaults::INTERNAL_LISTEN)
        );
        assert_eq!(
            example.http.http_listen,
            Some(settings::defaults::HTTP_LISTEN)
        );
        assert_eq!(
            example.metad.metad,
            Some(vec![settings::defaults::META_ADDR.to_owned()])
        );
        assert_eq!(
            example.kafka.kafka_brokers.as_deref(),
            Some(settings::defaults::KAFKA_BROKERS)
        );
        assert_eq!(example.http.auth_enabled, Some(false));
        for typo in [
            "data_directory = \"x\"",
            "kafka_broker = \"x\"",
            "max_body = 1",
        ] {
            let err = toml::from_str::<FileConfig>(typo).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{typo}: {err}");
        }
    }

    #[test]
    fn zero_batches_are_refused() {
        let mut c = NodeConfig::new("/tmp/x");
        assert!(c.validate().is_ok());
        c.consumer.batch_max_records = 0;
        assert!(c.validate().is_err());
    }
}

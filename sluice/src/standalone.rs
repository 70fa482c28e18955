//! Starting and stopping the parts of the all-in-one cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use settings::layer;
use sluice::cluster::{ClusterSpec, Kafka};
use tracing::{info, warn};

/// Flags of `sluice standalone`; each may also come from the environment
/// (`SLUICE_*`) or from the `--config` TOML file (same names, `_` for `-`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML file with any of the settings below; flags and environment
    /// variables override it.
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Where everything is kept: broker log, meta data, shards [default: ./sluice-data].
    #[arg(long, env = "SLUICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    // --http-listen (alias --http-bind, old variable SLUICE_HTTP_BIND): the
    // first data node's; node i listens 100 ports higher than node i-1.
    // --auth-enabled, --max-body-size.
    #[command(flatten)]
    http: settings::HttpApiArgs,
    /// Internal API of the first data node (node i: port + i - 1) [default: 127.0.0.1:8088].
    #[arg(long, env = "SLUICE_INTERNAL_BIND")]
    internal_bind: Option<SocketAddr>,
    /// metad's API [default: 127.0.0.1:8091].
    #[arg(long, env = "SLUICE_META_BIND")]
    meta_bind: Option<SocketAddr>,
    /// /metrics and /health of the ingest router [default: 127.0.0.1:8087].
    #[arg(long, env = "SLUICE_INGEST_BIND")]
    ingest_bind: Option<SocketAddr>,
    /// Where the embedded broker listens for Kafka clients [default: 127.0.0.1:9092].
    #[arg(long, env = "SLUICE_KAFKA_BIND")]
    kafka_bind: Option<SocketAddr>,
    // --kafka-brokers: use this Kafka instead of the embedded broker.
    #[command(flatten)]
    kafka: settings::KafkaArgs,
    /// Number of data nodes [default: 1].
    #[arg(long, env = "SLUICE_DATA_NODES")]
    data_nodes: Option<usize>,
    /// Replication factor of new retention policies [default: 1].
    #[arg(long, env = "SLUICE_REPLICATION_FACTOR")]
    replication_factor: Option<u32>,
    /// Create this database (if missing) once the cluster is up.
    #[arg(long, env = "SLUICE_CREATE_DATABASE")]
    create_database: Option<String>,
    /// Prefix of every topic of the cluster [default: sluice].
    #[arg(long, env = "SLUICE_TOPIC_PREFIX")]
    topic_prefix: Option<String>,
    // --shared-secret, --shared-secret-file, --insecure-internal; with
    // none of them the secret is <data-dir>/cluster-secret, made at first
    // start.
    #[command(flatten)]
    secret: settings::SecretArgs,
    // --log-filter
    #[command(flatten)]
    logging: settings::LoggingArgs,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    /// `http_listen` (or `http_bind`), `auth_enabled`, `max_body_size`.
    #[serde(flatten)]
    http: settings::HttpApiFile,
    internal_bind: Option<SocketAddr>,
    meta_bind: Option<SocketAddr>,
    ingest_bind: Option<SocketAddr>,
    kafka_bind: Option<SocketAddr>,
    /// `kafka_brokers` (`kafka_properties` are refused: the cluster
    /// builder takes a broker list only).
    #[serde(flatten)]
    kafka: settings::KafkaFile,
    data_nodes: Option<usize>,
    replication_factor: Option<u32>,
    create_database: Option<String>,
    topic_prefix: Option<String>,
    #[serde(flatten)]
    secret: settings::SecretFile,
    #[serde(flatten)]
    logging: settings::LoggingFile,
    #[serde(flatten)]
    _unknown: settings::NoUnknownKeys,
}

/// Settings after flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub http_bind: SocketAddr,
    pub internal_bind: SocketAddr,
    pub meta_bind: SocketAddr,
    pub ingest_bind: SocketAddr,
    pub kafka_bind: SocketAddr,
    pub kafka_brokers: Option<String>,
    pub data_nodes: usize,
    pub replication_factor: u32,
    pub create_database: Option<String>,
    pub topic_prefix: String,
    pub api: ingest::http::ApiConfig,
    pub secret: Secret,
    pub log_filter: String,
}

/// Where the cluster's shared secret comes from.
#[derive(Clone)]
pub enum Secret {
    /// Given by flag, environment or config file.
    Given(String),
    /// `<data-dir>/cluster-secret`, made at first start.
    DataDir,
    /// `--insecure-internal`: none.
    Insecure,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::Given(_) => "Given(..)",
            Secret::DataDir => "DataDir",
            Secret::Insecure => "Insecure",
        })
    }
}

/// The file the all-in-one keeps its generated secret in.
pub const SECRET_FILE: &str = "cluster-secret";

impl Args {
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file: FileConfig = settings::load_file(self.config.as_deref())?;
        if file.kafka.kafka_properties.is_some() {
            bail!("kafka_properties: not supported by sluice standalone");
        }
        if self.kafka.kafka_idempotence.is_some() || file.kafka.kafka_idempotence.is_some() {
            // Its embedded broker restarts with its producers, which is
            // when tansu's idempotence trouble would show.
            bail!("kafka_idempotence: not supported by sluice standalone (always on)");
        }
        if self.kafka.topic_replication_factor.is_some()
            || file.kafka.topic_replication_factor.is_some()
        {
            bail!(
                "topic_replication_factor: not supported by sluice standalone \
                 (its topics get min(3, brokers) replicas)"
            );
        }
        let http = self.http.resolve(
            file.http,
            settings::defaults::HTTP_LISTEN,
            Some("SLUICE_HTTP_BIND"),
        )?;
        let secret = match self.secret.require(file.secret) {
            Ok(Some(secret)) => Secret::Given(secret),
            Ok(None) => Secret::Insecure,
            Err(settings::SettingsError::NoSecret) => Secret::DataDir,
            Err(e) => return Err(e.into()),
        };
        let settings = Settings {
            data_dir: layer(self.data_dir, file.data_dir)
                .unwrap_or_else(|| settings::defaults::DATA_DIR.into()),
            http_bind: http.listen,
            internal_bind: layer(self.internal_bind, file.internal_bind)
                .unwrap_or(settings::defaults::INTERNAL_LISTEN),
            meta_bind: layer(self.meta_bind, file.meta_bind)
                .unwrap_or(settings::defaults::META_LISTEN),
            ingest_bind: layer(self.ingest_bind, file.ingest_bind)
                .unwrap_or(settings::defaults::INGEST_HTTP_LISTEN),
            kafka_bind: layer(self.kafka_bind, file.kafka_bind)
                .unwrap_or(settings::defaults::KAFKA_LISTEN),
            kafka_brokers: self.kafka.brokers(&file.kafka),
            data_nodes: layer(self.data_nodes, file.data_nodes).unwrap_or(1),
            replication_factor: layer(self.replication_factor, file.replication_factor)
                .unwrap_or(1),
            create_database: layer(self.create_database, file.create_database),
            topic_prefix: layer(self.topic_prefix, file.topic_prefix)
                .unwrap_or_else(|| schemas::topics::DEFAULT_PREFIX.to_owned()),
            api: http.into(),
            secret,
            log_filter: self.logging.resolve(
                file.logging,
                None,
                settings::defaults::STANDALONE_LOG_FILTER,
            )?,
        };
        if settings.data_nodes == 0 {
            bail!("--data-nodes must be at least 1");
        }
        if settings.replication_factor == 0
            || settings.replication_factor as usize > settings.data_nodes
        {
            bail!(
                "--replication-factor must be between 1 and --data-nodes ({})",
                settings.data_nodes
            );
        }
        schemas::topics::validate_prefix(&settings.topic_prefix)
            .map_err(|e| anyhow::anyhow!("--topic-prefix: {e}"))?;
        Ok(settings)
    }
}

pub async fn run(s: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("create data dir {}", s.data_dir.display()))?;
    let data_dir = s.data_dir.canonicalize()?;
    let mut spec = ClusterSpec::new(&data_dir);
    spec.kafka = match &s.kafka_brokers {
        Some(b) => Kafka::Brokers(b.clone()),
        None => Kafka::Embedded {
            dir: data_dir.join("kafka"),
            listen: s.kafka_bind,
        },
    };
    spec.meta_bind = s.meta_bind;
    spec.http_bind = s.http_bind;
    spec.internal_bind = s.internal_bind;
    spec.data_nodes = s.data_nodes;
    spec.replication_factor = s.replication_factor;
    spec.topic_prefix = s.topic_prefix.clone();
    spec.api = s.api.clone();
    spec.create_database = s.create_database.clone();
    spec.ingest_bind = Some(s.ingest_bind);
    let secret_file = data_dir.join(SECRET_FILE);
    spec.shared_secret = match &s.secret {
        Secret::Given(secret) => Some(secret.clone()),
        Secret::DataDir => Some(settings::load_or_create_secret(&secret_file)?),
        Secret::Insecure => None,
    };
    let mut cluster = spec.start().await?;

    let scheme = if s.api.https.is_some() {
        "https"
    } else {
        "http"
    };
    println!("sluice standalone is up (data in {})", data_dir.display());
    println!(
        "  InfluxDB HTTP API   {scheme}://{}  (/write /query /ping /health /metrics)",
        cluster.nodes[0].http_addr
    );
    for (i, n) in cluster.nodes.iter().enumerate().skip(1) {
        println!("  data node {}         {scheme}://{}", i + 1, n.http_addr);
    }
    println!(
        "  Kafka bootstrap     {}  (raw line protocol: topic {}.lp.<db>)",
        cluster.brokers, s.topic_prefix
    );
    println!("  metad               http://{}", s.meta_bind);
    match &s.secret {
        Secret::DataDir => println!(
            "  cluster secret      {}  (sluice-ctl --shared-secret-file)",
            secret_file.display()
        ),
        Secret::Given(_) => println!("  cluster secret      as given"),
        Secret::Insecure => println!("  cluster secret      none: internal APIs are open"),
    }
    println!("  ingest metrics      http://{}/metrics", s.ingest_bind);
    if let Some(db) = &s.create_database {
        println!("  database            {db}");
    }
    info!("ready; Ctrl-C or SIGTERM stops");

    let ingest = cluster
        .ingest
        .take()
        .expect("standalone runs the ingest router");
    tokio::select! {
        _ = shutdown::signal() => info!("stopping"),
        r = ingest_finished(&ingest) => warn!(?r, "the ingest router stopped"),
    }
    cluster.ingest = Some(ingest);
    // Ingest, the data nodes, metad and the broker in turn: twice the grace
    // of one daemon.
    shutdown::exit_if_stuck(2 * shutdown::GRACE);
    cluster.stop().await;
    info!("stopped");
    Ok(())
}

async fn ingest_finished<T>(task: &tokio::task::JoinHandle<T>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn old_and_new_names() {
        let s = Cli::try_parse_from(["sluice", "--http-bind", "127.0.0.1:1"])
            .unwrap()
            .args
            .resolve()
            .unwrap();
        assert_eq!(s.http_bind, "127.0.0.1:1".parse().unwrap());
        let file: FileConfig =
            toml::from_str("http_bind = \"127.0.0.1:2\"\nmeta_bind = \"127.0.0.1:3\"").unwrap();
        assert_eq!(file.http.http_listen, Some("127.0.0.1:2".parse().unwrap()));
        let file: FileConfig = toml::from_str("http_listen = \"127.0.0.1:2\"").unwrap();
        assert_eq!(file.http.http_listen, Some("127.0.0.1:2".parse().unwrap()));
        assert!(toml::from_str::<FileConfig>("http_bnid = \"127.0.0.1:2\"").is_err());
    }
}

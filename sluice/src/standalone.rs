//! Starting and stopping the parts of the all-in-one cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
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
    /// InfluxDB HTTP API of the first data node; node i listens 100 ports
    /// higher than node i-1 [default: 127.0.0.1:8086].
    #[arg(long, env = "SLUICE_HTTP_BIND")]
    http_bind: Option<SocketAddr>,
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
    /// Use this Kafka (bootstrap servers) instead of the embedded broker.
    #[arg(long, env = "SLUICE_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
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
    /// Require credentials on the HTTP API [default: false].
    #[arg(long, env = "SLUICE_AUTH_ENABLED")]
    auth_enabled: Option<bool>,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http_bind: Option<SocketAddr>,
    internal_bind: Option<SocketAddr>,
    meta_bind: Option<SocketAddr>,
    ingest_bind: Option<SocketAddr>,
    kafka_bind: Option<SocketAddr>,
    kafka_brokers: Option<String>,
    data_nodes: Option<usize>,
    replication_factor: Option<u32>,
    create_database: Option<String>,
    topic_prefix: Option<String>,
    auth_enabled: Option<bool>,
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
    pub auth_enabled: bool,
}

impl Args {
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("read {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let addr = |s: &str| s.parse::<SocketAddr>().expect("valid default address");
        let settings = Settings {
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| "sluice-data".into()),
            http_bind: self
                .http_bind
                .or(file.http_bind)
                .unwrap_or(addr("127.0.0.1:8086")),
            internal_bind: self
                .internal_bind
                .or(file.internal_bind)
                .unwrap_or(addr("127.0.0.1:8088")),
            meta_bind: self
                .meta_bind
                .or(file.meta_bind)
                .unwrap_or(addr("127.0.0.1:8091")),
            ingest_bind: self
                .ingest_bind
                .or(file.ingest_bind)
                .unwrap_or(addr("127.0.0.1:8087")),
            kafka_bind: self
                .kafka_bind
                .or(file.kafka_bind)
                .unwrap_or(addr("127.0.0.1:9092")),
            kafka_brokers: self.kafka_brokers.or(file.kafka_brokers),
            data_nodes: self.data_nodes.or(file.data_nodes).unwrap_or(1),
            replication_factor: self
                .replication_factor
                .or(file.replication_factor)
                .unwrap_or(1),
            create_database: self.create_database.or(file.create_database),
            topic_prefix: self
                .topic_prefix
                .or(file.topic_prefix)
                .unwrap_or_else(|| schemas::topics::DEFAULT_PREFIX.to_owned()),
            auth_enabled: self.auth_enabled.or(file.auth_enabled).unwrap_or(false),
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
    spec.auth_enabled = s.auth_enabled;
    spec.create_database = s.create_database.clone();
    spec.ingest_bind = Some(s.ingest_bind);
    let mut cluster = spec.start().await?;

    println!("sluice standalone is up (data in {})", data_dir.display());
    println!(
        "  InfluxDB HTTP API   http://{}  (/write /query /ping /health /metrics)",
        cluster.nodes[0].http_addr
    );
    for (i, n) in cluster.nodes.iter().enumerate().skip(1) {
        println!("  data node {}         http://{}", i + 1, n.http_addr);
    }
    println!(
        "  Kafka bootstrap     {}  (raw line protocol: topic {}.lp.<db>)",
        cluster.brokers, s.topic_prefix
    );
    println!("  metad               http://{}", s.meta_bind);
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

//! Starting and stopping the parts of the all-in-one cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio::sync::watch;
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

/// The address of data node `i` (0-based) on `base`'s host, `step` ports apart.
fn node_addr(base: SocketAddr, i: usize, step: u16) -> SocketAddr {
    let mut a = base;
    a.set_port(base.port() + step * i as u16);
    a
}

/// The embedded broker, restarted if it dies while the cluster runs.
struct Supervised {
    tansu: Arc<Mutex<broker::Tansu>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Supervised {
    fn start(dir: &Path, listen: SocketAddr) -> anyhow::Result<Self> {
        let tansu = broker::Tansu::start(dir, listen).context("start the embedded broker")?;
        let tansu = Arc::new(Mutex::new(tansu));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (t, s) = (Arc::clone(&tansu), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let mut broker = t.lock().expect("broker lock");
                if s.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if let Some(status) = broker.exited() {
                    warn!(%status, log = %broker.log_tail(), "the embedded broker exited; restarting it");
                    if let Err(e) = broker.restart() {
                        warn!(error = %e, "restarting the embedded broker failed; retrying");
                    }
                }
            }
        });
        Ok(Supervised {
            tansu,
            stop,
            thread,
        })
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
        self.tansu
            .lock()
            .expect("broker lock")
            .stop(Duration::from_secs(10));
    }
}

pub async fn run(s: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("create data dir {}", s.data_dir.display()))?;
    let data_dir = s.data_dir.canonicalize()?;

    // 1. The broker.
    let (broker, brokers) = match &s.kafka_brokers {
        Some(b) => (None, b.clone()),
        None => {
            let sup = Supervised::start(&data_dir.join("kafka"), s.kafka_bind)?;
            (Some(sup), s.kafka_bind.to_string())
        }
    };

    // 2. metad, one voter.
    let mut meta = metad::config::NodeConfig::new(1, s.meta_bind, data_dir.join("meta"));
    meta.bootstrap = true;
    meta.topic_prefix = s.topic_prefix.clone();
    meta.default_replication_factor = s.replication_factor;
    let (meta_stop, mut meta_stop_rx) = watch::channel(false);
    let metad = tokio::spawn(async move {
        let stopped = async move {
            let _ = meta_stop_rx.wait_for(|s| *s).await;
        };
        metad::node::MetaNode::run(meta, stopped).await
    });
    let meta_config = meta_client::Config::new([s.meta_bind.to_string()]);
    let client = meta_client::MetaClient::new(meta_config.clone())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Err(e) = client.snapshot_linearizable().await {
        if metad.is_finished() || tokio::time::Instant::now() > deadline {
            bail!("metad did not come up on {}: {e}", s.meta_bind);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 3. Data nodes.
    let (stop_nodes, nodes_rx) = watch::channel(false);
    let kafka = ingest::produce::KafkaConfig {
        brokers: brokers.clone(),
        ..Default::default()
    };
    let mut nodes = Vec::new();
    for i in 0..s.data_nodes {
        let mut config = shardd::NodeConfig::new(data_dir.join(format!("node-{}", i + 1)));
        config.http_listen = node_addr(s.http_bind, i, 100);
        config.internal_listen = node_addr(s.internal_bind, i, 1);
        config.metad = meta_config.clone();
        config.kafka = kafka.clone();
        config.api.auth_enabled = s.auth_enabled;
        let handle = shardd::Node::start_with(config, nodes_rx.clone(), shardd::query_extensions())
            .await
            .with_context(|| format!("start data node {}", i + 1))?;
        nodes.push(handle);
    }

    if let Some(db) = &s.create_database {
        let md = client.snapshot_linearizable().await?;
        if md.database(db).is_none() {
            client
                .create_database(db, None)
                .await
                .with_context(|| format!("create database {db}"))?;
        }
    }

    // 4. The ingest router for the raw line-protocol topics.
    let (stop_ingest, ingest_rx) = watch::channel(false);
    let ingest_config = ingest::daemon::DaemonConfig {
        kafka,
        metad: meta_config,
        raw: ingest::raw::RawConfig {
            topic_prefix: s.topic_prefix.clone(),
            // The one router of this cluster: a restart after a crash takes
            // its raw partitions straight back.
            instance_id: Some("standalone".into()),
            ..Default::default()
        },
        http_listen: s.ingest_bind,
        serve_writes: false,
        api: Default::default(),
    };
    let ingest = tokio::spawn(ingest::daemon::run(ingest_config, ingest_rx));

    println!("sluice standalone is up (data in {})", data_dir.display());
    println!(
        "  InfluxDB HTTP API   http://{}  (/write /query /ping /health /metrics)",
        nodes[0].http_addr
    );
    for (i, n) in nodes.iter().enumerate().skip(1) {
        println!("  data node {}         http://{}", i + 1, n.http_addr);
    }
    println!(
        "  Kafka bootstrap     {brokers}  (raw line protocol: topic {}.lp.<db>)",
        s.topic_prefix
    );
    println!("  metad               http://{}", s.meta_bind);
    println!("  ingest metrics      http://{}/metrics", s.ingest_bind);
    if let Some(db) = &s.create_database {
        println!("  database            {db}");
    }
    info!("ready; Ctrl-C or SIGTERM stops");

    tokio::select! {
        _ = shutdown::signal() => info!("stopping"),
        r = ingest_finished(&ingest) => warn!(?r, "the ingest router stopped"),
    }
    // Ingest, the data nodes, metad and the broker in turn: twice the grace
    // of one daemon.
    shutdown::exit_if_stuck(2 * shutdown::GRACE);
    let _ = stop_ingest.send(true);
    match ingest.await {
        Ok(Err(e)) => warn!(error = %e, "ingest router"),
        Err(e) => warn!(error = %e, "ingest router task"),
        Ok(Ok(())) => {}
    }
    let _ = stop_nodes.send(true);
    for n in nodes {
        n.wait().await;
    }
    let _ = meta_stop.send(true);
    let _ = metad.await;
    if let Some(b) = broker {
        tokio::task::spawn_blocking(move || b.stop()).await?;
    }
    info!("stopped");
    Ok(())
}

async fn ingest_finished<T>(task: &tokio::task::JoinHandle<T>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

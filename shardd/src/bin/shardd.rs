//! `shardd`: a Sluice data node. Consumes the partitions of the shards it
//! owns into RocksDB and serves InfluxDB's HTTP API and the internal API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use shardd::{FileConfig, Node, NodeConfig};

/// Sluice data node: registers with metad, consumes the shard-group
/// partitions of the shards it owns into `<data-dir>/<db>/<rp>/<shard-id>`,
/// and serves the public API (/write, /ping, /health, /metrics) and the
/// internal API (replica status, digests, rebuild, resume). Settings come
/// from flags, then environment variables, then the `--config` TOML file,
/// then defaults.
#[derive(Debug, Parser)]
#[command(name = "shardd", version)]
struct Args {
    /// TOML file with any of the settings below (keys as in
    /// `shardd/shardd.example.toml`); flags and environment override it.
    #[arg(long, env = "SLUICE_SHARDD_CONFIG")]
    config: Option<PathBuf>,
    /// Root directory of the shard replicas [default: ./sluice-data].
    #[arg(long, env = "SLUICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the public HTTP API [default: 127.0.0.1:8086].
    #[arg(long, env = "SLUICE_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// Public address told to clients and peers [default: the bound address].
    #[arg(long, env = "SLUICE_HTTP_ADVERTISE")]
    http_advertise: Option<String>,
    /// Address of the internal API [default: 127.0.0.1:8088].
    #[arg(long, env = "SLUICE_INTERNAL_LISTEN")]
    internal_listen: Option<SocketAddr>,
    /// Internal address registered in metad; it identifies the node
    /// [default: the bound address].
    #[arg(long, env = "SLUICE_INTERNAL_ADVERTISE")]
    internal_advertise: Option<String>,
    /// metad addresses, comma separated [default: 127.0.0.1:8091].
    #[arg(long, env = "SLUICE_METAD")]
    metad: Option<String>,
    /// Shared secret of the cluster: sent to metad, required on the internal API [default: none].
    #[arg(long, env = "SLUICE_SHARED_SECRET", hide_env_values = true)]
    shared_secret: Option<String>,
    /// Kafka bootstrap servers [default: 127.0.0.1:9092].
    #[arg(long, env = "SLUICE_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Most records applied in one RocksDB write batch [default: 16].
    #[arg(long, env = "SLUICE_BATCH_MAX_RECORDS")]
    batch_max_records: Option<usize>,
    /// Most record bytes applied in one RocksDB write batch [default: 16777216].
    #[arg(long, env = "SLUICE_BATCH_MAX_BYTES")]
    batch_max_bytes: Option<usize>,
    /// Seconds without writes after which a shard is compacted once into packed blocks, like
    /// InfluxDB's compact-full-write-cold-duration; 0: never [default: 14400].
    #[arg(long, env = "SLUICE_COMPACT_COLD_AFTER_S")]
    compact_cold_after_s: Option<u64>,
    /// Block cache shared by all shards, bytes [default: 268435456].
    #[arg(long, env = "SLUICE_BLOCK_CACHE_BYTES")]
    block_cache_bytes: Option<usize>,
    /// Memtable budget shared by all shards, bytes [default: 268435456].
    #[arg(long, env = "SLUICE_WRITE_BUFFER_BYTES")]
    write_buffer_bytes: Option<usize>,
    /// Heartbeat interval to metad, ms [default: 1000].
    #[arg(long, env = "SLUICE_HEARTBEAT_INTERVAL_MS")]
    heartbeat_interval_ms: Option<u64>,
    /// Refresh interval of partition watermarks, ms [default: 2000].
    #[arg(long, env = "SLUICE_WATERMARK_INTERVAL_MS")]
    watermark_interval_ms: Option<u64>,
    /// Require credentials on the public API [default: false].
    #[arg(long, env = "SLUICE_AUTH_ENABLED")]
    auth_enabled: Option<bool>,
    /// Largest write body in bytes, after decompression [default: 25000000].
    #[arg(long, env = "SLUICE_MAX_BODY_SIZE")]
    max_body_size: Option<usize>,
}

fn config(args: Args) -> anyhow::Result<NodeConfig> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("sluice-data"));
    let mut c = NodeConfig::new(data_dir);
    if let Some(a) = args.http_listen.or(file.http_listen) {
        c.http_listen = a;
    }
    c.http_advertise = args.http_advertise.or(file.http_advertise);
    if let Some(a) = args.internal_listen.or(file.internal_listen) {
        c.internal_listen = a;
    }
    c.internal_advertise = args.internal_advertise.or(file.internal_advertise);
    let metad = args
        .metad
        .or(file.metad.map(|v| v.join(",")))
        .unwrap_or_else(|| "127.0.0.1:8091".into());
    c.metad = meta_client_config(&metad);
    c.metad.shared_secret = args
        .shared_secret
        .or(file.shared_secret)
        .filter(|s| !s.is_empty());
    if let Some(b) = args.kafka_brokers.or(file.kafka_brokers) {
        c.kafka.brokers = b;
    }
    c.kafka.properties = file.kafka_properties.unwrap_or_default();
    if let Some(n) = args.batch_max_records.or(file.batch_max_records) {
        c.consumer.batch_max_records = n;
    }
    if let Some(n) = args.batch_max_bytes.or(file.batch_max_bytes) {
        c.consumer.batch_max_bytes = n;
    }
    if let Some(s) = args.compact_cold_after_s.or(file.compact_cold_after_s) {
        c.consumer.compact_cold_after = (s > 0).then(|| Duration::from_secs(s));
    }
    if let Some(n) = args.block_cache_bytes.or(file.block_cache_bytes) {
        c.budget.block_cache_bytes = n;
    }
    if let Some(n) = args.write_buffer_bytes.or(file.write_buffer_bytes) {
        c.budget.write_buffer_bytes = n;
    }
    if let Some(ms) = args.heartbeat_interval_ms.or(file.heartbeat_interval_ms) {
        c.heartbeat_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = args.watermark_interval_ms.or(file.watermark_interval_ms) {
        c.watermark_interval = Duration::from_millis(ms);
    }
    if let Some(a) = args.auth_enabled.or(file.auth_enabled) {
        c.api.auth_enabled = a;
    }
    if let Some(m) = args.max_body_size.or(file.max_body_size) {
        c.api.max_body_size = m;
    }
    c.validate()?;
    Ok(c)
}

fn meta_client_config(list: &str) -> meta_client::Config {
    let mut c = meta_client::Config::from_list(list);
    // A data node starting with its metad waits for it rather than exiting.
    c.retry_for = Duration::from_secs(60);
    c
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = config(Args::parse())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handle = Node::start(config, stop_rx)
        .await
        .context("starting the data node")?;
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!("shutting down: closing replicas");
        let _ = stop_tx.send(true);
        shutdown::exit_if_stuck(shutdown::GRACE);
    });
    handle.wait().await;
    Ok(())
}

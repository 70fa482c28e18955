//! `shardd`: a Sluice data node. Consumes the partitions of the shards it
//! owns into RocksDB and serves InfluxDB's HTTP API and the internal API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use settings::layer;
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
    // --http-listen, --auth-enabled, --max-body-size
    #[command(flatten)]
    http: settings::HttpApiArgs,
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
    // --metad, --shared-secret (also required on the internal API)
    #[command(flatten)]
    metad: settings::MetadArgs,
    // --kafka-brokers
    #[command(flatten)]
    kafka: settings::KafkaArgs,
    /// Most records applied in one RocksDB write batch [default: 16].
    #[arg(long, env = "SLUICE_BATCH_MAX_RECORDS")]
    batch_max_records: Option<usize>,
    /// Most record bytes applied in one RocksDB write batch [default: 16777216].
    #[arg(long, env = "SLUICE_BATCH_MAX_BYTES")]
    batch_max_bytes: Option<usize>,
    /// Threads applying records to the node's shards, whatever their number
    /// [default: the number of cores, at most 4].
    #[arg(long, env = "SLUICE_APPLY_THREADS")]
    apply_threads: Option<usize>,
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
    /// How long a deleted shard group (expired, or of a dropped database
    /// or retention policy) is kept before its Kafka topic is deleted and
    /// the meta data forgets it, e.g. `10m` [default: 10m].
    #[arg(long, env = "SLUICE_DELETED_GROUP_GRACE", value_parser = humantime::parse_duration)]
    deleted_group_grace: Option<Duration>,
    /// Delete the Kafka topic of a deleted shard group after the grace;
    /// set false with tansu 0.6, whose fetch answers break once a topic is
    /// deleted (the topics then stay on the broker) [default: true].
    #[arg(long, env = "SLUICE_DELETE_GROUP_TOPICS")]
    delete_group_topics: Option<bool>,
    /// Stop a query running longer than this, e.g. `30s` (InfluxDB's
    /// [coordinator] query-timeout); `0s`: never [default: 0s].
    #[arg(long, env = "SLUICE_QUERY_TIMEOUT", value_parser = humantime::parse_duration)]
    query_timeout: Option<Duration>,
    /// Refuse queries past this many running on this node (InfluxDB's
    /// max-concurrent-queries); 0: no limit [default: 0].
    #[arg(long, env = "SLUICE_MAX_CONCURRENT_QUERIES")]
    max_concurrent_queries: Option<usize>,
    /// Refuse a SELECT spanning more GROUP BY time buckets (InfluxDB's
    /// max-select-buckets); 0: no limit [default: 0].
    #[arg(long, env = "SLUICE_MAX_SELECT_BUCKETS")]
    max_select_buckets: Option<usize>,
    /// Refuse a SELECT matching more series (InfluxDB's
    /// max-select-series); 0: no limit [default: 0].
    #[arg(long, env = "SLUICE_MAX_SELECT_SERIES")]
    max_select_series: Option<usize>,
    /// Stop a SELECT reading more points from the shards (InfluxDB's
    /// max-select-point); 0: no limit [default: 0].
    #[arg(long, env = "SLUICE_MAX_SELECT_POINT")]
    max_select_point: Option<u64>,
    /// Ask the next owner of a shard too when a peer has not answered a
    /// shard read within this; the first answer wins; `0s`: never
    /// [default: 500ms].
    #[arg(long, env = "SLUICE_HEDGE_AFTER", value_parser = humantime::parse_duration)]
    hedge_after: Option<Duration>,
    // --log-filter
    #[command(flatten)]
    logging: settings::LoggingArgs,
}

/// A `[coordinator]` duration.
fn file_duration(key: &str, text: Option<String>) -> anyhow::Result<Option<Duration>> {
    text.map(|t| {
        humantime::parse_duration(&t).with_context(|| format!("{key} = {t:?} is not a duration"))
    })
    .transpose()
}

/// The node's settings and its log filter.
fn config(args: Args) -> anyhow::Result<(NodeConfig, String)> {
    let file: FileConfig = settings::load_file(args.config.as_deref())?;
    let log_filter = args
        .logging
        .resolve(file.logging, None, settings::defaults::LOG_FILTER)?;
    let data_dir = layer(args.data_dir, file.data_dir)
        .unwrap_or_else(|| PathBuf::from(settings::defaults::DATA_DIR));
    let mut c = NodeConfig::new(data_dir);
    let http = args
        .http
        .resolve(file.http, settings::defaults::HTTP_LISTEN, None)?;
    c.http_listen = http.listen;
    c.api = http.into();
    c.http_advertise = layer(args.http_advertise, file.http_advertise);
    if let Some(a) = layer(args.internal_listen, file.internal_listen) {
        c.internal_listen = a;
    }
    c.internal_advertise = layer(args.internal_advertise, file.internal_advertise);
    c.metad = args.metad.resolve(file.metad)?;
    // A data node starting with its metad waits for it rather than exiting.
    c.metad.retry_for = Duration::from_secs(60);
    c.kafka = args.kafka.resolve(file.kafka);
    if let Some(n) = layer(args.batch_max_records, file.batch_max_records) {
        c.consumer.batch_max_records = n;
    }
    if let Some(n) = layer(args.batch_max_bytes, file.batch_max_bytes) {
        c.consumer.batch_max_bytes = n;
    }
    if let Some(n) = layer(args.apply_threads, file.apply_threads) {
        c.consumer.apply_threads = n;
    }
    if let Some(s) = layer(args.compact_cold_after_s, file.compact_cold_after_s) {
        c.consumer.compact_cold_after = (s > 0).then(|| Duration::from_secs(s));
    }
    if let Some(n) = layer(args.block_cache_bytes, file.block_cache_bytes) {
        c.budget.block_cache_bytes = n;
    }
    if let Some(n) = layer(args.write_buffer_bytes, file.write_buffer_bytes) {
        c.budget.write_buffer_bytes = n;
    }
    if let Some(ms) = layer(args.heartbeat_interval_ms, file.heartbeat_interval_ms) {
        c.heartbeat_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = layer(args.watermark_interval_ms, file.watermark_interval_ms) {
        c.watermark_interval = Duration::from_millis(ms);
    }
    if let Some(d) = layer(
        args.deleted_group_grace,
        file_duration("deleted_group_grace", file.deleted_group_grace)?,
    ) {
        c.deleted_group_grace = d;
    }
    if let Some(b) = layer(args.delete_group_topics, file.delete_group_topics) {
        c.delete_group_topics = b;
    }
    let coord = file.coordinator.unwrap_or_default();
    if let Some(d) = layer(
        args.query_timeout,
        file_duration("[coordinator] query-timeout", coord.query_timeout)?,
    ) {
        c.query_limits.query_timeout = d;
    }
    if let Some(n) = layer(args.max_concurrent_queries, coord.max_concurrent_queries) {
        c.query_limits.max_concurrent_queries = n;
    }
    if let Some(n) = layer(args.max_select_buckets, coord.max_select_buckets) {
        c.query_limits.max_select_buckets = n;
    }
    if let Some(n) = layer(args.max_select_series, coord.max_select_series) {
        c.query_limits.max_select_series = n;
    }
    if let Some(n) = layer(args.max_select_point, coord.max_select_point) {
        c.query_limits.max_select_point = n;
    }
    if let Some(d) = layer(
        args.hedge_after,
        file_duration("[coordinator] hedge-after", coord.hedge_after)?,
    ) {
        c.hedge_after = d;
    }
    c.validate()?;
    Ok((c, log_filter))
}

fn main() -> anyhow::Result<()> {
    settings::runtime()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let (config, log_filter) = config(Args::parse())?;
    settings::init_tracing(&log_filter)?;
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

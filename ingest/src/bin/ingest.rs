//! `ingest`: routes raw line-protocol topics (and, with `--serve-writes`,
//! HTTP writes) into the shard-group topics. Stateless: run as many as you
//! like; they share the raw partitions through a Kafka consumer group.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use ingest::daemon::{self, DaemonConfig, FileConfig};
use ingest::http::ApiConfig;
use ingest::raw::RawConfig;
use settings::layer;

/// Sluice ingest daemon: consumes the raw line-protocol topics
/// (`<prefix>.lp.<database>`, or `<prefix>.lp` with a `db` header) and
/// produces each point to its shard's partition. Settings come from flags,
/// then environment variables, then the `--config` TOML file, then defaults.
#[derive(Debug, Parser)]
#[command(name = "ingest", version)]
struct Args {
    /// TOML file with any of the settings below (keys as in
    /// `ingest/ingest.example.toml`); flags and environment override it.
    #[arg(long, env = "SLUICE_INGEST_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    kafka: settings::KafkaArgs,
    #[command(flatten)]
    metad: settings::MetadArgs,
    /// Topic prefix of the cluster [default: sluice].
    #[arg(long, env = "SLUICE_TOPIC_PREFIX")]
    topic_prefix: Option<String>,
    /// Kafka consumer group shared by the ingest daemons [default: sluice-ingest].
    #[arg(long, env = "SLUICE_INGEST_GROUP")]
    group_id: Option<String>,
    /// A name unique to this daemon and stable across its restarts (Kafka
    /// static membership, `group.instance.id`): a daemon restarted in place
    /// gets its raw partitions back at once [default: none, dynamic member].
    #[arg(long, env = "SLUICE_INGEST_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Topic that records which cannot be written are copied to [default: none].
    #[arg(long, env = "SLUICE_DEAD_LETTER_TOPIC")]
    dead_letter_topic: Option<String>,
    /// Partitions of the raw topics (`<prefix>.lp`, `<prefix>.lp.<db>` per
    /// database) created when missing; 0 leaves them to the operator [default: 4].
    #[arg(long, env = "SLUICE_RAW_TOPIC_PARTITIONS")]
    raw_topic_partitions: Option<usize>,
    // `--http-listen` (or `SLUICE_INGEST_HTTP`, its old variable): the
    // server of /metrics, /health and, with --serve-writes, the write API.
    #[command(flatten)]
    http: settings::HttpApiArgs,
    /// Also serve InfluxDB's write API (/write, /api/v2/write, /ping) there [default: false].
    #[arg(long, env = "SLUICE_SERVE_WRITES")]
    serve_writes: Option<bool>,
    #[command(flatten)]
    logging: settings::LoggingArgs,
}

/// The daemon's settings and its log filter.
fn config(args: Args) -> anyhow::Result<(DaemonConfig, String)> {
    let file: FileConfig = settings::load_file(args.config.as_deref())?;
    let log_filter = args
        .logging
        .resolve(file.logging, None, settings::defaults::LOG_FILTER)?;
    let mut raw = RawConfig::default();
    if let Some(p) = layer(args.topic_prefix, file.topic_prefix) {
        schemas::topics::validate_prefix(&p)?;
        raw.topic_prefix = p;
    }
    if let Some(g) = layer(args.group_id, file.group_id) {
        raw.group_id = g;
    }
    raw.instance_id = layer(args.instance_id, file.instance_id);
    raw.dead_letter_topic = layer(args.dead_letter_topic, file.dead_letter_topic);
    if let Some(n) = layer(args.raw_topic_partitions, file.raw_topic_partitions) {
        raw.create_topic_partitions = n;
    }
    let http = args.http.resolve(
        file.http,
        settings::defaults::INGEST_HTTP_LISTEN,
        Some("SLUICE_INGEST_HTTP"),
    )?;
    let config = DaemonConfig {
        kafka: args.kafka.resolve(file.kafka),
        metad: args.metad.resolve(file.metad)?,
        raw,
        http_listen: http.listen,
        serve_writes: layer(args.serve_writes, file.serve_writes).unwrap_or(false),
        api: ApiConfig::from(http),
    };
    Ok((config, log_filter))
}

fn main() -> anyhow::Result<()> {
    settings::runtime()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let (config, log_filter) = config(Args::parse())?;
    settings::init_tracing(&log_filter)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!("shutting down: finishing in-flight writes");
        let _ = stop_tx.send(true);
        shutdown::exit_if_stuck(shutdown::GRACE);
    });
    daemon::run(config, stop_rx).await.context("ingest daemon")
}

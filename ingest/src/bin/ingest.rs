//! `ingest`: routes raw line-protocol topics (and, with `--serve-writes`,
//! HTTP writes) into the shard-group topics. Stateless: run as many as you
//! like; they share the raw partitions through a Kafka consumer group.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use ingest::daemon::{self, DaemonConfig, FileConfig};
use ingest::http::ApiConfig;
use ingest::produce::KafkaConfig;
use ingest::raw::RawConfig;

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
    /// Kafka bootstrap servers [default: 127.0.0.1:9092].
    #[arg(long, env = "SLUICE_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// metad addresses, comma separated [default: 127.0.0.1:8091].
    #[arg(long, env = "SLUICE_METAD")]
    metad: Option<String>,
    /// Shared secret for calls to metad [default: none].
    #[arg(long, env = "SLUICE_SHARED_SECRET", hide_env_values = true)]
    shared_secret: Option<String>,
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
    /// Address of the HTTP server (/metrics, /health) [default: 127.0.0.1:8087].
    #[arg(long, env = "SLUICE_INGEST_HTTP")]
    http_listen: Option<SocketAddr>,
    /// Also serve InfluxDB's write API (/write, /api/v2/write, /ping) there [default: false].
    #[arg(long, env = "SLUICE_SERVE_WRITES")]
    serve_writes: Option<bool>,
    /// Require credentials on the write API [default: false].
    #[arg(long, env = "SLUICE_AUTH_ENABLED")]
    auth_enabled: Option<bool>,
    /// Largest write body in bytes, after decompression [default: 25000000].
    #[arg(long, env = "SLUICE_MAX_BODY_SIZE")]
    max_body_size: Option<usize>,
}

fn config(args: Args) -> anyhow::Result<DaemonConfig> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let mut kafka = KafkaConfig::default();
    if let Some(b) = args.kafka_brokers.or(file.kafka_brokers) {
        kafka.brokers = b;
    }
    kafka.properties = file.kafka_properties.unwrap_or_default();
    let metad = args
        .metad
        .or(file.metad.map(|v| v.join(",")))
        .unwrap_or_else(|| "127.0.0.1:8091".into());
    let mut metad = meta_client::Config::from_list(&metad);
    metad.shared_secret = args.shared_secret.or(file.shared_secret);
    let mut raw = RawConfig::default();
    if let Some(p) = args.topic_prefix.or(file.topic_prefix) {
        schemas::topics::validate_prefix(&p)?;
        raw.topic_prefix = p;
    }
    if let Some(g) = args.group_id.or(file.group_id) {
        raw.group_id = g;
    }
    raw.instance_id = args.instance_id.or(file.instance_id);
    raw.dead_letter_topic = args.dead_letter_topic.or(file.dead_letter_topic);
    if let Some(n) = args.raw_topic_partitions.or(file.raw_topic_partitions) {
        raw.create_topic_partitions = n;
    }
    let mut api = ApiConfig::default();
    if let Some(a) = args.auth_enabled.or(file.auth_enabled) {
        api.auth_enabled = a;
    }
    if let Some(m) = args.max_body_size.or(file.max_body_size) {
        api.max_body_size = m;
    }
    Ok(DaemonConfig {
        kafka,
        metad,
        raw,
        http_listen: args
            .http_listen
            .or(file.http_listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8087))),
        serve_writes: args.serve_writes.or(file.serve_writes).unwrap_or(false),
        api,
    })
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
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!("shutting down: finishing in-flight writes");
        let _ = stop_tx.send(true);
        shutdown::exit_if_stuck(shutdown::GRACE);
    });
    daemon::run(config, stop_rx).await.context("ingest daemon")
}

//! `metad`: runs one meta node. Flags override environment variables, which
//! override the TOML file given with `--config`, which overrides defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use metad::config::FileConfig;
use metad::{MetaNode, NodeConfig};

/// Sluice's meta service: an openraft node holding databases, retention
/// policies, shard groups, data nodes and users.
#[derive(Debug, Parser)]
#[command(name = "metad", version)]
struct Args {
    /// TOML config file (see metad.example.toml); flags and environment override it.
    #[arg(long, env = "METAD_CONFIG")]
    config: Option<PathBuf>,
    /// This node's raft id, unique among metad nodes.
    #[arg(long, env = "METAD_NODE_ID", default_value_t = 1)]
    node_id: u64,
    /// Address the HTTP API (clients and raft peers) listens on.
    #[arg(long, env = "METAD_LISTEN", default_value_t = settings::defaults::META_LISTEN)]
    listen: SocketAddr,
    /// Address peers and clients reach this node at [default: the listen address].
    #[arg(long, env = "METAD_ADVERTISE")]
    advertise: Option<String>,
    /// Directory of the raft log and state machine (RocksDB).
    #[arg(long, env = "METAD_DATA_DIR", default_value = "metad-data")]
    data_dir: PathBuf,
    /// Initialise a one-voter cluster if this node has no raft state yet
    /// (of --initial-members, when given).
    #[arg(long, env = "METAD_BOOTSTRAP", default_value_t = false)]
    bootstrap: bool,
    /// With --bootstrap: start a cluster of these voters at once, e.g.
    /// `1=meta1:8091,2=meta2:8091,3=meta3:8091` (this node among them, at
    /// its advertised address), instead of one voter and `sluice-ctl
    /// add-meta`. Give the same list to every node; only one bootstraps.
    #[arg(long, env = "METAD_INITIAL_MEMBERS")]
    initial_members: Option<String>,
    // --shared-secret, --shared-secret-file: every API call must carry it;
    // without one metad refuses to start unless --insecure-internal.
    #[command(flatten)]
    secret: settings::SecretArgs,
    /// Prefix of shard-group topic names (`<prefix>.shardgroup.<id>`).
    #[arg(long, env = "METAD_TOPIC_PREFIX", default_value = schemas::topics::DEFAULT_PREFIX)]
    topic_prefix: String,
    /// Replication factor of the `autogen` policy `CREATE DATABASE` makes.
    #[arg(long, env = "METAD_DEFAULT_REPLICATION_FACTOR", default_value_t = 1)]
    default_replication_factor: u32,
    /// Raft leader heartbeat interval, ms.
    #[arg(long, env = "METAD_HEARTBEAT_INTERVAL_MS", default_value_t = 100)]
    heartbeat_interval_ms: u64,
    /// Raft election timeout (minimum; maximum 1.5 times it), ms. A lost
    /// leader is replaced after 2.5 to 3 of these.
    #[arg(long, env = "METAD_ELECTION_TIMEOUT_MS", default_value_t = 1000)]
    election_timeout_ms: u64,
    /// Snapshot and compact the raft log every this many entries.
    #[arg(long, env = "METAD_SNAPSHOT_LOGS", default_value_t = 5000)]
    snapshot_logs: u64,
    /// A data node silent this long is marked unreachable, ms.
    #[arg(long, env = "METAD_DATA_NODE_TIMEOUT_MS", default_value_t = 10_000)]
    data_node_timeout_ms: u64,
    /// How often the leader marks expired shard groups deleted, ms.
    #[arg(
        long,
        env = "METAD_RETENTION_CHECK_INTERVAL_MS",
        default_value_t = 30_000
    )]
    retention_check_interval_ms: u64,
    /// Give the shards of a data node unreachable this long (e.g. `10m`)
    /// to the other nodes, which replay them from Kafka [default: never].
    #[arg(long, env = "METAD_REASSIGN_AFTER", value_parser = humantime::parse_duration)]
    reassign_after: Option<Duration>,
    // --log-filter (alias --log; METAD_LOG is read after SLUICE_LOG_FILTER).
    #[command(flatten)]
    logging: settings::LoggingArgs,
}

/// Whether `id` was left at its default (so the config file may set it).
fn defaulted(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        None | Some(ValueSource::DefaultValue)
    )
}

/// Layers the file's values under the flags given (or their variables),
/// over clap's defaults.
macro_rules! layer {
    ($args:ident, $file:ident, $matches:ident, $($field:ident),+ $(,)?) => {
        $(let given = (!defaulted(&$matches, stringify!($field))).then(|| $args.$field.clone());
        if let Some(v) = settings::layer(given, $file.$field.clone()) {
            $args.$field = v;
        })+
    };
}

/// The node's settings and its log filter.
fn load() -> anyhow::Result<(NodeConfig, String)> {
    let matches = Args::command().get_matches();
    let mut args = Args::from_arg_matches(&matches)?;
    let file: FileConfig = settings::load_file(args.config.as_deref())?;
    layer!(
        args,
        file,
        matches,
        node_id,
        listen,
        data_dir,
        bootstrap,
        topic_prefix,
        default_replication_factor,
        heartbeat_interval_ms,
        election_timeout_ms,
        snapshot_logs,
        data_node_timeout_ms,
        retention_check_interval_ms,
    );
    args.advertise = settings::layer(args.advertise.take(), file.advertise.clone());
    let initial_members =
        settings::layer(args.initial_members.take(), file.initial_members.clone());
    let log_filter = args.logging.clone().resolve(
        file.logging.clone(),
        Some("METAD_LOG"),
        settings::defaults::LOG_FILTER,
    )?;
    let mut config = NodeConfig::new(args.node_id, args.listen, args.data_dir.clone());
    if let Some(advertise) = &args.advertise {
        config.advertise.clone_from(advertise);
    }
    config.bootstrap = args.bootstrap;
    if let Some(members) = &initial_members {
        config.initial_members = metad::config::parse_members(members)?;
    }
    config.shared_secret = args.secret.clone().require(file.secret.clone())?;
    config.topic_prefix.clone_from(&args.topic_prefix);
    config.default_replication_factor = args.default_replication_factor;
    config.heartbeat_interval = Duration::from_millis(args.heartbeat_interval_ms);
    config.election_timeout = Duration::from_millis(args.election_timeout_ms);
    config.snapshot_logs = args.snapshot_logs;
    config.data_node_timeout = Duration::from_millis(args.data_node_timeout_ms);
    config.retention_check_interval = Duration::from_millis(args.retention_check_interval_ms);
    let file_reassign = file
        .reassign_after
        .as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .with_context(|| format!("reassign_after = {t:?} is not a duration"))
        })
        .transpose()?;
    config.reassign_after = settings::layer(args.reassign_after, file_reassign);
    config.validate()?;
    Ok((config, log_filter))
}

fn main() -> anyhow::Result<()> {
    settings::runtime()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let (config, log_filter) = load()?;
    settings::init_tracing(&log_filter)?;
    let stop = async {
        shutdown::signal().await;
        tracing::info!("shutting down");
        shutdown::exit_if_stuck(shutdown::GRACE);
    };
    MetaNode::run(config, stop).await?;
    Ok(())
}

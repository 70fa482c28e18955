//! `sluice-ctl`: the operator CLI (an `influxd-ctl` equivalent).

#[path = "ctl/backup.rs"]
mod backup;
#[path = "ctl/owners.rs"]
mod owners;
#[path = "ctl/replicas.rs"]
mod replicas;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use meta_client::{Config, MetaClient};
use schemas::meta::{MetaData, NodeId, NodeState, HOUR_NS};
use schemas::meta_api::{ClusterStatus, ReplicaStatus, RetentionPolicySpec};
use serde::Serialize;

/// Operate a Sluice cluster through metad.
#[derive(Debug, Parser)]
#[command(name = "sluice-ctl", version)]
struct Cli {
    /// metad addresses, `host:port[,host:port...]`; any node will do.
    #[arg(
        long,
        env = "SLUICE_METAD",
        default_value = settings::defaults::META_ADDR,
        global = true
    )]
    metad: String,
    /// Shared secret of the cluster (the daemons' --shared-secret); empty
    /// means none [default: none].
    #[arg(
        long,
        env = "SLUICE_SHARED_SECRET",
        hide_env_values = true,
        global = true
    )]
    shared_secret: Option<String>,
    /// File holding the shared secret, e.g. the all-in-one's
    /// `sluice-data/cluster-secret`.
    #[arg(long, env = "SLUICE_SHARED_SECRET_FILE", global = true)]
    shared_secret_file: Option<std::path::PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, env = "SLUICE_CTL_JSON", default_value_t = false, global = true)]
    json: bool,
    /// Give up after this many seconds without an answer.
    #[arg(
        long,
        env = "SLUICE_CTL_TIMEOUT_S",
        default_value_t = 10,
        global = true
    )]
    timeout_s: u64,
    // --log-filter (before the subcommand)
    #[command(flatten)]
    logging: settings::LoggingArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Meta nodes (with the leader) and data nodes (with their state).
    Show,
    /// Every shard with its group, time range, owners and their progress.
    ShowShards {
        /// Include shards of deleted groups.
        #[arg(long, default_value_t = false)]
        all: bool,
    },
    /// Succeed when URL answers 2xx (e.g. a daemon's /health), fail with
    /// its answer otherwise: a health check for containers, whose images
    /// have no curl. Needs no metad.
    Probe {
        /// The URL to GET, e.g. `http://127.0.0.1:8086/health`.
        url: String,
    },
    /// Register a data node ahead of its first start.
    AddData {
        /// Its public HTTP address (`host:port`).
        http_addr: String,
        /// Its internal address (`host:port`), which identifies it.
        internal_addr: String,
    },
    /// Remove a data node: first each of its shards gets another owner
    /// (the alive node with the fewest shards that does not own it yet),
    /// which replays the shard's partition; once every new owner has caught
    /// up the node stops owning them and is removed. Shows progress.
    RemoveData {
        /// Data node id.
        id: NodeId,
        /// Remove it at once, without reassigning its shards (they lose
        /// that replica; a shard it alone owns keeps it as a dangling
        /// owner until copied elsewhere).
        #[arg(long, default_value_t = false)]
        force: bool,
    },
    /// Add an owner to a shard: the node replays the shard's Kafka
    /// partition from its earliest offset and answers queries once it has
    /// caught up. Shows progress (offset/high watermark, values/s, ETA)
    /// until then. Also how to repair a shard `show-shards` flags as
    /// under-replicated.
    CopyShard {
        /// Shard id (see `show-shards`).
        shard: u64,
        /// The data node to become an owner.
        #[arg(long)]
        to: NodeId,
    },
    /// Drop an owner of a shard; the node deletes its replica. Refused if
    /// the shard would be left with fewer owners than its replication
    /// factor, or with no other owner reporting a healthy replica.
    RemoveShard {
        /// Shard id.
        shard: u64,
        /// The owner to drop.
        #[arg(long)]
        from: NodeId,
        /// Drop it even so (never the last owner).
        #[arg(long, default_value_t = false)]
        force: bool,
    },
    /// Move a shard's replica from one node to another: copy-shard to the
    /// new node, wait until it has caught up, then remove-shard from the
    /// old one. Queries are answered throughout.
    MoveShard {
        /// Shard id.
        shard: u64,
        /// The owner to drop.
        #[arg(long)]
        from: NodeId,
        /// The data node to become an owner.
        #[arg(long)]
        to: NodeId,
    },
    /// Give every shard of a node to another node in its place (e.g. a
    /// dead node's shards to a fresh one): the new node replays them all,
    /// then the old node stops owning them. The old node stays registered
    /// (remove it with remove-data once it owns nothing).
    ReplaceNode {
        /// The node whose shards move.
        old: NodeId,
        /// The node that takes them.
        #[arg(long = "with")]
        new: NodeId,
        /// Also drop the old node from shards the new one already owns,
        /// leaving them under-replicated.
        #[arg(long, default_value_t = false)]
        force: bool,
    },
    /// Close every shard group still accepting writes; the next writes make
    /// new groups on today's data nodes.
    TruncateShards,
    /// Add a metad node to the raft cluster (learner, then voter).
    AddMeta {
        /// Its raft id (its `--node-id`).
        id: u64,
        /// Its address (`host:port`).
        addr: String,
    },
    /// Remove a metad node from the raft cluster.
    RemoveMeta {
        /// Its raft id.
        id: u64,
    },
    /// Create a database (and its default retention policy).
    CreateDatabase {
        /// Database name.
        name: String,
        /// Retention duration (`INF`, `1h`, `7d`, `2w`, ...).
        #[arg(long, default_value = "INF")]
        duration: String,
        /// Replication factor [default: metad's default].
        #[arg(long)]
        replication: Option<u32>,
        /// Shard-group duration [default: InfluxDB's for the retention duration].
        #[arg(long)]
        shard_duration: Option<String>,
        /// Name of the retention policy.
        #[arg(long, default_value = "autogen")]
        rp_name: String,
    },
    /// Drop a database and all its data.
    DropDatabase {
        /// Database name.
        name: String,
    },
    /// Compare the digests of every owner of a shard at a common offset
    /// (holds the owners, digests each at the largest applied offset among
    /// them, releases them); exits non-zero unless all agree.
    VerifyShard {
        /// Shard id.
        shard: u64,
        /// How long an owner may take to reach the common offset, seconds.
        #[arg(long, default_value_t = 60)]
        wait_s: u64,
    },
    /// Drop a node's replica of a shard and rebuild it: from the freshest
    /// healthy peer's snapshot plus the partition after its offset, or by
    /// replaying the partition from its earliest offset (`--replay`, or
    /// when no peer is healthy); shows progress until it has caught up.
    RebuildShard {
        /// Shard id.
        shard: u64,
        /// The data node whose replica is rebuilt.
        #[arg(long)]
        node: NodeId,
        /// Replay the whole partition instead of starting from a peer's
        /// snapshot (refused by the node when the log no longer starts at
        /// offset 0).
        #[arg(long, default_value_t = false)]
        replay: bool,
        /// Return once the rebuild is started instead of following it.
        #[arg(long, default_value_t = false)]
        no_wait: bool,
    },
    /// Set how long a retention policy's groups keep their records in
    /// Kafka once every owner of a shard has applied them durably (`INF`:
    /// keep everything, the default). Trimmed with DeleteRecords by the
    /// data node with the lowest id, every purge interval; a replica that
    /// needs deleted records later starts from a peer's snapshot.
    SetLogRetention {
        /// Database name.
        #[arg(long)]
        database: String,
        /// Retention policy [default: the database's default].
        #[arg(long)]
        rp: Option<String>,
        /// How long (`INF`, `1h`, `7d`, `2w`, ...).
        duration: String,
    },
    /// Back up databases into a directory: their meta data and a
    /// snapshot of each shard from its freshest healthy owner, taken once
    /// the owner has applied every record its partition held at that
    /// moment. A later backup into the same directory fetches only shards
    /// that changed since (the others keep their files). Shows progress.
    Backup {
        /// The backup directory (made if missing).
        #[arg(long = "to")]
        to: std::path::PathBuf,
        /// Only this database [default: all].
        #[arg(long)]
        database: Option<String>,
        /// Only this retention policy (with --database).
        #[arg(long, requires = "database")]
        rp: Option<String>,
        /// Only shard groups holding data at or after this time (RFC 3339,
        /// e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
    /// Restore a backup into this cluster: databases and policies are made
    /// where missing, each shard group is made again with owners among the
    /// alive data nodes, and every owner installs its shard's snapshot and
    /// then replays what the log still holds after it. Groups must not
    /// overlap the target's existing ones: restore into an empty cluster,
    /// or under a new database name.
    Restore {
        /// The backup directory.
        #[arg(long = "from")]
        from: std::path::PathBuf,
        /// Which backup (a file name under DIR/backups) [default: the newest].
        #[arg(long)]
        backup: Option<String>,
        /// Only this database of the backup [default: all].
        #[arg(long)]
        database: Option<String>,
        /// Restore --database under this name (on new topics).
        #[arg(long, requires = "database")]
        new_database: Option<String>,
        /// Only this retention policy.
        #[arg(long)]
        rp: Option<String>,
    },
    /// Continue a failed replica at an offset, skipping the records before
    /// it (e.g. past an undecodable record: its offset + 1).
    ResumeShard {
        /// Shard id.
        shard: u64,
        /// The data node whose replica is resumed.
        #[arg(long)]
        node: NodeId,
        /// The first offset to apply.
        #[arg(long)]
        from_offset: i64,
    },
}

/// Parses an InfluxQL-style duration into ns; `INF` and `0` are 0.
fn parse_duration(text: &str) -> anyhow::Result<u64> {
    if text.eq_ignore_ascii_case("inf") || text == "0" {
        return Ok(0);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .with_context(|| format!("duration {text:?} needs a unit (ns, u, ms, s, m, h, d, w)"))?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .with_context(|| format!("invalid duration {text:?}"))?;
    let unit_ns: u64 = match unit {
        "ns" => 1,
        "u" | "µ" | "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => HOUR_NS,
        "d" => 24 * HOUR_NS,
        "w" => 7 * 24 * HOUR_NS,
        _ => bail!("invalid duration unit in {text:?}"),
    };
    n.checked_mul(unit_ns)
        .with_context(|| format!("duration {text:?} too long"))
}

/// RFC 3339 UTC from Unix ns (Hinnant's civil-from-days).
fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// A left-aligned text table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out += &line(row.clone());
    }
    out
}

fn show(status: &ClusterStatus) -> String {
    let leader = status
        .leader
        .map_or_else(|| "none".to_owned(), |l| l.to_string());
    let mut out = format!("Meta nodes (leader {leader}, term {}):\n", status.term);
    let rows: Vec<Vec<String>> = status
        .members
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.addr.clone(),
                if status.leader == Some(m.id) {
                    "leader".into()
                } else if m.voter {
                    "voter".into()
                } else {
                    "learner".into()
                },
                m.matched_index
                    .map_or_else(|| "-".into(), |i| i.to_string()),
            ]
        })
        .collect();
    out += &table(&["ID", "ADDRESS", "ROLE", "LOG INDEX"], &rows);
    out += &format!("\nData nodes (meta version {}):\n", status.meta_version);
    let rows: Vec<Vec<String>> = status
        .data_nodes
        .values()
        .map(|d| {
            vec![
                d.node.id.to_string(),
                d.node.http_addr.clone(),
                d.node.internal_addr.clone(),
                match d.node.state {
                    NodeState::Alive => "alive".into(),
                    NodeState::Unreachable => "unreachable".into(),
                },
                d.last_heartbeat_ms_ago.map_or_else(
                    || "-".into(),
                    |ms| format!("{:.1}s ago", ms as f64 / 1000.0),
                ),
            ]
        })
        .collect();
    out += &table(
        &["ID", "HTTP", "INTERNAL", "STATE", "LAST HEARTBEAT"],
        &rows,
    );
    out
}

#[derive(Debug, Serialize)]
struct OwnerRow {
    node_id: NodeId,
    #[serde(flatten)]
    replica: Option<ReplicaStatus>,
}

#[derive(Debug, Serialize)]
struct ShardRow {
    id: u64,
    database: String,
    retention_policy: String,
    shard_group: u64,
    index: u32,
    start_ns: i64,
    end_ns: i64,
    truncated_at_ns: Option<i64>,
    deleted_at_ns: Option<i64>,
    topic: String,
    /// Owners its policy asks for.
    replication_factor: u32,
    /// Fewer owners than that (its group was made while nodes were down,
    /// or an owner was removed by force): `copy-shard` repairs it.
    under_replicated: bool,
    owners: Vec<OwnerRow>,
}

fn shard_rows(meta: &MetaData, status: &ClusterStatus, all: bool) -> Vec<ShardRow> {
    let replica = |node: NodeId, shard: u64| {
        status
            .data_nodes
            .get(&node)
            .and_then(|d| d.replicas.iter().find(|r| r.shard_id == shard))
            .cloned()
    };
    let groups = meta
        .databases
        .values()
        .flat_map(|db| db.retention_policies.values())
        .flat_map(|rp| rp.shard_groups.values())
        .chain(meta.dropped_shard_groups.values())
        .filter(|g| all || g.deleted_at_ns.is_none());
    let mut rows: Vec<ShardRow> = groups
        .flat_map(|g| {
            let rf = meta
                .retention_policy(&g.database, Some(&g.retention_policy))
                .map_or(0, |rp| rp.replication_factor);
            g.shards.iter().map(move |s| ShardRow {
                id: s.id,
                database: g.database.clone(),
                retention_policy: g.retention_policy.clone(),
                shard_group: g.id,
                index: s.index,
                start_ns: g.start_ns,
                end_ns: g.end_ns,
                truncated_at_ns: g.truncated_at_ns,
                deleted_at_ns: g.deleted_at_ns,
                topic: g.topic.clone(),
                replication_factor: rf,
                under_replicated: s.owners.len() < rf as usize,
                owners: s
                    .owners
                    .iter()
                    .map(|&node_id| OwnerRow {
                        node_id,
                        replica: replica(node_id, s.id),
                    })
                    .collect(),
            })
        })
        .collect();
    rows.sort_by_key(|r| r.id);
    rows
}

fn show_shards(rows: &[ShardRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let owners: Vec<String> = r
                .owners
                .iter()
                .map(|o| match &o.replica {
                    Some(rep) => format!(
                        "{} ({}/{} lag {}, {}{})",
                        o.node_id,
                        rep.applied_offset,
                        rep.high_watermark,
                        (rep.high_watermark - rep.applied_offset).max(0),
                        rep.state,
                        match rep.points_dropped {
                            0 => String::new(),
                            n => format!(", {n} points dropped"),
                        }
                    ),
                    None => o.node_id.to_string(),
                })
                .collect();
            vec![
                r.id.to_string(),
                r.database.clone(),
                r.retention_policy.clone(),
                r.shard_group.to_string(),
                r.index.to_string(),
                rfc3339(r.start_ns),
                rfc3339(r.end_ns),
                r.truncated_at_ns.map_or_else(|| "-".into(), rfc3339),
                format!(
                    "{}/{}{}",
                    r.owners.len(),
                    r.replication_factor,
                    if r.under_replicated {
                        " UNDER-REPLICATED"
                    } else {
                        ""
                    }
                ),
                owners.join(", "),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "DATABASE",
            "RP",
            "GROUP",
            "INDEX",
            "START",
            "END",
            "TRUNCATED",
            "REPLICAS",
            "OWNERS (offset/high watermark)",
        ],
        &cells,
    )
}

fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", human());
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::from_list(&cli.metad);
    config.shared_secret = cli.shared_secret.clone();
    config.retry_for = Duration::from_secs(cli.timeout_s);
    config.request_timeout = Duration::from_secs(cli.timeout_s.max(1));
    let client = MetaClient::new(config)?;
    // The data nodes' internal API (replica and owner commands).
    let api = node_client::NodeClient::new(
        cli.shared_secret.clone(),
        Duration::from_secs(cli.timeout_s),
    )?;
    match cli.command {
        Command::Show => {
            let status = client.status().await?;
            print(cli.json, &status, || show(&status))
        }
        Command::ShowShards { all } => {
            let meta = client.snapshot().await?;
            let status = client.status().await?;
            let rows = shard_rows(&meta, &status, all);
            print(cli.json, &rows, || show_shards(&rows))
        }
        Command::Probe { url } => {
            let answer = reqwest::Client::new()
                .get(&url)
                .timeout(Duration::from_secs(cli.timeout_s))
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = answer.status();
            let body = answer.text().await.unwrap_or_default();
            if !status.is_success() {
                bail!("GET {url}: {status}: {}", body.trim());
            }
            Ok(())
        }
        Command::AddData {
            http_addr,
            internal_addr,
        } => {
            let node = client
                .register_data_node(&http_addr, &internal_addr, None)
                .await?;
            print(cli.json, &node, || format!("added data node {}\n", node.id))
        }
        Command::RemoveData { id, force } => {
            if !force {
                let steps = owners::drain(&client.snapshot_linearizable().await?, id)?;
                owners::execute(&client, &api, &steps, false, cli.json).await?;
            }
            let version = client.remove_data_node(id, force).await?;
            print(cli.json, &serde_json::json!({ "version": version }), || {
                format!("removed data node {id}\n")
            })
        }
        Command::CopyShard { shard, to } => {
            let steps = owners::copy(&client.snapshot_linearizable().await?, shard, to)?;
            change_owners(&client, &api, &steps, false, cli.json).await
        }
        Command::RemoveShard { shard, from, force } => {
            let steps = owners::remove(&client.snapshot_linearizable().await?, shard, from)?;
            change_owners(&client, &api, &steps, force, cli.json).await
        }
        Command::MoveShard { shard, from, to } => {
            let steps =
                owners::move_shard(&client.snapshot_linearizable().await?, shard, from, to)?;
            change_owners(&client, &api, &steps, false, cli.json).await
        }
        Command::ReplaceNode { old, new, force } => {
            let steps = owners::replace(&client.snapshot_linearizable().await?, old, new)?;
            change_owners(&client, &api, &steps, force, cli.json).await
        }
        Command::TruncateShards => {
            let ids = client.truncate_shards().await?;
            print(cli.json, &ids, || {
                format!("truncated {} shard group(s): {ids:?}\n", ids.len())
            })
        }
        Command::AddMeta { id, addr } => {
            let status = client.add_meta(id, &addr).await?;
            print(cli.json, &status, || show(&status))
        }
        Command::RemoveMeta { id } => {
            let status = client.remove_meta(id).await?;
            print(cli.json, &status, || show(&status))
        }
        Command::CreateDatabase {
            name,
            duration,
            replication,
            shard_duration,
            rp_name,
        } => {
            let duration_ns = parse_duration(&duration)?;
            let shard_group_duration_ns =
                shard_duration.as_deref().map(parse_duration).transpose()?;
            let custom = replication.is_some()
                || duration_ns != 0
                || shard_group_duration_ns.is_some()
                || rp_name != schemas::meta::DEFAULT_RETENTION_POLICY;
            // Without settings metad applies its own default replication factor.
            let spec = custom.then(|| RetentionPolicySpec {
                name: rp_name,
                duration_ns,
                shard_group_duration_ns,
                replication_factor: replication.unwrap_or(1),
                shard_count: None,
            });
            let version = client.create_database(&name, spec).await?;
            print(cli.json, &serde_json::json!({ "version": version }), || {
                format!("created database {name}\n")
            })
        }
        Command::DropDatabase { name } => {
            let version = client.drop_database(&name).await?;
            print(cli.json, &serde_json::json!({ "version": version }), || {
                format!("dropped database {name}\n")
            })
        }
        Command::VerifyShard { shard, wait_s } => {
            let wait = Duration::from_secs(wait_s);
            let api = node_client::NodeClient::new(
                cli.shared_secret.clone(),
                wait + Duration::from_secs(cli.timeout_s),
            )?;
            let v = replicas::verify(&client, &api, shard, wait).await?;
            print(cli.json, &v, || replicas::verification_table(&v))?;
            if !v.consistent {
                bail!("shard {shard}: owners differ or could not be compared");
            }
            Ok(())
        }
        Command::RebuildShard {
            shard,
            node,
            replay,
            no_wait,
        } => {
            let s =
                replicas::rebuild(&client, &api, shard, node, replay, !no_wait, cli.json).await?;
            print(cli.json, &s, || replicas::status_line(&s))
        }
        Command::SetLogRetention {
            database,
            rp,
            duration,
        } => {
            let ns = parse_duration(&duration)?;
            let meta = client.snapshot().await?;
            let db = meta
                .database(&database)
                .with_context(|| format!("database {database:?} not found"))?;
            let rp = rp
                .or_else(|| db.default_retention_policy.clone())
                .with_context(|| {
                    format!("database {database:?} has no default policy: name one")
                })?;
            client
                .apply(&schemas::meta_api::MetaCommand::SetLogRetention {
                    database: database.clone(),
                    retention_policy: rp.clone(),
                    log_retention_ns: (ns > 0).then_some(ns),
                })
                .await?;
            print(
                cli.json,
                &serde_json::json!({ "log_retention_ns": ns }),
                || format!("log retention of {database}.{rp}: {duration}\n"),
            )
        }
        Command::Backup {
            to,
            database,
            rp,
            since,
        } => {
            let since_ns = since
                .map(|t| {
                    humantime::parse_rfc3339_weak(&t)
                        .with_context(|| format!("--since {t:?} is not an RFC 3339 time"))?
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as i64)
                        .with_context(|| format!("--since {t:?} is before 1970"))
                })
                .transpose()?;
            let selection = backup::Selection {
                database,
                retention_policy: rp,
                since_ns,
            };
            let (path, manifest) = backup::backup(&client, &api, &to, &selection, cli.json).await?;
            print(cli.json, &manifest, || {
                backup::backup_line(&path, &manifest)
            })
        }
        Command::Restore {
            from,
            backup: name,
            database,
            new_database,
            rp,
        } => {
            let (path, manifest) = backup::load_manifest(&from, name.as_deref())?;
            let options = backup::RestoreOptions {
                database,
                new_database,
                retention_policy: rp,
            };
            let groups =
                backup::restore(&client, &api, &from, &manifest, &options, cli.json).await?;
            print(cli.json, &groups, || {
                format!(
                    "restored {} shard group(s) from {}\n",
                    groups.len(),
                    path.display()
                )
            })
        }
        Command::ResumeShard {
            shard,
            node,
            from_offset,
        } => {
            let s = replicas::resume(&client, &api, shard, node, from_offset).await?;
            print(cli.json, &s, || replicas::status_line(&s))
        }
    }
}

async fn change_owners(
    client: &MetaClient,
    api: &node_client::NodeClient,
    steps: &[schemas::meta_api::OwnerChange],
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let done = owners::execute(client, api, steps, force, json).await?;
    print(json, &done, || owners::outcome_table(&done))
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // The same rules as the daemons', but none at all is fine here: the
    // cluster says 401 if it wants one.
    let secret = settings::SecretArgs {
        shared_secret: cli.shared_secret.take(),
        shared_secret_file: cli.shared_secret_file.take(),
        insecure_internal: false,
    }
    .resolve(settings::SecretFile::default());
    cli.shared_secret = match secret {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let logging = cli.logging.clone().resolve(
        settings::LoggingFile::default(),
        None,
        settings::defaults::CTL_LOG_FILTER,
    );
    if let Err(e) = logging.and_then(|filter| settings::init_tracing(&filter)) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("INF").unwrap(), 0);
        assert_eq!(parse_duration("1h").unwrap(), HOUR_NS);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 24 * HOUR_NS);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_451_606_400_000_000_000), "2016-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1_000_000_000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
    }
}

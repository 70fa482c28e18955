//! `sluice-ctl backup` and `restore`: the meta data of the chosen databases
//! and a snapshot of each of their shards, in a directory.
//!
//! ```text
//!  DIR/shards/<shard>-<incarnation>-<offset>.snap
//!                                     one shard at one applied offset (the
//!                                     node API's snapshot stream, as is)
//!  DIR/backups/<UTC time>-<ns>.json   a manifest: databases, policies and
//!                                     continuous queries, and each group
//!                                     with its shards' files
//! ```
//!
//! **Incremental.** Snapshots are asked `caught_up`: the owner first
//! applies every record its partition holds at that moment, so a write
//! acknowledged before the backup started is in it. The newest earlier
//! manifest's file of the shard goes with the request (`unless`): if the
//! caught-up replica is still at that file's incarnation and offset, the
//! owner answers 304 and the new manifest names the file that is there.
//! The incarnation (drawn when a shard is made, and again when a restore
//! starts its log over) keeps a restored cluster, whose shard ids and
//! offsets start over, from matching another history's file. Groups no
//! longer written (every group but the newest in a time-series database)
//! cost one call each per backup.
//!
//! **Restore.** Databases and policies are made where missing; each group
//! is made again (`RestoreShardGroup`: new ids, owners among today's alive
//! nodes) on its old topic, or a new one when restoring under a new
//! database name (or when the old topic is still another group's); then
//! every owner installs its shard's file (`PUT .../snapshot?log=continue`,
//! or `log=new` on a new topic). Where the log still holds records after a
//! file's offset, the replica replays them; where the topic is new, it
//! starts at its beginning. A group restored before (same policy, range
//! and shard count) is reused, so a restore that stopped halfway can be
//! run again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meta_client::MetaClient;
use node_client::NodeClient;
use schemas::meta::{
    ContinuousQuery, DataNode, GroupFieldTypes, MetaData, NodeId, ShardGroup, ShardGroupId, ShardId,
};
use schemas::meta_api::{CommandError, CommandOutput, MetaCommand, RetentionPolicySpec};
use schemas::node_api::{InstallLog, ReplicaState, SnapshotHeader};
use serde::{Deserialize, Serialize};

use crate::replicas::{at, follow};

/// What to back up.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only this database.
    pub database: Option<String>,
    /// Only this retention policy (of `database`).
    pub retention_policy: Option<String>,
    /// Only groups holding time at or after this (ns).
    pub since_ns: Option<i64>,
}

/// One backup's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// When the backup started, Unix ns.
    pub started_ns: i64,
    /// The meta data version it was taken at.
    pub meta_version: u64,
    /// The databases, their policies and continuous queries.
    pub databases: Vec<DatabaseEntry>,
    /// The groups backed up.
    pub groups: Vec<GroupEntry>,
}

/// A database as a backup keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseEntry {
    /// Name.
    pub name: String,
    /// The default policy's name.
    pub default_retention_policy: Option<String>,
    /// Its policies (without their groups).
    pub retention_policies: Vec<RetentionPolicySpec>,
    /// Its continuous queries.
    pub continuous_queries: BTreeMap<String, ContinuousQuery>,
    /// The log retention of its policies that have one, ns.
    #[serde(default)]
    pub log_retention_ns: BTreeMap<String, u64>,
}

/// A shard group as a backup keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupEntry {
    /// Its id in the backed-up cluster.
    pub id: ShardGroupId,
    /// Database.
    pub database: String,
    /// Policy.
    pub retention_policy: String,
    /// Inclusive start, ns.
    pub start_ns: i64,
    /// Exclusive end, ns.
    pub end_ns: i64,
    /// As the group had it.
    pub truncated_at_ns: Option<i64>,
    /// Its topic.
    pub topic: String,
    /// Its field types.
    pub field_types: GroupFieldTypes,
    /// Its shards, by index.
    pub shards: Vec<ShardEntry>,
}

/// A shard's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Its id in the backed-up cluster.
    pub id: ShardId,
    /// Its index (partition).
    pub index: u32,
    /// The data node it was taken from (a later backup asks it first: its
    /// replica's incarnation is the file's).
    #[serde(default)]
    pub node: NodeId,
    /// The file under `shards/`.
    pub file: String,
    /// The snapshot's incarnation (see `schemas::node_api::SnapshotHeader`).
    pub incarnation: u64,
    /// The applied offset of the snapshot.
    pub offset: Option<i64>,
    /// Bytes of the file.
    pub bytes: u64,
    /// Fetched by this backup (else kept from an earlier one).
    pub fetched: bool,
}

fn shard_file(id: ShardId, header: &SnapshotHeader) -> String {
    let incarnation = header.incarnation;
    match header.applied_offset {
        Some(o) => format!("{id}-{incarnation:016x}-{o}.snap"),
        None => format!("{id}-{incarnation:016x}-none.snap"),
    }
}

fn bytes_bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
    } else {
        ProgressBar::new(len)
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:30}}] {{pos}}/{{len}} shards {{msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// How long a backup waits for a shard to have a healthy owner (a group
/// just made, a replica rebuilding).
const HEALTHY_WITHIN: Duration = Duration::from_secs(60);

/// The owner of `shard` to back up from: `prefer` (the node an earlier
/// file came from) if it is healthy, since the snapshot is asked caught up
/// anyway and only its replica can match that file's incarnation; else the
/// healthy owner with the highest applied offset. Waits up to
/// [`HEALTHY_WITHIN`] for one (a group just made, a replica rebuilding).
async fn freshest_owner(
    api: &NodeClient,
    meta: &MetaData,
    owners: &[u64],
    shard: ShardId,
    prefer: Option<NodeId>,
) -> anyhow::Result<DataNode> {
    let started = Instant::now();
    loop {
        let mut best: Option<(Option<i64>, DataNode)> = None;
        let mut why = Vec::new();
        for id in owners {
            let Some(node) = meta.data_nodes.get(id) else {
                continue;
            };
            match api.status(&node.internal_addr, shard).await {
                Ok(s) if s.state == ReplicaState::Healthy => {
                    if prefer == Some(*id) {
                        return Ok(node.clone());
                    }
                    if best.as_ref().is_none_or(|(o, _)| s.applied_offset > *o) {
                        best = Some((s.applied_offset, node.clone()));
                    }
                }
                Ok(s) => why.push(format!("node {id}: {}", s.state)),
                Err(e) => why.push(format!("node {id}: {e}")),
            }
        }
        if let Some((_, node)) = best {
            return Ok(node);
        }
        if started.elapsed() > HEALTHY_WITHIN {
            bail!(
                "shard {shard} has had no healthy owner for {HEALTHY_WITHIN:?} ({})",
                why.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes a backup of `selection` into `dir`; returns its manifest.
pub async fn backup(
    client: &MetaClient,
    api: &NodeClient,
    dir: &Path,
    selection: &Selection,
    quiet: bool,
) -> anyhow::Result<(PathBuf, Manifest)> {
    let started_ns = now_ns();
    let meta = client.snapshot_linearizable().await?;
    let databases: Vec<DatabaseEntry> = meta
        .databases
        .values()
        .filter(|d| selection.database.as_ref().is_none_or(|n| *n == d.name))
        .map(|d| DatabaseEntry {
            name: d.name.clone(),
            default_retention_policy: d.default_retention_policy.clone(),
            retention_policies: d
                .retention_policies
                .values()
                .map(|rp| RetentionPolicySpec {
                    name: rp.name.clone(),
                    duration_ns: rp.duration_ns,
                    shard_group_duration_ns: Some(rp.shard_group_duration_ns),
                    replication_factor: rp.replication_factor,
                    shard_count: rp.shard_count,
                })
                .collect(),
            continuous_queries: d.continuous_queries.clone(),
            log_retention_ns: d
                .retention_policies
                .values()
                .filter_map(|rp| Some((rp.name.clone(), rp.log_retention_ns?)))
                .collect(),
        })
        .collect();
    if let Some(name) = &selection.database {
        if databases.is_empty() {
            bail!("database {name:?} not found");
        }
    }
    let groups: Vec<&ShardGroup> = meta
        .shard_groups()
        .filter(|g| databases.iter().any(|d| d.name == g.database))
        .filter(|g| {
            selection
                .retention_policy
                .as_ref()
                .is_none_or(|rp| *rp == g.retention_policy)
        })
        .filter(|g| selection.since_ns.is_none_or(|t| g.end_ns > t))
        .collect();
    let shards_dir = dir.join("shards");
    tokio::fs::create_dir_all(&shards_dir)
        .await
        .with_context(|| format!("creating {}", shards_dir.display()))?;
    tokio::fs::create_dir_all(dir.join("backups")).await?;
    // The files of the newest earlier backup, by shard id.
    let earlier: BTreeMap<ShardId, ShardEntry> = match load_manifest(dir, None) {
        Ok((_, m)) => m
            .groups
            .into_iter()
            .flat_map(|g| g.shards)
            .filter(|s| shards_dir.join(&s.file).is_file())
            .map(|s| (s.id, s))
            .collect(),
        Err(_) => BTreeMap::new(),
    };
    let total: usize = groups.iter().map(|g| g.shards.len()).sum();
    let bar = bytes_bar(quiet, total as u64, "backup");
    let (mut fetched_bytes, mut kept) = (0u64, 0usize);
    let mut entries = Vec::new();
    for g in groups {
        let mut shards = Vec::new();
        for s in &g.shards {
            let known = earlier.get(&s.id);
            let node = freshest_owner(api, &meta, &s.owners, s.id, known.map(|k| k.node)).await?;
            bar.set_message(format!("shard {} from node {}", s.id, node.id));
            let entry = match fetch(api, &node, s.id, &shards_dir, known).await? {
                None => {
                    kept += 1;
                    ShardEntry {
                        index: s.index,
                        fetched: false,
                        ..known.expect("asked with an earlier file").clone()
                    }
                }
                Some((file, header, bytes)) => {
                    fetched_bytes += bytes;
                    ShardEntry {
                        id: s.id,
                        index: s.index,
                        node: node.id,
                        file,
                        incarnation: header.incarnation,
                        offset: header.applied_offset,
                        bytes,
                        fetched: true,
                    }
                }
            };
            shards.push(entry);
            bar.inc(1);
        }
        entries.push(GroupEntry {
            id: g.id,
            database: g.database.clone(),
            retention_policy: g.retention_policy.clone(),
            start_ns: g.start_ns,
            end_ns: g.end_ns,
            truncated_at_ns: g.truncated_at_ns,
            topic: g.topic.clone(),
            field_types: meta.field_types.get(&g.id).cloned().unwrap_or_default(),
            shards,
        });
    }
    bar.finish_with_message(format!(
        "done: {:.1} MB fetched, {kept} shard(s) unchanged since an earlier backup",
        fetched_bytes as f64 / 1e6
    ));
    let manifest = Manifest {
        started_ns,
        meta_version: meta.version,
        databases,
        groups: entries,
    };
    let name = dir.join("backups").join(format!(
        "{}-{:09}.json",
        crate::rfc3339(started_ns).replace(':', ""),
        started_ns.rem_euclid(1_000_000_000)
    ));
    let tmp = name.with_extension("json.tmp");
    tokio::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?).await?;
    tokio::fs::rename(&tmp, &name).await?;
    Ok((name, manifest))
}

/// Downloads a caught-up snapshot of `shard` into `dir`, named by its
/// incarnation and offset; `None` when the owner says `known` is it.
async fn fetch(
    api: &NodeClient,
    node: &DataNode,
    shard: ShardId,
    dir: &Path,
    known: Option<&ShardEntry>,
) -> anyhow::Result<Option<(String, SnapshotHeader, u64)>> {
    let unless = known.map(|k| (k.incarnation, k.offset));
    let Some(mut reader) = api
        .snapshot(&node.internal_addr, shard, true, unless)
        .await
        .with_context(at(node))?
    else {
        return Ok(None);
    };
    let tmp = dir.join(format!("{shard}.part"));
    let mut out = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("creating {}", tmp.display()))?;
    let bytes = tokio::io::copy(&mut reader, &mut out)
        .await
        .with_context(|| format!("fetching shard {shard} from node {}", node.id))?;
    out.sync_all().await?;
    drop(out);
    let mut head = [0u8; SnapshotHeader::LEN];
    {
        use tokio::io::AsyncReadExt as _;
        tokio::fs::File::open(&tmp)
            .await?
            .read_exact(&mut head)
            .await?;
    }
    let header = SnapshotHeader::decode(&head)
        .with_context(|| format!("shard {shard} from node {}", node.id))?;
    let file = shard_file(shard, &header);
    tokio::fs::rename(&tmp, dir.join(&file)).await?;
    Ok(Some((file, header, bytes)))
}

/// The manifest `name` in `dir` (a file name under `backups/`), or the
/// newest.
pub fn load_manifest(dir: &Path, name: Option<&str>) -> anyhow::Result<(PathBuf, Manifest)> {
    let backups = dir.join("backups");
    let path = match name {
        Some(n) => backups.join(n),
        None => {
            let mut all: Vec<PathBuf> = std::fs::read_dir(&backups)
                .with_context(|| format!("{} is not a backup directory", dir.display()))?
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            all.sort();
            all.pop()
                .ok_or_else(|| anyhow!("no backup in {}", backups.display()))?
        }
    };
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    Ok((path, manifest))
}

/// What a restore does with names.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Only this database of the backup.
    pub database: Option<String>,
    /// Restore it under this name (needs `database`).
    pub new_database: Option<String>,
    /// Only this policy.
    pub retention_policy: Option<String>,
}

/// Restores `manifest` from `dir`; returns the groups made.
pub async fn restore(
    client: &MetaClient,
    api: &NodeClient,
    dir: &Path,
    manifest: &Manifest,
    options: &RestoreOptions,
    quiet: bool,
) -> anyhow::Result<Vec<ShardGroup>> {
    if options.new_database.is_some() && options.database.is_none() {
        bail!("--new-database needs --database: which database of the backup to restore");
    }
    let databases: Vec<&DatabaseEntry> = manifest
        .databases
        .iter()
        .filter(|d| options.database.as_ref().is_none_or(|n| *n == d.name))
        .collect();
    if databases.is_empty() {
        bail!("the backup holds no such database");
    }
    let rename = |name: &str| -> String {
        options
            .new_database
            .clone()
            .unwrap_or_else(|| name.to_owned())
    };
    let meta = client.snapshot_linearizable().await?;
    for d in &databases {
        let target = rename(&d.name);
        let existing = meta.databases.get(&target);
        let policies: Vec<&RetentionPolicySpec> = d
            .retention_policies
            .iter()
            .filter(|rp| {
                options
                    .retention_policy
                    .as_ref()
                    .is_none_or(|n| *n == rp.name)
            })
            .collect();
        let is_default = |rp: &RetentionPolicySpec| {
            d.default_retention_policy.as_deref() == Some(rp.name.as_str())
        };
        if existing.is_none() {
            // Made with its default policy (or the first restored one), so
            // no `autogen` appears that the backup did not have.
            let first = policies
                .iter()
                .find(|rp| is_default(rp))
                .or(policies.first())
                .map(|rp| (*rp).clone());
            client
                .create_database(&target, first)
                .await
                .with_context(|| format!("creating database {target:?}"))?;
        }
        let now = client.snapshot_linearizable().await?;
        for rp in policies {
            let has = now
                .databases
                .get(&target)
                .is_some_and(|db| db.retention_policies.contains_key(&rp.name));
            if !has {
                let cmd = MetaCommand::CreateRetentionPolicy {
                    database: target.clone(),
                    spec: rp.clone(),
                    make_default: is_default(rp),
                };
                client.apply(&cmd).await.with_context(|| {
                    format!("creating policy {:?} of database {target:?}", rp.name)
                })?;
            }
            if let Some(ns) = d.log_retention_ns.get(&rp.name) {
                let cmd = MetaCommand::SetLogRetention {
                    database: target.clone(),
                    retention_policy: rp.name.clone(),
                    log_retention_ns: Some(*ns),
                };
                client.apply(&cmd).await?;
            }
        }
        if options.new_database.is_none() && existing.is_none() {
            for (name, cq) in &d.continuous_queries {
                let cmd = MetaCommand::CreateContinuousQuery {
                    database: target.clone(),
                    name: name.clone(),
                    query: cq.query.clone(),
                    created_by: cq.created_by.clone(),
                };
                client
                    .apply(&cmd)
                    .await
                    .with_context(|| format!("creating continuous query {name:?}"))?;
            }
        }
    }

    // The groups, on their old topics unless renamed.
    let mut made: Vec<(ShardGroup, &GroupEntry, InstallLog)> = Vec::new();
    let now = client.snapshot_linearizable().await?;
    for g in manifest
        .groups
        .iter()
        .filter(|g| databases.iter().any(|d| d.name == g.database))
        .filter(|g| {
            options
                .retention_policy
                .as_ref()
                .is_none_or(|n| *n == g.retention_policy)
        })
    {
        let database = rename(&g.database);
        // Made by an earlier run of this restore that stopped halfway.
        let earlier = now.shard_groups().find(|e| {
            e.database == database
                && e.retention_policy == g.retention_policy
                && (e.start_ns, e.end_ns, e.shards.len()) == (g.start_ns, g.end_ns, g.shards.len())
        });
        if let Some(e) = earlier {
            let log = if e.topic == g.topic {
                InstallLog::Continue
            } else {
                InstallLog::New
            };
            made.push((e.clone(), g, log));
            continue;
        }
        let restore = |topic: Option<String>| MetaCommand::RestoreShardGroup {
            database: database.clone(),
            retention_policy: g.retention_policy.clone(),
            start_ns: g.start_ns,
            end_ns: g.end_ns,
            truncated_at_ns: g.truncated_at_ns,
            shard_count: g.shards.len() as u32,
            topic,
            field_types: g.field_types.clone(),
            alive_nodes: Vec::new(),
            topic_prefix: String::new(),
        };
        let keep_topic = options.new_database.is_none();
        let mut out = client
            .apply(&restore(keep_topic.then(|| g.topic.clone())))
            .await;
        let mut log = if keep_topic {
            InstallLog::Continue
        } else {
            InstallLog::New
        };
        let in_use = out
            .as_ref()
            .err()
            .and_then(|e| e.command_error())
            .is_some_and(|e| matches!(e, CommandError::TopicInUse(_)));
        if in_use {
            // Another group (a dropped one, still in its grace) has the
            // old topic: this one starts a log of its own.
            out = client.apply(&restore(None)).await;
            log = InstallLog::New;
        }
        let out = out.with_context(|| {
            format!(
                "restoring group {} of {}.{}",
                g.id, g.database, g.retention_policy
            )
        })?;
        match out {
            CommandOutput::ShardGroup { group, .. } => made.push((group, g, log)),
            other => bail!("metad answered {other:?} to a group restore"),
        }
    }

    // Every owner installs its shard's file.
    let meta = client.snapshot().await?;
    let installs: Vec<(ShardId, DataNode, PathBuf, InstallLog)> =
        made.iter()
            .flat_map(|(group, entry, log)| {
                group.shards.iter().flat_map(move |s| {
                    let file = dir
                        .join("shards")
                        .join(&entry.shards[s.index as usize].file);
                    s.owners.iter().map(move |o| (s.id, *o, file.clone(), *log))
                })
            })
            .map(|(shard, owner, file, log)| {
                let node =
                    meta.data_nodes.get(&owner).cloned().ok_or_else(|| {
                        anyhow!("owner {owner} of shard {shard} is not a data node")
                    })?;
                Ok((shard, node, file, log))
            })
            .collect::<anyhow::Result<_>>()?;
    let bar = bytes_bar(quiet, installs.len() as u64, "restore");
    for (shard, node, file, log) in &installs {
        bar.set_message(format!("shard {shard} on node {}", node.id));
        install_when_owned(api, node, *shard, file, *log).await?;
        bar.inc(1);
    }
    bar.finish_with_message("installed; waiting for the replicas to catch up".to_owned());
    follow(
        api,
        installs.into_iter().map(|(s, n, _, _)| (s, n)).collect(),
        quiet,
    )
    .await?;
    Ok(made.into_iter().map(|(g, _, _)| g).collect())
}

/// How long a new owner may take to start its replica of a restored group.
const OWNED_WITHIN: Duration = Duration::from_secs(60);

/// Installs `file` on `node` once the node has started its replica.
async fn install_when_owned(
    api: &NodeClient,
    node: &DataNode,
    shard: ShardId,
    file: &Path,
    log: InstallLog,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        match api.install(&node.internal_addr, shard, f, log).await {
            Ok(_) => return Ok(()),
            Err(node_client::Error::Status { status: 404, .. })
                if started.elapsed() < OWNED_WITHIN =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("installing {} on node {}", file.display(), node.id))
            }
        }
    }
}

/// A one-line report of a backup.
pub fn backup_line(path: &Path, m: &Manifest) -> String {
    let shards: Vec<&ShardEntry> = m.groups.iter().flat_map(|g| g.shards.iter()).collect();
    let fetched = shards.iter().filter(|s| s.fetched).count();
    let bytes: u64 = shards.iter().filter(|s| s.fetched).map(|s| s.bytes).sum();
    format!(
        "backup {}: {} database(s), {} group(s), {} shard(s) ({fetched} fetched, {:.1} MB; {} unchanged)\n",
        path.display(),
        m.databases.len(),
        m.groups.len(),
        shards.len(),
        bytes as f64 / 1e6,
        shards.len() - fetched
    )
}

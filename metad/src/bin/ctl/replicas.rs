//! Replica commands of `sluice-ctl`: they find a shard's owners in the meta
//! data and talk to the data nodes' internal API (`schemas::node_api`).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use meta_client::MetaClient;
use node_client::NodeClient;
use schemas::meta::{DataNode, MetaData, NodeId, ShardId};
use schemas::node_api::{HoldRequest, ReplicaState, ShardStatus};
use serde::Serialize;

/// Names the data node in an error of a call to it.
pub fn at(node: &DataNode) -> impl Fn() -> String + '_ {
    move || format!("data node {} at {}", node.id, node.internal_addr)
}

/// The data nodes owning `shard`, from the meta data.
pub fn owners(meta: &MetaData, shard: ShardId) -> anyhow::Result<Vec<DataNode>> {
    let s = meta
        .shard_groups()
        .flat_map(|g| g.shards.iter())
        .find(|s| s.id == shard)
        .ok_or_else(|| anyhow!("shard {shard} not found (or its group is deleted)"))?;
    s.owners
        .iter()
        .map(|id| {
            meta.data_nodes
                .get(id)
                .cloned()
                .ok_or_else(|| anyhow!("owner {id} of shard {shard} is not a known data node"))
        })
        .collect()
}

fn owner(meta: &MetaData, shard: ShardId, node: NodeId) -> anyhow::Result<DataNode> {
    owners(meta, shard)?
        .into_iter()
        .find(|n| n.id == node)
        .ok_or_else(|| anyhow!("data node {node} does not own shard {shard}"))
}

/// One owner's line of a verification.
#[derive(Debug, Serialize)]
pub struct VerifyRow {
    pub node_id: NodeId,
    pub internal_addr: String,
    pub applied_offset: Option<i64>,
    pub digest: Option<String>,
    pub error: Option<String>,
}

/// What `verify-shard` found.
#[derive(Debug, Serialize)]
pub struct Verification {
    pub shard_id: ShardId,
    /// The common offset the digests were taken at.
    pub offset: Option<i64>,
    pub owners: Vec<VerifyRow>,
    /// All owners answered and their digests are equal.
    pub consistent: bool,
}

/// Holds every owner, digests each at the largest applied offset among
/// them, releases the holds.
pub async fn verify(
    client: &MetaClient,
    api: &NodeClient,
    shard: ShardId,
    wait: Duration,
) -> anyhow::Result<Verification> {
    let meta = client.snapshot().await?;
    let nodes = owners(&meta, shard)?;
    let ttl_ms = (wait.as_millis() as u64).saturating_mul(2).max(60_000);
    let mut held: Vec<Result<ShardStatus, String>> = Vec::new();
    for n in &nodes {
        let hold = HoldRequest {
            offset: None,
            ttl_ms: Some(ttl_ms),
        };
        let r = api
            .hold(&n.internal_addr, shard, &hold)
            .await
            .with_context(at(n));
        held.push(r.map_err(|e| format!("{e:#}")));
    }
    let offset = held
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|s| s.applied_offset)
        .max();
    let mut rows = Vec::new();
    for (n, h) in nodes.iter().zip(&held) {
        let mut row = VerifyRow {
            node_id: n.id,
            internal_addr: n.internal_addr.clone(),
            applied_offset: None,
            digest: None,
            error: None,
        };
        if let Err(e) = h {
            row.error = Some(e.clone());
            rows.push(row);
            continue;
        }
        match api
            .digest(&n.internal_addr, shard, offset, wait.as_millis() as u64)
            .await
            .with_context(at(n))
        {
            Ok(d) => {
                row.applied_offset = d.applied_offset;
                row.digest = Some(d.digest);
            }
            Err(e) => row.error = Some(format!("{e:#}")),
        }
        rows.push(row);
    }
    for n in &nodes {
        let released = api
            .release(&n.internal_addr, shard)
            .await
            .with_context(at(n));
        if let Err(e) = released {
            eprintln!("warning: releasing the hold on node {}: {e:#}", n.id);
        }
    }
    let first = rows.first().and_then(|r| r.digest.clone());
    let consistent = !rows.is_empty()
        && rows
            .iter()
            .all(|r| r.error.is_none() && r.digest.is_some() && r.digest == first);
    Ok(Verification {
        shard_id: shard,
        offset,
        owners: rows,
        consistent,
    })
}

pub fn verification_table(v: &Verification) -> String {
    let first = v.owners.first().and_then(|r| r.digest.clone());
    let rows: Vec<Vec<String>> = v
        .owners
        .iter()
        .map(|r| {
            vec![
                r.node_id.to_string(),
                r.internal_addr.clone(),
                r.applied_offset
                    .map_or_else(|| "-".into(), |o| o.to_string()),
                r.digest.clone().unwrap_or_else(|| "-".into()),
                match (&r.error, &r.digest) {
                    (Some(e), _) => format!("error: {e}"),
                    (None, d) if *d == first => "ok".into(),
                    _ => "MISMATCH".into(),
                },
            ]
        })
        .collect();
    let mut out = format!(
        "shard {} at offset {}:\n",
        v.shard_id,
        v.offset
            .map_or_else(|| "- (empty)".into(), |o| o.to_string())
    );
    out += &crate::table(
        &["NODE", "INTERNAL", "APPLIED", "DIGEST (SHA-256)", "RESULT"],
        &rows,
    );
    out += if v.consistent {
        "all owners agree\n"
    } else {
        "owners DIFFER or could not be compared\n"
    };
    out
}

/// Asks `node` to rebuild its replica of `shard` (from a peer's snapshot
/// unless `replay`) and, with `wait`, shows
/// progress until it is healthy again.
pub async fn rebuild(
    client: &MetaClient,
    api: &NodeClient,
    shard: ShardId,
    node: NodeId,
    replay: bool,
    wait: bool,
    quiet: bool,
) -> anyhow::Result<ShardStatus> {
    let meta = client.snapshot().await?;
    let n = owner(&meta, shard, node)?;
    let status = api
        .rebuild(&n.internal_addr, shard, replay)
        .await
        .with_context(at(&n))?;
    if !wait {
        return Ok(status);
    }
    let mut done = follow(api, vec![(shard, n)], quiet).await?;
    Ok(done.remove(0))
}

/// How long a replica may go unseen (not opened yet by a new owner, a
/// node restarting) before following it fails.
const UNSEEN_FOR: Duration = Duration::from_secs(30);

/// Shows the progress of each `(shard, node)` replica (offset / high
/// watermark, values/s, ETA) until all are healthy; fails on the first
/// that fails, or that cannot be asked for [`UNSEEN_FOR`].
pub async fn follow(
    api: &NodeClient,
    replicas: Vec<(ShardId, DataNode)>,
    quiet: bool,
) -> anyhow::Result<Vec<ShardStatus>> {
    let bars = if quiet {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let style = ProgressStyle::with_template(
        "{spinner} shard {prefix} [{bar:30}] offset {pos}/{len} ETA {eta} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    struct Follow {
        shard: ShardId,
        node: DataNode,
        bar: ProgressBar,
        seen: Instant,
        last: Option<(Instant, u64)>,
        done: Option<ShardStatus>,
    }
    let started = Instant::now();
    let mut all: Vec<Follow> = replicas
        .into_iter()
        .map(|(shard, node)| {
            let bar = bars.add(ProgressBar::new(1));
            bar.set_style(style.clone());
            bar.set_prefix(format!("{shard} on node {}", node.id));
            Follow {
                shard,
                node,
                bar,
                seen: Instant::now(),
                last: None,
                done: None,
            }
        })
        .collect();
    while all.iter().any(|f| f.done.is_none()) {
        // One round asks every pending replica at once.
        let polled = futures::future::join_all(
            all.iter()
                .filter(|f| f.done.is_none())
                .map(|f| api.status(&f.node.internal_addr, f.shard)),
        )
        .await;
        let pending = all.iter_mut().filter(|f| f.done.is_none());
        for (f, polled) in pending.zip(polled) {
            let s = match polled {
                Ok(s) => s,
                Err(e) if f.seen.elapsed() < UNSEEN_FOR => {
                    f.bar.set_message(format!("waiting for the replica: {e}"));
                    continue;
                }
                Err(e) => {
                    f.bar.abandon();
                    return Err(e).with_context(at(&f.node));
                }
            };
            f.seen = Instant::now();
            let applied = s
                .caught_up_through
                .max(s.applied_offset)
                .map_or(0, |o| o + 1);
            let hwm = s.high_watermark.unwrap_or(0).max(applied);
            f.bar.set_length(hwm.max(1) as u64);
            f.bar.set_position(applied as u64);
            let now = Instant::now();
            let rate = match f.last {
                Some((t, v)) if now > t => {
                    (s.values_applied.saturating_sub(v)) as f64
                        / now.duration_since(t).as_secs_f64()
                }
                _ => 0.0,
            };
            f.last = Some((now, s.values_applied));
            f.bar.set_message(format!(
                "{:.2} M values/s, lag {} records",
                rate / 1e6,
                s.lag_records.unwrap_or(0)
            ));
            match &s.state {
                ReplicaState::Healthy => {
                    f.bar.finish_with_message(format!(
                        "caught up in {:.1} s ({} records, {} values)",
                        started.elapsed().as_secs_f64(),
                        s.records_applied,
                        s.values_applied
                    ));
                    f.done = Some(s);
                }
                ReplicaState::Failed { reason } => {
                    f.bar.abandon();
                    bail!(
                        "replica of shard {} on node {} failed: {reason}",
                        f.shard,
                        f.node.id
                    );
                }
                ReplicaState::CatchingUp => {}
            }
        }
        if all.iter().any(|f| f.done.is_none()) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(all.into_iter().filter_map(|f| f.done).collect())
}

/// Resumes a failed replica at `from_offset`.
pub async fn resume(
    client: &MetaClient,
    api: &NodeClient,
    shard: ShardId,
    node: NodeId,
    from_offset: i64,
) -> anyhow::Result<ShardStatus> {
    let meta = client.snapshot().await?;
    let n = owner(&meta, shard, node)?;
    api.resume(&n.internal_addr, shard, from_offset)
        .await
        .with_context(at(&n))
}

pub fn status_line(s: &ShardStatus) -> String {
    format!(
        "shard {} on node {}: {} (applied {}, high watermark {}, lag {} records)\n",
        s.shard_id,
        s.node_id,
        s.state,
        s.applied_offset
            .map_or_else(|| "-".into(), |o| o.to_string()),
        s.high_watermark
            .map_or_else(|| "-".into(), |o| o.to_string()),
        s.lag_records.map_or_else(|| "-".into(), |o| o.to_string()),
    )
}

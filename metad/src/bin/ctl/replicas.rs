//! Replica commands of `sluice-ctl`: they find a shard's owners in the meta
//! data and talk to the data nodes' internal API (`schemas::node_api`).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use meta_client::MetaClient;
use schemas::meta::{DataNode, MetaData, NodeId, ShardId};
use schemas::meta_api::ErrorBody;
use schemas::node_api::{DigestReport, HoldRequest, ReplicaState, ResumeRequest, ShardStatus};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A client of data nodes' internal APIs.
pub struct NodeApi {
    http: reqwest::Client,
    secret: Option<String>,
}

impl NodeApi {
    pub fn new(secret: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .build()?;
        Ok(Self { http, secret })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        node: &DataNode,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<T> {
        let url = format!("http://{}{path}", node.internal_addr);
        let mut req = self.http.request(method, &url);
        if let Some(s) = &self.secret {
            req = req.bearer_auth(s);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("data node {} at {}", node.id, node.internal_addr))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let msg = serde_json::from_str::<ErrorBody>(&text).map_or(text, |b| b.error);
            bail!("data node {} answered {status}: {msg}", node.id);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("unexpected answer from data node {}", node.id))
    }

    pub async fn status(&self, node: &DataNode, shard: ShardId) -> anyhow::Result<ShardStatus> {
        self.call(
            reqwest::Method::GET,
            node,
            &format!("/internal/shards/{shard}"),
            None,
        )
        .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        node: &DataNode,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let bytes = serde_json::to_vec(body)?;
        self.call(reqwest::Method::POST, node, path, Some(bytes))
            .await
    }
}

/// The data nodes owning `shard`, from the meta data.
fn owners(meta: &MetaData, shard: ShardId) -> anyhow::Result<Vec<DataNode>> {
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
    api: &NodeApi,
    shard: ShardId,
    wait: Duration,
) -> anyhow::Result<Verification> {
    let meta = client.snapshot().await?;
    let nodes = owners(&meta, shard)?;
    let ttl_ms = (wait.as_millis() as u64).saturating_mul(2).max(60_000);
    let mut held: Vec<Result<ShardStatus, String>> = Vec::new();
    for n in &nodes {
        let r: anyhow::Result<ShardStatus> = api
            .post(
                n,
                &format!("/internal/shards/{shard}/hold"),
                &HoldRequest {
                    offset: None,
                    ttl_ms: Some(ttl_ms),
                },
            )
            .await;
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
        let path = match offset {
            Some(o) => format!(
                "/internal/shards/{shard}/digest?offset={o}&timeout_ms={}",
                wait.as_millis()
            ),
            None => format!("/internal/shards/{shard}/digest"),
        };
        match api
            .call::<DigestReport>(reqwest::Method::GET, n, &path, None)
            .await
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
        let released: anyhow::Result<ShardStatus> = api
            .post(n, &format!("/internal/shards/{shard}/release"), &())
            .await;
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

/// Asks `node` to rebuild its replica of `shard` and, with `wait`, shows
/// progress until it is healthy again.
pub async fn rebuild(
    client: &MetaClient,
    api: &NodeApi,
    shard: ShardId,
    node: NodeId,
    wait: bool,
    quiet: bool,
) -> anyhow::Result<ShardStatus> {
    let meta = client.snapshot().await?;
    let n = owner(&meta, shard, node)?;
    let status: ShardStatus = api
        .post(&n, &format!("/internal/shards/{shard}/rebuild"), &())
        .await?;
    if !wait {
        return Ok(status);
    }
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(1)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} shard {prefix} [{bar:40}] offset {pos}/{len} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(shard.to_string());
    let started = Instant::now();
    let mut last: Option<(Instant, u64)> = None;
    loop {
        let s = api.status(&n, shard).await?;
        let done = s
            .caught_up_through
            .max(s.applied_offset)
            .map_or(0, |o| o + 1);
        let hwm = s.high_watermark.unwrap_or(0).max(done);
        bar.set_length(hwm.max(1) as u64);
        bar.set_position(done as u64);
        let now = Instant::now();
        let rate = match last {
            Some((t, v)) if now > t => {
                (s.values_applied.saturating_sub(v)) as f64 / now.duration_since(t).as_secs_f64()
            }
            _ => 0.0,
        };
        last = Some((now, s.values_applied));
        bar.set_message(format!(
            "{:.2} M values/s, lag {} records",
            rate / 1e6,
            s.lag_records.unwrap_or(0)
        ));
        match &s.state {
            ReplicaState::Healthy => {
                bar.finish_with_message(format!(
                    "caught up in {:.1} s ({} records, {} values)",
                    started.elapsed().as_secs_f64(),
                    s.records_applied,
                    s.values_applied
                ));
                return Ok(s);
            }
            ReplicaState::Failed { reason } => {
                bar.abandon();
                bail!("rebuild of shard {shard} on node {node} failed: {reason}");
            }
            ReplicaState::CatchingUp => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Resumes a failed replica at `from_offset`.
pub async fn resume(
    client: &MetaClient,
    api: &NodeApi,
    shard: ShardId,
    node: NodeId,
    from_offset: i64,
) -> anyhow::Result<ShardStatus> {
    let meta = client.snapshot().await?;
    let n = owner(&meta, shard, node)?;
    api.post(
        &n,
        &format!("/internal/shards/{shard}/resume"),
        &ResumeRequest { from_offset },
    )
    .await
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

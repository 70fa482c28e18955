//! How this node reaches data for the query engine: the [`Cluster`], its
//! [`query::ShardReader`].
//!
//! ```text
//!   select()/show() ── plan ──▶ shard groups of (db, rp) overlapping the time range
//!                                   │  (MetaData from the meta Follower's watch)
//!                                   ▼
//!                     per shard: Cluster::owners_for(shard)
//!                       1. this node, if LocalShards::shard(id) is Some
//!                       2. other owners: healthy before unknown before
//!                          unhealthy, then least lag (ReplicaStatus from
//!                          metad's /status, cached ~1 s)
//!                                   │
//!               local ──────────────┴───────────── remote
//!      spawn_blocking(shard-local plan       node_client: POST <internal_addr>/internal/v1/shard
//!        over Arc<storage::Shard>)           (the peer runs the same shard-local
//!                                             plan on its LocalShards, shard_api.rs)
//!                                   │ on error/timeout: next owner
//!                                   ▼
//!                      partial results merged by the coordinator
//! ```
//!
//! The node builds one `Cluster` and shares it (in an `Arc`) between
//! `/query` and the continuous queries; it also mounts
//! [`super::shard_api::routes`] on its internal port over the same
//! [`LocalShards`].
//!
//! **What shardd implements**: [`LocalShards`] — the replicas this node holds
//! that may answer queries (healthy and consuming; a rebuilding or unhealthy
//! replica must return `None` so the coordinator goes to another owner), and
//! how to wait until one has applied a partition offset (read-your-writes).
//!
//! **Read-your-writes**: when a query asks for it, the coordinator reads each
//! involved partition's high watermark once at query start through
//! [`kafka_log::Watermarks`] (a Kafka metadata call), and sends it
//! with every shard request; the replica (local or remote) waits until it
//! has applied every record below that offset before reading. The
//! watermark is read by the coordinator, not by the replica, because the
//! write that must be visible was acknowledged before the query started, so
//! any watermark read after that point covers it, whereas a replica's last
//! known watermark may predate it.
//!
//! Node-to-node calls carry the cluster's shared secret as
//! `Authorization: Bearer <secret>`, like calls to metad.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_log::Watermarks;
use node_client::NodeClient;
use query::select::QueryError;
use query::{BoxFuture, ShardOut, ShardRead, ShardReader};
use schemas::meta::{MetaData, NodeId, NodeState, Shard as MetaShard, ShardGroup, ShardId};
use schemas::meta_api::ReplicaStatus;
use schemas::node_api::{ShardReadRequest, NODE_API_VERSION};
use tokio::sync::watch;

use super::shard_api;
use crate::replica::WaitError;

/// The shard replicas of this node, as the query engine sees them.
/// Implemented by shardd.
pub trait LocalShards: Send + Sync + 'static {
    /// The replica of `shard_id` if this node holds one that may answer
    /// queries: healthy and consuming its partition. `None` for replicas
    /// being rebuilt or reported unhealthy, so queries go to another owner.
    fn shard(&self, shard_id: ShardId) -> Option<Arc<storage::Shard>>;

    /// The replica of `shard_id` for a read-your-writes query, which first
    /// waits until the replica has applied through the partition's high
    /// watermark: then a replica still catching up (new, restarted or being
    /// rebuilt) answers completely too, so only failed ones are left out.
    /// Without it, a query right after the first write into a new shard
    /// group would find no replica at all. Defaults to [`Self::shard`].
    fn shard_for_wait(&self, shard_id: ShardId) -> Option<Arc<storage::Shard>> {
        self.shard(shard_id)
    }

    /// Resolves once the replica of `shard_id` has applied every record of
    /// its partition with an offset below `next_offset` (the partition's
    /// high watermark read by the coordinator), or fails after `timeout`.
    ///
    /// The default polls [`storage::Shard::applied_offset`] every 2 ms. An
    /// implementation that knows its consumer's position should override
    /// it: Kafka offsets may skip (transaction markers), so a position past
    /// `next_offset - 1` with a lower applied offset also counts as caught
    /// up, and waking on apply avoids the polling delay.
    fn wait_applied(
        &self,
        shard_id: ShardId,
        next_offset: i64,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<(), WaitError>> {
        Box::pin(async move {
            let deadline = Instant::now() + timeout;
            loop {
                let shard = self
                    .shard_for_wait(shard_id)
                    .ok_or(WaitError::NoReplica(shard_id))?;
                let applied = shard.applied_offset();
                if next_offset <= 0 || applied.is_some_and(|a| a >= next_offset - 1) {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(WaitError::Timeout {
                        offset: next_offset,
                        progress: applied,
                    });
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    }
}

/// A [`LocalShards`] over a fixed map, for tests, benches and tools that
/// open shards themselves.
#[derive(Default)]
pub struct StaticShards {
    shards: std::sync::RwLock<HashMap<ShardId, Arc<storage::Shard>>>,
}

impl StaticShards {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a replica.
    pub fn insert(&self, shard_id: ShardId, shard: Arc<storage::Shard>) {
        self.shards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shard_id, shard);
    }

    /// Removes a replica (it stops answering).
    pub fn remove(&self, shard_id: ShardId) -> Option<Arc<storage::Shard>> {
        self.shards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&shard_id)
    }
}

impl LocalShards for StaticShards {
    fn shard(&self, shard_id: ShardId) -> Option<Arc<storage::Shard>> {
        self.shards
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&shard_id)
            .cloned()
    }
}

/// Tunables of query distribution.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Timeout of one shard request to a peer (after which the next owner
    /// is tried).
    pub remote_timeout: Duration,
    /// How long a replica may take to reach the read-your-writes offset.
    pub read_your_writes_timeout: Duration,
    /// How old the cached replica status may get before it is refreshed.
    pub status_max_age: Duration,
    /// When a peer has not answered a shard request within this, the same
    /// request also goes to the next owner and the first answer wins
    /// (hedging), so a frozen peer (SIGSTOP, a GC-like stall, a lost
    /// network) costs a query this much rather than `remote_timeout`.
    /// `ZERO` turns hedging off.
    pub hedge_after: Duration,
    /// How long a connection to a peer may take before the next owner is
    /// tried.
    pub connect_timeout: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            remote_timeout: Duration::from_secs(30),
            read_your_writes_timeout: Duration::from_secs(10),
            status_max_age: Duration::from_secs(1),
            hedge_after: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(500),
        }
    }
}

/// The replica status metad collected from heartbeats, by (node, shard).
type StatusMap = HashMap<(NodeId, ShardId), ReplicaStatus>;

struct StatusCache {
    fetched: Option<Instant>,
    refreshing: bool,
    map: Arc<StatusMap>,
}

/// The data node's view of the cluster for queries. See the module docs.
pub struct Cluster {
    node_id: NodeId,
    meta: watch::Receiver<Arc<MetaData>>,
    meta_client: Option<Arc<meta_client::MetaClient>>,
    local: Arc<dyn LocalShards>,
    watermarks: Option<Watermarks>,
    peers: NodeClient,
    options: ClusterOptions,
    status: Arc<Mutex<StatusCache>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.node_id)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// One owner a shard request may go to, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This node's replica.
    Local,
    /// A peer's replica, reached at its internal address.
    Remote {
        /// The peer.
        node_id: NodeId,
        /// Its internal API address (`host:port`).
        internal_addr: String,
    },
}

impl Cluster {
    /// A cluster view.
    ///
    /// - `meta`: the meta data, normally `Follower::subscribe()`;
    /// - `meta_client`: for replica status (lag, state) of remote owners;
    ///   `None` tries remote owners in their listed order;
    /// - `watermarks`: for read-your-writes; `None` rejects such queries.
    pub fn new(
        node_id: NodeId,
        meta: watch::Receiver<Arc<MetaData>>,
        meta_client: Option<Arc<meta_client::MetaClient>>,
        local: Arc<dyn LocalShards>,
        watermarks: Option<Watermarks>,
        shared_secret: Option<String>,
        options: ClusterOptions,
    ) -> Self {
        let peers = NodeClient::with_connect_timeout(
            shared_secret,
            options.remote_timeout,
            options.connect_timeout,
        )
        .expect("an HTTP client without TLS settings builds");
        Self {
            node_id,
            meta,
            meta_client,
            local,
            watermarks,
            peers,
            options,
            status: Arc::new(Mutex::new(StatusCache {
                fetched: None,
                refreshing: false,
                map: Arc::new(HashMap::new()),
            })),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The client of the peers' internal API.
    pub fn peers(&self) -> &NodeClient {
        &self.peers
    }

    /// The newest meta data.
    pub fn meta(&self) -> Arc<MetaData> {
        Arc::clone(&self.meta.borrow())
    }

    /// The replica status, refreshed in the background when older than
    /// `status_max_age` (queries never wait for metad).
    fn replica_status(&self) -> Arc<StatusMap> {
        let Some(client) = &self.meta_client else {
            return Arc::new(HashMap::new());
        };
        let mut cache = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let stale = cache
            .fetched
            .is_none_or(|t| t.elapsed() > self.options.status_max_age);
        if stale && !cache.refreshing {
            cache.refreshing = true;
            let client = Arc::clone(client);
            let status = Arc::clone(&self.status);
            tokio::spawn(async move {
                let fetched = client.status().await;
                let mut cache = status.lock().unwrap_or_else(|e| e.into_inner());
                cache.refreshing = false;
                match fetched {
                    Ok(s) => {
                        let mut map = HashMap::new();
                        for (node, dn) in s.data_nodes {
                            for r in dn.replicas {
                                map.insert((node, r.shard_id), r);
                            }
                        }
                        cache.map = Arc::new(map);
                        cache.fetched = Some(Instant::now());
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot refresh replica status; keeping the last one");
                        cache.fetched = Some(Instant::now());
                    }
                }
            });
        }
        Arc::clone(&cache.map)
    }

    /// The owners of `shard` to try, best first: this node if it holds a
    /// queryable replica (for a read-your-writes query, any replica that is
    /// not failed: see [`LocalShards::shard_for_wait`]), then the other
    /// owners whose node is known, healthy before unknown before unhealthy,
    /// least lag first.
    pub fn owners_for(
        &self,
        md: &MetaData,
        shard: &MetaShard,
        read_your_writes: bool,
    ) -> Vec<Owner> {
        let mut out = Vec::new();
        // A read-your-writes query also tries this node when metadata names
        // it an owner but the replica is not open yet (a group just created
        // by the write): it waits for the replica in `wait_applied`.
        let local = if read_your_writes {
            self.local.shard_for_wait(shard.id).is_some() || shard.owners.contains(&self.node_id)
        } else {
            self.local.shard(shard.id).is_some()
        };
        if local {
            out.push(Owner::Local);
        }
        let status = self.replica_status();
        let mut remote: Vec<(u8, i64, usize, NodeId, String)> = Vec::new();
        for (pos, &node) in shard.owners.iter().enumerate() {
            if node == self.node_id {
                continue;
            }
            let Some(dn) = md.data_nodes.get(&node) else {
                continue;
            };
            let (rank, lag) = match status.get(&(node, shard.id)) {
                Some(r) if r.state == "healthy" => {
                    (0, (r.high_watermark - r.applied_offset).max(0))
                }
                None => (1, 0),
                Some(_) => (2, 0),
            };
            // A node metad marked unreachable goes last, but is still tried:
            // its heartbeat may only be late.
            let rank = if dn.state == NodeState::Alive {
                rank
            } else {
                rank + 3
            };
            remote.push((rank, lag, pos, node, dn.internal_addr.clone()));
        }
        remote.sort();
        out.extend(
            remote
                .into_iter()
                .map(|(_, _, _, node_id, internal_addr)| Owner::Remote {
                    node_id,
                    internal_addr,
                }),
        );
        out
    }

    /// Reads the high watermark of each `(group, shard index)` partition.
    pub async fn high_watermarks(
        &self,
        shards: &[(ShardGroup, MetaShard)],
    ) -> Result<HashMap<ShardId, i64>, QueryError> {
        let Some(w) = &self.watermarks else {
            return Err(QueryError::Watermark(
                "read-your-writes is not configured on this node (no Kafka brokers)".into(),
            ));
        };
        let futs = shards.iter().map(|(g, s)| {
            let topic = g.topic.clone();
            let partition = s.index as i32;
            let id = s.id;
            async move {
                let mut attempt = 0;
                loop {
                    match w.fetch(&topic, partition).await {
                        Ok((_, high)) => return Ok((id, high)),
                        Err(e) if e.is_unknown_partition() && attempt < 10 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => return Err(QueryError::Watermark(e.to_string())),
                    }
                }
            }
        });
        futures::future::try_join_all(futs)
            .await
            .map(|v| v.into_iter().collect())
    }

    /// Runs `read` on the first of `owners` that answers: on an error the
    /// next owner is tried at once; a peer that is slower than
    /// [`ClusterOptions::hedge_after`] gets company (the next owner is
    /// asked too, and the first answer wins; the other call is dropped).
    /// This node's own replica is never hedged: it is not behind a network
    /// and a second copy of its scan would only add load.
    async fn read_on(
        &self,
        shard_id: ShardId,
        owners: Vec<Owner>,
        read: ShardRead,
    ) -> Result<ShardOut, QueryError> {
        use futures::stream::{FuturesUnordered, StreamExt as _};

        let request = ShardReadRequest {
            version: NODE_API_VERSION,
            wait_offset: read.wait_offset,
            wait_timeout_ms: self.options.read_your_writes_timeout.as_millis() as u64,
            op: read.op,
        };
        let call = |owner: Owner| {
            let request = request.clone();
            async move {
                let res = match &owner {
                    Owner::Local => shard_api::run_local(&self.local, request)
                        .await
                        .map_err(|e| e.to_string()),
                    Owner::Remote { internal_addr, .. } => self
                        .peers
                        .read_shard(internal_addr, &request, self.options.remote_timeout)
                        .await
                        .map_err(|e| e.to_string()),
                };
                (owner, res)
            }
        };
        let mut last = String::from("no owner holds a queryable replica");
        let mut waiting = owners.into_iter();
        let mut running = FuturesUnordered::new();
        let mut hedge_at = None;
        loop {
            if running.is_empty() || hedge_at.is_some_and(|t| Instant::now() >= t) {
                let Some(owner) = waiting.next() else {
                    if running.is_empty() {
                        return Err(QueryError::ShardUnavailable { shard_id, last });
                    }
                    hedge_at = None;
                    continue;
                };
                let remote = matches!(owner, Owner::Remote { .. });
                hedge_at = (remote && !self.options.hedge_after.is_zero())
                    .then(|| Instant::now() + self.options.hedge_after);
                running.push(call(owner));
            }
            let hedge = async {
                match hedge_at {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some((owner, res)) = running.next() => match res {
                    Ok(out) => return Ok(out),
                    Err(e) => {
                        tracing::warn!(shard_id, ?owner, error = %e, "shard owner failed; trying the next");
                        last = e;
                        // The next owner goes now, not at the hedge time.
                        hedge_at = Some(Instant::now());
                    }
                },
                () = hedge => {
                    tracing::info!(shard_id, after = ?self.options.hedge_after, "shard owner slow; asking the next one too");
                }
            }
        }
    }
}

impl Cluster {
    /// A second chance for a shard no owner could answer for, in case it
    /// is only new (its group just created, its replicas opening or
    /// catching up): when no record has reached its partition, or its topic
    /// does not exist (a group whose write was refused whole never gets
    /// one, and a write is acknowledged only once its topic is known), it
    /// is read as empty; otherwise it is read as a read-your-writes query
    /// through the partition's high watermark, which waits (bounded) for a
    /// replica that is catching up. `None` when the watermarks cannot be
    /// read: the first error stands.
    async fn read_new(
        &self,
        md: &MetaData,
        shard: &MetaShard,
        read: ShardRead,
    ) -> Option<Result<ShardOut, QueryError>> {
        let group = md
            .shard_groups()
            .find(|g| g.shards.iter().any(|s| s.id == shard.id))?;
        let high = match self
            .watermarks
            .as_ref()?
            .fetch(&group.topic, shard.index as i32)
            .await
        {
            Ok((_, high)) => high,
            Err(e) if e.is_unknown_partition() => 0,
            Err(_) => return None,
        };
        if high == 0 {
            return Some(Ok(read.op.empty_out()));
        }
        let owners = self.owners_for(md, shard, true);
        let read = ShardRead {
            wait_offset: Some(high),
            ..read
        };
        Some(self.read_on(shard.id, owners, read).await)
    }
}

impl ShardReader for Cluster {
    fn meta(&self) -> Arc<MetaData> {
        Cluster::meta(self)
    }

    fn high_watermarks<'a>(
        &'a self,
        shards: &'a [(ShardGroup, MetaShard)],
    ) -> BoxFuture<'a, Result<HashMap<ShardId, i64>, QueryError>> {
        Box::pin(Cluster::high_watermarks(self, shards))
    }

    fn read<'a>(
        &'a self,
        md: &'a MetaData,
        shard: &'a MetaShard,
        read: ShardRead,
    ) -> BoxFuture<'a, Result<ShardOut, QueryError>> {
        let owners = self.owners_for(md, shard, read.wait_offset.is_some());
        Box::pin(async move {
            let first = self.read_on(shard.id, owners, read.clone()).await;
            match first {
                Err(QueryError::ShardUnavailable { .. }) if read.wait_offset.is_none() => {
                    self.read_new(md, shard, read).await.unwrap_or(first)
                }
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::meta::DataNode;

    fn md() -> MetaData {
        let mut md = MetaData::default();
        for id in 1..=3 {
            md.data_nodes.insert(
                id,
                DataNode {
                    id,
                    http_addr: format!("h{id}:8086"),
                    internal_addr: format!("h{id}:8088"),
                    state: if id == 3 {
                        NodeState::Unreachable
                    } else {
                        NodeState::Alive
                    },
                },
            );
        }
        md
    }

    #[tokio::test]
    async fn remote_owners_in_order_unreachable_last() {
        let (_tx, rx) = watch::channel(Arc::new(md()));
        let c = Cluster::new(
            1,
            rx,
            None,
            Arc::new(StaticShards::new()),
            None,
            None,
            ClusterOptions::default(),
        );
        let shard = MetaShard {
            id: 7,
            index: 0,
            owners: vec![3, 1, 2],
        };
        // Node 1 is us but holds no replica: not tried locally.
        let owners = c.owners_for(&c.meta(), &shard, false);
        assert_eq!(
            owners,
            vec![
                Owner::Remote {
                    node_id: 2,
                    internal_addr: "h2:8088".into()
                },
                Owner::Remote {
                    node_id: 3,
                    internal_addr: "h3:8088".into()
                },
            ]
        );
    }
}

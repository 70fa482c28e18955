//! A running data node: registration, the meta watch that decides which
//! replicas run, heartbeats, watermarks, and the two HTTP servers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use ingest::http::ApiConfig;
use ingest::produce::{ProduceError, Producer};
use ingest::write::WriteService;
use kafka_log::Watermarks;
use meta_client::auth::Authenticator;
use meta_client::{Follower, MetaClient};
use node_client::NodeClient;
use prometheus::Registry;
use schemas::meta::{MetaData, NodeId, NodeState, ShardId};
use schemas::meta_api::{MetaCommand, ReplicaStatus};
use schemas::node_api::ReplicaState;
use storage::{Shard, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, info_span, warn, Instrument};

use crate::config::{ConfigError, NodeConfig};
use crate::consumer::Consumers;
use crate::metrics::Metrics;
use crate::replica::{Command, Replica, ReplicaSpec, WaitError};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// metad could not be reached or refused the registration.
    #[error("meta service: {0}")]
    Meta(#[from] meta_client::Error),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The Kafka producer of the write API could not be created.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// A Kafka client could not be created.
    #[error(transparent)]
    Kafka(#[from] kafka_log::Error),
    /// The node's shard store cannot be opened.
    #[error("shard store: {0}")]
    Store(#[from] storage::Error),
    /// The node's id could not be settled with metad.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The HTTPS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] ingest::serve::TlsError),
    /// The client of peers' internal APIs could not be built.
    #[error(transparent)]
    PeerClient(#[from] node_client::Error),
    /// The data directory is unusable.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Checks the topics of the live shard groups once at start (see
/// [`WriteService::check_topics`]).
pub(crate) async fn check_topics(write: Arc<WriteService>) {
    if let Err(e) = write
        .check_topics()
        .instrument(info_span!("topic_check"))
        .await
    {
        warn!(error = %e, "checking the shard groups' topics");
    }
}

/// A data node. Shared (`Arc`) by its tasks, its HTTP handlers and the query
/// engine, which reads shards through it.
pub struct Node {
    id: NodeId,
    /// The id was handed out at this start: shards found in the store are
    /// not this id's to delete.
    first_start: bool,
    config: NodeConfig,
    http_addr: SocketAddr,
    internal_addr: SocketAddr,
    client: Arc<MetaClient>,
    follower: Arc<Follower>,
    store: Store,
    registry: Registry,
    metrics: Arc<Metrics>,
    write: Arc<WriteService>,
    auth: Arc<Authenticator>,
    replicas: RwLock<BTreeMap<ShardId, Arc<Replica>>>,
    /// The replica consumers; `None` once stopped.
    consumers: Mutex<Option<Consumers>>,
    /// Watermark queries for read-your-writes and the status poller.
    watermarks: Watermarks,
    /// The client of peers' internal APIs (snapshots).
    peers: NodeClient,
    stopping: AtomicBool,
    /// The shards owned when the node started that have not caught up
    /// since; `None` once all have (or before the first meta data).
    starting: Mutex<Option<BTreeSet<ShardId>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("http_addr", &self.http_addr)
            .field("internal_addr", &self.internal_addr)
            .finish_non_exhaustive()
    }
}

/// A started node: its addresses and a way to wait for it to stop.
#[derive(Debug)]
pub struct NodeHandle {
    /// The node.
    pub node: Arc<Node>,
    /// The bound public address.
    pub http_addr: SocketAddr,
    /// The bound internal address.
    pub internal_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl NodeHandle {
    /// Waits until the node has stopped (after the shutdown signal): HTTP
    /// servers drained, every replica closed, the producer flushed.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The node's shard store, under the data directory.
const STORE_DIR: &str = "shards";

impl Node {
    /// Starts a node: binds both listeners, registers with metad, starts
    /// following the meta data and runs until `shutdown` turns true.
    pub async fn start(
        mut config: NodeConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<NodeHandle, NodeError> {
        config.validate()?;
        let connection_limits = config.api.connection_limits()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        config.consumer.kafka = config.kafka.clone();

        let bind = |addr: SocketAddr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| NodeError::Bind { addr, source })
        };
        let http_listener = bind(config.http_listen).await?;
        let internal_listener = bind(config.internal_listen).await?;
        let local = |l: &tokio::net::TcpListener, addr| {
            l.local_addr()
                .map_err(|source| NodeError::Bind { addr, source })
        };
        let http_addr = local(&http_listener, config.http_listen)?;
        let internal_addr = local(&internal_listener, config.internal_listen)?;

        let client = Arc::new(MetaClient::new(config.metad.clone())?);
        let http_adv = config
            .http_advertise
            .clone()
            .unwrap_or_else(|| http_addr.to_string());
        let internal_adv = config
            .internal_advertise
            .clone()
            .unwrap_or_else(|| internal_addr.to_string());
        let identity = crate::identity::register(
            &client,
            &config.data_dir,
            &http_adv,
            &internal_adv,
            config.register_wait,
        )
        .await?;
        let registered = identity.node;
        info!(node_id = registered.id, http = %http_adv, internal = %internal_adv, "registered with metad");
        let follower = Arc::new(Follower::start(Arc::clone(&client)).await?);

        let registry = Registry::new();
        let metrics = Arc::new(Metrics::new(registry.clone()));
        let producer = Arc::new(Producer::new(config.kafka.clone())?);
        let write = Arc::new(WriteService::new(
            Arc::clone(&client),
            Arc::clone(&follower),
            producer,
            Arc::new(ingest::metrics::Metrics::new(registry.clone())),
        ));
        tokio::spawn(check_topics(Arc::clone(&write)));
        let watermarks = Watermarks::new(&config.kafka)?;
        let store = Store::open(config.data_dir.join(STORE_DIR), config.budget)?;
        let (bootstrap_tx, bootstrap_rx) = tokio::sync::mpsc::unbounded_channel();
        let consumers = Consumers::start(
            config.consumer.clone(),
            store.clone(),
            Arc::clone(&metrics),
            Some(bootstrap_tx),
        )?;
        let peers = NodeClient::new(
            config.metad.shared_secret.clone(),
            node_client::DEFAULT_TIMEOUT,
        )?;
        let node = Arc::new(Node {
            id: registered.id,
            first_start: identity.first_start,
            store,
            config,
            http_addr,
            internal_addr,
            client,
            follower,
            registry,
            metrics,
            write,
            auth: Arc::new(Authenticator::default()),
            replicas: RwLock::default(),
            consumers: Mutex::new(Some(consumers)),
            watermarks,
            peers,
            stopping: AtomicBool::new(false),
            starting: Mutex::default(),
        });
        tokio::spawn(
            crate::snapshots::run_bootstraps(Arc::clone(&node), bootstrap_rx)
                .instrument(info_span!("shardd", node_id = registered.id)),
        );

        let tracker = Arc::new(crate::queries::tracker::QueryTracker::new(
            node.config().query_limits,
        ));
        let internal = crate::api::internal_routes(Arc::clone(&node))
            .merge(crate::queries::internal_routes(&node, Arc::clone(&tracker)));
        let internal =
            crate::api::guard_internal(internal, node.config().metad.shared_secret.clone());
        let engine = crate::queries::engine(&node);
        let public = crate::api::public_routes(&node)
            .merge(crate::queries::public_routes(
                &node,
                Arc::clone(&engine),
                tracker,
            ))
            .layer(axum::middleware::map_response(
                ingest::http::version_headers,
            ));

        tokio::spawn(
            crate::queries::cq::ContinuousQueries::new(engine)
                .run(shutdown.clone())
                .instrument(info_span!("shardd", node_id = registered.id)),
        );
        tokio::spawn(
            crate::purge::run(Arc::clone(&node), shutdown.clone())
                .instrument(info_span!("shardd", node_id = registered.id)),
        );
        let task = tokio::spawn(
            Arc::clone(&node)
                .run(
                    http_listener,
                    connection_limits,
                    public,
                    internal_listener,
                    internal,
                    shutdown,
                )
                .instrument(info_span!("shardd", node_id = registered.id)),
        );
        Ok(NodeHandle {
            node,
            http_addr,
            internal_addr,
            task,
        })
    }

    async fn run(
        self: Arc<Self>,
        http_listener: tokio::net::TcpListener,
        connection_limits: ingest::serve::ConnectionLimits,
        public: Router,
        internal_listener: tokio::net::TcpListener,
        internal: Router,
        shutdown: watch::Receiver<bool>,
    ) {
        info!(http = %self.http_addr, internal = %self.internal_addr, "data node listening");
        if self.config.metad.shared_secret.is_none() {
            warn!(
                internal = %self.internal_addr,
                "no shared secret: the internal API is open to anyone who reaches it"
            );
        }
        // The public API under InfluxDB's connection limit and read
        // deadlines; the internal one answers only callers with the secret.
        let public_server = tokio::spawn(ingest::serve::serve(
            http_listener,
            public,
            connection_limits,
            shutdown.clone(),
        ));
        let internal_server = {
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                axum::serve(internal_listener, internal)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            })
        };
        let manager = tokio::spawn(
            Arc::clone(&self)
                .manage(shutdown.clone())
                .instrument(info_span!("replica_manager")),
        );
        let heartbeat = tokio::spawn(
            Arc::clone(&self)
                .heartbeat(shutdown.clone())
                .instrument(info_span!("heartbeat")),
        );
        let poller = {
            let node = Arc::clone(&self);
            std::thread::Builder::new()
                .name("watermarks".into())
                .spawn(move || node.poll_watermarks())
                .expect("spawn watermark thread")
        };

        let mut stop = shutdown;
        let _ = stop.wait_for(|s| *s).await;
        info!("shutting down");
        self.stopping.store(true, Ordering::Release);
        let _ = manager.await;
        heartbeat.abort();
        // Tell metad this node is gone, so that a restart at another
        // address is itself again at once, not after the liveness timeout;
        // bounded, as metad may be what is down.
        let gone = MetaCommand::SetDataNodeState {
            id: self.id,
            state: NodeState::Unreachable,
        };
        match tokio::time::timeout(Duration::from_millis(500), self.client.apply(&gone)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot tell metad this node stops"),
            Err(_) => warn!("metad did not hear that this node stops"),
        }
        let _ = public_server.await;
        if let Ok(Err(e)) = internal_server.await {
            error!(error = %e, "internal http server");
        }
        let node = Arc::clone(&self);
        let _ = tokio::task::spawn_blocking(move || {
            node.stop_all();
            let _ = poller.join();
            node.write.flush(Duration::from_secs(10));
        })
        .await;
        info!("data node stopped");
    }

    /// This node's id, from metad.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The bound public address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound internal address.
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal_addr
    }

    /// The meta client.
    pub fn meta_client(&self) -> &Arc<MetaClient> {
        &self.client
    }

    /// The followed meta data.
    pub fn follower(&self) -> &Arc<Follower> {
        &self.follower
    }

    /// The write path (`/write` uses it; so may `SELECT ... INTO`).
    pub fn write_service(&self) -> &Arc<WriteService> {
        &self.write
    }

    /// Credentials checks, shared by the write and query routes.
    pub fn authenticator(&self) -> &Arc<Authenticator> {
        &self.auth
    }

    /// Public API settings.
    pub fn api_config(&self) -> &ApiConfig {
        &self.config.api
    }

    /// The node's metrics registry (`/metrics` renders it).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The apply path's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A replica of this node.
    pub fn replica(&self, shard_id: ShardId) -> Option<Arc<Replica>> {
        self.replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&shard_id)
            .cloned()
    }

    /// Every replica of this node, by shard id.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The open shard of a replica with its state. Read it only when the
    /// state [`is_queryable`](ReplicaState::is_queryable) (or after
    /// [`Node::wait_for_offset`] for read-your-writes). `None` while the
    /// replica is opening, rebuilding or closing.
    pub fn shard(&self, shard_id: ShardId) -> Option<(Arc<Shard>, ReplicaState)> {
        let r = self.replica(shard_id)?;
        let shard = r.shard()?;
        Some((shard, r.state()))
    }

    /// Waits until the replica has applied every record at or below
    /// `offset` (read-your-writes: pass the high watermark read at query
    /// start minus one).
    pub async fn wait_for_offset(
        &self,
        shard_id: ShardId,
        offset: i64,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let r = self.wait_for_replica(shard_id, timeout).await?;
        r.wait_for(offset, deadline - tokio::time::Instant::now())
            .await
    }

    /// The replica of `shard_id`, waiting up to `timeout` for it to open:
    /// the replica of a group created by the very write a query must see
    /// opens once this node's meta watch shows the group, a moment after
    /// metad made it.
    pub async fn wait_for_replica(
        &self,
        shard_id: ShardId,
        timeout: Duration,
    ) -> Result<Arc<Replica>, WaitError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.replica(shard_id) {
                return Ok(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WaitError::NoReplica(shard_id));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The node's shard store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The node's client of peers' internal APIs.
    pub fn peers(&self) -> &NodeClient {
        &self.peers
    }

    /// The node's client of partition watermarks (replica progress,
    /// read-your-writes).
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    // ---- replica management ---------------------------------------------

    async fn manage(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut rx = self.follower.subscribe();
        let mut first = true;
        loop {
            let md = rx.borrow_and_update().clone();
            self.reconcile(&md);
            self.write.prune();
            if first {
                first = false;
                *self.starting.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(self.desired(&md).into_keys().collect());
                let node = Arc::clone(&self);
                let md = Arc::clone(&md);
                let _ = tokio::task::spawn_blocking(move || node.remove_orphans(&md)).await;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    fn desired(&self, md: &MetaData) -> BTreeMap<ShardId, ReplicaSpec> {
        md.shards_owned_by(self.id)
            .map(|(g, s)| {
                (
                    s.id,
                    ReplicaSpec {
                        shard_id: s.id,
                        database: g.database.clone(),
                        retention_policy: g.retention_policy.clone(),
                        shard_group_id: g.id,
                        topic: g.topic.clone(),
                        partition: i32::try_from(s.index).unwrap_or(i32::MAX),
                    },
                )
            })
            .collect()
    }

    /// Starts replicas of newly owned shards; stops and removes those no
    /// longer owned (owner list changed, group deleted or expired).
    fn reconcile(self: &Arc<Self>, md: &MetaData) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        let desired = self.desired(md);
        let mut replicas = self.replicas.write().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<ShardId> = replicas
            .iter()
            .filter(|(id, r)| desired.get(id) != Some(&r.spec))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(r) = replicas.remove(&id) {
                info!(
                    shard_id = id,
                    "shard no longer owned here; removing replica"
                );
                let mut ctl = r.lock_control();
                r.command(&mut ctl, Command::Stop { remove: true });
                self.metrics.forget(id);
            }
        }
        for (id, spec) in desired {
            if replicas.contains_key(&id) {
                continue;
            }
            info!(shard_id = id, topic = %spec.topic, partition = spec.partition, "starting replica");
            let consumers = self.consumers.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = consumers.as_ref() {
                replicas.insert(id, c.add(spec, self.id));
            }
        }
    }

    /// Removes the data of shards this node does not own, left by a crash
    /// between losing ownership and deleting them. Only ids the meta data
    /// has handed out are touched: data from another cluster (or a wrong
    /// metad address) is left alone, with a warning.
    fn remove_orphans(&self, md: &MetaData) {
        let ids = match self.store.shard_ids() {
            Ok(ids) => ids,
            Err(e) => {
                error!(error = %e, "cannot list the shards of the store");
                return;
            }
        };
        if self.first_start && !ids.is_empty() {
            warn!("the store holds shards from before this node had an id; none is deleted");
            return;
        }
        let owned: std::collections::HashSet<ShardId> =
            md.shards_owned_by(self.id).map(|(_, s)| s.id).collect();
        for id in ids.into_iter().filter(|id| !owned.contains(id)) {
            if id > md.max_shard_id {
                warn!(shard_id = id, "shard unknown to metad; left alone");
                continue;
            }
            match self.store.destroy_shard(id) {
                Ok(()) => info!(shard_id = id, "removed the data of a shard not owned here"),
                Err(e) => error!(shard_id = id, error = %e, "cannot remove an orphan shard"),
            }
        }
        self.warn_about_old_layout();
    }

    /// Shard directories of the layout before the store (one RocksDB per
    /// shard, `<data-dir>/<db>/<rp>/<id>`) are not read: their replicas
    /// are rebuilt by replay. They are not deleted either; say so once.
    fn warn_about_old_layout(&self) {
        let dirs = |p: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default()
        };
        let old: Vec<PathBuf> = dirs(&self.config.data_dir)
            .into_iter()
            .filter(|db| !db.ends_with(STORE_DIR))
            .flat_map(|db| dirs(&db))
            .flat_map(|rp| dirs(&rp))
            .filter(|shard| shard.join("CURRENT").is_file())
            .collect();
        if let Some(first) = old.first() {
            warn!(
                count = old.len(),
                example = %first.display(),
                "shard directories of the old one-database-per-shard layout are ignored \
                 (their replicas are rebuilt from Kafka); delete them to free their space"
            );
        }
    }

    /// Closes every replica (keeping their data) and waits for the apply
    /// threads.
    fn stop_all(&self) {
        let consumers = self
            .consumers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(c) = consumers {
            c.stop();
        }
    }

    // ---- heartbeat and watermarks ---------------------------------------

    /// Syncs the store's WAL and records, for each replica, the applied
    /// offset the sync covers (log retention trims only below it).
    async fn mark_durable(&self) {
        let seen: Vec<(Arc<Replica>, Option<i64>, u64)> = self
            .replicas()
            .into_iter()
            .map(|r| {
                let st = r.lock_status();
                let (applied, generation) = (st.applied, st.generation);
                drop(st);
                (r, applied, generation)
            })
            .collect();
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.sync_wal()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "syncing the store's WAL");
                return;
            }
            Err(_) => return,
        }
        for (r, applied, generation) in seen {
            let mut st = r.lock_status();
            if st.generation == generation && applied.is_some() {
                st.durable = st.durable.max(applied);
            }
        }
    }

    /// The replicas as the heartbeat reports them.
    pub fn replica_statuses(&self) -> Vec<ReplicaStatus> {
        self.replicas()
            .iter()
            .map(|r| {
                let st = r.lock_status().clone();
                ReplicaStatus {
                    shard_id: r.spec.shard_id,
                    applied_offset: st.caught_up_through.max(st.applied).map_or(0, |o| o + 1),
                    high_watermark: st.high_watermark.unwrap_or(0),
                    state: st.state.to_string(),
                    bytes: st.bytes_on_disk,
                    points_dropped: st.points_dropped,
                }
            })
            .collect()
    }

    /// The `replicas` check of `/health`: failing while a replica has
    /// failed, or while replicas the node owned at its start have not
    /// caught up yet (its peers do not query them until then either);
    /// a warning while a new or rebuilt replica catches up.
    pub fn replica_checks(&self) -> ingest::health::Check {
        use ingest::health::Check;
        let replicas = self.replica_progress();
        let failed: Vec<String> = replicas
            .iter()
            .filter_map(|(id, state, _)| match state {
                ReplicaState::Failed { reason } => Some(format!("shard {id}: {reason}")),
                _ => None,
            })
            .collect();
        if !failed.is_empty() {
            return Check::fail(
                "replicas",
                format!("failed replicas: {}", failed.join("; ")),
            );
        }
        let behind: Vec<&(ShardId, ReplicaState, Option<i64>)> = replicas
            .iter()
            .filter(|(_, state, _)| *state == ReplicaState::CatchingUp)
            .collect();
        let still_starting = self.settle_start(&replicas);
        if still_starting > 0 {
            let lag = behind.iter().filter_map(|(_, _, l)| *l).max().unwrap_or(0);
            return Check::fail(
                "replicas",
                format!(
                    "catching up after start: {still_starting} replica(s) behind, \
                     largest lag {lag} records"
                ),
            );
        }
        if behind.is_empty() {
            Check::pass("replicas", format!("{} replica(s) healthy", replicas.len()))
        } else {
            Check::warn(
                "replicas",
                format!("{} new or rebuilt replica(s) catching up", behind.len()),
            )
        }
    }

    /// Each replica's shard, state and lag in records.
    fn replica_progress(&self) -> Vec<(ShardId, ReplicaState, Option<i64>)> {
        self.replicas()
            .iter()
            .map(|r| {
                let st = r.lock_status();
                (r.spec.shard_id, st.state.clone(), st.lag_records())
            })
            .collect()
    }

    /// Drops from the start gate the replicas that have caught up (or are
    /// no longer owned here); how many are left.
    fn settle_start(&self, replicas: &[(ShardId, ReplicaState, Option<i64>)]) -> usize {
        let mut starting = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        let Some(set) = starting.as_mut() else {
            return 0;
        };
        // Still behind, or not opened yet while still owned here.
        let md = self.follower.current();
        let owned: BTreeSet<ShardId> = md.shards_owned_by(self.id).map(|(_, s)| s.id).collect();
        set.retain(|id| match replicas.iter().find(|(r, _, _)| r == id) {
            Some((_, state, _)) => *state == ReplicaState::CatchingUp,
            None => owned.contains(id),
        });
        let left = set.len();
        if left == 0 {
            *starting = None;
        }
        left
    }

    async fn heartbeat(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            // Keeps the start gate of /health current: a replica that
            // caught up after the start leaves it even if no probe asked.
            self.settle_start(&self.replica_progress());
            self.mark_durable().await;
            match self
                .client
                .heartbeat(self.id, self.replica_statuses())
                .await
            {
                Ok(_) if failing => {
                    info!("heartbeats reach metad again");
                    failing = false;
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    warn!(error = %e, "heartbeat failed");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Refreshes every replica's watermarks, and now and then its size on
    /// disk, from a thread of its own: both are blocking calls.
    fn poll_watermarks(&self) {
        let interval = self.config.watermark_interval;
        let mut round: u64 = 0;
        while !self.stopping.load(Ordering::Acquire) {
            for r in self.replicas() {
                if self.stopping.load(Ordering::Acquire) {
                    return;
                }
                // What the node's consumer last fetched, else a request
                // (a replica that is not fetching: failed, held).
                let cached = self
                    .consumers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .and_then(|c| c.cached_watermarks(&r.spec.topic, r.spec.partition));
                let fetched = cached.map(Ok).unwrap_or_else(|| {
                    self.watermarks.fetch_blocking(
                        &r.spec.topic,
                        r.spec.partition,
                        Duration::from_secs(1),
                    )
                });
                if let Ok((low, high)) = fetched {
                    let mut st = r.lock_status();
                    st.low_watermark = Some(low);
                    st.high_watermark = Some(high);
                }
                if round.is_multiple_of(5) {
                    if let Some(Ok(bytes)) = r.shard().map(|s| s.size_on_disk()) {
                        r.lock_status().bytes_on_disk = bytes;
                    }
                }
            }
            round += 1;
            // Sleep in small steps so shutdown is not delayed.
            let mut slept = Duration::ZERO;
            while slept < interval && !self.stopping.load(Ordering::Acquire) {
                let step = Duration::from_millis(100).min(interval - slept);
                std::thread::sleep(step);
                slept += step;
            }
        }
    }
}

//! A running meta node: the raft instance, proposing commands (with the
//! leader's stamps), and the leader's background loops.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::error::{
    ChangeMembershipError, CheckIsLeaderError, ClientWriteError, Fatal, InitializeError, RaftError,
};
use openraft::{BasicNode, ChangeMembers, ServerState};
use schemas::meta::{MetaData, NodeId, NodeState};
use schemas::meta_api::{
    ClusterStatus, CommandError, CommandOutput, DataNodeStatus, HeartbeatRequest, MetaCommand,
    MetaMember, ReplicaStatus, RetentionPolicySpec,
};
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

use crate::network::Network;
use crate::{store, MetaNodeId, NodeConfig, Raft};

/// Why a meta node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store did not open.
    #[error(transparent)]
    Store(#[from] store::OpenError),
    /// openraft refused its configuration.
    #[error("invalid raft config: {0}")]
    RaftConfig(#[from] openraft::ConfigError),
    /// openraft stopped.
    #[error("raft stopped: {0}")]
    Raft(#[from] Fatal<MetaNodeId>),
    /// Bootstrapping failed.
    #[error("cannot initialise the cluster: {0}")]
    Initialize(#[from] RaftError<MetaNodeId, InitializeError<MetaNodeId, BasicNode>>),
    /// The listener could not bind or serve.
    #[error("http server on {addr}: {source}")]
    Http {
        /// Listen address.
        addr: std::net::SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// Why a proposal or a leader-side request did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// This node is not the leader; forward to the one named, if any.
    #[error("not the leader")]
    NotLeader {
        /// The leader's address, if known.
        leader: Option<String>,
    },
    /// The state machine refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The leader cannot reach a quorum.
    #[error("no quorum: {0}")]
    NoQuorum(String),
    /// A membership change was refused.
    #[error("membership change refused: {0}")]
    Membership(#[from] ChangeMembershipError<MetaNodeId>),
    /// Raft stopped.
    #[error("raft stopped: {0}")]
    Fatal(#[from] Fatal<MetaNodeId>),
}

/// What the leader knows of a data node from its heartbeats.
struct Seen {
    at: Instant,
    replicas: Vec<ReplicaStatus>,
}

/// Leader-only memory: heartbeats are not logged, only state changes are.
#[derive(Default)]
struct Liveness {
    /// The term this node became leader in, and when.
    leading: Option<(u64, Instant)>,
    seen: HashMap<NodeId, Seen>,
    /// Unreachable nodes whose shards could not all be re-owned, warned
    /// about once.
    stuck: std::collections::BTreeSet<NodeId>,
}

/// A meta node.
pub struct MetaNode {
    /// This node's raft id.
    pub id: MetaNodeId,
    /// The raft handle.
    pub raft: Raft,
    /// Settings.
    pub config: NodeConfig,
    /// The latest applied meta data.
    pub meta: watch::Receiver<Arc<MetaData>>,
    /// Client for forwarding to the leader.
    pub http: reqwest::Client,
    liveness: Mutex<Liveness>,
}

fn now_ns() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn leader_addr(raft: &Raft, leader: Option<MetaNodeId>) -> Option<String> {
    let metrics = raft.metrics().borrow().clone();
    let leader = leader.or(metrics.current_leader)?;
    for (id, node) in metrics.membership_config.nodes() {
        if *id == leader {
            return Some(node.addr.clone());
        }
    }
    None
}

impl MetaNode {
    /// Opens the store and starts raft (not the HTTP server).
    pub async fn start(config: NodeConfig) -> Result<Arc<Self>, RunError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| RunError::Http {
            addr: config.listen,
            source,
        })?;
        let (log, sm, meta) = store::open(&config.data_dir)?;
        let election = config.election_timeout.as_millis() as u64;
        let raft_config = openraft::Config {
            cluster_name: "sluice-meta".into(),
            heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
            election_timeout_min: election,
            // A follower of a known leader stands only after the leader's
            // lease (openraft: the maximum) and then a timeout: 1.5x keeps
            // a lost leader's replacement within 2.5-3 s of 1 s timeouts
            // (2x took 3-4.4 s), and half a timeout still spreads the
            // candidates of a three-voter LAN cluster apart.
            election_timeout_max: election + election / 2,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_logs),
            max_in_snapshot_log_to_keep: config.snapshot_logs,
            ..Default::default()
        }
        .validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        let network = Network::new(http.clone(), config.shared_secret.clone());
        let raft = Raft::new(config.node_id, Arc::new(raft_config), network, log, sm).await?;
        if config.bootstrap && !raft.is_initialized().await? {
            let members: BTreeMap<MetaNodeId, BasicNode> = if config.initial_members.is_empty() {
                [(config.node_id, BasicNode::new(&config.advertise))].into()
            } else {
                config
                    .initial_members
                    .iter()
                    .map(|(id, addr)| (*id, BasicNode::new(addr)))
                    .collect()
            };
            let voters: Vec<_> = members.keys().copied().collect();
            raft.initialize(members).await?;
            info!(
                node_id = config.node_id,
                ?voters,
                "bootstrapped the cluster"
            );
        }
        Ok(Arc::new(Self {
            id: config.node_id,
            raft,
            config,
            meta,
            http,
            liveness: Mutex::new(Liveness::default()),
        }))
    }

    /// Starts the node, serves the API until `shutdown` resolves, then stops raft.
    pub async fn run(
        config: NodeConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        let listen = config.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RunError::Http {
                addr: listen,
                source,
            })?;
        let node = Self::start(config).await?;
        info!(node_id = node.id, %listen, "metad listening");
        if node.config.shared_secret.is_none() {
            warn!("no shared secret: metad's API and raft are open to anyone who reaches {listen}");
        }
        let loops = node.clone().spawn_leader_loops();
        let served = axum::serve(listener, crate::api::router(node.clone()))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| RunError::Http {
                addr: listen,
                source,
            });
        loops.abort();
        node.raft.shutdown().await.map_err(|_| Fatal::Stopped)?;
        served
    }

    /// The current meta data.
    pub fn snapshot(&self) -> Arc<MetaData> {
        self.meta.borrow().clone()
    }

    /// The leader's address if it is another node, `None` if it is us or unknown.
    pub fn leader(&self) -> (Option<MetaNodeId>, Option<String>) {
        let leader = self.raft.metrics().borrow().current_leader;
        (leader, leader_addr(&self.raft, leader))
    }

    /// Fills in what the leader decides: the time, the alive data nodes,
    /// the topic prefix, the default policy.
    fn stamp(&self, mut cmd: MetaCommand) -> MetaCommand {
        let now = now_ns();
        match &mut cmd {
            MetaCommand::CreateDatabase {
                retention_policy, ..
            } => {
                retention_policy.get_or_insert_with(|| {
                    RetentionPolicySpec::autogen(self.config.default_replication_factor)
                });
            }
            MetaCommand::DropDatabase { now_ns, .. }
            | MetaCommand::DropRetentionPolicy { now_ns, .. }
            | MetaCommand::TruncateShardGroups { now_ns }
            | MetaCommand::DeleteExpiredShardGroups { now_ns } => *now_ns = now,
            MetaCommand::CreateShardGroup {
                alive_nodes,
                topic_prefix,
                ..
            }
            | MetaCommand::CreateShardGroups {
                alive_nodes,
                topic_prefix,
                ..
            }
            | MetaCommand::RestoreShardGroup {
                alive_nodes,
                topic_prefix,
                ..
            } => {
                *alive_nodes = self.snapshot().alive_data_nodes().map(|n| n.id).collect();
                topic_prefix.clone_from(&self.config.topic_prefix);
            }
            _ => {}
        }
        cmd
    }

    /// Proposes `cmd` through raft and waits for it to be applied here.
    pub async fn propose(&self, cmd: MetaCommand) -> Result<CommandOutput, ProposeError> {
        let cmd = self.stamp(cmd);
        let span = info_span!("propose", command = cmd.name());
        let written = self.raft.client_write(cmd).instrument(span).await;
        match written {
            Ok(resp) => Ok(resp.data?),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(ProposeError::Membership(e))
            }
            Err(RaftError::Fatal(f)) => Err(ProposeError::Fatal(f)),
        }
    }

    /// Waits until this node may answer reads linearizably (leader only).
    pub async fn linearizable(&self) -> Result<(), ProposeError> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                })
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => {
                Err(ProposeError::NoQuorum(q.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(ProposeError::Fatal(f)),
        }
    }

    fn ensure_leader(&self) -> Result<(), ProposeError> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state == ServerState::Leader {
            Ok(())
        } else {
            Err(ProposeError::NotLeader {
                leader: leader_addr(&self.raft, metrics.current_leader),
            })
        }
    }

    /// A data node's heartbeat: remembered in leader memory; logged only
    /// when it brings an unreachable node back.
    pub async fn heartbeat(&self, req: HeartbeatRequest) -> Result<u64, ProposeError> {
        self.ensure_leader()?;
        let meta = self.snapshot();
        let node = meta
            .data_nodes
            .get(&req.node_id)
            .ok_or(CommandError::DataNodeNotFound(req.node_id))?;
        let back = node.state == NodeState::Unreachable;
        self.liveness.lock().expect("liveness lock").seen.insert(
            req.node_id,
            Seen {
                at: Instant::now(),
                replicas: req.replicas,
            },
        );
        if back {
            info!(data_node = req.node_id, "data node alive again");
            let out = self
                .propose(MetaCommand::SetDataNodeState {
                    id: req.node_id,
                    state: NodeState::Alive,
                })
                .await?;
            return Ok(out.version());
        }
        Ok(meta.version)
    }

    /// Adds a metad node: as a learner first (it catches up), then as a voter.
    pub async fn add_meta(&self, id: MetaNodeId, addr: String) -> Result<(), ProposeError> {
        self.ensure_leader()?;
        let map = |e: RaftError<MetaNodeId, ClientWriteError<MetaNodeId, BasicNode>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ProposeError::NotLeader {
                leader: f.leader_node.map(|n| n.addr),
            },
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ProposeError::Membership(e)
            }
            RaftError::Fatal(f) => ProposeError::Fatal(f),
        };
        info!(meta_node = id, %addr, "adding meta node as learner");
        self.raft
            .add_learner(id, BasicNode::new(addr), true)
            .await
            .map_err(map)?;
        info!(meta_node = id, "promoting meta node to voter");
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(map)?;
        Ok(())
    }

    /// Removes a metad node from the cluster.
    pub async fn remove_meta(&self, id: MetaNodeId) -> Result<(), ProposeError> {
        self.ensure_leader()?;
        info!(meta_node = id, "removing meta node");
        match self
            .raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
            .await
        {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(ProposeError::Membership(e))
            }
            Err(RaftError::Fatal(f)) => Err(ProposeError::Fatal(f)),
        }
    }

    /// The cluster as this node sees it.
    pub fn status(&self) -> ClusterStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<MetaNodeId> = membership.voter_ids().collect();
        let matched = metrics.replication.clone().unwrap_or_default();
        let members = membership
            .nodes()
            .map(|(id, node)| MetaMember {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
                matched_index: matched.get(id).and_then(|l| l.map(|l| l.index)),
            })
            .collect();
        let meta = self.snapshot();
        let liveness = self.liveness.lock().expect("liveness lock");
        let data_nodes = meta
            .data_nodes
            .values()
            .map(|node| {
                let seen = liveness.seen.get(&node.id);
                let status = DataNodeStatus {
                    node: node.clone(),
                    last_heartbeat_ms_ago: seen.map(|s| s.at.elapsed().as_millis() as u64),
                    replicas: seen.map(|s| s.replicas.clone()).unwrap_or_default(),
                };
                (node.id, status)
            })
            .collect();
        ClusterStatus {
            node_id: self.id,
            raft_state: format!("{:?}", metrics.state),
            leader: metrics.current_leader,
            term: metrics.current_term,
            last_log_index: metrics.last_log_index,
            last_applied_index: metrics.last_applied.map(|l| l.index),
            meta_version: meta.version,
            members,
            data_nodes,
        }
    }

    /// Spawns the leader's liveness and retention loops; they idle on followers.
    pub fn spawn_leader_loops(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        let node = self;
        tokio::spawn(async move {
            let liveness_every = (node.config.data_node_timeout / 4).max(Duration::from_millis(50));
            let mut liveness = tokio::time::interval(liveness_every);
            let mut retention = tokio::time::interval(node.config.retention_check_interval);
            liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = liveness.tick() => {
                        node.check_liveness().instrument(info_span!("liveness_check")).await;
                    }
                    _ = retention.tick() => {
                        node.enforce_retention().instrument(info_span!("retention_check")).await;
                    }
                }
            }
        })
    }

    async fn check_liveness(&self) {
        let metrics = self.raft.metrics().borrow().clone();
        let meta = self.snapshot();
        let (stale, gone): (Vec<NodeId>, Vec<NodeId>) = {
            let mut liveness = self.liveness.lock().expect("liveness lock");
            if metrics.state != ServerState::Leader {
                liveness.leading = None;
                return;
            }
            // A new leader has seen no heartbeats yet: give every node a
            // full timeout from the moment leadership began.
            let since = match liveness.leading {
                Some((term, since)) if term == metrics.current_term => since,
                _ => {
                    let now = Instant::now();
                    liveness.leading = Some((metrics.current_term, now));
                    now
                }
            };
            let silent = |id: NodeId| {
                liveness
                    .seen
                    .get(&id)
                    .map_or(since, |s| s.at.max(since))
                    .elapsed()
            };
            let timeout = self.config.data_node_timeout;
            let stale = meta
                .data_nodes
                .values()
                .filter(|n| n.state == NodeState::Alive && silent(n.id) > timeout)
                .map(|n| n.id)
                .collect();
            let gone = match self.config.reassign_after {
                Some(after) => meta
                    .data_nodes
                    .values()
                    .filter(|n| n.state == NodeState::Unreachable && silent(n.id) > after)
                    .filter(|n| meta.shards_owned_by(n.id).next().is_some())
                    .map(|n| n.id)
                    .collect(),
                None => Vec::new(),
            };
            (stale, gone)
        };
        for id in stale {
            warn!(
                data_node = id,
                "data node missed its heartbeats, marking unreachable"
            );
            if let Err(e) = self
                .propose(MetaCommand::SetDataNodeState {
                    id,
                    state: NodeState::Unreachable,
                })
                .await
            {
                warn!(data_node = id, error = %e, "cannot mark data node unreachable");
            }
        }
        // Nodes just marked unreachable are no candidates.
        let meta = self.snapshot();
        for id in gone {
            self.reassign(&meta, id).await;
        }
    }

    /// Re-replication: the shards of `node`, unreachable longer than
    /// `reassign_after`, get new owners in its place, which replay them.
    /// A shard no other alive node can take keeps the node as its owner.
    async fn reassign(&self, meta: &MetaData, node: NodeId) {
        let (changes, stuck): (Vec<_>, Vec<_>) = crate::placement::drain(meta, node)
            .into_iter()
            .partition(|c| c.add.is_some());
        if !stuck.is_empty()
            && self
                .liveness
                .lock()
                .expect("liveness lock")
                .stuck
                .insert(node)
        {
            let shards: Vec<_> = stuck.iter().map(|c| c.shard_id).collect();
            warn!(
                data_node = node,
                ?shards,
                "no other alive data node can take these shards"
            );
        }
        if changes.is_empty() {
            return;
        }
        let moved: Vec<_> = changes.iter().map(|c| (c.shard_id, c.add)).collect();
        match self
            .propose(MetaCommand::ChangeShardOwners {
                changes,
                force: false,
            })
            .await
        {
            Ok(_) => warn!(
                data_node = node,
                ?moved,
                "re-replicated the shards of an unreachable data node"
            ),
            Err(e) => {
                warn!(data_node = node, error = %e, "cannot re-replicate the shards of an unreachable data node")
            }
        }
    }

    async fn enforce_retention(&self) {
        if self.ensure_leader().is_err() {
            return;
        }
        let expired = crate::state::expired_shard_groups(&self.snapshot(), now_ns());
        if expired.is_empty() {
            return;
        }
        match self
            .propose(MetaCommand::DeleteExpiredShardGroups { now_ns: 0 })
            .await
        {
            Ok(CommandOutput::ShardGroups { ids, .. }) => {
                info!(?ids, "retention deleted expired shard groups");
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "retention check failed"),
        }
    }
}

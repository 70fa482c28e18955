//! One way to start a Sluice cluster in one process: the all-in-one
//! `sluice standalone` and the integration tests both build theirs here,
//! so a scenario runs the same against one data node and against three.
//!
//! ```text
//!  ClusterSpec::start
//!   1. Kafka: the embedded tansu (supervised child process) or given brokers
//!   2. metad: one voter in-process, bootstrapped; wait until it answers
//!      linearizable reads (it has a leader)
//!   3. data nodes 1..N in-process (`shardd::Node`), node i on the base
//!      ports + step·(i-1) (port 0: each its own free port)
//!   4. the database to create, if any
//!   5. the ingest router of the raw line-protocol topics, if asked
//!  Cluster::stop: ingest, data nodes, metad, broker — in that order
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meta_client::MetaClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

/// Port distance between data node i and i+1 on the public API.
pub const HTTP_PORT_STEP: u16 = 100;
/// Port distance between data node i and i+1 on the internal API.
pub const INTERNAL_PORT_STEP: u16 = 1;
/// How long metad may take to elect itself.
const METAD_START: Duration = Duration::from_secs(30);

/// Why a cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be made.
    #[error("cannot create {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The embedded broker did not start.
    #[error("cannot start the embedded broker: {0}")]
    Broker(#[from] broker::Error),
    /// The meta client could not be built.
    #[error("meta client: {0}")]
    MetaClient(#[from] meta_client::Error),
    /// metad did not come up.
    #[error("metad did not come up on {addr}: {last}")]
    Metad {
        /// Its address.
        addr: SocketAddr,
        /// The last error of a client call, or why it stopped.
        last: String,
    },
    /// A data node did not start.
    #[error("cannot start data node {index}: {source}")]
    Node {
        /// 1-based.
        index: usize,
        /// Cause.
        source: shardd::NodeError,
    },
    /// The database could not be created.
    #[error("cannot create database {name}: {source}")]
    Database {
        /// The database.
        name: String,
        /// Cause.
        source: meta_client::Error,
    },
}

/// Where the cluster's Kafka is.
#[derive(Debug, Clone)]
pub enum Kafka {
    /// Start tansu with its log in this directory, listening there.
    Embedded {
        /// Its data directory.
        dir: PathBuf,
        /// Its Kafka listener.
        listen: SocketAddr,
    },
    /// Use these bootstrap servers (`host:port,...`).
    Brokers(String),
}

/// What to start; see the module docs.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Holds `meta/` and `node-<i>/`.
    pub data_dir: PathBuf,
    /// The broker.
    pub kafka: Kafka,
    /// metad's API (a real port: it is the address metad advertises).
    pub meta_bind: SocketAddr,
    /// Public API of data node 1.
    pub http_bind: SocketAddr,
    /// Internal API of data node 1.
    pub internal_bind: SocketAddr,
    /// How many data nodes (0: metad alone, for tests that run their own).
    pub data_nodes: usize,
    /// Replication factor of new retention policies.
    pub replication_factor: u32,
    /// Prefix of every topic.
    pub topic_prefix: String,
    /// Every data node's public API: credentials, limits, HTTPS.
    pub api: ingest::http::ApiConfig,
    /// librdkafka properties of every Kafka client (TLS, SASL).
    pub kafka_properties: std::collections::BTreeMap<String, String>,
    /// Created once the cluster is up, unless it exists.
    pub create_database: Option<String>,
    /// Run the raw-topic ingest router with `/metrics` and `/health` here.
    pub ingest_bind: Option<SocketAddr>,
    /// The cluster's shared secret, which every node-to-node call carries
    /// (`None`: the internal APIs are open).
    pub shared_secret: Option<String>,
    /// Raft timeouts of a test (elections in a fraction of a second).
    pub fast_raft: bool,
    /// Applied to every data node's configuration last (tests tune
    /// heartbeat and watermark intervals here).
    pub node_config: fn(&mut shardd::NodeConfig),
    /// Adjusts metad's settings (tests: liveness and re-replication times).
    pub metad_config: fn(&mut metad::config::NodeConfig),
}

impl ClusterSpec {
    /// One data node with everything in `data_dir`, the embedded broker
    /// and the default ports of the all-in-one.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            kafka: Kafka::Embedded {
                dir: data_dir.join("kafka"),
                listen: settings::defaults::KAFKA_LISTEN,
            },
            data_dir,
            meta_bind: settings::defaults::META_LISTEN,
            http_bind: settings::defaults::HTTP_LISTEN,
            internal_bind: settings::defaults::INTERNAL_LISTEN,
            data_nodes: 1,
            replication_factor: 1,
            topic_prefix: schemas::topics::DEFAULT_PREFIX.to_owned(),
            api: ingest::http::ApiConfig::default(),
            kafka_properties: Default::default(),
            create_database: None,
            ingest_bind: None,
            shared_secret: None,
            fast_raft: false,
            node_config: |_| {},
            metad_config: |_| {},
        }
    }

    /// A test cluster in `data_dir`: the given brokers, metad on a free
    /// loopback port with fast elections, data nodes on free ports, topics
    /// prefixed so that tests sharing a broker do not meet, a shared secret
    /// as in production.
    pub fn for_test(data_dir: &Path, brokers: String, data_nodes: usize) -> Self {
        let meta_port = testkit::free_port();
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            kafka: Kafka::Brokers(brokers),
            meta_bind: SocketAddr::from(([127, 0, 0, 1], meta_port)),
            http_bind: any,
            internal_bind: any,
            data_nodes,
            topic_prefix: format!("t{meta_port}"),
            shared_secret: Some(format!("test-secret-{meta_port}")),
            fast_raft: true,
            ..Self::new(data_dir)
        }
    }

    /// Starts everything; see the module docs.
    pub async fn start(self) -> Result<Cluster, Error> {
        std::fs::create_dir_all(&self.data_dir).map_err(|source| Error::DataDir {
            path: self.data_dir.clone(),
            source,
        })?;
        let (broker, brokers) = match &self.kafka {
            Kafka::Brokers(b) => (None, b.clone()),
            Kafka::Embedded { dir, listen } => {
                (Some(Supervised::start(dir, *listen)?), listen.to_string())
            }
        };
        let mut cluster = Cluster {
            brokers,
            meta_addr: self.meta_bind,
            meta: Arc::new(MetaClient::new(meta_config(&self))?),
            nodes: Vec::new(),
            ingest: None,
            broker,
            stop_nodes: watch::channel(false).0,
            stop_meta: watch::channel(false).0,
            stop_ingest: watch::channel(false).0,
            metad: None,
            spec: self,
        };
        cluster.start_metad().await?;
        for _ in 0..cluster.spec.data_nodes {
            cluster.add_data_node().await?;
        }
        if let Some(name) = cluster.spec.create_database.clone() {
            cluster.create_database_if_missing(&name).await?;
        }
        if let Some(bind) = cluster.spec.ingest_bind {
            cluster.start_ingest(bind);
        }
        Ok(cluster)
    }
}

/// A running cluster.
pub struct Cluster {
    /// The Kafka bootstrap servers every part uses.
    pub brokers: String,
    /// metad's address.
    pub meta_addr: SocketAddr,
    /// A client of metad.
    pub meta: Arc<MetaClient>,
    /// The data nodes, node 1 first.
    pub nodes: Vec<shardd::NodeHandle>,
    /// The raw-topic router, when started.
    pub ingest: Option<JoinHandle<Result<(), ingest::daemon::DaemonError>>>,
    broker: Option<Supervised>,
    stop_nodes: watch::Sender<bool>,
    stop_meta: watch::Sender<bool>,
    stop_ingest: watch::Sender<bool>,
    metad: Option<JoinHandle<Result<(), metad::node::RunError>>>,
    spec: ClusterSpec,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("brokers", &self.brokers)
            .field("meta_addr", &self.meta_addr)
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// What the cluster was started with.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// The Kafka settings every part of this cluster uses.
    pub fn kafka_config(&self) -> ingest::produce::KafkaConfig {
        ingest::produce::KafkaConfig {
            brokers: self.brokers.clone(),
            properties: self.spec.kafka_properties.clone(),
            ..Default::default()
        }
    }

    /// The configuration data node `index` (1-based) starts with.
    pub fn node_config(&self, index: usize) -> shardd::NodeConfig {
        let s = &self.spec;
        let mut config = shardd::NodeConfig::new(s.data_dir.join(format!("node-{index}")));
        config.http_listen = nth_port(s.http_bind, index, HTTP_PORT_STEP);
        config.internal_listen = nth_port(s.internal_bind, index, INTERNAL_PORT_STEP);
        config.metad = meta_config(s);
        config.kafka = self.kafka_config();
        config.api = s.api.clone();
        // The embedded broker is tansu 0.6, whose fetches break once a
        // topic is deleted.
        config.delete_group_topics = !matches!(s.kafka, Kafka::Embedded { .. });
        (s.node_config)(&mut config);
        config
    }

    async fn start_metad(&mut self) -> Result<(), Error> {
        let s = &self.spec;
        let mut meta = metad::config::NodeConfig::new(1, s.meta_bind, s.data_dir.join("meta"));
        meta.bootstrap = true;
        meta.shared_secret.clone_from(&s.shared_secret);
        meta.topic_prefix = s.topic_prefix.clone();
        meta.default_replication_factor = s.replication_factor;
        if s.fast_raft {
            meta.election_timeout = Duration::from_millis(300);
            meta.heartbeat_interval = Duration::from_millis(50);
        }
        (s.metad_config)(&mut meta);
        let mut stop = self.stop_meta.subscribe();
        let task = tokio::spawn(metad::node::MetaNode::run(meta, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
        let deadline = tokio::time::Instant::now() + METAD_START;
        while let Err(e) = self.meta.snapshot_linearizable().await {
            if task.is_finished() || tokio::time::Instant::now() > deadline {
                return Err(Error::Metad {
                    addr: s.meta_bind,
                    last: e.to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.metad = Some(task);
        Ok(())
    }

    /// Starts one more data node with [`Self::node_config`].
    pub async fn add_data_node(&mut self) -> Result<&shardd::NodeHandle, Error> {
        let index = self.nodes.len() + 1;
        let handle = shardd::Node::start(self.node_config(index), self.stop_nodes.subscribe())
            .await
            .map_err(|source| Error::Node { index, source })?;
        self.nodes.push(handle);
        Ok(self.nodes.last().expect("just pushed"))
    }

    /// Creates database `name` with the cluster's default retention policy
    /// unless it exists.
    pub async fn create_database_if_missing(&self, name: &str) -> Result<(), Error> {
        let err = |source| Error::Database {
            name: name.to_owned(),
            source,
        };
        let md = self.meta.snapshot_linearizable().await.map_err(err)?;
        if md.database(name).is_none() {
            self.meta.create_database(name, None).await.map_err(err)?;
        }
        Ok(())
    }

    fn start_ingest(&mut self, http_listen: SocketAddr) {
        let config = ingest::daemon::DaemonConfig {
            kafka: self.kafka_config(),
            metad: meta_config(&self.spec),
            raw: ingest::raw::RawConfig {
                topic_prefix: self.spec.topic_prefix.clone(),
                // The one router of this cluster: a restart after a crash
                // takes its raw partitions straight back.
                instance_id: Some("standalone".into()),
                ..Default::default()
            },
            http_listen,
            serve_writes: false,
            api: Default::default(),
        };
        self.ingest = Some(tokio::spawn(ingest::daemon::run(
            config,
            self.stop_ingest.subscribe(),
        )));
    }

    /// Stops ingest (its offsets are committed only after Kafka acknowledged
    /// what it routed), the data nodes (closing RocksDB), metad, then the
    /// broker.
    pub async fn stop(mut self) {
        let _ = self.stop_ingest.send(true);
        if let Some(ingest) = self.ingest.take() {
            match ingest.await {
                Ok(Err(e)) => warn!(error = %e, "ingest router"),
                Err(e) => warn!(error = %e, "ingest router task"),
                Ok(Ok(())) => {}
            }
        }
        let _ = self.stop_nodes.send(true);
        for n in self.nodes.drain(..) {
            n.wait().await;
        }
        let _ = self.stop_meta.send(true);
        if let Some(m) = self.metad.take() {
            let _ = m.await;
        }
        if let Some(b) = self.broker.take() {
            let _ = tokio::task::spawn_blocking(move || b.stop()).await;
        }
    }
}

/// How every part of the cluster reaches metad.
fn meta_config(spec: &ClusterSpec) -> meta_client::Config {
    let mut config = meta_client::Config::new([spec.meta_bind.to_string()]);
    config.shared_secret.clone_from(&spec.shared_secret);
    config
}

/// The address of node `index` (1-based): `base` moved `step` ports per
/// node; port 0 stays 0 (each node gets a free port).
fn nth_port(base: SocketAddr, index: usize, step: u16) -> SocketAddr {
    let mut a = base;
    if base.port() != 0 {
        a.set_port(base.port() + step * (index as u16 - 1));
    }
    a
}

/// The embedded broker, restarted if it dies while the cluster runs.
struct Supervised {
    tansu: Arc<Mutex<broker::Tansu>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Supervised {
    fn start(dir: &Path, listen: SocketAddr) -> Result<Self, broker::Error> {
        let tansu = Arc::new(Mutex::new(broker::Tansu::start(dir, listen)?));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (Arc::clone(&tansu), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let mut broker = t.lock().unwrap_or_else(|e| e.into_inner());
                if s.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(status) = broker.exited() {
                    warn!(%status, log = %broker.log_tail(), "the embedded broker exited; restarting it");
                    if let Err(e) = broker.restart() {
                        warn!(error = %e, "restarting the embedded broker failed; retrying");
                    }
                }
            }
        });
        Ok(Supervised {
            tansu,
            stop,
            thread,
        })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.tansu
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ports_step_from_the_base_and_zero_stays_free() {
        let base = settings::defaults::HTTP_LISTEN;
        assert_eq!(nth_port(base, 1, 100).port(), 8086);
        assert_eq!(nth_port(base, 3, 100).port(), 8286);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(nth_port(any, 2, 100).port(), 0);
    }
}

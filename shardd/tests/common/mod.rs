//! Test context: a real tansu broker, a real metad in-process, and helpers
//! to write TSBS-shaped line protocol and to talk to data nodes' internal
//! API over real HTTP.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meta_client::{Config, MetaClient};
use schemas::meta::{MetaData, ShardGroup};
use schemas::meta_api::RetentionPolicySpec;
use schemas::node_api::{DigestReport, HoldRequest, ReplicaState, ShardStatus};

pub struct Cluster {
    pub broker: testkit::Broker,
    pub metad_addr: String,
    pub meta: Arc<MetaClient>,
    pub prefix: String,
    /// The shared secret every node-to-node call carries.
    pub secret: String,
    /// metad alone: the tests start their data nodes themselves.
    _cluster: sluice::cluster::Cluster,
    _meta_dir: tempfile::TempDir,
}

impl Cluster {
    /// The configuration of an in-process data node of this cluster in
    /// `dir`, on free ports, with fast heartbeats and watermark refreshes.
    pub fn node_config(&self, dir: &std::path::Path) -> shardd::NodeConfig {
        let mut config = shardd::NodeConfig::new(dir);
        config.http_listen = "127.0.0.1:0".parse().unwrap();
        config.internal_listen = "127.0.0.1:0".parse().unwrap();
        config.metad = Config::new([self.metad_addr.clone()]);
        config.metad.shared_secret = Some(self.secret.clone());
        config.kafka.brokers = self.broker.bootstrap();
        config.heartbeat_interval = Duration::from_millis(200);
        config.watermark_interval = Duration::from_millis(200);
        config
    }

    /// Starts the only data node of this cluster in-process, waits until
    /// metad lists it and creates database `db` (one replica per shard).
    /// Sending `true` on the returned sender stops the node.
    pub async fn start_node(
        &self,
        config: shardd::NodeConfig,
        db: &str,
    ) -> (shardd::NodeHandle, tokio::sync::watch::Sender<bool>) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let handle = shardd::Node::start(config, stop_rx)
            .await
            .expect("start node");
        self.wait_for_data_nodes(1).await;
        self.create_database(db, 1).await;
        (handle, stop_tx)
    }

    /// A broker and a one-node metad.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Self::start`] with metad's settings adjusted.
    pub async fn start_with(metad: fn(&mut metad::config::NodeConfig)) -> Self {
        let broker = testkit::Broker::start().expect("start tansu");
        let meta_dir = tempfile::tempdir().unwrap();
        let mut spec =
            sluice::cluster::ClusterSpec::for_test(meta_dir.path(), broker.bootstrap(), 0);
        spec.metad_config = metad;
        let cluster = spec.start().await.expect("start metad");
        Cluster {
            broker,
            metad_addr: cluster.meta_addr.to_string(),
            secret: cluster
                .spec()
                .shared_secret
                .clone()
                .expect("tests run with a secret"),
            meta: Arc::clone(&cluster.meta),
            prefix: cluster.spec().topic_prefix.clone(),
            _cluster: cluster,
            _meta_dir: meta_dir,
        }
    }

    /// Creates `db` with one shard per group and `rf` owners per shard.
    pub async fn create_database(&self, db: &str, rf: u32) {
        self.meta
            .create_database(
                db,
                Some(RetentionPolicySpec {
                    name: "autogen".into(),
                    duration_ns: 0,
                    shard_group_duration_ns: None,
                    replication_factor: rf,
                    shard_count: Some(1),
                }),
            )
            .await
            .expect("create database");
    }

    pub async fn snapshot(&self) -> MetaData {
        self.meta.snapshot_linearizable().await.unwrap()
    }

    /// Waits until `n` data nodes are registered and alive.
    pub async fn wait_for_data_nodes(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.snapshot().await.alive_data_nodes().count() >= n {
                return;
            }
            assert!(Instant::now() < deadline, "{n} data nodes did not register");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until a heartbeat brought metad a report of `shard` that
    /// satisfies `ok`, and returns it.
    pub async fn wait_for_report(
        &self,
        shard: u64,
        ok: impl Fn(&schemas::meta_api::ReplicaStatus) -> bool,
    ) -> schemas::meta_api::ReplicaStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.meta.status().await.unwrap();
            let r = st
                .data_nodes
                .values()
                .flat_map(|n| n.replicas.iter())
                .find(|r| r.shard_id == shard)
                .cloned();
            if let Some(r) = r.as_ref().filter(|r| ok(r)) {
                return r.clone();
            }
            assert!(Instant::now() < deadline, "no such report; last {r:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The only shard group of `db`.
    pub async fn group(&self, db: &str) -> ShardGroup {
        let md = self.snapshot().await;
        let groups: Vec<_> = md.shard_groups().filter(|g| g.database == db).collect();
        assert_eq!(groups.len(), 1, "{groups:?}");
        groups[0].clone()
    }
}

/// TSBS `cpu` lines: `hosts` hosts × `points` timestamps from `first`
/// (10 s apart), 10 integer fields each, precision s.
pub fn tsbs_lines(hosts: usize, first: usize, points: usize) -> String {
    const FIELDS: [&str; 10] = [
        "usage_user",
        "usage_system",
        "usage_idle",
        "usage_nice",
        "usage_iowait",
        "usage_irq",
        "usage_softirq",
        "usage_steal",
        "usage_guest",
        "usage_guest_nice",
    ];
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let mut out = String::new();
    for i in first..first + points {
        for h in 0..hosts {
            let region = regions[h % regions.len()];
            out.push_str(&format!(
                "cpu,hostname=host_{h},region={region},datacenter={region}a,rack={},os=Ubuntu16.04LTS,\
                 arch=x64,team=SF,service={},service_version=0,service_environment=production ",
                h % 100,
                h % 20
            ));
            for (f, name) in FIELDS.iter().enumerate() {
                if f > 0 {
                    out.push(',');
                }
                let v = (h * 7 + f * 13 + i * 3) % 101;
                out.push_str(&format!("{name}={v}i"));
            }
            out.push_str(&format!(" {}\n", 1_767_225_600 + i as i64 * 10));
        }
    }
    out
}

/// A node's `/metrics` text.
pub async fn metrics(http_addr: &str) -> String {
    reqwest::get(format!("http://{http_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// POSTs line protocol to a node's `/write`.
pub async fn write(http: &reqwest::Client, addr: &str, db: &str, body: String) {
    let resp = http
        .post(format!("http://{addr}/write?db={db}&precision=s"))
        .body(body)
        .send()
        .await
        .expect("write request");
    let status = resp.status();
    assert_eq!(
        status,
        204,
        "write: {}",
        resp.text().await.unwrap_or_default()
    );
}

/// The internal API of one data node.
pub struct Internal {
    pub client: node_client::NodeClient,
    pub addr: String,
}

impl Internal {
    pub fn new(addr: impl Into<String>, secret: &str) -> Self {
        Internal {
            client: node_client::NodeClient::new(Some(secret.to_owned()), Duration::from_secs(30))
                .unwrap(),
            addr: addr.into(),
        }
    }

    pub async fn status(&self, shard: u64) -> Option<ShardStatus> {
        self.client.status(&self.addr, shard).await.ok()
    }

    pub async fn hold(&self, shard: u64) -> ShardStatus {
        let hold = HoldRequest::default();
        self.client
            .hold(&self.addr, shard, &hold)
            .await
            .expect("hold")
    }

    pub async fn release(&self, shard: u64) {
        self.client
            .release(&self.addr, shard)
            .await
            .expect("release");
    }

    pub async fn digest_at(&self, shard: u64, offset: i64) -> DigestReport {
        self.client
            .digest(&self.addr, shard, Some(offset), 20_000)
            .await
            .expect("digest")
    }

    pub async fn resume(
        &self,
        shard: u64,
        from_offset: i64,
    ) -> Result<ShardStatus, node_client::Error> {
        self.client.resume(&self.addr, shard, from_offset).await
    }

    /// Rebuilds by replaying the partition (`replay`) or from a peer's
    /// snapshot.
    pub async fn rebuild(
        &self,
        shard: u64,
        replay: bool,
    ) -> Result<ShardStatus, node_client::Error> {
        self.client.rebuild(&self.addr, shard, replay).await
    }

    /// Waits until the replica is in `state` and, with `through`, has
    /// applied everything up to that offset.
    pub async fn wait_until(
        &self,
        shard: u64,
        what: &str,
        ok: impl Fn(&ShardStatus) -> bool,
    ) -> ShardStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        loop {
            if let Some(s) = self.status(shard).await {
                if ok(&s) {
                    return s;
                }
                last = Some(s);
            }
            assert!(
                Instant::now() < deadline,
                "{} never {what}; last status {last:?}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Healthy and through `offset`.
    pub async fn wait_caught_up(&self, shard: u64, offset: i64) -> ShardStatus {
        self.wait_until(shard, &format!("caught up to {offset}"), |s| {
            s.state == ReplicaState::Healthy && s.caught_up_through.is_some_and(|c| c >= offset)
        })
        .await
    }
}

/// The partition's high watermark, from the broker.
pub fn high_watermark(brokers: &str, topic: &str, partition: i32) -> i64 {
    kafka_log::Watermarks::new(&kafka_log::KafkaConfig::new(brokers))
        .unwrap()
        .fetch_blocking(topic, partition, Duration::from_secs(10))
        .unwrap()
        .1
}

/// Holds every replica, digests all at the largest applied offset, releases.
pub async fn digests_at_common_offset(nodes: &[&Internal], shard: u64) -> (i64, Vec<DigestReport>) {
    let mut offset = -1;
    for n in nodes {
        offset = offset.max(n.hold(shard).await.applied_offset.unwrap_or(-1));
    }
    let mut out = Vec::new();
    for n in nodes {
        out.push(n.digest_at(shard, offset).await);
    }
    for n in nodes {
        n.release(shard).await;
    }
    (offset, out)
}

/// A `shardd` process (killed when dropped).
pub struct Shardd {
    pub child: Child,
    pub http: String,
    pub internal: String,
}

/// Starts a `shardd` process of `cluster` on the given ports, logging to
/// `<data_dir>.log`.
pub fn spawn_shardd(
    cluster: &Cluster,
    data_dir: &Path,
    http_port: u16,
    internal_port: u16,
) -> Shardd {
    spawn_shardd_with(cluster, data_dir, http_port, internal_port, &[])
}

/// [`spawn_shardd`] with more flags.
pub fn spawn_shardd_with(
    cluster: &Cluster,
    data_dir: &Path,
    http_port: u16,
    internal_port: u16,
    extra: &[&str],
) -> Shardd {
    let http = format!("127.0.0.1:{http_port}");
    let internal = format!("127.0.0.1:{internal_port}");
    let log = std::fs::File::create(data_dir.with_extension("log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_shardd"))
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--http-listen", &http, "--internal-listen", &internal])
        .args(["--metad", &cluster.metad_addr])
        .args(["--shared-secret", &cluster.secret])
        .args(["--kafka-brokers", &cluster.broker.bootstrap()])
        .args([
            "--heartbeat-interval-ms",
            "200",
            "--watermark-interval-ms",
            "200",
        ])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn shardd");
    Shardd {
        child,
        http,
        internal,
    }
}

impl Drop for Shardd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` `shardd` processes of `cluster` under `dir` (on free ports, with
/// `extra` flags), once metad lists them all.
pub async fn spawn_nodes(cluster: &Cluster, dir: &Path, n: usize, extra: &[&str]) -> Vec<Shardd> {
    let nodes = (0..n)
        .map(|i| {
            let (http, internal) = (testkit::free_port(), testkit::free_port());
            spawn_shardd_with(cluster, &dir.join(format!("n{i}")), http, internal, extra)
        })
        .collect();
    cluster.wait_for_data_nodes(n).await;
    nodes
}

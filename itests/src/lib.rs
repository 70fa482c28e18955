//! # itests — the cluster as containers, and the faults operators meet
//!
//! Each test starts its own cluster from the images `./docker/build.sh`
//! makes (`sluice:latest`, `sluice-tansu:latest`), on its own Docker
//! network, every daemon a separate host with its own address:
//!
//! ```text
//!  Cluster::start ── network it-<test>-<pid>
//!     ├─ tansu                 (the broker; sqlite on a host directory)
//!     ├─ metad1..3             (--initial-members: a three-voter raft at once)
//!     ├─ shardd1..N            (data nodes; /data bind-mounted from the host)
//!     └─ ingest                (raw topics; also the operator's shell: `ctl`
//!                               runs sluice-ctl and kcat inside it)
//!  the test (on the host) ── HTTP to each container's address ── /write, /query, /health
//!  faults ── testcontainers + its bollard client: SIGKILL, pause, network
//!            disconnect, stop/start, wipe a data directory, new hosts
//! ```
//!
//! [`Load`] writes and queries in the background during a fault and
//! reports every acknowledged point, every error and the slowest query, so
//! a test can prove that nothing acknowledged was lost and no query failed.
//! `./scripts/itests.sh` builds the images and runs these tests.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use serde_json::Value;
use testcontainers::bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use testcontainers::bollard::query_parameters::KillContainerOptionsBuilder;
use testcontainers::bollard::Docker;
use testcontainers::core::{CmdWaitFor, ExecCommand, Mount};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _};

/// The image with every Sluice binary (and kcat).
pub const SLUICE_IMAGE: (&str, &str) = ("sluice", "latest");
/// The tansu broker's image.
pub const TANSU_IMAGE: (&str, &str) = ("sluice-tansu", "latest");
/// The database every cluster creates, with [`ClusterSpec::replication`] owners per shard.
pub const DB: &str = "demo";

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Names the network and the containers (with the process id).
    pub name: &'static str,
    /// metad voters (1 or 3).
    pub metads: usize,
    /// Data nodes.
    pub data_nodes: usize,
    /// Owners per shard of [`DB`] (and metad's default).
    pub replication: u32,
}

impl ClusterSpec {
    /// The compose file's cluster: 3 metad, 3 data nodes, replication 2.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            metads: 3,
            data_nodes: 3,
            replication: 2,
        }
    }
}

/// One container of the cluster.
pub struct Service {
    /// Container name, which is also its host name on the network.
    pub name: String,
    container: ContainerAsync<GenericImage>,
    /// The host directory mounted at `/data`.
    pub data: PathBuf,
}

impl Service {
    /// The container id.
    pub fn id(&self) -> &str {
        self.container.id()
    }
}

/// What every container of one cluster is told: its network, the host
/// names of its metad nodes and broker, and the shared secret.
struct Names {
    network: String,
    secret: String,
    metads: usize,
}

impl Names {
    fn host(&self, svc: &str) -> String {
        format!("{}-{svc}", self.network)
    }

    /// `host:port` of metad `i` (its raft id, from 1).
    fn metad_addr(&self, i: usize) -> String {
        format!("{}:8091", self.host(&format!("metad{i}")))
    }

    /// The kafka bootstrap address.
    fn broker(&self) -> String {
        format!("{}:9092", self.host("tansu"))
    }

    fn metad_list(&self) -> String {
        (1..=self.metads)
            .map(|i| self.metad_addr(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A request for the sluice image running `cmd`, with the cluster's
    /// secret, metad list and broker in its environment (as in
    /// `docker/compose.yml`).
    fn sluice(
        &self,
        cmd: impl IntoIterator<Item = impl Into<String>>,
    ) -> testcontainers::ContainerRequest<GenericImage> {
        GenericImage::new(SLUICE_IMAGE.0, SLUICE_IMAGE.1)
            .with_cmd(cmd)
            .with_env_var("SLUICE_SHARED_SECRET", &self.secret)
            .with_env_var("SLUICE_METAD", self.metad_list())
            .with_env_var("SLUICE_KAFKA_BROKERS", self.broker())
            // As docker/compose.yml: tansu mishandles idempotent producers
            // once it has restarted.
            .with_env_var("SLUICE_KAFKA_IDEMPOTENCE", "false")
            // And a topic deleted on tansu breaks its consumers' fetches.
            .with_env_var("SLUICE_DELETE_GROUP_TOPICS", "false")
            .with_env_var("SLUICE_LOG_FILTER", "info")
    }

    /// Starts data node `shardd<index + 1>` on the data directory `data`
    /// (a new one under `dirs` when `None`).
    async fn data_node(
        &self,
        dirs: &Path,
        index: usize,
        data: Option<PathBuf>,
    ) -> anyhow::Result<Service> {
        let host = self.host(&format!("shardd{}", index + 1));
        let data = data.unwrap_or_else(|| dirs.join(&host));
        let request = self
            .sluice([
                "shardd".to_string(),
                "--http-advertise".into(),
                format!("{host}:8086"),
                "--internal-advertise".into(),
                format!("{host}:8088"),
            ])
            .with_env_var("SLUICE_DATA_DIR", "/data")
            .with_env_var("SLUICE_HTTP_LISTEN", "0.0.0.0:8086")
            .with_env_var("SLUICE_INTERNAL_LISTEN", "0.0.0.0:8088");
        start_service(&self.network, &host, data, request).await
    }
}

/// A running cluster; dropping it removes its containers and network.
pub struct Cluster {
    names: Names,
    docker: Docker,
    /// The broker.
    pub tansu: Service,
    /// metad nodes, `metads[i]` has raft id `i + 1`.
    pub metads: Vec<Service>,
    /// Data nodes by index (`shardd1` is index 0). A replaced one stays.
    pub data_nodes: Vec<Service>,
    /// The ingest daemon, also where `ctl` and `kcat` run.
    pub ingest: Service,
    http: reqwest::Client,
    dirs: tempfile::TempDir,
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls `check` every 100 ms until it gives a value or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "not yet".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!("{what}: not within {timeout:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Cluster {
    /// Starts `spec`'s cluster and waits until every data node is healthy
    /// and [`DB`] exists.
    pub async fn start(spec: ClusterSpec) -> anyhow::Result<Self> {
        let names = Names {
            network: format!("it-{}-{}", spec.name, std::process::id()),
            secret: random_hex(16),
            metads: spec.metads,
        };
        let dirs = tempfile::Builder::new().prefix(&names.network).tempdir()?;
        let docker = Docker::connect_with_local_defaults().context("connect to Docker")?;
        let tansu_host = names.host("tansu");
        let tansu = start_service(
            &names.network,
            &tansu_host,
            dirs.path().join(&tansu_host),
            GenericImage::new(TANSU_IMAGE.0, TANSU_IMAGE.1)
                .with_cmd([
                    "broker".to_string(),
                    "--listener-url".into(),
                    "tcp://0.0.0.0:9092".into(),
                    "--advertised-listener-url".into(),
                    format!("tcp://{tansu_host}:9092"),
                    "--storage-engine".into(),
                    "sqlite://tansu.db".into(),
                ])
                .with_env_var("RUST_LOG", "warn")
                .with_env_var("RUST_BACKTRACE", "1"),
        )
        .await?;
        let members = (1..=spec.metads)
            .map(|i| format!("{i}={}", names.metad_addr(i)))
            .collect::<Vec<_>>()
            .join(",");
        let mut metads = Vec::new();
        for i in 1..=spec.metads {
            let host = names.host(&format!("metad{i}"));
            let mut cmd = vec![
                "metad".to_string(),
                "--node-id".into(),
                i.to_string(),
                "--advertise".into(),
                names.metad_addr(i),
            ];
            if i == 1 {
                cmd.extend([
                    "--bootstrap".into(),
                    "--initial-members".into(),
                    members.clone(),
                ]);
            }
            let request = names
                .sluice(cmd)
                .with_env_var("METAD_LISTEN", "0.0.0.0:8091")
                .with_env_var("METAD_DATA_DIR", "/data")
                .with_env_var(
                    "METAD_DEFAULT_REPLICATION_FACTOR",
                    spec.replication.to_string(),
                );
            let data = dirs.path().join(&host);
            metads.push(start_service(&names.network, &host, data, request).await?);
        }
        let mut data_nodes = Vec::new();
        for i in 0..spec.data_nodes {
            data_nodes.push(names.data_node(dirs.path(), i, None).await?);
        }
        let request = names.sluice([
            "ingest",
            "--instance-id",
            "ingest-1",
            "--http-listen",
            "0.0.0.0:8087",
        ]);
        let ingest_host = names.host("ingest");
        let ingest = start_service(
            &names.network,
            &ingest_host,
            dirs.path().join(&ingest_host),
            request,
        )
        .await?;
        let cluster = Cluster {
            names,
            docker,
            tansu,
            metads,
            data_nodes,
            ingest,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(1))
                .build()?,
            dirs,
        };
        // metad may still be electing its first leader.
        wait_for(Duration::from_secs(60), "database created", || async {
            cluster
                .ctl(&[
                    "create-database",
                    DB,
                    "--replication",
                    &spec.replication.to_string(),
                ])
                .await
                .map(Some)
        })
        .await?;
        for i in 0..cluster.data_nodes.len() {
            cluster.wait_healthy(i, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    /// Starts one more data node (`shardd<N+1>`, a new host with a new
    /// address) and returns its index.
    pub async fn add_data_node(&mut self) -> anyhow::Result<usize> {
        let index = self.data_nodes.len();
        let node = self.names.data_node(self.dirs.path(), index, None).await?;
        self.data_nodes.push(node);
        Ok(index)
    }

    /// Moves data node `i` to a new host: stops its container and starts
    /// `shardd<N+1>`, with a new name and address, on its data directory
    /// (a disk moved to another machine). Returns the new index.
    pub async fn move_data_node(&mut self, i: usize) -> anyhow::Result<usize> {
        self.stop(&self.data_nodes[i]).await?;
        let index = self.data_nodes.len();
        let data = Some(self.data_nodes[i].data.clone());
        let node = self.names.data_node(self.dirs.path(), index, data).await?;
        self.data_nodes.push(node);
        Ok(index)
    }

    /// The container's address on the cluster's network.
    pub async fn ip(&self, service: &Service) -> anyhow::Result<IpAddr> {
        let info = self.docker.inspect_container(service.id(), None).await?;
        let ip = info
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|mut n| n.remove(&self.names.network))
            .and_then(|n| n.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| anyhow!("{} has no address on {}", service.name, self.names.network))?;
        Ok(ip.parse()?)
    }

    /// `http://<address>:8086` of data node `i`.
    pub async fn url(&self, i: usize) -> anyhow::Result<String> {
        Ok(format!(
            "http://{}:8086",
            self.ip(&self.data_nodes[i]).await?
        ))
    }

    /// Runs `sluice-ctl ARGS` in the ingest container (on the cluster's
    /// network, with its secret) and returns what it printed; an error
    /// with its output when it fails.
    pub async fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = vec!["sluice-ctl"];
        cmd.extend_from_slice(args);
        self.exec(&self.ingest, &cmd).await
    }

    /// [`Self::ctl`] with `--json`, parsed.
    pub async fn ctl_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all).await?;
        serde_json::from_str(&out).with_context(|| format!("sluice-ctl {args:?}: {out}"))
    }

    /// Runs `cmd` in `service`'s container until it exits.
    pub async fn exec(&self, service: &Service, cmd: &[&str]) -> anyhow::Result<String> {
        let mut result = service
            .container
            .exec(
                ExecCommand::new(cmd.iter().copied()).with_cmd_ready_condition(CmdWaitFor::exit()),
            )
            .await
            .with_context(|| format!("exec {cmd:?} in {}", service.name))?;
        let stdout = String::from_utf8_lossy(&result.stdout_to_vec().await?).into_owned();
        let stderr = String::from_utf8_lossy(&result.stderr_to_vec().await?).into_owned();
        match result.exit_code().await? {
            Some(0) => Ok(stdout),
            code => bail!(
                "{cmd:?} in {} exited {code:?}: {stdout}{stderr}",
                service.name
            ),
        }
    }

    /// Writes `lines` into the raw line-protocol topic of [`DB`] with kcat,
    /// as a producer outside Sluice would (one record).
    pub async fn produce_raw(&self, lines: &str) -> anyhow::Result<()> {
        let file = format!("raw-{}.lp", random_hex(4));
        std::fs::write(self.ingest.data.join(&file), lines)?;
        let topic = format!("sluice.lp.{DB}");
        let broker = self.names.broker();
        let path = format!("/data/{file}");
        self.exec(
            &self.ingest,
            &["kcat", "-b", &broker, "-t", &topic, "-P", &path],
        )
        .await?;
        Ok(())
    }

    /// POSTs line protocol to data node `i`'s `/write`; an error with
    /// InfluxDB's answer unless it is 204.
    pub async fn write(&self, i: usize, body: String) -> anyhow::Result<()> {
        let url = format!("{}/write?db={DB}&precision=ns", self.url(i).await?);
        let answer = self
            .http
            .post(url)
            .timeout(Duration::from_secs(10))
            .body(body)
            .send()
            .await?;
        let status = answer.status();
        if status != reqwest::StatusCode::NO_CONTENT {
            bail!(
                "write: {status}: {}",
                answer.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Runs `q` on data node `i` (read-your-writes) within `timeout`; the
    /// answer's JSON, or an error naming any error InfluxQL reported.
    pub async fn query(&self, i: usize, q: &str, timeout: Duration) -> anyhow::Result<Value> {
        let url = format!("{}/query", self.url(i).await?);
        query(&self.http, &url, q, timeout).await
    }

    /// `SELECT count(v) FROM m` on data node `i`.
    pub async fn count(&self, i: usize, measurement: &str) -> anyhow::Result<u64> {
        let answer = self
            .query(
                i,
                &format!("SELECT count(v) FROM {measurement}"),
                Duration::from_secs(10),
            )
            .await?;
        Ok(answer["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0))
    }

    /// Waits until data node `i` answers `/health` with 200.
    pub async fn wait_healthy(&self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let what = format!("{} healthy", self.data_nodes[i].name);
        wait_for(timeout, &what, || async {
            let url = format!("{}/health", self.url(i).await?);
            let answer = self
                .http
                .get(url)
                .timeout(Duration::from_secs(2))
                .send()
                .await?;
            Ok(answer.status().is_success().then_some(()))
        })
        .await
    }

    /// The data node id metad gave data node `i` (from its `node-id` file).
    pub fn node_id(&self, i: usize) -> anyhow::Result<u64> {
        let path = self.data_nodes[i].data.join("node-id");
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        Ok(text.trim().parse()?)
    }

    /// The index of the data node with metad id `id`.
    pub fn index_of(&self, id: u64) -> anyhow::Result<usize> {
        (0..self.data_nodes.len())
            .find(|&i| self.node_id(i).ok() == Some(id))
            .ok_or_else(|| anyhow!("no data node has id {id}"))
    }

    /// `sluice-ctl show-shards --json`: every live shard.
    pub async fn shards(&self) -> anyhow::Result<Vec<Value>> {
        match self.ctl_json(&["show-shards"]).await? {
            Value::Array(rows) => Ok(rows),
            other => bail!("show-shards: {other}"),
        }
    }

    /// Owners (metad ids) of each shard of [`DB`], by shard id.
    pub async fn owners(&self) -> anyhow::Result<BTreeMap<u64, Vec<u64>>> {
        Ok(self
            .shards()
            .await?
            .iter()
            .filter(|s| s["database"] == DB)
            .map(|s| {
                let owners = s["owners"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o["node_id"].as_u64())
                    .collect();
                (s["id"].as_u64().unwrap_or_default(), owners)
            })
            .collect())
    }

    /// Waits until every owner of every shard reports a healthy replica at
    /// the partition's high watermark; how long that took.
    pub async fn wait_caught_up(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let waited = wait_for(timeout, "every replica caught up", || async {
            let shards = self.shards().await?;
            let behind = shards.iter().flat_map(|s| {
                s["owners"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|o| {
                        o["state"] != "healthy"
                            || o["applied_offset"].as_i64() != o["high_watermark"].as_i64()
                    })
            });
            Ok((behind.count() == 0 && !shards.is_empty()).then_some(()))
        })
        .await;
        if let Err(e) = waited {
            let table = self
                .ctl(&["show-shards"])
                .await
                .unwrap_or_else(|e| e.to_string());
            bail!("{e:#}\n{table}");
        }
        Ok(start.elapsed())
    }

    /// `sluice-ctl verify-shard` for every shard of [`DB`]: all replicas
    /// have one digest at one offset.
    pub async fn verify_all(&self) -> anyhow::Result<()> {
        for shard in self.owners().await?.keys() {
            self.ctl(&["verify-shard", &shard.to_string()])
                .await
                .with_context(|| format!("verify-shard {shard}"))?;
        }
        Ok(())
    }

    /// The metad raft leader's id as metad `via` (index) knows it, asked
    /// over HTTP (`GET /status`) with a 1 s deadline.
    pub async fn meta_leader(&self, via: usize) -> anyhow::Result<Option<u64>> {
        let url = format!("http://{}:8091/status", self.ip(&self.metads[via]).await?);
        let status: Value = self
            .http
            .get(url)
            .bearer_auth(&self.names.secret)
            .timeout(Duration::from_secs(1))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(status["leader"].as_u64())
    }

    /// Sends `signal` (`SIGKILL`, `SIGTERM`) to the container's process.
    pub async fn kill(&self, service: &Service, signal: &str) -> anyhow::Result<()> {
        let options = KillContainerOptionsBuilder::new().signal(signal).build();
        self.docker
            .kill_container(service.id(), Some(options))
            .await?;
        Ok(())
    }

    /// Starts a stopped (or killed) container again, same host name and data.
    pub async fn restart(&self, service: &Service) -> anyhow::Result<()> {
        service.container.start().await?;
        Ok(())
    }

    /// Stops the container (SIGTERM, then SIGKILL after 10 s); how long it took.
    pub async fn stop(&self, service: &Service) -> anyhow::Result<Duration> {
        let start = Instant::now();
        service.container.stop_with_timeout(Some(10)).await?;
        Ok(start.elapsed())
    }

    /// Freezes every process of the container (`docker pause`).
    pub async fn pause(&self, service: &Service) -> anyhow::Result<()> {
        service.container.pause().await?;
        Ok(())
    }

    /// Thaws a paused container.
    pub async fn unpause(&self, service: &Service) -> anyhow::Result<()> {
        service.container.unpause().await?;
        Ok(())
    }

    /// Cuts the container off the cluster's network.
    pub async fn disconnect(&self, service: &Service) -> anyhow::Result<()> {
        let request = NetworkDisconnectRequest {
            container: service.id().to_owned(),
            force: Some(true),
        };
        self.docker
            .disconnect_network(&self.names.network, request)
            .await?;
        Ok(())
    }

    /// Puts a disconnected container back on the network (by its host name).
    pub async fn connect(&self, service: &Service) -> anyhow::Result<()> {
        let request = NetworkConnectRequest {
            container: service.id().to_owned(),
            endpoint_config: None,
        };
        self.docker
            .connect_network(&self.names.network, request)
            .await?;
        Ok(())
    }

    /// Deletes everything in the service's data directory (the container
    /// must be stopped).
    pub fn wipe(&self, service: &Service) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(&service.data)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Starts background writes to data node `writer` and queries to data
    /// node `reader` (see [`Load`]).
    pub async fn load(
        &self,
        writer: usize,
        reader: usize,
        measurement: &str,
    ) -> anyhow::Result<Load> {
        Load::start(
            self.http.clone(),
            self.url(writer).await?,
            self.url(reader).await?,
            measurement,
        )
    }

    /// Where each container's log is saved when the cluster is dropped.
    pub fn log_dir(&self) -> PathBuf {
        std::env::temp_dir()
            .join("sluice-itests")
            .join(&self.names.network)
    }

    /// Saves every container's whole log under [`Self::log_dir`] and, when
    /// the test failed, prints the last lines of each.
    fn save_logs(&self) {
        let dir = self.log_dir();
        let _ = std::fs::create_dir_all(&dir);
        let all = std::iter::once(&self.tansu)
            .chain(&self.metads)
            .chain(&self.data_nodes)
            .chain(std::iter::once(&self.ingest));
        for service in all {
            let Ok(out) = std::process::Command::new("docker")
                .args(["logs", service.id()])
                .output()
            else {
                continue;
            };
            let log = [out.stdout, out.stderr].concat();
            let _ = std::fs::write(dir.join(format!("{}.log", service.name)), &log);
            if std::thread::panicking() {
                let text = String::from_utf8_lossy(&log);
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                eprintln!("----- {} (last 30 lines)", service.name);
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        eprintln!("container logs: {}", dir.display());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.save_logs();
    }
}

/// Starts `request` as container `name` on `network`, with the host
/// directory `data` as its `/data`.
async fn start_service(
    network: &str,
    name: &str,
    data: PathBuf,
    request: testcontainers::ContainerRequest<GenericImage>,
) -> anyhow::Result<Service> {
    std::fs::create_dir_all(&data)?;
    let container = request
        .with_network(network)
        .with_container_name(name)
        .with_mount(Mount::bind_mount(data.to_string_lossy(), "/data"))
        .start()
        .await
        .with_context(|| format!("start {name} (did ./docker/build.sh run?)"))?;
    Ok(Service {
        name: name.to_owned(),
        container,
        data,
    })
}

async fn query(
    http: &reqwest::Client,
    url: &str,
    q: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let url =
        reqwest::Url::parse_with_params(url, [("db", DB), ("q", q), ("consistency", "strong")])?;
    let answer = http.get(url).timeout(timeout).send().await?;
    let status = answer.status();
    let body: Value = answer.json().await?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    if let Some(e) = body["results"][0]["error"]
        .as_str()
        .or(body["error"].as_str())
    {
        bail!("{q}: {e}");
    }
    Ok(body)
}

/// Writes and queries in the background: every 50 ms a batch of
/// [`Load::BATCH`] new points (`<measurement>,w=load v=<seq>i`) to the
/// writer node, and a `count` query to the reader node, each query given 2 s.
pub struct Load {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<LoadReport>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a [`Load`] saw.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Sequence numbers of the points acknowledged with 204.
    pub acked: Vec<u64>,
    /// Points sent in batches that were not acknowledged.
    pub unacked: u64,
    /// Every failed write, with when it failed.
    pub write_errors: Vec<String>,
    /// Queries answered.
    pub queries: u64,
    /// Every failed or slow query.
    pub query_errors: Vec<String>,
    /// The slowest query.
    pub slowest_query: Duration,
}

impl Load {
    /// Points per write.
    pub const BATCH: u64 = 50;

    fn start(
        http: reqwest::Client,
        writer: String,
        reader: String,
        measurement: &str,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(LoadReport::default()));
        let started = Instant::now();
        let base_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as u64;
        let write_task = {
            let (stop, report, http, m) = (
                stop.clone(),
                report.clone(),
                http.clone(),
                measurement.to_owned(),
            );
            tokio::spawn(async move {
                let mut seq = 0u64;
                let url = format!("{writer}/write?db={DB}&precision=ns");
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<u64> = (seq..seq + Load::BATCH).collect();
                    seq += Load::BATCH;
                    let body: String = batch
                        .iter()
                        .map(|s| format!("{m},w=load v={s}i {}\n", base_ns + s * 1000))
                        .collect();
                    let answer = http
                        .post(&url)
                        .timeout(Duration::from_secs(10))
                        .body(body)
                        .send()
                        .await;
                    let failure = match answer {
                        Ok(a) if a.status() == reqwest::StatusCode::NO_CONTENT => None,
                        Ok(a) => Some(format!(
                            "{}: {}",
                            a.status(),
                            a.text().await.unwrap_or_default()
                        )),
                        Err(e) => Some(e.to_string()),
                    };
                    {
                        let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
                        match failure {
                            None => r.acked.extend(batch),
                            Some(what) => {
                                r.unacked += Load::BATCH;
                                r.write_errors
                                    .push(format!("at {:?}: {what}", started.elapsed()));
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let query_task = {
            let (stop, report, m) = (stop.clone(), report.clone(), measurement.to_owned());
            tokio::spawn(async move {
                let url = format!("{reader}/query");
                let q = format!("SELECT count(v) FROM {m}");
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let answer = query(&http, &url, &q, Duration::from_secs(2)).await;
                    let took = t.elapsed();
                    {
                        let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
                        r.queries += 1;
                        r.slowest_query = r.slowest_query.max(took);
                        if let Err(e) = answer {
                            r.query_errors
                                .push(format!("at {:?} after {took:?}: {e:#}", started.elapsed()));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        Ok(Self {
            stop,
            report,
            tasks: vec![write_task, query_task],
        })
    }

    /// What it has seen so far.
    pub fn report(&self) -> LoadReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops both loops and reports.
    pub async fn stop(mut self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.report()
    }
}

/// Checks that data node `i` holds every acknowledged point of `report`
/// (each sequence number once) and returns how many points it holds.
pub async fn assert_nothing_lost(
    cluster: &Cluster,
    i: usize,
    measurement: &str,
    report: &LoadReport,
) -> anyhow::Result<u64> {
    let answer = cluster
        .query(
            i,
            &format!("SELECT v FROM {measurement} WHERE w = 'load'"),
            Duration::from_secs(30),
        )
        .await?;
    let stored: std::collections::BTreeSet<u64> = answer["results"][0]["series"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row[1].as_u64())
        .collect();
    let lost: Vec<u64> = report
        .acked
        .iter()
        .copied()
        .filter(|s| !stored.contains(s))
        .collect();
    if !lost.is_empty() {
        bail!(
            "{} of {} acknowledged points are missing on {} (first: {:?})",
            lost.len(),
            report.acked.len(),
            cluster.data_nodes[i].name,
            &lost[..lost.len().min(10)]
        );
    }
    Ok(stored.len() as u64)
}

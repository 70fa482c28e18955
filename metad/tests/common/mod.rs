//! Test context: real `metad` processes on loopback ports with temp dirs.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use meta_client::{Config, MetaClient};
use schemas::meta::MetaData;
use schemas::meta_api::ClusterStatus;
use tempfile::TempDir;

/// A loopback address nothing listens on right now.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Polls `f` until it yields `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One metad process; killed when dropped.
pub struct Metad {
    pub id: u64,
    pub addr: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    bootstrap: bool,
    secret: Option<String>,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Metad {
    pub fn spawn(
        id: u64,
        root: &Path,
        bootstrap: bool,
        secret: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let mut m = Self {
            id,
            addr: free_addr(),
            data_dir: root.join(format!("meta{id}")),
            log: root.join(format!("meta{id}.log")),
            bootstrap,
            secret: secret.map(str::to_owned),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        m.start();
        m
    }

    /// (Re)starts the process with the same id, address and data.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_metad"));
        cmd.args(["--node-id", &self.id.to_string()])
            .args(["--listen", &self.addr])
            .args(["--data-dir", self.data_dir.to_str().unwrap()])
            .args(["--heartbeat-interval-ms", "50"])
            .args(["--election-timeout-ms", "300"])
            .args(["--snapshot-logs", "20"])
            .args(["--log", "info"])
            .args(&self.extra)
            .env_remove("SLUICE_SHARED_SECRET")
            .env_remove("METAD_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if self.bootstrap {
            cmd.arg("--bootstrap");
        }
        match &self.secret {
            Some(s) => cmd.args(["--shared-secret", s]),
            None => cmd.arg("--insecure-internal"),
        };
        self.child = Some(cmd.spawn().expect("spawn metad"));
    }

    /// SIGKILL: no shutdown, no flush beyond what was already synced.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn client(&self) -> MetaClient {
        client_for(&[self], self.secret.as_deref())
    }

    /// This node's own state (GET /meta is served locally).
    pub async fn local_meta(&self) -> Option<MetaData> {
        let mut req = reqwest::Client::new()
            .get(format!("http://{}/meta", self.addr))
            .timeout(Duration::from_secs(2));
        if let Some(s) = &self.secret {
            req = req.bearer_auth(s);
        }
        req.send().await.ok()?.json().await.ok()
    }

    pub async fn local_status(&self) -> Option<ClusterStatus> {
        let mut req = reqwest::Client::new()
            .get(format!("http://{}/status?local=true", self.addr))
            .timeout(Duration::from_secs(2));
        if let Some(s) = &self.secret {
            req = req.bearer_auth(s);
        }
        req.send().await.ok()?.json().await.ok()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Metad {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn client_for(nodes: &[&Metad], secret: Option<&str>) -> MetaClient {
    let mut config = Config::new(nodes.iter().map(|n| n.addr.clone()));
    config.shared_secret = secret.map(str::to_owned);
    config.retry_for = Duration::from_secs(10);
    MetaClient::new(config).unwrap()
}

/// A metad cluster of `n` voters; node 1 bootstraps, the others join.
pub struct Cluster {
    pub root: TempDir,
    pub nodes: Vec<Metad>,
}

impl Cluster {
    pub async fn start(n: usize, extra: &[&str]) -> Self {
        let root = TempDir::new().unwrap();
        let nodes: Vec<Metad> = (1..=n as u64)
            .map(|id| Metad::spawn(id, root.path(), id == 1, None, extra))
            .collect();
        let first = nodes[0].client();
        eventually("node 1 to lead", Duration::from_secs(10), || async {
            let s = nodes[0].local_status().await?;
            (s.leader == Some(1)).then_some(())
        })
        .await;
        for node in &nodes[1..] {
            first.add_meta(node.id, &node.addr).await.unwrap();
        }
        let cluster = Self { root, nodes };
        if n > 1 {
            eventually("all voters", Duration::from_secs(10), || async {
                let s = cluster.nodes[0].local_status().await?;
                (s.members.iter().filter(|m| m.voter).count() == n).then_some(())
            })
            .await;
        }
        cluster
    }

    pub fn client(&self) -> MetaClient {
        let refs: Vec<&Metad> = self.nodes.iter().collect();
        client_for(&refs, None)
    }

    /// The index in `nodes` of the leader as the live nodes see it.
    pub async fn leader(&self) -> usize {
        eventually("a leader", Duration::from_secs(10), || async {
            for node in self.nodes.iter().filter(|n| n.child.is_some()) {
                if let Some(s) = node.local_status().await {
                    if s.raft_state == "Leader" {
                        return self.nodes.iter().position(|n| n.id == s.node_id);
                    }
                }
            }
            None
        })
        .await
    }
}

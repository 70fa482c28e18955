//! Test context for the query HTTP tests: a real tansu broker, a real metad
//! in-process and real shardd data node(s) in-process, whose public port
//! serves ingest's `/write` and this crate's `/query` — the same pieces a
//! deployment runs, on free loopback ports.

#![allow(dead_code)] // each test binary uses its own subset

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meta_client::{Config, MetaClient};
use metad::config::NodeConfig as MetaConfig;
use shardd::node::{Node, NodeHandle};
use tokio::sync::watch;

/// A one-node Sluice cluster.
pub struct Sluice {
    pub broker: testkit::Broker,
    pub meta: Arc<MetaClient>,
    pub metad_addr: String,
    pub node: NodeHandle,
    pub url: String,
    shutdown: watch::Sender<bool>,
    _meta_dir: tempfile::TempDir,
    _data_dir: tempfile::TempDir,
    _metad: tokio::task::JoinHandle<()>,
}

impl Sluice {
    /// Starts broker, metad and one data node; `auth` turns on
    /// authentication on the public API.
    pub async fn start(auth: bool) -> Self {
        let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
        let meta_dir = tempfile::tempdir().expect("temp dir");
        let port = testkit::free_port();
        let listen: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut config = MetaConfig::new(1, listen, meta_dir.path().to_owned());
        config.bootstrap = true;
        config.topic_prefix = format!("q{port}");
        config.election_timeout = Duration::from_millis(300);
        config.heartbeat_interval = Duration::from_millis(50);
        let metad = tokio::spawn(async move {
            metad::node::MetaNode::run(config, std::future::pending())
                .await
                .expect("metad runs");
        });
        let metad_addr = listen.to_string();
        let meta = Arc::new(MetaClient::new(Config::new([metad_addr.clone()])).expect("client"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while meta.status().await.map_or(true, |s| s.leader.is_none()) {
            assert!(Instant::now() < deadline, "metad did not elect itself");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut nc = shardd::config::NodeConfig::new(data_dir.path());
        nc.http_listen = ([127, 0, 0, 1], 0).into();
        nc.internal_listen = ([127, 0, 0, 1], 0).into();
        nc.metad = Config::new([metad_addr.clone()]);
        nc.kafka.brokers = broker.bootstrap();
        nc.api.auth_enabled = auth;
        let ext = shardd::query_extensions();
        let (shutdown, rx) = watch::channel(false);
        let node = Node::start_with(nc, rx, ext)
            .await
            .expect("start data node");
        let url = format!("http://{}", node.http_addr);
        Sluice {
            broker,
            meta,
            metad_addr,
            node,
            url,
            shutdown,
            _meta_dir: meta_dir,
            _data_dir: data_dir,
            _metad: metad,
        }
    }

    /// Stops the data node.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.node.wait().await;
    }
}

/// A `/query` call's status, headers and body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// GET `/query` with the given parameters.
pub async fn get(url: &str, params: &[(&str, &str)]) -> Reply {
    let resp = reqwest::Client::new()
        .get(format!("{url}/query"))
        .query(params)
        .send()
        .await
        .expect("query request");
    reply(resp).await
}

/// POST `/query` with a form body.
pub async fn post(url: &str, params: &[(&str, &str)]) -> Reply {
    let resp = reqwest::Client::new()
        .post(format!("{url}/query"))
        .form(params)
        .send()
        .await
        .expect("query request");
    reply(resp).await
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

/// POSTs line protocol to `/write`.
pub async fn write(url: &str, db: &str, body: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/write"))
        .query(&[("db", db)])
        .body(body.to_owned())
        .send()
        .await
        .expect("write request");
    let status = resp.status().as_u16();
    assert_eq!(
        status,
        204,
        "write: {}",
        resp.text().await.unwrap_or_default()
    );
}

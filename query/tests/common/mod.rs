//! Test context for the query HTTP tests: a real tansu broker, a real metad
//! in-process and real shardd data node(s) in-process, whose public port
//! serves ingest's `/write` and this crate's `/query` — the same pieces a
//! deployment runs, on free loopback ports.

#![allow(dead_code)] // each test binary uses its own subset

use shardd::node::NodeHandle;

/// A one-node Sluice cluster.
pub struct Sluice {
    pub broker: testkit::Broker,
    pub cluster: sluice::cluster::Cluster,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Sluice {
    /// Starts broker, metad and one data node; `auth` turns on
    /// authentication on the public API.
    pub async fn start(auth: bool) -> Self {
        Self::start_with(|spec| spec.api.auth_enabled = auth).await
    }

    /// Starts broker, metad and one data node as `adjust` sets them up.
    pub async fn start_with(adjust: impl FnOnce(&mut sluice::cluster::ClusterSpec)) -> Self {
        let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spec = sluice::cluster::ClusterSpec::for_test(dir.path(), broker.bootstrap(), 1);
        adjust(&mut spec);
        let scheme = if spec.api.https.is_some() {
            "https"
        } else {
            "http"
        };
        let cluster = spec.start().await.expect("start the cluster");
        let url = format!("{scheme}://{}", cluster.nodes[0].http_addr);
        Sluice {
            broker,
            cluster,
            url,
            _dir: dir,
        }
    }

    /// The data node.
    pub fn node(&self) -> &NodeHandle {
        &self.cluster.nodes[0]
    }

    /// Stops the cluster.
    pub async fn stop(self) {
        self.cluster.stop().await;
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

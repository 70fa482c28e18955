//! The internal API refuses every call without the cluster's shared secret,
//! and a data node does not start without one unless told to run open.

mod common;

use std::process::Command;

use common::{tsbs_lines, write, Cluster};
use schemas::node_api::paths;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_internal_route_needs_the_secret() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = cluster.node_config(dir.path());
    let (handle, _stop) = cluster.start_node(config, "db").await;
    let http = reqwest::Client::new();
    write(
        &http,
        &handle.http_addr.to_string(),
        "db",
        tsbs_lines(2, 0, 2),
    )
    .await;
    let shard = cluster.group("db").await.shards[0].id;

    // A path the node does not serve is guarded too: the check wraps the
    // whole router, so a route added later cannot be left open.
    let unknown = [("GET", "/internal/no-such-route"), ("POST", "/anything")];
    for (method, pattern) in paths::ALL.iter().chain(&unknown) {
        let method: reqwest::Method = method.parse().unwrap();
        let url = format!(
            "http://{}{}",
            handle.internal_addr,
            paths::for_shard(pattern, shard)
        );
        for auth in [None, Some("guess")] {
            let mut req = http.request(method.clone(), &url).body("{}");
            if let Some(a) = auth {
                req = req.bearer_auth(a);
            }
            let status = req.send().await.unwrap().status();
            assert_eq!(status, 401, "{method} {pattern} with {auth:?}");
        }
        let resp = http
            .request(method.clone(), &url)
            .bearer_auth(&cluster.secret)
            .body("{}")
            .send()
            .await
            .unwrap();
        let expect_404 = unknown.iter().any(|(_, p)| p == pattern);
        assert_eq!(
            resp.status() == 404,
            expect_404,
            "{method} {pattern} with the secret: {}",
            resp.status()
        );
        assert_ne!(resp.status(), 401, "{method} {pattern} refused the secret");
    }
}

#[test]
fn no_secret_no_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut shardd = Command::new(env!("CARGO_BIN_EXE_shardd"));
    shardd.args(["--data-dir", dir.path().to_str().unwrap()]);
    testkit::assert_refuses_to_start_without_secret(shardd, dir.path());
}

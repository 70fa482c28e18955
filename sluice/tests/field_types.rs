//! Field types are the cluster's, not a node's: a point whose field type
//! conflicts with the type a write through another node set first is
//! refused at `/write` with InfluxDB's 400, also after both nodes and metad
//! restarted; the points that were accepted are all there. Real tansu,
//! metad and two data nodes in-process, real HTTP.

use serde_json::Value;

const T0: i64 = 1_735_689_600_000_000_000;
const CONFLICT: &str = "partial write: field type conflict: input field \"f\" on measurement \
                        \"m\" is type string, already exists as type float dropped=1";

async fn write(http: &reqwest::Client, node: std::net::SocketAddr, body: String) -> (u16, String) {
    let resp = http
        .post(format!("http://{node}/write"))
        .query(&[("db", "db")])
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let error = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or(text);
    (status, error)
}

async fn count(http: &reqwest::Client, node: std::net::SocketAddr) -> Value {
    let body: Value = http
        .get(format!("http://{node}/query"))
        // Read-your-writes: every acknowledged point, at once.
        .query(&[
            ("db", "db"),
            ("q", "SELECT count(f) FROM m"),
            ("consistency", "strong"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["results"][0]["series"][0]["values"][0][1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_refused_on_every_node_and_after_restarts() {
    let broker = testkit::Broker::start().expect("start tansu (scripts/setup.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sluice::cluster::ClusterSpec::for_test(dir.path(), broker.bootstrap(), 2);
    spec.create_database = Some("db".into());
    let cluster = spec.clone().start().await.expect("start the cluster");
    let http = reqwest::Client::new();
    let (a, b) = (cluster.nodes[0].http_addr, cluster.nodes[1].http_addr);

    assert_eq!(
        write(&http, a, format!("m f=1 {T0}")).await,
        (204, String::new())
    );
    // Through the other node, which never saw a point of `m`.
    assert_eq!(
        write(&http, b, format!("m f=\"x\" {}", T0 + 1)).await,
        (400, CONFLICT.to_owned())
    );
    // In one body: the good point is written, the bad one counted.
    let (status, error) = write(&http, b, format!("m f=2 {}\nm f=\"y\" {}", T0 + 2, T0 + 3)).await;
    assert_eq!((status, error.as_str()), (400, CONFLICT));
    assert_eq!(count(&http, a).await, 2);

    cluster.stop().await;
    // In one process, the stopped metad's tasks may hold its store a moment
    // longer (a real restart is a new process).
    let mut attempt = 0;
    let cluster = loop {
        match spec.clone().start().await {
            Ok(c) => break c,
            Err(e) if attempt < 5 => {
                attempt += 1;
                eprintln!("restart: {e}; again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => panic!("restart the cluster: {e}"),
        }
    };
    let (a, b) = (cluster.nodes[0].http_addr, cluster.nodes[1].http_addr);
    for node in [a, b] {
        assert_eq!(
            write(&http, node, format!("m f=\"z\" {}", T0 + 4)).await,
            (400, CONFLICT.to_owned())
        );
    }
    assert_eq!(write(&http, b, format!("m f=3 {}", T0 + 5)).await.0, 204);
    assert_eq!(count(&http, b).await, 3);
    cluster.stop().await;
}

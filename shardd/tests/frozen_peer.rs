//! A frozen owner does not hold queries up: three `shardd` processes, a
//! shard with two owners, the owner a coordinator would ask first is
//! SIGSTOPped (its socket still accepts connections, it never answers),
//! and every query through the third node still answers right in under
//! 2 s, by hedging to the other owner. With both owners frozen a query
//! hangs until `KILL QUERY` (found with `SHOW QUERIES`) or
//! `--query-timeout` stops it, with InfluxDB's errors; and
//! `--max-select-buckets`, `--max-select-series` and `--max-select-point`
//! refuse a SELECT spanning too many buckets, series or points, with
//! InfluxDB's errors.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{spawn_nodes, tsbs_lines, write, Cluster};

/// Long enough to find and kill a hanging query first.
const QUERY_TIMEOUT_S: u64 = 15;

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigstopped_owner_does_not_stall_queries() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let timeout = format!("{QUERY_TIMEOUT_S}s");
    let limits = [
        "--query-timeout",
        &timeout,
        "--max-select-buckets",
        "100",
        "--max-select-series",
        "20",
        "--max-select-point",
        "1000",
    ];
    let nodes = spawn_nodes(&cluster, dir.path(), 3, &limits).await;
    cluster.create_database("db", 2).await;
    let http = reqwest::Client::new();
    write(&http, &nodes[0].http, "db", tsbs_lines(20, 0, 10)).await;

    let group = cluster.group("db").await;
    let owners = &group.shards[0].owners;
    assert_eq!(owners.len(), 2, "{group:?}");
    let md = cluster.snapshot().await;
    let process_of = |id| {
        let addr = &md.data_nodes[id].internal_addr;
        nodes.iter().find(|n| &n.internal == addr).unwrap()
    };
    let (first, coordinator) = (
        process_of(&owners[0]),
        nodes
            .iter()
            .find(|n| {
                owners
                    .iter()
                    .all(|o| md.data_nodes[o].internal_addr != n.internal)
            })
            .unwrap(),
    );
    let run = |q: String, consistency: &'static str| {
        let http = http.clone();
        let url = format!("http://{}/query", coordinator.http);
        async move {
            let started = Instant::now();
            let body: serde_json::Value = http
                .get(url)
                .query(&[("db", "db"), ("q", &q), ("consistency", consistency)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (started.elapsed(), body)
        }
    };
    let query = |consistency| run("SELECT count(usage_user) FROM cpu".into(), consistency);
    let (_, body) = query("strong").await;
    assert_eq!(
        body["results"][0]["series"][0]["values"][0][1], 200,
        "{body}"
    );
    // A day of minutes is 1440 buckets, past --max-select-buckets 100.
    let (_, body) = run(
        "SELECT mean(usage_user) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' \
         AND time < '2026-01-02T00:00:00Z' GROUP BY time(1m)"
            .into(),
        "one",
    )
    .await;
    assert_eq!(
        body["results"][0]["error"], "max-select-buckets limit exceeded: (1440/100)",
        "{body}"
    );
    // The cpu queries read 20 series, the limit; 21 of mem are past it.
    let mem: String = (0..21)
        .map(|h| format!("mem,hostname=host_{h} used=1i 1767225600\n"))
        .collect();
    write(&http, &nodes[0].http, "db", mem).await;
    let (_, body) = run("SELECT used FROM mem".into(), "strong").await;
    assert_eq!(
        body["results"][0]["error"], "max-select-series limit exceeded: (21/20)",
        "{body}"
    );
    // One series of 1001 points: past --max-select-point 1000 (the cpu
    // count reads 200), in InfluxDB's words, its typo included.
    let disk: String = (0..1001)
        .map(|i| format!("disk,hostname=host_0 used={i}i {}\n", 1_767_225_600 + i))
        .collect();
    write(&http, &nodes[0].http, "db", disk).await;
    let (_, body) = run("SELECT used FROM disk".into(), "strong").await;
    assert_eq!(
        body["results"][0]["error"], "max-select-point limit exceeed: (1001/1000)",
        "{body}"
    );
    let (_, body) = run("SELECT max(used) FROM disk".into(), "strong").await;
    assert_eq!(
        body["results"][0]["error"], "max-select-point limit exceeed: (1001/1000)",
        "{body}"
    );
    // Both owners healthy in metad's view, so the coordinator asks the
    // first listed one first.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = cluster.meta.status().await.unwrap();
        let healthy = owners.iter().all(|o| {
            st.data_nodes.get(o).is_some_and(|d| {
                d.replicas
                    .iter()
                    .any(|r| r.shard_id == group.shards[0].id && r.state == "healthy")
            })
        });
        if healthy {
            break;
        }
        assert!(Instant::now() < deadline, "owners not healthy: {st:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    signal(first.child.id(), "-STOP");
    let until = Instant::now() + Duration::from_secs(6);
    let mut slowest = Duration::ZERO;
    let mut queries = 0;
    while Instant::now() < until {
        let (took, body) = query("one").await;
        assert_eq!(
            body["results"][0]["series"][0]["values"][0][1], 200,
            "with node {} frozen: {body}",
            owners[0]
        );
        slowest = slowest.max(took);
        queries += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(queries >= 3, "{queries} queries");
    assert!(
        slowest < Duration::from_secs(2),
        "a query took {slowest:?} with an owner frozen"
    );

    // Both owners frozen: the query hangs; SHOW QUERIES finds it and KILL
    // QUERY stops it.
    let second = process_of(&owners[1]);
    signal(second.child.id(), "-STOP");
    let hanging = tokio::spawn(query("one"));
    // Each SHOW QUERIES waits up to a second for the frozen nodes' lists.
    let deadline = Instant::now() + Duration::from_secs(10);
    let qid = loop {
        let (_, body) = run("SHOW QUERIES".into(), "one").await;
        let rows = body["results"][0]["series"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(row) = rows
            .iter()
            .find(|r| r[1].as_str().unwrap_or("").contains("count(usage_user)"))
        {
            assert_eq!(row[2], "db", "{row:?}");
            assert_eq!(row[4], "running", "{row:?}");
            assert_eq!(row[5], coordinator.http, "{row:?}");
            break row[0].as_u64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the hanging query is not listed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, body) = run(format!("KILL QUERY {qid}"), "one").await;
    assert!(body["results"][0]["error"].is_null(), "{body}");
    let (took, body) = hanging.await.unwrap();
    assert_eq!(body["results"][0]["error"], "query interrupted", "{body}");
    assert!(
        took < Duration::from_secs(QUERY_TIMEOUT_S),
        "killed after {took:?}"
    );
    let (_, body) = run(format!("KILL QUERY {qid}"), "one").await;
    assert_eq!(
        body["results"][0]["error"],
        format!("no such query id: {qid}"),
        "{body}"
    );

    // Unattended, it is stopped at --query-timeout.
    let (took, body) = query("one").await;
    assert_eq!(
        body["results"][0]["error"], "query-timeout limit exceeded",
        "{body}"
    );
    assert!(
        took >= Duration::from_secs(QUERY_TIMEOUT_S)
            && took < Duration::from_secs(QUERY_TIMEOUT_S + 5),
        "stopped after {took:?}"
    );
    signal(first.child.id(), "-CONT");
    signal(second.child.id(), "-CONT");
}

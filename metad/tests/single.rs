//! One metad process: restart from disk, watch latency, bad requests,
//! data-node liveness and retention.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, Metad};
use schemas::meta::{NodeState, Privilege, HOUR_NS};
use schemas::meta_api::{paths, ErrorBody, MetaCommand, ReplicaStatus, RetentionPolicySpec};
use tempfile::TempDir;

const TS: i64 = 1_700_000_000_000_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

async fn ready(node: &Metad) {
    eventually("metad to lead", Duration::from_secs(10), || async {
        let s = node.local_status().await?;
        (s.raft_state == "Leader").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_single_voter_has_the_same_state() {
    let root = TempDir::new().unwrap();
    let mut node = Metad::spawn(1, root.path(), true, None, &[]);
    ready(&node).await;
    let client = node.client();
    client
        .register_data_node("d1:8086", "d1:8088", None)
        .await
        .unwrap();
    // 40 changes: past two snapshots (every 20 entries), so the restart
    // reads a snapshot plus the log after it.
    for i in 0..30 {
        client
            .create_database(&format!("db{i}"), None)
            .await
            .unwrap();
    }
    for i in 0..5 {
        client
            .create_shard_group("db0", None, TS + i * 8 * 24 * HOUR_NS as i64)
            .await
            .unwrap();
    }
    client.create_user("admin", "pw", true).await.unwrap();
    client.create_user("reader", "pw", false).await.unwrap();
    client
        .grant("reader", "db1", Privilege::Read)
        .await
        .unwrap();
    let before = client.snapshot_linearizable().await.unwrap();
    assert!(before.version >= 39, "version {}", before.version);

    node.kill();
    node.start();
    ready(&node).await;
    let after = eventually("state to load", Duration::from_secs(10), || async {
        let m = node.local_meta().await?;
        (m.version >= before.version).then_some(m)
    })
    .await;
    assert_eq!(after.version, before.version);
    assert_eq!(after, before);
    assert!(meta_client::verify_password(
        &after.users["admin"].password_hash,
        "pw"
    ));
    // And it keeps working.
    let v = client.create_database("more", None).await.unwrap();
    assert!(v > before.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_wakes_within_100ms() {
    let root = TempDir::new().unwrap();
    let node = Metad::spawn(1, root.path(), true, None, &[]);
    ready(&node).await;
    let client = std::sync::Arc::new(node.client());
    client.create_database("warmup", None).await.unwrap();

    let mut latencies = Vec::new();
    for i in 0..5 {
        let since = client.snapshot().await.unwrap().version;
        let watcher = client.clone();
        let waiting = tokio::spawn(async move {
            let m = watcher.watch(since, Duration::from_secs(10)).await.unwrap();
            (Instant::now(), m.version)
        });
        // Let the long poll reach the server and start waiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "watch returned without a change");
        let sent = Instant::now();
        let version = client
            .create_database(&format!("w{i}"), None)
            .await
            .unwrap();
        let acked = Instant::now();
        let (woke, seen) = waiting.await.unwrap();
        assert!(seen >= version);
        // The watcher may wake before the writer hears its answer.
        let after_ack = woke.saturating_duration_since(acked);
        let before_ack = acked.saturating_duration_since(woke);
        let after_send = woke.duration_since(sent);
        println!(
            "watch woke {after_send:?} after the write was sent; {after_ack:?} after / {before_ack:?} before its acknowledgement"
        );
        assert!(after_ack < Duration::from_millis(100), "{after_ack:?}");
        latencies.push(after_ack);
    }
    println!(
        "watch wake-up after ack, max of 5: {:?}",
        latencies.iter().max().unwrap()
    );

    // With no change the long poll times out with the same version.
    let since = client.snapshot().await.unwrap().version;
    let start = Instant::now();
    let m = client
        .watch(since, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(m.version, since);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_and_change_nothing() {
    let root = TempDir::new().unwrap();
    let secret = "s3cret";
    let node = Metad::spawn(1, root.path(), true, Some(secret), &[]);
    ready(&node).await;
    let client = node.client();
    client.create_database("db", None).await.unwrap();
    client
        .register_data_node("d:8086", "d:8088", None)
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let url = format!("http://{}/command", node.addr);
    let rp = |rf: u32, duration_ns: u64| MetaCommand::CreateRetentionPolicy {
        database: "db".into(),
        spec: RetentionPolicySpec {
            name: "rp".into(),
            duration_ns,
            shard_group_duration_ns: None,
            replication_factor: rf,
            shard_count: None,
        },
        make_default: false,
    };
    let json = |c: &MetaCommand| serde_json::to_vec(c).unwrap();
    // (case, body, secret, expected status, expected error text)
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "unknown database",
            json(&MetaCommand::CreateShardGroup {
                database: "nope".into(),
                retention_policy: None,
                timestamp_ns: TS,
                alive_nodes: vec![],
                topic_prefix: String::new(),
            }),
            Some(secret),
            404,
            "database not found: nope",
        ),
        (
            "replication factor 0",
            json(&rp(0, 0)),
            Some(secret),
            400,
            "replication factor must be greater than 0",
        ),
        (
            "duration under 1h",
            json(&rp(1, HOUR_NS / 2)),
            Some(secret),
            400,
            "retention policy duration must be at least 1h0m0s",
        ),
        (
            "malformed json",
            b"{\"type\":\"create_database\",".to_vec(),
            Some(secret),
            400,
            "malformed request body",
        ),
        (
            "unknown command",
            b"{\"type\":\"format_disk\"}".to_vec(),
            Some(secret),
            400,
            "malformed request body",
        ),
        (
            "wrong secret",
            json(&rp(1, 0)),
            Some("guess"),
            401,
            "unauthorized",
        ),
        ("no secret", json(&rp(1, 0)), None, 401, "unauthorized"),
    ];
    for (what, body, auth, status, message) in cases {
        let before = client.snapshot_linearizable().await.unwrap();
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert!(err.error.contains(message), "{what}: {}", err.error);
        let after = client.snapshot_linearizable().await.unwrap();
        assert_eq!(after, before, "{what} changed the meta data");
    }
    // Every route, reads and raft's included, needs the secret; so does a
    // path metad does not serve, which shows the check wraps the whole
    // router: a route added later is guarded without anyone listing it.
    let unknown = [("GET", "/no-such-route"), ("POST", "/raft/no-such-rpc")];
    for (method, path) in paths::ALL.iter().chain(&unknown) {
        let method: reqwest::Method = method.parse().unwrap();
        let url = format!("http://{}{path}", node.addr);
        for auth in [None, Some("guess")] {
            let mut req = http.request(method.clone(), &url).body("{}");
            if let Some(a) = auth {
                req = req.bearer_auth(a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 401, "{method} {path} with {auth:?}");
            let body = resp.text().await.unwrap();
            assert!(!body.contains("argon2"), "{path} leaked a hash: {body}");
        }
        // With the secret it is served (or refused for its empty body).
        let resp = http
            .request(method.clone(), &url)
            .bearer_auth(secret)
            .body("{}")
            .send()
            .await
            .unwrap();
        let expect_404 = unknown.iter().any(|(_, p)| p == path);
        assert_eq!(
            resp.status() == 404,
            expect_404,
            "{method} {path} with the secret: {}",
            resp.status()
        );
    }
    // The typed client reports the state machine's reason.
    let err = client
        .create_retention_policy("db", spec_rf0(), false)
        .await
        .unwrap_err();
    assert_eq!(
        err.command_error(),
        Some(&schemas::meta_api::CommandError::ReplicationFactorTooLow)
    );
}

fn spec_rf0() -> RetentionPolicySpec {
    RetentionPolicySpec {
        name: "rp".into(),
        duration_ns: 0,
        shard_group_duration_ns: None,
        replication_factor: 0,
        shard_count: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_and_retention_on_the_leader() {
    let root = TempDir::new().unwrap();
    let node = Metad::spawn(
        1,
        root.path(),
        true,
        None,
        &[
            "--data-node-timeout-ms",
            "600",
            "--retention-check-interval-ms",
            "100",
        ],
    );
    ready(&node).await;
    let client = node.client();
    let d1 = client
        .register_data_node("d1:8086", "d1:8088", None)
        .await
        .unwrap();

    // Heartbeats carry replica progress to `status`.
    let replica = ReplicaStatus {
        shard_id: 7,
        applied_offset: 10,
        high_watermark: 12,
        state: "healthy".into(),
        bytes: 4096,
        points_dropped: 0,
    };
    client
        .heartbeat(d1.id, vec![replica.clone()])
        .await
        .unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(status.data_nodes[&d1.id].replicas, vec![replica]);
    let version = client.snapshot().await.unwrap().version;

    // Heartbeats alone do not grow the log.
    for _ in 0..3 {
        client.heartbeat(d1.id, vec![]).await.unwrap();
    }
    assert_eq!(client.snapshot().await.unwrap().version, version);

    // Silence → unreachable; a heartbeat → alive again.
    eventually(
        "node marked unreachable",
        Duration::from_secs(5),
        || async {
            let m = client.snapshot().await.ok()?;
            (m.data_nodes[&d1.id].state == NodeState::Unreachable).then_some(())
        },
    )
    .await;
    client.heartbeat(d1.id, vec![]).await.unwrap();
    assert_eq!(
        client.snapshot().await.unwrap().data_nodes[&d1.id].state,
        NodeState::Alive
    );
    // Unknown nodes are told so (they should register again).
    let err = client.heartbeat(999, vec![]).await.unwrap_err();
    assert!(
        err.to_string().contains("data node not found: 999"),
        "{err}"
    );

    // Retention: a 1h policy with a group that ended 2h ago is expired.
    client
        .create_database(
            "short",
            Some(RetentionPolicySpec {
                name: "1h".into(),
                duration_ns: HOUR_NS,
                shard_group_duration_ns: None,
                replication_factor: 1,
                shard_count: None,
            }),
        )
        .await
        .unwrap();
    // Keep the data node alive from here on.
    let beat = node.client();
    let d1_id = d1.id;
    let beating = tokio::spawn(async move {
        loop {
            let _ = beat.heartbeat(d1_id, vec![]).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let old = client
        .create_shard_group("short", None, now_ns() - 3 * HOUR_NS as i64)
        .await
        .unwrap();
    let current = client
        .create_shard_group("short", None, now_ns())
        .await
        .unwrap();
    eventually("expired group deleted", Duration::from_secs(5), || async {
        let m = client.snapshot().await.ok()?;
        let groups = &m.databases["short"].retention_policies["1h"].shard_groups;
        groups[&old.id].deleted_at_ns.map(|_| ())
    })
    .await;
    let m = client.snapshot().await.unwrap();
    assert_eq!(
        m.databases["short"].retention_policies["1h"].shard_groups[&current.id].deleted_at_ns,
        None
    );

    // truncate-shards closes the current group; the next write gets a new one.
    let truncated = client.truncate_shards().await.unwrap();
    assert!(truncated.contains(&current.id));
    let next = client
        .create_shard_group("short", None, now_ns())
        .await
        .unwrap();
    assert_ne!(next.id, current.id);
    beating.abort();
}

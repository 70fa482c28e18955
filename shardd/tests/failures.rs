//! A replica never skips silently: an undecodable record produced raw into
//! the partition fails the replica with the offset in its reason, counts in
//! `/metrics`, and only an operator's resume past it lets the replica go on;
//! a point of a conflicting field type is dropped, counted and reported.
//! Runs an in-process node (`Node::start`) against real tansu and metad.

mod common;

use std::time::Duration;

use common::{high_watermark, metrics, tsbs_lines, write, Cluster, Internal};
use kafka_log::rdkafka::producer::FutureRecord;
use schemas::node_api::ReplicaState;

/// A node's `/health`: status code and JSON body.
async fn health(http_addr: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("http://{http_addr}/health"))
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// `/health` once it answers `code` (a check of metad or Kafka may time
/// out on a busy machine; the replica state is what is tested).
async fn health_until(http_addr: &str, code: u16) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (got, body) = health(http_addr).await;
        if got == code {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "{got}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undecodable_record_fails_the_replica_until_resumed_past_it() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = cluster.node_config(dir.path());
    let (handle, stop_tx) = cluster.start_node(config, "db").await;
    let node = handle.node.clone();
    let http_addr = handle.http_addr.to_string();
    let http = reqwest::Client::new();
    let internal = Internal::new(handle.internal_addr.to_string(), &cluster.secret);

    write(&http, &http_addr, "db", tsbs_lines(10, 0, 10)).await;
    let group = cluster.group("db").await;
    let shard_id = group.shards[0].id;
    let brokers = cluster.broker.bootstrap();
    let hwm = high_watermark(&brokers, &group.topic, 0);
    // Read-your-writes: the node waits for the offset the broker reported.
    node.wait_for_offset(shard_id, hwm - 1, Duration::from_secs(30))
        .await
        .expect("applied");
    // Healthy once the consumer has seen the end of the partition.
    internal.wait_caught_up(shard_id, hwm - 1).await;
    let (shard, state) = node.shard(shard_id).expect("open");
    assert!(state.is_queryable(), "{state:?}");
    assert_eq!(shard.applied_offset(), Some(hwm - 1));
    drop(shard);
    let body = health_until(&http_addr, 200).await;
    assert_eq!(body["status"], "pass", "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["metad", "kafka", "topics", "replicas"], "{body}");

    // Garbage straight into the shard's partition, then a good write.
    let producer = kafka_log::simple_producer(&kafka_log::KafkaConfig::new(&brokers)).unwrap();
    let bad_offset = producer
        .send(
            FutureRecord::to(&group.topic)
                .partition(0)
                .key(&shard_id.to_string())
                .payload(&b"not an avro record"[..]),
            Duration::from_secs(10),
        )
        .await
        .expect("produce garbage")
        .offset;
    write(&http, &http_addr, "db", tsbs_lines(10, 10, 10)).await;

    let failed = internal
        .wait_until(shard_id, "failed", |s| {
            matches!(s.state, ReplicaState::Failed { .. })
        })
        .await;
    let ReplicaState::Failed { reason } = &failed.state else {
        unreachable!()
    };
    assert!(
        reason.contains(&format!("undecodable record at offset {bad_offset}")),
        "{reason}"
    );
    assert_eq!(
        failed.applied_offset,
        Some(bad_offset - 1),
        "nothing after it applied"
    );
    assert!(!node.shard(shard_id).unwrap().1.is_queryable());
    // Stays failed: it does not skip by itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = internal.status(shard_id).await.unwrap();
    assert_eq!(still.applied_offset, Some(bad_offset - 1));
    let metrics = metrics(&http_addr).await;
    assert!(
        metrics.contains(&format!(
            "sluice_shard_failures_total{{kind=\"undecodable\",shard=\"{shard_id}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "sluice_shard_state{{shard=\"{shard_id}\",state=\"failed\"}} 1"
    )));
    // /health says why the node cannot do its job.
    let body = health_until(&http_addr, 503).await;
    assert_eq!(body["status"], "fail", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "shard {shard_id}: undecodable record at offset {bad_offset}"
        )),
        "{body}"
    );
    // The heartbeat carries the state to metad, for coordinators elsewhere.
    cluster
        .wait_for_report(shard_id, |r| r.state.starts_with("failed: "))
        .await;

    // Refused: resuming at an applied offset.
    let r = internal.resume(shard_id, bad_offset - 1).await;
    assert_eq!(r.unwrap_err().status(), Some(409));
    // Resume past the bad record.
    let r = internal.resume(shard_id, bad_offset + 1).await;
    r.expect("resume accepted");
    let hwm = high_watermark(&brokers, &group.topic, 0);
    let s = internal.wait_caught_up(shard_id, hwm - 1).await;
    assert_eq!(s.applied_offset, Some(hwm - 1));
    health_until(&http_addr, 200).await;
    let (shard, _) = node.shard(shard_id).unwrap();
    // Both good writes are in: 10 hosts × 20 timestamps × 10 fields.
    let series = shard
        .series_id(&schemas::series_key(
            "cpu",
            &[
                ("arch", "x64"),
                ("datacenter", "us-east-1a"),
                ("hostname", "host_0"),
                ("os", "Ubuntu16.04LTS"),
                ("rack", "0"),
                ("region", "us-east-1"),
                ("service", "0"),
                ("service_environment", "production"),
                ("service_version", "0"),
                ("team", "SF"),
            ],
        ))
        .unwrap()
        .expect("series exists");
    let field = shard.field("cpu", "usage_user").unwrap().expect("field");
    let block = shard
        .read(series, field.id, i64::MIN, i64::MAX)
        .unwrap()
        .expect("values");
    assert_eq!(block.timestamps.len(), 20);
    // Readers hold the shard open; closing waits for them.
    drop(shard);
    // A healthy replica is not resumed.
    let r = internal.resume(shard_id, hwm).await;
    assert_eq!(r.unwrap_err().status(), Some(409));

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), handle.wait())
        .await
        .expect("node stops");
}

/// A point whose field type conflicts with the shard's, produced straight
/// into the partition (past the router, which refuses it at `/write`), is
/// dropped at apply loudly: counted by reason, in the replica's status and
/// in its heartbeat to metad; the replica goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflicting_point_past_the_router_is_dropped_loudly() {
    let cluster = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (handle, _stop) = cluster
        .start_node(cluster.node_config(dir.path()), "db")
        .await;
    let http_addr = handle.http_addr.to_string();
    let http = reqwest::Client::new();
    let internal = Internal::new(handle.internal_addr.to_string(), &cluster.secret);
    // usage_user is an integer field.
    write(&http, &http_addr, "db", tsbs_lines(1, 0, 1)).await;
    let group = cluster.group("db").await;
    let shard_id = group.shards[0].id;

    let batch = schemas::PointBatch {
        database: "db".into(),
        retention_policy: "autogen".into(),
        shard_id,
        series: vec![schemas::Series {
            measurement: "cpu".into(),
            tags: vec![schemas::Tag {
                key: "hostname".into(),
                value: "intruder".into(),
            }],
            fields: vec![schemas::FieldColumn {
                name: "usage_user".into(),
                timestamps: vec![1_767_225_600_000_000_000],
                values: schemas::FieldValues::Float(vec![0.5]),
            }],
        }],
    };
    let producer =
        kafka_log::simple_producer(&kafka_log::KafkaConfig::new(cluster.broker.bootstrap()))
            .unwrap();
    producer
        .send(
            FutureRecord::to(&group.topic)
                .partition(0)
                .key(&shard_id.to_string())
                .payload(&batch.encode()),
            Duration::from_secs(10),
        )
        .await
        .expect("produce");
    let hwm = high_watermark(&cluster.broker.bootstrap(), &group.topic, 0);
    let status = internal.wait_caught_up(shard_id, hwm - 1).await;
    assert_eq!(status.points_dropped, 1);
    assert_eq!(status.state, ReplicaState::Healthy);
    let metrics = metrics(&http_addr).await;
    assert!(
        metrics.contains(&format!(
            "sluice_points_dropped_total{{reason=\"field_type_conflict\",shard=\"{shard_id}\"}} 1"
        )),
        "{metrics}"
    );
    cluster
        .wait_for_report(shard_id, |r| r.points_dropped == 1)
        .await;
}

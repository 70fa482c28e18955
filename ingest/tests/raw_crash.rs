//! Kill -9 of the ingest daemon while a producer is still writing to a raw
//! line-protocol topic: after a restart every point of the raw topic is in
//! the shard-group topics (duplicates allowed, none missing), because offsets
//! are committed only after the routed records were acknowledged.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{drain_shard_topics, expected_values, tsbs_lines, Cluster};
use kafka_log::rdkafka::producer::FutureRecord;
use kafka_log::KafkaConfig;

const T0: i64 = 1_451_606_400_000_000_000; // 2016-01-01T00:00:00Z

fn spawn_ingest(cluster: &Cluster, http: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["--kafka-brokers", &cluster.broker.bootstrap()])
        .args(["--metad", &cluster.metad_addr])
        .env("SLUICE_SHARED_SECRET", &cluster.secret)
        .args(["--topic-prefix", &cluster.prefix])
        .args(["--group-id", "crash-test"])
        // Static membership: the restarted daemon is the same member.
        .args(["--instance-id", "crash-test-1"])
        .args(["--http-listen", http])
        // Its log is shown when the test fails.
        .env("RUST_LOG", "info,librdkafka=warn")
        .spawn()
        .expect("start the ingest binary")
}

/// `sluice_ingest_points_accepted_total` summed over its labels, 0 before
/// the daemon answers.
async fn accepted(http: &str) -> f64 {
    let Ok(r) = reqwest::get(format!("http://{http}/metrics")).await else {
        return 0.0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("sluice_ingest_points_accepted_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_stream_loses_no_raw_point() {
    let cluster = Cluster::start(2, "crash").await;
    let raw_topic = schemas::topics::raw_topic_for_database(&cluster.prefix, "crash").unwrap();
    cluster.broker.create_topic(&raw_topic, 2).await.unwrap();
    // The catch-all topic too: a raw topic appearing while a member dies
    // makes tansu's group coordinator wait for the dead member without end
    // (see the ingest issue's notes); Kafka gives up after
    // max.poll.interval.ms.
    let catch_all = schemas::topics::raw_topic(&cluster.prefix);
    cluster.broker.create_topic(&catch_all, 4).await.unwrap();

    // 1000 records of 40 lines, one every ~20 ms: the producer is still
    // writing when the daemon, which needs a few seconds to join its
    // group, has routed its first points and is killed.
    let records: Vec<String> = (0..1000)
        .map(|i| tsbs_lines(40, 1, T0 + i * 10_000_000_000))
        .collect();
    let expected = expected_values(&records.concat());
    let producer =
        kafka_log::dead_letter_producer(&KafkaConfig::new(cluster.broker.bootstrap())).unwrap();
    let topic = raw_topic.clone();
    let writer = tokio::spawn(async move {
        for (i, payload) in records.iter().enumerate() {
            producer
                .send(
                    FutureRecord::<(), _>::to(&topic)
                        .partition((i % 2) as i32)
                        .payload(payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let http = format!("127.0.0.1:{}", testkit::free_port());
    let mut ingest = spawn_ingest(&cluster, &http);
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted(&http).await < 1.0 {
        assert!(Instant::now() < deadline, "ingest accepted nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !writer.is_finished(),
        "the producer finished before the kill"
    );
    ingest.kill().unwrap(); // SIGKILL
    ingest.wait().unwrap();
    writer.await.unwrap();

    let mut ingest = spawn_ingest(&cluster, &http);
    let brokers = cluster.broker.bootstrap();
    let mut got = Default::default();
    // A kill during a rebalance stalls the group for max.poll.interval.ms (60 s).
    let deadline = Instant::now() + Duration::from_secs(150);
    while Instant::now() < deadline {
        let md = cluster.snapshot().await;
        got = drain_shard_topics(&brokers, &md);
        if expected.is_subset(&got) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ingest.kill().unwrap();
    ingest.wait().unwrap();
    let missing = expected.difference(&got).count();
    assert_eq!(
        missing,
        0,
        "{missing} values missing, e.g. {:?}",
        expected.difference(&got).next()
    );
    assert!(
        got.is_subset(&expected),
        "a value that was never written appeared"
    );
}

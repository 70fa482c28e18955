//! The clients against a real tansu broker: topics created (twice: the
//! second finds it), records produced with the write path's producer, read
//! back with a reader, watermarks, broker count, topic deletion.

use std::time::Duration;

use kafka_log::rdkafka::consumer::Consumer;
use kafka_log::rdkafka::producer::FutureRecord;
use kafka_log::rdkafka::{Message, Offset, TopicPartitionList};
use kafka_log::{Admin, TopicCreation, TopicSpec, Watermarks};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_records_and_watermarks() {
    let broker = testkit::Broker::start().expect("tansu");
    let kafka = broker.kafka_config();
    let admin = Admin::new(&kafka).unwrap();
    let topic = "kafka-log-admin";

    let spec = TopicSpec::new(topic, 2, 1).unlimited_retention();
    assert_eq!(
        admin.create_topic(&spec).await.unwrap(),
        TopicCreation::Created
    );
    assert_eq!(
        admin.create_topic(&spec).await.unwrap(),
        TopicCreation::Existed
    );
    let a = admin.clone();
    let (brokers, partitions) =
        tokio::task::spawn_blocking(move || (a.broker_count(), a.partition_count(topic)))
            .await
            .unwrap();
    assert_eq!(brokers.unwrap(), 1);
    assert_eq!(partitions.unwrap(), 2);

    let producer = kafka_log::producer(&kafka).unwrap();
    for i in 0..3 {
        producer
            .send(
                FutureRecord::to(topic)
                    .partition(1)
                    .key("k")
                    .payload(&format!("r{i}")),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let watermarks = Watermarks::new(&kafka).unwrap();
    assert_eq!(watermarks.fetch(topic, 1).await.unwrap(), (0, 3));
    assert_eq!(watermarks.clone().high(topic, 0).await.unwrap(), 0);

    let reader = kafka_log::reader(&kafka, "kafka-log-test").unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 1, Offset::Beginning)
        .unwrap();
    reader.assign(&tpl).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 3 && std::time::Instant::now() < deadline {
        if let Some(m) = reader.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            got.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(got, ["r0", "r1", "r2"]);

    admin.delete_topics(&[topic]).await.unwrap();
    // Deleting a topic that is gone is not an error on Kafka, but tansu 0.6
    // sometimes drops the connection on such a request (seen in about one
    // run in three), so that case is not checked against tansu.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_config() {
    let broker = testkit::Broker::start().expect("tansu");
    let admin = Admin::new(&broker.kafka_config()).unwrap();
    let topic = "kafka-log-config";
    admin
        .create_topic(&TopicSpec::new(topic, 1, 1).unlimited_retention())
        .await
        .unwrap();
    let config = admin.topic_config(topic).await.unwrap();
    assert_eq!(
        config.get("retention.ms").map(String::as_str),
        Some("-1"),
        "{config:?}"
    );
}

// tansu 0.6 closes the connection on a DeleteRecords request; run this
// against a Kafka with `--run-ignored` and KAFKA_LOG_TEST_BROKERS set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tansu 0.6 does not implement DeleteRecords"]
async fn delete_records() {
    let brokers = std::env::var("KAFKA_LOG_TEST_BROKERS").expect("KAFKA_LOG_TEST_BROKERS");
    let kafka = kafka_log::KafkaConfig::new(brokers);
    let admin = Admin::new(&kafka).unwrap();
    let topic = format!("kafka-log-records-{}", std::process::id());
    let topic = topic.as_str();
    admin
        .create_topic(&TopicSpec::new(topic, 1, 1))
        .await
        .unwrap();

    let producer = kafka_log::simple_producer(&kafka).unwrap();
    for i in 0..4 {
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(&format!("r{i}")),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    assert_eq!(admin.delete_records(topic, 0, 2).await.unwrap(), 2);
    let a = admin.clone();
    let name = topic.to_owned();
    let marks = tokio::task::spawn_blocking(move || a.watermarks(&name, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marks, (2, 4));
    admin.delete_topics(&[topic]).await.unwrap();
}

/// A topic created by another client after the watermark client asked
/// about it (and cached it as unknown) is found at once, not reported as an
/// unknown partition until librdkafka's next periodic refresh (what a
/// read-your-writes query of a group another node just made needs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_of_a_topic_created_elsewhere_a_moment_ago() {
    let broker = testkit::Broker::start().expect("tansu");
    let kafka = broker.kafka_config();
    let admin = Admin::new(&kafka).unwrap();
    let first = TopicSpec::new("kafka-log-first", 1, 1);
    admin.create_topic(&first).await.unwrap();
    let watermarks = Watermarks::new(&kafka).unwrap();
    assert_eq!(
        watermarks.fetch("kafka-log-first", 0).await.unwrap(),
        (0, 0)
    );

    let other = Admin::new(&kafka).unwrap();
    for i in 0..3 {
        let name = format!("kafka-log-new-{i}");
        // Asked about before it exists: librdkafka caches it as unknown.
        let early = watermarks.fetch_blocking(&name, 1, Duration::from_millis(300));
        assert!(early.is_err(), "{early:?}");
        other
            .create_topic(&TopicSpec::new(&name, 2, 1))
            .await
            .unwrap();
        assert_eq!(watermarks.fetch(&name, 1).await.unwrap(), (0, 0), "{name}");
    }
}

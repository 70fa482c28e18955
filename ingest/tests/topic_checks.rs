//! Shard-group topics are created with the replication the cluster can
//! hold and unlimited retention, and an existing topic that differs is
//! reported (`Producer::topic_problems`, which `/health` lists as a
//! warning), not silently used. Real tansu.

use ingest::produce::{KafkaConfig, Producer};
use kafka_log::{Admin, TopicSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_made_right_and_wrong_ones_reported() {
    let broker = testkit::Broker::start().expect("start tansu");
    let config = KafkaConfig::new(broker.bootstrap());
    let admin = Admin::new(&config).unwrap();

    // A new topic on a one-broker cluster: replication min(3, 1), kept for ever.
    let producer = Producer::new(config.clone()).unwrap();
    producer.ensure_topic("fresh", 2).await.unwrap();
    let layout = {
        let admin = admin.clone();
        tokio::task::spawn_blocking(move || admin.topic_layouts(&["fresh"]))
            .await
            .unwrap()
            .unwrap()[0]
    };
    assert_eq!((layout.partitions, layout.replication), (2, 1));
    let made = admin.topic_config("fresh").await.unwrap();
    assert_eq!(
        made.get("retention.ms").map(String::as_str),
        Some("-1"),
        "{made:?}"
    );
    assert!(producer.topic_problems().is_empty());

    // Made by someone else with a retention that would delete the log.
    admin
        .create_topic(&TopicSpec::new("short", 2, 1).config("retention.ms", "3600000"))
        .await
        .unwrap();
    producer.ensure_topic("short", 2).await.unwrap();
    let problems = producer.topic_problems();
    assert_eq!(
        problems.get("short").map(String::as_str),
        Some("retention.ms=3600000 (the log must keep every record: -1)"),
        "{problems:?}"
    );

    // Configured for more replicas than an existing topic has.
    let wants_two = Producer::new(KafkaConfig {
        topic_replication: Some(2),
        ..config.clone()
    })
    .unwrap();
    wants_two.ensure_topic("fresh", 2).await.unwrap();
    assert_eq!(
        wants_two.topic_problems().get("fresh").map(String::as_str),
        Some("replication factor 1 (new topics get 2)")
    );

    // The wrong partition count stays an error: records would be routed
    // to shards the topic does not have.
    let err = wants_two.ensure_topic("short", 3).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "topic short has 2 partitions, its shard group has 3 shards"
    );
}

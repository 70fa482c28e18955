//! The producers and consumers, each with the settings of its role.

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;
use tracing::{debug, error};

use crate::config::{client_config, KafkaConfig, RoleSettings};
use crate::error::Error;

fn client_err(role: &'static str) -> impl FnOnce(KafkaError) -> Error {
    move |source| Error::Client {
        role,
        source: Box::new(source),
    }
}

/// The write path's producer settings: a write counts only once every
/// in-sync replica has its records.
fn producer_settings(config: &KafkaConfig) -> RoleSettings {
    vec![
        ("acks", "all".into()),
        // Retries never duplicate nor reorder a partition's records.
        ("enable.idempotence", config.idempotence.to_string()),
        ("compression.type", config.compression.clone()),
        ("linger.ms", config.linger_ms.to_string()),
        // Room for a record of max_record_bytes and its overhead.
        (
            "message.max.bytes",
            (config.max_record_bytes + 64 * 1024).to_string(),
        ),
        (
            "message.timeout.ms",
            config.delivery_timeout.as_millis().to_string(),
        ),
    ]
}

/// The producer of shard-group records (ingest's write path): `acks=all`,
/// idempotent, [`KafkaConfig::compression`], [`KafkaConfig::linger_ms`],
/// records up to [`KafkaConfig::max_record_bytes`], each acknowledged
/// within [`KafkaConfig::delivery_timeout`] or failed.
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, Error> {
    client_config(config, &producer_settings(config))
        .create()
        .map_err(client_err("producer"))
}

/// The producer of the raw-topic consumer's dead letters: `acks=all` and
/// librdkafka's defaults otherwise.
pub fn dead_letter_producer(config: &KafkaConfig) -> Result<FutureProducer, Error> {
    client_config(config, &[("acks", "all".into())])
        .create()
        .map_err(client_err("dead-letter producer"))
}

/// A producer with librdkafka's defaults (tools and tests that write
/// records of their own).
pub fn simple_producer(config: &KafkaConfig) -> Result<FutureProducer, Error> {
    client_config(config, &[])
        .create()
        .map_err(client_err("producer"))
}

/// The raw line-protocol consumer settings: a consumer group shared by
/// the ingest daemons, at least once.
fn raw_consumer_settings(group_id: &str, instance_id: Option<&str>) -> RoleSettings {
    let mut s: RoleSettings = instance_id
        .map(|id| ("group.instance.id", id.to_owned()))
        .into_iter()
        .collect();
    s.extend([
        ("group.id", group_id.to_owned()),
        // Offsets are stored by hand once a record is acknowledged and
        // committed in the background: at-least-once.
        ("enable.auto.commit", "true".into()),
        ("enable.auto.offset.store", "false".into()),
        ("auto.commit.interval.ms", "1000".into()),
        ("auto.offset.reset", "earliest".into()),
        ("topic.metadata.refresh.interval.ms", "5000".into()),
        // A daemon that died (SIGKILL, lost host) holds its partitions
        // until the broker gives up on it: 10 s rather than librdkafka's
        // 45 s. A rebalance waits up to max.poll.interval.ms for members
        // to rejoin, so a daemon killed mid-rebalance (new raw topics
        // trigger one) stalls the group for that long: 60 s, not 300 s.
        // A write that cannot finish within it (metad or Kafka away)
        // hands the partition to another daemon; its offsets were not
        // stored, so nothing is lost.
        ("session.timeout.ms", "10000".into()),
        ("heartbeat.interval.ms", "3000".into()),
        ("max.poll.interval.ms", "60000".into()),
    ]);
    s
}

/// The consumer of the raw line-protocol topics (ingest): member of
/// `group_id` (statically, as `instance_id`, if given), starting at the
/// earliest offset of a partition the group has no offset for. Offsets
/// are committed every second, but only those the caller stored with
/// `store_offset` once a record's points were acknowledged.
pub fn raw_consumer(
    config: &KafkaConfig,
    group_id: &str,
    instance_id: Option<&str>,
) -> Result<StreamConsumer, Error> {
    client_config(config, &raw_consumer_settings(group_id, instance_id))
        .create()
        .map_err(client_err("raw-topic consumer"))
}

/// The consumer of one replica (shardd).
pub type ReplicaConsumer = BaseConsumer<ReplicaContext>;

/// librdkafka's client callbacks for a replica's consumer. End of
/// partition is how a replica learns it caught up (`enable.partition.eof`),
/// and librdkafka reports it through the error callback too, which
/// rdkafka's default context logs as an error: here it is not one.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicaContext;

impl ClientContext for ReplicaContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if let KafkaError::Global(RDKafkaErrorCode::PartitionEOF) = error {
            debug!(reason, "end of partition");
        } else {
            error!(%error, reason, "librdkafka");
        }
    }
}

impl ConsumerContext for ReplicaContext {}

/// A partition's own queue on a replica consumer
/// (`BaseConsumer::split_partition_queue`).
pub type PartitionQueue = rdkafka::consumer::base_consumer::PartitionQueue<ReplicaContext>;

/// The `(low, high)` watermarks of a partition as the consumer last saw
/// them in a fetch response: no request, so cheap for thousands of
/// partitions; `None` before the first fetch of that partition.
pub fn cached_watermarks(
    consumer: &ReplicaConsumer,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    use rdkafka::consumer::Consumer as _;
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` is borrowed;
    // librdkafka only reads the topic name and writes the two integers.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low, high))
}

/// The replica consumer settings: partitions are assigned by hand, offsets
/// live with the data in the shard, and nothing moves by itself.
fn replica_settings(group_id: &str) -> RoleSettings {
    vec![
        // Required by librdkafka but used for nothing: partitions are
        // assigned, never subscribed, and offsets are never committed.
        ("group.id", group_id.to_owned()),
        ("enable.auto.commit", "false".into()),
        ("enable.auto.offset.store", "false".into()),
        // Never jump to another offset by ourselves: an offset that is
        // gone is the operator's decision (DESIGN, apply path).
        ("auto.offset.reset", "error".into()),
        // End of partition is how a replica learns it has caught up.
        ("enable.partition.eof", "true".into()),
        // Records are batches of up to ~1 MiB; the default 1 MiB per
        // partition would fetch one record per round trip on replay.
        ("max.partition.fetch.bytes", (16 << 20).to_string()),
        ("fetch.max.bytes", (64 << 20).to_string()),
        // Bounded prefetch per partition (each has its own queue on the
        // node's one consumer): what a replica catching up may hold.
        ("queued.max.messages.kbytes", (16 << 10).to_string()),
        // Fresh records are applied soon after they are produced.
        ("fetch.wait.max.ms", "100".into()),
        // A replica may be assigned before ingest has created its topic;
        // look again soon rather than after librdkafka's 5 minutes.
        ("topic.metadata.refresh.interval.ms", "10000".into()),
    ]
}

/// The consumer of one replica (shardd): to be assigned its shard's
/// partition by hand (no group balancing), never committing, and failing
/// (`auto.offset.reset=error`) rather than skipping an offset that is gone.
pub fn replica_consumer(config: &KafkaConfig, group_id: &str) -> Result<ReplicaConsumer, Error> {
    client_config(config, &replica_settings(group_id))
        .create_with_context(ReplicaContext)
        .map_err(client_err("replica consumer"))
}

/// A consumer for tools and tests that read partitions they assign by hand:
/// `group_id` is never joined and nothing is committed.
pub fn reader(config: &KafkaConfig, group_id: &str) -> Result<BaseConsumer, Error> {
    client_config(config, &reader_settings(group_id))
        .create()
        .map_err(client_err("reader"))
}

pub(crate) fn reader_settings(group_id: &str) -> RoleSettings {
    vec![
        ("group.id", group_id.to_owned()),
        ("enable.auto.commit", "false".into()),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn get(settings: &RoleSettings, key: &str) -> Option<String> {
        settings
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn producer_acknowledges_with_every_replica() {
        let config = KafkaConfig {
            delivery_timeout: Duration::from_secs(7),
            ..KafkaConfig::default()
        };
        let s = producer_settings(&config);
        assert_eq!(get(&s, "acks").as_deref(), Some("all"));
        assert_eq!(get(&s, "enable.idempotence").as_deref(), Some("true"));
        assert_eq!(get(&s, "compression.type").as_deref(), Some("lz4"));
        assert_eq!(get(&s, "linger.ms").as_deref(), Some("5"));
        assert_eq!(get(&s, "message.max.bytes").as_deref(), Some("987136"));
        assert_eq!(get(&s, "message.timeout.ms").as_deref(), Some("7000"));
    }

    #[test]
    fn replica_never_moves_nor_commits_by_itself() {
        let s = replica_settings("g");
        assert_eq!(get(&s, "group.id").as_deref(), Some("g"));
        assert_eq!(get(&s, "auto.offset.reset").as_deref(), Some("error"));
        assert_eq!(get(&s, "enable.auto.commit").as_deref(), Some("false"));
        assert_eq!(get(&s, "enable.partition.eof").as_deref(), Some("true"));
    }

    #[test]
    fn raw_consumer_stores_offsets_by_hand() {
        let s = raw_consumer_settings("ingest", Some("ingest-1"));
        assert_eq!(get(&s, "group.instance.id").as_deref(), Some("ingest-1"));
        assert_eq!(
            get(&s, "enable.auto.offset.store").as_deref(),
            Some("false")
        );
        assert_eq!(get(&s, "auto.offset.reset").as_deref(), Some("earliest"));
        assert_eq!(
            get(&raw_consumer_settings("g", None), "group.instance.id"),
            None
        );
    }

    // A StreamConsumer starts a task on the tokio runtime.
    #[tokio::test]
    async fn clients_are_created_without_a_broker() {
        // librdkafka connects lazily: creation checks the configuration.
        let config = KafkaConfig::new("127.0.0.1:1");
        let _producer = producer(&config).unwrap();
        let _dead_letters = dead_letter_producer(&config).unwrap();
        let _simple = simple_producer(&config).unwrap();
        let _raw = raw_consumer(&config, "g", Some("i")).unwrap();
        let _replica = replica_consumer(&config, "g").unwrap();
        let _reader = reader(&config, "g").unwrap();
        let bad = config.with_property("no.such.property", "1");
        assert!(matches!(
            replica_consumer(&bad, "g"),
            Err(Error::Client {
                role: "replica consumer",
                ..
            })
        ));
    }
}

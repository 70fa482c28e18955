//! Produce: encoded batches to their topic partitions, acknowledged by every
//! in-sync replica before a write counts as done.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_log::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use kafka_log::rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use kafka_log::rdkafka::util::Timeout;
use kafka_log::{Admin, TopicCreation, TopicLayout, TopicSpec};
use schemas::record::record_key;
use tracing::{debug, info, warn};

use crate::route::ShardBatch;

/// Kafka settings of the producer (and of every other client): the one
/// configuration of the `kafka_log` crate.
pub use kafka_log::KafkaConfig;

/// Why producing failed.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The Kafka client could not be created from the configuration.
    #[error(transparent)]
    Config(kafka_log::Error),
    /// Creating a topic, or reading its partition count, failed.
    #[error(transparent)]
    Topic(kafka_log::Error),
    /// A topic exists with another partition count than its shard group.
    #[error("topic {topic} has {found} partitions, its shard group has {expected} shards")]
    PartitionMismatch {
        /// The topic.
        topic: String,
        /// Partitions found.
        found: usize,
        /// Shards in the group.
        expected: usize,
    },
    /// A record was not acknowledged.
    #[error("producing to {topic}[{partition}]: {source}")]
    Delivery {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The cause.
        source: KafkaError,
    },
}

/// What one [`Producer::send`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    /// Records acknowledged.
    pub records: usize,
    /// Bytes of record values acknowledged.
    pub bytes: usize,
}

/// Produces shard batches and creates shard-group topics.
pub struct Producer {
    producer: FutureProducer,
    admin: Admin,
    config: KafkaConfig,
    /// Topics known to exist with the right partition count.
    topics: Mutex<HashSet<String>>,
    /// Existing shard-group topics whose replication or retention is not
    /// what Sluice would have made, with why (`/health` lists them).
    problems: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("brokers", &self.config.brokers)
            .finish()
    }
}

impl Producer {
    /// Connects (lazily, as librdkafka does) to the brokers of `config`.
    pub fn new(config: KafkaConfig) -> Result<Self, ProduceError> {
        let producer = kafka_log::producer(&config).map_err(ProduceError::Config)?;
        let admin = Admin::new(&config).map_err(ProduceError::Config)?;
        Ok(Self {
            producer,
            admin,
            config,
            topics: Mutex::default(),
            problems: Mutex::default(),
        })
    }

    /// Shard-group topics found with fewer replicas than new topics get,
    /// or with a limited retention, and why: they are used (their data is
    /// there), but a lost broker or the broker's retention can lose
    /// acknowledged writes.
    pub fn topic_problems(&self) -> BTreeMap<String, String> {
        self.problems.lock().expect("not poisoned").clone()
    }

    /// Deletes those of `topics` that exist (asked first: tansu 0.6 may
    /// drop the connection on a request to delete a missing topic).
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<(), ProduceError> {
        let (admin, names) = (
            self.admin.clone(),
            topics.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>(),
        );
        let layouts = tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            admin.topic_layouts(&names)
        })
        .await
        .expect("metadata task does not panic")
        .map_err(ProduceError::Topic)?;
        let existing: Vec<&str> = topics
            .iter()
            .zip(layouts)
            .filter(|(_, l)| l.partitions > 0)
            .map(|(t, _)| *t)
            .collect();
        if !existing.is_empty() {
            self.admin
                .delete_topics(&existing)
                .await
                .map_err(ProduceError::Topic)?;
            info!(topics = ?existing, "deleted topics");
        }
        let mut known = self.topics.lock().expect("not poisoned");
        let mut problems = self.problems.lock().expect("not poisoned");
        for t in topics {
            known.remove(*t);
            problems.remove(*t);
        }
        Ok(())
    }

    /// The replication factor of new topics: the configured one, else
    /// min(3, brokers in the cluster metadata). Asked at each creation (a
    /// new group, so rarely): Kafka lists only the brokers that are up, and
    /// a broker back from a restart should count for the next group.
    async fn replication(&self) -> Result<i32, ProduceError> {
        if let Some(n) = self.config.topic_replication {
            return Ok(n);
        }
        let admin = self.admin.clone();
        let brokers = tokio::task::spawn_blocking(move || admin.broker_count())
            .await
            .expect("metadata task does not panic")
            .map_err(ProduceError::Topic)?;
        let n = i32::try_from(brokers)
            .unwrap_or(i32::MAX)
            .clamp(1, kafka_log::MAX_DEFAULT_TOPIC_REPLICATION);
        debug!(brokers, replication = n, "replication factor of new topics");
        Ok(n)
    }

    /// The configuration in use.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Creates `topic` with `partitions` partitions unless it exists, and
    /// checks that an existing one has exactly that many (DESIGN: never add
    /// partitions to a shard group's topic). Retention is unlimited: the
    /// topic is the write-ahead log that replicas are rebuilt from. Whether
    /// this call created it.
    pub async fn ensure_topic(&self, topic: &str, partitions: usize) -> Result<bool, ProduceError> {
        Ok(!self.ensure_topics(&[(topic, partitions)]).await?.is_empty())
    }

    /// [`Self::ensure_topic`] for several topics at once: one request
    /// creates the missing ones, one metadata request checks them all (a
    /// write that opens many shard groups waits for one round, and takes
    /// no thread per topic). Returns the topics this call created.
    pub async fn ensure_topics(
        &self,
        topics: &[(&str, usize)],
    ) -> Result<Vec<String>, ProduceError> {
        let missing: Vec<(&str, usize)> = {
            let known = self.topics.lock().expect("not poisoned");
            topics
                .iter()
                .filter(|(t, _)| !known.contains(*t))
                .copied()
                .collect()
        };
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let replication = self.replication().await?;
        let specs: Vec<TopicSpec> = missing
            .iter()
            .map(|(t, n)| self.topic_spec(t, *n, replication).unlimited_retention())
            .collect();
        let (mut existed, mut created) = (Vec::new(), Vec::new());
        for (topic, creation) in self
            .admin
            .create_topics(&specs)
            .await
            .map_err(ProduceError::Topic)?
        {
            match creation {
                TopicCreation::Created => {
                    info!(topic, replication, "created topic");
                    created.push(topic);
                }
                TopicCreation::Existed => {
                    debug!(topic, "topic exists");
                    existed.push(topic);
                }
            }
        }
        let layouts = self.check_partitions(&missing).await?;
        for ((topic, _), layout) in missing.iter().zip(layouts) {
            if existed.iter().any(|t| t == topic) {
                self.check_existing(topic, layout, replication).await;
            }
        }
        let mut known = self.topics.lock().expect("not poisoned");
        known.extend(missing.iter().map(|(t, _)| (*t).to_owned()));
        Ok(created)
    }

    /// Creates a raw line-protocol topic unless it exists, with the broker's
    /// default retention (its records are only input) and any partition
    /// count an existing one has (producers own those topics).
    pub async fn ensure_raw_topic(
        &self,
        topic: &str,
        partitions: usize,
    ) -> Result<(), ProduceError> {
        if self.topics.lock().expect("not poisoned").contains(topic) {
            return Ok(());
        }
        let spec = self.topic_spec(topic, partitions, self.replication().await?);
        match self
            .admin
            .create_topic(&spec)
            .await
            .map_err(ProduceError::Topic)?
        {
            TopicCreation::Created => info!(topic, partitions, "created topic"),
            TopicCreation::Existed => debug!(topic, "topic exists"),
        }
        self.topics
            .lock()
            .expect("not poisoned")
            .insert(topic.to_owned());
        Ok(())
    }

    fn topic_spec(&self, topic: &str, partitions: usize, replication: i32) -> TopicSpec {
        TopicSpec::new(
            topic,
            i32::try_from(partitions).expect("partition count fits i32"),
            replication,
        )
    }

    /// Records (and logs) what is wrong with an existing shard-group
    /// topic: fewer replicas than new topics get, or a retention that
    /// deletes records the replicas are rebuilt from.
    async fn check_existing(&self, topic: &str, layout: TopicLayout, replication: i32) {
        let mut wrong = Vec::new();
        if (layout.replication as i64) < i64::from(replication) {
            wrong.push(format!(
                "replication factor {} (new topics get {replication})",
                layout.replication
            ));
        }
        match self.admin.topic_config(topic).await {
            Ok(config) => {
                for key in ["retention.ms", "retention.bytes"] {
                    match config.get(key).map(String::as_str) {
                        None | Some("-1") => {}
                        Some(v) => {
                            wrong.push(format!("{key}={v} (the log must keep every record: -1)"))
                        }
                    }
                }
            }
            Err(e) => warn!(topic, error = %e, "cannot read the topic's configuration"),
        }
        let mut problems = self.problems.lock().expect("not poisoned");
        if wrong.is_empty() {
            problems.remove(topic);
        } else {
            let why = wrong.join(", ");
            warn!(topic, problem = %why, "existing topic is not as Sluice makes them");
            problems.insert(topic.to_owned(), why);
        }
    }

    /// Waits until every topic has its expected partition count and
    /// returns the topics' layouts.
    async fn check_partitions(
        &self,
        expected: &[(&str, usize)],
    ) -> Result<Vec<TopicLayout>, ProduceError> {
        // Metadata may lag a fresh creation for a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        let names: Vec<String> = expected.iter().map(|(t, _)| (*t).to_owned()).collect();
        loop {
            let (admin, names) = (self.admin.clone(), names.clone());
            // Metadata requests block on the network: keep them off the runtime.
            let found = tokio::task::spawn_blocking(move || {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                admin.topic_layouts(&names)
            })
            .await
            .expect("metadata task does not panic")
            .map_err(ProduceError::Topic)?;
            let wrong = expected
                .iter()
                .zip(&found)
                .find(|((_, want), got)| got.partitions != *want);
            let Some(((topic, want), got)) = wrong else {
                return Ok(found);
            };
            if got.partitions != 0 || Instant::now() > deadline {
                return Err(ProduceError::PartitionMismatch {
                    topic: (*topic).to_owned(),
                    found: got.partitions,
                    expected: *want,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Produces every batch (keyed by shard id, to its partition) and returns
    /// once Kafka acknowledged all of them, or with the first failure.
    pub async fn send(&self, batches: &[ShardBatch<'_>]) -> Result<Sent, ProduceError> {
        let mut pending = Vec::with_capacity(batches.len());
        let mut sent = Sent::default();
        for b in batches {
            let payload = b.batch.encode();
            let key = record_key(b.batch.shard_id);
            sent.records += 1;
            sent.bytes += payload.len();
            let mut record = FutureRecord::to(&b.topic)
                .partition(b.partition)
                .key(&key)
                .payload(&payload);
            // send_result enqueues without waiting; delivery is awaited below
            // so all records of a write are in flight together. A full local
            // queue is back-pressure, not failure: wait for room.
            let future = loop {
                match self.producer.send_result(record) {
                    Ok(future) => break future,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((source, _)) => {
                        return Err(ProduceError::Delivery {
                            topic: b.topic.clone(),
                            partition: b.partition,
                            source,
                        })
                    }
                }
            };
            pending.push((b, future));
        }
        for (b, future) in pending {
            let delivery_err = |source| ProduceError::Delivery {
                topic: b.topic.clone(),
                partition: b.partition,
                source,
            };
            match future.await {
                Ok(Ok(_)) => {}
                Ok(Err((source, _))) => return Err(delivery_err(source)),
                Err(_canceled) => return Err(delivery_err(KafkaError::Canceled)),
            }
        }
        Ok(sent)
    }

    /// Produces one already-encoded record (a tombstone) to
    /// `topic[partition]` and returns once Kafka acknowledged it (acks=all).
    pub async fn send_record(
        &self,
        topic: &str,
        partition: i32,
        key: &str,
        payload: &[u8],
    ) -> Result<(), ProduceError> {
        let delivery_err = |source| ProduceError::Delivery {
            topic: topic.to_owned(),
            partition,
            source,
        };
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(payload);
        match self
            .producer
            .send(record, Timeout::After(self.config.delivery_timeout))
            .await
        {
            Ok(_) => Ok(()),
            Err((source, _)) => Err(delivery_err(source)),
        }
    }

    /// Waits for everything in flight (used at shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }

    /// How many brokers answer a metadata request within `timeout` (the
    /// health check). Blocks.
    pub fn broker_count(&self, timeout: Duration) -> Result<usize, kafka_log::Error> {
        self.admin.broker_count_within(timeout)
    }
}

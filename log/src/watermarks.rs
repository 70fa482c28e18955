//! [`Watermarks`]: partitions' low and high watermarks, for replica
//! progress and read-your-writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::{Client, ClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::clients::reader_settings;
use crate::config::{client_config, KafkaConfig, WATERMARK_GROUP_ID};
use crate::error::{Error, WatermarkError};

/// Pause between an unknown partition's metadata refresh and the next ask.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A client that reads partitions' `(low, high)` watermarks (the high
/// watermark is the offset the next record will get). One rdkafka consumer
/// with no group membership and no subscriptions, shared by its clones:
/// cloning is cheap. librdkafka's call is synchronous: from async code use
/// [`Watermarks::fetch`], which runs it on tokio's blocking pool.
#[derive(Clone)]
pub struct Watermarks {
    consumer: Arc<BaseConsumer>,
    timeout: Duration,
}

impl std::fmt::Debug for Watermarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watermarks")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Watermarks {
    /// A client of `config`'s brokers; each request may take
    /// [`KafkaConfig::metadata_timeout`].
    pub fn new(config: &KafkaConfig) -> Result<Self, Error> {
        let consumer = client_config(config, &reader_settings(WATERMARK_GROUP_ID))
            .create()
            .map_err(|source| Error::Client {
                role: "watermark client",
                source: Box::new(source),
            })?;
        Ok(Self {
            consumer: Arc::new(consumer),
            timeout: config.metadata_timeout,
        })
    }

    /// The watermarks of `topic[partition]`, waiting up to `timeout`
    /// (see [`fetch_watermarks`]). Blocks: call it from a thread of its
    /// own or the blocking pool.
    pub fn fetch_blocking(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<(i64, i64), WatermarkError> {
        fetch_watermarks(self.consumer.client(), topic, partition, timeout)
    }

    /// The watermarks of `topic[partition]`, from async code (on tokio's
    /// blocking pool, waiting up to the configured timeout).
    pub async fn fetch(&self, topic: &str, partition: i32) -> Result<(i64, i64), WatermarkError> {
        self.off_runtime(topic, partition, move |this, name| {
            this.fetch_blocking(name, partition, this.timeout)
        })
        .await
    }

    /// Runs librdkafka's synchronous `call` on tokio's blocking pool.
    async fn off_runtime<T: Send + 'static>(
        &self,
        topic: &str,
        partition: i32,
        call: impl FnOnce(&Self, &str) -> Result<T, WatermarkError> + Send + 'static,
    ) -> Result<T, WatermarkError> {
        let this = self.clone();
        let name = topic.to_owned();
        tokio::task::spawn_blocking(move || call(&this, &name))
            .await
            .unwrap_or_else(|_| {
                Err(WatermarkError {
                    topic: topic.to_owned(),
                    partition,
                    source: KafkaError::Canceled,
                })
            })
    }

    /// The first offset of `topic[partition]` whose record's timestamp is
    /// at or after `timestamp_ms` (Kafka's ListOffsets by time); `None`
    /// when every record is older. From async code.
    pub async fn offset_for_time(
        &self,
        topic: &str,
        partition: i32,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, WatermarkError> {
        self.off_runtime(topic, partition, move |this, name| {
            let err = |source| WatermarkError {
                topic: name.to_owned(),
                partition,
                source,
            };
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(name, partition, rdkafka::Offset::Offset(timestamp_ms))
                .map_err(err)?;
            let found = this
                .consumer
                .offsets_for_times(tpl, this.timeout)
                .map_err(err)?;
            let elem =
                found.elements().into_iter().next().ok_or_else(|| {
                    err(KafkaError::OffsetFetch(RDKafkaErrorCode::UnknownPartition))
                })?;
            elem.error().map_err(err)?;
            Ok(match elem.offset() {
                rdkafka::Offset::Offset(o) => Some(o),
                // -1: no record at or after the time.
                _ => None,
            })
        })
        .await
    }

    /// The high watermark of `topic[partition]` (read-your-writes), from
    /// async code.
    pub async fn high(&self, topic: &str, partition: i32) -> Result<i64, WatermarkError> {
        self.fetch(topic, partition).await.map(|(_, high)| high)
    }
}

/// The watermarks of `topic[partition]` through `client`, waiting up to
/// `timeout`. Blocks.
///
/// librdkafka answers from its cached metadata, in which a topic another
/// node created a moment ago is an unknown partition until the next
/// periodic refresh (minutes away): a read-your-writes query of a new
/// shard group would fail. So an unknown partition refreshes the topic's
/// metadata and asks again, until `timeout`.
pub(crate) fn fetch_watermarks<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), WatermarkError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.fetch_watermarks(topic, partition, left) {
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::UnknownPartition | RDKafkaErrorCode::UnknownTopicOrPartition,
            )) if Instant::now() + RETRY_PAUSE < deadline => {
                // Refreshes the cache; its own errors show in the retry.
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = client.fetch_metadata(Some(topic), left);
                std::thread::sleep(RETRY_PAUSE);
            }
            other => {
                return other.map_err(|source| WatermarkError {
                    topic: topic.to_owned(),
                    partition,
                    source,
                })
            }
        }
    }
}

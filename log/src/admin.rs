//! [`Admin`]: topics, their configuration and records, and the cluster's
//! metadata.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{client_config, KafkaConfig};
use crate::error::Error;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Its name.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Its replication factor.
    pub replication: i32,
    /// Topic configuration (`retention.ms`, ...).
    pub configs: Vec<(String, String)>,
}

impl TopicSpec {
    /// `name` with `partitions` partitions, `replication` copies of each,
    /// and the broker's default configuration.
    pub fn new(name: impl Into<String>, partitions: i32, replication: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication,
            configs: Vec::new(),
        }
    }

    /// Sets a topic configuration entry.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }

    /// Keeps records forever, whatever their age or size (`retention.ms`
    /// and `retention.bytes` -1): the shard-group topics are the
    /// write-ahead log replicas are rebuilt from.
    pub fn unlimited_retention(self) -> Self {
        self.config("retention.ms", "-1")
            .config("retention.bytes", "-1")
    }
}

/// How a topic is laid out on the brokers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicLayout {
    /// Its partitions.
    pub partitions: usize,
    /// Replicas of its least replicated partition.
    pub replication: usize,
}

/// What [`Admin::create_topic`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCreation {
    /// The topic was created.
    Created,
    /// A topic of that name existed already (its partitions and
    /// configuration were left as they are).
    Existed,
}

/// Administrative calls. Cloning is cheap (one client shared by the
/// clones). The async calls wait for the brokers without blocking; the
/// others ([`Admin::broker_count`], [`Admin::partition_count`],
/// [`Admin::watermarks`]) block, so call them from the blocking pool.
#[derive(Clone)]
pub struct Admin {
    client: Arc<AdminClient<DefaultClientContext>>,
    operation_timeout: Duration,
    metadata_timeout: Duration,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("operation_timeout", &self.operation_timeout)
            .field("metadata_timeout", &self.metadata_timeout)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// A client of `config`'s brokers (connected lazily, as librdkafka does).
    pub fn new(config: &KafkaConfig) -> Result<Self, Error> {
        let client = client_config(config, &[])
            .create()
            .map_err(|source| Error::Client {
                role: "admin client",
                source: Box::new(source),
            })?;
        Ok(Self {
            client: Arc::new(client),
            operation_timeout: config.operation_timeout,
            metadata_timeout: config.metadata_timeout,
        })
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(self.operation_timeout))
    }

    /// Creates `spec` unless a topic of that name exists.
    pub async fn create_topic(&self, spec: &TopicSpec) -> Result<TopicCreation, Error> {
        let mut created = self.create_topics(std::slice::from_ref(spec)).await?;
        Ok(created.pop().map_or(TopicCreation::Existed, |(_, c)| c))
    }

    /// Creates every topic of `specs` that does not exist; fails on the
    /// first topic that could be neither created nor found.
    pub async fn create_topics(
        &self,
        specs: &[TopicSpec],
    ) -> Result<Vec<(String, TopicCreation)>, Error> {
        let Some(first) = specs.first() else {
            return Ok(Vec::new());
        };
        let new: Vec<NewTopic<'_>> = specs
            .iter()
            .map(|s| {
                s.configs.iter().fold(
                    NewTopic::new(
                        &s.name,
                        s.partitions,
                        TopicReplication::Fixed(s.replication),
                    ),
                    |t, (k, v)| t.set(k, v),
                )
            })
            .collect();
        let results = self
            .client
            .create_topics(&new, &self.options())
            .await
            .map_err(|source| Error::CreateTopic {
                topic: first.name.clone(),
                source: Box::new(source),
            })?;
        results
            .into_iter()
            .map(|r| match r {
                Ok(topic) => Ok((topic, TopicCreation::Created)),
                Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    Ok((topic, TopicCreation::Existed))
                }
                Err((topic, code)) => Err(Error::CreateTopic {
                    topic,
                    source: Box::new(KafkaError::AdminOp(code)),
                }),
            })
            .collect()
    }

    /// Deletes `topics`; one that does not exist counts as deleted.
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<(), Error> {
        let Some(first) = topics.first() else {
            return Ok(());
        };
        let results = self
            .client
            .delete_topics(topics, &self.options())
            .await
            .map_err(|source| Error::DeleteTopic {
                topic: (*first).to_owned(),
                source: Box::new(source),
            })?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => {
                    return Err(Error::DeleteTopic {
                        topic,
                        source: Box::new(KafkaError::AdminOp(code)),
                    })
                }
            }
        }
        Ok(())
    }

    /// The configuration of `topic`: every entry that has a value (the
    /// brokers hide sensitive ones), defaults included.
    pub async fn topic_config(&self, topic: &str) -> Result<BTreeMap<String, String>, Error> {
        let err = |source| Error::DescribeConfigs {
            topic: topic.to_owned(),
            source: Box::new(source),
        };
        let results = self
            .client
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &self.options())
            .await
            .map_err(err)?;
        let mut out = BTreeMap::new();
        for r in results {
            let resource = r.map_err(|code| err(KafkaError::AdminOp(code)))?;
            out.extend(
                resource
                    .entries
                    .into_iter()
                    .filter_map(|e| Some((e.name, e.value?))),
            );
        }
        Ok(out)
    }

    /// Deletes the records of `topic[partition]` below offset `before`
    /// (Kafka's DeleteRecords) and returns the partition's new low
    /// watermark.
    pub async fn delete_records(
        &self,
        topic: &str,
        partition: i32,
        before: i64,
    ) -> Result<i64, Error> {
        let err = |source| Error::DeleteRecords {
            topic: topic.to_owned(),
            partition,
            before,
            source: Box::new(source),
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(before))
            .map_err(err)?;
        let result = self
            .client
            .delete_records(&tpl, &self.options())
            .await
            .map_err(err)?;
        let elem = result.find_partition(topic, partition).ok_or_else(|| {
            err(KafkaError::AdminOp(
                RDKafkaErrorCode::UnknownTopicOrPartition,
            ))
        })?;
        elem.error().map_err(err)?;
        Ok(elem.offset().to_raw().unwrap_or(before))
    }

    /// The `(low, high)` watermarks of `topic[partition]` (a topic made a
    /// moment ago included, see [`crate::watermarks::fetch_watermarks`]).
    /// Blocks.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), Error> {
        crate::watermarks::fetch_watermarks(
            self.client.inner(),
            topic,
            partition,
            self.metadata_timeout,
        )
        .map_err(Error::from)
    }

    /// How many brokers the cluster's metadata lists, waiting up to the
    /// configured metadata timeout. Blocks.
    pub fn broker_count(&self) -> Result<usize, Error> {
        self.broker_count_within(self.metadata_timeout)
    }

    /// [`Admin::broker_count`] waiting up to `timeout` (readiness probes).
    /// Blocks.
    pub fn broker_count_within(&self, timeout: Duration) -> Result<usize, Error> {
        let md = self
            .client
            .inner()
            .fetch_metadata(None, timeout)
            .map_err(|e| Error::Metadata(Box::new(e)))?;
        Ok(md.brokers().len())
    }

    /// The partitions and replication factor of each of `topics`
    /// ([`TopicLayout::default`], no partitions, for one the brokers do not
    /// know yet), from one metadata request for the whole cluster. Blocks.
    pub fn topic_layouts(&self, topics: &[&str]) -> Result<Vec<TopicLayout>, Error> {
        let md = self
            .client
            .inner()
            .fetch_metadata(None, self.metadata_timeout)
            .map_err(|e| Error::Metadata(Box::new(e)))?;
        let known: std::collections::HashMap<&str, TopicLayout> = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let layout = TopicLayout {
                    partitions: t.partitions().len(),
                    replication: t
                        .partitions()
                        .iter()
                        .map(|p| p.replicas().len())
                        .min()
                        .unwrap_or(0),
                };
                (t.name(), layout)
            })
            .collect();
        Ok(topics
            .iter()
            .map(|t| known.get(t).copied().unwrap_or_default())
            .collect())
    }

    /// How many partitions `topic` has; 0 when the brokers do not know it
    /// (yet: metadata may lag a fresh creation for a moment). Blocks.
    pub fn partition_count(&self, topic: &str) -> Result<usize, Error> {
        let md = self
            .client
            .inner()
            .fetch_metadata(Some(topic), self.metadata_timeout)
            .map_err(|e| Error::Metadata(Box::new(e)))?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_group_topics_keep_their_records() {
        let spec = TopicSpec::new("t", 3, 2).unlimited_retention();
        assert_eq!(
            spec.configs,
            [
                ("retention.ms".to_owned(), "-1".to_owned()),
                ("retention.bytes".to_owned(), "-1".to_owned())
            ]
        );
    }

    #[test]
    fn admin_is_created_without_a_broker() {
        let admin = Admin::new(&KafkaConfig::new("127.0.0.1:1")).unwrap();
        let _cheap = admin.clone();
    }
}

//! # kafka_log — the one owner of the Kafka client
//!
//! Every rdkafka client of Sluice is configured and created here, from one
//! [`KafkaConfig`]; nobody else builds an rdkafka `ClientConfig`.
//!
//! ```text
//!                        KafkaConfig (brokers, client id, properties, timeouts)
//!                                  │  config::client_config (private)
//!      ┌──────────────┬────────────┼──────────────┬───────────────┬──────────────┐
//!      ▼              ▼            ▼              ▼               ▼              ▼
//!  producer()   raw_consumer() replica_consumer() Watermarks    Admin       reader() /
//!  shard-group  raw line-proto one per node:      low/high of   create/     simple_producer()
//!  records,     topics, group  manual assign,     a partition   delete      tools and tests
//!  acks=all,    of ingest,     offset.reset=error, (cloneable,  topics,
//!  idempotent   stored offsets no commits         blocking or   configs,
//!  (ingest)     (ingest)       (shardd)           async)        DeleteRecords,
//!                                                               broker count
//! ```
//!
//! The clients are rdkafka's own types (`FutureProducer`, `StreamConsumer`,
//! `BaseConsumer`): callers poll and send with rdkafka's API, re-exported as
//! [`rdkafka`] so that the dependency, its version and its features have one
//! owner too.
//!
//! ## Properties and role settings
//!
//! A client's configuration is `bootstrap.servers`, then `client.id` if set,
//! then the operator's [`KafkaConfig::properties`] (security settings:
//! `security.protocol`, `sasl.*`, `ssl.*`, ...), then the settings of its
//! role. A role's settings win over a property of the same name: the
//! guarantees the design rests on (`acks=all`, `auto.offset.reset=error`,
//! offsets stored only after a write is acknowledged) cannot be turned off
//! by a configuration file.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod admin;
mod clients;
mod config;
mod error;
mod watermarks;

pub use rdkafka;

pub use admin::{Admin, TopicCreation, TopicLayout, TopicSpec};
pub use clients::{
    cached_watermarks, dead_letter_producer, producer, raw_consumer, reader, replica_consumer,
    simple_producer, PartitionQueue, ReplicaConsumer, ReplicaContext,
};
pub use config::{
    KafkaConfig, DEFAULT_BROKERS, DEFAULT_COMPRESSION, DEFAULT_DELIVERY_TIMEOUT, DEFAULT_LINGER_MS,
    DEFAULT_MAX_RECORD_BYTES, DEFAULT_METADATA_TIMEOUT, DEFAULT_OPERATION_TIMEOUT,
    MAX_DEFAULT_TOPIC_REPLICATION, WATERMARK_GROUP_ID,
};
pub use error::{Error, WatermarkError};
pub use watermarks::Watermarks;

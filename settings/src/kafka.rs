//! The Kafka block: where the brokers are and extra librdkafka properties.

use std::collections::BTreeMap;

use kafka_log::KafkaConfig;
use serde::Deserialize;

use crate::{defaults, layer};

/// Kafka flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port...]` [default: 127.0.0.1:9092].
    #[arg(long, env = "SLUICE_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Idempotent producer (`enable.idempotence`) on the write path: keep
    /// it on, but turn it off with the tansu broker, which after a restart
    /// panics on an idempotent producer's records [default: true].
    #[arg(long, env = "SLUICE_KAFKA_IDEMPOTENCE")]
    pub kafka_idempotence: Option<bool>,
    /// Replication factor of the topics this node creates; with acks=all,
    /// set the brokers' min.insync.replicas to one less, so that a write
    /// survives a lost broker and writes go on while one is down
    /// [default: min(3, brokers in the cluster metadata)].
    #[arg(long, env = "SLUICE_TOPIC_REPLICATION_FACTOR", value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_replication_factor: Option<i32>,
}

/// Kafka keys of a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaFile {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    pub kafka_brokers: Option<String>,
    /// Extra librdkafka properties passed to every client, e.g.
    /// `security.protocol` (a `[kafka_properties]` table).
    pub kafka_properties: Option<BTreeMap<String, String>>,
    /// `enable.idempotence` of the write path's producer.
    pub kafka_idempotence: Option<bool>,
    /// See [`KafkaArgs::topic_replication_factor`].
    pub topic_replication_factor: Option<i32>,
}

impl KafkaArgs {
    /// The brokers given by flag, environment or file, if any (for a caller
    /// whose default is not a broker list, like standalone's embedded one).
    pub fn brokers(&self, file: &KafkaFile) -> Option<String> {
        layer(self.kafka_brokers.clone(), file.kafka_brokers.clone())
    }

    /// The Kafka settings: brokers layered over [`defaults::KAFKA_BROKERS`],
    /// the file's properties, kafka_log's defaults for the rest.
    pub fn resolve(self, file: KafkaFile) -> KafkaConfig {
        let brokers = layer(self.kafka_brokers, file.kafka_brokers)
            .unwrap_or_else(|| defaults::KAFKA_BROKERS.to_owned());
        let defaults = KafkaConfig::new(brokers);
        KafkaConfig {
            properties: file.kafka_properties.unwrap_or_default(),
            idempotence: layer(self.kafka_idempotence, file.kafka_idempotence)
                .unwrap_or(defaults.idempotence),
            topic_replication: layer(self.topic_replication_factor, file.topic_replication_factor)
                .or(defaults.topic_replication),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaArgs,
    }

    #[test]
    fn toml_keys_and_typos() {
        let f: KafkaFile =
            toml::from_str("kafka_brokers = \"a:1\"\n[kafka_properties]\n\"acks\" = \"all\"")
                .unwrap();
        assert_eq!(f.kafka_brokers.as_deref(), Some("a:1"));
        assert!(toml::from_str::<KafkaFile>("kafka_broker = \"a:1\"").is_err());
        assert!(toml::from_str::<KafkaFile>("brokers = \"a:1\"").is_err());
    }

    fn none_args() -> KafkaArgs {
        Cli::try_parse_from(["x"]).unwrap().kafka
    }

    #[test]
    fn layering() {
        let file: KafkaFile =
            toml::from_str("kafka_brokers = \"file:1\"\n[kafka_properties]\n\"acks\" = \"all\"")
                .unwrap();
        let flag = Cli::try_parse_from(["x", "--kafka-brokers", "flag:1"]).unwrap();
        let c = flag.kafka.resolve(file.clone());
        assert_eq!(c.brokers, "flag:1");
        assert_eq!(c.properties["acks"], "all");
        let none = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(none.kafka.brokers(&KafkaFile::default()), None);
        assert_eq!(none.kafka.clone().resolve(file).brokers, "file:1");
        let c = none.kafka.resolve(KafkaFile::default());
        assert_eq!(c, KafkaConfig::default());
        assert!(c.idempotence);
        let off: KafkaFile = toml::from_str("kafka_idempotence = false").unwrap();
        assert!(!none_args().resolve(off.clone()).idempotence);
        let on = Cli::try_parse_from(["x", "--kafka-idempotence", "true"]).unwrap();
        assert!(
            on.kafka.resolve(off).idempotence,
            "the flag wins over the file"
        );
        assert_eq!(c.brokers, defaults::KAFKA_BROKERS);
    }
}

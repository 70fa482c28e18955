//! [`KafkaConfig`], and the one function that turns it into an rdkafka
//! `ClientConfig`.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use serde::Deserialize;

/// Default of [`KafkaConfig::brokers`].
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
/// Default of [`KafkaConfig::max_record_bytes`]: under the broker's default
/// `message.max.bytes` (1 MiB) with room for the record's overhead.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 900 * 1024;
/// Default of [`KafkaConfig::linger_ms`].
pub const DEFAULT_LINGER_MS: u32 = 5;
/// Default of [`KafkaConfig::compression`].
pub const DEFAULT_COMPRESSION: &str = "lz4";
/// Default of [`KafkaConfig::delivery_timeout`].
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest replication factor [`KafkaConfig::topic_replication`]
/// defaults to (fewer when the cluster has fewer brokers).
pub const MAX_DEFAULT_TOPIC_REPLICATION: i32 = 3;
/// Default of [`KafkaConfig::operation_timeout`].
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`KafkaConfig::metadata_timeout`].
pub const DEFAULT_METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// `group.id` of the watermark client. librdkafka wants one for a
/// consumer; this one never joins its group nor commits.
pub const WATERMARK_GROUP_ID: &str = "sluice-watermarks";

/// How to reach Kafka and how Sluice's clients behave there. Deserializes
/// from a TOML table in which every key is optional (durations in
/// milliseconds, `*_ms`) and unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// `client.id`, shown in the brokers' logs and metrics (librdkafka's
    /// default, `rdkafka`, when unset).
    pub client_id: Option<String>,
    /// Extra librdkafka properties passed through to every client:
    /// `security.protocol`, `sasl.*`, `ssl.*`, ... The settings of a
    /// client's role win over a property of the same name.
    pub properties: BTreeMap<String, String>,
    /// Largest record value the producer sends; bigger batches are split
    /// by the caller. Must stay under the broker's `message.max.bytes`.
    pub max_record_bytes: usize,
    /// `linger.ms` of the producer: how long librdkafka waits to fill a
    /// produce request. Records are already batches of thousands of points,
    /// so a short linger only lets concurrent writes share requests.
    pub linger_ms: u32,
    /// `compression.type` of the producer: lz4 compresses the repeated keys
    /// and timestamps of a batch well at a low CPU cost.
    pub compression: String,
    /// How long one record may take to be acknowledged
    /// (`message.timeout.ms`).
    #[serde(rename = "delivery_timeout_ms", with = "millis")]
    pub delivery_timeout: Duration,
    /// `enable.idempotence` of the write path's producer: on (the
    /// default), a retried record is never duplicated nor reordered. Off is
    /// for a broker that mishandles idempotent producers (tansu 0.6 panics
    /// on an idempotent producer's next record after the broker restarts,
    /// and then fails every produce). Without it a retry may duplicate a
    /// record (apply is idempotent: the same point again changes nothing)
    /// or reorder it among records in flight at the same time, which no
    /// client could have ordered anyway: a write is acknowledged only once
    /// all its records are, so a later write still lands after it.
    pub idempotence: bool,
    /// Replication factor of the topics Sluice creates; `None`: min(3,
    /// the brokers the cluster metadata lists), so that one lost broker
    /// disk loses no acknowledged write on a real cluster and a one-broker
    /// setup still works.
    pub topic_replication: Option<i32>,
    /// How long an administrative operation (create or delete topics, ...)
    /// may take on the brokers.
    #[serde(rename = "operation_timeout_ms", with = "millis")]
    pub operation_timeout: Duration,
    /// How long a metadata or watermark request may take.
    #[serde(rename = "metadata_timeout_ms", with = "millis")]
    pub metadata_timeout: Duration,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: DEFAULT_BROKERS.into(),
            client_id: None,
            properties: BTreeMap::new(),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            linger_ms: DEFAULT_LINGER_MS,
            compression: DEFAULT_COMPRESSION.into(),
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            idempotence: true,
            topic_replication: None,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            metadata_timeout: DEFAULT_METADATA_TIMEOUT,
        }
    }
}

impl KafkaConfig {
    /// Defaults with the brokers `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            ..Self::default()
        }
    }

    /// Adds (or replaces) an extra librdkafka property.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }
}

/// The settings of one client role, applied after the properties.
pub(crate) type RoleSettings = Vec<(&'static str, String)>;

/// The only place that builds an rdkafka `ClientConfig`: brokers, client
/// id, the operator's properties, then the role's settings.
pub(crate) fn client_config(config: &KafkaConfig, role: &[(&'static str, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers);
    if let Some(id) = &config.client_id {
        c.set("client.id", id);
    }
    for (k, v) in &config.properties {
        c.set(k, v);
    }
    for (k, v) in role {
        c.set(*k, v);
    }
    c
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_are_optional_in_milliseconds_and_checked() {
        let c: KafkaConfig = toml::from_str(
            r#"
            brokers = "k1:9092,k2:9092"
            client_id = "shardd-1"
            delivery_timeout_ms = 1500
            [properties]
            "security.protocol" = "SASL_SSL"
            "sasl.mechanism" = "PLAIN"
            "#,
        )
        .unwrap();
        assert_eq!(c.brokers, "k1:9092,k2:9092");
        assert_eq!(c.client_id.as_deref(), Some("shardd-1"));
        assert_eq!(c.delivery_timeout, Duration::from_millis(1500));
        assert_eq!(c.properties["security.protocol"], "SASL_SSL");
        assert_eq!(c.linger_ms, DEFAULT_LINGER_MS);
        assert_eq!(c.operation_timeout, DEFAULT_OPERATION_TIMEOUT);
        assert_eq!(
            toml::from_str::<KafkaConfig>("").unwrap(),
            KafkaConfig::default()
        );
        assert!(toml::from_str::<KafkaConfig>("broker = \"x\"").is_err());
        assert!(toml::from_str::<KafkaConfig>("delivery_timeout = 5").is_err());
    }

    #[test]
    fn properties_pass_through_and_role_settings_win() {
        let config = KafkaConfig {
            client_id: Some("me".into()),
            ..KafkaConfig::new("b:1")
        }
        .with_property("security.protocol", "SSL")
        .with_property("acks", "0");
        let c = client_config(&config, &[("acks", "all".into())]);
        assert_eq!(c.get("bootstrap.servers"), Some("b:1"));
        assert_eq!(c.get("client.id"), Some("me"));
        assert_eq!(c.get("security.protocol"), Some("SSL"));
        assert_eq!(c.get("acks"), Some("all"));
        let c = client_config(&KafkaConfig::default(), &[]);
        assert_eq!(c.get("client.id"), None);
    }
}

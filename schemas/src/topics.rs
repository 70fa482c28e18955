//! Kafka topic names.
//!
//! Shard-group topics are named by the group's id, never by database or
//! retention-policy names, which may hold any character while Kafka allows
//! only `[a-zA-Z0-9._-]` in at most 249 bytes. A cluster prefix keeps several
//! Sluice clusters (or a test per run) apart on one Kafka cluster.
//!
//! Raw line-protocol topics, which producers write to, follow a convention:
//! `<prefix>.lp.<database>` for databases whose name is a legal topic suffix,
//! and `<prefix>.lp` for any database, with the database named in the record
//! header `db`. The headers `db`, `rp` and `precision` always override what
//! the topic name implies.

use crate::meta::ShardGroupId;

/// The default cluster prefix.
pub const DEFAULT_PREFIX: &str = "sluice";
/// Record header naming the database of a raw line-protocol record.
pub const HEADER_DATABASE: &str = "db";
/// Record header naming the retention policy of a raw line-protocol record.
pub const HEADER_RETENTION_POLICY: &str = "rp";
/// Record header naming the timestamp precision of a raw line-protocol record.
pub const HEADER_PRECISION: &str = "precision";

const MAX_TOPIC_LEN: usize = 249;

/// Whether `name` is a legal Kafka topic name.
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Why a topic prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topic prefix {0:?}: use 1 to 200 characters of [a-zA-Z0-9_-]")]
pub struct InvalidPrefix(pub String);

/// Checks a cluster prefix. Dots are refused inside it so that
/// [`database_of_raw_topic`] can split names unambiguously.
pub fn validate_prefix(prefix: &str) -> Result<(), InvalidPrefix> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 200
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    ok.then_some(())
        .ok_or_else(|| InvalidPrefix(prefix.to_owned()))
}

/// The topic of shard group `id`: `<prefix>.shardgroup.<id>`.
pub fn shard_group_topic(prefix: &str, id: ShardGroupId) -> String {
    format!("{prefix}.shardgroup.{id}")
}

/// The catch-all raw line-protocol topic; its records name their database in
/// the `db` header.
pub fn raw_topic(prefix: &str) -> String {
    format!("{prefix}.lp")
}

/// The raw line-protocol topic of `database`, if its name can be part of a
/// topic name (otherwise write to [`raw_topic`] with a `db` header).
pub fn raw_topic_for_database(prefix: &str, database: &str) -> Option<String> {
    let topic = format!("{prefix}.lp.{database}");
    is_valid_topic_name(&topic).then_some(topic)
}

/// The database a raw topic's name implies, or `None` for the catch-all
/// topic and topics outside the convention.
pub fn database_of_raw_topic<'a>(prefix: &str, topic: &'a str) -> Option<&'a str> {
    topic
        .strip_prefix(prefix)?
        .strip_prefix(".lp.")
        .filter(|db| !db.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_group_topics_use_ids() {
        let t = shard_group_topic(DEFAULT_PREFIX, 42);
        assert_eq!(t, "sluice.shardgroup.42");
        assert!(is_valid_topic_name(&t));
    }

    #[test]
    fn raw_topics() {
        assert_eq!(raw_topic("sluice"), "sluice.lp");
        assert_eq!(
            raw_topic_for_database("sluice", "telegraf").as_deref(),
            Some("sluice.lp.telegraf")
        );
        assert_eq!(raw_topic_for_database("sluice", "my db"), None);
        assert_eq!(raw_topic_for_database("sluice", "ünï"), None);
        assert_eq!(
            database_of_raw_topic("sluice", "sluice.lp.telegraf"),
            Some("telegraf")
        );
        assert_eq!(
            database_of_raw_topic("sluice", "sluice.lp.a.b"),
            Some("a.b")
        );
        assert_eq!(database_of_raw_topic("sluice", "sluice.lp"), None);
        assert_eq!(database_of_raw_topic("sluice", "sluice.lp."), None);
        assert_eq!(database_of_raw_topic("sluice", "other.lp.x"), None);
    }

    #[test]
    fn topic_name_rules() {
        assert!(!is_valid_topic_name(""));
        assert!(!is_valid_topic_name(".."));
        assert!(!is_valid_topic_name(&"a".repeat(250)));
        assert!(is_valid_topic_name(&"a".repeat(249)));
        assert!(validate_prefix("sluice-test_1").is_ok());
        assert!(validate_prefix("a.b").is_err());
        assert!(validate_prefix("").is_err());
    }
}

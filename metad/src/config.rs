//! A meta node's settings, and the TOML file that may hold them.
//!
//! Precedence, highest first: command-line flag, environment variable, TOML
//! file (`--config`), built-in default. The binary does the layering; this
//! module holds the types and the defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Everything a running meta node needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's raft id, unique among metad nodes.
    pub node_id: u64,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The address peers and clients use to reach this node (`host:port`).
    pub advertise: String,
    /// RocksDB directory for log, vote and state machine.
    pub data_dir: PathBuf,
    /// Initialise a new cluster if this node has no raft state yet: of
    /// this node alone, or of [`Self::initial_members`].
    pub bootstrap: bool,
    /// The voters a bootstrapping node initialises the cluster with
    /// (`id` → `host:port`, this node among them), so a three-voter cluster
    /// starts without `sluice-ctl add-meta` (what a compose file or an
    /// orchestrator needs). Empty: this node alone.
    pub initial_members: BTreeMap<u64, String>,
    /// When set, every API call must carry `Authorization: Bearer <secret>`.
    pub shared_secret: Option<String>,
    /// Prefix of shard-group topic names.
    pub topic_prefix: String,
    /// Replication factor of the `autogen` policy `CREATE DATABASE` makes.
    pub default_replication_factor: u32,
    /// Raft leader heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Raft election timeout (minimum; the maximum is 1.5 times it).
    pub election_timeout: Duration,
    /// Take a snapshot (and compact the log) after this many entries.
    pub snapshot_logs: u64,
    /// A data node silent this long is marked unreachable.
    pub data_node_timeout: Duration,
    /// How often the leader looks for expired shard groups.
    pub retention_check_interval: Duration,
    /// A data node unreachable this long has its shards re-owned by the
    /// other nodes (see [`crate::placement::drain`]); `None`: never.
    pub reassign_after: Option<Duration>,
}

impl NodeConfig {
    /// Defaults for a node listening on `listen` with data in `data_dir`.
    pub fn new(node_id: u64, listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            node_id,
            listen,
            advertise: listen.to_string(),
            data_dir,
            bootstrap: false,
            initial_members: BTreeMap::new(),
            shared_secret: None,
            topic_prefix: schemas::topics::DEFAULT_PREFIX.to_owned(),
            default_replication_factor: 1,
            heartbeat_interval: Duration::from_millis(100),
            election_timeout: Duration::from_millis(1000),
            snapshot_logs: 5000,
            data_node_timeout: Duration::from_secs(10),
            retention_check_interval: Duration::from_secs(30),
            reassign_after: None,
        }
    }
}

/// The TOML config file. Every key is optional; unknown keys are refused so
/// that a typo does not silently fall back to a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`NodeConfig::node_id`].
    pub node_id: Option<u64>,
    /// See [`NodeConfig::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`NodeConfig::advertise`].
    pub advertise: Option<String>,
    /// See [`NodeConfig::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`NodeConfig::bootstrap`].
    pub bootstrap: Option<bool>,
    /// See [`NodeConfig::initial_members`]: `"1=meta1:8091,2=meta2:8091"`.
    pub initial_members: Option<String>,
    /// `shared_secret`: see [`NodeConfig::shared_secret`].
    #[serde(flatten)]
    pub secret: settings::SecretFile,
    /// See [`NodeConfig::topic_prefix`].
    pub topic_prefix: Option<String>,
    /// See [`NodeConfig::default_replication_factor`].
    pub default_replication_factor: Option<u32>,
    /// See [`NodeConfig::heartbeat_interval`], ms.
    pub heartbeat_interval_ms: Option<u64>,
    /// See [`NodeConfig::election_timeout`], ms.
    pub election_timeout_ms: Option<u64>,
    /// See [`NodeConfig::snapshot_logs`].
    pub snapshot_logs: Option<u64>,
    /// See [`NodeConfig::data_node_timeout`], ms.
    pub data_node_timeout_ms: Option<u64>,
    /// See [`NodeConfig::retention_check_interval`], ms.
    pub retention_check_interval_ms: Option<u64>,
    /// See [`NodeConfig::reassign_after`] (`"10m"`).
    pub reassign_after: Option<String>,
    /// `log_filter`.
    #[serde(flatten)]
    pub logging: settings::LoggingFile,
    #[serde(flatten)]
    unknown: settings::NoUnknownKeys,
}

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML or an unknown key.
    #[error("invalid config file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A setting out of range.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl FileConfig {
    /// Parses a config file's text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Ok(toml::from_str(text)?)
    }
}

impl NodeConfig {
    /// Checks settings that would make the node misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        schemas::topics::validate_prefix(&self.topic_prefix).map_err(|e| ConfigError::Invalid {
            key: "topic_prefix",
            reason: e.to_string(),
        })?;
        if self.default_replication_factor == 0 {
            return Err(ConfigError::Invalid {
                key: "default_replication_factor",
                reason: "must be greater than 0".into(),
            });
        }
        if self.election_timeout <= self.heartbeat_interval {
            return Err(ConfigError::Invalid {
                key: "election_timeout_ms",
                reason: "must be longer than the heartbeat interval".into(),
            });
        }
        if !self.initial_members.is_empty() {
            match self.initial_members.get(&self.node_id) {
                None => {
                    return Err(ConfigError::Invalid {
                        key: "initial_members",
                        reason: format!("must include this node ({})", self.node_id),
                    })
                }
                Some(addr) if *addr != self.advertise => {
                    return Err(ConfigError::Invalid {
                        key: "initial_members",
                        reason: format!(
                            "gives this node ({}) the address {addr}, but it advertises {}",
                            self.node_id, self.advertise
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        if self.snapshot_logs == 0 {
            return Err(ConfigError::Invalid {
                key: "snapshot_logs",
                reason: "must be greater than 0".into(),
            });
        }
        Ok(())
    }
}

/// Parses `1=meta1:8091,2=meta2:8091` (the `--initial-members` form).
pub fn parse_members(text: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        key: "initial_members",
        reason,
    };
    let mut members = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| invalid(format!("{item:?} is not ID=HOST:PORT")))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{id:?} in {item:?} is not a node id")))?;
        let addr = addr.trim();
        if addr.is_empty() || !addr.contains(':') {
            return Err(invalid(format!("{item:?} has no HOST:PORT")));
        }
        if members.insert(id, addr.to_owned()).is_some() {
            return Err(invalid(format!("node {id} is named twice")));
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let cfg = FileConfig::parse(include_str!("../metad.example.toml")).unwrap();
        assert_eq!(cfg.node_id, Some(1));
        assert!(cfg.listen.is_some());
        assert_eq!(cfg.secret.shared_secret, None);
        let cfg = FileConfig::parse("shared_secret = \"s\"\nlog_filter = \"debug\"").unwrap();
        assert_eq!(cfg.secret.shared_secret.as_deref(), Some("s"));
        assert_eq!(cfg.logging.log_filter.as_deref(), Some("debug"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = FileConfig::parse("node_id = 1\nlisten_addr = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn validation() {
        let mut cfg = NodeConfig::new(1, "127.0.0.1:1".parse().unwrap(), "/tmp/x".into());
        assert!(cfg.validate().is_ok());
        cfg.topic_prefix = "a.b".into();
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn initial_members_name_this_node_at_its_address() {
        let members = parse_members("1=m1:8091, 2=m2:8091,3=m3:8091").unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(members[&2], "m2:8091");
        for bad in ["1=m1:8091,1=m2:8091", "1", "x=m1:8091", "1=m1"] {
            assert!(parse_members(bad).is_err(), "{bad}");
        }
        let mut cfg = NodeConfig::new(1, "0.0.0.0:8091".parse().unwrap(), "/tmp/x".into());
        cfg.advertise = "m1:8091".into();
        cfg.initial_members = members.clone();
        assert!(cfg.validate().is_ok());
        cfg.advertise = "m9:8091".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("advertises m9:8091"), "{err}");
        cfg.node_id = 4;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("must include this node (4)"), "{err}");
    }
}

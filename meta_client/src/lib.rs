//! # meta_client — talking to metad
//!
//! A thin async client of metad's HTTP API (`schemas::meta_api`), used by
//! ingest, shardd and `sluice-ctl`.
//!
//! ```text
//!  MetaClient ──▶ metad A (preferred) ──┐ follower: forwards to the leader
//!      │  connect error / 502 / 503      ▼
//!      └──────▶ metad B, C … until `retry_for` runs out
//! ```
//!
//! Any metad node serves any request (followers forward to the leader), so
//! the client only needs to find *a* node that answers: it remembers the
//! last one that did and moves on to the next address when a node cannot be
//! reached or has no leader yet (503, e.g. during an election). Requests
//! that may not have been sent are retried; a request that reached a node
//! and timed out is not, so a command never runs twice because of us.
//!
//! Passwords are hashed here (argon2, PHC string) so they never travel or
//! get logged in clear; [`verify_password`] checks one against a stored hash.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod auth;
mod follower;

pub use follower::Follower;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use schemas::meta::{DataNode, MetaData, NodeId, Privilege, ShardGroup, ShardGroupId};
use schemas::meta_api::{
    paths, AddMetaRequest, ClusterStatus, CommandError, CommandOutput, ErrorBody, FieldTypeClaim,
    HeartbeatRequest, HeartbeatResponse, MetaCommand, RemoveMetaRequest, ReplicaStatus,
    RetentionPolicySpec,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call to metad failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client was given no address.
    #[error("no metad address configured")]
    NoAddresses,
    /// No metad node could be reached (or none had a leader) in time.
    #[error("cannot reach metad at {addrs}: {last}")]
    Unreachable {
        /// The addresses tried.
        addrs: String,
        /// The last failure.
        last: String,
    },
    /// metad answered with an error.
    #[error("metad: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// metad's message.
        message: String,
        /// The state machine's reason, if it refused a command.
        command_error: Option<CommandError>,
    },
    /// The request reached metad but the exchange failed (e.g. timed out);
    /// it may or may not have taken effect.
    #[error("request to metad at {addr} failed: {source}")]
    Request {
        /// The node.
        addr: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// metad's answer was not the expected JSON.
    #[error("unexpected answer from metad at {addr}: {source}")]
    Decode {
        /// The node.
        addr: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// metad answered a command with another kind of output.
    #[error("unexpected command output: {0:?}")]
    UnexpectedOutput(Box<CommandOutput>),
    /// The HTTP client could not be built.
    #[error("cannot build http client: {0}")]
    Client(reqwest::Error),
    /// Hashing a password failed.
    #[error("cannot hash password: {0}")]
    PasswordHash(String),
}

impl Error {
    /// The state machine's refusal, if that is what this is.
    pub fn command_error(&self) -> Option<&CommandError> {
        match self {
            Error::Api { command_error, .. } => command_error.as_ref(),
            _ => None,
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// metad addresses, `host:port`.
    pub addrs: Vec<String>,
    /// Shared secret sent as `Authorization: Bearer`.
    pub shared_secret: Option<String>,
    /// How long to keep trying other nodes before giving up.
    pub retry_for: Duration,
    /// Timeout of one request (long polls add their own wait to it).
    pub request_timeout: Duration,
}

impl Config {
    /// Defaults for `addrs`: retry for 10 s, 10 s per request.
    pub fn new(addrs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            addrs: addrs.into_iter().map(Into::into).collect(),
            shared_secret: None,
            retry_for: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Parses `host:port[,host:port...]`.
    pub fn from_list(list: &str) -> Self {
        Self::new(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }
}

/// A client of a metad cluster.
pub struct MetaClient {
    config: Config,
    http: reqwest::Client,
    preferred: AtomicUsize,
}

enum Attempt<T> {
    Done(Result<T, Error>),
    /// Try the next node.
    Next(String),
}

impl MetaClient {
    /// A client for `config`.
    pub fn new(config: Config) -> Result<Self, Error> {
        if config.addrs.is_empty() {
            return Err(Error::NoAddresses);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(Error::Client)?;
        Ok(Self {
            config,
            http,
            preferred: AtomicUsize::new(0),
        })
    }

    /// The configured addresses.
    pub fn addrs(&self) -> &[String] {
        &self.config.addrs
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        addr: &str,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Attempt<T> {
        let mut req = self
            .http
            .request(method, format!("http://{addr}{path_and_query}"))
            .timeout(timeout);
        if let Some(secret) = &self.config.shared_secret {
            req = req.bearer_auth(secret);
        }
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Attempt::Next(format!("{addr}: {e}")),
            Err(source) => {
                return Attempt::Done(Err(Error::Request {
                    addr: addr.to_owned(),
                    source,
                }))
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Done(response.json().await.map_err(|source| Error::Decode {
                addr: addr.to_owned(),
                source,
            }));
        }
        let text = response.text().await.unwrap_or_default();
        let body: Option<ErrorBody> = serde_json::from_str(&text).ok();
        let message = body.as_ref().map_or(text, |b| b.error.clone());
        // 502/503: this node has no leader or cannot reach it; another may.
        let no_leader = status == reqwest::StatusCode::SERVICE_UNAVAILABLE
            && body.as_ref().is_none_or(|b| b.command_error.is_none());
        if no_leader || status == reqwest::StatusCode::BAD_GATEWAY {
            return Attempt::Next(format!("{addr}: {message}"));
        }
        Attempt::Done(Err(Error::Api {
            status: status.as_u16(),
            message,
            command_error: body.and_then(|b| b.command_error),
        }))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<T, Error> {
        let n = self.config.addrs.len();
        let deadline = Instant::now() + self.config.retry_for;
        let mut backoff = Duration::from_millis(20);
        let mut last = String::new();
        loop {
            let start = self.preferred.load(Ordering::Relaxed);
            for i in 0..n {
                let idx = (start + i) % n;
                let addr = &self.config.addrs[idx];
                match self
                    .attempt(
                        addr,
                        method.clone(),
                        path_and_query,
                        body.as_deref(),
                        timeout,
                    )
                    .await
                {
                    Attempt::Done(result) => {
                        self.preferred.store(idx, Ordering::Relaxed);
                        return result;
                    }
                    Attempt::Next(why) => {
                        tracing::debug!(%addr, %why, "metad attempt failed, trying next");
                        last = why;
                    }
                }
            }
            if Instant::now() + backoff > deadline {
                return Err(Error::Unreachable {
                    addrs: self.config.addrs.join(","),
                    last,
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(
            reqwest::Method::GET,
            path,
            None,
            self.config.request_timeout,
        )
        .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let bytes = serde_json::to_vec(body).expect("api types serialize");
        self.call(
            reqwest::Method::POST,
            path,
            Some(bytes),
            self.config.request_timeout,
        )
        .await
    }

    /// The current meta data of whichever node answers (it may lag the
    /// leader by a heartbeat; see [`Self::snapshot_linearizable`]).
    pub async fn snapshot(&self) -> Result<MetaData, Error> {
        self.get(paths::META).await
    }

    /// The meta data including every change acknowledged before the call.
    pub async fn snapshot_linearizable(&self) -> Result<MetaData, Error> {
        self.get(&format!("{}?linearizable=true", paths::META))
            .await
    }

    /// Waits until the meta data's version passes `since` (or `wait`
    /// passes; then the answer has the same version) and returns it.
    pub async fn watch(&self, since: u64, wait: Duration) -> Result<MetaData, Error> {
        let path = format!(
            "{}?since={since}&timeout_ms={}",
            paths::META,
            wait.as_millis()
        );
        self.call(
            reqwest::Method::GET,
            &path,
            None,
            self.config.request_timeout + wait,
        )
        .await
    }

    /// Runs a command through the leader.
    pub async fn apply(&self, cmd: &MetaCommand) -> Result<CommandOutput, Error> {
        self.post(paths::COMMAND, cmd).await
    }

    /// The cluster status (the leader's view when there is a leader).
    pub async fn status(&self) -> Result<ClusterStatus, Error> {
        self.get(paths::STATUS).await
    }

    /// `CREATE DATABASE name` (with `autogen`, or the given policy).
    pub async fn create_database(
        &self,
        name: &str,
        retention_policy: Option<RetentionPolicySpec>,
    ) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::CreateDatabase {
                name: name.to_owned(),
                retention_policy,
            })
            .await?;
        Ok(out.version())
    }

    /// `DROP DATABASE name`.
    pub async fn drop_database(&self, name: &str) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::DropDatabase {
                name: name.to_owned(),
                now_ns: 0,
            })
            .await?;
        Ok(out.version())
    }

    /// `CREATE RETENTION POLICY`.
    pub async fn create_retention_policy(
        &self,
        database: &str,
        spec: RetentionPolicySpec,
        make_default: bool,
    ) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::CreateRetentionPolicy {
                database: database.to_owned(),
                spec,
                make_default,
            })
            .await?;
        Ok(out.version())
    }

    /// The shard group for points at `timestamp_ns` in `(db, rp)`, created
    /// if needed. `rp` `None`: the database's default policy.
    pub async fn create_shard_group(
        &self,
        database: &str,
        retention_policy: Option<&str>,
        timestamp_ns: i64,
    ) -> Result<ShardGroup, Error> {
        let out = self
            .apply(&MetaCommand::CreateShardGroup {
                database: database.to_owned(),
                retention_policy: retention_policy.map(str::to_owned),
                timestamp_ns,
                alive_nodes: Vec::new(),
                topic_prefix: String::new(),
            })
            .await?;
        match out {
            CommandOutput::ShardGroup { group, .. } => Ok(group),
            other => Err(Error::UnexpectedOutput(Box::new(other))),
        }
    }

    /// The shard groups for points at each of `timestamps_ns` in `(db,
    /// rp)`, created if needed, in one proposal: each group once, in the
    /// order of the timestamps.
    pub async fn create_shard_groups(
        &self,
        database: &str,
        retention_policy: Option<&str>,
        timestamps_ns: Vec<i64>,
    ) -> Result<Vec<ShardGroup>, Error> {
        let out = self
            .apply(&MetaCommand::CreateShardGroups {
                database: database.to_owned(),
                retention_policy: retention_policy.map(str::to_owned),
                timestamps_ns,
                alive_nodes: Vec::new(),
                topic_prefix: String::new(),
            })
            .await?;
        match out {
            CommandOutput::ShardGroupsFor { groups, .. } => Ok(groups),
            other => Err(Error::UnexpectedOutput(Box::new(other))),
        }
    }

    /// The type each claimed field has in its group: the claimed one, or
    /// the one another write set first (see
    /// `MetaCommand::RegisterFieldTypes`).
    pub async fn register_field_types(
        &self,
        claims: Vec<FieldTypeClaim>,
    ) -> Result<Vec<schemas::FieldType>, Error> {
        match self
            .apply(&MetaCommand::RegisterFieldTypes { claims })
            .await?
        {
            CommandOutput::FieldTypes { types, .. } => Ok(types),
            other => Err(Error::UnexpectedOutput(Box::new(other))),
        }
    }

    /// Registers a data node: as `id` at these addresses when it has one,
    /// else by its internal address (see `MetaCommand::RegisterDataNode`).
    pub async fn register_data_node(
        &self,
        http_addr: &str,
        internal_addr: &str,
        id: Option<NodeId>,
    ) -> Result<DataNode, Error> {
        let out = self
            .apply(&MetaCommand::RegisterDataNode {
                http_addr: http_addr.to_owned(),
                internal_addr: internal_addr.to_owned(),
                id,
            })
            .await?;
        match out {
            CommandOutput::DataNode { node, .. } => Ok(node),
            other => Err(Error::UnexpectedOutput(Box::new(other))),
        }
    }

    /// Removes a data node; `force` even if it owns shards.
    pub async fn remove_data_node(&self, id: NodeId, force: bool) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::RemoveDataNode { id, force })
            .await?;
        Ok(out.version())
    }

    /// Applies owner changes of shards, all or none (see
    /// [`MetaCommand::ChangeShardOwners`]).
    pub async fn change_shard_owners(
        &self,
        changes: Vec<schemas::meta_api::OwnerChange>,
        force: bool,
    ) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::ChangeShardOwners { changes, force })
            .await?;
        Ok(out.version())
    }

    /// A data node's heartbeat with its replicas' progress.
    pub async fn heartbeat(
        &self,
        node_id: NodeId,
        replicas: Vec<ReplicaStatus>,
    ) -> Result<HeartbeatResponse, Error> {
        self.post(paths::HEARTBEAT, &HeartbeatRequest { node_id, replicas })
            .await
    }

    /// `truncate-shards`: closes every group still accepting writes now.
    pub async fn truncate_shards(&self) -> Result<Vec<ShardGroupId>, Error> {
        match self
            .apply(&MetaCommand::TruncateShardGroups { now_ns: 0 })
            .await?
        {
            CommandOutput::ShardGroups { ids, .. } => Ok(ids),
            other => Err(Error::UnexpectedOutput(Box::new(other))),
        }
    }

    /// Forgets deleted shard groups whose topics are gone; answers the ids
    /// forgotten (live groups' ids are ignored).
    pub async fn purge_shard_groups(
        &self,
        ids: Vec<ShardGroupId>,
    ) -> Result<Vec<ShardGroupId>, Error> {
        match self.apply(&MetaCommand::PurgeShardGroups { ids }).await? {
            CommandOutput::ShardGroups { ids, .. } => Ok(ids),
            other => Err(Error::UnexpectedOutput(Box::new(other))),
        }
    }

    /// `CREATE USER` (the password is hashed here).
    pub async fn create_user(&self, name: &str, password: &str, admin: bool) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::CreateUser {
                name: name.to_owned(),
                password_hash: hash_password(password)?,
                admin,
            })
            .await?;
        Ok(out.version())
    }

    /// `SET PASSWORD` (the password is hashed here).
    pub async fn set_password(&self, name: &str, password: &str) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::SetPassword {
                name: name.to_owned(),
                password_hash: hash_password(password)?,
            })
            .await?;
        Ok(out.version())
    }

    /// `GRANT privilege ON database TO user`.
    pub async fn grant(
        &self,
        user: &str,
        database: &str,
        privilege: Privilege,
    ) -> Result<u64, Error> {
        let out = self
            .apply(&MetaCommand::Grant {
                user: user.to_owned(),
                database: database.to_owned(),
                privilege,
            })
            .await?;
        Ok(out.version())
    }

    /// Adds a metad node (learner, then voter).
    pub async fn add_meta(&self, node_id: u64, addr: &str) -> Result<ClusterStatus, Error> {
        let req = AddMetaRequest {
            node_id,
            addr: addr.to_owned(),
        };
        // Catching up a learner can take longer than an ordinary request.
        let bytes = serde_json::to_vec(&req).expect("api types serialize");
        self.call(
            reqwest::Method::POST,
            paths::ADD_META,
            Some(bytes),
            self.config.request_timeout * 6,
        )
        .await
    }

    /// Removes a metad node.
    pub async fn remove_meta(&self, node_id: u64) -> Result<ClusterStatus, Error> {
        self.post(paths::REMOVE_META, &RemoveMetaRequest { node_id })
            .await
    }
}

/// Hashes `password` with argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, Error> {
    use argon2::PasswordHasher;
    let hash: Result<argon2::PasswordHash, _> =
        argon2::Argon2::default().hash_password(password.as_bytes());
    hash.map(|h| h.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "s3cret"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("not a hash", "s3cret"));
        assert_ne!(h, hash_password("s3cret").unwrap(), "salted");
    }

    #[test]
    fn address_lists() {
        let c = Config::from_list("a:1, b:2,,");
        assert_eq!(c.addrs, vec!["a:1", "b:2"]);
        assert!(matches!(
            MetaClient::new(Config::from_list("")),
            Err(Error::NoAddresses)
        ));
    }

    #[tokio::test]
    async fn unreachable_names_the_addresses() {
        // Bind then drop to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = Config::new([format!("127.0.0.1:{port}")]);
        config.retry_for = Duration::from_millis(100);
        let client = MetaClient::new(config).unwrap();
        let err = client.snapshot().await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach metad at 127.0.0.1:{port}: ")),
            "{err}"
        );
    }
}

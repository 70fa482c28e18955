//! The request and response types of metad's HTTP API.
//!
//! [`MetaCommand`] is both what clients send to `POST /command` and what
//! metad's raft log stores: one enum, so a command means the same thing on
//! the wire and in the log. Everything that depends on the clock or on the
//! cluster's live state (`now_ns`, the alive data nodes, the topic prefix) is
//! *stamped by the leader* before the command is proposed, so applying the
//! log is deterministic; what a client puts in those fields is overwritten
//! and they may be left out of the JSON.
//!
//! | method + path                  | body                  | answer                |
//! |--------------------------------|-----------------------|-----------------------|
//! | `GET /meta?since=V&timeout_ms=T&linearizable=B` | —    | `MetaData`            |
//! | `POST /command`                | [`MetaCommand`]       | [`CommandOutput`]     |
//! | `POST /heartbeat`              | [`HeartbeatRequest`]  | [`HeartbeatResponse`] |
//! | `GET /status`                  | —                     | [`ClusterStatus`]     |
//! | `POST /cluster/add-meta`       | [`AddMetaRequest`]    | [`ClusterStatus`]     |
//! | `POST /cluster/remove-meta`    | [`RemoveMetaRequest`] | [`ClusterStatus`]     |
//! | `GET /ping`                    | —                     | 204                   |
//!
//! Errors are `4xx`/`5xx` with an [`ErrorBody`]. Every path, raft's
//! included, requires the cluster's shared secret (`401` without it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::meta::{DataNode, NodeId, NodeState, Privilege, ShardGroup, ShardGroupId, ShardId};

/// metad's paths, for its router and its clients alike.
pub mod paths {
    /// Liveness.
    pub const PING: &str = "/ping";
    /// Health, open without the secret (not in [`ALL`]).
    pub const HEALTH: &str = "/health";
    /// The meta data (password hashes included).
    pub const META: &str = "/meta";
    /// Proposes a [`super::MetaCommand`].
    pub const COMMAND: &str = "/command";
    /// A data node's heartbeat.
    pub const HEARTBEAT: &str = "/heartbeat";
    /// The raft cluster's status.
    pub const STATUS: &str = "/status";
    /// Adds a meta node.
    pub const ADD_META: &str = "/cluster/add-meta";
    /// Removes a meta node.
    pub const REMOVE_META: &str = "/cluster/remove-meta";
    /// Raft: append entries.
    pub const RAFT_APPEND: &str = "/raft/append";
    /// Raft: vote.
    pub const RAFT_VOTE: &str = "/raft/vote";
    /// Raft: install a snapshot.
    pub const RAFT_SNAPSHOT: &str = "/raft/snapshot";

    /// Every route metad serves, with its method.
    pub const ALL: &[(&str, &str)] = &[
        ("GET", PING),
        ("GET", META),
        ("POST", COMMAND),
        ("POST", HEARTBEAT),
        ("GET", STATUS),
        ("POST", ADD_META),
        ("POST", REMOVE_META),
        ("POST", RAFT_APPEND),
        ("POST", RAFT_VOTE),
        ("POST", RAFT_SNAPSHOT),
    ];
}

/// A meta node's (metad's) raft id.
pub type MetaNodeId = u64;

/// The settings of a retention policy being created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicySpec {
    /// Name.
    pub name: String,
    /// How long data is kept, ns; 0 is `INF`.
    #[serde(default)]
    pub duration_ns: u64,
    /// Shard-group span, ns; `None` or 0: InfluxDB's default for the duration.
    #[serde(default)]
    pub shard_group_duration_ns: Option<u64>,
    /// Owners per shard.
    pub replication_factor: u32,
    /// Shards per new group; `None`: sized from the live data nodes.
    #[serde(default)]
    pub shard_count: Option<u32>,
}

impl RetentionPolicySpec {
    /// `autogen`, as `CREATE DATABASE` without `WITH` makes it.
    pub fn autogen(replication_factor: u32) -> Self {
        Self {
            name: crate::meta::DEFAULT_RETENTION_POLICY.to_owned(),
            duration_ns: 0,
            shard_group_duration_ns: None,
            replication_factor,
            shard_count: None,
        }
    }
}

/// One change to the meta data; an entry of metad's raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetaCommand {
    /// `CREATE DATABASE`; a no-op if it exists with the same policy.
    CreateDatabase {
        /// Database name.
        name: String,
        /// The `WITH ...` policy; `None`: `autogen` with the leader's default
        /// replication factor (stamped).
        #[serde(default)]
        retention_policy: Option<RetentionPolicySpec>,
    },
    /// `DROP DATABASE`: its shard groups move to
    /// [`MetaData::dropped_shard_groups`](crate::meta::MetaData::dropped_shard_groups), marked deleted.
    DropDatabase {
        /// Database name.
        name: String,
        /// Stamped by the leader.
        #[serde(default)]
        now_ns: i64,
    },
    /// `CREATE RETENTION POLICY`.
    CreateRetentionPolicy {
        /// Database name.
        database: String,
        /// The policy.
        spec: RetentionPolicySpec,
        /// Make it the database's default.
        #[serde(default)]
        make_default: bool,
    },
    /// `ALTER RETENTION POLICY`; `None` leaves a setting unchanged.
    AlterRetentionPolicy {
        /// Database name.
        database: String,
        /// Policy name.
        name: String,
        /// New duration, ns.
        #[serde(default)]
        duration_ns: Option<u64>,
        /// New shard-group duration, ns (applies to new groups).
        #[serde(default)]
        shard_group_duration_ns: Option<u64>,
        /// New replication factor (applies to new groups).
        #[serde(default)]
        replication_factor: Option<u32>,
        /// Make it the database's default.
        #[serde(default)]
        make_default: bool,
    },
    /// `DROP RETENTION POLICY`.
    DropRetentionPolicy {
        /// Database name.
        database: String,
        /// Policy name.
        name: String,
        /// Stamped by the leader.
        #[serde(default)]
        now_ns: i64,
    },
    /// `CREATE USER`.
    CreateUser {
        /// User name.
        name: String,
        /// PHC string of an already hashed password.
        password_hash: String,
        /// Cluster admin.
        #[serde(default)]
        admin: bool,
    },
    /// `DROP USER`.
    DropUser {
        /// User name.
        name: String,
    },
    /// `SET PASSWORD`.
    SetPassword {
        /// User name.
        name: String,
        /// PHC string of an already hashed password.
        password_hash: String,
    },
    /// `GRANT ALL PRIVILEGES TO` / `REVOKE ALL PRIVILEGES FROM`.
    SetAdmin {
        /// User name.
        name: String,
        /// Admin or not.
        admin: bool,
    },
    /// `GRANT <privilege> ON <db> TO <user>`: replaces the grant on `database`.
    Grant {
        /// User name.
        user: String,
        /// Database name.
        database: String,
        /// Privilege.
        privilege: Privilege,
    },
    /// `REVOKE <privilege> ON <db> FROM <user>`: clears those bits, as InfluxDB.
    Revoke {
        /// User name.
        user: String,
        /// Database name.
        database: String,
        /// Privilege.
        privilege: Privilege,
    },
    /// `CREATE CONTINUOUS QUERY`; a no-op if it exists with the same text.
    CreateContinuousQuery {
        /// Database name.
        database: String,
        /// Query name.
        name: String,
        /// The full statement.
        query: String,
        /// The user creating it, whose rights its runs have.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        created_by: Option<String>,
    },
    /// `DROP CONTINUOUS QUERY`.
    DropContinuousQuery {
        /// Database name.
        database: String,
        /// Query name.
        name: String,
    },
    /// The shard group new points at `timestamp_ns` go to, created if none
    /// accepts it. Idempotent: answers the existing group when there is one.
    CreateShardGroup {
        /// Database name.
        database: String,
        /// Policy name; `None` or empty: the database's default.
        #[serde(default)]
        retention_policy: Option<String>,
        /// A timestamp of the points, ns.
        timestamp_ns: i64,
        /// Stamped by the leader: the data nodes alive now.
        #[serde(default)]
        alive_nodes: Vec<NodeId>,
        /// Stamped by the leader: the cluster's topic prefix.
        #[serde(default)]
        topic_prefix: String,
    },
    /// The shard groups new points at each of `timestamps_ns` go to, all
    /// created in one proposal (a write spanning many windows costs one
    /// raft round trip, not one per group). Idempotent like
    /// [`Self::CreateShardGroup`]; answers [`CommandOutput::ShardGroupsFor`]
    /// with each group once, in the order of the timestamps.
    CreateShardGroups {
        /// Database name.
        database: String,
        /// Policy name; `None` or empty: the database's default.
        #[serde(default)]
        retention_policy: Option<String>,
        /// A timestamp of the points of each window, ns.
        timestamps_ns: Vec<i64>,
        /// Stamped by the leader: the data nodes alive now.
        #[serde(default)]
        alive_nodes: Vec<NodeId>,
        /// Stamped by the leader: the cluster's topic prefix.
        #[serde(default)]
        topic_prefix: String,
    },
    /// A data node announcing itself at its current addresses: with the id
    /// kept in its data directory once it has one (its addresses are
    /// updated, whatever they were), without on its first start (a node
    /// already registered at that internal address is taken over: one from
    /// before ids were kept, or one whose disk was replaced; otherwise a
    /// new id). Refused when another alive node has either address, or
    /// the id is alive at another internal address.
    RegisterDataNode {
        /// Public HTTP address.
        http_addr: String,
        /// Internal address.
        internal_addr: String,
        /// The node's id, when its data directory has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<NodeId>,
    },
    /// The leader's liveness decision about a data node.
    SetDataNodeState {
        /// Node id.
        id: NodeId,
        /// New state.
        state: NodeState,
    },
    /// Removes a data node. Refused while it owns live shards unless
    /// `force`, which drops it from their owner lists.
    RemoveDataNode {
        /// Node id.
        id: NodeId,
        /// Remove even if it owns shards.
        #[serde(default)]
        force: bool,
    },
    /// `truncate-shards`: end every group still accepting writes at `now_ns`.
    TruncateShardGroups {
        /// Stamped by the leader.
        #[serde(default)]
        now_ns: i64,
    },
    /// Retention: mark groups expired at `now_ns` deleted.
    DeleteExpiredShardGroups {
        /// Stamped by the leader.
        #[serde(default)]
        now_ns: i64,
    },
    /// Forget deleted groups whose replicas and topics are gone, so the
    /// meta data of a cluster that has run for years stays as small as
    /// its live groups. Ids of live groups are ignored. Answers
    /// [`CommandOutput::ShardGroups`] with the ids forgotten.
    PurgeShardGroups {
        /// The deleted groups to forget.
        ids: Vec<ShardGroupId>,
    },
    /// `sluice-ctl set-log-retention`: how long a policy's groups keep
    /// their records in Kafka once every owner has them durably.
    SetLogRetention {
        /// Database name.
        database: String,
        /// Policy name.
        retention_policy: String,
        /// ns; `None`: keep everything (the default).
        #[serde(default)]
        log_retention_ns: Option<u64>,
    },
    /// `sluice-ctl restore`: a shard group of a backup, made again in its
    /// policy with new ids and owners among the alive data nodes, and the
    /// field types it had. Refused when a live group of the policy
    /// overlaps its time range. Answers [`CommandOutput::ShardGroup`].
    RestoreShardGroup {
        /// Database name.
        database: String,
        /// Policy name.
        retention_policy: String,
        /// Inclusive start, ns.
        start_ns: i64,
        /// Exclusive end, ns.
        end_ns: i64,
        /// As the group had it.
        #[serde(default)]
        truncated_at_ns: Option<i64>,
        /// Shards (partitions) of the group, as in the backup.
        shard_count: u32,
        /// The topic to go on with (the backed-up group's, when the log
        /// still holds it); `None`: a new one named by the new id.
        #[serde(default)]
        topic: Option<String>,
        /// The group's field types.
        #[serde(default)]
        field_types: crate::meta::GroupFieldTypes,
        /// Stamped by the leader: the data nodes alive now.
        #[serde(default)]
        alive_nodes: Vec<NodeId>,
        /// Stamped by the leader: the cluster's topic prefix.
        #[serde(default)]
        topic_prefix: String,
    },
    /// The types a write's new fields take in their groups, unless a type
    /// is already set there (first writer wins). Answers
    /// [`CommandOutput::FieldTypes`].
    RegisterFieldTypes {
        /// The fields, each with the type its points carry.
        claims: Vec<FieldTypeClaim>,
    },
    /// Owner changes of live shards, applied together or not at all
    /// (`copy-shard`, `remove-shard`, and the steps of `move-shard`,
    /// `replace-node` and `remove-data`). A new owner starts its replica by
    /// replaying the partition; a removed one deletes its replica. Adding
    /// an owner a shard has is a no-op. Refused when a shard would be left
    /// without owners, or, unless `force`, with fewer than its replication
    /// factor because of the change.
    ChangeShardOwners {
        /// The changes.
        changes: Vec<OwnerChange>,
        /// Allow leaving shards under-replicated.
        #[serde(default)]
        force: bool,
    },
}

/// One shard's owner change: `add` and `remove` together replace one
/// owner by another in its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerChange {
    /// The shard.
    pub shard_id: ShardId,
    /// A data node to make an owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<NodeId>,
    /// An owner to drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<NodeId>,
}

/// A field's type as one write carries it into one shard group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldTypeClaim {
    /// The shard group.
    pub group_id: ShardGroupId,
    /// Measurement.
    pub measurement: String,
    /// Field key.
    pub field: String,
    /// The type of the write's values.
    pub field_type: crate::FieldType,
}

impl MetaCommand {
    /// A short name for logs and spans.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateDatabase { .. } => "create_database",
            Self::DropDatabase { .. } => "drop_database",
            Self::CreateRetentionPolicy { .. } => "create_retention_policy",
            Self::AlterRetentionPolicy { .. } => "alter_retention_policy",
            Self::DropRetentionPolicy { .. } => "drop_retention_policy",
            Self::CreateUser { .. } => "create_user",
            Self::DropUser { .. } => "drop_user",
            Self::SetPassword { .. } => "set_password",
            Self::SetAdmin { .. } => "set_admin",
            Self::Grant { .. } => "grant",
            Self::Revoke { .. } => "revoke",
            Self::CreateContinuousQuery { .. } => "create_continuous_query",
            Self::DropContinuousQuery { .. } => "drop_continuous_query",
            Self::CreateShardGroup { .. } => "create_shard_group",
            Self::CreateShardGroups { .. } => "create_shard_groups",
            Self::RegisterDataNode { .. } => "register_data_node",
            Self::SetDataNodeState { .. } => "set_data_node_state",
            Self::RemoveDataNode { .. } => "remove_data_node",
            Self::TruncateShardGroups { .. } => "truncate_shard_groups",
            Self::DeleteExpiredShardGroups { .. } => "delete_expired_shard_groups",
            Self::PurgeShardGroups { .. } => "purge_shard_groups",
            Self::RestoreShardGroup { .. } => "restore_shard_group",
            Self::SetLogRetention { .. } => "set_log_retention",
            Self::RegisterFieldTypes { .. } => "register_field_types",
            Self::ChangeShardOwners { .. } => "change_shard_owners",
        }
    }
}

/// What a successful command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommandOutput {
    /// Done; `version` is the meta version that includes the change (or the
    /// current one when the command changed nothing).
    Done {
        /// Meta version.
        version: u64,
    },
    /// A data node (register).
    DataNode {
        /// Meta version.
        version: u64,
        /// The node.
        node: DataNode,
    },
    /// A shard group (create).
    ShardGroup {
        /// Meta version.
        version: u64,
        /// The group.
        group: ShardGroup,
    },
    /// The shard groups of a [`MetaCommand::CreateShardGroups`].
    ShardGroupsFor {
        /// Meta version.
        version: u64,
        /// The groups, each once, in the order of the timestamps.
        groups: Vec<ShardGroup>,
    },
    /// The groups a lifecycle command touched.
    ShardGroups {
        /// Meta version.
        version: u64,
        /// Their ids.
        ids: Vec<ShardGroupId>,
    },
    /// The type each claim of a [`MetaCommand::RegisterFieldTypes`] has in
    /// its group, in the claims' order: the claimed one unless another was
    /// there first.
    FieldTypes {
        /// Meta version.
        version: u64,
        /// One per claim.
        types: Vec<crate::FieldType>,
    },
}

impl CommandOutput {
    /// The meta version after the command.
    pub fn version(&self) -> u64 {
        match self {
            Self::Done { version }
            | Self::DataNode { version, .. }
            | Self::ShardGroup { version, .. }
            | Self::ShardGroupsFor { version, .. }
            | Self::ShardGroups { version, .. }
            | Self::FieldTypes { version, .. } => *version,
        }
    }
}

/// Why the state machine refused a command. Messages follow InfluxDB 1.6's
/// wording where it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum CommandError {
    /// Empty database name.
    #[error("database name required")]
    DatabaseNameRequired,
    /// Empty retention policy name.
    #[error("retention policy name required")]
    RetentionPolicyNameRequired,
    /// Empty user name.
    #[error("username required")]
    UsernameRequired,
    /// Empty continuous query name.
    #[error("continuous query name required")]
    ContinuousQueryNameRequired,
    /// Unknown database.
    #[error("database not found: {0}")]
    DatabaseNotFound(String),
    /// Unknown retention policy (or the database has no default).
    #[error("retention policy not found: {0}")]
    RetentionPolicyNotFound(String),
    /// A policy of that name exists with other settings.
    #[error("retention policy already exists")]
    RetentionPolicyExists,
    /// `CREATE DATABASE ... WITH` naming an existing policy with other settings.
    #[error("retention policy conflicts with an existing policy")]
    RetentionPolicyConflict,
    /// Duration neither 0 nor at least an hour.
    #[error("retention policy duration must be at least 1h0m0s")]
    DurationTooLow,
    /// Shard-group duration longer than the retention duration.
    #[error("retention policy duration must be greater than the shard duration")]
    IncompatibleDurations,
    /// Replication factor 0.
    #[error("replication factor must be greater than 0")]
    ReplicationFactorTooLow,
    /// Shard count 0.
    #[error("shard count must be greater than 0")]
    ShardCountTooLow,
    /// Unknown user.
    #[error("user not found")]
    UserNotFound,
    /// The user exists.
    #[error("user already exists")]
    UserExists,
    /// Not a PHC string.
    #[error("password hash is not a PHC string")]
    InvalidPasswordHash,
    /// A continuous query of that name exists with another text.
    #[error("continuous query already exists")]
    ContinuousQueryExists,
    /// Unknown continuous query.
    #[error("continuous query not found")]
    ContinuousQueryNotFound,
    /// Unknown data node.
    #[error("data node not found: {0}")]
    DataNodeNotFound(NodeId),
    /// Refused to remove a data node that still owns shards.
    #[error("data node {node} still owns {shards} shard(s); move them first or force the removal")]
    DataNodeOwnsShards {
        /// Node id.
        node: NodeId,
        /// How many live shards it owns.
        shards: usize,
    },
    /// Another alive data node is registered at this address.
    #[error("address {addr} is already used by alive data node {node}")]
    AddressInUse {
        /// The address.
        addr: String,
        /// The node using it.
        node: NodeId,
    },
    /// The id is alive at another address: the data directory was copied,
    /// or the node restarted before metad noticed it stopped.
    #[error("data node {node} is alive at {addr}; one id cannot run in two places")]
    NodeIdInUse {
        /// The id.
        node: NodeId,
        /// Where it is alive.
        addr: String,
    },
    /// No live shard has this id (never created, or its group is deleted).
    #[error("shard {0} not found (or its group is deleted)")]
    ShardNotFound(ShardId),
    /// The node to drop is not an owner of the shard.
    #[error("data node {node} does not own shard {shard}")]
    NotShardOwner {
        /// The shard.
        shard: ShardId,
        /// The node.
        node: NodeId,
    },
    /// The change would leave a shard with no owner at all.
    #[error("shard {0} would be left without an owner")]
    LastShardOwner(ShardId),
    /// The change would leave a shard with fewer owners than its
    /// replication factor.
    #[error(
        "shard {shard} would have {owners} owner(s), fewer than its replication factor {replication_factor}; \
         copy it to another node first, or force"
    )]
    ShardUnderReplicated {
        /// The shard.
        shard: ShardId,
        /// Owners after the change.
        owners: usize,
        /// Its policy's replication factor.
        replication_factor: u32,
    },
    /// No alive data node can own a new shard group.
    #[error("no alive data nodes to own a new shard group")]
    NoAliveDataNodes,
    /// The topic prefix is not usable in a Kafka topic name.
    #[error("invalid topic prefix {0:?}")]
    InvalidTopicPrefix(String),
    /// A restored group's time range overlaps a live group of its policy.
    #[error("shard group {0} already covers part of that time range")]
    ShardGroupOverlaps(ShardGroupId),
    /// A restored group's topic is another group's (a live one, or a
    /// deleted one whose topic is not purged yet).
    #[error("topic {0:?} belongs to another shard group")]
    TopicInUse(String),
    /// A restored group with no shards or an empty time range.
    #[error("invalid shard group to restore: {0}")]
    InvalidShardGroup(String),
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable message.
    pub error: String,
    /// The state machine's reason, when it refused a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_error: Option<CommandError>,
}

/// What a data node reports about one of its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    /// Shard id.
    pub shard_id: ShardId,
    /// The next offset the replica will apply (Kafka's committed-offset sense).
    pub applied_offset: i64,
    /// The partition's high watermark when last seen.
    pub high_watermark: i64,
    /// Replica state as the data node names it (`healthy`, `rebuilding`, `unhealthy: ...`).
    pub state: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// Points dropped at apply (field type conflicts) since the node started.
    #[serde(default)]
    pub points_dropped: u64,
}

/// `POST /heartbeat`: a data node is alive and these are its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// The node's id from registration.
    pub node_id: NodeId,
    /// Its replicas.
    #[serde(default)]
    pub replicas: Vec<ReplicaStatus>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// The current meta version; a data node whose copy is older should watch.
    pub version: u64,
}

/// `POST /cluster/add-meta`: add a metad node as a voter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddMetaRequest {
    /// Its raft id.
    pub node_id: MetaNodeId,
    /// Its HTTP address (`host:port`).
    pub addr: String,
}

/// `POST /cluster/remove-meta`: remove a metad node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveMetaRequest {
    /// Its raft id.
    pub node_id: MetaNodeId,
}

/// A metad node as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaMember {
    /// Raft id.
    pub id: MetaNodeId,
    /// HTTP address.
    pub addr: String,
    /// Voter (else learner).
    pub voter: bool,
    /// The last log index the leader knows it has (leader's view only).
    #[serde(default)]
    pub matched_index: Option<u64>,
}

/// A data node with what the leader knows of it from heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataNodeStatus {
    /// The node as the meta data holds it.
    pub node: DataNode,
    /// Milliseconds since its last heartbeat reached this leader.
    #[serde(default)]
    pub last_heartbeat_ms_ago: Option<u64>,
    /// Its replicas as last reported.
    #[serde(default)]
    pub replicas: Vec<ReplicaStatus>,
}

/// `GET /status`: the cluster as the answering node (normally the leader) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The answering node's raft id.
    pub node_id: MetaNodeId,
    /// Its raft role (`Leader`, `Follower`, `Candidate`, `Learner`).
    pub raft_state: String,
    /// The leader, if known.
    pub leader: Option<MetaNodeId>,
    /// Current raft term.
    pub term: u64,
    /// Last log index.
    pub last_log_index: Option<u64>,
    /// Last applied log index.
    pub last_applied_index: Option<u64>,
    /// The meta data version.
    pub meta_version: u64,
    /// The metad nodes.
    pub members: Vec<MetaMember>,
    /// The data nodes.
    pub data_nodes: BTreeMap<NodeId, DataNodeStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_stamped_fields_are_optional() {
        let cmd: MetaCommand = serde_json::from_str(
            r#"{"type":"create_shard_group","database":"db","timestamp_ns":5}"#,
        )
        .unwrap();
        assert_eq!(
            cmd,
            MetaCommand::CreateShardGroup {
                database: "db".into(),
                retention_policy: None,
                timestamp_ns: 5,
                alive_nodes: vec![],
                topic_prefix: String::new(),
            }
        );
        let json = serde_json::to_string(&cmd).unwrap();
        assert_eq!(serde_json::from_str::<MetaCommand>(&json).unwrap(), cmd);
    }

    #[test]
    fn errors_round_trip() {
        let e = CommandError::DataNodeOwnsShards { node: 3, shards: 2 };
        let body = ErrorBody {
            error: e.to_string(),
            command_error: Some(e.clone()),
        };
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(serde_json::from_str::<ErrorBody>(&json).unwrap(), body);
        assert_eq!(
            CommandError::DurationTooLow.to_string(),
            "retention policy duration must be at least 1h0m0s"
        );
    }
}

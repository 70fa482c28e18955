//! The meta state machine's rules: how one [`MetaCommand`] changes a
//! [`MetaData`]. Pure and deterministic: no clock, no randomness, no I/O;
//! whatever depends on them arrives in the command (stamped by the leader).
//!
//! Each handler validates everything before it mutates anything, so a
//! refused command leaves the meta data exactly as it was. `version` moves to
//! the log index of the command only when something changed; idempotent
//! repeats (an existing database, an existing shard group) leave it alone.

use std::collections::BTreeMap;

use schemas::meta::{
    default_shard_group_duration, shard_group_bounds, ContinuousQuery, DataNode, Database,
    MetaData, NodeId, NodeState, Privilege, RetentionPolicy, Shard, ShardGroup, ShardGroupId,
    ShardId, User, HOUR_NS, MIN_RETENTION_NS,
};
use schemas::meta_api::{
    CommandError, CommandOutput, FieldTypeClaim, MetaCommand, OwnerChange, RetentionPolicySpec,
};

type Outcome = Result<CommandOutput, CommandError>;

/// Applies `cmd`, the log entry at `index`, to `meta`.
pub fn apply(meta: &mut MetaData, index: u64, cmd: &MetaCommand) -> Outcome {
    let out = match cmd {
        MetaCommand::CreateDatabase {
            name,
            retention_policy,
        } => create_database(meta, index, name, retention_policy.as_ref()),
        MetaCommand::DropDatabase { name, now_ns } => drop_database(meta, index, name, *now_ns),
        MetaCommand::CreateRetentionPolicy {
            database,
            spec,
            make_default,
        } => create_retention_policy(meta, index, database, spec, *make_default),
        MetaCommand::AlterRetentionPolicy {
            database,
            name,
            duration_ns,
            shard_group_duration_ns,
            replication_factor,
            make_default,
        } => alter_retention_policy(
            meta,
            index,
            database,
            name,
            *duration_ns,
            *shard_group_duration_ns,
            *replication_factor,
            *make_default,
        ),
        MetaCommand::DropRetentionPolicy {
            database,
            name,
            now_ns,
        } => drop_retention_policy(meta, index, database, name, *now_ns),
        MetaCommand::CreateUser {
            name,
            password_hash,
            admin,
        } => create_user(meta, index, name, password_hash, *admin),
        MetaCommand::DropUser { name } => {
            meta.users.remove(name).ok_or(CommandError::UserNotFound)?;
            Ok(changed(meta, index))
        }
        MetaCommand::SetPassword {
            name,
            password_hash,
        } => {
            check_phc(password_hash)?;
            let user = meta.users.get_mut(name).ok_or(CommandError::UserNotFound)?;
            user.password_hash.clone_from(password_hash);
            Ok(changed(meta, index))
        }
        MetaCommand::SetAdmin { name, admin } => {
            let user = meta.users.get_mut(name).ok_or(CommandError::UserNotFound)?;
            if user.admin == *admin {
                return Ok(unchanged(meta));
            }
            user.admin = *admin;
            Ok(changed(meta, index))
        }
        MetaCommand::Grant {
            user,
            database,
            privilege,
        } => set_privilege(meta, index, user, database, *privilege),
        MetaCommand::Revoke {
            user,
            database,
            privilege,
        } => {
            let current = meta
                .users
                .get(user)
                .ok_or(CommandError::UserNotFound)?
                .privileges
                .get(database)
                .map_or(0, |p| p.bits());
            // InfluxDB clears the revoked bits: REVOKE READ from ALL leaves
            // WRITE, and the entry stays even when nothing is left.
            let left = Privilege::from_bits(current & !privilege.bits());
            set_privilege(meta, index, user, database, left)
        }
        MetaCommand::CreateContinuousQuery {
            database,
            name,
            query,
            created_by,
        } => create_continuous_query(meta, index, database, name, query, created_by),
        MetaCommand::DropContinuousQuery { database, name } => {
            let db = database_mut(meta, database)?;
            db.continuous_queries
                .remove(name)
                .ok_or(CommandError::ContinuousQueryNotFound)?;
            Ok(changed(meta, index))
        }
        MetaCommand::CreateShardGroup {
            database,
            retention_policy,
            timestamp_ns,
            alive_nodes,
            topic_prefix,
        } => create_shard_group(
            meta,
            index,
            database,
            retention_policy.as_deref(),
            *timestamp_ns,
            alive_nodes,
            topic_prefix,
        ),
        MetaCommand::CreateShardGroups {
            database,
            retention_policy,
            timestamps_ns,
            alive_nodes,
            topic_prefix,
        } => {
            let mut groups: Vec<ShardGroup> = Vec::new();
            // Every refusal (no database, policy or alive node, a bad
            // prefix) comes before the first change, so a refused command
            // changes nothing.
            for &ts in timestamps_ns {
                let out = create_shard_group(
                    meta,
                    index,
                    database,
                    retention_policy.as_deref(),
                    ts,
                    alive_nodes,
                    topic_prefix,
                )?;
                if let CommandOutput::ShardGroup { group, .. } = out {
                    if !groups.iter().any(|g| g.id == group.id) {
                        groups.push(group);
                    }
                }
            }
            Ok(CommandOutput::ShardGroupsFor {
                version: meta.version,
                groups,
            })
        }
        MetaCommand::RegisterDataNode {
            http_addr,
            internal_addr,
            id,
        } => register_data_node(meta, index, http_addr, internal_addr, *id),
        MetaCommand::SetDataNodeState { id, state } => {
            let node = meta
                .data_nodes
                .get_mut(id)
                .ok_or(CommandError::DataNodeNotFound(*id))?;
            if node.state == *state {
                return Ok(unchanged(meta));
            }
            node.state = *state;
            Ok(changed(meta, index))
        }
        MetaCommand::RemoveDataNode { id, force } => remove_data_node(meta, index, *id, *force),
        MetaCommand::TruncateShardGroups { now_ns } => truncate_shard_groups(meta, index, *now_ns),
        MetaCommand::DeleteExpiredShardGroups { now_ns } => {
            delete_expired_shard_groups(meta, index, *now_ns)
        }
        MetaCommand::PurgeShardGroups { ids } => purge_shard_groups(meta, index, ids),
        MetaCommand::SetLogRetention {
            database,
            retention_policy,
            log_retention_ns,
        } => {
            let rp = database_mut(meta, database)?
                .retention_policies
                .get_mut(retention_policy)
                .ok_or_else(|| CommandError::RetentionPolicyNotFound(retention_policy.clone()))?;
            let wanted = log_retention_ns.filter(|ns| *ns > 0);
            if rp.log_retention_ns == wanted {
                return Ok(unchanged(meta));
            }
            rp.log_retention_ns = wanted;
            Ok(changed(meta, index))
        }
        MetaCommand::RestoreShardGroup {
            database,
            retention_policy,
            start_ns,
            end_ns,
            truncated_at_ns,
            shard_count,
            topic,
            field_types,
            alive_nodes,
            topic_prefix,
        } => {
            let (start_ns, end_ns) = (*start_ns, *end_ns);
            if *shard_count == 0 || start_ns >= end_ns {
                return Err(CommandError::InvalidShardGroup(format!(
                    "{shard_count} shards over [{start_ns}, {end_ns})"
                )));
            }
            let rp = meta
                .databases
                .get(database)
                .ok_or_else(|| CommandError::DatabaseNotFound(database.clone()))?
                .retention_policies
                .get(retention_policy)
                .ok_or_else(|| CommandError::RetentionPolicyNotFound(retention_policy.clone()))?;
            if let Some(g) = rp
                .shard_groups
                .values()
                .find(|g| g.deleted_at_ns.is_none() && g.start_ns < end_ns && start_ns < g.end_ns)
            {
                return Err(CommandError::ShardGroupOverlaps(g.id));
            }
            let rf = rp.replication_factor;
            let nodes = alive_owners(meta, alive_nodes)?;
            let rf = rf.min(nodes.len() as u32).max(1);
            let group_id = next_group_id(meta, topic_prefix);
            let topic = match topic {
                Some(t) if topic_in_use(meta, t) => {
                    return Err(CommandError::TopicInUse(t.clone()))
                }
                Some(t) => t.clone(),
                None => {
                    schemas::topics::validate_prefix(topic_prefix)
                        .map_err(|_| CommandError::InvalidTopicPrefix(topic_prefix.clone()))?;
                    schemas::topics::shard_group_topic(topic_prefix, group_id)
                }
            };
            let group = new_group(
                meta,
                group_id,
                (database, retention_policy),
                (start_ns, end_ns),
                topic,
                assign_owners(&nodes, *shard_count, rf, group_id),
            );
            let group = ShardGroup {
                truncated_at_ns: *truncated_at_ns,
                ..group
            };
            if !field_types.is_empty() {
                meta.field_types.insert(group_id, field_types.clone());
            }
            insert_group(meta, index, group)
        }
        MetaCommand::RegisterFieldTypes { claims } => register_field_types(meta, index, claims),
        MetaCommand::ChangeShardOwners { changes, force } => {
            change_shard_owners(meta, index, changes, *force)
        }
    };
    if out.is_ok()
        && matches!(
            cmd,
            MetaCommand::DropDatabase { .. }
                | MetaCommand::DropRetentionPolicy { .. }
                | MetaCommand::DeleteExpiredShardGroups { .. }
        )
    {
        forget_field_types_of_deleted_groups(meta);
    }
    out
}

fn changed(meta: &mut MetaData, index: u64) -> CommandOutput {
    meta.version = index;
    CommandOutput::Done { version: index }
}

fn unchanged(meta: &MetaData) -> CommandOutput {
    CommandOutput::Done {
        version: meta.version,
    }
}

fn database_mut<'a>(meta: &'a mut MetaData, name: &str) -> Result<&'a mut Database, CommandError> {
    meta.databases
        .get_mut(name)
        .ok_or_else(|| CommandError::DatabaseNotFound(name.to_owned()))
}

/// A validated spec turned into a policy without groups.
fn policy_from_spec(spec: &RetentionPolicySpec) -> Result<RetentionPolicy, CommandError> {
    if spec.name.is_empty() {
        return Err(CommandError::RetentionPolicyNameRequired);
    }
    if spec.replication_factor == 0 {
        return Err(CommandError::ReplicationFactorTooLow);
    }
    if spec.shard_count == Some(0) {
        return Err(CommandError::ShardCountTooLow);
    }
    check_duration(spec.duration_ns)?;
    let shard_group_duration_ns = match spec.shard_group_duration_ns {
        None | Some(0) => default_shard_group_duration(spec.duration_ns),
        // InfluxDB raises shorter shard-group durations to one hour.
        Some(d) => d.max(HOUR_NS),
    };
    check_durations(spec.duration_ns, shard_group_duration_ns)?;
    Ok(RetentionPolicy {
        name: spec.name.clone(),
        duration_ns: spec.duration_ns,
        shard_group_duration_ns,
        replication_factor: spec.replication_factor,
        shard_count: spec.shard_count,
        log_retention_ns: None,
        shard_groups: BTreeMap::new(),
    })
}

fn check_duration(duration_ns: u64) -> Result<(), CommandError> {
    if duration_ns != 0 && duration_ns < MIN_RETENTION_NS {
        return Err(CommandError::DurationTooLow);
    }
    Ok(())
}

fn check_durations(duration_ns: u64, shard_group_duration_ns: u64) -> Result<(), CommandError> {
    if duration_ns != 0 && duration_ns < shard_group_duration_ns {
        return Err(CommandError::IncompatibleDurations);
    }
    Ok(())
}

/// Whether an existing policy has the settings `spec` asks for.
fn same_settings(rp: &RetentionPolicy, wanted: &RetentionPolicy) -> bool {
    rp.duration_ns == wanted.duration_ns
        && rp.shard_group_duration_ns == wanted.shard_group_duration_ns
        && rp.replication_factor == wanted.replication_factor
        && rp.shard_count == wanted.shard_count
}

fn create_database(
    meta: &mut MetaData,
    index: u64,
    name: &str,
    spec: Option<&RetentionPolicySpec>,
) -> Outcome {
    if name.is_empty() {
        return Err(CommandError::DatabaseNameRequired);
    }
    let spec = spec
        .cloned()
        .unwrap_or_else(|| RetentionPolicySpec::autogen(1));
    let rp = policy_from_spec(&spec)?;
    if let Some(db) = meta.databases.get(name) {
        // InfluxDB: an existing database is a success as long as the policy
        // it was asked to have does not contradict what is there.
        return match db.retention_policies.get(&rp.name) {
            Some(existing) if !same_settings(existing, &rp) => {
                Err(CommandError::RetentionPolicyConflict)
            }
            _ => Ok(unchanged(meta)),
        };
    }
    meta.databases.insert(
        name.to_owned(),
        Database {
            name: name.to_owned(),
            default_retention_policy: Some(rp.name.clone()),
            retention_policies: [(rp.name.clone(), rp)].into(),
            continuous_queries: BTreeMap::new(),
        },
    );
    Ok(changed(meta, index))
}

/// Marks `groups` deleted at `now_ns` and files them under
/// `dropped_shard_groups`, where data nodes still see them.
fn retire_groups(meta: &mut MetaData, groups: impl IntoIterator<Item = ShardGroup>, now_ns: i64) {
    for mut g in groups {
        g.deleted_at_ns.get_or_insert(now_ns);
        meta.dropped_shard_groups.insert(g.id, g);
    }
}

fn drop_database(meta: &mut MetaData, index: u64, name: &str, now_ns: i64) -> Outcome {
    // InfluxDB: dropping a missing database succeeds.
    let Some(db) = meta.databases.remove(name) else {
        return Ok(unchanged(meta));
    };
    let groups = db
        .retention_policies
        .into_values()
        .flat_map(|rp| rp.shard_groups.into_values());
    retire_groups(meta, groups.collect::<Vec<_>>(), now_ns);
    for user in meta.users.values_mut() {
        user.privileges.remove(name);
    }
    Ok(changed(meta, index))
}

fn create_retention_policy(
    meta: &mut MetaData,
    index: u64,
    database: &str,
    spec: &RetentionPolicySpec,
    make_default: bool,
) -> Outcome {
    let rp = policy_from_spec(spec)?;
    let db = database_mut(meta, database)?;
    if let Some(existing) = db.retention_policies.get(&rp.name) {
        let default_ok = !make_default || db.default_retention_policy.as_deref() == Some(&rp.name);
        return if same_settings(existing, &rp) && default_ok {
            Ok(unchanged(meta))
        } else {
            Err(CommandError::RetentionPolicyExists)
        };
    }
    if make_default || db.default_retention_policy.is_none() {
        db.default_retention_policy = Some(rp.name.clone());
    }
    db.retention_policies.insert(rp.name.clone(), rp);
    Ok(changed(meta, index))
}

#[allow(clippy::too_many_arguments)]
fn alter_retention_policy(
    meta: &mut MetaData,
    index: u64,
    database: &str,
    name: &str,
    duration_ns: Option<u64>,
    shard_group_duration_ns: Option<u64>,
    replication_factor: Option<u32>,
    make_default: bool,
) -> Outcome {
    let db = database_mut(meta, database)?;
    let rp = db
        .retention_policies
        .get(name)
        .ok_or_else(|| CommandError::RetentionPolicyNotFound(name.to_owned()))?;
    let duration = duration_ns.unwrap_or(rp.duration_ns);
    check_duration(duration)?;
    let group_duration = match shard_group_duration_ns {
        Some(0) => default_shard_group_duration(duration),
        Some(d) => d.max(HOUR_NS),
        None => rp.shard_group_duration_ns,
    };
    check_durations(duration, group_duration)?;
    let replication = replication_factor.unwrap_or(rp.replication_factor);
    if replication == 0 {
        return Err(CommandError::ReplicationFactorTooLow);
    }
    let rp = db
        .retention_policies
        .get_mut(name)
        .expect("looked up above");
    rp.duration_ns = duration;
    rp.shard_group_duration_ns = group_duration;
    rp.replication_factor = replication;
    if make_default {
        db.default_retention_policy = Some(name.to_owned());
    }
    Ok(changed(meta, index))
}

fn drop_retention_policy(
    meta: &mut MetaData,
    index: u64,
    database: &str,
    name: &str,
    now_ns: i64,
) -> Outcome {
    let db = database_mut(meta, database)?;
    // InfluxDB: dropping a missing policy succeeds.
    let Some(rp) = db.retention_policies.remove(name) else {
        return Ok(unchanged(meta));
    };
    if db.default_retention_policy.as_deref() == Some(name) {
        db.default_retention_policy = None;
    }
    retire_groups(
        meta,
        rp.shard_groups.into_values().collect::<Vec<_>>(),
        now_ns,
    );
    Ok(changed(meta, index))
}

fn check_phc(hash: &str) -> Result<(), CommandError> {
    argon2::PasswordHash::new(hash)
        .map(|_| ())
        .map_err(|_| CommandError::InvalidPasswordHash)
}

fn create_user(
    meta: &mut MetaData,
    index: u64,
    name: &str,
    password_hash: &str,
    admin: bool,
) -> Outcome {
    if name.is_empty() {
        return Err(CommandError::UsernameRequired);
    }
    check_phc(password_hash)?;
    if meta.users.contains_key(name) {
        return Err(CommandError::UserExists);
    }
    meta.users.insert(
        name.to_owned(),
        User {
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            admin,
            privileges: BTreeMap::new(),
        },
    );
    Ok(changed(meta, index))
}

fn set_privilege(
    meta: &mut MetaData,
    index: u64,
    user: &str,
    database: &str,
    privilege: Privilege,
) -> Outcome {
    if !meta.databases.contains_key(database) {
        return Err(CommandError::DatabaseNotFound(database.to_owned()));
    }
    let user = meta.users.get_mut(user).ok_or(CommandError::UserNotFound)?;
    if user.privileges.get(database) == Some(&privilege) {
        return Ok(unchanged(meta));
    }
    user.privileges.insert(database.to_owned(), privilege);
    Ok(changed(meta, index))
}

fn create_continuous_query(
    meta: &mut MetaData,
    index: u64,
    database: &str,
    name: &str,
    query: &str,
    created_by: &Option<String>,
) -> Outcome {
    if name.is_empty() {
        return Err(CommandError::ContinuousQueryNameRequired);
    }
    let db = database_mut(meta, database)?;
    if let Some(existing) = db.continuous_queries.get(name) {
        return if existing.query == query {
            Ok(unchanged(meta))
        } else {
            Err(CommandError::ContinuousQueryExists)
        };
    }
    db.continuous_queries.insert(
        name.to_owned(),
        ContinuousQuery {
            name: name.to_owned(),
            query: query.to_owned(),
            created_by: created_by.clone(),
        },
    );
    Ok(changed(meta, index))
}

/// Owners of each shard of a new group: `shards × rf` seats filled
/// round-robin over `nodes`, so the `rf` owners of a shard are consecutive
/// (hence distinct while `rf ≤ nodes`). The walk starts at `group_id` so the
/// first shards of successive groups land on different nodes and load stays
/// even across groups.
pub fn assign_owners(
    nodes: &[NodeId],
    shard_count: u32,
    replication_factor: u32,
    group_id: u64,
) -> Vec<Vec<NodeId>> {
    let n = nodes.len();
    let start = (group_id % n as u64) as usize;
    (0..shard_count as usize)
        .map(|shard| {
            (0..replication_factor as usize)
                .map(|r| nodes[(start + shard * replication_factor as usize + r) % n])
                .collect()
        })
        .collect()
}

fn create_shard_group(
    meta: &mut MetaData,
    index: u64,
    database: &str,
    retention_policy: Option<&str>,
    timestamp_ns: i64,
    alive_nodes: &[NodeId],
    topic_prefix: &str,
) -> Outcome {
    let db = meta
        .databases
        .get(database)
        .ok_or_else(|| CommandError::DatabaseNotFound(database.to_owned()))?;
    let rp_name = match retention_policy {
        Some(rp) if !rp.is_empty() => rp,
        _ => db
            .default_retention_policy
            .as_deref()
            .ok_or_else(|| CommandError::RetentionPolicyNotFound(String::new()))?,
    };
    let rp = db
        .retention_policies
        .get(rp_name)
        .ok_or_else(|| CommandError::RetentionPolicyNotFound(rp_name.to_owned()))?;
    // Concurrent requests for the same group all reach this point in log
    // order; every one after the first finds the group made by the first.
    if let Some(group) = rp.shard_group_for(timestamp_ns) {
        return Ok(CommandOutput::ShardGroup {
            version: meta.version,
            group: group.clone(),
        });
    }
    schemas::topics::validate_prefix(topic_prefix)
        .map_err(|_| CommandError::InvalidTopicPrefix(topic_prefix.to_owned()))?;
    let nodes = alive_owners(meta, alive_nodes)?;
    // Fewer alive nodes than the replication factor: clamp, as InfluxDB's
    // CreateShardGroup does, rather than refuse writes while a node is down.
    let rf = rp.replication_factor.min(nodes.len() as u32).max(1);
    let shard_count = rp
        .shard_count
        .unwrap_or_else(|| (nodes.len() as u32 / rf).max(1));
    let (start_ns, mut end_ns) = shard_group_bounds(timestamp_ns, rp.shard_group_duration_ns);
    // A truncated group still covers its range for queries; the new group
    // starts where writes stopped going to it, as InfluxDB does.
    let start_ns = rp
        .shard_groups
        .values()
        .filter(|g| {
            g.deleted_at_ns.is_none() && g.start_ns <= timestamp_ns && timestamp_ns < g.end_ns
        })
        .filter_map(|g| g.truncated_at_ns)
        .filter(|t| *t <= timestamp_ns)
        .max()
        .map_or(start_ns, |t| t.max(start_ns));
    // A later group (made before this one, e.g. by a truncation's follow-up
    // write) bounds this one so groups never overlap for writes.
    if let Some(next) = rp
        .shard_groups
        .values()
        .filter(|g| g.deleted_at_ns.is_none() && g.start_ns > timestamp_ns && g.start_ns < end_ns)
        .map(|g| g.start_ns)
        .min()
    {
        end_ns = next;
    }

    let group_id = next_group_id(meta, topic_prefix);
    let topic = schemas::topics::shard_group_topic(topic_prefix, group_id);
    let owners = assign_owners(&nodes, shard_count, rf, group_id);
    let group = new_group(
        meta,
        group_id,
        (database, rp_name),
        (start_ns, end_ns),
        topic,
        owners,
    );
    insert_group(meta, index, group)
}

/// Whether a group (live, or deleted and not purged) has `topic`.
fn topic_in_use(meta: &MetaData, topic: &str) -> bool {
    meta.shard_groups()
        .chain(meta.deleted_shard_groups())
        .any(|g| g.topic == topic)
}

/// The next group id whose topic name is free: a restored group keeps the
/// topic its id had in the backed-up cluster, which a new id may name.
fn next_group_id(meta: &MetaData, topic_prefix: &str) -> ShardGroupId {
    let mut id = meta.max_shard_group_id + 1;
    while topic_in_use(meta, &schemas::topics::shard_group_topic(topic_prefix, id)) {
        id += 1;
    }
    id
}

/// The nodes that may own a new group: those of `alive_nodes` the meta data
/// knows as alive, whatever the proposer saw; sorted and deduplicated so
/// the assignment depends on the set only.
fn alive_owners(meta: &MetaData, alive_nodes: &[NodeId]) -> Result<Vec<NodeId>, CommandError> {
    let mut nodes: Vec<NodeId> = alive_nodes
        .iter()
        .copied()
        .filter(|id| {
            meta.data_nodes
                .get(id)
                .is_some_and(|n| n.state == NodeState::Alive)
        })
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    if nodes.is_empty() {
        return Err(CommandError::NoAliveDataNodes);
    }
    Ok(nodes)
}

/// A group with shard ids following the highest handed out.
fn new_group(
    meta: &MetaData,
    group_id: ShardGroupId,
    (database, rp_name): (&str, &str),
    (start_ns, end_ns): (i64, i64),
    topic: String,
    owners: Vec<Vec<NodeId>>,
) -> ShardGroup {
    let first_shard = meta.max_shard_id + 1;
    let shards: Vec<Shard> = owners
        .into_iter()
        .enumerate()
        .map(|(i, owners)| Shard {
            id: first_shard + i as u64,
            index: i as u32,
            owners,
        })
        .collect();
    ShardGroup {
        id: group_id,
        database: database.to_owned(),
        retention_policy: rp_name.to_owned(),
        start_ns,
        end_ns,
        truncated_at_ns: None,
        deleted_at_ns: None,
        topic,
        shards,
    }
}

/// Adds `group` to its policy and hands out its ids.
fn insert_group(meta: &mut MetaData, index: u64, group: ShardGroup) -> Outcome {
    meta.max_shard_group_id = group.id;
    meta.max_shard_id += group.shards.len() as u64;
    meta.databases
        .get_mut(&group.database)
        .and_then(|db| db.retention_policies.get_mut(&group.retention_policy))
        .expect("the caller looked the policy up")
        .shard_groups
        .insert(group.id, group.clone());
    meta.version = index;
    Ok(CommandOutput::ShardGroup {
        version: index,
        group,
    })
}

fn register_data_node(
    meta: &mut MetaData,
    index: u64,
    http_addr: &str,
    internal_addr: &str,
    id: Option<NodeId>,
) -> Outcome {
    // Without an id, the node registered at this internal address before
    // (from before ids were kept, or with a wiped disk) is taken over.
    let id = id.or_else(|| {
        meta.data_nodes
            .values()
            .find(|n| n.internal_addr == internal_addr)
            .map(|n| n.id)
    });
    // Another alive node at either address is a misconfiguration: both
    // would answer for each other's shards.
    if let Some(other) = meta.data_nodes.values().find(|n| {
        Some(n.id) != id
            && n.state == NodeState::Alive
            && (n.internal_addr == internal_addr || n.http_addr == http_addr)
    }) {
        let addr = if other.internal_addr == internal_addr {
            internal_addr
        } else {
            http_addr
        };
        return Err(CommandError::AddressInUse {
            addr: addr.to_owned(),
            node: other.id,
        });
    }
    let Some(id) = id else {
        let node = DataNode {
            id: meta.max_node_id + 1,
            http_addr: http_addr.to_owned(),
            internal_addr: internal_addr.to_owned(),
            state: NodeState::Alive,
        };
        meta.max_node_id = node.id;
        meta.data_nodes.insert(node.id, node.clone());
        meta.version = index;
        return Ok(CommandOutput::DataNode {
            version: index,
            node,
        });
    };
    let node = meta
        .data_nodes
        .get_mut(&id)
        .ok_or(CommandError::DataNodeNotFound(id))?;
    // Alive elsewhere: a copied data directory, or a restart at a new
    // address before metad noticed the old process stopped (the node
    // retries until it has).
    if node.state == NodeState::Alive && node.internal_addr != internal_addr {
        return Err(CommandError::NodeIdInUse {
            node: id,
            addr: node.internal_addr.clone(),
        });
    }
    let update = node.http_addr != http_addr
        || node.internal_addr != internal_addr
        || node.state != NodeState::Alive;
    node.http_addr = http_addr.to_owned();
    node.internal_addr = internal_addr.to_owned();
    node.state = NodeState::Alive;
    let node = node.clone();
    if update {
        meta.version = index;
    }
    Ok(CommandOutput::DataNode {
        version: meta.version,
        node,
    })
}

fn remove_data_node(meta: &mut MetaData, index: u64, id: NodeId, force: bool) -> Outcome {
    if !meta.data_nodes.contains_key(&id) {
        return Err(CommandError::DataNodeNotFound(id));
    }
    let owned = meta.shards_owned_by(id).count();
    if owned > 0 && !force {
        return Err(CommandError::DataNodeOwnsShards {
            node: id,
            shards: owned,
        });
    }
    meta.data_nodes.remove(&id);
    for rp in meta
        .databases
        .values_mut()
        .flat_map(|db| db.retention_policies.values_mut())
    {
        for shard in rp
            .shard_groups
            .values_mut()
            .flat_map(|g| g.shards.iter_mut())
        {
            shard.owners.retain(|o| *o != id);
        }
    }
    Ok(changed(meta, index))
}

fn change_shard_owners(
    meta: &mut MetaData,
    index: u64,
    changes: &[OwnerChange],
    force: bool,
) -> Outcome {
    // Every change is checked against the owner lists the earlier ones
    // left, before the first is written: a refused command changes nothing.
    let wanted: std::collections::HashSet<ShardId> = changes.iter().map(|c| c.shard_id).collect();
    let mut planned: BTreeMap<ShardId, (Vec<NodeId>, u32)> = meta
        .databases
        .values()
        .flat_map(|db| db.retention_policies.values())
        .flat_map(|rp| {
            rp.shard_groups
                .values()
                .filter(|g| g.deleted_at_ns.is_none())
                .flat_map(|g| g.shards.iter())
                .filter(|s| wanted.contains(&s.id))
                .map(move |s| (s.id, (s.owners.clone(), rp.replication_factor)))
        })
        .collect();
    for c in changes {
        let (owners, rf) = planned
            .get_mut(&c.shard_id)
            .ok_or(CommandError::ShardNotFound(c.shard_id))?;
        let before = owners.len();
        let removed_at =
            match c.remove {
                Some(node) => {
                    let at = owners.iter().position(|o| *o == node).ok_or(
                        CommandError::NotShardOwner {
                            shard: c.shard_id,
                            node,
                        },
                    )?;
                    owners.remove(at);
                    Some(at)
                }
                None => None,
            };
        if let Some(node) = c.add {
            if !meta.data_nodes.contains_key(&node) {
                return Err(CommandError::DataNodeNotFound(node));
            }
            if !owners.contains(&node) {
                // In the removed owner's place: a replacement keeps the order.
                owners.insert(removed_at.unwrap_or(owners.len()), node);
            }
        }
        if owners.is_empty() {
            return Err(CommandError::LastShardOwner(c.shard_id));
        }
        if !force && owners.len() < before && owners.len() < *rf as usize {
            return Err(CommandError::ShardUnderReplicated {
                shard: c.shard_id,
                owners: owners.len(),
                replication_factor: *rf,
            });
        }
    }
    let mut changed_any = false;
    for shard in meta
        .databases
        .values_mut()
        .flat_map(|db| db.retention_policies.values_mut())
        .flat_map(|rp| rp.shard_groups.values_mut())
        .filter(|g| g.deleted_at_ns.is_none())
        .flat_map(|g| g.shards.iter_mut())
    {
        if let Some((owners, _)) = planned.remove(&shard.id) {
            changed_any |= shard.owners != owners;
            shard.owners = owners;
        }
    }
    Ok(if changed_any {
        changed(meta, index)
    } else {
        unchanged(meta)
    })
}

fn truncate_shard_groups(meta: &mut MetaData, index: u64, now_ns: i64) -> Outcome {
    let mut ids = Vec::new();
    for g in meta
        .databases
        .values_mut()
        .flat_map(|db| db.retention_policies.values_mut())
        .flat_map(|rp| rp.shard_groups.values_mut())
    {
        if g.deleted_at_ns.is_some() || now_ns >= g.end_ns {
            continue;
        }
        // Future groups are closed at their start (InfluxDB's TruncateShardGroups).
        let at = now_ns.max(g.start_ns);
        if g.truncated_at_ns.is_some_and(|t| t <= at) {
            continue;
        }
        g.truncated_at_ns = Some(at);
        ids.push(g.id);
    }
    let version = if ids.is_empty() { meta.version } else { index };
    meta.version = version;
    Ok(CommandOutput::ShardGroups { version, ids })
}

/// The groups retention has expired at `now_ns` and that are not yet marked.
pub fn expired_shard_groups(meta: &MetaData, now_ns: i64) -> Vec<u64> {
    meta.databases
        .values()
        .flat_map(|db| db.retention_policies.values())
        .flat_map(|rp| {
            rp.shard_groups
                .values()
                .filter(move |g| g.deleted_at_ns.is_none() && g.expired(rp.duration_ns, now_ns))
        })
        .map(|g| g.id)
        .collect()
}

fn register_field_types(meta: &mut MetaData, index: u64, claims: &[FieldTypeClaim]) -> Outcome {
    let live: std::collections::HashSet<ShardGroupId> = meta.shard_groups().map(|g| g.id).collect();
    let mut changed = false;
    let types = claims
        .iter()
        .map(|c| {
            // A group deleted meanwhile takes no more writes: nothing to keep.
            if !live.contains(&c.group_id) {
                return c.field_type;
            }
            *meta
                .field_types
                .entry(c.group_id)
                .or_default()
                .entry(c.measurement.clone())
                .or_default()
                .entry(c.field.clone())
                .or_insert_with(|| {
                    changed = true;
                    c.field_type
                })
        })
        .collect();
    if changed {
        meta.version = index;
    }
    Ok(CommandOutput::FieldTypes {
        version: meta.version,
        types,
    })
}

/// Field types live as long as their group does.
fn forget_field_types_of_deleted_groups(meta: &mut MetaData) {
    let live: std::collections::HashSet<ShardGroupId> = meta.shard_groups().map(|g| g.id).collect();
    meta.field_types.retain(|id, _| live.contains(id));
}

fn delete_expired_shard_groups(meta: &mut MetaData, index: u64, now_ns: i64) -> Outcome {
    let mut ids = Vec::new();
    for rp in meta
        .databases
        .values_mut()
        .flat_map(|db| db.retention_policies.values_mut())
    {
        let duration = rp.duration_ns;
        for g in rp.shard_groups.values_mut() {
            if g.deleted_at_ns.is_none() && g.expired(duration, now_ns) {
                g.deleted_at_ns = Some(now_ns);
                ids.push(g.id);
            }
        }
    }
    let version = if ids.is_empty() { meta.version } else { index };
    meta.version = version;
    Ok(CommandOutput::ShardGroups { version, ids })
}

fn purge_shard_groups(meta: &mut MetaData, index: u64, ids: &[ShardGroupId]) -> Outcome {
    let wanted: std::collections::BTreeSet<ShardGroupId> = ids.iter().copied().collect();
    let deleted = |g: &ShardGroup| wanted.contains(&g.id) && g.deleted_at_ns.is_some();
    let mut purged: Vec<ShardGroupId> = Vec::new();
    for rp in meta
        .databases
        .values_mut()
        .flat_map(|db| db.retention_policies.values_mut())
    {
        rp.shard_groups.retain(|_, g| {
            let gone = deleted(g);
            if gone {
                purged.push(g.id);
            }
            !gone
        });
    }
    meta.dropped_shard_groups.retain(|_, g| {
        let gone = deleted(g);
        if gone {
            purged.push(g.id);
        }
        !gone
    });
    for id in &purged {
        meta.field_types.remove(id);
    }
    purged.sort_unstable();
    let version = if purged.is_empty() {
        meta.version
    } else {
        index
    };
    meta.version = version;
    Ok(CommandOutput::ShardGroups {
        version,
        ids: purged,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use schemas::meta::DAY_NS;

    use super::*;

    const HOUR: i64 = HOUR_NS as i64;

    struct Sm {
        meta: MetaData,
        index: u64,
    }

    impl Sm {
        fn new() -> Self {
            Self {
                meta: MetaData::default(),
                index: 0,
            }
        }

        fn run(&mut self, cmd: MetaCommand) -> Outcome {
            self.index += 1;
            apply(&mut self.meta, self.index, &cmd)
        }

        /// Runs a command that must be refused and checks nothing changed.
        fn refuse(&mut self, cmd: MetaCommand) -> CommandError {
            let before = self.meta.clone();
            let err = self.run(cmd).unwrap_err();
            assert_eq!(self.meta, before, "refused command changed state");
            err
        }

        fn nodes(&mut self, n: usize) -> Vec<NodeId> {
            (0..n)
                .map(|i| {
                    match self
                        .run(MetaCommand::RegisterDataNode {
                            http_addr: format!("h{i}:8086"),
                            internal_addr: format!("h{i}:8088"),
                            id: None,
                        })
                        .unwrap()
                    {
                        CommandOutput::DataNode { node, .. } => node.id,
                        other => panic!("{other:?}"),
                    }
                })
                .collect()
        }

        fn group(&mut self, db: &str, ts: i64, alive: &[NodeId]) -> Outcome {
            self.run(MetaCommand::CreateShardGroup {
                database: db.into(),
                retention_policy: None,
                timestamp_ns: ts,
                alive_nodes: alive.to_vec(),
                topic_prefix: "sluice".into(),
            })
        }
    }

    fn spec(name: &str, duration_ns: u64, rf: u32) -> RetentionPolicySpec {
        RetentionPolicySpec {
            name: name.into(),
            duration_ns,
            shard_group_duration_ns: None,
            replication_factor: rf,
            shard_count: None,
        }
    }

    fn create_db(name: &str, rp: Option<RetentionPolicySpec>) -> MetaCommand {
        MetaCommand::CreateDatabase {
            name: name.into(),
            retention_policy: rp,
        }
    }

    fn group_of(out: Outcome) -> ShardGroup {
        match out.unwrap() {
            CommandOutput::ShardGroup { group, .. } => group,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_database_makes_autogen_default_and_is_idempotent() {
        let mut sm = Sm::new();
        sm.run(create_db("db", None)).unwrap();
        assert_eq!(sm.meta.version, 1);
        let db = &sm.meta.databases["db"];
        assert_eq!(db.default_retention_policy.as_deref(), Some("autogen"));
        let rp = &db.retention_policies["autogen"];
        assert_eq!((rp.duration_ns, rp.replication_factor), (0, 1));
        assert_eq!(rp.shard_group_duration_ns, 7 * DAY_NS);
        // Again: success, nothing changes, version stays.
        assert_eq!(
            sm.run(create_db("db", None)).unwrap(),
            CommandOutput::Done { version: 1 }
        );
        assert_eq!(sm.meta.version, 1);
        let err = sm.refuse(create_db("db", Some(spec("autogen", DAY_NS, 1))));
        assert_eq!(err, CommandError::RetentionPolicyConflict);
        assert_eq!(
            sm.refuse(create_db("", None)),
            CommandError::DatabaseNameRequired
        );
    }

    #[test]
    fn retention_policy_validation() {
        let mut sm = Sm::new();
        sm.run(create_db("db", None)).unwrap();
        let cases = [
            (spec("a", HOUR_NS - 1, 1), CommandError::DurationTooLow),
            (spec("a", HOUR_NS, 0), CommandError::ReplicationFactorTooLow),
            (
                spec("", HOUR_NS, 1),
                CommandError::RetentionPolicyNameRequired,
            ),
            (
                RetentionPolicySpec {
                    shard_group_duration_ns: Some(2 * HOUR_NS),
                    ..spec("a", HOUR_NS, 1)
                },
                CommandError::IncompatibleDurations,
            ),
        ];
        for (spec, want) in cases {
            let got = sm.refuse(MetaCommand::CreateRetentionPolicy {
                database: "db".into(),
                spec,
                make_default: false,
            });
            assert_eq!(got, want);
        }
        let err = sm.refuse(MetaCommand::CreateRetentionPolicy {
            database: "nope".into(),
            spec: spec("a", HOUR_NS, 1),
            make_default: false,
        });
        assert_eq!(err.to_string(), "database not found: nope");

        let create = MetaCommand::CreateRetentionPolicy {
            database: "db".into(),
            spec: spec("short", DAY_NS, 2),
            make_default: true,
        };
        sm.run(create.clone()).unwrap();
        let rp = sm.meta.retention_policy("db", None).unwrap();
        assert_eq!(
            (rp.name.as_str(), rp.shard_group_duration_ns),
            ("short", HOUR_NS)
        );
        // Same again is fine; other settings are a conflict.
        let v = sm.meta.version;
        sm.run(create).unwrap();
        assert_eq!(sm.meta.version, v);
        let err = sm.refuse(MetaCommand::CreateRetentionPolicy {
            database: "db".into(),
            spec: spec("short", DAY_NS, 3),
            make_default: false,
        });
        assert_eq!(err.to_string(), "retention policy already exists");

        let err = sm.refuse(MetaCommand::AlterRetentionPolicy {
            database: "db".into(),
            name: "short".into(),
            duration_ns: Some(60),
            shard_group_duration_ns: None,
            replication_factor: None,
            make_default: false,
        });
        assert_eq!(err, CommandError::DurationTooLow);
        sm.run(MetaCommand::AlterRetentionPolicy {
            database: "db".into(),
            name: "short".into(),
            duration_ns: Some(2 * DAY_NS),
            shard_group_duration_ns: None,
            replication_factor: Some(1),
            make_default: false,
        })
        .unwrap();
        let rp = &sm.meta.databases["db"].retention_policies["short"];
        assert_eq!((rp.duration_ns, rp.replication_factor), (2 * DAY_NS, 1));

        sm.run(MetaCommand::DropRetentionPolicy {
            database: "db".into(),
            name: "short".into(),
            now_ns: 0,
        })
        .unwrap();
        assert_eq!(sm.meta.databases["db"].default_retention_policy, None);
    }

    #[test]
    fn shard_group_creation_is_idempotent() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(3);
        sm.run(create_db("db", Some(spec("rp", 0, 1)))).unwrap();
        let ts = 1_700_000_000_000_000_000;
        let g = group_of(sm.group("db", ts, &nodes));
        let v = sm.meta.version;
        for i in 0..10 {
            assert_eq!(group_of(sm.group("db", ts + i, &nodes)), g);
        }
        assert_eq!(sm.meta.version, v, "finding the group changes nothing");
        assert_eq!(sm.meta.shard_groups().count(), 1);
        assert_eq!(g.topic, format!("sluice.shardgroup.{}", g.id));
        assert!(g.start_ns <= ts && ts < g.end_ns);
        assert_eq!(g.end_ns - g.start_ns, 7 * DAY_NS as i64);
        assert_eq!(g.shards.len(), 3);

        assert_eq!(
            sm.refuse(MetaCommand::CreateShardGroup {
                database: "db".into(),
                retention_policy: None,
                timestamp_ns: ts + 30 * DAY_NS as i64,
                alive_nodes: vec![],
                topic_prefix: "sluice".into(),
            }),
            CommandError::NoAliveDataNodes
        );
        assert_eq!(
            sm.refuse(MetaCommand::CreateShardGroup {
                database: "nope".into(),
                retention_policy: None,
                timestamp_ns: ts,
                alive_nodes: nodes.clone(),
                topic_prefix: "sluice".into(),
            }),
            CommandError::DatabaseNotFound("nope".into())
        );
    }

    #[test]
    fn many_shard_groups_in_one_command() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(2);
        sm.run(create_db("db", Some(spec("rp", 0, 1)))).unwrap();
        let week = 7 * DAY_NS as i64;
        let t0 = 1_700_000_000_000_000_000;
        let existing = group_of(sm.group("db", t0, &nodes));
        let create = |timestamps_ns: Vec<i64>| MetaCommand::CreateShardGroups {
            database: "db".into(),
            retention_policy: None,
            timestamps_ns,
            alive_nodes: nodes.clone(),
            topic_prefix: "sluice".into(),
        };
        // Three windows, one of them twice, one existing already.
        let out = sm
            .run(create(vec![t0 + week, t0, t0 + week + 1, t0 - week]))
            .unwrap();
        let CommandOutput::ShardGroupsFor { version, groups } = out else {
            panic!("{out:?}");
        };
        assert_eq!(version, sm.meta.version);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[1], existing);
        assert!(groups[0].accepts(t0 + week) && groups[2].accepts(t0 - week));
        assert_eq!(sm.meta.shard_groups().count(), 3);
        let ids: Vec<_> = groups
            .iter()
            .flat_map(|g| &g.shards)
            .map(|s| s.id)
            .collect();
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "shard ids are never reused");

        let again = sm.run(create(vec![t0 - week, t0 + week])).unwrap();
        let CommandOutput::ShardGroupsFor {
            version: v2,
            groups: g2,
        } = again
        else {
            panic!("{again:?}");
        };
        assert_eq!(v2, version, "finding the groups changes nothing");
        assert_eq!(g2, vec![groups[2].clone(), groups[0].clone()]);
        assert_eq!(
            sm.refuse(MetaCommand::CreateShardGroups {
                database: "db".into(),
                retention_policy: None,
                timestamps_ns: vec![t0 + 5 * week],
                alive_nodes: vec![],
                topic_prefix: "sluice".into(),
            }),
            CommandError::NoAliveDataNodes
        );
    }

    #[test]
    fn round_robin_ownership() {
        for n in 1..=5usize {
            for rf in 1..=3u32 {
                let mut sm = Sm::new();
                let nodes = sm.nodes(n);
                sm.run(create_db("db", Some(spec("rp", 0, rf)))).unwrap();
                let mut load: HashMap<NodeId, usize> = HashMap::new();
                let groups = 2 * n * rf as usize;
                for i in 0..groups {
                    let ts = i as i64 * 7 * DAY_NS as i64;
                    let g = group_of(sm.group("db", ts, &nodes));
                    let eff_rf = rf.min(n as u32) as usize;
                    assert_eq!(g.shards.len(), (n / eff_rf).max(1), "n={n} rf={rf}");
                    for (i, s) in g.shards.iter().enumerate() {
                        assert_eq!(s.index as usize, i);
                        let distinct: BTreeSet<_> = s.owners.iter().collect();
                        assert_eq!(s.owners.len(), eff_rf, "n={n} rf={rf}");
                        assert_eq!(distinct.len(), eff_rf, "owners distinct n={n} rf={rf}");
                        for o in &s.owners {
                            *load.entry(*o).or_default() += 1;
                        }
                    }
                }
                let (min, max) = (load.values().min().unwrap(), load.values().max().unwrap());
                assert_eq!(load.len(), n, "every node gets replicas n={n} rf={rf}");
                assert!(max - min <= 1, "uneven load {load:?} n={n} rf={rf}");
                // Shard ids are unique.
                let ids: BTreeSet<_> = sm
                    .meta
                    .shard_groups()
                    .flat_map(|g| g.shards.iter().map(|s| s.id))
                    .collect();
                assert_eq!(ids.len() as u64, sm.meta.max_shard_id);
            }
        }
    }

    #[test]
    fn unreachable_nodes_get_no_new_shards() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(3);
        sm.run(create_db("db", Some(spec("rp", 0, 1)))).unwrap();
        sm.run(MetaCommand::SetDataNodeState {
            id: nodes[1],
            state: NodeState::Unreachable,
        })
        .unwrap();
        // The proposer's list is checked against the meta data.
        let g = group_of(sm.group("db", 0, &nodes));
        assert!(g.shards.iter().all(|s| !s.owners.contains(&nodes[1])));
        assert_eq!(g.shards.len(), 2);
    }

    #[test]
    fn retention_expiry() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(1);
        sm.run(create_db("db", Some(spec("rp", DAY_NS, 1))))
            .unwrap();
        let g1 = group_of(sm.group("db", 0, &nodes));
        let g2 = group_of(sm.group("db", 10 * HOUR, &nodes));
        assert_eq!(g1.end_ns, HOUR);
        // At 25h the first group (ending 1h) is 24h old: not yet past.
        assert!(expired_shard_groups(&sm.meta, 25 * HOUR).is_empty());
        let out = sm
            .run(MetaCommand::DeleteExpiredShardGroups {
                now_ns: 25 * HOUR + 1,
            })
            .unwrap();
        assert!(matches!(out, CommandOutput::ShardGroups { ref ids, .. } if ids == &[g1.id]));
        let rp = &sm.meta.databases["db"].retention_policies["rp"];
        assert_eq!(rp.shard_groups[&g1.id].deleted_at_ns, Some(25 * HOUR + 1));
        assert_eq!(rp.shard_groups[&g2.id].deleted_at_ns, None);
        // Nothing left to expire: no change.
        let v = sm.meta.version;
        sm.run(MetaCommand::DeleteExpiredShardGroups {
            now_ns: 25 * HOUR + 2,
        })
        .unwrap();
        assert_eq!(sm.meta.version, v);
        // Infinite retention never expires.
        sm.run(create_db("forever", None)).unwrap();
        group_of(sm.group("forever", 0, &nodes));
        assert_eq!(expired_shard_groups(&sm.meta, i64::MAX), vec![g2.id]);
    }

    /// A cluster that has expired 1,000 groups (and dropped a database)
    /// and purged them carries meta data of the same size as before any.
    #[test]
    fn purged_groups_leave_nothing_behind() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(2);
        sm.run(create_db("db", Some(spec("rp", DAY_NS, 2))))
            .unwrap();
        let live = group_of(sm.group("db", 5000 * HOUR, &nodes));
        let size = |m: &MetaData| serde_json::to_vec(m).unwrap().len();
        let before = size(&sm.meta);
        let mut ids = Vec::new();
        for i in 0..1000 {
            ids.push(group_of(sm.group("db", i * HOUR, &nodes)).id);
        }
        sm.run(create_db("gone", None)).unwrap();
        ids.push(group_of(sm.group("gone", 0, &nodes)).id);
        sm.run(MetaCommand::DropDatabase {
            name: "gone".into(),
            now_ns: 1,
        })
        .unwrap();
        let out = sm
            .run(MetaCommand::DeleteExpiredShardGroups {
                now_ns: 1001 * HOUR + DAY_NS as i64,
            })
            .unwrap();
        assert!(matches!(out, CommandOutput::ShardGroups { ref ids, .. } if ids.len() == 1000));
        assert!(size(&sm.meta) > 100 * before);

        // A live group's id is ignored; the deleted ones are forgotten.
        let mut asked = ids.clone();
        asked.push(live.id);
        let out = sm
            .run(MetaCommand::PurgeShardGroups { ids: asked })
            .unwrap();
        assert!(matches!(out, CommandOutput::ShardGroups { ref ids, .. } if ids.len() == 1001));
        assert!(sm.meta.dropped_shard_groups.is_empty());
        let rp = &sm.meta.databases["db"].retention_policies["rp"];
        assert_eq!(rp.shard_groups.keys().collect::<Vec<_>>(), [&live.id]);
        // Only the counters (version, highest ids) have more digits.
        assert!(
            size(&sm.meta) <= before + 16,
            "{} > {before}",
            size(&sm.meta)
        );
        // The counters still move on: no id is handed out twice.
        assert!(sm.meta.max_shard_group_id > live.id);
        let v = sm.meta.version;
        sm.run(MetaCommand::PurgeShardGroups { ids }).unwrap();
        assert_eq!(sm.meta.version, v, "nothing left to purge: no change");
    }

    #[test]
    fn a_restored_group_gets_new_ids_keeps_its_topic_and_never_overlaps() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(3);
        sm.run(create_db("db", Some(spec("rp", 0, 2)))).unwrap();
        let live = group_of(sm.group("db", 0, &nodes));
        let mut types = schemas::meta::GroupFieldTypes::new();
        types
            .entry("m".into())
            .or_default()
            .insert("v".into(), schemas::FieldType::Float);
        let restore = |start_ns: i64, topic: Option<&str>| MetaCommand::RestoreShardGroup {
            database: "db".into(),
            retention_policy: "rp".into(),
            start_ns,
            end_ns: start_ns + HOUR,
            truncated_at_ns: Some(start_ns + 60),
            shard_count: 3,
            topic: topic.map(str::to_owned),
            field_types: types.clone(),
            alive_nodes: nodes.clone(),
            topic_prefix: "sluice".into(),
        };
        // Over the live group's time: refused, nothing changes.
        let v = sm.meta.version;
        assert!(matches!(
            sm.run(restore(live.start_ns, None)),
            Err(CommandError::ShardGroupOverlaps(id)) if id == live.id
        ));
        assert_eq!(sm.meta.version, v);
        let before = live.start_ns;
        let g = group_of(sm.run(restore(before - 10 * HOUR, Some("old.shardgroup.7"))));
        assert!(g.id > live.id);
        assert_eq!(
            g.topic, "old.shardgroup.7",
            "goes on with the backed-up log"
        );
        assert_eq!(g.shards.len(), 3);
        assert!(g
            .shards
            .iter()
            .all(|s| s.owners.len() == 2 && s.id > live.shards[0].id));
        assert_eq!(
            (g.start_ns, g.truncated_at_ns),
            (before - 10 * HOUR, Some(before - 10 * HOUR + 60))
        );
        assert_eq!(sm.meta.field_types[&g.id], types);
        // Without a topic, a new one of the new id.
        let h = group_of(sm.run(restore(before - 20 * HOUR, None)));
        assert_eq!(h.topic, schemas::topics::shard_group_topic("sluice", h.id));
        // A topic another group has is refused.
        assert!(matches!(
            sm.run(restore(before - 30 * HOUR, Some(&h.topic))),
            Err(CommandError::TopicInUse(_))
        ));
        // A restored group holds the topic a later id would be named by:
        // the next group skips that id.
        let next = schemas::topics::shard_group_topic("sluice", sm.meta.max_shard_group_id + 1);
        group_of(sm.run(restore(before - 40 * HOUR, Some(&next))));
        let later = group_of(sm.group("db", 30 * DAY_NS as i64, &nodes));
        assert_ne!(later.topic, next);
        let topics: BTreeSet<_> = sm.meta.shard_groups().map(|g| g.topic.clone()).collect();
        assert_eq!(
            topics.len(),
            sm.meta.shard_groups().count(),
            "topics are unique"
        );
        // Log retention is a policy setting; 0 means none.
        let set = |ns| MetaCommand::SetLogRetention {
            database: "db".into(),
            retention_policy: "rp".into(),
            log_retention_ns: ns,
        };
        sm.run(set(Some(DAY_NS))).unwrap();
        assert_eq!(
            sm.meta.databases["db"].retention_policies["rp"].log_retention_ns,
            Some(DAY_NS)
        );
        sm.run(set(Some(0))).unwrap();
        assert_eq!(
            sm.meta.databases["db"].retention_policies["rp"].log_retention_ns,
            None
        );
    }

    #[test]
    fn truncation_closes_current_groups_and_the_next_write_makes_a_new_one() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(2);
        sm.run(create_db("db", Some(spec("rp", 0, 1)))).unwrap();
        let g1 = group_of(sm.group("db", 0, &nodes[..1]));
        assert_eq!(g1.shards.len(), 1);
        let now = 3 * HOUR;
        let out = sm
            .run(MetaCommand::TruncateShardGroups { now_ns: now })
            .unwrap();
        assert!(matches!(out, CommandOutput::ShardGroups { ref ids, .. } if ids == &[g1.id]));
        let g2 = group_of(sm.group("db", now, &nodes));
        assert_ne!(g1.id, g2.id);
        assert_eq!((g2.start_ns, g2.end_ns), (now, g1.end_ns));
        assert_eq!(g2.shards.len(), 2, "today's nodes");
        // Points before the truncation still go to the old group.
        assert_eq!(group_of(sm.group("db", now - 1, &nodes)).id, g1.id);
        // Truncating again closes the new group at the new time only.
        let out = sm
            .run(MetaCommand::TruncateShardGroups { now_ns: now + HOUR })
            .unwrap();
        assert!(matches!(out, CommandOutput::ShardGroups { ref ids, .. } if ids == &[g2.id]));
    }

    #[test]
    fn drop_database_retires_its_groups() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(1);
        sm.run(create_db("db", None)).unwrap();
        let g = group_of(sm.group("db", 0, &nodes));
        sm.run(MetaCommand::DropDatabase {
            name: "db".into(),
            now_ns: 42,
        })
        .unwrap();
        assert!(sm.meta.databases.is_empty());
        assert_eq!(sm.meta.dropped_shard_groups[&g.id].deleted_at_ns, Some(42));
        assert_eq!(sm.meta.shard_groups().count(), 0);
        // Dropping a missing database is a success without change.
        let v = sm.meta.version;
        sm.run(MetaCommand::DropDatabase {
            name: "db".into(),
            now_ns: 43,
        })
        .unwrap();
        assert_eq!(sm.meta.version, v);
    }

    #[test]
    fn users_and_grants() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$2bBSmGZ0QVPrsgQLp5tJaKc7jXrqIjpS2xGJ0Qb1Fdg";
        let mut sm = Sm::new();
        sm.run(create_db("db", None)).unwrap();
        let create = MetaCommand::CreateUser {
            name: "u".into(),
            password_hash: hash.into(),
            admin: false,
        };
        sm.run(create.clone()).unwrap();
        assert_eq!(sm.refuse(create), CommandError::UserExists);
        assert_eq!(
            sm.refuse(MetaCommand::CreateUser {
                name: "v".into(),
                password_hash: "plaintext".into(),
                admin: false,
            }),
            CommandError::InvalidPasswordHash
        );
        let grant = |p| MetaCommand::Grant {
            user: "u".into(),
            database: "db".into(),
            privilege: p,
        };
        let revoke = |p| MetaCommand::Revoke {
            user: "u".into(),
            database: "db".into(),
            privilege: p,
        };
        sm.run(grant(Privilege::All)).unwrap();
        sm.run(revoke(Privilege::Read)).unwrap();
        assert_eq!(sm.meta.users["u"].privileges["db"], Privilege::Write);
        sm.run(revoke(Privilege::Write)).unwrap();
        assert_eq!(sm.meta.users["u"].privileges["db"], Privilege::NoPrivileges);
        assert_eq!(
            sm.refuse(MetaCommand::Grant {
                user: "u".into(),
                database: "nope".into(),
                privilege: Privilege::Read,
            }),
            CommandError::DatabaseNotFound("nope".into())
        );
        sm.run(MetaCommand::SetAdmin {
            name: "u".into(),
            admin: true,
        })
        .unwrap();
        assert!(sm.meta.users["u"].admin);
        sm.run(MetaCommand::DropUser { name: "u".into() }).unwrap();
        assert_eq!(
            sm.refuse(MetaCommand::DropUser { name: "u".into() }),
            CommandError::UserNotFound
        );
    }

    #[test]
    fn owner_changes_are_checked_whole_and_keep_replication() {
        let mut sm = Sm::new();
        let n = sm.nodes(3);
        sm.run(create_db("db", Some(spec("rp", 0, 2)))).unwrap();
        let g = group_of(sm.group("db", 0, &n[..2]));
        let shard = g.shards[0].id;
        let owners = |sm: &Sm| {
            sm.meta
                .shard_groups()
                .flat_map(|g| g.shards.iter())
                .find(|s| s.id == shard)
                .unwrap()
                .owners
                .clone()
        };
        let first = owners(&sm);
        assert_eq!(first.len(), 2);
        let spare = *n.iter().find(|id| !first.contains(id)).unwrap();
        let change = |add, remove| OwnerChange {
            shard_id: shard,
            add,
            remove,
        };
        let cmd =
            |changes: Vec<OwnerChange>, force| MetaCommand::ChangeShardOwners { changes, force };

        // Under the replication factor only when forced; never ownerless.
        let err = sm.refuse(cmd(vec![change(None, Some(first[0]))], false));
        assert!(
            matches!(
                err,
                CommandError::ShardUnderReplicated {
                    owners: 1,
                    replication_factor: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = sm.refuse(cmd(
            vec![change(None, Some(first[0])), change(None, Some(first[1]))],
            true,
        ));
        assert_eq!(err, CommandError::LastShardOwner(shard));
        // A later change that fails takes the earlier ones back with it.
        let err = sm.refuse(cmd(
            vec![change(Some(spare), None), change(None, Some(99))],
            false,
        ));
        assert_eq!(err, CommandError::NotShardOwner { shard, node: 99 });
        assert_eq!(
            sm.refuse(cmd(vec![change(Some(99), None)], false)),
            CommandError::DataNodeNotFound(99)
        );
        assert_eq!(
            sm.refuse(cmd(
                vec![OwnerChange {
                    shard_id: 12345,
                    add: Some(spare),
                    remove: None
                }],
                false
            )),
            CommandError::ShardNotFound(12345)
        );

        // Copy, then remove: a move. Adding an owner twice is a no-op.
        sm.run(cmd(vec![change(Some(spare), None)], false)).unwrap();
        assert_eq!(owners(&sm), vec![first[0], first[1], spare]);
        let v = sm.meta.version;
        sm.run(cmd(vec![change(Some(spare), None)], false)).unwrap();
        assert_eq!(sm.meta.version, v);
        sm.run(cmd(vec![change(None, Some(first[0]))], false))
            .unwrap();
        assert_eq!(owners(&sm), vec![first[1], spare]);
        // A replacement takes the old owner's place, and keeps the count.
        sm.run(cmd(vec![change(Some(first[0]), Some(first[1]))], false))
            .unwrap();
        assert_eq!(owners(&sm), vec![first[0], spare]);
        // Forced under-replication.
        sm.run(cmd(vec![change(None, Some(spare))], true)).unwrap();
        assert_eq!(owners(&sm), vec![first[0]]);
    }

    #[test]
    fn continuous_queries_and_data_nodes() {
        let mut sm = Sm::new();
        sm.run(create_db("db", None)).unwrap();
        let cq = |q: &str| MetaCommand::CreateContinuousQuery {
            database: "db".into(),
            name: "cq".into(),
            query: q.into(),
            created_by: Some("alice".into()),
        };
        sm.run(cq("CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT 1 END"))
            .unwrap();
        let v = sm.meta.version;
        sm.run(cq("CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT 1 END"))
            .unwrap();
        assert_eq!(sm.meta.version, v);
        assert_eq!(sm.refuse(cq("other")), CommandError::ContinuousQueryExists);

        let nodes = sm.nodes(2);
        // Registering again by the same internal address gives the same id.
        assert_eq!(sm.nodes(2), nodes);
        sm.run(create_db("d2", Some(spec("rp", 0, 1)))).unwrap();
        group_of(sm.group("d2", 0, &nodes));
        let err = sm.refuse(MetaCommand::RemoveDataNode {
            id: nodes[0],
            force: false,
        });
        assert!(matches!(err, CommandError::DataNodeOwnsShards { .. }));
        sm.run(MetaCommand::RemoveDataNode {
            id: nodes[0],
            force: true,
        })
        .unwrap();
        assert_eq!(sm.meta.shards_owned_by(nodes[0]).count(), 0);
        assert_eq!(
            sm.refuse(MetaCommand::RemoveDataNode {
                id: 99,
                force: false
            }),
            CommandError::DataNodeNotFound(99)
        );
    }

    #[test]
    fn data_nodes_are_their_ids_not_their_addresses() {
        let mut sm = Sm::new();
        let nodes = sm.nodes(2);
        let register = |id: Option<NodeId>, host: &str| MetaCommand::RegisterDataNode {
            http_addr: format!("{host}:8086"),
            internal_addr: format!("{host}:8088"),
            id,
        };
        let node = |out: Outcome| match out.unwrap() {
            CommandOutput::DataNode { node, .. } => node,
            other => panic!("{other:?}"),
        };
        // Alive at h0: the id cannot start anywhere else...
        assert_eq!(
            sm.refuse(register(Some(nodes[0]), "new")),
            CommandError::NodeIdInUse {
                node: nodes[0],
                addr: "h0:8088".into()
            }
        );
        // ...nor can another node (or a new one) claim h1's addresses.
        let in_use = CommandError::AddressInUse {
            addr: "h1:8088".into(),
            node: nodes[1],
        };
        assert_eq!(sm.refuse(register(Some(nodes[0]), "h1")), in_use);
        let mut half = register(None, "x");
        if let MetaCommand::RegisterDataNode { http_addr, .. } = &mut half {
            *http_addr = "h1:8086".into();
        }
        assert_eq!(
            sm.refuse(half),
            CommandError::AddressInUse {
                addr: "h1:8086".into(),
                node: nodes[1],
            }
        );
        assert_eq!(
            sm.refuse(register(Some(99), "z")),
            CommandError::DataNodeNotFound(99)
        );
        // Once metad saw it stop, it comes back at a new address as itself,
        // with its shards.
        sm.run(create_db("db", Some(spec("rp", 0, 2)))).unwrap();
        group_of(sm.group("db", 0, &nodes));
        sm.run(MetaCommand::SetDataNodeState {
            id: nodes[0],
            state: NodeState::Unreachable,
        })
        .unwrap();
        let moved = node(sm.run(register(Some(nodes[0]), "new")));
        assert_eq!((moved.id, moved.state), (nodes[0], NodeState::Alive));
        assert_eq!(moved.internal_addr, "new:8088");
        assert_eq!(sm.meta.data_nodes.len(), 2);
        assert_eq!(sm.meta.shards_owned_by(nodes[0]).count(), 1);
        // The same again changes nothing.
        let v = sm.meta.version;
        node(sm.run(register(Some(nodes[0]), "new")));
        assert_eq!(sm.meta.version, v);
        // A node without an id at a dead node's address takes it over
        // (a wiped disk); at a fresh address it is a new node.
        sm.run(MetaCommand::SetDataNodeState {
            id: nodes[1],
            state: NodeState::Unreachable,
        })
        .unwrap();
        assert_eq!(node(sm.run(register(None, "h1"))).id, nodes[1]);
        assert_eq!(node(sm.run(register(None, "fresh"))).id, 3);
    }

    #[test]
    fn field_types_first_writer_wins_and_go_with_their_group() {
        use schemas::FieldType::{Float, Integer, String as Str};
        let mut sm = Sm::new();
        let nodes = sm.nodes(1);
        sm.run(create_db("db", None)).unwrap();
        let g = group_of(sm.group("db", 0, &nodes)).id;
        let claim = |field: &str, field_type| FieldTypeClaim {
            group_id: g,
            measurement: "m".into(),
            field: field.into(),
            field_type,
        };
        let types = |out: Outcome| match out.unwrap() {
            CommandOutput::FieldTypes { types, .. } => types,
            other => panic!("{other:?}"),
        };
        let register = |claims| MetaCommand::RegisterFieldTypes { claims };
        assert_eq!(
            types(sm.run(register(vec![claim("a", Float), claim("b", Str)]))),
            [Float, Str]
        );
        let v = sm.meta.version;
        // The first type stays; a repeat changes nothing.
        assert_eq!(
            types(sm.run(register(vec![claim("a", Integer), claim("b", Str)]))),
            [Float, Str]
        );
        assert_eq!(sm.meta.version, v);
        assert_eq!(sm.meta.field_type(g, "m", "a"), Some(Float));
        // Claims in one command are settled in order.
        assert_eq!(
            types(sm.run(register(vec![claim("c", Integer), claim("c", Float)]))),
            [Integer, Integer]
        );
        // An unknown group keeps nothing; a dropped database's groups forget theirs.
        let ghost = FieldTypeClaim {
            group_id: 999,
            ..claim("a", Integer)
        };
        assert_eq!(types(sm.run(register(vec![ghost]))), [Integer]);
        assert!(!sm.meta.field_types.contains_key(&999));
        sm.run(MetaCommand::DropDatabase {
            name: "db".into(),
            now_ns: 1,
        })
        .unwrap();
        assert!(sm.meta.field_types.is_empty());
    }
}

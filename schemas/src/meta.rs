//! The meta data model: what metad's raft state machine holds and publishes.
//!
//! Every other part reads a [`MetaData`] snapshot (through metad's watch) and
//! never changes it directly. The pure helpers here (shard-group bounds and
//! lookup, ownership, privileges) are the one place those rules are written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A data node's id, assigned by metad when the node first registers.
pub type NodeId = u64;
/// A shard's id, unique in the cluster.
pub type ShardId = u64;
/// A shard group's id, unique in the cluster; it also names the group's topic.
pub type ShardGroupId = u64;

/// One hour in nanoseconds.
pub const HOUR_NS: u64 = 3_600 * 1_000_000_000;
/// One day in nanoseconds.
pub const DAY_NS: u64 = 24 * HOUR_NS;
/// The shortest retention duration InfluxDB accepts (other than infinite).
pub const MIN_RETENTION_NS: u64 = HOUR_NS;
/// The name of the retention policy `CREATE DATABASE` creates by default.
pub const DEFAULT_RETENTION_POLICY: &str = "autogen";

/// The whole meta data at one version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetaData {
    /// Increases with every change; watchers wait for it to move.
    pub version: u64,
    /// Data nodes by id.
    pub data_nodes: BTreeMap<NodeId, DataNode>,
    /// Databases by name.
    pub databases: BTreeMap<String, Database>,
    /// Users by name.
    pub users: BTreeMap<String, User>,
    /// The highest node id handed out.
    pub max_node_id: NodeId,
    /// The highest shard group id handed out.
    pub max_shard_group_id: ShardGroupId,
    /// The highest shard id handed out.
    pub max_shard_id: ShardId,
    /// Shard groups of dropped databases and retention policies, marked
    /// deleted, so data nodes drop their replicas and topics get deleted.
    #[serde(default)]
    pub dropped_shard_groups: BTreeMap<ShardGroupId, ShardGroup>,
    /// The field types of each live shard group, first writer wins: what
    /// every router checks a point against, so that a conflicting point is
    /// refused at `/write` whichever node wrote the field first (InfluxDB
    /// keeps them per shard; a Sluice group's shards share them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_types: BTreeMap<ShardGroupId, GroupFieldTypes>,
}

/// One shard group's field types: measurement → field → type.
pub type GroupFieldTypes = BTreeMap<String, BTreeMap<String, crate::FieldType>>;

/// A data node (shardd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataNode {
    /// Node id.
    pub id: NodeId,
    /// Public InfluxDB HTTP API address (`host:port`).
    pub http_addr: String,
    /// Internal API address for node-to-node calls (`host:port`).
    pub internal_addr: String,
    /// Liveness as last decided by the meta leader.
    pub state: NodeState,
}

/// Whether a data node is taking part in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heartbeating; counted when sizing new shard groups.
    Alive,
    /// Missed its heartbeats; keeps its shards but is not given new ones.
    Unreachable,
}

/// A database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    /// Name.
    pub name: String,
    /// The retention policy writes and queries use when none is named.
    pub default_retention_policy: Option<String>,
    /// Retention policies by name.
    pub retention_policies: BTreeMap<String, RetentionPolicy>,
    /// Continuous queries by name.
    pub continuous_queries: BTreeMap<String, ContinuousQuery>,
}

/// A retention policy and its shard groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Name.
    pub name: String,
    /// How long data is kept, ns; 0 keeps it forever (`INF`).
    pub duration_ns: u64,
    /// Time span of each shard group, ns.
    pub shard_group_duration_ns: u64,
    /// Owners per shard.
    pub replication_factor: u32,
    /// Shards per new group; `None`: `max(1, live data nodes / replication factor)`.
    pub shard_count: Option<u32>,
    /// Log retention: records of the policy's groups older than this (ns)
    /// and durably applied by every owner of their shard are deleted from
    /// Kafka (DeleteRecords). `None`: the log keeps everything, and a
    /// replica can always be rebuilt by replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention_ns: Option<u64>,
    /// Shard groups by id (ids grow with creation time).
    pub shard_groups: BTreeMap<ShardGroupId, ShardGroup>,
}

/// A shard group: one time range of one retention policy, one Kafka topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardGroup {
    /// Id.
    pub id: ShardGroupId,
    /// Database name.
    pub database: String,
    /// Retention policy name.
    pub retention_policy: String,
    /// Inclusive start, ns.
    pub start_ns: i64,
    /// Exclusive end, ns.
    pub end_ns: i64,
    /// Set by `truncate-shards`: no point at or after this time is written here.
    pub truncated_at_ns: Option<i64>,
    /// Set when retention expired the group: replicas drop it, its topic goes.
    pub deleted_at_ns: Option<i64>,
    /// The Kafka topic holding the group's points; partition `i` is shard `i`.
    pub topic: String,
    /// The shards, `shards[i].index == i`.
    pub shards: Vec<Shard>,
}

/// A shard: one partition of its group's topic, replicated on its owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Id.
    pub id: ShardId,
    /// Its index in the group, which is its partition in the group's topic.
    pub index: u32,
    /// The data nodes holding a replica.
    pub owners: Vec<NodeId>,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Name.
    pub name: String,
    /// Password hash in PHC string format (never the password).
    pub password_hash: String,
    /// Cluster admin.
    pub admin: bool,
    /// Grants by database name.
    pub privileges: BTreeMap<String, Privilege>,
}

/// A per-database grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Privilege {
    /// May query.
    Read,
    /// May write.
    Write,
    /// May query and write.
    All,
    /// What REVOKE leaves: InfluxDB keeps the user's entry for the
    /// database (SHOW GRANTS lists it as `NO PRIVILEGES`) rather than
    /// deleting it.
    #[serde(rename = "NONE")]
    NoPrivileges,
}

impl Privilege {
    /// The privilege as InfluxDB's bit set (READ = 1, WRITE = 2), so that
    /// REVOKE can clear bits: REVOKE READ from ALL leaves WRITE.
    pub fn bits(self) -> u8 {
        match self {
            Privilege::NoPrivileges => 0,
            Privilege::Read => 1,
            Privilege::Write => 2,
            Privilege::All => 3,
        }
    }

    /// The privilege of a bit set (see [`Privilege::bits`]).
    pub fn from_bits(bits: u8) -> Privilege {
        match bits & 3 {
            1 => Privilege::Read,
            2 => Privilege::Write,
            3 => Privilege::All,
            _ => Privilege::NoPrivileges,
        }
    }

    /// As SHOW GRANTS prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Read => "READ",
            Privilege::Write => "WRITE",
            Privilege::All => "ALL PRIVILEGES",
            Privilege::NoPrivileges => "NO PRIVILEGES",
        }
    }
}

/// A continuous query, stored as its `CREATE CONTINUOUS QUERY` text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinuousQuery {
    /// Name.
    pub name: String,
    /// The full statement.
    pub query: String,
    /// The user who created it (with authentication on): each run is
    /// allowed only what that user may still do. `None`: created without
    /// authentication (or before creators were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// InfluxDB's shard-group duration for a retention policy duration: less than
/// two days → 1h, less than 180 days → 1d, longer or infinite → 7d.
pub fn default_shard_group_duration(retention_ns: u64) -> u64 {
    match retention_ns {
        0 => 7 * DAY_NS,
        d if d < 2 * DAY_NS => HOUR_NS,
        d if d < 180 * DAY_NS => DAY_NS,
        _ => 7 * DAY_NS,
    }
}

/// Seconds from Go's zero time (0001-01-01T00:00:00Z) to the Unix epoch.
const GO_ZERO_TO_UNIX_SECS: i128 = 62_135_596_800;

/// The `[start, end)` bounds of the shard group holding `timestamp_ns`.
///
/// InfluxDB uses Go's `time.Truncate`, which aligns to Go's zero time rather
/// than the Unix epoch: the same for 1h and 1d, but 7-day groups start on
/// Mondays. We align the same way so `SHOW SHARDS` matches InfluxDB. Bounds
/// are clamped to the `i64` range.
pub fn shard_group_bounds(timestamp_ns: i64, duration_ns: u64) -> (i64, i64) {
    let d = i128::from(duration_ns.max(1));
    let abs = i128::from(timestamp_ns) + GO_ZERO_TO_UNIX_SECS * 1_000_000_000;
    let start = i128::from(timestamp_ns) - abs.rem_euclid(d);
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    (clamp(start), clamp(start + d))
}

impl MetaData {
    /// The type field `field` of `measurement` has in group `group`, if
    /// any point set it yet.
    pub fn field_type(
        &self,
        group: ShardGroupId,
        measurement: &str,
        field: &str,
    ) -> Option<crate::FieldType> {
        self.field_types
            .get(&group)?
            .get(measurement)?
            .get(field)
            .copied()
    }

    /// A database by name.
    pub fn database(&self, name: &str) -> Option<&Database> {
        self.databases.get(name)
    }

    /// A retention policy; `rp` `None` or empty means the database's default.
    pub fn retention_policy(&self, db: &str, rp: Option<&str>) -> Option<&RetentionPolicy> {
        let database = self.database(db)?;
        let name = match rp {
            Some(rp) if !rp.is_empty() => rp,
            _ => database.default_retention_policy.as_deref()?,
        };
        database.retention_policies.get(name)
    }

    /// Every live shard group (not deleted) of every database.
    pub fn shard_groups(&self) -> impl Iterator<Item = &ShardGroup> {
        self.databases
            .values()
            .flat_map(|db| db.retention_policies.values())
            .flat_map(|rp| rp.shard_groups.values())
            .filter(|g| g.deleted_at_ns.is_none())
    }

    /// Every deleted shard group still in the meta data: expired ones
    /// (left in their retention policy) and those of dropped databases and
    /// retention policies.
    pub fn deleted_shard_groups(&self) -> impl Iterator<Item = &ShardGroup> {
        self.databases
            .values()
            .flat_map(|db| db.retention_policies.values())
            .flat_map(|rp| rp.shard_groups.values())
            .chain(self.dropped_shard_groups.values())
            .filter(|g| g.deleted_at_ns.is_some())
    }

    /// A shard group by id, deleted or not.
    pub fn shard_group(&self, id: ShardGroupId) -> Option<&ShardGroup> {
        self.databases
            .values()
            .flat_map(|db| db.retention_policies.values())
            .find_map(|rp| rp.shard_groups.get(&id))
    }

    /// The live shards `node` owns, with their groups.
    pub fn shards_owned_by(&self, node: NodeId) -> impl Iterator<Item = (&ShardGroup, &Shard)> {
        self.shard_groups().flat_map(move |g| {
            g.shards
                .iter()
                .filter(move |s| s.owners.contains(&node))
                .map(move |s| (g, s))
        })
    }

    /// Data nodes currently counted as alive.
    pub fn alive_data_nodes(&self) -> impl Iterator<Item = &DataNode> {
        self.data_nodes
            .values()
            .filter(|n| n.state == NodeState::Alive)
    }
}

impl RetentionPolicy {
    /// The group new points at `timestamp_ns` are written to, as InfluxDB's
    /// `ShardGroupByTimestamp`: containing it, not deleted, and not truncated
    /// before it.
    pub fn shard_group_for(&self, timestamp_ns: i64) -> Option<&ShardGroup> {
        self.shard_groups.values().find(|g| g.accepts(timestamp_ns))
    }

    /// Live groups overlapping the inclusive range `[min_ns, max_ns]`, in id order.
    pub fn shard_groups_overlapping(
        &self,
        min_ns: i64,
        max_ns: i64,
    ) -> impl Iterator<Item = &ShardGroup> {
        self.shard_groups
            .values()
            .filter(move |g| g.deleted_at_ns.is_none() && g.overlaps(min_ns, max_ns))
    }

    /// Whether a point at `timestamp_ns` is inside the retention window at
    /// `now_ns` (InfluxDB rejects older ones as "points beyond retention policy").
    pub fn retains(&self, timestamp_ns: i64, now_ns: i64) -> bool {
        self.duration_ns == 0
            || i128::from(timestamp_ns) >= i128::from(now_ns) - i128::from(self.duration_ns)
    }
}

impl ShardGroup {
    /// Whether new points at `timestamp_ns` belong to this group.
    pub fn accepts(&self, timestamp_ns: i64) -> bool {
        self.deleted_at_ns.is_none()
            && self.start_ns <= timestamp_ns
            && timestamp_ns < self.end_ns
            && self.truncated_at_ns.is_none_or(|t| timestamp_ns < t)
    }

    /// Whether the group's time range meets the inclusive range `[min_ns, max_ns]`.
    pub fn overlaps(&self, min_ns: i64, max_ns: i64) -> bool {
        self.start_ns <= max_ns && min_ns < self.end_ns
    }

    /// The shard that holds `series_key` (see [`crate::shard_index`]).
    pub fn shard_for(&self, series_key: &str) -> &Shard {
        let count = u32::try_from(self.shards.len()).expect("shard count fits u32");
        &self.shards[crate::shard_index(series_key, count) as usize]
    }

    /// Whether retention has expired the group at `now_ns`.
    pub fn expired(&self, retention_ns: u64, now_ns: i64) -> bool {
        retention_ns != 0 && i128::from(self.end_ns) < i128::from(now_ns) - i128::from(retention_ns)
    }
}

impl User {
    /// Whether the user may query `db`.
    pub fn can_read(&self, db: &str) -> bool {
        self.admin
            || matches!(
                self.privileges.get(db),
                Some(Privilege::Read | Privilege::All)
            )
    }

    /// Whether the user may write to `db`.
    pub fn can_write(&self, db: &str) -> bool {
        self.admin
            || matches!(
                self.privileges.get(db),
                Some(Privilege::Write | Privilege::All)
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn default_durations_follow_influxdb() {
        assert_eq!(default_shard_group_duration(0), 7 * DAY_NS);
        assert_eq!(default_shard_group_duration(HOUR_NS), HOUR_NS);
        assert_eq!(default_shard_group_duration(2 * DAY_NS - 1), HOUR_NS);
        assert_eq!(default_shard_group_duration(2 * DAY_NS), DAY_NS);
        assert_eq!(default_shard_group_duration(30 * DAY_NS), DAY_NS);
        assert_eq!(default_shard_group_duration(180 * DAY_NS), 7 * DAY_NS);
    }

    #[test]
    fn bounds_align_like_go_truncate() {
        // 2016-01-01T00:00:00Z was a Friday; the 7-day group starts Monday
        // 2015-12-28, as InfluxDB's SHOW SHARDS shows.
        let ts = 1_451_606_400 * SEC;
        assert_eq!(
            shard_group_bounds(ts, 7 * DAY_NS),
            (1_451_260_800 * SEC, 1_451_865_600 * SEC)
        );
        assert_eq!(shard_group_bounds(ts + 1, HOUR_NS), (ts, ts + 3_600 * SEC));
        assert_eq!(shard_group_bounds(ts - 1, DAY_NS), (ts - 86_400 * SEC, ts));
        // Before the epoch, still aligned down.
        assert_eq!(shard_group_bounds(-1, HOUR_NS), (-3_600 * SEC, 0));
        // Extreme timestamps clamp instead of overflowing.
        let (start, end) = shard_group_bounds(i64::MAX, 7 * DAY_NS);
        assert_eq!(end, i64::MAX);
        assert!(start < end && end - start <= (7 * DAY_NS) as i64);
    }

    fn group(id: u64, start: i64, end: i64) -> ShardGroup {
        ShardGroup {
            id,
            database: "db".into(),
            retention_policy: "rp".into(),
            start_ns: start,
            end_ns: end,
            truncated_at_ns: None,
            deleted_at_ns: None,
            topic: format!("sluice.shardgroup.{id}"),
            shards: vec![
                Shard {
                    id: 10,
                    index: 0,
                    owners: vec![1, 2],
                },
                Shard {
                    id: 11,
                    index: 1,
                    owners: vec![2, 3],
                },
            ],
        }
    }

    #[test]
    fn truncated_groups_stop_accepting_at_truncation() {
        let mut g = group(1, 0, 100);
        assert!(g.accepts(50));
        g.truncated_at_ns = Some(40);
        assert!(g.accepts(39) && !g.accepts(40));
        assert!(g.overlaps(60, 70), "queries still read the whole range");
        g.deleted_at_ns = Some(1);
        assert!(!g.accepts(10));
    }

    #[test]
    fn lookups() {
        let mut rp = RetentionPolicy {
            name: "rp".into(),
            duration_ns: 0,
            shard_group_duration_ns: 100,
            replication_factor: 2,
            shard_count: None,
            log_retention_ns: None,
            shard_groups: BTreeMap::new(),
        };
        rp.shard_groups.insert(1, group(1, 0, 100));
        rp.shard_groups.insert(2, group(2, 100, 200));
        assert_eq!(rp.shard_group_for(150).map(|g| g.id), Some(2));
        assert_eq!(rp.shard_group_for(250).map(|g| g.id), None);
        let ids: Vec<_> = rp.shard_groups_overlapping(99, 100).map(|g| g.id).collect();
        assert_eq!(ids, vec![1, 2]);

        let mut md = MetaData::default();
        md.databases.insert(
            "db".into(),
            Database {
                name: "db".into(),
                default_retention_policy: Some("rp".into()),
                retention_policies: [("rp".to_string(), rp)].into(),
                continuous_queries: BTreeMap::new(),
            },
        );
        assert!(md.retention_policy("db", None).is_some());
        assert!(md.retention_policy("db", Some("")).is_some());
        assert!(md.retention_policy("db", Some("nope")).is_none());
        let owned: Vec<_> = md.shards_owned_by(3).map(|(g, s)| (g.id, s.id)).collect();
        assert_eq!(owned, vec![(1, 11), (2, 11)]);

        let g = md.shard_group(1).unwrap();
        let key = "cpu,host=a,region=b";
        assert_eq!(g.shard_for(key).index, crate::shard_index(key, 2));
    }

    #[test]
    fn retention_window() {
        let rp = RetentionPolicy {
            name: "rp".into(),
            duration_ns: HOUR_NS,
            shard_group_duration_ns: HOUR_NS,
            replication_factor: 1,
            shard_count: None,
            log_retention_ns: None,
            shard_groups: BTreeMap::new(),
        };
        let now = 10 * HOUR_NS as i64;
        assert!(rp.retains(now - HOUR_NS as i64, now));
        assert!(!rp.retains(now - HOUR_NS as i64 - 1, now));
        assert!(group(1, 0, HOUR_NS as i64).expired(HOUR_NS, now));
    }

    #[test]
    fn privileges() {
        let mut u = User {
            name: "u".into(),
            password_hash: String::new(),
            admin: false,
            privileges: BTreeMap::new(),
        };
        u.privileges.insert("a".into(), Privilege::Read);
        u.privileges.insert("b".into(), Privilege::Write);
        u.privileges.insert("c".into(), Privilege::All);
        assert!(u.can_read("a") && !u.can_write("a"));
        assert!(!u.can_read("b") && u.can_write("b"));
        assert!(u.can_read("c") && u.can_write("c"));
        assert!(!u.can_read("d"));
        u.admin = true;
        assert!(u.can_read("d") && u.can_write("d"));
    }

    #[test]
    fn serde_tolerates_keys_from_newer_versions() {
        // During a rolling upgrade an older node reads a newer metad's
        // snapshot, so unknown keys are ignored rather than rejected.
        let md = MetaData::default();
        let json = serde_json::to_string(&md).unwrap();
        assert_eq!(serde_json::from_str::<MetaData>(&json).unwrap(), md);
        let newer = json.replacen('{', "{\"added_later\":1,", 1);
        assert_eq!(serde_json::from_str::<MetaData>(&newer).unwrap(), md);
    }
}

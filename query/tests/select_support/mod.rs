//! Test context for the SELECT engine: real `storage::Shard`s in temp
//! dirs, loaded from line protocol through the real ingest router, served
//! through shardd's `LocalShards` and (for peers) its real shard-read route on a
//! loopback port.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use schemas::meta::{
    DataNode, Database, MetaData, NodeId, NodeState, RetentionPolicy, Shard as MetaShard,
    ShardGroup,
};
use schemas::LogRecord;
use shardd::queries::cluster::{Cluster, ClusterOptions, StaticShards};
use storage::{NodeBudget, Shard, ShardOptions, Store};
use tokio::sync::watch;

/// A data set loaded into the shards of a simulated cluster.
pub struct Loaded {
    pub dir: tempfile::TempDir,
    pub md: MetaData,
    /// Shards by (node, shard id).
    pub nodes: BTreeMap<NodeId, Arc<StaticShards>>,
}

/// Loads `lp` into `db`.`autogen` with `shard_count` shards per group, each
/// shard owned by the nodes `owners(shard_index)`; every owner gets its own
/// replica (its own RocksDB directory).
pub fn load(
    lp: &str,
    db: &str,
    group_ns: u64,
    shard_count: u32,
    owners: impl Fn(u32) -> Vec<NodeId>,
) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    let batch = line_protocol::parse_batch(lp, line_protocol::Precision::Nanoseconds, 0);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors.first());
    let mut rp = RetentionPolicy {
        name: "autogen".into(),
        duration_ns: 0,
        shard_group_duration_ns: group_ns,
        replication_factor: 1,
        shard_count: Some(shard_count),
        log_retention_ns: None,
        shard_groups: BTreeMap::new(),
    };
    let mut next_shard = 1;
    let ts = {
        let groups: Vec<&ShardGroup> = Vec::new();
        ingest::route::timestamps_needing_groups(&rp, &groups, &batch.points, 0)
    };
    for (gid, t) in ts.into_iter().enumerate() {
        let gid = gid as u64 + 1;
        let (start, end) = schemas::meta::shard_group_bounds(t, group_ns);
        let shards = (0..shard_count)
            .map(|i| {
                let s = MetaShard {
                    id: next_shard,
                    index: i,
                    owners: owners(i),
                };
                next_shard += 1;
                s
            })
            .collect();
        rp.shard_groups.insert(
            gid,
            ShardGroup {
                id: gid,
                database: db.into(),
                retention_policy: "autogen".into(),
                start_ns: start,
                end_ns: end,
                truncated_at_ns: None,
                deleted_at_ns: None,
                topic: format!("t.shardgroup.{gid}"),
                shards,
            },
        );
    }
    let groups: Vec<&ShardGroup> = rp.shard_groups.values().collect();
    let (md, known) = (Default::default(), ingest::route::FieldTypes::default());
    let routed = ingest::route::route(db, &rp, &groups, batch.points, 0, &md, &known);
    assert!(routed.rejected.is_empty(), "{:?}", routed.rejected.first());
    let budget = NodeBudget {
        block_cache_bytes: 16 << 20,
        write_buffer_bytes: 64 << 20,
    };
    let mut stores: BTreeMap<NodeId, Store> = BTreeMap::new();
    let mut store = |node: NodeId| {
        stores
            .entry(node)
            .or_insert_with(|| Store::open(dir.path().join(format!("n{node}")), budget).unwrap())
            .clone()
    };
    let mut nodes: BTreeMap<NodeId, Arc<StaticShards>> = BTreeMap::new();
    let mut offsets: BTreeMap<(NodeId, u64), i64> = BTreeMap::new();
    let mut opened: BTreeMap<(NodeId, u64), Arc<Shard>> = BTreeMap::new();
    for b in routed.batches {
        let g = groups
            .iter()
            .find(|g| g.topic == b.topic)
            .expect("routed to a known group");
        let shard = &g.shards[b.partition as usize];
        for &node in &shard.owners {
            let s = opened.entry((node, shard.id)).or_insert_with(|| {
                Arc::new(
                    store(node)
                        .shard(shard.id, &ShardOptions::default())
                        .unwrap(),
                )
            });
            let off = offsets.entry((node, shard.id)).or_insert(0);
            s.apply(*off, &LogRecord::Points(b.batch.clone())).unwrap();
            *off += 1;
        }
    }
    // Owners hold every shard of their groups, data or not.
    for g in &groups {
        for shard in &g.shards {
            for &node in &shard.owners {
                opened.entry((node, shard.id)).or_insert_with(|| {
                    Arc::new(
                        store(node)
                            .shard(shard.id, &ShardOptions::default())
                            .unwrap(),
                    )
                });
            }
        }
    }
    for ((node, id), s) in opened {
        nodes
            .entry(node)
            .or_insert_with(|| Arc::new(StaticShards::new()))
            .insert(id, s);
    }
    let mut md = MetaData::default();
    md.databases.insert(
        db.into(),
        Database {
            name: db.into(),
            default_retention_policy: Some("autogen".into()),
            retention_policies: [("autogen".to_string(), rp)].into(),
            continuous_queries: BTreeMap::new(),
        },
    );
    Loaded { dir, md, nodes }
}

impl Loaded {
    /// Registers data nodes with internal addresses.
    pub fn with_nodes(mut self, addrs: &[(NodeId, String)]) -> Self {
        for (id, addr) in addrs {
            self.md.data_nodes.insert(
                *id,
                DataNode {
                    id: *id,
                    http_addr: String::new(),
                    internal_addr: addr.clone(),
                    state: NodeState::Alive,
                },
            );
        }
        self
    }

    /// The cluster view of `node`.
    pub fn cluster(&self, node: NodeId) -> Cluster {
        let local = self
            .nodes
            .get(&node)
            .cloned()
            .unwrap_or_else(|| Arc::new(StaticShards::new()));
        let (_tx, rx) = watch::channel(Arc::new(self.md.clone()));
        // The receiver keeps the last value after the sender is gone.
        let options = ClusterOptions {
            remote_timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        };
        Cluster::new(node, rx, None, local, None, None, options)
    }
}

/// Serves `node`'s shards on the internal routes on a loopback port; returns
/// its address.
pub async fn serve(shards: Arc<StaticShards>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = shardd::api::guard_internal(shardd::queries::shard_api::routes(shards), None);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// A loopback address nothing listens on.
pub fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Runs one SELECT.
pub async fn run(
    cluster: &Cluster,
    db: &str,
    q: &str,
) -> Result<Vec<query::result::Series>, String> {
    let stmt = influxql::parse_statement(q).map_err(|e| e.to_string())?;
    let influxql::Statement::Select(sel) = stmt else {
        return Err("not a select".into());
    };
    let ctx = query::select::QueryContext::new(Some(db.into()), 1_700_000_000_000_000_000);
    query::select::select(cluster, &ctx, &sel)
        .await
        .map_err(|e| e.to_string())
}

/// The JSON InfluxDB would answer for one statement's series.
pub fn to_json(series: &[query::result::Series]) -> serde_json::Value {
    let r = query::result::StatementResult {
        statement_id: 0,
        series: series.to_vec(),
        ..Default::default()
    };
    let mut out = String::new();
    query::format::write_json_response(&mut out, &[r], Default::default());
    serde_json::from_str(&out).unwrap()
}

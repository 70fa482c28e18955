//! InfluxQL on a data node: the `query` crate's `/query` on the public port
//! and its shard-read routes on the internal port, reading this node's
//! replicas through [`Node`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use query::cluster::{Cluster, ClusterOptions, LocalShards, WaitError, WatermarkError, Watermarks};
use query::cq::ContinuousQueries;
use query::http::QueryApi;
use query::statements::{Engine, Executor};
use query::tombstone::TombstoneWriter;
use schemas::node_api::ReplicaState;

use crate::node::{Extensions, Node};

/// This node's replicas as the query engine sees them: healthy ones answer;
/// a read-your-writes query, which waits on the consumer first, may also
/// read one still catching up.
struct NodeShards(Arc<Node>);

impl LocalShards for NodeShards {
    fn shard(&self, shard_id: u64) -> Option<Arc<storage::Shard>> {
        self.0
            .shard(shard_id)
            .filter(|(_, state)| state.is_queryable())
            .map(|(s, _)| s)
    }

    fn shard_for_wait(&self, shard_id: u64) -> Option<Arc<storage::Shard>> {
        self.0
            .shard(shard_id)
            .filter(|(_, state)| !matches!(state, ReplicaState::Failed { .. }))
            .map(|(s, _)| s)
    }

    fn wait_applied(
        &self,
        shard_id: u64,
        next_offset: i64,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<(), WaitError>> {
        Box::pin(async move {
            let waited = if next_offset <= 0 {
                // Nothing to apply; the replica only has to be open.
                self.0.wait_for_replica(shard_id, timeout).await.map(drop)
            } else {
                self.0
                    .wait_for_offset(shard_id, next_offset - 1, timeout)
                    .await
            };
            waited.map_err(|_| WaitError::Timeout {
                shard_id,
                offset: next_offset,
                applied: self.0.shard(shard_id).and_then(|(s, _)| s.applied_offset()),
            })
        })
    }
}

/// High watermarks through the node's own watermark client.
struct NodeWatermarks(Arc<Node>);

impl Watermarks for NodeWatermarks {
    fn high_watermark(
        &self,
        topic: &str,
        partition: i32,
    ) -> BoxFuture<'_, Result<i64, WatermarkError>> {
        let topic = topic.to_owned();
        Box::pin(async move {
            self.0
                .fetch_watermarks(&topic, partition)
                .await
                .map(|(_, high)| high)
                .map_err(|e| WatermarkError::from_kafka(topic, partition, &e))
        })
    }
}

/// The SELECT engine over the node's view of the cluster; `SELECT ... INTO`
/// writes through the node's write path.
fn engine_of(node: &Arc<Node>) -> Arc<Engine> {
    let cluster = Arc::new(Cluster::new(
        node.id(),
        node.follower().subscribe(),
        Some(Arc::clone(node.meta_client())),
        Arc::new(NodeShards(Arc::clone(node))),
        Some(Arc::new(NodeWatermarks(Arc::clone(node)))),
        node.config().metad.shared_secret.clone(),
        ClusterOptions::default(),
    ));
    Arc::new(Engine::new(cluster, Some(Arc::clone(node.write_service()))))
}

/// The query engine's routes and continuous queries for [`Node::start_with`].
pub fn query_extensions() -> Extensions {
    // `/query` and the continuous queries share one engine, so one cluster
    // view (replica status cache, HTTP client) per node; whichever hook runs
    // first builds it.
    let shared: Arc<OnceLock<Arc<Engine>>> = Arc::default();
    let for_task = Arc::clone(&shared);
    Extensions {
        public_routes: Some(Box::new(move |node: &Arc<Node>| {
            let engine = Arc::clone(shared.get_or_init(|| engine_of(node)));
            let tombstones = TombstoneWriter::new(Arc::clone(node.write_service().producer()));
            let executor = Arc::new(Executor::new(
                Arc::clone(engine.cluster()),
                Arc::clone(node.meta_client()),
                engine,
                Some(Arc::new(tombstones)),
            ));
            query::http::routes(Arc::new(QueryApi {
                executor,
                config: node.api_config().clone(),
                auth: Arc::clone(node.authenticator()),
            }))
        })),
        // Behind the node's shared-secret check already.
        internal_routes: Some(Box::new(|node: &Arc<Node>| {
            query::shard_api::routes(Arc::new(NodeShards(Arc::clone(node))), None)
        })),
        task: Some(Box::new(
            move |node: &Arc<Node>, shutdown| -> BoxFuture<'static, ()> {
                let engine = for_task.get_or_init(|| engine_of(node));
                Box::pin(ContinuousQueries::new(Arc::clone(engine)).run(shutdown))
            },
        )),
    }
}

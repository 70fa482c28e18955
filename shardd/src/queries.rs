//! InfluxQL on a data node: the `query` crate's `/query` on the public port
//! and its shard-read routes on the internal port, reading this node's
//! replicas through [`Node`].

use std::sync::Arc;
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

/// The node's view of the cluster for the query engine.
fn cluster_of(node: &Arc<Node>) -> Arc<Cluster> {
    Arc::new(Cluster::new(
        node.id(),
        node.follower().subscribe(),
        Some(Arc::clone(node.meta_client())),
        Arc::new(NodeShards(Arc::clone(node))),
        Some(Arc::new(NodeWatermarks(Arc::clone(node)))),
        node.config().metad.shared_secret.clone(),
        ClusterOptions::default(),
    ))
}

/// The SELECT engine; `SELECT ... INTO` writes through the node's write path.
fn engine_of(node: &Arc<Node>, cluster: Arc<Cluster>) -> Arc<Engine> {
    Arc::new(Engine::new(cluster, Some(Arc::clone(node.write_service()))))
}

/// The query engine's routes and continuous queries for [`Node::start_with`].
pub fn query_extensions() -> Extensions {
    Extensions {
        public_routes: Some(Box::new(|node: &Arc<Node>| {
            let cluster = cluster_of(node);
            let tombstones = TombstoneWriter::new(Arc::clone(node.write_service().producer()));
            let executor = Arc::new(Executor::new(
                Arc::clone(&cluster),
                Arc::clone(node.meta_client()),
                engine_of(node, cluster),
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
            |node: &Arc<Node>, shutdown| -> BoxFuture<'static, ()> {
                let cqs = ContinuousQueries::new(engine_of(node, cluster_of(node)));
                Box::pin(cqs.run(shutdown))
            },
        )),
    }
}

//! InfluxQL on a data node: `/query` on the public port, the shard-read
//! route on the internal port and the continuous queries, over the `query`
//! engine reading this node's replicas through [`Node`] and its peers'
//! through `node_client`.
//!
//! ```text
//!  /query (http.rs) ─▶ statements::Executor ─┬─▶ Engine ─▶ query::select / query::show
//!                                            │     │ ShardReader = cluster::Cluster
//!                                            │     │   ├─ local replica (LocalShards = Node)
//!                                            │     │   └─ peer: POST /internal/v1/shard ─▶ its shard_api.rs
//!                                            │     └─ SELECT … INTO ─▶ into.rs ─▶ the node's write path
//!                                            ├─▶ metad (meta statements, through meta_client)
//!                                            └─▶ tombstone.rs (DELETE / DROP: records in the log)
//!  cq.rs: continuous queries on the lowest alive node, through the same Engine
//! ```

pub mod cluster;
pub mod cq;
pub mod http;
pub mod into;
pub mod shard_api;
pub mod statements;
pub mod tombstone;
pub mod tracker;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use query::BoxFuture;
use schemas::node_api::ReplicaState;

use crate::node::Node;
use crate::replica::WaitError;
use cluster::{Cluster, ClusterOptions, LocalShards};
use statements::{Engine, Executor};
use tombstone::TombstoneWriter;

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
            if next_offset <= 0 {
                // Nothing to apply; the replica only has to be open.
                self.0.wait_for_replica(shard_id, timeout).await.map(drop)
            } else {
                self.0
                    .wait_for_offset(shard_id, next_offset - 1, timeout)
                    .await
            }
        })
    }
}

/// The query engine of `node`, over its view of the cluster; `/query` and
/// the continuous queries share it (one replica-status cache, one
/// connection pool to the peers).
pub(crate) fn engine(node: &Arc<Node>) -> Arc<Engine> {
    let cluster = Arc::new(Cluster::new(
        node.id(),
        node.follower().subscribe(),
        Some(Arc::clone(node.meta_client())),
        Arc::new(NodeShards(Arc::clone(node))),
        Some(node.watermarks().clone()),
        node.config().metad.shared_secret.clone(),
        ClusterOptions {
            hedge_after: node.config().hedge_after,
            ..ClusterOptions::default()
        },
    ));
    Arc::new(Engine::new(cluster, Some(Arc::clone(node.write_service()))))
}

/// `/query` over `engine`.
pub(crate) fn public_routes(
    node: &Arc<Node>,
    engine: Arc<Engine>,
    tracker: Arc<tracker::QueryTracker>,
) -> Router {
    let tombstones = TombstoneWriter::new(Arc::clone(node.write_service().producer()));
    let executor = Arc::new(Executor::new(
        Arc::clone(node.meta_client()),
        engine,
        Some(Arc::new(tombstones)),
        tracker,
    ));
    http::routes(Arc::new(http::QueryApi {
        executor,
        config: node.api_config().clone(),
        auth: Arc::clone(node.authenticator()),
    }))
}

/// The shard-read route over this node's replicas and the routes of its
/// running queries (mount them behind the shared-secret check).
pub(crate) fn internal_routes(node: &Arc<Node>, tracker: Arc<tracker::QueryTracker>) -> Router {
    shard_api::routes(Arc::new(NodeShards(Arc::clone(node)))).merge(tracker::routes(tracker))
}

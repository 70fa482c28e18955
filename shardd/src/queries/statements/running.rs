//! `SHOW QUERIES` and `KILL QUERY`: the queries of every data node, each
//! tracked by the node coordinating it (see [`crate::queries::tracker`]).

use influxql::ast::KillQueryStatement;
use query::result::{Cell, Series};
use schemas::meta::{DataNode, MetaData, NodeState};
use schemas::node_api::RunningQuery;

use super::super::tracker::format_duration;
use super::Executor;

/// How long `SHOW QUERIES` waits for a peer's list: a frozen node must not
/// hold up the one command that shows what is stuck.
const PEER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Executor {
    /// The alive data nodes but this one, with their public address.
    fn peers<'a>(&self, md: &'a MetaData) -> impl Iterator<Item = &'a DataNode> {
        let me = self.cluster().node_id();
        md.data_nodes
            .values()
            .filter(move |n| n.id != me && n.state == NodeState::Alive)
    }

    /// This node's public address as metad has it (`KILL QUERY ... ON`).
    fn public_addr(&self, md: &MetaData) -> Option<String> {
        md.data_nodes
            .get(&self.cluster().node_id())
            .map(|n| n.http_addr.clone())
    }

    /// InfluxDB's columns, then the `host` whose query it is (the
    /// node's public address, as `KILL QUERY id ON host` takes it). A peer
    /// that does not answer is left out.
    pub(super) async fn show_queries(&self, md: &MetaData) -> Series {
        let mut rows: Vec<(String, RunningQuery)> = self
            .tracker
            .list()
            .into_iter()
            .map(|q| (self.public_addr(md).unwrap_or_default(), q))
            .collect();
        let calls = self.peers(md).map(|n| async move {
            let call = self.cluster().peers().queries(&n.internal_addr);
            let got = match tokio::time::timeout(PEER_WAIT, call).await {
                Ok(Ok(list)) => list,
                Ok(Err(e)) => {
                    tracing::warn!(node_id = n.id, error = %e, "SHOW QUERIES: a data node failed");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!(node_id = n.id, "SHOW QUERIES: a data node did not answer");
                    Vec::new()
                }
            };
            (n.http_addr.clone(), got)
        });
        for (host, list) in futures::future::join_all(calls).await {
            rows.extend(list.into_iter().map(|q| (host.clone(), q)));
        }
        Series {
            columns: ["qid", "query", "database", "duration", "status", "host"]
                .map(String::from)
                .to_vec(),
            values: rows
                .into_iter()
                .map(|(host, q)| {
                    vec![
                        Cell::Unsigned(q.qid),
                        Cell::String(q.query),
                        Cell::String(q.database),
                        Cell::String(format_duration(q.duration_ms)),
                        Cell::String(q.status),
                        Cell::String(host),
                    ]
                })
                .collect(),
            ..Series::default()
        }
    }

    /// Stops a query of this node, or with `ON host` of the node at that
    /// public address.
    pub(super) async fn kill_query(
        &self,
        md: &MetaData,
        k: &KillQueryStatement,
    ) -> Result<(), String> {
        let Some(host) = k
            .host
            .as_deref()
            .filter(|h| Some(*h) != self.public_addr(md).as_deref())
        else {
            return self.tracker.kill(k.query_id);
        };
        let node = self
            .peers(md)
            .find(|n| n.http_addr == host)
            .ok_or_else(|| format!("no data node at {host}"))?;
        self.cluster()
            .peers()
            .kill_query(&node.internal_addr, k.query_id)
            .await
            .map_err(|e| match e {
                node_client::Error::Status { message, .. } => message,
                other => other.to_string(),
            })
    }
}

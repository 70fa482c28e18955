//! Raft RPCs to peer metad nodes: JSON over HTTP POST to `/raft/append`,
//! `/raft/vote` and `/raft/snapshot` (chunked install-snapshot), carrying the
//! shared secret. The peer answers with the JSON of openraft's own `Result`.

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use schemas::meta_api::paths;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{MetaNodeId, TypeConfig};

/// Why a raft RPC failed on the way (the peer's own refusals are `RemoteError`s).
#[derive(Debug, thiserror::Error)]
pub enum RpcFailure {
    /// The HTTP exchange failed.
    #[error("raft rpc to {addr} failed: {source}")]
    Http {
        /// Peer address.
        addr: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// The peer answered with an HTTP error (e.g. 401: secrets differ).
    #[error("raft rpc to {addr} answered {status}: {body}")]
    Status {
        /// Peer address.
        addr: String,
        /// HTTP status.
        status: u16,
        /// Body text.
        body: String,
    },
}

/// Makes a connection per peer; all share one HTTP client.
#[derive(Clone)]
pub struct Network {
    http: reqwest::Client,
    secret: Option<String>,
}

impl Network {
    /// A network authenticating with `secret` when set.
    pub fn new(http: reqwest::Client, secret: Option<String>) -> Self {
        Self { http, secret }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: MetaNodeId, node: &BasicNode) -> Connection {
        Connection {
            http: self.http.clone(),
            secret: self.secret.clone(),
            addr: node.addr.clone(),
            target,
        }
    }
}

/// RPCs to one peer.
pub struct Connection {
    http: reqwest::Client,
    secret: Option<String>,
    addr: String,
    target: MetaNodeId,
}

impl Connection {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<MetaNodeId, BasicNode, RaftError<MetaNodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let url = format!("http://{}{}", self.addr, path);
        let mut request = self.http.post(url).json(req).timeout(option.hard_ttl());
        if let Some(secret) = &self.secret {
            request = request.bearer_auth(secret);
        }
        let http_err = |source: reqwest::Error| RpcFailure::Http {
            addr: self.addr.clone(),
            source,
        };
        let response = request.send().await.map_err(|e| {
            // A peer that is down is "unreachable": openraft backs off
            // instead of hammering it.
            if e.is_connect() {
                RPCError::Unreachable(Unreachable::new(&http_err(e)))
            } else {
                RPCError::Network(NetworkError::new(&http_err(e)))
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(RPCError::Network(NetworkError::new(&RpcFailure::Status {
                addr: self.addr.clone(),
                status: status.as_u16(),
                body,
            })));
        }
        let result: Result<Resp, RaftError<MetaNodeId, E>> = response
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&http_err(e))))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<MetaNodeId>,
        RPCError<MetaNodeId, BasicNode, RaftError<MetaNodeId>>,
    > {
        self.call(paths::RAFT_APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<MetaNodeId>,
        RPCError<MetaNodeId, BasicNode, RaftError<MetaNodeId, InstallSnapshotError>>,
    > {
        self.call(paths::RAFT_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<MetaNodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<MetaNodeId>, RPCError<MetaNodeId, BasicNode, RaftError<MetaNodeId>>>
    {
        self.call(paths::RAFT_VOTE, &rpc, &option).await
    }
}

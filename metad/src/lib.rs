//! # metad — Sluice's meta service
//!
//! An [openraft] cluster of 1 or 3 nodes holding the cluster's
//! [`MetaData`](schemas::meta::MetaData): data nodes, databases, retention
//! policies, shard groups and their owners, users, continuous queries.
//!
//! ```text
//!   ingest / shardd / sluice-ctl          (meta_client)
//!        │ POST /command, /heartbeat       │ GET /meta?since=V (long poll)
//!        ▼                                 ▼
//!   api (axum) ── follower? forward the request to the leader ──▶ leader's api
//!        │ stamp: now, alive data nodes, topic prefix   (node)
//!        ▼
//!   raft.client_write(MetaCommand) ── /raft/append,vote,snapshot ──▶ peers (network)
//!        │ committed
//!        ▼
//!   store::StateMachine::apply ── state::apply (pure rules)
//!        │ one synced RocksDB batch: meta data + last_applied (store)
//!        ▼
//!   watch channel ──▶ wakes every waiting GET /meta?since=V
//!
//!   leader only (node): data-node liveness from heartbeats,
//!                       retention (mark expired groups deleted)
//! ```
//!
//! - [`state`]: how each command changes the meta data; deterministic.
//! - [`store`]: raft log, vote and state machine in RocksDB.
//! - [`network`]: raft RPCs to peers over HTTP.
//! - [`node`]: a running meta node: raft, proposing, forwarding, leader loops.
//! - [`placement`]: where a leaving node's shards go.
//! - [`api`]: the HTTP API and its one error → status mapping.
//! - [`config`]: the node's settings and the TOML file format.
//!
//! Dependencies point down: `api → node → {store → state, network}`; all of
//! them speak the types of `schemas::meta_api`, which clients share.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
// openraft's `StorageError`/`RaftError` are large and fixed by its storage
// traits' signatures, so boxing them is not ours to choose.
#![allow(clippy::result_large_err)]

// used by the binaries (`metad`, `sluice-ctl`)
use anyhow as _;
use clap as _;
use futures as _;
use humantime as _;
use indicatif as _;
use node_client as _;
use settings as _;
use shutdown as _;

pub mod api;
pub mod config;
pub mod network;
pub mod node;
pub mod placement;
pub mod state;
pub mod store;

use std::io::Cursor;

use schemas::meta_api::{CommandError, CommandOutput, MetaCommand};

pub use config::NodeConfig;
pub use node::{MetaNode, RunError};

/// A metad node's raft id.
pub type MetaNodeId = u64;

/// What applying one log entry answers.
pub type Applied = Result<CommandOutput, CommandError>;

openraft::declare_raft_types!(
    /// openraft's type configuration for metad.
    pub TypeConfig:
        D = MetaCommand,
        R = Applied,
        NodeId = MetaNodeId,
        Node = openraft::BasicNode,
);

/// The raft handle of a meta node.
pub type Raft = openraft::Raft<TypeConfig>;

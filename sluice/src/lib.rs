//! # sluice — a whole cluster in one process
//!
//! [`cluster::ClusterSpec`] starts the broker (or uses given brokers), one
//! metad, N data nodes and optionally the ingest router, in one process:
//! the `sluice standalone` command runs it with the all-in-one's ports, and
//! the integration tests of `shardd`, `query` and `ingest` run it on free
//! ports, so a scenario can run against one node and against three.
//!
//! ```text
//!  ClusterSpec ──start──▶ broker (tansu child, or given brokers)
//!                         metad (1 voter, in-process) ── leader elected
//!                         data node 1..N (shardd::Node, in-process)
//!                         database (optional), ingest router (optional)
//!                ──▶ Cluster { brokers, meta, nodes, … } ──stop──▶ reverse order
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// used by the binary
use anyhow as _;
use clap as _;
use serde as _;
use shutdown as _;

pub mod cluster;

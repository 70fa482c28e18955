//! # shardd — the data node
//!
//! Consumes the partitions of the shards it owns into RocksDB (consume →
//! decode → apply → index) and coordinates InfluxQL queries (query → plan →
//! scan → merge). Built by the shardd and queries issues; until then this
//! crate only reserves its place in the workspace.

//! # metad — the meta service
//!
//! An openraft cluster (1 or 3 voters) holding the [`schemas::meta::MetaData`]:
//! data nodes, databases, retention policies, shard groups and their owners,
//! users and continuous queries. It publishes versioned snapshots through a
//! long-poll watch and creates shard groups on request. Built by the metad
//! issue; until then this crate only reserves its place in the workspace.

//! # itests — the cluster as containers
//!
//! testcontainers-based tests that start metad, shardd and a broker as
//! containers and kill, pause and disconnect them. Filled in once the
//! daemons exist.

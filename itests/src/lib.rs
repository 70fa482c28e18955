//! # itests — the cluster as containers
//!
//! Reserved for testcontainers tests that run tansu, metad, shardd and
//! ingest as separate containers on a private network and kill, pause,
//! disconnect, wipe and replace them. No test lives here yet: the images
//! (`docker/`) and the scenarios are still to be written, so today every
//! multi-node test runs the daemons as processes or in-process on one host
//! (`shardd/tests`, `query/tests`, `ingest/tests`).

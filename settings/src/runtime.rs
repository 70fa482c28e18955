//! The async runtime every daemon runs on.

/// Most threads the runtime starts for blocking work (shard reads of a
/// query, Kafka metadata calls), whatever the load: tokio's default of 512
/// would let one query over a thousand shards start hundreds of threads.
/// Calls beyond it queue for a free thread.
pub const MAX_BLOCKING_THREADS: usize = 32;

/// A multi-threaded tokio runtime (one worker per core) with a bounded
/// blocking pool ([`MAX_BLOCKING_THREADS`]). Every daemon's `main` runs
/// on one.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
}

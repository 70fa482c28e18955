//! The crate's error type: one variant per cause.

use std::path::PathBuf;

/// Why a stored block could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptReason {
    /// The bytes end inside a value.
    Truncated,
    /// A varint longer than 64 bits.
    Varint,
    /// An unknown field type code.
    Type,
    /// An unknown encoding marker.
    Encoding,
    /// A value count that disagrees with the data.
    Count,
    /// pco rejected its input.
    Pco,
    /// A string that is not UTF-8.
    Utf8,
    /// A dictionary index out of range.
    Dictionary,
    /// Bytes after the last value.
    TrailingBytes,
}

/// Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RocksDB failed (I/O, corruption it detected, a failed merge).
    #[error("rocksdb: {0}")]
    RocksDb(#[from] rocksdb::Error),
    /// A column family the store needs is missing (not a Sluice store?).
    #[error("column family {0:?} is missing from {1}")]
    MissingColumnFamily(&'static str, PathBuf),
    /// A record's offset is not after the applied offset. Never applied twice:
    /// the caller resumes from `applied + 1`.
    #[error("offset {offset} is not after the applied offset {applied}")]
    OffsetNotAfterApplied {
        /// The offset offered.
        offset: i64,
        /// The offset already applied.
        applied: i64,
    },
    /// A tombstone with a regular expression the `regex` crate rejects; the
    /// record is refused rather than skipped, so the shard reports it.
    #[error("invalid regular expression {pattern:?}: {source}")]
    InvalidRegex {
        /// The expression.
        pattern: String,
        /// Why it is invalid.
        source: Box<regex::Error>,
    },
    /// A stored block is corrupt.
    #[error("corrupt block: {0:?}")]
    CorruptBlock(CorruptReason),
    /// A stored index or meta entry is corrupt.
    #[error("corrupt index entry with key {0:02x?}")]
    CorruptIndex(Vec<u8>),
    /// pco refused to compress (never seen; pco accepts any numbers).
    #[error("pco compression failed: {0}")]
    Compress(pco::errors::PcoError),
    /// The shard is open: opened twice, or destroyed while open.
    #[error("shard {0} is open")]
    ShardOpen(u64),
    /// The store holds no shard with this id.
    #[error("no shard {0} in this store")]
    NoSuchShard(u64),
    /// A snapshot stream could not be written or was refused.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Reading the store directory failed (size on disk, destroy).
    #[error("i/o on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

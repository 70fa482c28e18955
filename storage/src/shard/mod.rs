//! One shard replica: a RocksDB instance with three column families, the
//! apply path (points and tombstones → one atomic `WriteBatch` with the
//! offset), the series index queries, scans and the digest.
//!
//! This module holds the [`Shard`] struct, its small accessors and the
//! helpers its parts share; each job of a shard has its own file:
//!
//! - `maintenance`: options and column families, open/destroy/close, the
//!   digest, compaction and sizes;
//! - `apply`: the apply path and the in-memory `Writer` state behind it;
//! - `index`: the series index queries (measurements, tags, fields, series);
//! - `scan`: block scans, first/last values and aligned rows;
//! - `merge`: the merge operator of the data column family.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use rocksdb::{ColumnFamily, ReadOptions, DB};
use schemas::FieldType;

use crate::codec::{type_code, type_from_code};
use crate::error::{Error, Result};

mod apply;
mod index;
mod maintenance;
mod merge;
mod scan;

pub use apply::ApplyStats;
use apply::Writer;
pub use index::{FieldInfo, SeriesEntry};
pub use maintenance::{dir_size, NodeBudget, ShardOptions, StorageResources, DEFAULT_WINDOW_NS};
pub use scan::{AlignedRows, AlignedScan, BlockScan};

const CF_DATA: &str = "data";
const CF_INDEX: &str = "index";
const CF_META: &str = "default";

/// A series' id within a shard, assigned in apply order (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u64);

/// A field's id within a shard, assigned in apply order (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u32);

/// A shard replica.
pub struct Shard {
    db: DB,
    path: PathBuf,
    window: i64,
    sync_writes: bool,
    writer: Mutex<Writer>,
    /// The applied offset for lock-free readers; `NO_OFFSET` = none.
    applied: AtomicI64,
}

const NO_OFFSET: i64 = i64::MIN;

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("path", &self.path)
            .field("applied_offset", &self.applied_offset())
            .finish_non_exhaustive()
    }
}

fn read_i64(v: &[u8], key: &[u8]) -> Result<i64> {
    Ok(i64::from_be_bytes(
        v.try_into()
            .map_err(|_| Error::CorruptIndex(key.to_vec()))?,
    ))
}

fn parse_field_value(key: &[u8], v: &[u8]) -> Result<(u32, FieldType)> {
    let bad = || Error::CorruptIndex(key.to_vec());
    if v.len() != 5 {
        return Err(bad());
    }
    let ft = type_from_code(v[0]).ok_or_else(bad)?;
    Ok((u32::from_be_bytes(v[1..5].try_into().expect("4 bytes")), ft))
}

fn field_value(fid: u32, ft: FieldType) -> [u8; 5] {
    let mut v = [0u8; 5];
    v[0] = type_code(ft);
    v[1..].copy_from_slice(&fid.to_be_bytes());
    v
}

/// Iterator read options bounded to `[lo, hi)`.
fn bounded(lo: Vec<u8>, hi: Option<Vec<u8>>) -> ReadOptions {
    let mut ro = ReadOptions::default();
    ro.set_iterate_lower_bound(lo);
    if let Some(hi) = hi {
        ro.set_iterate_upper_bound(hi);
    }
    ro
}

impl Shard {
    /// The directory of the shard.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The width of a block's time window (ns).
    pub fn window_ns(&self) -> i64 {
        self.window
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db.cf_handle(name).expect("checked at open")
    }

    /// The offset of the last applied record, `None` for a new shard.
    pub fn applied_offset(&self) -> Option<i64> {
        match self.applied.load(Ordering::Acquire) {
            NO_OFFSET => None,
            o => Some(o),
        }
    }
}

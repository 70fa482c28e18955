//! One shard replica: a key range of the node's [`Store`](crate::Store) in
//! each of its three column families, the apply path (points and
//! tombstones → one atomic `WriteBatch` with the offset), the series index
//! queries, scans and the digest.
//!
//! Every key of a shard is its id (8 bytes, big-endian) followed by the key
//! within the shard (`crate::keys`). The code of the shard's jobs uses keys
//! within the shard only: [`ShardIter`] and [`Batch`] add and strip the
//! prefix, so a shard's keys can never reach another shard's.
//!
//! This module holds the [`Shard`] struct, its small accessors and the
//! helpers its parts share; each job of a shard has its own file:
//!
//! - `maintenance`: the digest, compaction and sizes;
//! - `apply`: the apply path and the in-memory `Writer` state behind it;
//! - `index`: the series index queries (measurements, tags, fields, series);
//! - `scan`: block scans, first/last values and aligned rows;
//! - `merge`: the merge operator of the data column family.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use rocksdb::{ColumnFamily, DBRawIterator, ReadOptions, Snapshot, WriteBatch, DB};
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
pub use maintenance::dir_size;
pub(crate) use merge::{full_merge, partial_merge, MERGE_OPERATOR};
pub use scan::{AlignedRows, AlignedScan, BlockScan};

pub(crate) const CF_DATA: &str = "data";
pub(crate) const CF_INDEX: &str = "index";
pub(crate) const CF_META: &str = "default";
/// The column families of a store, each holding every shard's keys.
pub(crate) const COLUMN_FAMILIES: [&str; 3] = [CF_META, CF_INDEX, CF_DATA];

/// A series' id within a shard, assigned in apply order (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u64);

/// A field's id within a shard, assigned in apply order (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u32);

/// A shard replica: a view of its key range in the node's store. At most
/// one is open per shard id ([`Store::shard`](crate::Store::shard)); it is
/// closed when dropped.
pub struct Shard {
    db: Arc<DB>,
    id: u64,
    prefix: [u8; 8],
    /// Ids of the store's open shards; this one leaves it when dropped.
    open: Arc<Mutex<std::collections::HashSet<u64>>>,
    window: i64,
    sync_writes: bool,
    writer: Mutex<Writer>,
    /// The applied offset for lock-free readers; `NO_OFFSET` = none.
    applied: AtomicI64,
    /// See `keys::META_INCARNATION`.
    incarnation: u64,
}

const NO_OFFSET: i64 = i64::MIN;

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("applied_offset", &self.applied_offset())
            .finish_non_exhaustive()
    }
}

pub(crate) fn read_i64(v: &[u8], key: &[u8]) -> Result<i64> {
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

/// The prefix of every key of shard `id`.
pub(crate) fn shard_prefix(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// A raw iterator over one shard's keys: positions are given and keys
/// returned without the shard prefix.
pub(crate) struct ShardIter<'a> {
    it: DBRawIterator<'a>,
    prefix: [u8; 8],
    buf: Vec<u8>,
}

impl ShardIter<'_> {
    fn full_key(&mut self, key: &[u8]) -> &[u8] {
        self.buf.clear();
        self.buf.extend_from_slice(&self.prefix);
        self.buf.extend_from_slice(key);
        &self.buf
    }

    pub(crate) fn seek(&mut self, key: &[u8]) {
        self.full_key(key);
        self.it.seek(&self.buf);
    }

    pub(crate) fn seek_for_prev(&mut self, key: &[u8]) {
        self.full_key(key);
        self.it.seek_for_prev(&self.buf);
    }

    pub(crate) fn valid(&self) -> bool {
        self.it.valid()
    }

    /// The key within the shard.
    pub(crate) fn key(&self) -> Option<&[u8]> {
        self.it.key().map(|k| &k[self.prefix.len()..])
    }

    pub(crate) fn value(&self) -> Option<&[u8]> {
        self.it.value()
    }

    pub(crate) fn next(&mut self) {
        self.it.next();
    }

    pub(crate) fn prev(&mut self) {
        self.it.prev();
    }

    pub(crate) fn status(&self) -> Result<(), rocksdb::Error> {
        self.it.status()
    }
}

/// A `WriteBatch` of one shard: keys are given without the shard prefix.
pub(crate) struct Batch {
    batch: WriteBatch,
    prefix: [u8; 8],
    key: Vec<u8>,
}

impl Batch {
    pub(crate) fn new(prefix: [u8; 8]) -> Self {
        Batch {
            batch: WriteBatch::default(),
            prefix,
            key: Vec::with_capacity(64),
        }
    }

    fn full_key(&mut self, key: &[u8]) {
        self.key.clear();
        self.key.extend_from_slice(&self.prefix);
        self.key.extend_from_slice(key);
    }

    pub(crate) fn put_cf(
        &mut self,
        cf: &ColumnFamily,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) {
        self.full_key(key.as_ref());
        self.batch.put_cf(cf, &self.key, value);
    }

    pub(crate) fn merge_cf(
        &mut self,
        cf: &ColumnFamily,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) {
        self.full_key(key.as_ref());
        self.batch.merge_cf(cf, &self.key, value);
    }

    pub(crate) fn delete_cf(&mut self, cf: &ColumnFamily, key: impl AsRef<[u8]>) {
        self.full_key(key.as_ref());
        self.batch.delete_cf(cf, &self.key);
    }

    /// Deletes `[lo, hi)` within the shard.
    pub(crate) fn delete_range_cf(&mut self, cf: &ColumnFamily, lo: &[u8], hi: &[u8]) {
        let lo = [&self.prefix[..], lo].concat();
        let hi = [&self.prefix[..], hi].concat();
        self.batch.delete_range_cf(cf, lo, hi);
    }

    pub(crate) fn into_inner(self) -> WriteBatch {
        self.batch
    }
}

impl Shard {
    /// The shard's id in the store.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Every key of this shard in a column family lies in `[lo, hi)`;
    /// `hi` is `None` for the last possible shard id.
    pub(crate) fn key_range(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        (self.prefix.to_vec(), crate::keys::prefix_end(&self.prefix))
    }

    /// A raw iterator over keys of `cf` within the shard in `[lo, hi)`
    /// (`hi` `None`: to the end of the shard), not yet positioned.
    pub(crate) fn iter(
        &self,
        cf: &str,
        lo: &[u8],
        hi: Option<&[u8]>,
        snapshot: Option<&Snapshot<'_>>,
    ) -> ShardIter<'_> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound([&self.prefix[..], lo].concat());
        match hi {
            Some(hi) => ro.set_iterate_upper_bound([&self.prefix[..], hi].concat()),
            None => {
                if let Some(end) = self.key_range().1 {
                    ro.set_iterate_upper_bound(end);
                }
            }
        }
        if let Some(s) = snapshot {
            ro.set_snapshot(s);
        }
        ShardIter {
            it: self.db.raw_iterator_cf_opt(self.cf(cf), ro),
            prefix: self.prefix,
            buf: Vec::with_capacity(64),
        }
    }

    /// The value of a key within the shard.
    pub(crate) fn get(
        &self,
        cf: &str,
        key: &[u8],
        snapshot: Option<&Snapshot<'_>>,
    ) -> Result<Option<Vec<u8>>> {
        let full = [&self.prefix[..], key].concat();
        Ok(match snapshot {
            Some(s) => s.get_cf(self.cf(cf), full)?,
            None => self.db.get_cf(self.cf(cf), full)?,
        })
    }

    pub(crate) fn batch(&self) -> Batch {
        Batch::new(self.prefix)
    }

    /// The width of a block's time window (ns).
    pub fn window_ns(&self) -> i64 {
        self.window
    }

    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        self.db.cf_handle(name).expect("checked at open")
    }

    /// Which history of its log the contents follow (see
    /// [`crate::SnapshotInfo::incarnation`]).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The offset of the last applied record, `None` for a new shard.
    pub fn applied_offset(&self) -> Option<i64> {
        match self.applied.load(Ordering::Acquire) {
            NO_OFFSET => None,
            o => Some(o),
        }
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

//! Opening and closing a shard's view of the store, the digest,
//! compaction and sizes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use rocksdb::{BottommostLevelCompaction, CompactOptions, Range, WriteOptions, DB};
use schemas::series_key::parse_series_key;

use super::merge::Reading;
use super::{
    read_i64, shard_prefix, FieldInfo, Shard, Writer, CF_DATA, CF_META, COLUMN_FAMILIES, NO_OFFSET,
};
use crate::codec;
use crate::digest::{ContentHasher, ShardDigest};
use crate::error::{Error, Result};
use crate::keys;
use crate::store::ShardOptions;

impl Shard {
    /// Opens shard `id` of the store whose database is `db` (creating
    /// it if needed); `open` is the store's set of open shard ids, which the
    /// caller has already entered `id` into.
    pub(crate) fn open_in(
        db: Arc<DB>,
        id: u64,
        open: Arc<Mutex<HashSet<u64>>>,
        options: &ShardOptions,
    ) -> Result<Shard> {
        let mut shard = Shard {
            db,
            id,
            prefix: shard_prefix(id),
            open,
            window: options.window_ns.max(1),
            sync_writes: options.sync_writes,
            writer: Mutex::new(Writer::default()),
            applied: AtomicI64::new(NO_OFFSET),
            incarnation: 0,
        };
        // Written with the WAL synced: a shard's window never changes,
        // whatever happens to its first records.
        let mut b = shard.batch();
        match shard.get(CF_META, keys::META_WINDOW, None)? {
            Some(v) => shard.window = read_i64(&v, keys::META_WINDOW)?,
            None => b.put_cf(
                shard.cf(CF_META),
                keys::META_WINDOW,
                shard.window.to_be_bytes(),
            ),
        }
        // Shards from before incarnations get one now.
        match shard.get(CF_META, keys::META_INCARNATION, None)? {
            Some(v) => shard.incarnation = read_i64(&v, keys::META_INCARNATION)? as u64,
            None => {
                shard.incarnation = keys::new_incarnation(id);
                b.put_cf(
                    shard.cf(CF_META),
                    keys::META_INCARNATION,
                    shard.incarnation.to_be_bytes(),
                );
            }
        }
        let b = b.into_inner();
        if !b.is_empty() {
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            shard.db.write_opt(b, &wo)?;
        }
        let writer = shard.load_writer()?;
        shard
            .applied
            .store(writer.applied.unwrap_or(NO_OFFSET), Ordering::Release);
        *shard.writer.lock().unwrap_or_else(|e| e.into_inner()) = writer;
        Ok(shard)
    }

    /// Syncs the WAL and closes the shard (dropping it closes it too).
    pub fn close(self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// The digest of the shard's logical contents and the offset they are at,
    /// from one consistent snapshot. See [`crate::digest`] for what is hashed.
    pub fn digest(&self) -> Result<ShardDigest> {
        let _reading = Reading::start();
        let snap = self.db.snapshot();
        let applied_offset = self
            .get(CF_META, keys::META_OFFSET, Some(&snap))?
            .map(|v| read_i64(&v, keys::META_OFFSET))
            .transpose()?;
        let mut h = ContentHasher::new();
        let mut fields_by_m: HashMap<String, Vec<FieldInfo>> = HashMap::new();
        let mut it = self.index_iter(&[keys::SERIES], Some(&snap));
        while it.valid() {
            let (k, v) = (it.key().expect("valid"), it.value().expect("valid"));
            let key = std::str::from_utf8(&k[1..]).map_err(|_| Error::CorruptIndex(k.to_vec()))?;
            let sid = read_i64(v, k)? as u64;
            let (m, _) = parse_series_key(key).ok_or_else(|| Error::CorruptIndex(k.to_vec()))?;
            if !fields_by_m.contains_key(&m) {
                let f = self.fields_of(&m, Some(&snap))?;
                fields_by_m.insert(m.clone(), f);
            }
            let mut series_started = false;
            for f in &fields_by_m[&m] {
                let lo = keys::data_key(sid, f.id.0, i64::MIN);
                let hi = keys::prefix_end(&keys::data_key(sid, f.id.0, i64::MAX));
                let mut dit = self.iter(CF_DATA, &lo, hi.as_deref(), Some(&snap));
                dit.seek(&lo);
                let mut field_started = false;
                while dit.valid() {
                    let b = codec::decode(dit.value().expect("valid"))?;
                    if !b.is_empty() {
                        if !series_started {
                            h.series(key);
                            series_started = true;
                        }
                        if !field_started {
                            h.field(&f.name, f.field_type);
                            field_started = true;
                        }
                        h.values(&b.timestamps, &b.values);
                    }
                    dit.next();
                }
                dit.status()?;
                if field_started {
                    h.end_field();
                }
            }
            it.next();
        }
        it.status()?;
        Ok(ShardDigest {
            applied_offset,
            content: h.finish(),
        })
    }

    /// Flushes memtables and compacts the shard's keys to the bottom
    /// level, so every block is one packed value and deleted data is gone;
    /// remembers the applied offset it did so at (see
    /// [`Self::needs_compaction`]).
    pub fn compact(&self) -> Result<()> {
        let mut co = CompactOptions::default();
        co.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
        let (lo, hi) = self.key_range();
        for name in COLUMN_FAMILIES {
            let cf = self.cf(name);
            self.db.flush_cf(cf)?;
            self.db
                .compact_range_cf_opt(cf, Some(&lo), hi.as_ref(), &co);
        }
        let mut b = self.batch();
        let at = self.applied.load(Ordering::Acquire);
        b.put_cf(self.cf(CF_META), keys::META_COMPACTED_AT, at.to_be_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(b.into_inner(), &wo)?;
        Ok(())
    }

    /// Whether records were applied since the last [`Self::compact`]. A
    /// shard that stopped receiving writes (a past shard group) keeps its
    /// last writes as raw merge operands in the upper levels (RocksDB
    /// compacts a key range only when its level fills), which is what a
    /// compaction of cold shards looks for.
    pub fn needs_compaction(&self) -> Result<bool> {
        let Some(applied) = self.applied_offset() else {
            return Ok(false);
        };
        let compacted = self
            .get(CF_META, keys::META_COMPACTED_AT, None)?
            .map(|v| read_i64(&v, keys::META_COMPACTED_AT))
            .transpose()?;
        Ok(compacted != Some(applied))
    }

    /// Approximate bytes the shard takes on disk: the SST files' share of
    /// its key range in every column family (memtables excluded).
    pub fn size_on_disk(&self) -> Result<u64> {
        let (lo, hi) = self.key_range();
        let hi = hi.unwrap_or_else(|| vec![0xff; 9]);
        let range = [Range::new(&lo, &hi)];
        Ok(COLUMN_FAMILIES
            .iter()
            .map(|name| self.db.get_approximate_sizes_cf(self.cf(name), &range)[0])
            .sum())
    }
}

/// Sum of the sizes of the files under `path`.
pub fn dir_size(path: &std::path::Path) -> Result<u64> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut total = 0;
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let md = entry.metadata().map_err(io)?;
        total += if md.is_dir() {
            dir_size(&entry.path())?
        } else {
            md.len()
        };
    }
    Ok(total)
}

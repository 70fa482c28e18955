//! The node's store: one RocksDB database holding every shard replica of
//! the node, each as a key range (its id as prefix) of three column
//! families. What a shard costs is then its keys: no file, thread, WAL or
//! memtable of its own; memtables, block cache and background threads are
//! node budgets ([`NodeBudget`]).
//!
//! Why a key prefix rather than a column family per shard: a column family
//! has its own memtable, options and manifest entries, and thousands of
//! them make every atomic flush, recovery and options load proportional to
//! the number of shards. A prefix costs nothing while idle, and dropping a
//! shard is one range tombstone per column family.
//!
//! The WAL stays on: it is one per node, so its size no longer multiplies
//! with shards, and it keeps a shard's data and applied offset atomic on
//! disk with RocksDB's own guarantees.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options, WriteOptions, DB,
};

use crate::error::{Error, Result};
use crate::keys;
use crate::shard::{
    full_merge, partial_merge, shard_prefix, Shard, CF_DATA, CF_INDEX, CF_META, COLUMN_FAMILIES,
    MERGE_OPERATOR,
};

/// Default time window of a block: one day.
///
/// Why a day: a block should hold 1000+ values so pco has something to model
/// and scans amortize per-block costs. TSBS's 10 s interval gives 8640
/// values per day; 1-minute data 1440. Shard groups are 1 h, 1 d or 7 d by
/// default, so a shard holds 1 to 7 windows per (series, field) and a time
/// range query touches few keys. A much larger window would make every merge
/// of a hot window rewrite a big block; a much smaller one would leave sparse
/// series with tiny blocks.
pub const DEFAULT_WINDOW_NS: i64 = 86_400 * 1_000_000_000;

/// Node-wide memory budget of the store, whatever its number of shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeBudget {
    /// Bytes of the one block cache.
    pub block_cache_bytes: usize,
    /// Bytes all memtables may use together.
    pub write_buffer_bytes: usize,
}

impl Default for NodeBudget {
    fn default() -> Self {
        NodeBudget {
            block_cache_bytes: 256 << 20,
            write_buffer_bytes: 256 << 20,
        }
    }
}

/// Per-shard options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardOptions {
    /// Width of a block's time window in ns, used when the shard is created;
    /// an existing shard keeps the width it was created with.
    pub window_ns: i64,
    /// `fsync` the WAL on every apply. Off by default: a process crash
    /// loses nothing written (the WAL is in the OS page cache) and a power
    /// loss loses only a suffix, which is replayed from Kafka since the
    /// offset travels with the data.
    pub sync_writes: bool,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            window_ns: DEFAULT_WINDOW_NS,
            sync_writes: false,
        }
    }
}

/// The node's store of shard replicas. Clones share the same database.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<DB>,
    pub(crate) path: PathBuf,
    budget: NodeBudget,
    /// Ids of the shards open now: at most one [`Shard`] per id.
    open: Arc<Mutex<HashSet<u64>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    pub fn open(path: impl AsRef<Path>, budget: NodeBudget) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let cache = Cache::new_lru_cache(budget.block_cache_bytes);
        let db = DB::open_cf_descriptors(&db_options(&budget)?, &path, cf_descriptors(&cache))?;
        for cf in COLUMN_FAMILIES {
            if db.cf_handle(cf).is_none() {
                return Err(Error::MissingColumnFamily(cf, path));
            }
        }
        Ok(Store {
            db: Arc::new(db),
            path,
            budget,
            open: Arc::default(),
        })
    }

    /// The directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The budget the store was opened with.
    pub fn budget(&self) -> NodeBudget {
        self.budget
    }

    /// Opens shard `id`, creating it if the store has none. Refused while
    /// the shard is open already ([`Error::ShardOpen`]): two writers of one
    /// shard would assign ids twice.
    pub fn shard(&self, id: u64, options: &ShardOptions) -> Result<Shard> {
        if !self.lock_open().insert(id) {
            return Err(Error::ShardOpen(id));
        }
        // On error the shard is dropped, which takes the id out again.
        Shard::open_in(Arc::clone(&self.db), id, Arc::clone(&self.open), options)
    }

    /// Deletes every key of shard `id` (to rebuild it by replay, or because
    /// it is no longer owned here), durably. Refused while it is open.
    pub fn destroy_shard(&self, id: u64) -> Result<()> {
        let _guard = self.reserve(id)?;
        self.delete_shard_keys(id)
    }

    /// Keeps shard `id` from being opened until the guard is dropped;
    /// refused while it is open.
    pub(crate) fn reserve(&self, id: u64) -> Result<Reserved<'_>> {
        if !self.lock_open().insert(id) {
            return Err(Error::ShardOpen(id));
        }
        Ok(Reserved { store: self, id })
    }

    /// Deletes every key of shard `id`, durably (one range tombstone per
    /// column family).
    pub(crate) fn delete_shard_keys(&self, id: u64) -> Result<()> {
        let lo = shard_prefix(id);
        let hi = keys::prefix_end(&lo);
        let mut batch = rocksdb::WriteBatch::default();
        for name in COLUMN_FAMILIES {
            let end: &[u8] = hi.as_deref().unwrap_or(&[0xff; 9]);
            batch.delete_range_cf(self.cf(name), &lo[..], end);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("checked at open")
    }

    /// The ids of the shards the store holds (open or not), ascending.
    pub fn shard_ids(&self) -> Result<Vec<u64>> {
        let meta = self.db.cf_handle(CF_META).expect("checked at open");
        let mut ids = Vec::new();
        let mut it = self.db.raw_iterator_cf(meta);
        it.seek_to_first();
        while it.valid() {
            let k = it.key().expect("valid");
            let id = k
                .get(..8)
                .map(|p| u64::from_be_bytes(p.try_into().expect("8 bytes")))
                .ok_or_else(|| Error::CorruptIndex(k.to_vec()))?;
            ids.push(id);
            match keys::prefix_end(&shard_prefix(id)) {
                Some(next) => it.seek(next),
                None => break,
            }
        }
        it.status()?;
        Ok(ids)
    }

    /// Syncs the WAL: every write so far survives a power loss too (a
    /// process crash loses nothing written either way).
    pub fn sync_wal(&self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Bytes of every file of the store (what `du` reports, without block
    /// rounding): SSTs, WAL, manifest, options and logs.
    pub fn size_on_disk(&self) -> Result<u64> {
        crate::dir_size(&self.path)
    }

    fn lock_open(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A shard id taken out of use while its keys are replaced.
pub(crate) struct Reserved<'a> {
    store: &'a Store,
    id: u64,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.store.lock_open().remove(&self.id);
    }
}

fn table_options(cache: &Cache) -> BlockBasedOptions {
    let mut t = BlockBasedOptions::default();
    t.set_block_cache(cache);
    t.set_block_size(32 << 10);
    t.set_cache_index_and_filter_blocks(true);
    t
}

fn db_options(budget: &NodeBudget) -> Result<Options> {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    // The memtables of the three column families together stay within the
    // budget (the largest is flushed when over it).
    o.set_db_write_buffer_size(budget.write_buffer_bytes);
    o.set_max_background_jobs(2);
    // Keep the store's directory small and quiet: no periodic stats in LOG.
    o.set_keep_log_file_num(2);
    o.set_stats_dump_period_sec(0);
    o.set_log_level(rocksdb::LogLevel::Warn);
    o.set_max_total_wal_size(64 << 20);
    // No preallocated WAL: RocksDB would reserve ~1.1 write buffers of disk
    // (tens of MB) for a WAL that an idle node fills with a few KB. The
    // crate has no setter for it; the options string sets it on a copy.
    o.get_options_from_string("allow_fallocate=false")
        .map_err(Error::from)
}

/// RocksDB's default memtable size (64 MB) stays: larger memtables keep
/// more unmerged operands in memory, which made reads of fresh data (TSBS
/// lastpoint) measurably slower.
fn cf_descriptors(cache: &Cache) -> Vec<ColumnFamilyDescriptor> {
    let mut data = Options::default();
    data.set_merge_operator(MERGE_OPERATOR, full_merge, partial_merge);
    data.set_block_based_table_factory(&table_options(cache));
    // Packed blocks are already compressed; LZ4 is cheap and shrinks raw
    // operands in the upper levels, zstd at the bottom squeezes strings.
    data.set_compression_type(DBCompressionType::Lz4);
    data.set_bottommost_compression_type(DBCompressionType::Zstd);
    let mut index = Options::default();
    index.set_block_based_table_factory(&table_options(cache));
    index.set_compression_type(DBCompressionType::Lz4);
    index.set_bottommost_compression_type(DBCompressionType::Zstd);
    let mut meta = Options::default();
    meta.set_block_based_table_factory(&table_options(cache));
    vec![
        ColumnFamilyDescriptor::new(CF_META, meta),
        ColumnFamilyDescriptor::new(CF_INDEX, index),
        ColumnFamilyDescriptor::new(CF_DATA, data),
    ]
}

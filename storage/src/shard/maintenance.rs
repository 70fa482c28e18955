//! Opening, closing and destroying a shard (its options and column
//! families, and the node-wide resources they share), the digest,
//! compaction and sizes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use rocksdb::{
    BlockBasedOptions, BottommostLevelCompaction, Cache, ColumnFamilyDescriptor, CompactOptions,
    DBCompressionType, Options, WriteBufferManager, DB,
};
use schemas::series_key::parse_series_key;

use super::merge::{full_merge, partial_merge, Reading, MERGE_OPERATOR};
use super::{bounded, read_i64, FieldInfo, Shard, Writer, CF_DATA, CF_INDEX, CF_META, NO_OFFSET};
use crate::codec;
use crate::digest::{ContentHasher, ShardDigest};
use crate::error::{Error, Result};
use crate::keys;

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

/// Node-wide memory budget, shared by every shard of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeBudget {
    /// Bytes of the one block cache.
    pub block_cache_bytes: usize,
    /// Bytes all memtables of all shards may use together.
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

/// Resources shared by all shards of a node: one block cache and one
/// write-buffer manager. Create once, pass to every [`Shard::open`]; clones
/// share the same underlying objects.
#[derive(Clone)]
pub struct StorageResources {
    cache: Cache,
    write_buffers: Arc<WriteBufferManager>,
    budget: NodeBudget,
}

impl std::fmt::Debug for StorageResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageResources")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl StorageResources {
    /// Creates the node's shared cache and write-buffer budget.
    pub fn new(budget: NodeBudget) -> Self {
        let cache = Cache::new_lru_cache(budget.block_cache_bytes);
        // No stall: when the budget is exceeded, the writing shard flushes
        // its own memtables, and a stalled writer would wait for memory
        // that only another, idle shard could free (it never flushes while
        // idle). That deadlocked opening a new shard (its first write)
        // after another shard had filled the budget. Without the stall the
        // memtables of all shards stay under about twice the budget: each
        // writer flushes itself once over it.
        let write_buffers =
            WriteBufferManager::new_write_buffer_manager(budget.write_buffer_bytes, false);
        StorageResources {
            cache,
            write_buffers: Arc::new(write_buffers),
            budget,
        }
    }

    /// The budget the resources were created with.
    pub fn budget(&self) -> NodeBudget {
        self.budget
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

fn table_options(resources: &StorageResources) -> BlockBasedOptions {
    let mut t = BlockBasedOptions::default();
    t.set_block_cache(&resources.cache);
    t.set_block_size(32 << 10);
    t.set_cache_index_and_filter_blocks(true);
    t
}

fn db_options(resources: &StorageResources) -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_write_buffer_manager(&resources.write_buffers);
    o.set_max_background_jobs(2);
    // Keep the shard directory small and quiet: no periodic stats in LOG.
    o.set_keep_log_file_num(2);
    o.set_stats_dump_period_sec(0);
    o.set_log_level(rocksdb::LogLevel::Warn);
    o.set_max_total_wal_size(64 << 20);
    o
}

fn cf_descriptors(resources: &StorageResources) -> Vec<ColumnFamilyDescriptor> {
    let mut data = Options::default();
    data.set_merge_operator(MERGE_OPERATOR, full_merge, partial_merge);
    data.set_block_based_table_factory(&table_options(resources));
    // Packed blocks are already compressed; LZ4 is cheap and shrinks raw
    // operands in the upper levels, zstd at the bottom squeezes strings.
    data.set_compression_type(DBCompressionType::Lz4);
    data.set_bottommost_compression_type(DBCompressionType::Zstd);
    let mut index = Options::default();
    index.set_block_based_table_factory(&table_options(resources));
    index.set_compression_type(DBCompressionType::Lz4);
    index.set_bottommost_compression_type(DBCompressionType::Zstd);
    let mut meta = Options::default();
    meta.set_block_based_table_factory(&table_options(resources));
    vec![
        ColumnFamilyDescriptor::new(CF_META, meta),
        ColumnFamilyDescriptor::new(CF_INDEX, index),
        ColumnFamilyDescriptor::new(CF_DATA, data),
    ]
}

impl Shard {
    /// Opens (creating if needed) the shard at `path`.
    pub fn open(
        path: impl AsRef<Path>,
        resources: &StorageResources,
        options: &ShardOptions,
    ) -> Result<Shard> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let db = DB::open_cf_descriptors(&db_options(resources), &path, cf_descriptors(resources))?;
        for cf in [CF_DATA, CF_INDEX, CF_META] {
            if db.cf_handle(cf).is_none() {
                return Err(Error::MissingColumnFamily(cf, path));
            }
        }
        let meta = db.cf_handle(CF_META).expect("checked");
        let window = match db.get_cf(meta, keys::META_WINDOW)? {
            Some(v) => read_i64(&v, keys::META_WINDOW)?,
            None => {
                let w = options.window_ns.max(1);
                db.put_cf(meta, keys::META_WINDOW, w.to_be_bytes())?;
                w
            }
        };
        let shard = Shard {
            db,
            path,
            window,
            sync_writes: options.sync_writes,
            writer: Mutex::new(Writer::default()),
            applied: AtomicI64::new(NO_OFFSET),
        };
        let writer = shard.load_writer()?;
        shard
            .applied
            .store(writer.applied.unwrap_or(NO_OFFSET), Ordering::Release);
        *shard.writer.lock().unwrap_or_else(|e| e.into_inner()) = writer;
        Ok(shard)
    }

    /// Deletes the shard at `path` (to rebuild it by replay). The shard must
    /// be closed.
    pub fn destroy(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if !path.exists() {
            return Ok(());
        }
        DB::destroy(&Options::default(), path)?;
        std::fs::remove_dir_all(path).or_else(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        })
    }

    /// Syncs the WAL and closes the shard.
    pub fn close(self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// The digest of the shard's logical contents and the offset they are at,
    /// from one consistent snapshot. See [`crate::digest`] for what is hashed.
    pub fn digest(&self) -> Result<ShardDigest> {
        let _reading = Reading::start();
        let snap = self.db.snapshot();
        let applied_offset = snap
            .get_cf(self.cf(CF_META), keys::META_OFFSET)?
            .map(|v| read_i64(&v, keys::META_OFFSET))
            .transpose()?;
        let mut h = ContentHasher::new();
        let mut fields_by_m: HashMap<String, Vec<FieldInfo>> = HashMap::new();
        let data = self.cf(CF_DATA);
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
                let mut ro = bounded(lo.to_vec(), hi);
                ro.set_snapshot(&snap);
                let mut dit = self.db.raw_iterator_cf_opt(data, ro);
                dit.seek(lo);
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

    /// Flushes memtables and compacts everything to the bottom level, so
    /// every block is one packed value and deleted data is gone.
    pub fn compact(&self) -> Result<()> {
        let mut co = CompactOptions::default();
        co.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
        co.set_exclusive_manual_compaction(true);
        for name in [CF_META, CF_INDEX, CF_DATA] {
            let cf = self.cf(name);
            self.db.flush_cf(cf)?;
            self.db
                .compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &co);
        }
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Whether the data is not all compacted into packed blocks: there are
    /// memtable entries, L0 files (flushes store raw merge operands), or
    /// files in more than one level. A shard that stopped receiving writes
    /// stays that way (RocksDB compacts L0 only from 4 files on), which is
    /// what a compaction of cold shards looks for.
    pub fn needs_compaction(&self) -> Result<bool> {
        let data = self.cf(CF_DATA);
        let int = |name: &str| -> Result<u64> {
            Ok(self.db.property_int_value_cf(data, name)?.unwrap_or(0))
        };
        if int("rocksdb.num-entries-active-mem-table")? + int("rocksdb.num-entries-imm-mem-tables")?
            > 0
        {
            return Ok(true);
        }
        let mut levels_with_files = 0;
        // RocksDB's default number of levels, which the shard keeps.
        for level in 0..7 {
            let files = self
                .db
                .property_value_cf(data, &format!("rocksdb.num-files-at-level{level}"))?
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if files > 0 {
                if level == 0 {
                    return Ok(true);
                }
                levels_with_files += 1;
            }
        }
        Ok(levels_with_files > 1)
    }

    /// Bytes of SST files (the data proper) of all column families.
    pub fn sst_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for name in [CF_META, CF_INDEX, CF_DATA] {
            total += self
                .db
                .property_int_value_cf(self.cf(name), "rocksdb.total-sst-files-size")?
                .unwrap_or(0);
        }
        Ok(total)
    }

    /// Bytes of every file in the shard directory (what `du` reports,
    /// without block rounding): SSTs, WAL, manifest, options and logs.
    pub fn size_on_disk(&self) -> Result<u64> {
        dir_size(&self.path)
    }
}

/// Sum of the sizes of the files under `path`.
pub fn dir_size(path: &Path) -> Result<u64> {
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

//! One shard replica: a RocksDB instance with three column families, the
//! apply path (points and tombstones → one atomic `WriteBatch` with the
//! offset), the series index queries, scans and the digest.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rocksdb::{
    BlockBasedOptions, BottommostLevelCompaction, Cache, ColumnFamily, ColumnFamilyDescriptor,
    CompactOptions, DBCompressionType, DBRawIterator, MergeOperands, Options, ReadOptions,
    WriteBatch, WriteBufferManager, WriteOptions, DB,
};
use schemas::record::{DeleteKind, FieldColumn, NameMatcher, PointBatch, TagPredicate, Tombstone};
use schemas::series_key::{parse_series_key, write_series_key};
use schemas::{FieldType, LogRecord};

use crate::codec::{self, type_code, type_from_code, Block, Value};
use crate::digest::{ContentHasher, ShardDigest};
use crate::error::{Error, Result};
use crate::keys;
use crate::predicate::{MeasurementMatcher, Predicate};

const CF_DATA: &str = "data";
const CF_INDEX: &str = "index";
const CF_META: &str = "default";

/// The merge operator's name is persisted by RocksDB in the OPTIONS file; a
/// new block format must get a new name.
const MERGE_OPERATOR: &str = "sluice.block.v1";

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

/// A series' id within a shard, assigned in apply order (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u64);

/// A field's id within a shard, assigned in apply order (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u32);

/// A field of a measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// Id for scans.
    pub id: FieldId,
    /// Field key.
    pub name: String,
    /// The type fixed by the field's first write.
    pub field_type: FieldType,
}

/// A series of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesEntry {
    /// Id for scans.
    pub id: SeriesId,
    /// Canonical series key (`cpu,host=a`).
    pub key: String,
}

/// What an apply did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    /// Records applied.
    pub records: u64,
    /// Of which tombstones.
    pub tombstones: u64,
    /// Field values written.
    pub values_written: u64,
    /// Values rejected because their type differs from the field's type in
    /// this shard (InfluxDB's "field type conflict").
    pub values_type_conflict: u64,
    /// Other values of the rejected points: InfluxDB drops a point whole, so
    /// values of the same series and timestamp in the same record go too.
    pub values_dropped_with_point: u64,
    /// Series added to the index.
    pub series_created: u64,
    /// Series removed from the index by tombstones.
    pub series_removed: u64,
}

impl ApplyStats {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &ApplyStats) {
        self.records += other.records;
        self.tombstones += other.tombstones;
        self.values_written += other.values_written;
        self.values_type_conflict += other.values_type_conflict;
        self.values_dropped_with_point += other.values_dropped_with_point;
        self.series_created += other.series_created;
        self.series_removed += other.series_removed;
    }
}

/// Values of several fields of one series aligned by timestamp, as InfluxDB
/// returns `SELECT a, b`: one row per timestamp where any field has a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlignedRows {
    /// Row timestamps, increasing.
    pub timestamps: Vec<i64>,
    /// `columns[f][row]`: the value of field `f` at that row, if any.
    pub columns: Vec<Vec<Option<Value>>>,
}

/// The apply side's state, behind the shard's mutex: an in-memory copy of
/// the series and field index (so apply never reads RocksDB) and the id
/// counters.
#[derive(Debug, Default)]
struct Writer {
    series: HashMap<String, u64>,
    fields: HashMap<String, HashMap<String, (u32, FieldType)>>,
    next_series: u64,
    next_field: u32,
    applied: Option<i64>,
    key_buf: String,
    op_buf: Vec<u8>,
}

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

thread_local! {
    /// Whether this thread is reading the data column family (see [`Reading`]).
    static READING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as a reader until dropped.
///
/// RocksDB runs the merge operator in the reading thread for a key whose
/// operands are not compacted yet (fresh data: memtables and L0), and hands
/// the result to the reader only: it is never stored. Packing it would be
/// wasted work, and the most expensive part of a scan: pco at level 8 costs
/// several times its decoding, so a read of freshly written data spent most
/// of its time compressing blocks it then decompressed. Flushes and
/// compactions run on RocksDB's own threads, where the flag is never set, and
/// still pack what they store.
struct Reading(bool);

impl Reading {
    fn start() -> Self {
        Reading(READING.replace(true))
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READING.set(self.0);
    }
}

fn full_merge(_key: &[u8], existing: Option<&[u8]>, ops: &MergeOperands) -> Option<Vec<u8>> {
    if !READING.get() {
        return codec::encode_packed(&fold_operands(existing, ops)?).ok();
    }
    // A stored packed block with newer writes on top (a hot window after a
    // compaction) is handed to the reader as it is, followed by the writes.
    if let Some(packed) = existing.filter(|e| codec::is_packed(e)) {
        if let Some(chain) =
            codec::concat_raw(ops.iter()).and_then(|tail| codec::chain(packed, &tail))
        {
            return Some(chain);
        }
    }
    merged_raw(existing, ops)
}

fn partial_merge(_key: &[u8], existing: Option<&[u8]>, ops: &MergeOperands) -> Option<Vec<u8>> {
    // Combined operands stay raw: packing is done once, by a full merge.
    merged_raw(existing, ops)
}

/// The merge as a raw block; in-order operands (the common case) are joined
/// as bytes without decoding them.
fn merged_raw(existing: Option<&[u8]>, ops: &MergeOperands) -> Option<Vec<u8>> {
    codec::concat_raw(existing.into_iter().chain(ops.iter()))
        .or_else(|| Some(codec::encode_raw(&decode_and_merge(existing, ops)?)))
}

/// Folds operands over the existing block in operand (= log) order. `None`
/// (a corrupt operand) makes RocksDB report a merge error rather than invent
/// data.
fn fold_operands(existing: Option<&[u8]>, ops: &MergeOperands) -> Option<Block> {
    // In-order operands are joined as bytes and decoded once, rather than
    // each decoded and appended.
    match codec::concat_raw(existing.into_iter().chain(ops.iter())) {
        Some(raw) => codec::decode(&raw).ok(),
        None => decode_and_merge(existing, ops),
    }
}

fn decode_and_merge(existing: Option<&[u8]>, ops: &MergeOperands) -> Option<Block> {
    let mut acc = match existing {
        Some(b) => Some(codec::decode(b).ok()?),
        None => None,
    };
    for op in ops.iter() {
        let b = codec::decode(op).ok()?;
        acc = Some(match acc {
            None => b,
            Some(a) => codec::merge_blocks(a, b),
        });
    }
    acc
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

fn escaped_measurement(m: &str) -> String {
    let mut s = String::new();
    // Tuples of `&str` satisfy both the `(K, V)` and the `TagPair` form of
    // the schemas API.
    let no_tags: &[(&str, &str)] = &[];
    write_series_key(&mut s, m, no_tags);
    s
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

    fn load_writer(&self) -> Result<Writer> {
        let mut w = Writer::default();
        let meta = self.cf(CF_META);
        let get = |k: &[u8]| -> Result<Option<i64>> {
            self.db
                .get_cf(meta, k)?
                .map(|v| read_i64(&v, k))
                .transpose()
        };
        w.applied = get(keys::META_OFFSET)?;
        w.next_series = get(keys::META_NEXT_SERIES)?.unwrap_or(0) as u64;
        w.next_field = get(keys::META_NEXT_FIELD)?.unwrap_or(0) as u32;
        let mut it = self.index_iter(&[keys::SERIES], None);
        while it.valid() {
            let (k, v) = (it.key().expect("valid"), it.value().expect("valid"));
            let key = std::str::from_utf8(&k[1..]).map_err(|_| Error::CorruptIndex(k.to_vec()))?;
            w.series.insert(key.to_owned(), read_i64(v, k)? as u64);
            it.next();
        }
        it.status()?;
        let mut it = self.index_iter(&[keys::FIELD], None);
        while it.valid() {
            let (k, v) = (it.key().expect("valid"), it.value().expect("valid"));
            let mut pos = 1;
            let m = keys::get_str(k, &mut pos).ok_or_else(|| Error::CorruptIndex(k.to_vec()))?;
            let name =
                std::str::from_utf8(&k[pos..]).map_err(|_| Error::CorruptIndex(k.to_vec()))?;
            let fv = parse_field_value(k, v)?;
            w.fields.entry(m).or_default().insert(name.to_owned(), fv);
            it.next();
        }
        it.status()?;
        Ok(w)
    }

    /// An iterator over index keys starting with `prefix`.
    fn index_iter(
        &self,
        prefix: &[u8],
        snapshot: Option<&rocksdb::Snapshot<'_>>,
    ) -> DBRawIterator<'_> {
        let mut ro = bounded(prefix.to_vec(), keys::prefix_end(prefix));
        if let Some(s) = snapshot {
            ro.set_snapshot(s);
        }
        let mut it = self.db.raw_iterator_cf_opt(self.cf(CF_INDEX), ro);
        it.seek(prefix);
        it
    }

    /// The offset of the last applied record, `None` for a new shard.
    pub fn applied_offset(&self) -> Option<i64> {
        match self.applied.load(Ordering::Acquire) {
            NO_OFFSET => None,
            o => Some(o),
        }
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>> {
        match self.writer.lock() {
            Ok(g) => Ok(g),
            Err(poisoned) => {
                // A panic during apply may have left the in-memory index
                // ahead of the store: rebuild it from the store.
                let mut g = poisoned.into_inner();
                *g = self.load_writer()?;
                self.writer.clear_poison();
                Ok(g)
            }
        }
    }

    /// Applies one record at `offset`: its data and the offset are written in
    /// one atomic `WriteBatch`.
    ///
    /// An offset not after [`applied_offset`](Self::applied_offset) is
    /// refused with [`Error::OffsetNotAfterApplied`] (never applied twice);
    /// gaps are allowed (Kafka offsets may skip) — detecting them is the
    /// consumer's business.
    pub fn apply(&self, offset: i64, record: &LogRecord<'_>) -> Result<ApplyStats> {
        self.apply_many(std::iter::once((offset, record)))
    }

    /// Applies consecutive records (offsets strictly increasing) in as few
    /// `WriteBatch`es as possible: one, unless a tombstone is among them — a
    /// tombstone reads the store, so the records before it are committed
    /// first (with their last offset) and it starts a new batch. Each batch
    /// carries the offset of its last record, so after a crash the store is
    /// at some record boundary and resumes from there.
    ///
    /// On error, records before the failing one may have been committed;
    /// [`applied_offset`](Self::applied_offset) tells how far.
    pub fn apply_many<'a, I>(&self, records: I) -> Result<ApplyStats>
    where
        I: IntoIterator<Item = (i64, &'a LogRecord<'a>)>,
    {
        let mut w = self.lock_writer()?;
        let result = self.apply_locked(&mut w, records);
        if result.is_err() {
            // Undo in-memory index changes of the failed batch.
            *w = self.load_writer()?;
        }
        result
    }

    fn apply_locked<'a, I>(&self, w: &mut Writer, records: I) -> Result<ApplyStats>
    where
        I: IntoIterator<Item = (i64, &'a LogRecord<'a>)>,
    {
        let mut stats = ApplyStats::default();
        let mut batch = WriteBatch::default();
        let mut pending: Option<i64> = None;
        for (offset, record) in records {
            if let Some(applied) = pending.or(w.applied) {
                if offset <= applied {
                    return Err(Error::OffsetNotAfterApplied { offset, applied });
                }
            }
            match record {
                LogRecord::Points(points) => {
                    self.stage_points(w, &mut batch, points, &mut stats)?
                }
                LogRecord::Tombstone(t) => {
                    if let Some(prev) = pending.take() {
                        self.commit(w, std::mem::take(&mut batch), prev)?;
                    }
                    self.stage_tombstone(w, &mut batch, t, &mut stats)?;
                }
            }
            stats.records += 1;
            pending = Some(offset);
        }
        if let Some(last) = pending {
            self.commit(w, batch, last)?;
        }
        Ok(stats)
    }

    fn commit(&self, w: &mut Writer, mut batch: WriteBatch, offset: i64) -> Result<()> {
        let meta = self.cf(CF_META);
        batch.put_cf(meta, keys::META_OFFSET, offset.to_be_bytes());
        batch.put_cf(
            meta,
            keys::META_NEXT_SERIES,
            (w.next_series as i64).to_be_bytes(),
        );
        batch.put_cf(
            meta,
            keys::META_NEXT_FIELD,
            i64::from(w.next_field).to_be_bytes(),
        );
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync_writes);
        self.db.write_opt(batch, &wo)?;
        w.applied = Some(offset);
        self.applied.store(offset, Ordering::Release);
        Ok(())
    }

    fn stage_points(
        &self,
        w: &mut Writer,
        batch: &mut WriteBatch,
        points: &PointBatch<'_>,
        stats: &mut ApplyStats,
    ) -> Result<()> {
        let index = self.cf(CF_INDEX);
        let data = self.cf(CF_DATA);
        let Writer {
            series,
            fields,
            next_series,
            next_field,
            key_buf,
            op_buf,
            ..
        } = w;
        let mut conflict: Vec<bool> = Vec::new();
        let mut drop_ts: Vec<i64> = Vec::new();
        for s in &points.series {
            let measurement: &str = &s.measurement;
            if !fields.contains_key(measurement) {
                fields.insert(measurement.to_owned(), HashMap::new());
            }
            let mfields = fields.get_mut(measurement).expect("inserted");
            // Pass 1: field types. The first write of a field fixes its type
            // (in column order, which is the line order within a series);
            // a column of another type is rejected with its points.
            conflict.clear();
            drop_ts.clear();
            for col in &s.fields {
                let ft = col.values.field_type();
                let bad = !col.timestamps.is_empty()
                    && match mfields.get(&*col.name) {
                        Some(&(_, t)) => t != ft,
                        None => {
                            let fid = *next_field;
                            *next_field += 1;
                            mfields.insert(col.name.to_string(), (fid, ft));
                            batch.put_cf(
                                index,
                                keys::field_key(measurement, &col.name),
                                field_value(fid, ft),
                            );
                            false
                        }
                    };
                if bad {
                    stats.values_type_conflict += col.timestamps.len() as u64;
                    drop_ts.extend_from_slice(&col.timestamps);
                }
                conflict.push(bad);
            }
            drop_ts.sort_unstable();
            drop_ts.dedup();
            let mut surviving = 0u64;
            for (col, bad) in s.fields.iter().zip(&conflict) {
                if *bad {
                    continue;
                }
                let kept = if drop_ts.is_empty() {
                    col.timestamps.len()
                } else {
                    col.timestamps
                        .iter()
                        .filter(|t| drop_ts.binary_search(t).is_err())
                        .count()
                };
                stats.values_dropped_with_point += (col.timestamps.len() - kept) as u64;
                surviving += kept as u64;
            }
            if surviving == 0 {
                // InfluxDB creates no series for points it rejected.
                continue;
            }
            key_buf.clear();
            let tags: Vec<(&str, &str)> = s.tags.iter().map(|t| (&*t.key, &*t.value)).collect();
            write_series_key(key_buf, measurement, &tags);
            let sid = match series.get(key_buf.as_str()) {
                Some(&sid) => sid,
                None => {
                    let sid = *next_series;
                    *next_series += 1;
                    series.insert(key_buf.clone(), sid);
                    batch.put_cf(index, keys::series_index_key(key_buf), sid.to_be_bytes());
                    batch.put_cf(index, keys::measurement_series_key(measurement, sid), b"");
                    for t in &s.tags {
                        batch.put_cf(
                            index,
                            keys::tag_key(measurement, &t.key, &t.value, sid),
                            b"",
                        );
                    }
                    stats.series_created += 1;
                    sid
                }
            };
            for (col, bad) in s.fields.iter().zip(&conflict) {
                if *bad || col.timestamps.is_empty() {
                    continue;
                }
                let fid = mfields[&*col.name].0;
                self.stage_column(batch, data, sid, fid, col, &drop_ts, op_buf);
            }
            stats.values_written += surviving;
        }
        Ok(())
    }

    /// Turns one column into merge operands, one per time window, each
    /// sorted with unique timestamps (the later entry wins a repeated
    /// timestamp, as in InfluxDB).
    #[allow(clippy::too_many_arguments)]
    fn stage_column(
        &self,
        batch: &mut WriteBatch,
        data: &ColumnFamily,
        sid: u64,
        fid: u32,
        col: &FieldColumn<'_>,
        drop_ts: &[i64],
        op_buf: &mut Vec<u8>,
    ) {
        let ts = &col.timestamps;
        let win = |t: i64| t.div_euclid(self.window);
        let sorted = ts.windows(2).all(|p| p[0] < p[1]);
        if sorted && drop_ts.is_empty() {
            // Fast path: the column is a sequence of contiguous runs.
            let mut start = 0;
            while start < ts.len() {
                let w0 = win(ts[start]);
                let end = if win(ts[ts.len() - 1]) == w0 {
                    ts.len()
                } else {
                    start + ts[start..].partition_point(|&t| win(t) == w0)
                };
                op_buf.clear();
                codec::put_raw(op_buf, ts, &col.values, start..end, end - start);
                batch.merge_cf(data, keys::data_key(sid, fid, w0), &op_buf[..]);
                start = end;
            }
            return;
        }
        let mut idx: Vec<usize> = (0..ts.len())
            .filter(|&i| drop_ts.binary_search(&ts[i]).is_err())
            .collect();
        idx.sort_by_key(|&i| ts[i]); // stable: equal timestamps keep log order
        let order: Vec<usize> = idx
            .iter()
            .enumerate()
            .filter(|&(k, &i)| idx.get(k + 1).is_none_or(|&j| ts[j] != ts[i]))
            .map(|(_, &i)| i)
            .collect();
        let mut start = 0;
        while start < order.len() {
            let w0 = win(ts[order[start]]);
            let end = start + order[start..].partition_point(|&i| win(ts[i]) == w0);
            op_buf.clear();
            codec::put_raw(
                op_buf,
                ts,
                &col.values,
                order[start..end].iter().copied(),
                end - start,
            );
            batch.merge_cf(data, keys::data_key(sid, fid, w0), &op_buf[..]);
            start = end;
        }
    }

    fn stage_tombstone(
        &self,
        w: &mut Writer,
        batch: &mut WriteBatch,
        t: &Tombstone,
        stats: &mut ApplyStats,
    ) -> Result<()> {
        stats.tombstones += 1;
        let matcher = t
            .measurement
            .as_ref()
            .map(MeasurementMatcher::compile)
            .transpose()?;
        let pred = t.predicate.as_ref().map(Predicate::compile).transpose()?;
        let index = self.cf(CF_INDEX);
        let data = self.cf(CF_DATA);
        // DROP SERIES and DROP MEASUREMENT have no time range in InfluxQL;
        // a DELETE over all time is the same as dropping the series.
        let whole =
            t.kind != DeleteKind::Delete || (t.min_time == i64::MIN && t.max_time == i64::MAX);
        for m in self.list_measurements(None)? {
            if matcher.as_ref().is_some_and(|mm| !mm.matches(&m)) {
                continue;
            }
            let all = self.measurement_series(&m, None)?;
            let mut removed = 0;
            for (key, sid) in &all {
                let (_, tags) = parse_series_key(key)
                    .ok_or_else(|| Error::CorruptIndex(key.as_bytes().to_vec()))?;
                if pred.as_ref().is_some_and(|p| !p.matches(&tags)) {
                    continue;
                }
                let gone = if whole {
                    let lo = sid.to_be_bytes();
                    let hi = keys::prefix_end(&lo).expect("series ids stay below u64::MAX");
                    batch.delete_range_cf(data, &lo[..], &hi[..]);
                    true
                } else {
                    self.stage_delete_range(batch, *sid, t.min_time, t.max_time)?
                };
                if gone {
                    batch.delete_cf(index, keys::series_index_key(key));
                    batch.delete_cf(index, keys::measurement_series_key(&m, *sid));
                    for (k, v) in &tags {
                        batch.delete_cf(index, keys::tag_key(&m, k, v, *sid));
                    }
                    w.series.remove(key);
                    removed += 1;
                    stats.series_removed += 1;
                }
            }
            if removed > 0 && removed == all.len() {
                // The measurement is gone: so are its fields and their types
                // (InfluxDB drops a measurement's field set with its last
                // series).
                if let Some(fs) = w.fields.remove(&m) {
                    for name in fs.keys() {
                        batch.delete_cf(index, keys::field_key(&m, name));
                    }
                }
            }
        }
        Ok(())
    }

    /// Stages the deletion of `[min, max]` from every field of series `sid`;
    /// returns whether the series has no data left.
    fn stage_delete_range(
        &self,
        batch: &mut WriteBatch,
        sid: u64,
        min: i64,
        max: i64,
    ) -> Result<bool> {
        let _reading = Reading::start();
        let data = self.cf(CF_DATA);
        let lo = sid.to_be_bytes().to_vec();
        let hi = keys::prefix_end(&lo);
        let mut it = self.db.raw_iterator_cf_opt(data, bounded(lo.clone(), hi));
        it.seek(&lo);
        let mut remaining = false;
        while it.valid() {
            let k = it.key().expect("valid");
            let (_, _, win) =
                keys::data_key_parts(k).ok_or_else(|| Error::CorruptIndex(k.to_vec()))?;
            let start = win.saturating_mul(self.window);
            let end = start.saturating_add(self.window - 1);
            if max < start || min > end {
                remaining = true;
            } else if min <= start && end <= max {
                batch.delete_cf(data, k);
            } else {
                let mut b = codec::decode(it.value().expect("valid"))?;
                b.remove_range(min, max);
                if b.is_empty() {
                    batch.delete_cf(data, k);
                } else {
                    batch.put_cf(data, k, codec::encode_packed(&b)?);
                    remaining = true;
                }
            }
            it.next();
        }
        it.status()?;
        Ok(!remaining)
    }

    // ---- index queries -------------------------------------------------

    fn list_measurements(&self, snapshot: Option<&rocksdb::Snapshot<'_>>) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut it = self.index_iter(&[keys::MEASUREMENT], snapshot);
        while it.valid() {
            let k = it.key().expect("valid");
            let mut pos = 1;
            let m = keys::get_str(k, &mut pos).ok_or_else(|| Error::CorruptIndex(k.to_vec()))?;
            let skip = keys::skip_past(&k[..pos]);
            out.push(m);
            it.seek(&skip);
        }
        it.status()?;
        Ok(out)
    }

    /// Series of measurement `m`, sorted by key: the `k` entries whose
    /// series key starts with the escaped measurement followed by `,` or
    /// the end of the key.
    fn measurement_series(
        &self,
        m: &str,
        snapshot: Option<&rocksdb::Snapshot<'_>>,
    ) -> Result<Vec<(String, u64)>> {
        let esc = escaped_measurement(m);
        let prefix = keys::series_index_key(&esc);
        let mut out = Vec::new();
        let mut it = self.index_iter(&prefix, snapshot);
        while it.valid() {
            let (k, v) = (it.key().expect("valid"), it.value().expect("valid"));
            let rest = &k[prefix.len()..];
            if rest.is_empty() || rest[0] == b',' {
                let key =
                    std::str::from_utf8(&k[1..]).map_err(|_| Error::CorruptIndex(k.to_vec()))?;
                out.push((key.to_owned(), read_i64(v, k)? as u64));
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Measurement names, sorted, optionally filtered (`SHOW MEASUREMENTS`).
    pub fn measurements(&self, filter: Option<&NameMatcher>) -> Result<Vec<String>> {
        let matcher = filter.map(MeasurementMatcher::compile).transpose()?;
        let mut all = self.list_measurements(None)?;
        all.retain(|m| matcher.as_ref().is_none_or(|mm| mm.matches(m)));
        Ok(all)
    }

    /// Tag keys of a measurement, sorted (`SHOW TAG KEYS`).
    pub fn tag_keys(&self, measurement: &str) -> Result<Vec<String>> {
        let prefix = keys::measurement_prefix(keys::TAG, measurement);
        let mut out = Vec::new();
        let mut it = self.index_iter(&prefix, None);
        while it.valid() {
            let k = it.key().expect("valid");
            let mut pos = prefix.len();
            let tk = keys::get_str(k, &mut pos).ok_or_else(|| Error::CorruptIndex(k.to_vec()))?;
            let skip = keys::skip_past(&k[..pos]);
            out.push(tk);
            it.seek(&skip);
        }
        it.status()?;
        Ok(out)
    }

    /// Values of tag `key` in a measurement, sorted, optionally only of the
    /// series matching `predicate` (`SHOW TAG VALUES WITH KEY = ... WHERE`).
    pub fn tag_values(
        &self,
        measurement: &str,
        key: &str,
        predicate: Option<&TagPredicate>,
    ) -> Result<Vec<String>> {
        if let Some(p) = predicate {
            let p = Predicate::compile(p)?;
            let mut out = BTreeSet::new();
            for (skey, _) in self.measurement_series(measurement, None)? {
                let (_, tags) = parse_series_key(&skey)
                    .ok_or_else(|| Error::CorruptIndex(skey.as_bytes().to_vec()))?;
                if p.matches(&tags) {
                    if let Some((_, v)) = tags.into_iter().find(|(k, _)| k == key) {
                        out.insert(v);
                    }
                }
            }
            return Ok(out.into_iter().collect());
        }
        let mut prefix = keys::measurement_prefix(keys::TAG, measurement);
        keys::put_str(&mut prefix, key);
        let mut out = Vec::new();
        let mut it = self.index_iter(&prefix, None);
        while it.valid() {
            let k = it.key().expect("valid");
            let mut pos = prefix.len();
            let v = keys::get_str(k, &mut pos).ok_or_else(|| Error::CorruptIndex(k.to_vec()))?;
            let skip = keys::skip_past(&k[..pos]);
            out.push(v);
            it.seek(&skip);
        }
        it.status()?;
        Ok(out)
    }

    fn fields_of(
        &self,
        measurement: &str,
        snapshot: Option<&rocksdb::Snapshot<'_>>,
    ) -> Result<Vec<FieldInfo>> {
        let prefix = keys::measurement_prefix(keys::FIELD, measurement);
        let mut out = Vec::new();
        let mut it = self.index_iter(&prefix, snapshot);
        while it.valid() {
            let (k, v) = (it.key().expect("valid"), it.value().expect("valid"));
            let name = std::str::from_utf8(&k[prefix.len()..])
                .map_err(|_| Error::CorruptIndex(k.to_vec()))?;
            let (fid, field_type) = parse_field_value(k, v)?;
            out.push(FieldInfo {
                id: FieldId(fid),
                name: name.to_owned(),
                field_type,
            });
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Field keys of a measurement with their types, sorted by name
    /// (`SHOW FIELD KEYS`).
    pub fn field_keys(&self, measurement: &str) -> Result<Vec<FieldInfo>> {
        self.fields_of(measurement, None)
    }

    /// One field of a measurement.
    pub fn field(&self, measurement: &str, name: &str) -> Result<Option<FieldInfo>> {
        let k = keys::field_key(measurement, name);
        match self.db.get_cf(self.cf(CF_INDEX), &k)? {
            None => Ok(None),
            Some(v) => {
                let (fid, field_type) = parse_field_value(&k, &v)?;
                Ok(Some(FieldInfo {
                    id: FieldId(fid),
                    name: name.to_owned(),
                    field_type,
                }))
            }
        }
    }

    /// The id of a series key, if it is in the index.
    pub fn series_id(&self, series_key: &str) -> Result<Option<SeriesId>> {
        let k = keys::series_index_key(series_key);
        self.db
            .get_cf(self.cf(CF_INDEX), &k)?
            .map(|v| read_i64(&v, &k).map(|s| SeriesId(s as u64)))
            .transpose()
    }

    /// Series of the measurements `measurement` matches (all if `None`)
    /// whose tags satisfy `predicate`, sorted by series key
    /// (`SHOW SERIES`, and the series selection of a query).
    pub fn series(
        &self,
        measurement: Option<&NameMatcher>,
        predicate: Option<&TagPredicate>,
    ) -> Result<Vec<SeriesEntry>> {
        let matcher = measurement.map(MeasurementMatcher::compile).transpose()?;
        let pred = predicate.map(Predicate::compile).transpose()?;
        let mut out = Vec::new();
        for m in self.list_measurements(None)? {
            if matcher.as_ref().is_some_and(|mm| !mm.matches(&m)) {
                continue;
            }
            for (key, sid) in self.measurement_series(&m, None)? {
                if let Some(p) = &pred {
                    let (_, tags) = parse_series_key(&key)
                        .ok_or_else(|| Error::CorruptIndex(key.as_bytes().to_vec()))?;
                    if !p.matches(&tags) {
                        continue;
                    }
                }
                out.push(SeriesEntry {
                    id: SeriesId(sid),
                    key,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Number of series in the shard.
    pub fn series_cardinality(&self) -> Result<u64> {
        Ok(self.lock_writer()?.series.len() as u64)
    }

    // ---- scans ----------------------------------------------------------

    /// The blocks of one field of one series with values in `[min, max]`,
    /// in time order, each decoded and trimmed to the range. Cheap to call
    /// per series: one bounded RocksDB iterator.
    pub fn scan(&self, series: SeriesId, field: FieldId, min: i64, max: i64) -> BlockScan<'_> {
        self.scan_dir(series, field, (min, max), false)
    }

    /// [`Self::scan`] in either direction: newest block first when `rev`
    /// (the values inside a block stay in time order).
    pub fn scan_dir(
        &self,
        series: SeriesId,
        field: FieldId,
        (min, max): (i64, i64),
        rev: bool,
    ) -> BlockScan<'_> {
        let lo = keys::data_key(series.0, field.0, min.div_euclid(self.window));
        let last = keys::data_key(series.0, field.0, max.div_euclid(self.window));
        let hi = keys::prefix_end(&last);
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_DATA), bounded(lo.to_vec(), hi));
        if min <= max {
            let _reading = Reading::start();
            if rev {
                it.seek_for_prev(last);
            } else {
                it.seek(lo);
            }
        }
        BlockScan {
            it,
            min,
            max,
            rev,
            done: min > max,
            step: false,
        }
    }

    /// The oldest value of one field of one series in `[min, max]`, or the
    /// newest when `newest`, with its time: what `first()` and `last()`
    /// without GROUP BY time need. Reads from that end of the range and
    /// takes the value in place where the block allows (see [`codec::edge`]).
    pub fn edge(
        &self,
        series: SeriesId,
        field: FieldId,
        range: (i64, i64),
        newest: bool,
    ) -> Result<Option<(i64, Value)>> {
        self.scan_dir(series, field, range, newest)
            .find(|bytes, min, max| codec::edge(bytes, min, max, newest))
            .transpose()
    }

    /// Several fields of one series aligned by timestamp, with `None` where
    /// a field has no value at a row's time, one storage window at a time,
    /// oldest first or newest first when `rev`: a reader that needs only
    /// the first rows stops early and holds one window in memory, not the
    /// whole range.
    pub fn scan_aligned(
        &self,
        series: SeriesId,
        fields: &[FieldId],
        range: (i64, i64),
        rev: bool,
    ) -> AlignedScan<'_> {
        AlignedScan {
            scans: fields
                .iter()
                .map(|f| self.scan_dir(series, *f, range, rev).peekable())
                .collect(),
            window: self.window,
            rev,
        }
    }

    /// All values of one field of one series in `[min, max]` as one block
    /// (`None` if there are none).
    pub fn read(
        &self,
        series: SeriesId,
        field: FieldId,
        min: i64,
        max: i64,
    ) -> Result<Option<Block>> {
        let mut out: Option<Block> = None;
        for b in self.scan(series, field, min, max) {
            let b = b?;
            match &mut out {
                None => out = Some(b),
                Some(o) => o.append(&b),
            }
        }
        Ok(out)
    }

    // ---- digest, size, compaction ------------------------------------------

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

/// Iterator over the decoded blocks of a field of a series; see
/// [`Shard::scan`].
pub struct BlockScan<'a> {
    it: DBRawIterator<'a>,
    min: i64,
    max: i64,
    rev: bool,
    done: bool,
    /// Whether to move before reading (see [`BlockScan::find`]).
    step: bool,
}

impl BlockScan<'_> {
    /// Applies `f` to the stored blocks in scan order (with the range) until
    /// it gives a value. The iterator moves on only when asked for the next
    /// block: moving positions it on the next key, which merges that key's
    /// pending operands, wasted work for a reader that stops here.
    fn find<T>(&mut self, f: impl Fn(&[u8], i64, i64) -> Result<Option<T>>) -> Option<Result<T>> {
        while !self.done {
            if self.step {
                let _reading = Reading::start();
                if self.rev {
                    self.it.prev();
                } else {
                    self.it.next();
                }
            }
            self.step = true;
            if !self.it.valid() {
                self.done = true;
                return self.it.status().err().map(|e| Err(e.into()));
            }
            match f(self.it.value().expect("valid"), self.min, self.max) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(Some(t)) => return Some(Ok(t)),
                Ok(None) => {}
            }
        }
        None
    }
}

impl Iterator for BlockScan<'_> {
    type Item = Result<Block>;

    fn next(&mut self) -> Option<Self::Item> {
        self.find(|bytes, min, max| {
            let mut b = codec::decode(bytes)?;
            b.retain_range(min, max);
            Ok((!b.is_empty()).then_some(b))
        })
    }
}

/// The rows of the union of the blocks' timestamps, with `None` where a
/// block has no value.
fn align(blocks: &[Option<Block>]) -> AlignedRows {
    let timestamps: Vec<i64> = match blocks.iter().flatten().next() {
        // Fields written together share their timestamps: no union needed.
        Some(first)
            if blocks
                .iter()
                .all(|b| b.as_ref().is_some_and(|b| b.timestamps == first.timestamps)) =>
        {
            first.timestamps.clone()
        }
        _ => {
            let mut ts: Vec<i64> = blocks
                .iter()
                .flatten()
                .flat_map(|b| b.timestamps.iter().copied())
                .collect();
            ts.sort_unstable();
            ts.dedup();
            ts
        }
    };
    let columns = blocks
        .iter()
        .map(|b| {
            let mut col = Vec::with_capacity(timestamps.len());
            let mut j = 0;
            for &t in &timestamps {
                match b {
                    Some(b) if j < b.len() && b.timestamps[j] == t => {
                        col.push(Some(b.values.value(j)));
                        j += 1;
                    }
                    _ => col.push(None),
                }
            }
            col
        })
        .collect();
    AlignedRows {
        timestamps,
        columns,
    }
}

/// Iterator over the aligned rows of several fields of a series, one
/// storage window at a time; see [`Shard::scan_aligned`].
pub struct AlignedScan<'a> {
    scans: Vec<std::iter::Peekable<BlockScan<'a>>>,
    window: i64,
    rev: bool,
}

impl Iterator for AlignedScan<'_> {
    type Item = Result<AlignedRows>;

    fn next(&mut self) -> Option<Self::Item> {
        // Every block holds one window; the next window is the nearest one
        // any field still has.
        let mut target: Option<i64> = None;
        for s in &mut self.scans {
            match s.peek() {
                None => {}
                Some(Err(_)) => return s.next().and_then(Result::err).map(Err),
                Some(Ok(b)) => {
                    let w = b.timestamps[0].div_euclid(self.window);
                    target = Some(match target {
                        Some(t) if self.rev => t.max(w),
                        Some(t) => t.min(w),
                        None => w,
                    });
                }
            }
        }
        let target = target?;
        let window = self.window;
        let blocks: Vec<Option<Block>> = self
            .scans
            .iter_mut()
            .map(|s| {
                s.next_if(|b| {
                    b.as_ref()
                        .is_ok_and(|b| b.timestamps[0].div_euclid(window) == target)
                })
                .and_then(Result::ok)
            })
            .collect();
        Some(Ok(align(&blocks)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Column;

    #[test]
    fn a_read_merges_without_packing_and_compaction_packs() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ShardOptions {
            window_ns: DEFAULT_WINDOW_NS,
            sync_writes: false,
        };
        let shard = Shard::open(
            dir.path(),
            &StorageResources::new(NodeBudget::default()),
            &opts,
        )
        .unwrap();
        let data = shard.cf(CF_DATA);
        assert!(!shard.needs_compaction().unwrap(), "nothing written");
        let key = keys::data_key(1, 1, 0);
        for i in 0..3 {
            let b = Block {
                timestamps: vec![i],
                values: Column::Integer(vec![i * 10]),
            };
            shard.db.merge_cf(data, key, codec::encode_raw(&b)).unwrap();
        }
        assert!(shard.needs_compaction().unwrap(), "memtable entries");
        shard.db.flush_cf(data).unwrap();
        assert!(shard.needs_compaction().unwrap(), "an L0 file of operands");
        let encoding = |v: &[u8]| v[0] & 0xf0;
        let read = {
            let _reading = Reading::start();
            shard.db.get_cf(data, key).unwrap().unwrap()
        };
        assert!(!READING.get(), "the guard restores the flag");
        assert_eq!(encoding(&read), codec::RAW);
        let block = codec::decode(&read).unwrap();
        assert_eq!(block.timestamps, [0, 1, 2]);
        assert_eq!(block.values, Column::Integer(vec![0, 10, 20]));

        shard.compact().unwrap();
        let _reading = Reading::start();
        let stored = shard.db.get_cf(data, key).unwrap().unwrap();
        assert_eq!(encoding(&stored), codec::PACKED);
        assert_eq!(codec::decode(&stored).unwrap(), block);
        assert!(!shard.needs_compaction().unwrap());

        // Newer writes on a packed block: read as a chain of both...
        let write = |t: i64, v: i64| {
            let b = Block {
                timestamps: vec![t],
                values: Column::Integer(vec![v]),
            };
            shard.db.merge_cf(data, key, codec::encode_raw(&b)).unwrap();
        };
        write(3, 30);
        let read = shard.db.get_cf(data, key).unwrap().unwrap();
        assert_eq!(encoding(&read), codec::CHAIN);
        assert_eq!(codec::decode(&read).unwrap().timestamps, [0, 1, 2, 3]);
        // ...unless one goes back in time: then merged, the later write winning.
        write(1, 11);
        let read = shard.db.get_cf(data, key).unwrap().unwrap();
        assert_eq!(encoding(&read), codec::RAW);
        let block = codec::decode(&read).unwrap();
        assert_eq!(block.values, Column::Integer(vec![0, 11, 20, 30]));
    }
}

//! Shard snapshots: one shard's keys at one instant, as a byte stream that
//! another store (another node, a backup directory) imports under any
//! shard id.
//!
//! ```text
//!  Store::export_shard ── RocksDB snapshot (a sequence number: no copy, no
//!     │                    pause of the writer) ── per column family, the
//!     │                    shard's keys in order, prefix stripped, values
//!     │                    fully merged (packed blocks, as a compaction
//!     ▼                    writes them)
//!  header (schemas::node_api::SnapshotHeader) · entries (cf, key, value)… · end + count
//!     │
//!     ▼
//!  Store::import_shard ── one SST file per column family (SstFileWriter,
//!     keys under the new id's prefix), the stream checked to its end ──
//!     drop what the id held ── ingest, the meta column family last, so a
//!     crash halfway leaves keys without meta, a shard the store does not
//!     list (`contains_shard` false), which the next import or start of
//!     the shard drops first
//! ```
//!
//! Why not a RocksDB checkpoint: the node's shards share one database
//! (store.rs), so a checkpoint would link every shard's files; a shard is
//! a key range, and its snapshot is that range at a sequence number. The
//! applied offset is a key of the range, so the snapshot carries the
//! offset its contents are at by construction. Ingesting SST files skips
//! the memtable and the WAL: an import costs about a sequential write of
//! its bytes.

use std::io::{Read, Write};
use std::path::PathBuf;

use rocksdb::{IngestExternalFileOptions, Options, ReadOptions, SstFileWriter};
use schemas::node_api::{SnapshotHeader, SnapshotHeaderError};

use crate::error::{Error, Result};
use crate::keys;
use crate::shard::{read_i64, shard_prefix, CF_DATA, CF_INDEX, CF_META};
use crate::store::Store;

const END: u8 = 0xff;
/// Column families in stream order (the meta one first, so a reader sees
/// the window and offset early; it is ingested last all the same).
const STREAM_CFS: [&str; 3] = [CF_META, CF_INDEX, CF_DATA];
/// Bounds on a frame, so a corrupt length cannot ask for terabytes.
const MAX_KEY: usize = 1 << 20;
const MAX_VALUE: usize = 1 << 30;

/// What a snapshot held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotInfo {
    /// Which history of its log the shard follows: drawn when a shard is
    /// created or forgets its offset, kept by snapshots. Two shards with
    /// the same incarnation and applied offset hold the same contents.
    pub incarnation: u64,
    /// The offset of the last record its contents include.
    pub applied_offset: Option<i64>,
    /// Keys it held.
    pub entries: u64,
    /// Bytes of the stream.
    pub bytes: u64,
}

/// Why a snapshot stream was refused.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The stream does not start with a header this build reads.
    #[error(transparent)]
    Header(#[from] SnapshotHeaderError),
    /// A column family code outside the format, or families out of order.
    #[error("bad column family code {0} in snapshot")]
    ColumnFamily(u8),
    /// A key or value longer than the format allows.
    #[error("snapshot frame too long ({0} bytes)")]
    FrameTooLong(usize),
    /// Keys of a column family not in strictly increasing order.
    #[error("snapshot keys out of order in column family {0}")]
    KeyOrder(&'static str),
    /// The stream ended before its end marker.
    #[error("snapshot truncated after {entries} entries")]
    Truncated {
        /// Entries read.
        entries: u64,
    },
    /// The end marker's count disagrees with the entries read.
    #[error("snapshot end marker counts {expected} entries, read {read}")]
    Count {
        /// The marker's count.
        expected: u64,
        /// Entries read.
        read: u64,
    },
    /// The snapshot holds no meta keys: not a shard.
    #[error("snapshot holds no shard (no meta keys)")]
    Empty,
    /// Writing the stream failed (the receiver went away).
    #[error("writing the snapshot: {0}")]
    Write(std::io::Error),
    /// Reading the stream failed.
    #[error("reading the snapshot: {0}")]
    Read(std::io::Error),
}

/// Counts what passes through a writer.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.inner
            .write_all(b)
            .map_err(|e| Error::Snapshot(SnapshotError::Write(e)))?;
        self.bytes += b.len() as u64;
        Ok(())
    }
}

impl Store {
    /// Whether the store holds shard `id` (open or not).
    pub fn contains_shard(&self, id: u64) -> Result<bool> {
        let prefix = shard_prefix(id);
        let mut ro = ReadOptions::default();
        if let Some(end) = keys::prefix_end(&prefix) {
            ro.set_iterate_upper_bound(end);
        }
        let mut it = self.db.raw_iterator_cf_opt(self.cf(CF_META), ro);
        it.seek(prefix);
        let found = it.valid();
        it.status()?;
        Ok(found)
    }

    /// Writes shard `id` as it is now to `out` (see the module docs). The
    /// shard may be open and applying: the snapshot is of one instant, and
    /// its applied offset says which.
    pub fn export_shard(&self, id: u64, out: impl Write) -> Result<SnapshotInfo> {
        let prefix = shard_prefix(id);
        let end = keys::prefix_end(&prefix);
        let snap = self.db.snapshot();
        let mut out = Counting {
            inner: out,
            bytes: 0,
        };
        let meta_i64 = |key: &[u8]| -> Result<Option<i64>> {
            snap.get_cf(self.cf(CF_META), [&prefix[..], key].concat())?
                .map(|v| read_i64(&v, key))
                .transpose()
        };
        let offset = meta_i64(keys::META_OFFSET)?;
        let incarnation = meta_i64(keys::META_INCARNATION)?.unwrap_or(0) as u64;
        out.put(
            &SnapshotHeader {
                incarnation,
                applied_offset: offset,
            }
            .encode(),
        )?;
        let mut entries = 0u64;
        for (code, name) in STREAM_CFS.iter().enumerate() {
            let mut ro = ReadOptions::default();
            ro.set_snapshot(&snap);
            if let Some(end) = &end {
                ro.set_iterate_upper_bound(end.clone());
            }
            // Packed blocks: the merge runs as for a compaction (no
            // `Reading` guard), so the snapshot is as compact as the shard
            // would be after a full compaction.
            let mut it = self.db.raw_iterator_cf_opt(self.cf(name), ro);
            it.seek(prefix);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let k = &k[prefix.len()..];
                if *name == CF_META && k == keys::META_RESUME_FROM {
                    // An operator's decision about this replica's log
                    // position, not part of its contents.
                    it.next();
                    continue;
                }
                out.put(&[code as u8])?;
                out.put(&(k.len() as u32).to_be_bytes())?;
                out.put(&(v.len() as u32).to_be_bytes())?;
                out.put(k)?;
                out.put(v)?;
                entries += 1;
                it.next();
            }
            it.status()?;
        }
        if entries == 0 {
            return Err(Error::NoSuchShard(id));
        }
        out.put(&[END])?;
        out.put(&entries.to_be_bytes())?;
        out.inner
            .flush()
            .map_err(|e| Error::Snapshot(SnapshotError::Write(e)))?;
        Ok(SnapshotInfo {
            incarnation,
            applied_offset: offset,
            entries,
            bytes: out.bytes,
        })
    }

    /// Replaces shard `id` by the snapshot read from `input`, durably.
    /// The whole stream is read and checked before the shard is touched: a
    /// damaged one leaves it as it was. Refused while the shard is open.
    pub fn import_shard(&self, id: u64, input: impl Read) -> Result<SnapshotInfo> {
        let dir = self.path.join("import");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let files: Vec<PathBuf> = STREAM_CFS
            .iter()
            .map(|cf| dir.join(format!("{id}-{cf}.sst")))
            .collect();
        let result = self.write_ssts(id, input, &files).and_then(|(info, used)| {
            let _guard = self.reserve(id)?;
            self.delete_shard_keys(id)?;
            // Meta last: until it is in, the store does not list the shard.
            for i in [1, 2, 0] {
                if used[i] {
                    let mut o = IngestExternalFileOptions::default();
                    o.set_move_files(true);
                    self.db.ingest_external_file_cf_opts(
                        self.cf(STREAM_CFS[i]),
                        &o,
                        vec![&files[i]],
                    )?;
                }
            }
            Ok(info)
        });
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        result
    }

    /// Forgets the applied offset of shard `id` (not open): its next record
    /// is taken from the beginning of its partition, a new history of its
    /// log (a new incarnation). For a restored shard whose log is new.
    pub fn forget_offset(&self, id: u64) -> Result<()> {
        let _guard = self.reserve(id)?;
        let prefix = shard_prefix(id);
        let mut b = rocksdb::WriteBatch::default();
        for k in [keys::META_OFFSET, keys::META_RESUME_FROM] {
            b.delete_cf(self.cf(CF_META), [&prefix[..], k].concat());
        }
        b.put_cf(
            self.cf(CF_META),
            [&prefix[..], keys::META_INCARNATION].concat(),
            keys::new_incarnation(id).to_be_bytes(),
        );
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(b, &wo)?;
        Ok(())
    }

    /// Reads the stream into one SST file per column family; which ones
    /// got keys.
    fn write_ssts(
        &self,
        id: u64,
        input: impl Read,
        files: &[PathBuf],
    ) -> Result<(SnapshotInfo, [bool; 3])> {
        let mut r = Reader {
            inner: input,
            bytes: 0,
        };
        let mut head = [0u8; SnapshotHeader::LEN];
        r.exact(&mut head, 0)?;
        let header = SnapshotHeader::decode(&head).map_err(SnapshotError::from)?;
        let prefix = shard_prefix(id);
        let mut options = Options::default();
        // Snappy, RocksDB's default, is not built in; compaction recompresses
        // the bottom level with zstd later anyway.
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let mut used = [false; 3];
        let mut current: Option<(usize, SstFileWriter<'_>)> = None;
        let (mut entries, mut key, mut value) = (0u64, Vec::new(), Vec::new());
        let mut last_key: Vec<u8> = Vec::new();
        loop {
            let mut code = [0u8; 1];
            r.exact(&mut code, entries)?;
            if code[0] == END {
                let mut n = [0u8; 8];
                r.exact(&mut n, entries)?;
                let expected = u64::from_be_bytes(n);
                if expected != entries {
                    return Err(SnapshotError::Count {
                        expected,
                        read: entries,
                    }
                    .into());
                }
                break;
            }
            let cf = usize::from(code[0]);
            if cf >= STREAM_CFS.len() || current.as_ref().is_some_and(|(c, _)| cf < *c) {
                return Err(SnapshotError::ColumnFamily(code[0]).into());
            }
            let mut lens = [0u8; 8];
            r.exact(&mut lens, entries)?;
            let klen = u32::from_be_bytes(lens[..4].try_into().expect("4 bytes")) as usize;
            let vlen = u32::from_be_bytes(lens[4..].try_into().expect("4 bytes")) as usize;
            if klen > MAX_KEY || vlen > MAX_VALUE {
                return Err(SnapshotError::FrameTooLong(klen.max(vlen)).into());
            }
            key.clear();
            key.extend_from_slice(&prefix);
            key.resize(prefix.len() + klen, 0);
            r.exact(&mut key[prefix.len()..], entries)?;
            value.resize(vlen, 0);
            r.exact(&mut value, entries)?;
            if current.as_ref().is_none_or(|(c, _)| *c != cf) {
                if let Some((_, mut w)) = current.take() {
                    w.finish()?;
                }
                let w = SstFileWriter::create(&options);
                w.open(&files[cf])?;
                used[cf] = true;
                current = Some((cf, w));
                last_key.clear();
            } else if key <= last_key {
                return Err(SnapshotError::KeyOrder(STREAM_CFS[cf]).into());
            }
            current.as_mut().expect("set above").1.put(&key, &value)?;
            std::mem::swap(&mut last_key, &mut key);
            entries += 1;
        }
        if let Some((_, mut w)) = current.take() {
            w.finish()?;
        }
        if !used[0] {
            return Err(SnapshotError::Empty.into());
        }
        Ok((
            SnapshotInfo {
                incarnation: header.incarnation,
                applied_offset: header.applied_offset,
                entries,
                bytes: r.bytes,
            },
            used,
        ))
    }
}

struct Reader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, buf: &mut [u8], entries: u64) -> Result<()> {
        self.inner.read_exact(buf).map_err(|e| {
            Error::Snapshot(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                SnapshotError::Truncated { entries }
            } else {
                SnapshotError::Read(e)
            })
        })?;
        self.bytes += buf.len() as u64;
        Ok(())
    }
}

//! # storage — Sluice's time-series engine on RocksDB
//!
//! One [`Store`] per node (one RocksDB database); one [`Shard`] per shard
//! replica, a key range of the store (its id as the prefix of every key),
//! so an idle shard costs a few keys and the node's memtables, block cache
//! and threads are budgets of the node ([`NodeBudget`]), whatever the
//! number of shards (store.rs says why a prefix and not a column family).
//!
//! ```text
//!  Kafka record (offset, LogRecord)
//!        │
//!        ▼                                              (shard/apply.rs)
//!  Shard::apply / apply_many ──────────── one WriteBatch per call ─────────┐
//!        │                                                                  │
//!        ├─ Points: per series ─ type check (first type of a field wins;   │
//!        │          conflicting points dropped, counted in ApplyStats)     │
//!        │        ─ series key → id (in-memory map; new ids in apply order)│
//!        │            └─ new series/fields: put index entries ──► [index]  │
//!        │        ─ per (series, field, day window): merge(raw operand) ─► [data]
//!        │                                                                  │
//!        ├─ Tombstone: commit what came before, then match series via the  │
//!        │    index, delete_range / rewrite edge windows, drop index       │
//!        │    entries of emptied series and fields of emptied measurements │
//!        │                                                                  │
//!        └─ applied offset + id counters ─────────────────────► [default] ─┘
//!                                                  (atomic with the data)
//!
//!  [data] merge operator "sluice.block.v1" (shard/merge.rs): operands are
//!         sorted column slices; full merge = fold in log order, later write
//!         wins on equal timestamps, output one pco-packed block (compaction)
//!         or, for a read, a raw one (or the stored packed block chained with
//!         the newer raw writes); partial merge combines operands (raw).
//!
//!  Shard::series / tag_keys / tag_values / field_keys / measurements ─ [index]
//!                                                       (shard/index.rs)
//!  Shard::scan(series, field, min, max) ─ bounded iterator over [data]
//!        ─ decode block (pco) ─ trim to range ─► Block { timestamps, values }
//!  Shard::scan_aligned ─ several fields of a series as rows with nulls,
//!        window by window                               (shard/scan.rs)
//!  Shard::digest ─ snapshot ─ series in key order ─ fields in name order
//!        ─ values in time order ─► SHA-256 (independent of physical layout)
//!  Store::open / shard / destroy_shard / shard_ids (options, column
//!        families)                                     (store.rs)
//!  Store::export_shard / import_shard ─ a shard's key range at one
//!        sequence number as a stream; imported as SST files under any id
//!                                                       (snapshot.rs)
//!  Shard::digest, compact, needs_compaction, size_on_disk
//!                                                       (shard/maintenance.rs)
//! ```
//!
//! Modules: [`codec`] (block encodings and the merge rule), `keys` (key
//! layout), [`predicate`] (InfluxQL matchers), [`digest`], `shard` (the
//! [`Shard`], one file per job: `shard/mod.rs` the struct, its accessors
//! and shared helpers, and the prefixing iterator and write batch;
//! `apply.rs`; `index.rs`; `scan.rs`; `merge.rs` the merge operator;
//! `maintenance.rs` open/close, digest, compaction and sizes), [`store`]
//! (the node's database, its options, creating and dropping shards),
//! [`snapshot`] (a shard as a stream, to bootstrap a peer or back up).
//!
//! Exactly-once: the applied offset is written in the same `WriteBatch` as
//! the data of the records it covers (the store's WAL on), so after any crash the shard
//! is at a record boundary and its stored offset says which; the consumer
//! resumes at `applied_offset() + 1`. Offsets not after the applied one are
//! refused ([`Error::OffsetNotAfterApplied`]), never applied twice.
//!
//! Determinism: ids, field types, merges and deletes depend only on the
//! records and their order, so replicas at the same offset have the same
//! logical contents and the same [`ShardDigest`].

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod codec;
pub mod digest;
mod error;
mod keys;
pub mod predicate;
mod shard;
pub mod snapshot;
pub mod store;

pub use codec::{Block, Column, Value};
pub use digest::{ContentHasher, ShardDigest};
pub use error::{CorruptReason, Error, Result};
pub use shard::{
    dir_size, AlignedRows, AlignedScan, ApplyStats, BlockScan, FieldId, FieldInfo, SeriesEntry,
    SeriesId, Shard,
};
pub use snapshot::{SnapshotError, SnapshotInfo};
pub use store::{NodeBudget, ShardOptions, Store, DEFAULT_WINDOW_NS};

#[cfg(test)]
mod tests;

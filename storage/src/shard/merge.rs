//! The merge operator of the data column family ("sluice.block.v1"), and
//! the [`Reading`] guard that tells it whether it runs for a reader.

use std::cell::Cell;

use rocksdb::MergeOperands;

use crate::codec::{self, Block};

/// The merge operator's name is persisted by RocksDB in the OPTIONS file; a
/// new block format must get a new name.
pub(crate) const MERGE_OPERATOR: &str = "sluice.block.v1";

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
pub(super) struct Reading(bool);

impl Reading {
    pub(super) fn start() -> Self {
        Reading(READING.replace(true))
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READING.set(self.0);
    }
}

pub(crate) fn full_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    ops: &MergeOperands,
) -> Option<Vec<u8>> {
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

pub(crate) fn partial_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    ops: &MergeOperands,
) -> Option<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Column;
    use crate::keys;
    use crate::shard::CF_DATA;
    use crate::store::{NodeBudget, ShardOptions, Store, DEFAULT_WINDOW_NS};

    #[test]
    fn a_read_merges_without_packing_and_compaction_packs() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ShardOptions {
            window_ns: DEFAULT_WINDOW_NS,
            sync_writes: false,
        };
        let shard = Store::open(dir.path(), NodeBudget::default())
            .unwrap()
            .shard(1, &opts)
            .unwrap();
        let data = shard.cf(CF_DATA);
        let key = [&shard.prefix[..], &keys::data_key(1, 1, 0)].concat();
        let key = &key[..];
        for i in 0..3 {
            let b = Block {
                timestamps: vec![i],
                values: Column::Integer(vec![i * 10]),
            };
            shard.db.merge_cf(data, key, codec::encode_raw(&b)).unwrap();
        }
        shard.db.flush_cf(data).unwrap();
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

//! Reads of the data: block scans in either direction, the first or last
//! value of a range, and several fields aligned as rows.

use super::merge::Reading;
use super::{FieldId, SeriesId, Shard, ShardIter, CF_DATA};
use crate::codec::{self, Block, Value};
use crate::error::Result;
use crate::keys;

/// Values of several fields of one series aligned by timestamp, as InfluxDB
/// returns `SELECT a, b`: one row per timestamp where any field has a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlignedRows {
    /// Row timestamps, increasing.
    pub timestamps: Vec<i64>,
    /// `columns[f][row]`: the value of field `f` at that row, if any.
    pub columns: Vec<Vec<Option<Value>>>,
}

impl Shard {
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
        let mut it = self.iter(CF_DATA, &lo, hi.as_deref(), None);
        if min <= max {
            let _reading = Reading::start();
            if rev {
                it.seek_for_prev(&last);
            } else {
                it.seek(&lo);
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
}

/// Iterator over the decoded blocks of a field of a series; see
/// [`Shard::scan`].
pub struct BlockScan<'a> {
    it: ShardIter<'a>,
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

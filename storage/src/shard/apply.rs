//! The apply path: records (points and tombstones) become one atomic
//! `WriteBatch` with the offset, staged against an in-memory copy of the
//! index (the [`Writer`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use rocksdb::{ColumnFamily, WriteOptions};
use schemas::record::{DeleteKind, FieldColumn, PointBatch, Tombstone};
use schemas::series_key::{parse_series_key, write_series_key};
use schemas::{FieldType, LogRecord};

use super::merge::Reading;
use super::{field_value, parse_field_value, read_i64, Batch, Shard, CF_DATA, CF_INDEX, CF_META};
use crate::codec;
use crate::error::{Error, Result};
use crate::keys;
use crate::predicate::{MeasurementMatcher, Predicate};

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
    /// Points (series and timestamp) rejected for a field type conflict.
    pub points_type_conflict: u64,
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
        self.points_type_conflict += other.points_type_conflict;
        self.series_created += other.series_created;
        self.series_removed += other.series_removed;
    }
}

/// The apply side's state, behind the shard's mutex: an in-memory copy of
/// the series and field index (so apply never reads RocksDB) and the id
/// counters.
#[derive(Debug, Default)]
pub(super) struct Writer {
    pub(super) series: HashMap<String, u64>,
    pub(super) fields: HashMap<String, HashMap<String, (u32, FieldType)>>,
    pub(super) next_series: u64,
    pub(super) next_field: u32,
    pub(super) applied: Option<i64>,
    /// See [`Shard::resume_from`].
    pub(super) resume_from: Option<i64>,
    pub(super) key_buf: String,
    pub(super) op_buf: Vec<u8>,
}

impl Shard {
    pub(super) fn load_writer(&self) -> Result<Writer> {
        let mut w = Writer::default();
        let get = |k: &[u8]| -> Result<Option<i64>> {
            self.get(CF_META, k, None)?
                .map(|v| read_i64(&v, k))
                .transpose()
        };
        w.applied = get(keys::META_OFFSET)?;
        w.next_series = get(keys::META_NEXT_SERIES)?.unwrap_or(0) as u64;
        w.next_field = get(keys::META_NEXT_FIELD)?.unwrap_or(0) as u32;
        w.resume_from = get(keys::META_RESUME_FROM)?;
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

    pub(super) fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>> {
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

    /// An operator's offset to resume this shard's consumer at, kept until
    /// a record at or after it is applied (that apply removes it, in the
    /// same batch), so a crash in between does not stop at the skipped
    /// record again.
    pub fn resume_from(&self) -> Option<i64> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resume_from
    }

    /// Records an operator's resume offset durably (see
    /// [`Self::resume_from`]).
    pub fn set_resume_from(&self, from: i64) -> Result<()> {
        let mut w = self.lock_writer()?;
        let mut b = self.batch();
        b.put_cf(self.cf(CF_META), keys::META_RESUME_FROM, from.to_be_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(b.into_inner(), &wo)?;
        w.resume_from = Some(from);
        Ok(())
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
        let mut batch = self.batch();
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
                        self.commit(w, std::mem::replace(&mut batch, self.batch()), prev)?;
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

    fn commit(&self, w: &mut Writer, mut batch: Batch, offset: i64) -> Result<()> {
        let meta = self.cf(CF_META);
        let resumed = w.resume_from.is_some_and(|r| offset >= r);
        if resumed {
            batch.delete_cf(meta, keys::META_RESUME_FROM);
        }
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
        self.db.write_opt(batch.into_inner(), &wo)?;
        if resumed {
            w.resume_from = None;
        }
        w.applied = Some(offset);
        self.applied.store(offset, Ordering::Release);
        Ok(())
    }

    fn stage_points(
        &self,
        w: &mut Writer,
        batch: &mut Batch,
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
            // Pass 1: field types. A column of another type than the
            // field has in this shard is rejected with its points (a field
            // new to the shard takes the type of its column).
            conflict.clear();
            drop_ts.clear();
            // Fields new to the shard, typed by their first column here (a
            // decoded batch may repeat a column name).
            let mut new_types: Vec<(&str, FieldType)> = Vec::new();
            for col in &s.fields {
                let ft = col.values.field_type();
                let known = mfields.get(&*col.name).map(|&(_, t)| t).or_else(|| {
                    new_types
                        .iter()
                        .find(|(n, _)| *n == &*col.name)
                        .map(|&(_, t)| t)
                });
                if known.is_none() {
                    new_types.push((&col.name, ft));
                }
                let bad = !col.timestamps.is_empty() && known.is_some_and(|t| t != ft);
                if bad {
                    stats.values_type_conflict += col.timestamps.len() as u64;
                    drop_ts.extend_from_slice(&col.timestamps);
                }
                conflict.push(bad);
            }
            drop_ts.sort_unstable();
            drop_ts.dedup();
            stats.points_type_conflict += drop_ts.len() as u64;
            // Pass 2: what survives, and the fields it brings. A field only
            // the rejected points carried is not registered: InfluxDB keeps
            // nothing of a point it refused.
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
                if kept > 0 && !mfields.contains_key(&*col.name) {
                    let ft = col.values.field_type();
                    let fid = *next_field;
                    *next_field += 1;
                    mfields.insert(col.name.to_string(), (fid, ft));
                    batch.put_cf(
                        index,
                        keys::field_key(measurement, &col.name),
                        field_value(fid, ft),
                    );
                }
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
                // Unregistered: every value of the column went with a
                // rejected point.
                let Some(&(fid, _)) = mfields.get(&*col.name) else {
                    continue;
                };
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
        batch: &mut Batch,
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
        batch: &mut Batch,
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
    fn stage_delete_range(&self, batch: &mut Batch, sid: u64, min: i64, max: i64) -> Result<bool> {
        let _reading = Reading::start();
        let data = self.cf(CF_DATA);
        let lo = sid.to_be_bytes().to_vec();
        let hi = keys::prefix_end(&lo);
        let mut it = self.iter(CF_DATA, &lo, hi.as_deref(), None);
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
}

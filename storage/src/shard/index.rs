//! The series index queries: measurements, tag keys and values, fields,
//! series and their ids.

use std::collections::BTreeSet;

use schemas::record::{NameMatcher, TagPredicate};
use schemas::series_key::{parse_series_key, write_series_key};
use schemas::FieldType;

use super::{parse_field_value, read_i64, FieldId, SeriesId, Shard, ShardIter, CF_INDEX};
use crate::error::{Error, Result};
use crate::keys;
use crate::predicate::{MeasurementMatcher, Predicate};

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

fn escaped_measurement(m: &str) -> String {
    let mut s = String::new();
    // Tuples of `&str` satisfy both the `(K, V)` and the `TagPair` form of
    // the schemas API.
    let no_tags: &[(&str, &str)] = &[];
    write_series_key(&mut s, m, no_tags);
    s
}

impl Shard {
    /// An iterator over index keys starting with `prefix`.
    pub(super) fn index_iter(
        &self,
        prefix: &[u8],
        snapshot: Option<&rocksdb::Snapshot<'_>>,
    ) -> ShardIter<'_> {
        let hi = keys::prefix_end(prefix);
        let mut it = self.iter(CF_INDEX, prefix, hi.as_deref(), snapshot);
        it.seek(prefix);
        it
    }

    pub(super) fn list_measurements(
        &self,
        snapshot: Option<&rocksdb::Snapshot<'_>>,
    ) -> Result<Vec<String>> {
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
    pub(super) fn measurement_series(
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

    pub(super) fn fields_of(
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
        match self.get(CF_INDEX, &k, None)? {
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
        self.get(CF_INDEX, &k, None)?
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
}

//! Route: parsed points → one [`PointBatch`] per (shard group, shard).
//!
//! Pure and synchronous so the hot path can be benchmarked without a broker.
//! Points are grouped by series inside each shard's batch and their fields
//! appended to per-field columns, moving the parser's borrowed strings into
//! the batch without copying them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use fnv::FnvBuildHasher;
use line_protocol::{FieldValue, Point};
use schemas::meta::{MetaData, RetentionPolicy, ShardGroup, ShardGroupId};
use schemas::meta_api::FieldTypeClaim;
use schemas::{FieldColumn, FieldType, FieldValues, PointBatch, Series};

/// Why a point was not routed. Each maps to InfluxDB's wording in a
/// "partial write" error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Older than the retention policy keeps.
    #[error("points beyond retention policy")]
    BeyondRetention,
    /// A field's type differs from the type already known for that shard.
    #[error(
        "field type conflict: input field \"{field}\" on measurement \"{measurement}\" is type {got}, already exists as type {known}"
    )]
    FieldTypeConflict {
        /// Measurement name.
        measurement: String,
        /// Field key.
        field: String,
        /// The type the point has.
        got: FieldType,
        /// The type already known.
        known: FieldType,
    },
    /// No shard group accepts the timestamp (the caller did not resolve one).
    #[error("no shard group for timestamp {0}")]
    NoShardGroup(i64),
}

impl Rejection {
    /// The `reason` label of the rejected-points metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Rejection::BeyondRetention => "beyond_retention",
            Rejection::FieldTypeConflict { .. } => "field_type_conflict",
            Rejection::NoShardGroup(_) => "no_shard_group",
        }
    }
}

/// A point that was not routed, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number in the request or record.
    pub line_number: usize,
    /// Why.
    pub reason: Rejection,
}

/// The points of one shard, ready to encode.
#[derive(Debug)]
pub struct ShardBatch<'a> {
    /// The group's topic.
    pub topic: String,
    /// The partition (= shard index in the group).
    pub partition: i32,
    /// The batch, grouped by series.
    pub batch: PointBatch<'a>,
}

/// The outcome of routing one request or record.
#[derive(Debug, Default)]
pub struct Routed<'a> {
    /// One batch per shard that received points.
    pub batches: Vec<ShardBatch<'a>>,
    /// Points that were dropped, with why.
    pub rejected: Vec<Rejected>,
    /// Number of points routed.
    pub points: usize,
    /// Number of field values routed.
    pub values: usize,
}

/// The field types metad settled for each shard group
/// ([`schemas::meta_api::MetaCommand::RegisterFieldTypes`]): the meta
/// data's, and the answers this process got since, which the meta data
/// watch brings a moment later. Both are authoritative (a group's types
/// never change), so a point is judged the same on every node.
#[derive(Debug, Default)]
pub struct FieldTypes {
    answers: Mutex<HashMap<ShardGroupId, MeasurementFields>>,
}

/// measurement → field → type
type MeasurementFields = HashMap<String, HashMap<String, FieldType>>;

impl FieldTypes {
    /// The type of `field` of `measurement` in `group`, if settled.
    pub fn get(
        &self,
        md: &MetaData,
        group: ShardGroupId,
        measurement: &str,
        field: &str,
    ) -> Option<FieldType> {
        md.field_type(group, measurement, field).or_else(|| {
            let answers = self.answers.lock().expect("not poisoned");
            answers.get(&group)?.get(measurement)?.get(field).copied()
        })
    }

    /// Keeps metad's answers to `claims`.
    pub fn remember(&self, claims: &[FieldTypeClaim], types: &[FieldType]) {
        let mut answers = self.answers.lock().expect("not poisoned");
        for (c, t) in claims.iter().zip(types) {
            answers
                .entry(c.group_id)
                .or_default()
                .entry(c.measurement.clone())
                .or_default()
                .insert(c.field.clone(), *t);
        }
    }

    /// Forgets groups that no longer exist.
    pub fn prune(&self, md: &MetaData) {
        let live: std::collections::HashSet<ShardGroupId> =
            md.shard_groups().map(|g| g.id).collect();
        self.answers
            .lock()
            .expect("not poisoned")
            .retain(|id, _| live.contains(id));
    }
}

fn field_type(v: &FieldValue<'_>) -> FieldType {
    match v {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::Unsigned(_) => FieldType::Unsigned,
        FieldValue::String(_) => FieldType::String,
        FieldValue::Boolean(_) => FieldType::Boolean,
    }
}

fn push_value<'a>(values: &mut FieldValues<'a>, v: FieldValue<'a>) {
    match (values, v) {
        (FieldValues::Float(c), FieldValue::Float(x)) => c.push(x),
        (FieldValues::Integer(c), FieldValue::Integer(x)) => c.push(x),
        (FieldValues::Unsigned(c), FieldValue::Unsigned(x)) => c.push(x),
        (FieldValues::String(c), FieldValue::String(x)) => c.push(x),
        (FieldValues::Boolean(c), FieldValue::Boolean(x)) => c.push(x),
        _ => unreachable!("types are checked before values are pushed"),
    }
}

type FieldTypesByMeasurement<'a> =
    HashMap<Cow<'a, str>, HashMap<Cow<'a, str>, FieldType, FnvBuildHasher>, FnvBuildHasher>;

/// The batch being built for one shard.
struct Bucket<'a> {
    group: usize,
    shard_index: usize,
    batch: PointBatch<'a>,
    series_by_key: HashMap<String, usize, FnvBuildHasher>,
    /// Field types of this batch's columns, by measurement.
    types: FieldTypesByMeasurement<'a>,
}

/// Routes `points` of database `db` and retention policy `rp` into the
/// shard groups `groups` (which must accept every timestamp to route;
/// see [`timestamps_needing_groups`]), refusing points whose field types
/// contradict those settled in `md` and `known`.
pub fn route<'a>(
    db: &str,
    rp: &RetentionPolicy,
    groups: &[&ShardGroup],
    points: Vec<Point<'a>>,
    now_ns: i64,
    md: &MetaData,
    known: &FieldTypes,
) -> Routed<'a> {
    let mut out = Routed::default();
    let mut buckets: Vec<Bucket<'a>> = Vec::new();
    // (group, shard index) → bucket; few entries, so a small map.
    let mut bucket_of: HashMap<(usize, usize), usize, FnvBuildHasher> = HashMap::default();
    let mut key = String::with_capacity(256);
    let mut last_group = 0usize;

    for point in points {
        if !rp.retains(point.timestamp_ns, now_ns) {
            out.rejected.push(Rejected {
                line_number: point.line_number,
                reason: Rejection::BeyondRetention,
            });
            continue;
        }
        // Points of a request are nearly always in one group: try the last.
        let group = if groups
            .get(last_group)
            .is_some_and(|g| g.accepts(point.timestamp_ns))
        {
            last_group
        } else if let Some(i) = groups.iter().position(|g| g.accepts(point.timestamp_ns)) {
            last_group = i;
            i
        } else {
            out.rejected.push(Rejected {
                line_number: point.line_number,
                reason: Rejection::NoShardGroup(point.timestamp_ns),
            });
            continue;
        };
        let g = groups[group];

        key.clear();
        schemas::write_series_key(&mut key, &point.measurement, &point.tags);
        let shard_count = u32::try_from(g.shards.len()).expect("shard count fits u32");
        let shard_index = schemas::shard_index(&key, shard_count) as usize;
        let b = *bucket_of.entry((group, shard_index)).or_insert_with(|| {
            buckets.push(Bucket {
                group,
                shard_index,
                batch: PointBatch {
                    database: Cow::Owned(db.to_owned()),
                    retention_policy: Cow::Owned(rp.name.clone()),
                    shard_id: g.shards[shard_index].id,
                    series: Vec::new(),
                },
                series_by_key: HashMap::default(),
                types: HashMap::default(),
            });
            buckets.len() - 1
        });
        let bucket = &mut buckets[b];

        let existing = bucket.series_by_key.get(key.as_str()).copied();
        let check = KnownTypes {
            series: existing.map(|i| &bucket.batch.series[i]),
            batch: &bucket.types,
            settled: (g.id, md, known),
        };
        if let Some(reason) = check.conflict(&point) {
            out.rejected.push(Rejected {
                line_number: point.line_number,
                reason,
            });
            continue;
        }
        let series_idx = match existing {
            Some(i) => i,
            None => {
                bucket
                    .series_by_key
                    .insert(key.clone(), bucket.batch.series.len());
                bucket.batch.series.push(Series {
                    measurement: point.measurement.clone(),
                    tags: point
                        .tags
                        .into_iter()
                        .map(|(key, value)| schemas::Tag { key, value })
                        .collect(),
                    fields: Vec::new(),
                });
                bucket.batch.series.len() - 1
            }
        };
        let series = &mut bucket.batch.series[series_idx];
        out.points += 1;
        out.values += point.fields.len();
        for (name, value) in point.fields {
            let col = match series.fields.iter().position(|c| c.name == name) {
                Some(i) => &mut series.fields[i],
                None => {
                    let field_type = field_type(&value);
                    bucket
                        .types
                        .entry(point.measurement.clone())
                        .or_default()
                        .insert(name.clone(), field_type);
                    series.fields.push(FieldColumn {
                        name,
                        timestamps: Vec::new(),
                        values: FieldValues::empty(field_type),
                    });
                    series.fields.last_mut().expect("just pushed")
                }
            };
            col.timestamps.push(point.timestamp_ns);
            push_value(&mut col.values, value);
        }
    }

    out.batches = buckets
        .into_iter()
        .map(|b| {
            let g = groups[b.group];
            ShardBatch {
                topic: g.topic.clone(),
                partition: i32::try_from(b.shard_index).expect("partition fits i32"),
                batch: b.batch,
            }
        })
        .collect();
    out
}

/// The fields of `points` whose type their group has not settled yet, each
/// (group, measurement, field) once with the type of its first point: what
/// to settle with metad before [`route`], so that every router judges a
/// point by the same types. Skips, cheaply, points shaped like the one
/// before (same group, measurement and field names), which is most of them.
pub fn unsettled_fields(
    rp: &RetentionPolicy,
    groups: &[&ShardGroup],
    points: &[Point<'_>],
    now_ns: i64,
    md: &MetaData,
    known: &FieldTypes,
) -> Vec<FieldTypeClaim> {
    let mut claims: Vec<FieldTypeClaim> = Vec::new();
    let mut seen: std::collections::HashSet<(ShardGroupId, &str, &str)> = Default::default();
    let mut previous: Option<(ShardGroupId, &Point<'_>)> = None;
    for point in points {
        if !rp.retains(point.timestamp_ns, now_ns) {
            continue;
        }
        let Some(g) = groups.iter().find(|g| g.accepts(point.timestamp_ns)) else {
            continue;
        };
        let same_shape = previous.is_some_and(|(pg, p)| {
            pg == g.id
                && p.measurement == point.measurement
                && p.fields.len() == point.fields.len()
                && p.fields.iter().zip(&point.fields).all(|(a, b)| a.0 == b.0)
        });
        previous = Some((g.id, point));
        if same_shape {
            continue;
        }
        for (name, value) in &point.fields {
            if seen.insert((g.id, &point.measurement, name))
                && known.get(md, g.id, &point.measurement, name).is_none()
            {
                claims.push(FieldTypeClaim {
                    group_id: g.id,
                    measurement: point.measurement.to_string(),
                    field: name.to_string(),
                    field_type: field_type(value),
                });
            }
        }
    }
    claims
}

/// What is known of field types when a point arrives, most specific first:
/// its series' columns in this batch, other series of the shard in this
/// batch, and what metad settled for the group.
struct KnownTypes<'b, 'a> {
    series: Option<&'b Series<'a>>,
    batch: &'b FieldTypesByMeasurement<'a>,
    settled: (ShardGroupId, &'b MetaData, &'b FieldTypes),
}

impl KnownTypes<'_, '_> {
    /// The first field of `point` whose type contradicts what is known.
    fn conflict(&self, point: &Point<'_>) -> Option<Rejection> {
        for (name, value) in &point.fields {
            let got = field_type(value);
            let known = self
                .series
                .and_then(|s| s.fields.iter().find(|c| c.name == *name))
                .map(|c| c.values.field_type())
                .or_else(|| self.batch.get(&point.measurement)?.get(name).copied())
                .or_else(|| {
                    let (group, md, known) = self.settled;
                    known.get(md, group, &point.measurement, name)
                });
            if let Some(known) = known.filter(|k| *k != got) {
                return Some(Rejection::FieldTypeConflict {
                    measurement: point.measurement.to_string(),
                    field: name.to_string(),
                    got,
                    known,
                });
            }
        }
        None
    }
}

/// The timestamps among `points` that no group in `groups` accepts, one per
/// group-duration window (what metad must create before routing), skipping
/// points beyond retention.
pub fn timestamps_needing_groups(
    rp: &RetentionPolicy,
    groups: &[&ShardGroup],
    points: &[Point<'_>],
    now_ns: i64,
) -> Vec<i64> {
    let mut windows = Vec::new();
    let mut out = Vec::new();
    for p in points {
        let ts = p.timestamp_ns;
        if !rp.retains(ts, now_ns) || groups.iter().any(|g| g.accepts(ts)) {
            continue;
        }
        let window = schemas::meta::shard_group_bounds(ts, rp.shard_group_duration_ns);
        if !windows.contains(&window) {
            windows.push(window);
            out.push(ts);
        }
    }
    out
}

/// Splits batches whose encoding would exceed `max_bytes` (Kafka's
/// `message.max.bytes`) into several records, by series and then by
/// columns, so no write is refused for being large.
pub fn split_oversized<'a>(batches: Vec<ShardBatch<'a>>, max_bytes: usize) -> Vec<ShardBatch<'a>> {
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        if estimated_size(&b.batch) <= max_bytes {
            out.push(b);
            continue;
        }
        let ShardBatch {
            topic,
            partition,
            batch,
        } = b;
        let header = batch.clone_header();
        let mut current = header.clone_header();
        let mut size = 0;
        for series in batch.series {
            for piece in split_series(series, max_bytes) {
                let s = series_size(&piece);
                if size + s > max_bytes && !current.series.is_empty() {
                    out.push(ShardBatch {
                        topic: topic.clone(),
                        partition,
                        batch: std::mem::replace(&mut current, header.clone_header()),
                    });
                    size = 0;
                }
                size += s;
                current.series.push(piece);
            }
        }
        if !current.series.is_empty() {
            out.push(ShardBatch {
                topic,
                partition,
                batch: current,
            });
        }
    }
    out
}

trait CloneHeader<'a> {
    fn clone_header(&self) -> PointBatch<'a>;
}

impl<'a> CloneHeader<'a> for PointBatch<'a> {
    fn clone_header(&self) -> PointBatch<'a> {
        PointBatch {
            database: self.database.clone(),
            retention_policy: self.retention_policy.clone(),
            shard_id: self.shard_id,
            series: Vec::new(),
        }
    }
}

/// Splits one series into pieces of at most ~`max_bytes`, cutting columns
/// by value ranges when a single column is too large.
fn split_series(series: Series<'_>, max_bytes: usize) -> Vec<Series<'_>> {
    if series_size(&series) <= max_bytes {
        return vec![series];
    }
    let Series {
        measurement,
        tags,
        fields,
    } = series;
    let piece = |fields| Series {
        measurement: measurement.clone(),
        tags: tags.clone(),
        fields,
    };
    let overhead = key_size(&measurement, &tags) + 64;
    let budget = max_bytes.saturating_sub(overhead).max(1024);
    let mut out = Vec::new();
    for col in fields {
        let per_value = column_size(&col) / col.timestamps.len().max(1) + 1;
        let chunk = (budget / per_value).max(1);
        if col.timestamps.len() <= chunk {
            out.push(piece(vec![col]));
            continue;
        }
        let FieldColumn {
            name,
            timestamps,
            values,
        } = col;
        for (i, ts) in timestamps.chunks(chunk).enumerate() {
            let range = i * chunk..i * chunk + ts.len();
            let values = match &values {
                FieldValues::Float(v) => FieldValues::Float(v[range].to_vec()),
                FieldValues::Integer(v) => FieldValues::Integer(v[range].to_vec()),
                FieldValues::Unsigned(v) => FieldValues::Unsigned(v[range].to_vec()),
                FieldValues::String(v) => FieldValues::String(v[range].to_vec()),
                FieldValues::Boolean(v) => FieldValues::Boolean(v[range].to_vec()),
            };
            out.push(piece(vec![FieldColumn {
                name: name.clone(),
                timestamps: ts.to_vec(),
                values,
            }]));
        }
    }
    out
}

fn key_size(measurement: &str, tags: &[schemas::Tag<'_>]) -> usize {
    measurement.len()
        + tags
            .iter()
            .map(|t| t.key.len() + t.value.len() + 4)
            .sum::<usize>()
        + 4
}

/// An upper bound of a column's encoded size: 10 bytes per varint.
fn column_size(col: &FieldColumn<'_>) -> usize {
    let n = col.timestamps.len();
    let values = match &col.values {
        FieldValues::Float(_) => 8 * n,
        FieldValues::Integer(_) | FieldValues::Unsigned(_) => 10 * n,
        FieldValues::String(v) => v.iter().map(|s| s.len() + 5).sum(),
        FieldValues::Boolean(_) => n,
    };
    col.name.len() + 16 + 10 * n + values
}

fn series_size(s: &Series<'_>) -> usize {
    key_size(&s.measurement, &s.tags) + s.fields.iter().map(column_size).sum::<usize>()
}

fn estimated_size(b: &PointBatch<'_>) -> usize {
    64 + b.database.len()
        + b.retention_policy.len()
        + b.series.iter().map(series_size).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use line_protocol::{parse_batch, Precision};
    use schemas::meta::{Shard, HOUR_NS};

    use super::*;

    const T0: i64 = 1_451_606_400_000_000_000; // 2016-01-01T00:00:00Z

    fn rp(duration_ns: u64) -> RetentionPolicy {
        RetentionPolicy {
            name: "autogen".into(),
            duration_ns,
            shard_group_duration_ns: HOUR_NS,
            replication_factor: 1,
            shard_count: None,
            log_retention_ns: None,
            shard_groups: BTreeMap::new(),
        }
    }

    fn group(id: u64, start: i64, shards: u64) -> ShardGroup {
        ShardGroup {
            id,
            database: "db".into(),
            retention_policy: "autogen".into(),
            start_ns: start,
            end_ns: start + HOUR_NS as i64,
            truncated_at_ns: None,
            deleted_at_ns: None,
            topic: schemas::topics::shard_group_topic("t", id),
            shards: (0..shards)
                .map(|i| Shard {
                    id: id * 100 + i,
                    index: i as u32,
                    owners: vec![1],
                })
                .collect(),
        }
    }

    fn lines(n_hosts: usize, n_times: usize) -> String {
        let mut s = String::new();
        for t in 0..n_times {
            for h in 0..n_hosts {
                s += &format!(
                    "cpu,host=h{h},region=eu usage={}.5,count={}i {}\n",
                    h + t,
                    t,
                    T0 + t as i64 * 10_000_000_000
                );
            }
        }
        s
    }

    #[test]
    fn every_point_lands_on_its_hash_partition() {
        let input = lines(30, 4);
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        assert!(batch.errors.is_empty());
        let g = group(1, T0, 3);
        let routed = route(
            "db",
            &rp(0),
            &[&g],
            batch.points,
            T0,
            &MetaData::default(),
            &FieldTypes::default(),
        );
        assert!(routed.rejected.is_empty());
        assert_eq!((routed.points, routed.values), (120, 240));
        assert_eq!(routed.batches.len(), 3);
        let mut series = 0;
        for b in &routed.batches {
            assert_eq!(b.topic, "t.shardgroup.1");
            assert_eq!(b.batch.shard_id, 100 + b.partition as u64);
            for s in &b.batch.series {
                series += 1;
                let key = schemas::series_key(&s.measurement, &s.tags);
                assert_eq!(schemas::shard_index(&key, 3) as i32, b.partition, "{key}");
                for c in &s.fields {
                    assert_eq!(c.timestamps.len(), 4, "four points per series");
                }
            }
        }
        assert_eq!(series, 30, "each series once");
    }

    #[test]
    fn points_go_to_the_group_of_their_time() {
        let input = format!("m v=1 {T0}\nm v=2 {}\n", T0 + HOUR_NS as i64);
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let (g1, g2) = (group(1, T0, 1), group(2, T0 + HOUR_NS as i64, 1));
        let routed = route(
            "db",
            &rp(0),
            &[&g1, &g2],
            batch.points,
            T0,
            &MetaData::default(),
            &FieldTypes::default(),
        );
        let topics: Vec<_> = routed.batches.iter().map(|b| b.topic.as_str()).collect();
        assert_eq!(topics, ["t.shardgroup.1", "t.shardgroup.2"]);
    }

    #[test]
    fn missing_groups_are_reported_once_per_window() {
        let input = format!(
            "m v=1 {T0}\nm v=2 {}\nm v=3 {}\n",
            T0 + 5,
            T0 + HOUR_NS as i64
        );
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let need = timestamps_needing_groups(&rp(0), &[], &batch.points, T0);
        assert_eq!(need, vec![T0, T0 + HOUR_NS as i64]);
        let g1 = group(1, T0, 1);
        let need = timestamps_needing_groups(&rp(0), &[&g1], &batch.points, T0);
        assert_eq!(need, vec![T0 + HOUR_NS as i64]);
        let routed = route(
            "db",
            &rp(0),
            &[&g1],
            batch.points,
            T0,
            &MetaData::default(),
            &FieldTypes::default(),
        );
        assert_eq!(routed.rejected.len(), 1);
        assert_eq!(routed.rejected[0].line_number, 3);
    }

    #[test]
    fn points_beyond_retention_are_rejected() {
        let now = T0 + 10 * HOUR_NS as i64;
        let input = format!("m v=1 {T0}\nm v=2 {now}\n");
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let g = group(1, now, 1);
        let routed = route(
            "db",
            &rp(HOUR_NS),
            &[&g],
            batch.points,
            now,
            &MetaData::default(),
            &FieldTypes::default(),
        );
        assert_eq!(
            routed.rejected,
            vec![Rejected {
                line_number: 1,
                reason: Rejection::BeyondRetention
            }]
        );
        assert_eq!(routed.points, 1);
        assert!(timestamps_needing_groups(
            &rp(HOUR_NS),
            &[],
            &parse_batch(&input, Precision::Nanoseconds, 0).points,
            now
        )
        .iter()
        .all(|&t| t == now));
    }

    #[test]
    fn field_type_conflicts_are_rejected_like_influxdb() {
        let g = group(1, T0, 1);
        let known = FieldTypes::default();
        let md = MetaData::default();
        // Same series, then another series of the same shard, in one batch.
        let input = format!(
            "m,a=1 v=1 {T0}\nm,a=1 v=2i {}\nm,a=2 v=true {}\nm,a=2 w=1 {}\n",
            T0 + 1,
            T0 + 2,
            T0 + 3
        );
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let routed = route("db", &rp(0), &[&g], batch.points, T0, &md, &known);
        let lines: Vec<_> = routed.rejected.iter().map(|r| r.line_number).collect();
        assert_eq!(lines, vec![2, 3]);
        assert_eq!(
            routed.rejected[0].reason.to_string(),
            "field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float"
        );
        assert_eq!(routed.points, 2);
        assert!(routed.batches[0]
            .batch
            .series
            .iter()
            .all(|s| !s.fields.is_empty()));

        // The new fields are claimed, each once, with its first point's type.
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let claims = unsettled_fields(&rp(0), &[&g], &batch.points, T0, &md, &known);
        let claimed: Vec<_> = claims
            .iter()
            .map(|c| {
                (
                    c.group_id,
                    c.measurement.as_str(),
                    c.field.as_str(),
                    c.field_type,
                )
            })
            .collect();
        assert_eq!(
            claimed,
            [
                (1, "m", "v", FieldType::Float),
                (1, "m", "w", FieldType::Float)
            ]
        );

        // What metad settled is what later requests are judged by, whether
        // this process heard it as an answer or reads it in the meta data.
        let input = format!("m,a=9 v=1i {T0}\nother v=1i {T0}\n");
        let types: Vec<_> = claims.iter().map(|c| c.field_type).collect();
        known.remember(&claims, &types);
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let unsettled = unsettled_fields(&rp(0), &[&g], &batch.points, T0, &md, &known);
        assert_eq!(unsettled.len(), 1, "only other.v is new: {unsettled:?}");
        let routed = route("db", &rp(0), &[&g], batch.points, T0, &md, &known);
        let lines: Vec<_> = routed.rejected.iter().map(|r| r.line_number).collect();
        assert_eq!(lines, vec![1]);
        let mut settled = MetaData::default();
        settled.field_types.entry(1).or_default().insert(
            "other".into(),
            [("v".to_string(), FieldType::String)].into(),
        );
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let fresh = FieldTypes::default();
        let routed = route("db", &rp(0), &[&g], batch.points, T0, &settled, &fresh);
        let lines: Vec<_> = routed.rejected.iter().map(|r| r.line_number).collect();
        assert_eq!(lines, vec![2]);
    }

    #[test]
    fn oversized_batches_split_without_losing_values() {
        let input = lines(20, 50);
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let g = group(1, T0, 1);
        let routed = route(
            "db",
            &rp(0),
            &[&g],
            batch.points,
            T0,
            &MetaData::default(),
            &FieldTypes::default(),
        );
        let whole = routed.batches[0].batch.encode().len();
        let total: usize = routed.batches.iter().map(|b| b.batch.value_count()).sum();
        let max = 4096;
        let split = split_oversized(routed.batches, max);
        assert!(split.len() > 1 && whole > max);
        for b in &split {
            assert!(b.batch.encode().len() <= max, "{}", b.batch.encode().len());
            assert_eq!(b.partition, 0);
        }
        assert_eq!(
            split.iter().map(|b| b.batch.value_count()).sum::<usize>(),
            total
        );
        // A single huge column is cut by time.
        let input: String = (0..2000).map(|t| format!("m v={t} {}\n", T0 + t)).collect();
        let batch = parse_batch(&input, Precision::Nanoseconds, 0);
        let routed = route(
            "db",
            &rp(0),
            &[&g],
            batch.points,
            T0,
            &MetaData::default(),
            &FieldTypes::default(),
        );
        let split = split_oversized(routed.batches, max);
        assert!(split.len() > 1);
        assert_eq!(
            split.iter().map(|b| b.batch.value_count()).sum::<usize>(),
            2000
        );
    }
}

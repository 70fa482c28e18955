//! Whole-request parsing: timestamps scaled, duplicates merged.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;

use crate::error::LineError;
use crate::parse::{parse_lines, parse_lines_bytes, Lines, RawItem};
use crate::types::{FieldValue, Point, Precision};

/// The result of [`parse_batch`]: the points of the good lines and one error
/// per bad line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch<'a> {
    /// Points in the order of their first line, with nanosecond timestamps
    /// and duplicates merged.
    pub points: Vec<Point<'a>>,
    /// One error per rejected line, in line order.
    pub errors: Vec<LineError>,
}

/// Parses a whole write request.
///
/// * `precision` scales the lines' timestamps to nanoseconds (overflow and
///   InfluxDB's time range are checked); a line without a timestamp gets
///   `default_time_ns` (normally "now") truncated to `precision`, as
///   InfluxDB does.
/// * A bad line becomes an entry in [`Batch::errors`]; the lines around it
///   are still returned.
/// * Points of the same series (measurement and tag set) with the same
///   timestamp are merged into one, as InfluxDB's storage would keep only
///   one value per field and time: the point stays where its first line
///   was, takes the union of the fields, and a repeated field takes the later
///   line's value. If a repeated field changes type, the later line is not
///   merged but kept as a point of its own, so that schema validation
///   downstream rejects it for a field type conflict as InfluxDB would.
///
/// ```
/// use line_protocol::{parse_batch, FieldValue, Precision};
///
/// let body = "cpu,host=a user=1i 10\ncpu,host=a user=2i,idle=5i 10\ncpu user= 10\n";
/// let batch = parse_batch(body, Precision::Seconds, 0);
/// assert_eq!(batch.points.len(), 1);
/// assert_eq!(batch.points[0].timestamp_ns, 10_000_000_000);
/// assert_eq!(batch.points[0].field("user"), Some(&FieldValue::Integer(2)));
/// assert_eq!(batch.points[0].field("idle"), Some(&FieldValue::Integer(5)));
/// assert_eq!(batch.errors[0].line_number, 3);
/// ```
pub fn parse_batch(input: &str, precision: Precision, default_time_ns: i64) -> Batch<'_> {
    build(parse_lines(input), precision, default_time_ns)
}

/// Like [`parse_batch`], for input not yet known to be UTF-8 (each line is
/// validated on its own).
pub fn parse_batch_bytes(input: &[u8], precision: Precision, default_time_ns: i64) -> Batch<'_> {
    build(parse_lines_bytes(input), precision, default_time_ns)
}

fn build<'a>(mut lines: Lines<'a>, precision: Precision, default_time_ns: i64) -> Batch<'a> {
    let mut merger = Merger::default();
    let mut errors = Vec::new();
    while let Some(RawItem {
        result,
        line_number,
        text,
    }) = lines.next_raw()
    {
        match result.and_then(|line| line.into_point(precision, default_time_ns)) {
            Ok(point) => merger.push(point),
            Err(reason) => errors.push(LineError::new(line_number, reason, text)),
        }
    }
    Batch {
        points: merger.points,
        errors,
    }
}

/// Collects points, merging each into an earlier one with the same series
/// and timestamp.
#[derive(Default)]
struct Merger<'a> {
    points: Vec<Point<'a>>,
    /// (hash, index into `points`) of every point a later one may merge
    /// into. The table holds no keys, so nothing is cloned; equality is
    /// checked against the point itself.
    index: HashTable<(u64, usize)>,
    hasher: foldhash::fast::RandomState,
}

impl<'a> Merger<'a> {
    fn push(&mut self, point: Point<'a>) {
        let hash = self.hash(&point);
        let points = &mut self.points;
        if let Some(&(_, at)) = self.index.find(hash, |&(h, i)| {
            h == hash && same_series_and_time(&points[i], &point)
        }) {
            match merge_into(&mut points[at], point) {
                Ok(()) => return,
                Err(point) => {
                    // Type conflict: keep it separate and unindexed, so later
                    // duplicates still merge into the first point.
                    points.push(point);
                    return;
                }
            }
        }
        self.index
            .insert_unique(hash, (hash, points.len()), |&(h, _)| h);
        points.push(point);
    }

    fn hash(&self, p: &Point<'_>) -> u64 {
        // Lengths go in with the bytes so that moving a byte from one name
        // to the next changes the hash (otherwise crafted input could pile
        // distinct series into one bucket).
        let mut h = self.hasher.build_hasher();
        h.write_i64(p.timestamp_ns);
        h.write_usize(p.measurement.len());
        h.write(p.measurement.as_bytes());
        for (k, v) in &p.tags {
            h.write_u64((k.len() as u64) << 32 | v.len() as u64);
            h.write(k.as_bytes());
            h.write(v.as_bytes());
        }
        h.finish()
    }
}

fn same_series_and_time(a: &Point<'_>, b: &Point<'_>) -> bool {
    a.timestamp_ns == b.timestamp_ns && a.measurement == b.measurement && a.tags == b.tags
}

/// Merges `b`'s fields into `a` (later value wins), or gives `b` back
/// untouched if a shared field has a different type.
fn merge_into<'a>(a: &mut Point<'a>, b: Point<'a>) -> Result<(), Point<'a>> {
    // Plan first, so that a conflict leaves `a` untouched.
    let slots: Vec<Option<usize>> = if a.fields.len() * b.fields.len() <= 1024 {
        b.fields
            .iter()
            .map(|(k, _)| a.fields.iter().position(|(ak, _)| ak == k))
            .collect()
    } else {
        // Avoid quadratic work on points with very many fields.
        let by_key: std::collections::HashMap<&str, usize> = a
            .fields
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.as_ref(), i))
            .collect();
        b.fields
            .iter()
            .map(|(k, _)| by_key.get(k.as_ref()).copied())
            .collect()
    };
    let conflict = slots
        .iter()
        .zip(&b.fields)
        .any(|(slot, (_, v))| slot.is_some_and(|i| !FieldValue::same_type(&a.fields[i].1, v)));
    if conflict {
        return Err(b);
    }
    for (slot, (k, v)) in slots.into_iter().zip(b.fields) {
        match slot {
            Some(i) => a.fields[i].1 = v,
            None => a.fields.push((k, v)),
        }
    }
    Ok(())
}

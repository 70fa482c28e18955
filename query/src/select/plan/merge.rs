//! Merging the shards' answers: raw rows by time (ties as InfluxDB 1.6's
//! merge heap leaves them), partials per bucket; then every merged group is
//! finished (`finish`) and the series are picked by SLIMIT/SOFFSET.

use std::collections::{BTreeMap, HashMap};

use super::Plan;
use crate::result::Series;
use crate::select::functions::{AggKind, Partial};
use crate::select::scan::GroupBody;
use crate::select::value::Val;
use crate::select::QueryError;
use crate::shards::ShardOut;

enum Merged {
    Raw(Vec<(i64, String, Vec<Option<Val>>)>),
    Agg(BTreeMap<i64, Vec<Partial>>),
}

impl Plan {
    /// Merges the shards' groups and finishes every series.
    pub(super) fn merge_and_finish(&self, outs: Vec<ShardOut>) -> Result<Vec<Series>, QueryError> {
        // Merge.
        let kinds: Vec<AggKind> = self
            .calls
            .as_ref()
            .map(|c| c.iter().map(|k| k.kind).collect())
            .unwrap_or_default();
        let mut merged: BTreeMap<(String, Vec<String>), Merged> = BTreeMap::new();
        for o in outs {
            let ShardOut::Scan(resp) = o else { continue };
            for g in resp.groups {
                let key = (g.measurement, g.key);
                match g.body {
                    GroupBody::Raw { series, rows } => {
                        let e = merged.entry(key).or_insert_with(|| Merged::Raw(Vec::new()));
                        if let Merged::Raw(v) = e {
                            v.extend(
                                rows.into_iter()
                                    .map(|r| (r.time, series[r.series as usize].clone(), r.vals)),
                            );
                        }
                    }
                    GroupBody::Agg(buckets) => {
                        let e = merged
                            .entry(key)
                            .or_insert_with(|| Merged::Agg(BTreeMap::new()));
                        if let Merged::Agg(map) = e {
                            for (b, parts) in buckets {
                                match map.get_mut(&b) {
                                    Some(cur) => {
                                        for (i, p) in parts.into_iter().enumerate() {
                                            cur[i].merge(kinds[i], p);
                                        }
                                    }
                                    None => {
                                        map.insert(b, parts);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        // The first bucket when the range has no lower bound: the earliest
        // with data in any group.
        let first_bucket = merged
            .values()
            .filter_map(|m| match m {
                Merged::Agg(map) => map.keys().next().copied(),
                _ => None,
            })
            .min();

        let mut series = Vec::new();
        for ((name, key), m) in merged {
            let tags: Vec<(String, String)> = self
                .group_by
                .iter()
                .cloned()
                .zip(key.iter().cloned())
                .collect();
            let values = match m {
                Merged::Raw(rows) => self.finish_raw(rows)?,
                Merged::Agg(map) => self.finish_agg(map, &tags, first_bucket)?,
            };
            if values.is_empty() {
                continue;
            }
            series.push(Series {
                name,
                tags: tags.into_iter().collect(),
                columns: std::iter::once("time".to_owned())
                    .chain(self.columns.iter().cloned())
                    .collect(),
                values,
                partial: false,
            });
        }
        // SLIMIT/SOFFSET pick series in ascending order (InfluxDB applies
        // them to the index's sorted tag sets); ORDER BY time DESC then
        // reverses the series too (its merge heap compares names and tags
        // descending).
        let skip = self.soffset as usize;
        let series = series.into_iter().skip(skip);
        let mut series: Vec<Series> = if self.slimit > 0 {
            series.take(self.slimit as usize).collect()
        } else {
            series.collect()
        };
        if self.desc {
            series.reverse();
        }
        Ok(series)
    }

    /// Orders ascending raw rows as InfluxDB 1.6's sorted merge does,
    /// shard by shard: one iterator per series (in series key order) on a
    /// Go `container/heap` ordered by time, then string aux values; rows it
    /// finds equal come out in whatever order the heap operations leave
    /// them, which is what this replays. `rows` are sorted by time.
    pub(super) fn merge_like_influxdb(
        &self,
        rows: Vec<(i64, String, Vec<Option<Val>>)>,
        aux: &[AuxVar],
        tags: &HashMap<String, Vec<(String, String)>>,
    ) -> Vec<(i64, String, Vec<Option<Val>>)> {
        let mut starts: Vec<i64> = self.shards.iter().map(|(g, _)| g.start_ns).collect();
        starts.sort();
        starts.dedup();
        let shard_of = |t: i64| starts.partition_point(|&s| s <= t);
        let mut out = Vec::with_capacity(rows.len());
        let mut rows = rows.into_iter().peekable();
        while let Some(first) = rows.next() {
            // One InfluxDB shard: a shard group's time span.
            let shard = shard_of(first.0);
            let mut span = vec![first];
            while let Some(r) = rows.next_if(|r| shard_of(r.0) == shard) {
                span.push(r);
            }
            let mut by_series: BTreeMap<String, std::collections::VecDeque<_>> = BTreeMap::new();
            for r in span {
                by_series.entry(r.1.clone()).or_default().push_back(r);
            }
            let less = |a: &(i64, String, Vec<Option<Val>>),
                        b: &(i64, String, Vec<Option<Val>>)| {
                a.0.cmp(&b.0)
                    .then_with(|| tie_by_aux(aux, (&a.2, &tags[&a.1]), (&b.2, &tags[&b.1])))
                    .is_lt()
            };
            out.extend(go_heap_merge(by_series.into_values().collect(), less));
        }
        out
    }
}

/// Merges queues (each sorted) as Go's `container/heap` driven by a sorted
/// merge iterator does: items enter in queue order, `heap.Init`, then
/// `heap.Pop` and `heap.Push` of the popped queue's next item. Equal items
/// come out in the order those exact operations give.
fn go_heap_merge<T>(
    queues: Vec<std::collections::VecDeque<T>>,
    less: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    let mut queues = queues;
    let mut heap: Vec<(usize, T)> = Vec::new();
    for (i, q) in queues.iter_mut().enumerate() {
        if let Some(x) = q.pop_front() {
            heap.push((i, x));
        }
    }
    let lt = |h: &[(usize, T)], i: usize, j: usize| less(&h[i].1, &h[j].1);
    let down = |h: &mut Vec<(usize, T)>, i0: usize, n: usize| {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && lt(h, j2, j1) {
                j = j2;
            }
            if !lt(h, j, i) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    };
    let n = heap.len();
    for i in (0..n / 2).rev() {
        down(&mut heap, i, n);
    }
    let mut out = Vec::new();
    while !heap.is_empty() {
        let n = heap.len() - 1;
        heap.swap(0, n);
        down(&mut heap, 0, n);
        let (qi, x) = heap.pop().expect("not empty");
        out.push(x);
        if let Some(next) = queues[qi].pop_front() {
            heap.push((qi, next));
            // up
            let mut j = heap.len() - 1;
            while j > 0 {
                let i = (j - 1) / 2;
                if !lt(&heap, j, i) {
                    break;
                }
                heap.swap(i, j);
                j = i;
            }
        }
    }
    out
}

/// A variable a raw query reads: a field column or a tag.
#[derive(Debug, Clone)]
pub(super) enum AuxVar {
    Col(usize),
    Tag(String),
}

/// InfluxDB's order of two raw rows with the same time (its sorted merge
/// heap): the auxiliary values, in the order of their variable names,
/// compared while both are strings; the first non-string pair (or a null)
/// makes the rows equal.
pub(super) fn tie_by_aux(
    aux: &[AuxVar],
    a: (&[Option<Val>], &[(String, String)]),
    b: (&[Option<Val>], &[(String, String)]),
) -> std::cmp::Ordering {
    fn text<'v>(
        v: &AuxVar,
        vals: &'v [Option<Val>],
        tags: &'v [(String, String)],
    ) -> Option<&'v str> {
        match v {
            AuxVar::Col(i) => match vals.get(*i) {
                Some(Some(Val::Str(s))) => Some(s),
                _ => None,
            },
            AuxVar::Tag(k) => Some(
                tags.iter()
                    .find(|(t, _)| t == k)
                    .map_or("", |(_, v)| v.as_str()),
            ),
        }
    }
    for v in aux {
        match (text(v, a.0, a.1), text(v, b.0, b.1)) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => return x.cmp(y),
            _ => return std::cmp::Ordering::Equal,
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn s(v: &str) -> Option<Val> {
        Some(Val::Str(v.into()))
    }

    #[test]
    fn raw_ties_compare_string_aux_values_in_name_order() {
        // Columns: 0 = "level description" (string), 1 = "water_level".
        let aux = [AuxVar::Col(0), AuxVar::Tag("location".into())];
        let coyote = vec![("location".to_owned(), "coyote_creek".to_owned())];
        let santa = vec![("location".to_owned(), "santa_monica".to_owned())];
        let a = vec![s("below 3 feet"), Some(Val::Float(2.0))];
        let b = vec![s("between 3 and 6 feet"), Some(Val::Float(5.0))];
        // The first differing string decides, whatever the tags say.
        assert_eq!(
            tie_by_aux(&aux, (&a, &santa), (&b, &coyote)),
            Ordering::Less
        );
        // Equal strings fall through to the next variable.
        assert_eq!(
            tie_by_aux(&aux, (&a, &coyote), (&a, &santa)),
            Ordering::Less
        );
        // A non-string value stops the comparison: the rows tie.
        let aux = [AuxVar::Col(1), AuxVar::Col(0)];
        assert_eq!(
            tie_by_aux(&aux, (&a, &santa), (&b, &coyote)),
            Ordering::Equal
        );
    }

    #[test]
    fn equal_items_leave_the_heap_as_go_leaves_them() {
        use std::collections::VecDeque;
        // Four series (key order); (time, series) with times only compared.
        // Go's heap pops series 1 at t=0, then series 3 before series 0 at
        // t=1 (InfluxDB 1.6's answer on the differential corpus).
        let q = |v: &[(i64, u8)]| v.iter().copied().collect::<VecDeque<_>>();
        let queues = vec![
            q(&[(1, 0), (5, 0)]),
            q(&[(0, 1), (3, 1)]),
            q(&[(2, 2)]),
            q(&[(1, 3)]),
        ];
        let out = go_heap_merge(queues, |a, b| a.0 < b.0);
        assert_eq!(out, vec![(0, 1), (1, 3), (1, 0), (2, 2), (3, 1), (5, 0)]);
    }
}

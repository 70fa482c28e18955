//! Shard-local execution: the requests a coordinator sends for one shard
//! (locally or on a peer, see [`crate::shards`]) and the code that answers them over
//! a `storage::Shard`.
//!
//! ```text
//!  ScanRequest ─ per measurement ─ series of the measurement (index)
//!        │          └─ condition bound to the series' tags: false → skip,
//!        │             true → no row filter, else a residual field filter
//!        ├─ Raw: fields aligned by time → filtered rows per group, limited
//!        └─ Agg: per (group, bucket, call) a Partial
//!                fast path (no field filter, no aux values): decoded column
//!                blocks cut at bucket edges and folded slice by slice
//!                row path: aligned rows → filter → push points
//! ```
//!
//! Everything here is synchronous (RocksDB is); callers run it in
//! `spawn_blocking`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use schemas::record::NameMatcher;
use schemas::series_key::parse_series_key;
use schemas::FieldType;
use serde::{Deserialize, Serialize};
use storage::{Block, Column, FieldInfo, Shard};

use super::functions::{push_floats, push_ints, AggKind, Partial, Pt};
use super::value::{truthy, Ex, Regexes, Row, Val};

/// Which measurements a source names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceMatch {
    /// A measurement by name.
    Name(String),
    /// Measurements whose names match this regular expression.
    Regex(String),
}

/// `schema` request: the fields and tags of the measurements the sources
/// match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaRequest {
    /// The shard to read.
    pub shard_id: u64,
    /// The FROM sources.
    pub sources: Vec<SourceMatch>,
}

/// One measurement's schema in a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementSchema {
    /// The measurement name.
    pub name: String,
    /// Field keys and their types, as the shard's index has them.
    pub fields: Vec<(String, FieldType)>,
    /// Tag keys of the measurement.
    pub tags: Vec<String>,
}

/// Time buckets of `GROUP BY time(every, offset)`, in the query's
/// `tz('...')` zone when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Bucket width in ns.
    pub every: i64,
    /// Shift of the bucket starts in ns (the `offset` of `time(every, offset)`).
    pub offset: i64,
    /// Buckets align to local time of this zone (midnight for `1d`).
    #[serde(default, with = "zone_name")]
    pub tz: Option<chrono_tz::Tz>,
}

impl Window {
    /// The start of the bucket holding `t`.
    pub fn start(&self, t: i64) -> i64 {
        self.bounds(t).0
    }

    /// The `[start, end)` of the bucket holding `t`: InfluxDB 1.6's
    /// `IteratorOptions.Window`. In a zone the bucket is truncated in local
    /// time; when the zone's offset at the start differs (a DST change
    /// inside the bucket) by less than the interval, the start moves by the
    /// difference, and the end likewise.
    pub fn bounds(&self, t: i64) -> (i64, i64) {
        let every = self.every.max(1);
        let t = t - self.offset;
        let zone = self.zone_ns(t);
        let dt = (t + zone).rem_euclid(every);
        let mut start = t - dt;
        if self.tz.is_some() {
            let o = zone - self.zone_ns(start);
            if o != 0 && o.abs() < every {
                start += o;
            }
        }
        let mut end = t.saturating_add(every - dt);
        if self.tz.is_some() {
            let o = zone - self.zone_ns(end);
            if o != 0 && o.abs() < every {
                end += o;
            }
        }
        (start + self.offset, end.saturating_add(self.offset))
    }

    /// The zone's offset from UTC at `t`, ns (0 without a zone).
    fn zone_ns(&self, t: i64) -> i64 {
        self.tz.map_or(0, |tz| zone_offset_s(tz, t) * 1_000_000_000)
    }
}

/// The offset from UTC (seconds) of `tz` at the instant `ns`.
pub fn zone_offset_s(tz: chrono_tz::Tz, ns: i64) -> i64 {
    use chrono::{Offset, TimeZone};
    let utc = chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), 0)
        .unwrap_or_default()
        .naive_utc();
    i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
}

/// A zone travels by its IANA name.
mod zone_name {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        tz: &Option<chrono_tz::Tz>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        tz.map(|z| z.name()).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<chrono_tz::Tz>, D::Error> {
        let name: Option<String> = Option::deserialize(d)?;
        name.map(|n| n.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// What a measurement's scan reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementScan {
    /// The measurement name.
    pub name: String,
    /// Field columns read, by name; rows and conditions index into these.
    pub cols: Vec<String>,
    /// The WHERE condition without time (columns = `cols`).
    pub cond: Option<Ex>,
    /// Raw mode: a row exists when one of these columns has a value.
    pub present: Vec<usize>,
}

/// An auxiliary value carried with a selected point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuxRef {
    /// Column `i` of the scan's `cols`.
    Col(usize),
    /// The value of this tag of the point's series.
    Tag(String),
}

/// One aggregate call of an aggregate scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallScan {
    /// The aggregate function.
    pub kind: AggKind,
    /// The column aggregated.
    pub col: usize,
    /// Auxiliary values carried with a selected point (selectors' other columns).
    pub aux: Vec<AuxRef>,
}

/// What the scan produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScanMode {
    /// Rows; at most `limit` per group (in `desc` order) when set.
    Raw {
        /// The most rows per group, if limited.
        limit: Option<u64>,
        /// Read the newest rows first (`ORDER BY time DESC`).
        desc: bool,
    },
    /// Partial aggregates per group and bucket.
    Agg {
        /// The aggregate calls, in column order.
        calls: Vec<CallScan>,
    },
    /// Only which groups have series (empty raw bodies): the first step
    /// of a chunked answer, which then reads group by group.
    Groups,
}

/// `scan` request for one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// The shard to scan.
    pub shard_id: u64,
    /// Read-your-writes: answer only once every record below this offset
    /// of the shard's partition is applied.
    pub wait_offset: Option<i64>,
    /// Inclusive time bounds.
    pub min_time: i64,
    /// Inclusive upper time bound.
    pub max_time: i64,
    /// Tag keys of the GROUP BY.
    pub group_by: Vec<String>,
    /// Buckets of `GROUP BY time(...)`, if any.
    pub window: Option<Window>,
    /// The measurements to read, with their columns and conditions.
    pub measurements: Vec<MeasurementScan>,
    /// What the scan produces.
    pub mode: ScanMode,
    /// `max-select-series`: a shard matching more series answers at once
    /// with their count and no data (0: no limit).
    pub max_series: usize,
    /// `max-select-point`: a shard stops reading once it has read more
    /// points than this, and answers with what it read and their count
    /// (0: no limit).
    pub max_points: u64,
}

/// One raw row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRow {
    /// The row's time in ns.
    pub time: i64,
    /// Index into the group's `series`.
    pub series: u32,
    /// The row's values, one per selected column (`None` is null).
    pub vals: Vec<Option<Val>>,
}

/// A group's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GroupBody {
    /// Rows in time order (reversed when `desc`), ties in series-key order.
    Raw {
        /// Series keys of the group, in order; rows index into them.
        series: Vec<String>,
        /// The group's rows.
        rows: Vec<RawRow>,
    },
    /// Per bucket start (0 without a window) the partial of each call.
    Agg(Vec<(i64, Vec<Partial>)>),
}

/// The data of one (measurement, group-by tag values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupData {
    /// The measurement name.
    pub measurement: String,
    /// The values of the GROUP BY tag keys, in their order.
    pub key: Vec<String>,
    /// The group's rows or partial aggregates.
    pub body: GroupBody,
}

/// The answer to a [`ScanRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScanResponse {
    /// The groups, in (measurement, key) order.
    pub groups: Vec<GroupData>,
    /// How many series the request matched on the shard.
    pub series: u64,
    /// How many points (rows of the time range, before any condition on
    /// fields) the scan read.
    pub points: u64,
}

/// Why a shard-local step failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Whoever asked for the scan withdrew it (see [`Cancel`]).
    #[error("scan cancelled: its query is gone")]
    Cancelled,
    /// Reading the shard failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// A regular expression of the request does not compile.
    #[error("invalid regular expression: {0}")]
    Regex(#[from] regex::Error),
}

/// Lets whoever asked for a scan withdraw it: a killed or timed-out
/// query, or a peer that hung up. The scan then stops at its next series
/// instead of reading the rest of the shard on a blocking thread nobody
/// waits for. (tokio-util's `CancellationToken::drop_guard` does the same,
/// but it is not a dependency here and locks a mutex on every check; a
/// flag read once per series is all a scan needs.)
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Withdraws the scan.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the scan was withdrawn.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that withdraws the scan when dropped: held by the future
    /// that awaits the scan, dropping that future (a killed query, a
    /// closed connection) stops the scan too.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// See [`Cancel::on_drop`].
#[derive(Debug)]
pub struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn matcher(s: &SourceMatch) -> NameMatcher {
    match s {
        SourceMatch::Name(n) => NameMatcher {
            regex: false,
            pattern: n.clone(),
        },
        SourceMatch::Regex(r) => NameMatcher {
            regex: true,
            pattern: r.clone(),
        },
    }
}

/// Answers a [`SchemaRequest`].
pub fn schema(shard: &Shard, sources: &[SourceMatch]) -> Result<Vec<MeasurementSchema>, ScanError> {
    let mut names: Vec<String> = Vec::new();
    for s in sources {
        match s {
            SourceMatch::Name(n) => names.push(n.clone()),
            SourceMatch::Regex(_) => names.extend(shard.measurements(Some(&matcher(s)))?),
        }
    }
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let fields = shard
            .field_keys(&name)?
            .into_iter()
            .map(|f| (f.name, f.field_type))
            .collect::<Vec<_>>();
        if fields.is_empty() {
            continue;
        }
        let tags = shard.tag_keys(&name)?;
        out.push(MeasurementSchema { name, fields, tags });
    }
    Ok(out)
}

/// Row `r` of a series' aligned columns, read in place: the condition is
/// evaluated before anything is copied.
struct ColRow<'a> {
    tags: &'a [(String, String)],
    cols: &'a [Vec<Option<Val>>],
    r: usize,
    time: i64,
}

impl Row for ColRow<'_> {
    fn col(&self, i: usize) -> Option<&Val> {
        self.cols.get(i).and_then(|c| c[self.r].as_ref())
    }
    fn tag(&self, key: &str) -> &str {
        tag_of(self.tags, key)
    }
    fn time(&self) -> i64 {
        self.time
    }
}

fn tag_of<'a>(tags: &'a [(String, String)], key: &str) -> &'a str {
    tags.binary_search_by(|(k, _)| k.as_str().cmp(key))
        .map(|i| tags[i].1.as_str())
        .unwrap_or("")
}

/// A series' data as aligned rows, from storage or from a subquery's
/// results.
pub struct SeriesRows {
    /// Canonical series key (for ordering ties).
    pub key: String,
    /// Tags, sorted by key.
    pub tags: Vec<(String, String)>,
    /// Row times in ns, one per row.
    pub timestamps: Vec<i64>,
    /// `columns[c][row]`.
    pub columns: Vec<Vec<Option<Val>>>,
}

/// Per-scan state shared by the storage and in-memory paths.
pub struct Accumulator<'r> {
    req: &'r ScanRequest,
    groups: BTreeMap<(String, Vec<String>), GroupAcc>,
    /// Points read so far (see [`ScanResponse::points`]).
    points: u64,
}

enum GroupAcc {
    Raw {
        series: Vec<String>,
        rows: Vec<RawRow>,
    },
    Agg(BTreeMap<i64, Vec<Partial>>),
}

impl<'r> Accumulator<'r> {
    /// An empty accumulator for `req`.
    pub fn new(req: &'r ScanRequest) -> Self {
        Self {
            req,
            groups: BTreeMap::new(),
            points: 0,
        }
    }

    fn group(&mut self, m: &str, key: Vec<String>) -> &mut GroupAcc {
        let req = self.req;
        self.groups
            .entry((m.to_owned(), key))
            .or_insert_with(|| match &req.mode {
                ScanMode::Raw { .. } | ScanMode::Groups => GroupAcc::Raw {
                    series: Vec::new(),
                    rows: Vec::new(),
                },
                ScanMode::Agg { .. } => GroupAcc::Agg(BTreeMap::new()),
            })
    }

    fn group_key(&self, tags: &[(String, String)]) -> Vec<String> {
        self.req
            .group_by
            .iter()
            .map(|k| tag_of(tags, k).to_owned())
            .collect()
    }

    fn bucket(&self, t: i64) -> i64 {
        match self.req.window {
            Some(w) => w.start(t),
            None => 0,
        }
    }

    /// Adds one series' rows (already limited to the time range), filtered
    /// by `cond` (bound to the series' tags); returns how many rows passed
    /// (raw mode).
    pub fn add_rows(
        &mut self,
        m: &MeasurementScan,
        cond: Option<&Ex>,
        re: &Regexes,
        mut s: SeriesRows,
    ) -> usize {
        let key = self.group_key(&s.tags);
        let passes = |s: &SeriesRows, r: usize| {
            cond.is_none_or(|c| {
                let row = ColRow {
                    tags: &s.tags,
                    cols: &s.columns,
                    r,
                    time: s.timestamps[r],
                };
                truthy(c.eval(&row, re))
            })
        };
        let req = self.req;
        match &req.mode {
            ScanMode::Raw { limit, desc } => {
                let mut rows = Vec::new();
                for r in 0..s.timestamps.len() {
                    if !m.present.iter().any(|&c| s.columns[c][r].is_some()) || !passes(&s, r) {
                        continue;
                    }
                    // Each row is read once: its values move out.
                    let vals = s.columns.iter_mut().map(|c| c[r].take()).collect();
                    rows.push((s.timestamps[r], vals));
                }
                let n = rows.len();
                if n == 0 {
                    return 0;
                }
                let GroupAcc::Raw { series, rows: out } = self.group(&m.name, key) else {
                    return 0;
                };
                let idx = series.len() as u32;
                series.push(s.key);
                out.extend(rows.into_iter().map(|(time, vals)| RawRow {
                    time,
                    series: idx,
                    vals,
                }));
                // With a limit, a group never holds more than twice it.
                if let Some(l) = limit.map(|l| l as usize) {
                    if out.len() > l.saturating_mul(2) {
                        order_rows(out, *desc);
                        out.truncate(l);
                    }
                }
                n
            }
            ScanMode::Agg { calls } => {
                let mut pending: Vec<(i64, usize, Pt)> = Vec::new();
                for r in 0..s.timestamps.len() {
                    if !passes(&s, r) {
                        continue;
                    }
                    let time = s.timestamps[r];
                    for (ci, call) in calls.iter().enumerate() {
                        let Some(v) = s.columns.get(call.col).and_then(|c| c[r].clone()) else {
                            continue;
                        };
                        let aux = call
                            .aux
                            .iter()
                            .map(|a| match a {
                                AuxRef::Col(c) => s.columns.get(*c).and_then(|c| c[r].clone()),
                                AuxRef::Tag(k) => Some(Val::Str(tag_of(&s.tags, k).to_owned())),
                            })
                            .collect();
                        pending.push((self.bucket(time), ci, Pt { time, val: v, aux }));
                    }
                }
                if pending.is_empty() {
                    return 0;
                }
                let GroupAcc::Agg(map) = self.group(&m.name, key) else {
                    return 0;
                };
                for (b, ci, p) in pending {
                    let parts = map
                        .entry(b)
                        .or_insert_with(|| calls.iter().map(|c| Partial::new(c.kind)).collect());
                    parts[ci].push(calls[ci].kind, p);
                }
                0
            }
            ScanMode::Groups => 0,
        }
    }

    /// Adds what another accumulator of the same request collected over
    /// series that all sort after this one's (a parallel scan's later
    /// chunk), as if this one had scanned them.
    fn absorb(&mut self, other: Accumulator<'_>) {
        let kinds: Vec<AggKind> = match &self.req.mode {
            ScanMode::Agg { calls } => calls.iter().map(|c| c.kind).collect(),
            ScanMode::Raw { .. } | ScanMode::Groups => Vec::new(),
        };
        self.points += other.points;
        for (key, acc) in other.groups {
            let mine = match self.groups.entry(key) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(acc);
                    continue;
                }
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            };
            match (mine, acc) {
                (
                    GroupAcc::Raw { series, rows },
                    GroupAcc::Raw {
                        series: more,
                        rows: more_rows,
                    },
                ) => {
                    let base = series.len() as u32;
                    series.extend(more);
                    rows.extend(more_rows.into_iter().map(|mut r| {
                        r.series += base;
                        r
                    }));
                }
                (GroupAcc::Agg(map), GroupAcc::Agg(more)) => {
                    for (bucket, parts) in more {
                        match map.entry(bucket) {
                            std::collections::btree_map::Entry::Vacant(e) => {
                                e.insert(parts);
                            }
                            std::collections::btree_map::Entry::Occupied(mut e) => {
                                for ((p, other), kind) in
                                    e.get_mut().iter_mut().zip(parts).zip(&kinds)
                                {
                                    p.merge(*kind, other);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The fast aggregate path: one call's column of one series as decoded
    /// blocks, folded slice by slice per bucket.
    fn add_blocks(
        &mut self,
        m: &str,
        tags: &[(String, String)],
        call_idx: usize,
        kind: AggKind,
        ncalls: &[AggKind],
        blocks: impl Iterator<Item = storage::Result<storage::Block>>,
    ) -> Result<(), ScanError> {
        let key = self.group_key(tags);
        let window = self.req.window;
        let mut read = 0;
        let GroupAcc::Agg(map) = self.group(m, key) else {
            return Ok(());
        };
        for b in blocks {
            let b = b?;
            let ts = &b.timestamps;
            read += ts.len() as u64;
            let mut i = 0;
            while i < ts.len() {
                let (bucket, j) = match window {
                    Some(w) => {
                        let (start, end) = w.bounds(ts[i]);
                        (start, i + ts[i..].partition_point(|&t| t < end))
                    }
                    None => (0, ts.len()),
                };
                let parts = map
                    .entry(bucket)
                    .or_insert_with(|| ncalls.iter().map(|k| Partial::new(*k)).collect());
                let part = &mut parts[call_idx];
                match &b.values {
                    Column::Float(v) => push_floats(part, kind, &ts[i..j], &v[i..j]),
                    Column::Integer(v) => push_ints(part, kind, &ts[i..j], &v[i..j]),
                    other => {
                        for k in i..j {
                            part.push(
                                kind,
                                Pt {
                                    time: ts[k],
                                    val: other.value(k).into(),
                                    aux: Vec::new(),
                                },
                            );
                        }
                    }
                }
                i = j;
            }
        }
        self.points += read;
        Ok(())
    }

    /// The collected groups, in (measurement, key) order.
    pub fn finish(self) -> ScanResponse {
        let (limit, desc) = match &self.req.mode {
            ScanMode::Raw { limit, desc } => (*limit, *desc),
            _ => (None, false),
        };
        let groups = self
            .groups
            .into_iter()
            .map(|((measurement, key), acc)| {
                let body = match acc {
                    GroupAcc::Raw { series, mut rows } => {
                        order_rows(&mut rows, desc);
                        if let Some(l) = limit {
                            rows.truncate(l as usize);
                        }
                        GroupBody::Raw { series, rows }
                    }
                    GroupAcc::Agg(map) => GroupBody::Agg(map.into_iter().collect()),
                };
                GroupData {
                    measurement,
                    key,
                    body,
                }
            })
            .collect();
        ScanResponse {
            groups,
            series: 0,
            points: self.points,
        }
    }
}

/// Sorts a group's rows by time (descending when `desc`); series were
/// added in key order, so the index breaks ties by series key.
fn order_rows(rows: &mut [RawRow], desc: bool) {
    if desc {
        rows.sort_by(|a, b| b.time.cmp(&a.time).then(a.series.cmp(&b.series)));
    } else {
        rows.sort_by_key(|r| (r.time, r.series));
    }
}

/// A measurement's part of a scan: its columns' field ids and compiled
/// condition.
struct MeasurementPlan<'r> {
    m: &'r MeasurementScan,
    infos: Vec<Option<FieldInfo>>,
    re: Regexes,
}

/// A series the condition's tag part selects, with the rest of the
/// condition (`None`: every row).
struct SeriesItem {
    plan: usize,
    id: storage::SeriesId,
    key: String,
    tags: Vec<(String, String)>,
    cond: Option<Ex>,
}

/// The escaped `,key=value` pairs one of which is in the series key of
/// every series `cond` can select: from `tag = 'value'` terms required by
/// the condition (an AND needs one side's, an OR both sides'). Checking
/// them on the raw key skips parsing the keys of series a query does not
/// want, which was most of the fixed cost of a query on one series. `None`
/// when the condition requires no such term (`tag = ''` selects series
/// without the tag, so it is not one).
fn key_needles(cond: &Ex) -> Option<Vec<String>> {
    use super::value::Op;
    match cond {
        Ex::Bin(Op::And, a, b) => key_needles(a).or_else(|| key_needles(b)),
        Ex::Bin(Op::Or, a, b) => {
            let mut n = key_needles(a)?;
            n.extend(key_needles(b)?);
            Some(n)
        }
        Ex::Bin(Op::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (Ex::Tag(k), Ex::Lit(Some(Val::Str(v)))) | (Ex::Lit(Some(Val::Str(v))), Ex::Tag(k))
                if !v.is_empty() =>
            {
                Some(vec![schemas::series_key::series_key("", &[(k, v)])])
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether a canonical series key holds the escaped pair `needle`
/// (`,key=value`) as a whole tag.
fn has_tag_pair(key: &str, needle: &str) -> bool {
    key.match_indices(needle)
        .any(|(i, _)| matches!(key.as_bytes().get(i + needle.len()), None | Some(b',')))
}

/// Series a scan thread takes at least: below that, threads cost more
/// than they save.
const MIN_SERIES_PER_THREAD: usize = 8;

/// Answers a [`ScanRequest`] over a shard. The selected series are cut
/// into contiguous runs scanned on parallel threads (up to the machine's
/// cores) whose results are then joined in series order, so the answer is
/// the one a single pass gives.
pub fn scan(shard: &Shard, req: &ScanRequest, cancel: &Cancel) -> Result<ScanResponse, ScanError> {
    let mut plans = Vec::new();
    let items = select_series(shard, req, &mut plans)?;
    let series = items.len() as u64;
    if req.max_series > 0 && items.len() > req.max_series {
        return Ok(ScanResponse {
            groups: Vec::new(),
            series,
            points: 0,
        });
    }
    let mut answer = scan_items(shard, req, &plans, &items, cancel)?;
    answer.series = series;
    Ok(answer)
}

/// The series of the shard the request reads, with one plan per
/// measurement that has any of its columns.
fn select_series<'r>(
    shard: &Shard,
    req: &'r ScanRequest,
    plans: &mut Vec<MeasurementPlan<'r>>,
) -> Result<Vec<SeriesItem>, ScanError> {
    let mut items: Vec<SeriesItem> = Vec::new();
    for m in &req.measurements {
        let infos: Vec<Option<FieldInfo>> = m
            .cols
            .iter()
            .map(|c| shard.field(&m.name, c))
            .collect::<Result<_, _>>()?;
        if infos.iter().all(|i| i.is_none()) {
            continue;
        }
        let re = match &m.cond {
            Some(c) => Regexes::compile(c)?,
            None => Regexes::default(),
        };
        let series = shard.series(
            Some(&NameMatcher {
                regex: false,
                pattern: m.name.clone(),
            }),
            None,
        )?;
        let needles = m.cond.as_ref().and_then(key_needles);
        for s in series {
            if needles
                .as_ref()
                .is_some_and(|n| !n.iter().any(|n| has_tag_pair(&s.key, n)))
            {
                continue;
            }
            let Some((_, tags)) = parse_series_key(&s.key) else {
                continue;
            };
            let cond = match m
                .cond
                .as_ref()
                .map(|c| c.bind_tags(&|k| tag_of(&tags, k).to_owned(), &re))
            {
                Some(Ex::Lit(v)) if !truthy(v.clone()) => continue,
                Some(Ex::Lit(_)) | None => None,
                other => other,
            };
            items.push(SeriesItem {
                plan: plans.len(),
                id: s.id,
                key: s.key,
                tags,
                cond,
            });
        }
        plans.push(MeasurementPlan { m, infos, re });
    }
    Ok(items)
}

/// Scans the selected series (see [`scan`]).
fn scan_items(
    shard: &Shard,
    req: &ScanRequest,
    plans: &[MeasurementPlan<'_>],
    items: &[SeriesItem],
    cancel: &Cancel,
) -> Result<ScanResponse, ScanError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / MIN_SERIES_PER_THREAD)
        .max(1);
    if let ScanMode::Groups = req.mode {
        let mut acc = Accumulator::new(req);
        for item in items {
            let key = acc.group_key(&item.tags);
            acc.group(&plans[item.plan].m.name, key);
        }
        return Ok(acc.finish());
    }
    let run = |items: &[SeriesItem]| {
        let mut acc = Accumulator::new(req);
        for item in items {
            if cancel.is_cancelled() {
                return Err(ScanError::Cancelled);
            }
            // Past max-select-point the coordinator refuses the query with
            // the points counted so far: reading on is wasted.
            if req.max_points > 0 && acc.points > req.max_points {
                break;
            }
            scan_series(shard, req, &plans[item.plan], item, &mut acc)?;
        }
        Ok::<_, ScanError>(acc)
    };
    if threads == 1 {
        return Ok(run(items)?.finish());
    }
    let parts: Vec<Result<Accumulator<'_>, ScanError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|chunk| scope.spawn(|| run(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut acc = Accumulator::new(req);
    for p in parts {
        acc.absorb(p?);
    }
    Ok(acc.finish())
}

/// Scans one series into `acc`.
fn scan_series(
    shard: &Shard,
    req: &ScanRequest,
    plan: &MeasurementPlan<'_>,
    s: &SeriesItem,
    acc: &mut Accumulator<'_>,
) -> Result<(), ScanError> {
    let MeasurementPlan { m, infos, .. } = plan;
    if let (ScanMode::Agg { calls }, None) = (&req.mode, &s.cond) {
        if calls.iter().all(|c| c.aux.is_empty()) {
            let kinds: Vec<AggKind> = calls.iter().map(|c| c.kind).collect();
            for (ci, call) in calls.iter().enumerate() {
                let Some(info) = &infos[call.col] else {
                    continue;
                };
                let range = (req.min_time, req.max_time);
                // Without buckets, first() and last() need one value, read
                // from their end of the range.
                if let (None, AggKind::First | AggKind::Last) = (req.window, call.kind) {
                    let edge = shard.edge(s.id, info.id, range, call.kind == AggKind::Last);
                    let block = edge
                        .transpose()
                        .map(|e| e.map(|(t, v)| Block::single(t, v)));
                    acc.add_blocks(&m.name, &s.tags, ci, call.kind, &kinds, block.into_iter())?;
                    continue;
                }
                let scan = shard.scan(s.id, info.id, range.0, range.1);
                acc.add_blocks(&m.name, &s.tags, ci, call.kind, &kinds, scan)?;
            }
            return Ok(());
        }
    }
    let ids: Vec<storage::FieldId> = infos.iter().flatten().map(|i| i.id).collect();
    // Window by window, so that a row limit stops the read early.
    let (limit, desc) = match &req.mode {
        ScanMode::Raw { limit, desc } => (limit.unwrap_or(u64::MAX), *desc),
        _ => (u64::MAX, false),
    };
    let mut taken = 0;
    for aligned in shard.scan_aligned(s.id, &ids, (req.min_time, req.max_time), desc) {
        taken += add_aligned(plan, s, aligned?, acc) as u64;
        if taken >= limit {
            break;
        }
    }
    Ok(())
}

/// Adds a series' aligned rows to `acc`; returns how many passed.
fn add_aligned(
    plan: &MeasurementPlan<'_>,
    s: &SeriesItem,
    aligned: storage::AlignedRows,
    acc: &mut Accumulator<'_>,
) -> usize {
    let MeasurementPlan { m, infos, re } = plan;
    if aligned.timestamps.is_empty() {
        return 0;
    }
    acc.points += aligned.timestamps.len() as u64;
    let mut it = aligned.columns.into_iter();
    let columns = infos
        .iter()
        .map(|i| match i {
            Some(_) => it
                .next()
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.map(Val::from))
                .collect(),
            None => vec![None; aligned.timestamps.len()],
        })
        .collect();
    acc.add_rows(
        m,
        s.cond.as_ref(),
        re,
        SeriesRows {
            key: s.key.clone(),
            tags: s.tags.clone(),
            timestamps: aligned.timestamps,
            columns,
        },
    )
}

/// Tag keys and values for the index SHOW statements, answered per shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRequest {
    /// The shard to read.
    pub shard_id: u64,
    /// The FROM sources.
    pub sources: Vec<SourceMatch>,
    /// Condition over tags only (fields are not indexed).
    pub cond: Option<Ex>,
}

/// Series keys (with their measurement and tags) matching a request.
pub fn series_keys(shard: &Shard, req: &SeriesRequest) -> Result<Vec<String>, ScanError> {
    let re = match &req.cond {
        Some(c) => Regexes::compile(c)?,
        None => Regexes::default(),
    };
    let mut out = Vec::new();
    let matchers: Vec<NameMatcher> = req.sources.iter().map(matcher).collect();
    let all = if matchers.is_empty() {
        shard.series(None, None)?
    } else {
        let mut v = Vec::new();
        for mm in &matchers {
            v.extend(shard.series(Some(mm), None)?);
        }
        v
    };
    for s in all {
        if let Some(c) = &req.cond {
            let Some((_, tags)) = parse_series_key(&s.key) else {
                continue;
            };
            let b = c.bind_tags(&|k| tag_of(&tags, k).to_owned(), &re);
            if !matches!(b, Ex::Lit(v) if truthy(v.clone())) {
                continue;
            }
        }
        out.push(s.key);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Groups a shard's answer by key for the merge.
pub type Groups = HashMap<(String, Vec<String>), GroupBody>;

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    fn ns(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid time")
            .timestamp_nanos_opt()
            .expect("in range")
    }

    fn window(every: i64, tz: &str) -> Window {
        Window {
            every,
            offset: 0,
            tz: Some(tz.parse().expect("known zone")),
        }
    }

    #[test]
    fn key_needles_are_required_tag_pairs() {
        use crate::select::value::Op;
        let eq = |k: &str, v: &str| {
            Ex::Bin(
                Op::Eq,
                Box::new(Ex::Tag(k.into())),
                Box::new(Ex::Lit(Some(Val::Str(v.into())))),
            )
        };
        let field = Ex::Bin(
            Op::Gt,
            Box::new(Ex::Col(0, None)),
            Box::new(Ex::Lit(Some(Val::Float(90.0)))),
        );
        let bin = |op, a: Ex, b: Ex| Ex::Bin(op, Box::new(a), Box::new(b));
        let hosts = bin(Op::Or, eq("host", "a"), eq("host", "b c"));
        assert_eq!(
            key_needles(&bin(Op::And, field.clone(), hosts.clone())),
            Some(vec![",host=a".to_owned(), ",host=b\\ c".to_owned()])
        );
        assert_eq!(key_needles(&bin(Op::Or, field.clone(), hosts)), None);
        assert_eq!(key_needles(&eq("host", "")), None);
        assert_eq!(key_needles(&field), None);

        let key = "cpu,host=a,rack=r\\,1";
        assert!(has_tag_pair(key, ",host=a"));
        assert!(has_tag_pair(key, ",rack=r\\,1"));
        assert!(!has_tag_pair(key, ",rack=r"));
        assert!(!has_tag_pair("cpu,host=ab", ",host=a"));
    }

    #[test]
    fn zoned_days_start_at_local_midnight() {
        let w = window(24 * H, "America/Chicago");
        let (start, end) = w.bounds(ns("2015-08-18T00:00:00Z"));
        assert_eq!(start, ns("2015-08-17T00:00:00-05:00"));
        assert_eq!(end, ns("2015-08-18T00:00:00-05:00"));
    }

    #[test]
    fn half_hour_zones_shift_hour_buckets() {
        let w = window(6 * H, "Asia/Kolkata");
        assert_eq!(
            w.start(ns("2015-08-18T00:10:00Z")),
            ns("2015-08-18T00:00:00+05:30")
        );
    }

    #[test]
    fn a_dst_day_is_23_hours_long() {
        // Chicago springs forward on 2015-03-08: that local day has 23h.
        let w = window(24 * H, "America/Chicago");
        let (start, end) = w.bounds(ns("2015-03-08T12:00:00-05:00"));
        assert_eq!(start, ns("2015-03-08T00:00:00-06:00"));
        assert_eq!(end, ns("2015-03-09T00:00:00-05:00"));
        assert_eq!(end - start, 23 * H);
    }

    #[test]
    fn zones_travel_by_name() {
        let w = window(H, "Europe/London");
        let json = serde_json::to_string(&w).expect("serialize");
        assert!(json.contains("Europe/London"), "{json}");
        assert_eq!(serde_json::from_str::<Window>(&json).expect("parse"), w);
    }
}

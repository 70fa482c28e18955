//! InfluxQL functions: partial aggregate states (computed next to the data,
//! merged by the coordinator), exact aggregates over shipped points,
//! selectors, transformations over a series of rows, and math. Which names
//! are which comes from `influxql::functions`, the registry the validator
//! reads too.
//!
//! Tie rules follow InfluxDB 1.6's reducers: `min`/`max` keep the earliest
//! point among equal values; `first`/`last` keep the larger value among
//! equal timestamps.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use influxql::functions::{FunctionKind, Rows};
use serde::{Deserialize, Serialize};

use super::value::Val;

/// A point fed to an aggregate: time, value and the auxiliary values that
/// travel with it (other selected fields/tags of the same row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pt {
    /// The point's timestamp, ns.
    pub time: i64,
    /// The value the function reads.
    pub val: Val,
    /// The row's auxiliary values, in the plan's aux slot order.
    pub aux: Vec<Option<Val>>,
}

/// How an aggregate call is computed near the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggKind {
    /// `count`: a counter.
    Count,
    /// `sum`: a running sum.
    Sum,
    /// `mean`: sum and count.
    Mean,
    /// `min`: the selected point.
    Min,
    /// `max`: the selected point.
    Max,
    /// `first`: the selected point.
    First,
    /// `last`: the selected point.
    Last,
    /// `spread`: min and max.
    Spread,
    /// Everything else: the points are shipped and the exact function runs
    /// on the coordinator.
    Points,
}

impl AggKind {
    /// The push-down form of a function name.
    pub fn for_function(name: &str) -> AggKind {
        match name {
            "count" => AggKind::Count,
            "sum" => AggKind::Sum,
            "mean" => AggKind::Mean,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "first" => AggKind::First,
            "last" => AggKind::Last,
            "spread" => AggKind::Spread,
            _ => AggKind::Points,
        }
    }
}

/// A partial aggregate for one (group, bucket, call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Partial {
    /// Points counted so far.
    Count(u64),
    /// Sum, typed as the input (`None` until a value arrives).
    Sum(Option<Val>),
    /// `mean`: merged by adding both parts, divided at the end.
    Mean {
        /// Sum of the values, as floats.
        sum: f64,
        /// Number of values.
        count: u64,
    },
    /// min/max/first/last: the selected point.
    Sel(Option<Pt>),
    /// `spread`: the smallest and largest values seen.
    Spread {
        /// Smallest value (`None` until a value arrives).
        min: Option<Val>,
        /// Largest value (`None` until a value arrives).
        max: Option<Val>,
    },
    /// Every point, for the functions computed on the coordinator.
    Points(Vec<Pt>),
}

impl Partial {
    /// The empty state of `kind`.
    pub fn new(kind: AggKind) -> Partial {
        match kind {
            AggKind::Count => Partial::Count(0),
            AggKind::Sum => Partial::Sum(None),
            AggKind::Mean => Partial::Mean { sum: 0.0, count: 0 },
            AggKind::Min | AggKind::Max | AggKind::First | AggKind::Last => Partial::Sel(None),
            AggKind::Spread => Partial::Spread {
                min: None,
                max: None,
            },
            AggKind::Points => Partial::Points(Vec::new()),
        }
    }

    /// Adds one point.
    pub fn push(&mut self, kind: AggKind, p: Pt) {
        match self {
            Partial::Count(c) => *c += 1,
            Partial::Sum(s) => *s = Some(add(s.take(), p.val)),
            Partial::Mean { sum, count } => {
                if let Some(f) = p.val.as_f64() {
                    *sum += f;
                    *count += 1;
                }
            }
            Partial::Sel(cur) => {
                if cur.as_ref().is_none_or(|c| better(kind, &p, c)) {
                    *cur = Some(p);
                }
            }
            Partial::Spread { min, max } => {
                if min
                    .as_ref()
                    .is_none_or(|m| p.val.cmp_total(m) == Ordering::Less)
                {
                    *min = Some(p.val.clone());
                }
                if max
                    .as_ref()
                    .is_none_or(|m| p.val.cmp_total(m) == Ordering::Greater)
                {
                    *max = Some(p.val);
                }
            }
            Partial::Points(v) => v.push(p),
        }
    }

    /// Merges another partial of the same call.
    pub fn merge(&mut self, kind: AggKind, other: Partial) {
        match (self, other) {
            (Partial::Count(a), Partial::Count(b)) => *a += b,
            (Partial::Sum(a), Partial::Sum(b)) => {
                if let Some(b) = b {
                    *a = Some(add(a.take(), b));
                }
            }
            (Partial::Mean { sum, count }, Partial::Mean { sum: s2, count: c2 }) => {
                *sum += s2;
                *count += c2;
            }
            (Partial::Sel(a), Partial::Sel(b)) => {
                if let Some(b) = b {
                    if a.as_ref().is_none_or(|c| better(kind, &b, c)) {
                        *a = Some(b);
                    }
                }
            }
            (Partial::Spread { min, max }, Partial::Spread { min: m2, max: x2 }) => {
                if let Some(m2) = m2 {
                    if min
                        .as_ref()
                        .is_none_or(|m| m2.cmp_total(m) == Ordering::Less)
                    {
                        *min = Some(m2);
                    }
                }
                if let Some(x2) = x2 {
                    if max
                        .as_ref()
                        .is_none_or(|m| x2.cmp_total(m) == Ordering::Greater)
                    {
                        *max = Some(x2);
                    }
                }
            }
            (Partial::Points(a), Partial::Points(b)) => a.extend(b),
            _ => {}
        }
    }

    /// Whether no point was added.
    pub fn is_empty(&self) -> bool {
        match self {
            Partial::Count(c) => *c == 0,
            Partial::Sum(s) => s.is_none(),
            Partial::Mean { count, .. } => *count == 0,
            Partial::Sel(s) => s.is_none(),
            Partial::Spread { min, .. } => min.is_none(),
            Partial::Points(v) => v.is_empty(),
        }
    }
}

fn add(a: Option<Val>, b: Val) -> Val {
    match (a, b) {
        (None, b) => b,
        (Some(Val::Int(x)), Val::Int(y)) => Val::Int(x.wrapping_add(y)),
        (Some(Val::Uns(x)), Val::Uns(y)) => Val::Uns(x.wrapping_add(y)),
        (Some(x), y) => Val::Float(x.as_f64().unwrap_or(0.0) + y.as_f64().unwrap_or(0.0)),
    }
}

/// Whether `p` replaces the current selection `c` of selector `kind`.
pub fn better(kind: AggKind, p: &Pt, c: &Pt) -> bool {
    let vc = p.val.cmp_total(&c.val);
    match kind {
        AggKind::Min => vc == Ordering::Less || (vc == Ordering::Equal && p.time < c.time),
        AggKind::Max => vc == Ordering::Greater || (vc == Ordering::Equal && p.time < c.time),
        AggKind::First => p.time < c.time || (p.time == c.time && vc == Ordering::Greater),
        AggKind::Last => p.time > c.time || (p.time == c.time && vc == Ordering::Greater),
        _ => false,
    }
}

/// Fast per-slice reductions for the columnar path: fold a run of values
/// (all in one bucket, sorted by time) into the partial without building
/// points. `aux` is empty on this path.
pub fn push_floats(part: &mut Partial, kind: AggKind, ts: &[i64], vs: &[f64]) {
    if ts.is_empty() {
        return;
    }
    match (part, kind) {
        (Partial::Count(c), _) => *c += ts.len() as u64,
        (Partial::Sum(s), _) => {
            let t: f64 = vs.iter().sum();
            *s = Some(add(s.take(), Val::Float(t)));
        }
        (Partial::Mean { sum, count }, _) => {
            *sum += vs.iter().sum::<f64>();
            *count += vs.len() as u64;
        }
        (p @ Partial::Sel(_), AggKind::First) => p.push(kind, pt(ts[0], Val::Float(vs[0]))),
        (p @ Partial::Sel(_), AggKind::Last) => {
            let n = ts.len() - 1;
            p.push(kind, pt(ts[n], Val::Float(vs[n])))
        }
        (p @ Partial::Sel(_), AggKind::Max) => {
            let mut bi = 0;
            for i in 1..vs.len() {
                if vs[i] > vs[bi] {
                    bi = i;
                }
            }
            p.push(kind, pt(ts[bi], Val::Float(vs[bi])))
        }
        (p @ Partial::Sel(_), AggKind::Min) => {
            let mut bi = 0;
            for i in 1..vs.len() {
                if vs[i] < vs[bi] {
                    bi = i;
                }
            }
            p.push(kind, pt(ts[bi], Val::Float(vs[bi])))
        }
        (p, _) => {
            for (t, v) in ts.iter().zip(vs) {
                p.push(kind, pt(*t, Val::Float(*v)));
            }
        }
    }
}

/// [`push_floats`] for integers.
pub fn push_ints(part: &mut Partial, kind: AggKind, ts: &[i64], vs: &[i64]) {
    if ts.is_empty() {
        return;
    }
    match (part, kind) {
        (Partial::Count(c), _) => *c += ts.len() as u64,
        (Partial::Sum(s), _) => {
            let t = vs.iter().fold(0i64, |a, b| a.wrapping_add(*b));
            *s = Some(add(s.take(), Val::Int(t)));
        }
        (Partial::Mean { sum, count }, _) => {
            *sum += vs.iter().map(|v| *v as f64).sum::<f64>();
            *count += vs.len() as u64;
        }
        (p @ Partial::Sel(_), AggKind::First) => p.push(kind, pt(ts[0], Val::Int(vs[0]))),
        (p @ Partial::Sel(_), AggKind::Last) => {
            let n = ts.len() - 1;
            p.push(kind, pt(ts[n], Val::Int(vs[n])))
        }
        (p @ Partial::Sel(_), AggKind::Max) => {
            let mut bi = 0;
            for i in 1..vs.len() {
                if vs[i] > vs[bi] {
                    bi = i;
                }
            }
            p.push(kind, pt(ts[bi], Val::Int(vs[bi])))
        }
        (p @ Partial::Sel(_), AggKind::Min) => {
            let mut bi = 0;
            for i in 1..vs.len() {
                if vs[i] < vs[bi] {
                    bi = i;
                }
            }
            p.push(kind, pt(ts[bi], Val::Int(vs[bi])))
        }
        (p, _) => {
            for (t, v) in ts.iter().zip(vs) {
                p.push(kind, pt(*t, Val::Int(*v)));
            }
        }
    }
}

fn pt(time: i64, val: Val) -> Pt {
    Pt {
        time,
        val,
        aux: Vec::new(),
    }
}

/// One output of an aggregate for a bucket: the value, the selected
/// point's time (selectors) and its auxiliary values.
#[derive(Debug, Clone, PartialEq)]
pub struct AggOut {
    /// The selected point's time; `None` for aggregates (the bucket's time).
    pub time: Option<i64>,
    /// The value; `None` when the bucket has none (e.g. mean of no numbers).
    pub val: Option<Val>,
    /// The selected point's auxiliary values; empty for aggregates.
    pub aux: Vec<Option<Val>>,
}

impl AggOut {
    fn val(v: Option<Val>) -> AggOut {
        AggOut {
            time: None,
            val: v,
            aux: Vec::new(),
        }
    }
    fn point(p: Pt) -> AggOut {
        AggOut {
            time: Some(p.time),
            val: Some(p.val),
            aux: p.aux,
        }
    }
}

/// Arguments of a function call beyond its field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FnArgs {
    /// `percentile(x, N)`, `top(x, N)`, `sample(x, N)`, `moving_average(x, N)`.
    pub n: Option<f64>,
    /// `integral(x, unit)`, `derivative(x, unit)`, `elapsed(x, unit)`.
    pub unit: Option<i64>,
    /// `top(x, tag1, tag2, N)`: aux slots of the tags whose distinct values
    /// compete.
    pub tag_slots: Vec<usize>,
    /// The rows come in ORDER BY time DESC: derivatives negate the elapsed
    /// time, as InfluxDB's reducers do.
    #[serde(default)]
    pub descending: bool,
}

/// Finishes an aggregate: the final values of one bucket. Multi-row
/// functions (`top`, `bottom`, `distinct`, `sample`) return several.
/// `bucket` is the bucket's `[start, end)` for `integral`'s edges.
pub fn finish(name: &str, args: &FnArgs, part: Partial) -> Vec<AggOut> {
    match part {
        Partial::Count(c) => vec![AggOut::val(Some(Val::Int(c as i64)))],
        Partial::Sum(s) => vec![AggOut::val(s)],
        Partial::Mean { sum, count } => vec![AggOut::val(if count == 0 {
            None
        } else {
            Some(Val::Float(sum / count as f64))
        })],
        Partial::Sel(Some(p)) => vec![AggOut::point(p)],
        Partial::Sel(None) => vec![AggOut::val(None)],
        Partial::Spread { min, max } => vec![AggOut::val(match (min, max) {
            (Some(Val::Int(a)), Some(Val::Int(b))) => Some(Val::Int(b - a)),
            (Some(Val::Uns(a)), Some(Val::Uns(b))) => Some(Val::Uns(b - a)),
            (Some(a), Some(b)) => Some(Val::Float(
                b.as_f64().unwrap_or(0.0) - a.as_f64().unwrap_or(0.0),
            )),
            _ => None,
        })],
        Partial::Points(mut pts) => {
            pts.sort_by_key(|p| p.time);
            exact(name, args, pts)
        }
    }
}

/// The most frequent value; among equally frequent ones the one seen
/// first (InfluxDB 1.6's answers), then the smallest.
fn mode(pts: &[Pt]) -> Option<Val> {
    // (value, count, first time)
    let mut runs: Vec<(&Val, usize, i64)> = Vec::new();
    let mut vals: Vec<&Pt> = pts.iter().collect();
    vals.sort_by(|a, b| a.val.cmp_total(&b.val).then(a.time.cmp(&b.time)));
    for p in vals {
        match runs.last_mut() {
            Some(r) if r.0.cmp_total(&p.val) == Ordering::Equal => r.1 += 1,
            _ => runs.push((&p.val, 1, p.time)),
        }
    }
    runs.iter()
        .min_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)))
        .map(|r| r.0.clone())
}

/// Distinct values ordered as InfluxDB emits them: by the time each was
/// first seen, equal times by value.
fn distinct(pts: Vec<Pt>) -> Vec<Val> {
    let mut seen: Vec<(i64, Val)> = Vec::new();
    for p in pts {
        match seen
            .iter_mut()
            .find(|(_, s)| s.cmp_total(&p.val) == Ordering::Equal && same_type(s, &p.val))
        {
            Some(s) => s.0 = s.0.min(p.time),
            None => seen.push((p.time, p.val)),
        }
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp_total(&b.1)));
    seen.into_iter().map(|(_, v)| v).collect()
}

fn exact(name: &str, args: &FnArgs, pts: Vec<Pt>) -> Vec<AggOut> {
    if pts.is_empty() {
        return vec![AggOut::val(None)];
    }
    match name {
        "median" => {
            let mut v: Vec<f64> = pts.iter().filter_map(|p| p.val.as_f64()).collect();
            if v.is_empty() {
                return vec![AggOut::val(None)];
            }
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len();
            let m = if n % 2 == 1 {
                v[n / 2]
            } else {
                v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2.0
            };
            vec![AggOut::val(Some(Val::Float(m)))]
        }
        "mode" => vec![AggOut::val(mode(&pts))],
        "stddev" => {
            let v: Vec<f64> = pts.iter().filter_map(|p| p.val.as_f64()).collect();
            if v.len() < 2 {
                return vec![AggOut::val(None)];
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (v.len() - 1) as f64;
            vec![AggOut::val(Some(Val::Float(var.sqrt())))]
        }
        "distinct" => distinct(pts)
            .into_iter()
            .map(|v| AggOut::val(Some(v)))
            .collect(),
        "percentile" => {
            let p = args.n.unwrap_or(50.0);
            let mut sorted = pts;
            sorted.sort_by(|a, b| a.val.cmp_total(&b.val).then(a.time.cmp(&b.time)));
            let n = sorted.len() as f64;
            let i = ((n * p / 100.0 + 0.5).floor() as i64) - 1;
            if i < 0 || i as usize >= sorted.len() {
                return vec![AggOut::val(None)];
            }
            vec![AggOut::point(sorted.swap_remove(i as usize))]
        }
        "sample" => {
            // Deterministic: evenly spaced points instead of a random
            // reservoir (InfluxDB's choice is random, so any n points are a
            // correct answer).
            let n = args.n.unwrap_or(1.0).max(1.0) as usize;
            let len = pts.len();
            if len <= n {
                return pts.into_iter().map(AggOut::point).collect();
            }
            let mut out = Vec::with_capacity(n);
            for k in 0..n {
                out.push(AggOut::point(pts[k * len / n].clone()));
            }
            out
        }
        "top" | "bottom" => {
            let n = args.n.unwrap_or(1.0).max(1.0) as usize;
            let top = name == "top";
            let order = |a: &Pt, b: &Pt| {
                let c = a.val.cmp_total(&b.val);
                let c = if top { c.reverse() } else { c };
                c.then(a.time.cmp(&b.time))
            };
            let mut cand = pts;
            if !args.tag_slots.is_empty() {
                // One point per distinct tag combination: its best.
                let mut best: Vec<Pt> = Vec::new();
                for p in cand {
                    let key = |q: &Pt| {
                        args.tag_slots
                            .iter()
                            .map(|&s| q.aux.get(s).cloned().flatten())
                            .collect::<Vec<_>>()
                    };
                    let k = key(&p);
                    match best.iter_mut().find(|b| key(b) == k) {
                        Some(b) => {
                            if order(&p, b) == Ordering::Less {
                                *b = p;
                            }
                        }
                        None => best.push(p),
                    }
                }
                cand = best;
            }
            cand.sort_by(order);
            cand.truncate(n);
            cand.sort_by_key(|p| p.time);
            cand.into_iter().map(AggOut::point).collect()
        }
        "integral" => {
            let unit = args.unit.unwrap_or(1_000_000_000) as f64;
            let mut total = 0.0;
            for w in pts.windows(2) {
                let (a, b) = (&w[0], &w[1]);
                if let (Some(x), Some(y)) = (a.val.as_f64(), b.val.as_f64()) {
                    total += (x + y) / 2.0 * (b.time - a.time) as f64 / unit;
                }
            }
            vec![AggOut::val(Some(Val::Float(total)))]
        }
        // Decomposable functions whose points were shipped anyway (e.g.
        // inside count(distinct())).
        other => {
            let kind = AggKind::for_function(other);
            if kind == AggKind::Points {
                return vec![AggOut::val(None)];
            }
            let mut p = Partial::new(kind);
            for pt in pts {
                p.push(kind, pt);
            }
            finish(other, args, p)
        }
    }
}

/// `integral()` under GROUP BY time, as InfluxDB 1.6 streams it over the
/// series' points (ascending): a window's area runs up to its end, with
/// the value there interpolated between the points around it, and the next
/// window starts from that interpolated point. A window ending on its last
/// point's start has no area and no value. `window(t)` is the `[start,
/// end)` of the window holding `t`. Returns window start → area.
pub fn integral_windows(
    pts: &[Pt],
    unit: i64,
    window: impl Fn(i64) -> (i64, i64),
) -> BTreeMap<i64, f64> {
    let unit = unit.max(1) as f64;
    let mut out = BTreeMap::new();
    let mut prev: Option<(i64, f64)> = None;
    let (mut start, mut end) = (0, 0);
    let mut sum = 0.0;
    for p in pts {
        let Some(v) = p.val.as_f64() else { continue };
        let Some((pt, pv)) = prev else {
            prev = Some((p.time, v));
            (start, end) = window(p.time);
            continue;
        };
        if pt == p.time {
            prev = Some((p.time, v));
            continue;
        }
        let (mut pt, mut pv) = (pt, pv);
        if p.time >= end {
            if pt != end {
                let at_end = pv + (v - pv) / (p.time - pt) as f64 * (end - pt) as f64;
                sum += 0.5 * (at_end + pv) * (end - pt) as f64 / unit;
                (pt, pv) = (end, at_end);
            }
            out.insert(start, sum);
            (start, end) = window(p.time);
            sum = 0.0;
        }
        sum += 0.5 * (v + pv) * (p.time - pt) as f64 / unit;
        prev = Some((p.time, v));
    }
    if let Some((pt, _)) = prev {
        if pt != start {
            out.insert(start, sum);
        }
    }
    out
}

fn same_type(a: &Val, b: &Val) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The kind of a function this engine computes, from the registry shared
/// with the validator; `None` for unknown names and for those InfluxQL
/// accepts but the engine has no implementation of, which the planner then
/// refuses as undefined.
fn computed_kind(name: &str) -> Option<FunctionKind> {
    influxql::functions::lookup(name)
        .filter(|f| f.engine_supported)
        .map(|f| f.kind)
}

/// Whether a function is an aggregate or selector (works on a bucket).
pub fn is_aggregate(name: &str) -> bool {
    matches!(
        computed_kind(name),
        Some(FunctionKind::Aggregate | FunctionKind::Selector)
    )
}

/// Whether an aggregate returns a point's own time when it is the only
/// call and there is no GROUP BY time.
pub fn is_selector(name: &str) -> bool {
    computed_kind(name) == Some(FunctionKind::Selector)
}

/// Whether a function transforms a series of rows (window functions).
pub fn is_transformation(name: &str) -> bool {
    computed_kind(name) == Some(FunctionKind::Transformation)
}

/// How many rows function `name` gives a bucket, from the registry;
/// [`Rows::One`] for unknown names.
pub fn rows(name: &str) -> Rows {
    influxql::functions::lookup(name).map_or(Rows::One, |f| f.rows)
}

/// Whether function `name` takes string and boolean fields too, from the
/// registry; `false` for unknown names.
pub fn takes_any_field_type(name: &str) -> bool {
    influxql::functions::lookup(name).is_some_and(|f| f.any_field_type)
}

/// Whether a function is a row-wise math function.
pub fn is_math(name: &str) -> bool {
    computed_kind(name) == Some(FunctionKind::Math)
}

/// A row-wise math function; integers stay integers for `abs`, `ceil`,
/// `floor` and `round`, everything else is float.
pub fn math(name: &str, args: &[Option<Val>]) -> Option<Val> {
    let a = args.first()?.clone()?;
    if let Val::Int(i) = a {
        match name {
            "abs" => return Some(Val::Int(i.wrapping_abs())),
            "ceil" | "floor" | "round" => return Some(Val::Int(i)),
            _ => {}
        }
    }
    if let Val::Uns(u) = a {
        if matches!(name, "abs" | "ceil" | "floor" | "round") {
            return Some(Val::Uns(u));
        }
    }
    let x = a.as_f64()?;
    let second = || args.get(1).cloned().flatten().and_then(|v| v.as_f64());
    let r = match name {
        "abs" => x.abs(),
        "ceil" => x.ceil(),
        "floor" => x.floor(),
        "round" => x.round(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "asin" => x.asin(),
        "acos" => x.acos(),
        "atan" => x.atan(),
        "atan2" => x.atan2(second()?),
        "exp" => x.exp(),
        "ln" => x.ln(),
        "log" => x.ln() / second()?.ln(),
        "log2" => x.log2(),
        "log10" => x.log10(),
        "sqrt" => x.sqrt(),
        "pow" => x.powf(second()?),
        _ => return None,
    };
    Some(Val::Float(r))
}

/// A transformation over one series' rows `(time, value)` in output order;
/// null inputs are skipped. Returns the output rows.
pub fn transform(
    name: &str,
    args: &FnArgs,
    rows: &[(i64, Option<Val>)],
) -> Vec<(i64, Option<Val>)> {
    let pts: Vec<(i64, &Val)> = rows
        .iter()
        .filter_map(|(t, v)| v.as_ref().map(|v| (*t, v)))
        .collect();
    let mut out = Vec::new();
    match name {
        "cumulative_sum" => {
            let mut acc: Option<Val> = None;
            for (t, v) in pts {
                acc = Some(add(acc, v.clone()));
                out.push((t, acc.clone()));
            }
        }
        "difference" | "non_negative_difference" => {
            for w in pts.windows(2) {
                let (a, b) = (w[0].1, w[1].1);
                let d = match (a, b) {
                    (Val::Int(x), Val::Int(y)) => Val::Int(y.wrapping_sub(*x)),
                    (Val::Uns(x), Val::Uns(y)) => Val::Uns(y.wrapping_sub(*x)),
                    _ => Val::Float(b.as_f64().unwrap_or(0.0) - a.as_f64().unwrap_or(0.0)),
                };
                if name == "non_negative_difference" && d.as_f64().is_some_and(|f| f < 0.0) {
                    continue;
                }
                out.push((w[1].0, Some(d)));
            }
        }
        "derivative" | "non_negative_derivative" => {
            let unit = args.unit.unwrap_or(1_000_000_000) as f64;
            for w in pts.windows(2) {
                let (a, b) = (w[0], w[1]);
                let dt = if args.descending {
                    (a.0 - b.0) as f64
                } else {
                    (b.0 - a.0) as f64
                };
                if dt == 0.0 {
                    continue;
                }
                let d = (b.1.as_f64().unwrap_or(0.0) - a.1.as_f64().unwrap_or(0.0)) / (dt / unit);
                if name == "non_negative_derivative" && d < 0.0 {
                    continue;
                }
                out.push((b.0, Some(Val::Float(d))));
            }
        }
        "elapsed" => {
            let unit = args.unit.unwrap_or(1);
            for w in pts.windows(2) {
                out.push((w[1].0, Some(Val::Int((w[1].0 - w[0].0) / unit.max(1)))));
            }
        }
        "moving_average" => {
            let n = args.n.unwrap_or(1.0).max(1.0) as usize;
            if pts.len() >= n {
                let vals: Vec<f64> = pts.iter().map(|p| p.1.as_f64().unwrap_or(0.0)).collect();
                let mut sum: f64 = vals[..n].iter().sum();
                out.push((pts[n - 1].0, Some(Val::Float(sum / n as f64))));
                for i in n..vals.len() {
                    sum += vals[i] - vals[i - n];
                    out.push((pts[i].0, Some(Val::Float(sum / n as f64))));
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Pt> {
        v.iter().map(|(t, x)| pt(*t, Val::Float(*x))).collect()
    }

    #[test]
    fn partials_merge_like_one_pass() {
        let all = pts(&[(1, 3.0), (2, 1.0), (3, 3.0), (4, 2.0)]);
        for kind in [
            AggKind::Count,
            AggKind::Sum,
            AggKind::Mean,
            AggKind::Min,
            AggKind::Max,
            AggKind::First,
            AggKind::Last,
            AggKind::Spread,
        ] {
            let mut one = Partial::new(kind);
            for p in all.clone() {
                one.push(kind, p);
            }
            let mut a = Partial::new(kind);
            let mut b = Partial::new(kind);
            for p in all[2..].iter().cloned() {
                a.push(kind, p);
            }
            for p in all[..2].iter().cloned() {
                b.push(kind, p);
            }
            a.merge(kind, b);
            assert_eq!(a, one, "{kind:?}");
        }
        // max keeps the earliest of equal values.
        let mut m = Partial::new(AggKind::Max);
        push_floats(&mut m, AggKind::Max, &[1, 2, 3, 4], &[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(finish("max", &FnArgs::default(), m)[0].time, Some(1));
    }

    #[test]
    fn exact_aggregates() {
        let p = pts(&[(1, 4.0), (2, 1.0), (3, 3.0), (4, 2.0)]);
        let f = |name: &str, n: Option<f64>| {
            let args = FnArgs {
                n,
                ..Default::default()
            };
            finish(name, &args, Partial::Points(p.clone()))
        };
        assert_eq!(f("median", None)[0].val, Some(Val::Float(2.5)));
        assert_eq!(f("percentile", Some(50.0))[0].val, Some(Val::Float(2.0)));
        assert_eq!(f("percentile", Some(0.0))[0].val, None);
        let top = f("top", Some(2.0));
        assert_eq!(
            top.iter().map(|o| o.time.unwrap()).collect::<Vec<_>>(),
            vec![1, 3]
        );
        let sd = f("stddev", None)[0].val.clone().unwrap().as_f64().unwrap();
        assert!((sd - 1.2909944487358056).abs() < 1e-12);
    }

    #[test]
    fn transformations() {
        let rows: Vec<(i64, Option<Val>)> = vec![
            (0, Some(Val::Int(1))),
            (10, None),
            (20, Some(Val::Int(4))),
            (30, Some(Val::Int(2))),
        ];
        let a = FnArgs {
            unit: Some(10),
            ..Default::default()
        };
        assert_eq!(
            transform("derivative", &a, &rows),
            vec![(20, Some(Val::Float(1.5))), (30, Some(Val::Float(-2.0)))]
        );
        assert_eq!(
            transform("non_negative_difference", &a, &rows),
            vec![(20, Some(Val::Int(3)))]
        );
        assert_eq!(
            transform("cumulative_sum", &a, &rows).last().unwrap().1,
            Some(Val::Int(7))
        );
        let ma = FnArgs {
            n: Some(2.0),
            ..Default::default()
        };
        assert_eq!(
            transform("moving_average", &ma, &rows),
            vec![(20, Some(Val::Float(2.5))), (30, Some(Val::Float(3.0)))]
        );
    }

    #[test]
    fn descending_derivative_negates_the_elapsed_time() {
        let rows = vec![(3, Some(Val::Float(1.0))), (1, Some(Val::Float(2.0)))];
        let mut args = FnArgs {
            unit: Some(1),
            ..FnArgs::default()
        };
        // Ascending reading of the same pair would be (1 - 2) / (3 - 1).
        args.descending = true;
        assert_eq!(
            transform("derivative", &args, &rows),
            vec![(1, Some(Val::Float(0.5)))]
        );
    }

    /// `engine_supported` must match what this file implements: a function
    /// marked supported without an implementation would be planned and
    /// answer nothing instead of being refused.
    #[test]
    fn registry_functions_marked_supported_are_computed() {
        let p = pts(&[(1, 4.0), (2, 1.0), (3, 3.0)]);
        let rows: Vec<(i64, Option<Val>)> =
            p.iter().map(|p| (p.time, Some(p.val.clone()))).collect();
        for f in influxql::functions::FUNCTIONS {
            let computed = match f.kind {
                FunctionKind::Aggregate | FunctionKind::Selector => {
                    finish(f.name, &FnArgs::default(), Partial::Points(p.clone()))[0]
                        .val
                        .is_some()
                }
                FunctionKind::Transformation => {
                    !transform(f.name, &FnArgs::default(), &rows).is_empty()
                }
                FunctionKind::Math => {
                    math(f.name, &[Some(Val::Float(2.0)), Some(Val::Float(2.0))]).is_some()
                }
            };
            assert_eq!(computed, f.engine_supported, "{}", f.name);
            assert_eq!(
                is_transformation(f.name),
                computed && f.kind == FunctionKind::Transformation
            );
        }
    }

    /// The registry's `rows` and `any_field_type`, which the planner reads,
    /// must match what `finish` does: a multi-row function gives several
    /// rows (points with their own time for [`Rows::Points`]), the others
    /// one; a function said to take any field type computes strings.
    #[test]
    fn registry_rows_and_field_types_match_finish() {
        let p = pts(&[(1, 4.0), (2, 1.0), (3, 3.0)]);
        let args = FnArgs {
            n: Some(2.0),
            ..FnArgs::default()
        };
        let strs: Vec<Pt> = [(1, "a"), (2, "b"), (3, "a")]
            .iter()
            .map(|(t, s)| pt(*t, Val::Str((*s).to_owned())))
            .collect();
        for f in influxql::functions::FUNCTIONS {
            if !f.engine_supported
                || !matches!(f.kind, FunctionKind::Aggregate | FunctionKind::Selector)
            {
                assert_eq!(f.rows, Rows::One, "{}", f.name);
                continue;
            }
            let out = finish(f.name, &args, Partial::Points(p.clone()));
            assert_eq!(out.len() > 1, f.rows != Rows::One, "{}", f.name);
            if f.rows != Rows::One {
                assert!(
                    out.iter()
                        .all(|o| o.time.is_some() == (f.rows == Rows::Points)),
                    "{}",
                    f.name
                );
            }
            if f.any_field_type {
                let out = finish(f.name, &args, Partial::Points(strs.clone()));
                assert!(out[0].val.is_some(), "{}", f.name);
            }
            assert_eq!(rows(f.name), f.rows);
            assert_eq!(takes_any_field_type(f.name), f.any_field_type);
        }
    }

    #[test]
    fn mode_ties_go_to_the_value_seen_first() {
        // 5.0 and 4.0 both twice; 5.0 appears first.
        let p = pts(&[(1, 5.0), (2, 4.0), (3, 4.0), (4, 5.0), (5, 1.0)]);
        assert_eq!(mode(&p), Some(Val::Float(5.0)));
        let p = pts(&[(1, 5.0), (2, 4.0), (3, 4.0)]);
        assert_eq!(mode(&p), Some(Val::Float(4.0)));
    }

    #[test]
    fn distinct_orders_by_first_time_then_value() {
        let p = pts(&[(2, 9.0), (1, 7.0), (1, 3.0), (3, 7.0)]);
        assert_eq!(
            distinct(p),
            vec![Val::Float(3.0), Val::Float(7.0), Val::Float(9.0)]
        );
    }

    #[test]
    fn windowed_integral_interpolates_at_window_edges() {
        // Windows of 10; points at 0, 5, 15, 20: the segment 5..15 is split
        // at 10 (value 3 interpolated between 2 and 4).
        let p = pts(&[(0, 0.0), (5, 2.0), (15, 4.0), (20, 4.0)]);
        let w = integral_windows(&p, 1, |t| (t - t % 10, t - t % 10 + 10));
        // [0,10): 0..5 area 5, 5..10 area 12.5.
        assert_eq!(w.get(&0), Some(&17.5));
        // [10,20): 10..15 area 17.5, then 15..20 lands on 20 = next start.
        assert_eq!(w.get(&10), Some(&37.5));
        // The last point starts window 20: no area there.
        assert_eq!(w.get(&20), None);
    }
}

//! Column blocks: the values of one (series, field, time window), sorted by
//! time with unique timestamps, and their two byte encodings.
//!
//! - **raw** (`RAW`): what apply writes as a merge operand. Timestamps and
//!   values as little-endian arrays, no compression: apply only copies bytes,
//!   which is what makes ≥ 1.5 M values/s possible. RocksDB's own LZ4 shrinks
//!   these while they wait in L0/L1.
//! - **packed** (`PACKED`): what a full merge in a compaction produces (a
//!   read of a key with pending operands merges them into a raw block, which
//!   is never stored). Timestamps with `pco` (its automatic delta encoding
//!   turns a regular interval into ~0 bits per value, like delta-of-delta),
//!   integers/unsigned/floats with `pco`, booleans bit-packed, strings
//!   dictionary-coded when that pays (indices with `pco`), otherwise lengths
//!   with `pco` plus the bytes (zstd at the bottommost level of RocksDB
//!   compresses those). From [`EDGES_MIN`] values on (`PACKED_EDGES`) the
//!   first and last (time, value) come uncompressed before the body, so
//!   `first()`/`last()` ([`edge`]) do not unpack the block.
//! - **chain** (`CHAIN`): a stored packed block followed by the raw writes
//!   merged on top of it since, all later in time: what a read of a hot
//!   window gets (never stored), so the read neither unpacks nor re-encodes.
//!
//! Byte 0 is `encoding | type code`; then, except in a chain, the value
//! count as a LEB128 varint.

use schemas::{FieldType, FieldValues};

use crate::error::{CorruptReason, Error};

/// Encoding marker for a raw (uncompressed) block.
pub(crate) const RAW: u8 = 0x00;
/// Encoding marker for a packed (compressed) block.
pub(crate) const PACKED: u8 = 0x10;
/// Encoding marker for a chain: an older raw or packed block, then a newer
/// one whose times all follow it. Only a read makes one (never stored).
pub(crate) const CHAIN: u8 = 0x20;
/// Encoding marker for a packed block that also carries its first and last
/// values uncompressed (blocks of [`EDGES_MIN`] values or more).
pub(crate) const PACKED_EDGES: u8 = 0x30;

/// From this many values a packed block carries its edge values, so that
/// `first()` and `last()` on cold data read them without unpacking the block
/// (an 8640-value block of floats costs tens of µs to unpack, and TSBS's
/// lastpoint reads 1000 of them); below it they would cost more space than
/// the decode time they save.
const EDGES_MIN: usize = 64;

/// pco's compression level for packed blocks. Level 8 is pco's default; on
/// TSBS data levels 4..8 give the same size within 1 % and 8 costs little at
/// block sizes of a few thousand values.
const PCO_LEVEL: usize = 8;

/// Strings use a dictionary when it has at most this share of the values.
const DICT_MAX_SHARE: usize = 2;

/// The decoded values of one field, all of one type.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// 64-bit floats.
    Float(Vec<f64>),
    /// Signed 64-bit integers.
    Integer(Vec<i64>),
    /// Unsigned 64-bit integers.
    Unsigned(Vec<u64>),
    /// UTF-8 strings.
    String(Vec<String>),
    /// Booleans.
    Boolean(Vec<bool>),
}

/// One value of a field, for row-aligned reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// 64-bit float.
    Float(f64),
    /// Signed 64-bit integer.
    Integer(i64),
    /// Unsigned 64-bit integer.
    Unsigned(u64),
    /// String.
    String(String),
    /// Boolean.
    Boolean(bool),
}

impl Column {
    /// An empty column of `field_type`.
    pub fn empty(field_type: FieldType) -> Self {
        Self::with_capacity(field_type, 0)
    }

    fn with_capacity(field_type: FieldType, n: usize) -> Self {
        match field_type {
            FieldType::Float => Column::Float(Vec::with_capacity(n)),
            FieldType::Integer => Column::Integer(Vec::with_capacity(n)),
            FieldType::Unsigned => Column::Unsigned(Vec::with_capacity(n)),
            FieldType::String => Column::String(Vec::with_capacity(n)),
            FieldType::Boolean => Column::Boolean(Vec::with_capacity(n)),
        }
    }

    /// The type of the values.
    pub fn field_type(&self) -> FieldType {
        match self {
            Column::Float(_) => FieldType::Float,
            Column::Integer(_) => FieldType::Integer,
            Column::Unsigned(_) => FieldType::Unsigned,
            Column::String(_) => FieldType::String,
            Column::Boolean(_) => FieldType::Boolean,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::Float(v) => v.len(),
            Column::Integer(v) => v.len(),
            Column::Unsigned(v) => v.len(),
            Column::String(v) => v.len(),
            Column::Boolean(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `i`.
    pub fn value(&self, i: usize) -> Value {
        match self {
            Column::Float(v) => Value::Float(v[i]),
            Column::Integer(v) => Value::Integer(v[i]),
            Column::Unsigned(v) => Value::Unsigned(v[i]),
            Column::String(v) => Value::String(v[i].clone()),
            Column::Boolean(v) => Value::Boolean(v[i]),
        }
    }

    /// Appends all values of `other` (same type; checked by the caller).
    fn extend_from(&mut self, other: &Column) {
        match (self, other) {
            (Column::Float(a), Column::Float(b)) => a.extend_from_slice(b),
            (Column::Integer(a), Column::Integer(b)) => a.extend_from_slice(b),
            (Column::Unsigned(a), Column::Unsigned(b)) => a.extend_from_slice(b),
            (Column::String(a), Column::String(b)) => a.extend_from_slice(b),
            (Column::Boolean(a), Column::Boolean(b)) => a.extend_from_slice(b),
            _ => unreachable!("extend_from is only called on columns of one type"),
        }
    }

    /// Removes the values in `range`.
    fn drain(&mut self, range: std::ops::Range<usize>) {
        match self {
            Column::Float(v) => drop(v.drain(range)),
            Column::Integer(v) => drop(v.drain(range)),
            Column::Unsigned(v) => drop(v.drain(range)),
            Column::String(v) => drop(v.drain(range)),
            Column::Boolean(v) => drop(v.drain(range)),
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Column::Float(v) => v.truncate(n),
            Column::Integer(v) => v.truncate(n),
            Column::Unsigned(v) => v.truncate(n),
            Column::String(v) => v.truncate(n),
            Column::Boolean(v) => v.truncate(n),
        }
    }
}

/// Values of one field of one series, sorted by time, timestamps unique.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Nanoseconds since the epoch, strictly increasing.
    pub timestamps: Vec<i64>,
    /// `values[i]` is the value at `timestamps[i]`.
    pub values: Column,
}

impl Block {
    /// An empty block of `field_type`.
    pub fn empty(field_type: FieldType) -> Self {
        Block {
            timestamps: Vec::new(),
            values: Column::empty(field_type),
        }
    }

    /// A block of one value.
    pub fn single(t: i64, value: Value) -> Self {
        let values = match value {
            Value::Float(v) => Column::Float(vec![v]),
            Value::Integer(v) => Column::Integer(vec![v]),
            Value::Unsigned(v) => Column::Unsigned(vec![v]),
            Value::String(v) => Column::String(vec![v]),
            Value::Boolean(v) => Column::Boolean(vec![v]),
        };
        Block {
            timestamps: vec![t],
            values,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Keeps only the values with `min <= t <= max`.
    pub fn retain_range(&mut self, min: i64, max: i64) {
        let hi = self.timestamps.partition_point(|&t| t <= max);
        self.timestamps.truncate(hi);
        self.values.truncate(hi);
        let lo = self.timestamps.partition_point(|&t| t < min);
        if lo > 0 {
            self.timestamps.drain(..lo);
            self.values.drain(0..lo);
        }
    }

    /// Removes the values with `min <= t <= max` (a DELETE's time range).
    pub fn remove_range(&mut self, min: i64, max: i64) {
        let lo = self.timestamps.partition_point(|&t| t < min);
        let hi = self.timestamps.partition_point(|&t| t <= max);
        if lo < hi {
            self.timestamps.drain(lo..hi);
            self.values.drain(lo..hi);
        }
    }

    /// Appends `other`, whose timestamps all follow ours (scan concatenation).
    pub fn append(&mut self, other: &Block) {
        self.timestamps.extend_from_slice(&other.timestamps);
        self.values.extend_from(&other.values);
    }
}

/// Merges `newer` into `older`: the union of both, and on equal timestamps
/// the value of `newer` (InfluxDB's upsert: the later write wins).
///
/// Both must be sorted with unique timestamps, and so is the result. If the
/// types differ (impossible by construction: a field id has one type for its
/// whole life) `newer` replaces `older`, so the outcome is still a function of
/// the operand order alone.
pub(crate) fn merge_blocks(older: Block, newer: Block) -> Block {
    if older.is_empty() || older.values.field_type() != newer.values.field_type() {
        return newer;
    }
    if newer.is_empty() {
        return older;
    }
    // In-order arrival, the common case: append.
    if newer.timestamps[0] > *older.timestamps.last().expect("non-empty") {
        let mut out = older;
        out.append(&newer);
        return out;
    }
    let ts = (&older.timestamps[..], &newer.timestamps[..]);
    let (timestamps, values) = match (older.values, newer.values) {
        (Column::Float(a), Column::Float(b)) => {
            let (t, v) = merge_runs(ts, a, b);
            (t, Column::Float(v))
        }
        (Column::Integer(a), Column::Integer(b)) => {
            let (t, v) = merge_runs(ts, a, b);
            (t, Column::Integer(v))
        }
        (Column::Unsigned(a), Column::Unsigned(b)) => {
            let (t, v) = merge_runs(ts, a, b);
            (t, Column::Unsigned(v))
        }
        (Column::String(a), Column::String(b)) => {
            let (t, v) = merge_runs(ts, a, b);
            (t, Column::String(v))
        }
        (Column::Boolean(a), Column::Boolean(b)) => {
            let (t, v) = merge_runs(ts, a, b);
            (t, Column::Boolean(v))
        }
        _ => unreachable!("types were checked equal above"),
    };
    Block { timestamps, values }
}

/// Two-pointer merge of sorted runs; `b` wins ties.
fn merge_runs<T>((at, bt): (&[i64], &[i64]), a: Vec<T>, b: Vec<T>) -> (Vec<i64>, Vec<T>) {
    let mut ts = Vec::with_capacity(at.len() + bt.len());
    let mut vs = Vec::with_capacity(at.len() + bt.len());
    let mut ai = at.iter().copied().zip(a).peekable();
    let mut bi = bt.iter().copied().zip(b).peekable();
    loop {
        let from_a = match (ai.peek(), bi.peek()) {
            (Some((ta, _)), Some((tb, _))) => {
                if ta == tb {
                    // Same timestamp: drop the older value.
                    ai.next();
                    false
                } else {
                    ta < tb
                }
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let (t, v) = if from_a { ai.next() } else { bi.next() }.expect("peeked");
        ts.push(t);
        vs.push(v);
    }
    (ts, vs)
}

pub(crate) fn type_code(t: FieldType) -> u8 {
    match t {
        FieldType::Float => 0,
        FieldType::Integer => 1,
        FieldType::Unsigned => 2,
        FieldType::String => 3,
        FieldType::Boolean => 4,
    }
}

pub(crate) fn type_from_code(code: u8) -> Option<FieldType> {
    Some(match code {
        0 => FieldType::Float,
        1 => FieldType::Integer,
        2 => FieldType::Unsigned,
        3 => FieldType::String,
        4 => FieldType::Boolean,
        _ => return None,
    })
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*pos)
            .ok_or(Error::CorruptBlock(CorruptReason::Truncated))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(Error::CorruptBlock(CorruptReason::Varint))
}

fn take<'b>(bytes: &'b [u8], pos: &mut usize, n: usize) -> Result<&'b [u8], Error> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or(Error::CorruptBlock(CorruptReason::Truncated))?;
    let out = &bytes[*pos..end];
    *pos = end;
    Ok(out)
}

/// Appends the raw encoding of the values of `values` at `idx` (in that order;
/// the caller guarantees their timestamps are strictly increasing).
pub(crate) fn put_raw<I>(buf: &mut Vec<u8>, ts: &[i64], values: &FieldValues<'_>, idx: I, n: usize)
where
    I: Iterator<Item = usize> + Clone,
{
    buf.push(RAW | type_code(values.field_type()));
    put_varint(buf, n as u64);
    buf.reserve(n * 16);
    for i in idx.clone() {
        buf.extend_from_slice(&ts[i].to_le_bytes());
    }
    match values {
        FieldValues::Float(v) => idx.for_each(|i| buf.extend_from_slice(&v[i].to_le_bytes())),
        FieldValues::Integer(v) => idx.for_each(|i| buf.extend_from_slice(&v[i].to_le_bytes())),
        FieldValues::Unsigned(v) => idx.for_each(|i| buf.extend_from_slice(&v[i].to_le_bytes())),
        FieldValues::Boolean(v) => idx.for_each(|i| buf.push(u8::from(v[i]))),
        FieldValues::String(v) => idx.for_each(|i| {
            put_varint(buf, v[i].len() as u64);
            buf.extend_from_slice(v[i].as_bytes());
        }),
    }
}

/// Raw encoding of a whole block (partial merges).
pub(crate) fn encode_raw(block: &Block) -> Vec<u8> {
    let n = block.len();
    let mut buf = Vec::with_capacity(16 + n * 16);
    buf.push(RAW | type_code(block.values.field_type()));
    put_varint(&mut buf, n as u64);
    for t in &block.timestamps {
        buf.extend_from_slice(&t.to_le_bytes());
    }
    match &block.values {
        Column::Float(v) => v
            .iter()
            .for_each(|x| buf.extend_from_slice(&x.to_le_bytes())),
        Column::Integer(v) => v
            .iter()
            .for_each(|x| buf.extend_from_slice(&x.to_le_bytes())),
        Column::Unsigned(v) => v
            .iter()
            .for_each(|x| buf.extend_from_slice(&x.to_le_bytes())),
        Column::Boolean(v) => v.iter().for_each(|x| buf.push(u8::from(*x))),
        Column::String(v) => v.iter().for_each(|s| {
            put_varint(&mut buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }),
    }
    buf
}

/// A raw block of fixed-width values read in place.
struct RawView<'b> {
    tag: u8,
    ft: FieldType,
    n: usize,
    /// `n` little-endian timestamps.
    ts: &'b [u8],
    /// `n` values of `width` bytes each.
    vals: &'b [u8],
}

impl RawView<'_> {
    fn t(&self, i: usize) -> i64 {
        i64::from_le_bytes(self.ts[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
    }

    /// The index range of the timestamps in `[min, max]`.
    fn range(&self, min: i64, max: i64) -> std::ops::Range<usize> {
        let search = |pred: &dyn Fn(i64) -> bool| {
            let (mut lo, mut hi) = (0, self.n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if pred(self.t(mid)) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        search(&|t| t < min)..search(&|t| t <= max)
    }
}

fn fixed_width(ft: FieldType) -> Option<usize> {
    match ft {
        FieldType::Float | FieldType::Integer | FieldType::Unsigned => Some(8),
        FieldType::Boolean => Some(1),
        FieldType::String => None,
    }
}

/// The parts of a raw block of a fixed-width type; `None` for a packed block,
/// a string block or corrupt bytes (the caller then decodes, which reports
/// corruption).
fn raw_view(bytes: &[u8]) -> Option<RawView<'_>> {
    let (tag, ft, n, mut pos) = header(bytes).ok()?;
    if tag & 0xf0 != RAW {
        return None;
    }
    let width = fixed_width(ft)?;
    let ts = take(bytes, &mut pos, n.checked_mul(8)?).ok()?;
    let vals = take(bytes, &mut pos, n.checked_mul(width)?).ok()?;
    (pos == bytes.len()).then_some(RawView {
        tag,
        ft,
        n,
        ts,
        vals,
    })
}

/// Concatenates raw blocks of one fixed-width type whose time ranges follow
/// each other (`parts` oldest first) into one raw block, without decoding
/// them: a merge of in-order writes, the common case, is then one copy of
/// the bytes instead of decoding every operand, appending and re-encoding.
/// `None` when that does not apply (packed or string blocks, overlapping or
/// out-of-order times, mixed types); the caller then merges by decoding.
pub(crate) fn concat_raw<'b>(parts: impl Iterator<Item = &'b [u8]>) -> Option<Vec<u8>> {
    let mut views: Vec<RawView<'b>> = Vec::new();
    for p in parts {
        let v = raw_view(p)?;
        if v.n == 0 {
            continue;
        }
        if let Some(prev) = views.last() {
            if prev.tag != v.tag || prev.t(prev.n - 1) >= v.t(0) {
                return None;
            }
        }
        views.push(v);
    }
    let first = views.first()?;
    let n: usize = views.iter().map(|v| v.n).sum();
    let body: usize = views.iter().map(|v| v.ts.len() + v.vals.len()).sum();
    let mut out = Vec::with_capacity(11 + body);
    out.push(first.tag);
    put_varint(&mut out, n as u64);
    views.iter().for_each(|v| out.extend_from_slice(v.ts));
    views.iter().for_each(|v| out.extend_from_slice(v.vals));
    Some(out)
}

/// The first and last timestamps of a raw or packed block (`None` if empty).
fn time_bounds(bytes: &[u8]) -> Result<Option<(i64, i64)>, Error> {
    let (tag, ft, n, mut pos) = header(bytes)?;
    if n == 0 {
        return Ok(None);
    }
    let le = |b: &[u8]| i64::from_le_bytes(b.try_into().expect("8 bytes"));
    match tag & 0xf0 {
        RAW => {
            let len8 = n
                .checked_mul(8)
                .ok_or(Error::CorruptBlock(CorruptReason::Count))?;
            let ts = take(bytes, &mut pos, len8)?;
            Ok(Some((le(&ts[..8]), le(&ts[len8 - 8..]))))
        }
        PACKED if bytes.get(pos) == Some(&1) => {
            pos += 1;
            let first = le(take(bytes, &mut pos, 8)?);
            let step = le(take(bytes, &mut pos, 8)?);
            Ok(Some((
                first,
                first.wrapping_add(step.wrapping_mul(n as i64 - 1)),
            )))
        }
        PACKED => {
            let ts = get_timestamps(bytes, &mut pos, n)?;
            Ok(Some((ts[0], ts[n - 1])))
        }
        PACKED_EDGES => {
            let [(first, _), (last, _)] = get_edges(bytes, &mut pos, ft)?;
            Ok(Some((first, last)))
        }
        _ => Err(Error::CorruptBlock(CorruptReason::Encoding)),
    }
}

/// `older` then `newer` as one chain block, when every time of `newer`
/// follows those of `older` (`None` otherwise, or for other types). A read
/// of a stored packed block with newer writes on top (a hot window after a
/// compaction) then copies both as they are: `last()` reads one value of
/// the raw part, and a scan decodes each part once, where a merge would
/// unpack the older block and re-encode the whole.
pub(crate) fn chain(older: &[u8], newer: &[u8]) -> Option<Vec<u8>> {
    let (to, tn) = (*older.first()?, *newer.first()?);
    if to & 0x0f != tn & 0x0f || to & 0xf0 == CHAIN || tn & 0xf0 == CHAIN {
        return None;
    }
    let ((_, older_last), (newer_first, _)) =
        (time_bounds(older).ok()??, time_bounds(newer).ok()??);
    if older_last >= newer_first {
        return None;
    }
    let mut out = Vec::with_capacity(11 + older.len() + newer.len());
    out.push(CHAIN | (to & 0x0f));
    put_varint(&mut out, older.len() as u64);
    out.extend_from_slice(older);
    out.extend_from_slice(newer);
    Some(out)
}

/// The older and newer parts of a chain block.
type ChainParts<'b> = (&'b [u8], &'b [u8]);

/// The parts of a chain block; `None` for other encodings.
fn chain_parts(bytes: &[u8]) -> Result<Option<ChainParts<'_>>, Error> {
    let tag = *bytes
        .first()
        .ok_or(Error::CorruptBlock(CorruptReason::Truncated))?;
    if tag & 0xf0 != CHAIN {
        return Ok(None);
    }
    let mut pos = 1;
    let len = get_varint(bytes, &mut pos)? as usize;
    let older = take(bytes, &mut pos, len)?;
    let newer = &bytes[pos..];
    for part in [older, newer] {
        // One level only, one type: a corrupt chain cannot recurse or mix.
        match part.first() {
            Some(t) if t & 0x0f == tag & 0x0f && t & 0xf0 != CHAIN => {}
            _ => return Err(Error::CorruptBlock(CorruptReason::Encoding)),
        }
    }
    Ok(Some((older, newer)))
}

/// The oldest (or, when `newest`, the newest) value of a block with a
/// timestamp in `[min, max]`, read in place from a raw block of a
/// fixed-width type: `first()` and `last()` need one value of the block, and
/// decoding all of it was most of their cost.
pub(crate) fn edge(
    bytes: &[u8],
    min: i64,
    max: i64,
    newest: bool,
) -> Result<Option<(i64, Value)>, Error> {
    if let Some((older, newer)) = chain_parts(bytes)? {
        let (near, far) = if newest {
            (newer, older)
        } else {
            (older, newer)
        };
        return match edge(near, min, max, newest)? {
            Some(v) => Ok(Some(v)),
            None => edge(far, min, max, newest),
        };
    }
    if let Some(v) = raw_view(bytes) {
        let r = v.range(min, max);
        if r.is_empty() {
            return Ok(None);
        }
        let i = if newest { r.end - 1 } else { r.start };
        let mut pos = i * fixed_width(v.ft).expect("checked by raw_view");
        let value = get_value(v.vals, &mut pos, v.ft)?;
        return Ok(Some((v.t(i), value)));
    }
    let (tag, ft, _, mut pos) = header(bytes)?;
    if tag & 0xf0 == PACKED_EDGES {
        let [first, last] = get_edges(bytes, &mut pos, ft)?;
        if max < first.0 || min > last.0 {
            return Ok(None);
        }
        let e = if newest { last } else { first };
        if (min..=max).contains(&e.0) {
            return Ok(Some(e));
        }
    }
    let mut b = decode(bytes)?;
    b.retain_range(min, max);
    let i = match (b.len(), newest) {
        (0, _) => return Ok(None),
        (n, true) => n - 1,
        (_, false) => 0,
    };
    Ok(Some((b.timestamps[i], b.values.value(i))))
}

fn pco_cfg() -> pco::ChunkConfig {
    pco::ChunkConfig::default().with_compression_level(PCO_LEVEL)
}

fn pco_compress<T: pco::data_types::Number>(nums: &[T]) -> Result<Vec<u8>, Error> {
    pco::standalone::simple_compress(nums, &pco_cfg()).map_err(Error::Compress)
}

fn pco_decompress<T: pco::data_types::Number>(bytes: &[u8], n: usize) -> Result<Vec<T>, Error> {
    let out: Vec<T> = pco::standalone::simple_decompress(bytes)
        .map_err(|_| Error::CorruptBlock(CorruptReason::Pco))?;
    if out.len() != n {
        return Err(Error::CorruptBlock(CorruptReason::Count));
    }
    Ok(out)
}

/// Packed (compressed) encoding of a block.
pub(crate) fn encode_packed(block: &Block) -> Result<Vec<u8>, Error> {
    let n = block.len();
    let mut buf = Vec::with_capacity(32 + n);
    let edges = n >= EDGES_MIN;
    let encoding = if edges { PACKED_EDGES } else { PACKED };
    buf.push(encoding | type_code(block.values.field_type()));
    put_varint(&mut buf, n as u64);
    if edges {
        for i in [0, n - 1] {
            buf.extend_from_slice(&block.timestamps[i].to_le_bytes());
            put_value(&mut buf, &block.values, i);
        }
    }
    put_timestamps(&mut buf, &block.timestamps)?;
    match &block.values {
        Column::Float(v) => buf.extend_from_slice(&pco_compress(v)?),
        Column::Integer(v) => buf.extend_from_slice(&pco_compress(v)?),
        Column::Unsigned(v) => buf.extend_from_slice(&pco_compress(v)?),
        Column::Boolean(v) => {
            let mut bits = vec![0u8; n.div_ceil(8)];
            for (i, _) in v.iter().enumerate().filter(|(_, b)| **b) {
                bits[i / 8] |= 1 << (i % 8);
            }
            buf.extend_from_slice(&bits);
        }
        Column::String(v) => encode_strings(&mut buf, v)?,
    }
    Ok(buf)
}

fn encode_strings(buf: &mut Vec<u8>, v: &[String]) -> Result<(), Error> {
    // Dictionary in first-seen order: deterministic for equal input.
    let mut dict: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut idx = Vec::with_capacity(v.len());
    for s in v {
        let next = order.len() as u32;
        let id = *dict.entry(s.as_str()).or_insert_with(|| {
            order.push(s.as_str());
            next
        });
        idx.push(id);
    }
    if order.len() * DICT_MAX_SHARE <= v.len() {
        buf.push(1);
        put_varint(buf, order.len() as u64);
        for s in &order {
            put_varint(buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
        }
        buf.extend_from_slice(&pco_compress(&idx)?);
    } else {
        buf.push(0);
        let lens: Vec<u32> = v.iter().map(|s| s.len() as u32).collect();
        let lens = pco_compress(&lens)?;
        put_varint(buf, lens.len() as u64);
        buf.extend_from_slice(&lens);
        for s in v {
            buf.extend_from_slice(s.as_bytes());
        }
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::CorruptBlock(CorruptReason::Utf8))
}

fn decode_strings(bytes: &[u8], n: usize) -> Result<Vec<String>, Error> {
    let mut pos = 0;
    let mode = take(bytes, &mut pos, 1)?[0];
    if mode == 1 {
        let dn = get_varint(bytes, &mut pos)? as usize;
        let mut dict = Vec::with_capacity(dn.min(n));
        for _ in 0..dn {
            let len = get_varint(bytes, &mut pos)? as usize;
            dict.push(utf8(take(bytes, &mut pos, len)?)?);
        }
        let idx: Vec<u32> = pco_decompress(&bytes[pos..], n)?;
        idx.into_iter()
            .map(|i| {
                dict.get(i as usize)
                    .cloned()
                    .ok_or(Error::CorruptBlock(CorruptReason::Dictionary))
            })
            .collect()
    } else {
        let ll = get_varint(bytes, &mut pos)? as usize;
        let lens: Vec<u32> = pco_decompress(take(bytes, &mut pos, ll)?, n)?;
        lens.into_iter()
            .map(|len| utf8(take(bytes, &mut pos, len as usize)?))
            .collect()
    }
}

/// Timestamps of a packed block. A regular series (every TSBS series, most
/// monitoring data) is an arithmetic sequence: stored as `1 | first | step`
/// (16 bytes, decoded by a trivial loop, which doubles scan speed compared
/// with running pco over them); anything else as `0 | varint len | pco`.
fn put_timestamps(buf: &mut Vec<u8>, ts: &[i64]) -> Result<(), Error> {
    let step = match ts {
        [] | [_] => Some(0),
        [a, b, ..] => b.checked_sub(*a),
    };
    let regular = step.filter(|&step| ts.windows(2).all(|w| w[1].checked_sub(w[0]) == Some(step)));
    match regular {
        Some(step) => {
            buf.push(1);
            buf.extend_from_slice(&ts.first().copied().unwrap_or(0).to_le_bytes());
            buf.extend_from_slice(&step.to_le_bytes());
        }
        None => {
            buf.push(0);
            let packed = pco_compress(ts)?;
            put_varint(buf, packed.len() as u64);
            buf.extend_from_slice(&packed);
        }
    }
    Ok(())
}

/// The `n` timestamps of a packed block. A regular sequence holds no
/// count of its own, so `n` must have been checked against the block's
/// values first (a corrupt count must not allocate without bound, and
/// values compress too well for the block's size to bound it: 2000
/// consecutive integers at a fixed step pack into under 100 bytes).
fn get_timestamps(bytes: &[u8], pos: &mut usize, n: usize) -> Result<Vec<i64>, Error> {
    match take(bytes, pos, 1)?[0] {
        1 => {
            let le = |b: &[u8]| i64::from_le_bytes(b.try_into().expect("8 bytes"));
            let first = le(take(bytes, pos, 8)?);
            let step = le(take(bytes, pos, 8)?);
            Ok((0..n as i64)
                .map(|i| first.wrapping_add(step.wrapping_mul(i)))
                .collect())
        }
        0 => {
            let tl = get_varint(bytes, pos)? as usize;
            pco_decompress(take(bytes, pos, tl)?, n)
        }
        _ => Err(Error::CorruptBlock(CorruptReason::Encoding)),
    }
}

/// Decodes a block in any encoding.
pub(crate) fn decode(bytes: &[u8]) -> Result<Block, Error> {
    if let Some((older, newer)) = chain_parts(bytes)? {
        let mut b = decode(older)?;
        b.append(&decode(newer)?);
        return Ok(b);
    }
    let (tag, ft, n, mut pos) = header(bytes)?;
    match tag & 0xf0 {
        RAW => decode_raw(bytes, pos, ft, n),
        PACKED => decode_packed(bytes, pos, ft, n),
        PACKED_EDGES => {
            get_edges(bytes, &mut pos, ft)?;
            decode_packed(bytes, pos, ft, n)
        }
        _ => Err(Error::CorruptBlock(CorruptReason::Encoding)),
    }
}

/// The encoding byte, type, value count and where the body starts.
fn header(bytes: &[u8]) -> Result<(u8, FieldType, usize, usize), Error> {
    let mut pos = 0;
    let tag = take(bytes, &mut pos, 1)?[0];
    let ft = type_from_code(tag & 0x0f).ok_or(Error::CorruptBlock(CorruptReason::Type))?;
    let n = get_varint(bytes, &mut pos)? as usize;
    Ok((tag, ft, n, pos))
}

/// Whether `bytes` is a packed block (what compactions store).
pub(crate) fn is_packed(bytes: &[u8]) -> bool {
    matches!(bytes.first().map(|t| t & 0xf0), Some(PACKED | PACKED_EDGES))
}

/// Appends the value at `i` uncompressed (the edges of a packed block).
fn put_value(buf: &mut Vec<u8>, values: &Column, i: usize) {
    match values {
        Column::Float(v) => buf.extend_from_slice(&v[i].to_le_bytes()),
        Column::Integer(v) => buf.extend_from_slice(&v[i].to_le_bytes()),
        Column::Unsigned(v) => buf.extend_from_slice(&v[i].to_le_bytes()),
        Column::Boolean(v) => buf.push(u8::from(v[i])),
        Column::String(v) => {
            put_varint(buf, v[i].len() as u64);
            buf.extend_from_slice(v[i].as_bytes());
        }
    }
}

fn get_value(bytes: &[u8], pos: &mut usize, ft: FieldType) -> Result<Value, Error> {
    let mut word =
        || -> Result<[u8; 8], Error> { Ok(take(bytes, pos, 8)?.try_into().expect("8 bytes")) };
    Ok(match ft {
        FieldType::Float => Value::Float(f64::from_le_bytes(word()?)),
        FieldType::Integer => Value::Integer(i64::from_le_bytes(word()?)),
        FieldType::Unsigned => Value::Unsigned(u64::from_le_bytes(word()?)),
        FieldType::Boolean => Value::Boolean(take(bytes, pos, 1)?[0] != 0),
        FieldType::String => {
            let len = get_varint(bytes, pos)? as usize;
            Value::String(utf8(take(bytes, pos, len)?)?)
        }
    })
}

/// The first and last (time, value) of a packed block with edges.
fn get_edges(bytes: &[u8], pos: &mut usize, ft: FieldType) -> Result<[(i64, Value); 2], Error> {
    let mut one = || -> Result<(i64, Value), Error> {
        let t = i64::from_le_bytes(take(bytes, pos, 8)?.try_into().expect("8 bytes"));
        Ok((t, get_value(bytes, pos, ft)?))
    };
    Ok([one()?, one()?])
}

fn decode_raw(bytes: &[u8], mut pos: usize, ft: FieldType, n: usize) -> Result<Block, Error> {
    let len8 = n
        .checked_mul(8)
        .ok_or(Error::CorruptBlock(CorruptReason::Count))?;
    let tsb = take(bytes, &mut pos, len8)?;
    let le = |c: &[u8]| <[u8; 8]>::try_from(c).expect("chunks of 8");
    let timestamps = tsb
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(le(c)))
        .collect();
    let values = match ft {
        FieldType::Float => Column::Float(
            take(bytes, &mut pos, len8)?
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(le(c)))
                .collect(),
        ),
        FieldType::Integer => Column::Integer(
            take(bytes, &mut pos, len8)?
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(le(c)))
                .collect(),
        ),
        FieldType::Unsigned => Column::Unsigned(
            take(bytes, &mut pos, len8)?
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(le(c)))
                .collect(),
        ),
        FieldType::Boolean => {
            Column::Boolean(take(bytes, &mut pos, n)?.iter().map(|b| *b != 0).collect())
        }
        FieldType::String => {
            let mut v = Vec::with_capacity(n.min(bytes.len()));
            for _ in 0..n {
                let len = get_varint(bytes, &mut pos)? as usize;
                v.push(utf8(take(bytes, &mut pos, len)?)?);
            }
            Column::String(v)
        }
    };
    if pos != bytes.len() {
        return Err(Error::CorruptBlock(CorruptReason::TrailingBytes));
    }
    Ok(Block { timestamps, values })
}

/// Moves `pos` past a packed block's timestamps.
fn skip_timestamps(bytes: &[u8], pos: &mut usize) -> Result<(), Error> {
    match take(bytes, pos, 1)?[0] {
        1 => take(bytes, pos, 16).map(drop),
        0 => {
            let tl = get_varint(bytes, pos)? as usize;
            take(bytes, pos, tl).map(drop)
        }
        _ => Err(Error::CorruptBlock(CorruptReason::Encoding)),
    }
}

fn decode_packed(bytes: &[u8], mut pos: usize, ft: FieldType, n: usize) -> Result<Block, Error> {
    // Values first: their decoding checks `n` against the data.
    let mut ts_pos = pos;
    skip_timestamps(bytes, &mut pos)?;
    let rest = &bytes[pos..];
    let values = match ft {
        FieldType::Float => Column::Float(pco_decompress(rest, n)?),
        FieldType::Integer => Column::Integer(pco_decompress(rest, n)?),
        FieldType::Unsigned => Column::Unsigned(pco_decompress(rest, n)?),
        FieldType::Boolean => {
            if rest.len() != n.div_ceil(8) {
                return Err(Error::CorruptBlock(CorruptReason::Count));
            }
            Column::Boolean((0..n).map(|i| rest[i / 8] & (1 << (i % 8)) != 0).collect())
        }
        FieldType::String => Column::String(decode_strings(rest, n)?),
    };
    let timestamps = get_timestamps(bytes, &mut ts_pos, n)?;
    Ok(Block { timestamps, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Regular timestamps and values that compress to almost nothing (a
    /// counter): the packed block is far smaller than its count, which an
    /// earlier size-based sanity check took for corruption, so such blocks
    /// could be written (by compaction) and not read back.
    #[test]
    fn a_tiny_packed_block_of_many_values_decodes() {
        for n in [8usize, 100, 2000, 100_000] {
            let ts: Vec<i64> = (0..n as i64)
                .map(|i| 1_796_425_000_000_000_000 + i * 1000)
                .collect();
            let b = Block {
                timestamps: ts,
                values: Column::Integer((0..n as i64).collect()),
            };
            let packed = encode_packed(&b).unwrap();
            assert!(
                packed.len() < n.max(200),
                "{n} values in {} bytes",
                packed.len()
            );
            assert_eq!(decode(&packed).unwrap(), b, "{n} values");
        }
        // A corrupt count is still refused without allocating it.
        let mut packed = encode_packed(&Block {
            timestamps: vec![1, 2, 3],
            values: Column::Integer(vec![1, 2, 3]),
        })
        .unwrap();
        packed[1] = 0x7f;
        assert!(matches!(decode(&packed), Err(Error::CorruptBlock(_))));
    }

    fn block(ts: Vec<i64>, values: Column) -> Block {
        Block {
            timestamps: ts,
            values,
        }
    }

    fn roundtrip(b: &Block) {
        let packed = encode_packed(b).unwrap();
        assert_eq!(format!("{:?}", decode(&packed).unwrap()), format!("{b:?}"));
        let raw = encode_raw(b);
        assert_eq!(format!("{:?}", decode(&raw).unwrap()), format!("{b:?}"));
    }

    #[test]
    fn every_type_round_trips_in_both_encodings() {
        let ts = vec![-5, 0, 10, 20, 1 << 40];
        roundtrip(&block(
            ts.clone(),
            Column::Float(vec![1.5, f64::NAN, -0.0, f64::INFINITY, 3.0]),
        ));
        roundtrip(&block(
            ts.clone(),
            Column::Integer(vec![i64::MIN, -1, 0, 1, i64::MAX]),
        ));
        roundtrip(&block(
            ts.clone(),
            Column::Unsigned(vec![0, 1, 2, 3, u64::MAX]),
        ));
        roundtrip(&block(
            ts.clone(),
            Column::Boolean(vec![true, false, true, true, false]),
        ));
        // Few distinct strings: dictionary mode.
        let s = |v: &[&str]| Column::String(v.iter().map(|x| x.to_string()).collect());
        roundtrip(&block(ts.clone(), s(&["a", "a", "b", "a", "b"])));
        // All distinct: plain mode.
        roundtrip(&block(ts.clone(), s(&["", "é", "bc", "d\0e", "xyz"])));
        roundtrip(&block(vec![], Column::Integer(vec![])));
        roundtrip(&block(vec![7], Column::Integer(vec![1])));
        // Regular and irregular timestamps, and steps that overflow.
        roundtrip(&block(
            vec![0, 10, 20, 30],
            Column::Integer(vec![1, 2, 3, 4]),
        ));
        roundtrip(&block(
            vec![0, 10, 21, 30],
            Column::Integer(vec![1, 2, 3, 4]),
        ));
        roundtrip(&block(
            vec![i64::MIN, 0, i64::MAX],
            Column::Integer(vec![1, 2, 3]),
        ));
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let b = block(vec![1, 2, 3], Column::Integer(vec![4, 5, 6]));
        for enc in [encode_packed(&b).unwrap(), encode_raw(&b)] {
            for cut in 0..enc.len() {
                assert!(decode(&enc[..cut]).is_err(), "cut at {cut}");
                assert!(edge(&enc[..cut], 0, 9, true).is_err(), "cut at {cut}");
            }
        }
        // A packed block with edge values: edge() reads only those, so only
        // a decode must see every cut.
        let long = block((0..100).collect(), Column::Integer((0..100).collect()));
        let enc = encode_packed(&long).unwrap();
        assert_eq!(enc[0] & 0xf0, PACKED_EDGES);
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
        let newer = encode_raw(&block(vec![7], Column::Integer(vec![7])));
        let c = chain(&encode_packed(&b).unwrap(), &newer).unwrap();
        for cut in 0..c.len() {
            assert!(decode(&c[..cut]).is_err(), "chain cut at {cut}");
            assert!(edge(&c[..cut], 0, 9, true).is_err(), "chain cut at {cut}");
        }
        // Not in time order, or of two types: no chain.
        assert!(chain(&newer, &encode_raw(&b)).is_none());
        let floats = encode_raw(&block(vec![9], Column::Float(vec![1.0])));
        assert!(chain(&encode_raw(&b), &floats).is_none());
        assert!(decode(&[0x0f, 0]).is_err());
        assert!(decode(&[0x21, 0]).is_err());
    }

    #[test]
    fn merge_later_wins_and_stays_sorted() {
        let older = block(vec![1, 3, 5], Column::Integer(vec![10, 30, 50]));
        let newer = block(vec![0, 3, 6], Column::Integer(vec![0, 33, 60]));
        let m = merge_blocks(older, newer);
        assert_eq!(m.timestamps, vec![0, 1, 3, 5, 6]);
        assert_eq!(m.values, Column::Integer(vec![0, 10, 33, 50, 60]));
        // Append fast path.
        let m = merge_blocks(m, block(vec![7, 8], Column::Integer(vec![70, 80])));
        assert_eq!(m.timestamps, vec![0, 1, 3, 5, 6, 7, 8]);
        // A type change replaces (never produced by the engine; deterministic).
        let m = merge_blocks(m, block(vec![9], Column::Boolean(vec![true])));
        assert_eq!(m.timestamps, vec![9]);
    }

    #[test]
    fn ranges_trim_and_remove() {
        let mut b = block(vec![1, 2, 3, 4, 5], Column::Integer(vec![1, 2, 3, 4, 5]));
        b.remove_range(2, 3);
        assert_eq!(b.timestamps, vec![1, 4, 5]);
        assert_eq!(b.values, Column::Integer(vec![1, 4, 5]));
        b.retain_range(4, 100);
        assert_eq!(b.timestamps, vec![4, 5]);
        assert_eq!(b.values, Column::Integer(vec![4, 5]));
    }

    #[test]
    fn in_order_raw_blocks_join_as_bytes_and_nothing_else_does() {
        let ints = |ts: &[i64]| {
            block(
                ts.to_vec(),
                Column::Integer(ts.iter().map(|t| t * 10).collect()),
            )
        };
        let parts = [ints(&[1, 2]), ints(&[]), ints(&[5]), ints(&[7, 9])];
        let raw: Vec<Vec<u8>> = parts.iter().map(encode_raw).collect();
        let joined = concat_raw(raw.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(joined, encode_raw(&ints(&[1, 2, 5, 7, 9])));
        // Overlapping or out-of-order times need the merge rule.
        let over = [encode_raw(&ints(&[1, 5])), encode_raw(&ints(&[5, 6]))];
        assert!(concat_raw(over.iter().map(Vec::as_slice)).is_none());
        // Packed, strings and mixed types are decoded.
        let packed = [encode_packed(&ints(&[1])).unwrap(), encode_raw(&ints(&[2]))];
        assert!(concat_raw(packed.iter().map(Vec::as_slice)).is_none());
        let s = block(vec![1], Column::String(vec!["a".into()]));
        assert!(concat_raw([encode_raw(&s)].iter().map(Vec::as_slice)).is_none());
        let b = block(vec![3], Column::Boolean(vec![true]));
        let mixed = [encode_raw(&ints(&[1])), encode_raw(&b)];
        assert!(concat_raw(mixed.iter().map(Vec::as_slice)).is_none());
        assert!(concat_raw(std::iter::empty()).is_none());
    }

    fn model_merge(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let mut m = std::collections::BTreeMap::new();
        m.extend(a.iter().copied());
        m.extend(b.iter().copied());
        m.into_iter().collect()
    }

    proptest! {
        #[test]
        fn merge_matches_a_map(
            a in proptest::collection::btree_map(-50i64..50, any::<i64>(), 0..40),
            b in proptest::collection::btree_map(-50i64..50, any::<i64>(), 0..40),
        ) {
            let a: Vec<(i64, i64)> = a.into_iter().collect();
            let b: Vec<(i64, i64)> = b.into_iter().collect();
            let ba = block(a.iter().map(|x| x.0).collect(), Column::Integer(a.iter().map(|x| x.1).collect()));
            let bb = block(b.iter().map(|x| x.0).collect(), Column::Integer(b.iter().map(|x| x.1).collect()));
            let m = merge_blocks(ba, bb);
            let want = model_merge(&a, &b);
            prop_assert_eq!(m.timestamps, want.iter().map(|x| x.0).collect::<Vec<_>>());
            prop_assert_eq!(m.values, Column::Integer(want.iter().map(|x| x.1).collect()));
        }

        #[test]
        fn edge_reads_the_value_a_decode_would(
            ts in proptest::collection::btree_set(-150i64..150, 0..100),
            kind in 0..3u8,
            min in -160i64..160,
            len in 0i64..320,
            newest: bool,
        ) {
            let ts: Vec<i64> = ts.into_iter().collect();
            let values = match kind {
                0 => Column::Float(ts.iter().map(|t| *t as f64 / 3.0).collect()),
                1 => Column::Boolean(ts.iter().map(|t| t % 3 == 0).collect()),
                _ => Column::String(ts.iter().map(|t| t.to_string()).collect()),
            };
            let b = block(ts, values);
            let max = min + len;
            let mut want = b.clone();
            want.retain_range(min, max);
            let want = match (want.len(), newest) {
                (0, _) => None,
                (n, true) => Some((want.timestamps[n - 1], want.values.value(n - 1))),
                (_, false) => Some((want.timestamps[0], want.values.value(0))),
            };
            let mut encodings = vec![encode_raw(&b), encode_packed(&b).unwrap()];
            if b.len() >= 2 {
                // A chain of the older half packed and the newer half raw.
                let (mut older, mut newer) = (b.clone(), b.clone());
                let cut = b.timestamps[b.len() / 2];
                older.retain_range(i64::MIN, cut - 1);
                newer.retain_range(cut, i64::MAX);
                let c = chain(&encode_packed(&older).unwrap(), &encode_raw(&newer)).unwrap();
                prop_assert_eq!(decode(&c).unwrap(), b.clone());
                encodings.push(c);
            }
            for enc in encodings {
                prop_assert_eq!(edge(&enc, min, max, newest).unwrap(), want.clone());
            }
        }

        #[test]
        fn packed_round_trips_any_floats(v in proptest::collection::vec(any::<f64>(), 0..300)) {
            let b = block((0..v.len() as i64).map(|i| i * 7 - 100).collect(), Column::Float(v));
            let d = decode(&encode_packed(&b).unwrap()).unwrap();
            prop_assert_eq!(format!("{d:?}"), format!("{b:?}"));
        }

        #[test]
        fn packed_round_trips_any_strings(v in proptest::collection::vec("[ab]{0,2}|.{0,8}", 0..100)) {
            let b = block((0..v.len() as i64).collect(), Column::String(v));
            let d = decode(&encode_packed(&b).unwrap()).unwrap();
            prop_assert_eq!(d, b);
        }
    }
}

//! Key encodings of the three column families, within a shard: every key
//! is stored after the shard's 8-byte prefix (`crate::shard`).
//!
//! - `data`: `series id (u64 BE) | field id (u32 BE) | window (i64, sign bit
//!   flipped, BE)` = 20 bytes. Big-endian with the sign flipped makes byte
//!   order equal numeric order, so all windows of a (series, field) are one
//!   contiguous, time-ordered key range and all data of a series one prefix.
//! - `index`: one tag byte, then order-preserving strings (see [`put_str`]):
//!   - `k` series key → series id (u64 BE); sorted by series key.
//!   - `m` measurement, series id → ∅ (measurement → series).
//!   - `t` measurement, tag key, tag value, series id → ∅.
//!   - `f` measurement, field name → type code, field id (u32 BE).
//! - `default`: meta values (applied offset, id counters, window size, the
//!   offset of the last full compaction, the incarnation).

pub(crate) const SERIES: u8 = b'k';
pub(crate) const MEASUREMENT: u8 = b'm';
pub(crate) const TAG: u8 = b't';
pub(crate) const FIELD: u8 = b'f';

pub(crate) const META_OFFSET: &[u8] = b"applied_offset";
pub(crate) const META_NEXT_SERIES: &[u8] = b"next_series_id";
pub(crate) const META_NEXT_FIELD: &[u8] = b"next_field_id";
pub(crate) const META_WINDOW: &[u8] = b"window_ns";
pub(crate) const META_COMPACTED_AT: &[u8] = b"compacted_at";
/// Which history of its log the shard's contents follow: drawn when the
/// shard is created and again when it forgets its offset (its log starts
/// over); kept by a snapshot's copies. Two shards with the same
/// incarnation and applied offset hold the same contents, which is what
/// lets a backup keep a file instead of fetching it again.
pub(crate) const META_INCARNATION: &[u8] = b"incarnation";
/// An operator's resume offset, kept until a record at or after it is
/// applied (the consumer's business; stored here so it lives and dies with
/// the shard).
pub(crate) const META_RESUME_FROM: &[u8] = b"resume_from";

pub(crate) const DATA_KEY_LEN: usize = 20;

fn flip(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

/// The data key of a window of a field of a series.
pub(crate) fn data_key(series: u64, field: u32, window: i64) -> [u8; DATA_KEY_LEN] {
    let mut k = [0u8; DATA_KEY_LEN];
    k[..8].copy_from_slice(&series.to_be_bytes());
    k[8..12].copy_from_slice(&field.to_be_bytes());
    k[12..].copy_from_slice(&flip(window).to_be_bytes());
    k
}

/// Splits a data key into (series id, field id, window).
pub(crate) fn data_key_parts(key: &[u8]) -> Option<(u64, u32, i64)> {
    if key.len() != DATA_KEY_LEN {
        return None;
    }
    let s = u64::from_be_bytes(key[..8].try_into().ok()?);
    let f = u32::from_be_bytes(key[8..12].try_into().ok()?);
    let w = (u64::from_be_bytes(key[12..].try_into().ok()?) ^ (1 << 63)) as i64;
    Some((s, f, w))
}

/// Appends `s` so that byte order of the encodings is the order of the
/// strings and no encoding is a prefix of another: `0x00` is escaped as
/// `0x00 0xff` and the string ends with `0x00 0x01`.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        buf.push(b);
        if b == 0 {
            buf.push(0xff);
        }
    }
    buf.extend_from_slice(&[0, 1]);
}

/// Reads a [`put_str`] string from `bytes[*pos..]`.
pub(crate) fn get_str(bytes: &[u8], pos: &mut usize) -> Option<String> {
    let mut out = Vec::new();
    let mut i = *pos;
    loop {
        let b = *bytes.get(i)?;
        if b == 0 {
            match *bytes.get(i + 1)? {
                0xff => out.push(0),
                1 => {
                    *pos = i + 2;
                    return String::from_utf8(out).ok();
                }
                _ => return None,
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
}

/// The smallest key after every key that starts with `prefix` where
/// `prefix` ends with a [`put_str`] terminator (`0x00 0x01`): used to skip
/// from one distinct string to the next in an index scan.
pub(crate) fn skip_past(prefix: &[u8]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    let last = k.last_mut().expect("ends with a terminator");
    *last = 2;
    k
}

/// The smallest key after every key starting with `prefix` (`None`: no
/// such key, the prefix is all `0xff`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut k = prefix.to_vec();
    while let Some(last) = k.pop() {
        if last < 0xff {
            k.push(last + 1);
            return Some(k);
        }
    }
    None
}

pub(crate) fn measurement_prefix(kind: u8, measurement: &str) -> Vec<u8> {
    let mut k = vec![kind];
    put_str(&mut k, measurement);
    k
}

pub(crate) fn series_index_key(series_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + series_key.len());
    k.push(SERIES);
    k.extend_from_slice(series_key.as_bytes());
    k
}

pub(crate) fn measurement_series_key(measurement: &str, series: u64) -> Vec<u8> {
    let mut k = measurement_prefix(MEASUREMENT, measurement);
    k.extend_from_slice(&series.to_be_bytes());
    k
}

pub(crate) fn tag_key(measurement: &str, key: &str, value: &str, series: u64) -> Vec<u8> {
    let mut k = measurement_prefix(TAG, measurement);
    put_str(&mut k, key);
    put_str(&mut k, value);
    k.extend_from_slice(&series.to_be_bytes());
    k
}

pub(crate) fn field_key(measurement: &str, field: &str) -> Vec<u8> {
    let mut k = measurement_prefix(FIELD, measurement);
    k.extend_from_slice(field.as_bytes());
    k
}

/// A new incarnation (see [`META_INCARNATION`]): unique enough without a
/// random-number dependency, as std's hasher keys are random per process
/// and per call.
pub(crate) fn new_incarnation(shard: u64) -> u64 {
    use std::hash::BuildHasher as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one((now, shard, std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn data_keys_sort_by_series_field_window() {
        let keys = [
            data_key(1, 0, i64::MIN),
            data_key(1, 0, -1),
            data_key(1, 0, 0),
            data_key(1, 0, 5),
            data_key(1, 1, -100),
            data_key(2, 0, i64::MIN),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(data_key_parts(&keys[1]), Some((1, 0, -1)));
        assert_eq!(data_key_parts(&keys[4]), Some((1, 1, -100)));
    }

    #[test]
    fn prefix_end_handles_ff() {
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
    }

    proptest! {
        #[test]
        fn ordered_strings_keep_order_and_round_trip(a in "\\PC{0,6}|[\\x00a]{0,4}", b in "\\PC{0,6}|[\\x00a]{0,4}", sa in any::<u64>(), sb in any::<u64>()) {
            let mut ka = Vec::new();
            put_str(&mut ka, &a);
            ka.extend_from_slice(&sa.to_be_bytes());
            let mut kb = Vec::new();
            put_str(&mut kb, &b);
            kb.extend_from_slice(&sb.to_be_bytes());
            prop_assert_eq!(a.cmp(&b).then(sa.cmp(&sb)), ka.cmp(&kb));
            let mut pos = 0;
            prop_assert_eq!(get_str(&ka, &mut pos), Some(a.clone()));
            // skip_past(prefix with a) is above every key under it and below
            // every key of a larger string.
            let mut pa = Vec::new();
            put_str(&mut pa, &a);
            let skip = skip_past(&pa);
            prop_assert!(ka < skip);
            if b > a {
                prop_assert!(kb >= skip);
            }
        }
    }
}

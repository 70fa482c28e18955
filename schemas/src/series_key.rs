//! The series key and the routing function every part agrees on.
//!
//! A series key is InfluxDB 1.x's canonical form: the measurement, then the
//! tags sorted by key, each part escaped (`cpu,host=a\ b,region=eu`). A point's
//! shard within its group is `fnv1a_64(series_key) % shard_count`. Ingest,
//! every replica and every tool call [`shard_index`] so they can never
//! disagree about where a series lives.

use std::hash::Hasher;

use fnv::FnvHasher;

/// FNV-1a, 64 bit, over the bytes as given.
///
/// Note: `str`'s `Hash` impl appends a `0xff` terminator, so hashing through
/// `Hash::hash` would give a different number; we feed the bytes directly.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut hasher = FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// The shard index of a series within a group of `shard_count` shards.
///
/// # Panics
/// If `shard_count` is 0: a shard group always has at least one shard.
pub fn shard_index(series_key: &str, shard_count: u32) -> u32 {
    assert!(shard_count > 0, "a shard group has at least one shard");
    (fnv1a_64(series_key.as_bytes()) % u64::from(shard_count)) as u32
}

/// A tag as the parts of Sluice hold it: a `(key, value)` pair of the line
/// protocol parser or a record's [`Tag`](crate::Tag).
pub trait TagPair {
    /// The unescaped key.
    fn key(&self) -> &str;
    /// The unescaped value.
    fn value(&self) -> &str;
}

impl<K: AsRef<str>, V: AsRef<str>> TagPair for (K, V) {
    fn key(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &str {
        self.1.as_ref()
    }
}

impl TagPair for crate::Tag<'_> {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> &str {
        &self.value
    }
}

/// Appends the canonical series key of `measurement` and `tags` to `buf`.
///
/// `tags` must be sorted by key (the line protocol parser and the Avro records
/// keep them sorted); the key is built in the order given. Reusing `buf`
/// across points keeps the hot path free of allocations.
pub fn write_series_key<T: TagPair>(buf: &mut String, measurement: &str, tags: &[T]) {
    escape_into(buf, measurement, MEASUREMENT_SPECIALS);
    for tag in tags {
        buf.push(',');
        escape_into(buf, tag.key(), TAG_SPECIALS);
        buf.push('=');
        escape_into(buf, tag.value(), TAG_SPECIALS);
    }
}

/// The canonical series key of `measurement` and `tags` (sorted by key).
pub fn series_key<T: TagPair>(measurement: &str, tags: &[T]) -> String {
    let mut buf = String::with_capacity(measurement.len() + tags.len() * 16);
    write_series_key(&mut buf, measurement, tags);
    buf
}

/// InfluxDB escapes commas and spaces in measurement names...
const MEASUREMENT_SPECIALS: &[u8] = b", ";
/// ...and commas, spaces and equal signs in tag keys and values.
const TAG_SPECIALS: &[u8] = b", =";

fn escape_into(buf: &mut String, s: &str, specials: &[u8]) {
    if !s.bytes().any(|b| specials.contains(&b)) {
        buf.push_str(s);
        return;
    }
    for c in s.chars() {
        if c.is_ascii() && specials.contains(&(c as u8)) {
            buf.push('\\');
        }
        buf.push(c);
    }
}

/// Splits a canonical series key back into its unescaped measurement and tags.
///
/// The inverse of [`series_key`] for keys it produced; used by tools that only
/// have the key (e.g. a series index). Returns `None` for a malformed key.
pub fn parse_series_key(key: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut parts = split_unescaped(key, b',').into_iter();
    let measurement = unescape(parts.next()?);
    let mut tags = Vec::new();
    for part in parts {
        let mut kv = split_unescaped(part, b'=').into_iter();
        let (k, v) = (kv.next()?, kv.next()?);
        if kv.next().is_some() {
            return None;
        }
        tags.push((unescape(k), unescape(v)));
    }
    Some((measurement, tags))
}

fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            i += 2;
            continue;
        }
        if bytes[i] == sep {
            out.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if matches!(next, ',' | ' ' | '=') {
                    out.push(next);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Published FNV-1a 64 test vectors (from the FNV reference test suite).
    #[test]
    fn fnv1a_64_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// Series keys and their FNV-1a 64 values, computed independently (a
    /// direct Python implementation of the FNV-1a loop over the UTF-8 bytes).
    /// (measurement, tags, expected key, expected FNV-1a 64 of the key)
    type Vector = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
        u64,
    );

    #[test]
    fn series_key_vectors() {
        let cases: &[Vector] = &[
            ("cpu", &[], "cpu", 0xf5a8_fa19_0cb3_14c9),
            (
                "cpu",
                &[("host", "a"), ("region", "b")],
                "cpu,host=a,region=b",
                0x219b_c1c4_db20_aa3a,
            ),
            (
                "my measurement,x",
                &[("tag key", "v=1,2")],
                r"my\ measurement\,x,tag\ key=v\=1\,2",
                0xcfc6_aabb_f7e9_d7dd,
            ),
            (
                "m=eq",
                &[("t", "café")],
                "m=eq,t=café",
                0xf85b_5408_7b5f_5d4e,
            ),
        ];
        for (measurement, tags, key, hash) in cases {
            let got = series_key(measurement, tags);
            assert_eq!(&got, key);
            assert_eq!(fnv1a_64(got.as_bytes()), *hash, "fnv1a_64({key})");
        }
    }

    #[test]
    fn shard_index_is_hash_modulo_count() {
        let key = "cpu,host=a,region=b";
        assert_eq!(shard_index(key, 1), 0);
        assert_eq!(
            u64::from(shard_index(key, 7)),
            0x219b_c1c4_db20_aa3a_u64 % 7
        );
    }

    #[test]
    fn measurement_keeps_equal_sign_unescaped() {
        // InfluxDB does not escape '=' in measurement names.
        assert_eq!(series_key::<(&str, &str)>("a=b", &[]), "a=b");
    }

    proptest! {
        #[test]
        fn parse_inverts_series_key(
            m in "[a-z ,=é]{1,8}",
            tags in proptest::collection::btree_map("[a-z ,=é]{1,6}", "[a-z ,=é]{1,6}", 0..4),
        ) {
            let tags: Vec<(String, String)> = tags.into_iter().collect();
            let key = series_key(&m, &tags);
            let (pm, ptags) = parse_series_key(&key).unwrap();
            prop_assert_eq!(pm, m);
            prop_assert_eq!(ptags, tags);
        }
    }
}

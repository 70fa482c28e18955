//! Avro binary encoding primitives (Avro 1.11 spec, "Binary Encoding").
//!
//! Hand-written because the generic `apache_avro::types::Value` path costs an
//! allocation per value and measured ~0.8 M field values/s on one core with
//! one Avro record per TSBS point (the design notes' figure, before this codec);
//! these primitives move arrays at hundreds of millions of bytes per second
//! (`cargo bench -p schemas --bench codec`). Every record they produce is
//! checked against `apache-avro` in this crate's tests.

use std::borrow::Cow;

use super::DecodeError;

pub(crate) fn put_long(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_long(buf, s.len() as i64);
    buf.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_bool(buf: &mut Vec<u8>, b: bool) {
    buf.push(u8::from(b));
}

pub(crate) fn put_double(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Writes an array as one block (count, items, 0); an empty array is just 0.
pub(crate) fn put_array<T>(buf: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        put_long(buf, items.len() as i64);
        for item in items {
            put(buf, item);
        }
    }
    put_long(buf, 0);
}

/// A cursor over a record body; strings are borrowed from it.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn truncated(&self) -> DecodeError {
        DecodeError::Truncated { offset: self.pos }
    }

    pub(crate) fn long(&mut self) -> Result<i64, DecodeError> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos).ok_or_else(|| self.truncated())?;
            self.pos += 1;
            z |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                // The tenth byte may carry only the top bit of a u64.
                if shift == 63 && byte > 1 {
                    break;
                }
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(DecodeError::BadVarint { offset: self.pos })
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let n = self.long()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.remaining())
            .ok_or(DecodeError::BadLength { offset, length: n })
    }

    pub(crate) fn str(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let len = self.len()?;
        let offset = self.pos;
        let bytes = &self.bytes[offset..offset + len];
        self.pos += len;
        std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|_| DecodeError::BadUtf8 { offset })
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        let offset = self.pos;
        match self.bytes.get(offset) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(1) => {
                self.pos += 1;
                Ok(true)
            }
            Some(&value) => Err(DecodeError::BadBoolean { offset, value }),
            None => Err(self.truncated()),
        }
    }

    pub(crate) fn double(&mut self) -> Result<f64, DecodeError> {
        let end = self.pos + 8;
        let bytes = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| self.truncated())?;
        self.pos = end;
        Ok(f64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    /// A union branch or enum symbol index, checked against `count`.
    pub(crate) fn index(&mut self, count: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .filter(|&i| i < count)
            .ok_or(DecodeError::BadIndex { offset, index: i })
    }

    /// Reads an array in any block layout a conforming writer may use
    /// (several blocks, negative counts followed by a byte size).
    /// `min_item_size` bounds up-front allocation by what the input can hold.
    pub(crate) fn array<T>(
        &mut self,
        min_item_size: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::new();
        loop {
            let offset = self.pos;
            let count = self.long()?;
            if count == 0 {
                return Ok(out);
            }
            if count < 0 {
                self.long()?; // block size in bytes, only useful for skipping
            }
            let count = usize::try_from(count.unsigned_abs())
                .ok()
                .filter(|&c| c.saturating_mul(min_item_size) <= self.remaining())
                .ok_or(DecodeError::BadLength {
                    offset,
                    length: count,
                })?;
            out.reserve(count);
            for _ in 0..count {
                out.push(item(self)?);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn long_matches_spec_examples() {
        // From the Avro spec's zig-zag table.
        for (v, bytes) in [
            (0i64, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (2, vec![0x04]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            let mut buf = Vec::new();
            put_long(&mut buf, v);
            assert_eq!(buf, bytes, "{v}");
        }
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let bytes = [0xff; 11];
        assert!(matches!(
            Reader::new(&bytes).long(),
            Err(DecodeError::BadVarint { .. })
        ));
    }

    proptest! {
        #[test]
        fn long_round_trips(v in any::<i64>()) {
            let mut buf = Vec::new();
            put_long(&mut buf, v);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.long().unwrap(), v);
            prop_assert_eq!(r.remaining(), 0);
        }
    }
}

//! The records of the shard-group topics.
//!
//! Every record value is [Avro single-object encoded][soe]: the marker
//! `0xC3 0x01` (the `0x01` is the format version), the 8-byte little-endian
//! CRC-64-AVRO fingerprint of the writer's schema, then the Avro binary body.
//! The fingerprint tells a reader which schema (and which version of it) wrote
//! the record, so schemas can evolve and an unknown one is rejected with a
//! clear error instead of being misread. Any Avro library reads these records
//! given the `.avsc` files in `schemas/avro/`.
//!
//! The record key is the shard id in decimal ([`record_key`]), which keeps
//! `kcat -K` output readable.
//!
//! [soe]: https://avro.apache.org/docs/1.11.1/specification/#single-object-encoding

mod avro_binary;
mod point_batch;
mod tombstone;

use std::sync::LazyLock;

use apache_avro::{rabin::Rabin, Schema};

pub use point_batch::{FieldColumn, FieldType, FieldValues, PointBatch, Series, Tag};
pub use tombstone::{DeleteKind, NameMatcher, TagPredicate, Tombstone};

/// The `.avsc` text of the point batch schema, as compiled in.
pub const POINT_BATCH_AVSC: &str = include_str!("../../avro/point_batch.avsc");
/// The `.avsc` text of the tombstone schema, as compiled in.
pub const TOMBSTONE_AVSC: &str = include_str!("../../avro/tombstone.avsc");

/// The two bytes that open every single-object encoded Avro datum.
pub const SINGLE_OBJECT_MARKER: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// A parsed, fingerprinted schema.
#[derive(Debug)]
pub struct KnownSchema {
    /// The parsed schema, for generic readers and tests.
    pub schema: Schema,
    /// CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form.
    pub fingerprint: u64,
}

fn load(avsc: &str) -> KnownSchema {
    let schema = Schema::parse_str(avsc).expect("compiled-in schema is valid");
    let bytes = schema.fingerprint::<Rabin>().bytes;
    // apache-avro returns Rabin fingerprints little-endian, as the
    // single-object header stores them.
    let fingerprint = u64::from_le_bytes(bytes.try_into().expect("8-byte fingerprint"));
    KnownSchema {
        schema,
        fingerprint,
    }
}

/// The point batch schema.
pub static POINT_BATCH_SCHEMA: LazyLock<KnownSchema> = LazyLock::new(|| load(POINT_BATCH_AVSC));
/// The tombstone schema.
pub static TOMBSTONE_SCHEMA: LazyLock<KnownSchema> = LazyLock::new(|| load(TOMBSTONE_AVSC));

/// A decoded record of a shard-group topic.
#[derive(Debug, Clone, PartialEq)]
pub enum LogRecord<'a> {
    /// Points to upsert.
    Points(PointBatch<'a>),
    /// Data to delete.
    Tombstone(Tombstone),
}

impl<'a> LogRecord<'a> {
    /// Decodes a record value; strings borrow from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (fingerprint, body) = split_header(bytes)?;
        if fingerprint == POINT_BATCH_SCHEMA.fingerprint {
            PointBatch::decode_body(body).map(LogRecord::Points)
        } else if fingerprint == TOMBSTONE_SCHEMA.fingerprint {
            Tombstone::decode_body(body).map(LogRecord::Tombstone)
        } else {
            Err(DecodeError::UnknownSchema { fingerprint })
        }
    }

    /// The shard the record is for.
    pub fn shard_id(&self) -> u64 {
        match self {
            LogRecord::Points(b) => b.shard_id,
            LogRecord::Tombstone(t) => t.shard_id,
        }
    }
}

/// The Kafka record key of every record of a shard: its id in decimal.
pub fn record_key(shard_id: u64) -> String {
    shard_id.to_string()
}

fn put_header(buf: &mut Vec<u8>, fingerprint: u64) {
    buf.extend_from_slice(&SINGLE_OBJECT_MARKER);
    buf.extend_from_slice(&fingerprint.to_le_bytes());
}

fn split_header(bytes: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Truncated {
            offset: bytes.len(),
        });
    }
    if bytes[..2] != SINGLE_OBJECT_MARKER {
        return Err(DecodeError::NotSingleObject {
            marker: [bytes[0], bytes[1]],
        });
    }
    let fingerprint = u64::from_le_bytes(bytes[2..HEADER_LEN].try_into().expect("8 bytes"));
    Ok((fingerprint, &bytes[HEADER_LEN..]))
}

/// Why a record could not be decoded. Offsets are into the Avro body (after
/// the 10-byte header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value does not start with the single-object marker.
    #[error("not an Avro single-object record: starts with {marker:02x?}, expected [c3, 01]")]
    NotSingleObject {
        /// The first two bytes found.
        marker: [u8; 2],
    },
    /// The fingerprint names a schema this build does not know.
    #[error(
        "unknown record schema with fingerprint {fingerprint:#018x}: written by a newer or foreign producer"
    )]
    UnknownSchema {
        /// The CRC-64-AVRO fingerprint found in the header.
        fingerprint: u64,
    },
    /// The input ends inside a value.
    #[error("record truncated at byte {offset}")]
    Truncated {
        /// Where more bytes were needed.
        offset: usize,
    },
    /// A variable-length integer longer than 64 bits.
    #[error("malformed varint at byte {offset}")]
    BadVarint {
        /// Where the varint ended.
        offset: usize,
    },
    /// A string, bytes or array length that is negative or exceeds the input.
    #[error("invalid length {length} at byte {offset}")]
    BadLength {
        /// Where the length starts.
        offset: usize,
        /// The length read.
        length: i64,
    },
    /// A string that is not UTF-8.
    #[error("string at byte {offset} is not valid UTF-8")]
    BadUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {value} at byte {offset}")]
    BadBoolean {
        /// Where the byte is.
        offset: usize,
        /// The byte found.
        value: u8,
    },
    /// A union branch or enum symbol out of range.
    #[error("invalid union or enum index {index} at byte {offset}")]
    BadIndex {
        /// Where the index starts.
        offset: usize,
        /// The index read.
        index: i64,
    },
    /// A field column whose timestamps and values differ in length.
    #[error("field column {field:?} has {timestamps} timestamps but {values} values")]
    ColumnLengthMismatch {
        /// The field's name.
        field: String,
        /// Number of timestamps.
        timestamps: usize,
        /// Number of values.
        values: usize,
    },
    /// An AND/OR predicate without children, or a comparison with some.
    #[error("malformed tag predicate: {0}")]
    BadPredicate(&'static str),
    /// A tombstone where a point batch was expected.
    #[error("expected a point batch, found a tombstone")]
    NotPoints,
    /// Bytes left over after the record.
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_have_distinct_fingerprints() {
        assert_ne!(POINT_BATCH_SCHEMA.fingerprint, TOMBSTONE_SCHEMA.fingerprint);
    }

    #[test]
    fn unknown_fingerprint_is_a_clear_error() {
        let mut bytes = Vec::new();
        put_header(&mut bytes, 0x1234);
        bytes.push(0);
        let err = LogRecord::decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnknownSchema {
                fingerprint: 0x1234
            }
        );
        assert!(err.to_string().contains("0x0000000000001234"), "{err}");
    }

    #[test]
    fn non_avro_bytes_are_rejected() {
        let err = LogRecord::decode(b"cpu value=1 1000000000").unwrap_err();
        assert!(matches!(err, DecodeError::NotSingleObject { .. }), "{err}");
        assert!(matches!(
            LogRecord::decode(&[0xC3]).unwrap_err(),
            DecodeError::Truncated { .. }
        ));
    }

    #[test]
    fn record_key_is_decimal_shard_id() {
        assert_eq!(record_key(42), "42");
    }
}

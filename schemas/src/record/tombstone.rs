//! `Tombstone`: a delete applied by every replica in log order.

use super::avro_binary::{put_array, put_bool, put_long, put_str, Reader};
use super::{put_header, DecodeError, TOMBSTONE_SCHEMA};

/// What a tombstone deletes (schema `io.sluice.log.Tombstone`).
///
/// Tombstones are rare and small, so they are owned and encoded with the same
/// primitives as point batches without any attention to speed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Database name.
    pub database: String,
    /// Retention policy name.
    pub retention_policy: String,
    /// The shard the tombstone applies to.
    pub shard_id: u64,
    /// Which statement wrote it.
    pub kind: DeleteKind,
    /// The measurements affected; `None` for every measurement.
    pub measurement: Option<NameMatcher>,
    /// The series affected; `None` for every series of those measurements.
    pub predicate: Option<TagPredicate>,
    /// Inclusive lower time bound, ns.
    pub min_time: i64,
    /// Inclusive upper time bound, ns.
    pub max_time: i64,
}

/// The InfluxQL statement a tombstone comes from; it decides whether series
/// leave the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeleteKind {
    /// `DELETE`: points in the time range; a series leaves the index once it
    /// has no data left.
    Delete,
    /// `DROP SERIES`: the series, all of their data and their index entries.
    DropSeries,
    /// `DROP MEASUREMENT`: the measurements, all of their series and data.
    DropMeasurement,
}

/// A measurement name or regular expression (`FROM /cpu.*/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatcher {
    /// `true`: `pattern` is a regular expression (RE2 syntax).
    pub regex: bool,
    /// The name or the expression.
    pub pattern: String,
}

/// A predicate on tags (the WHERE clause of DELETE and DROP SERIES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagPredicate {
    /// All must hold.
    And(Vec<TagPredicate>),
    /// One must hold.
    Or(Vec<TagPredicate>),
    /// `key = 'value'`.
    Eq {
        /// Tag key.
        key: String,
        /// Tag value.
        value: String,
    },
    /// `key != 'value'`.
    NotEq {
        /// Tag key.
        key: String,
        /// Tag value.
        value: String,
    },
    /// `key =~ /regex/`.
    Match {
        /// Tag key.
        key: String,
        /// Regular expression (RE2 syntax).
        regex: String,
    },
    /// `key !~ /regex/`.
    NotMatch {
        /// Tag key.
        key: String,
        /// Regular expression (RE2 syntax).
        regex: String,
    },
}

const DELETE_KINDS: [DeleteKind; 3] = [
    DeleteKind::Delete,
    DeleteKind::DropSeries,
    DeleteKind::DropMeasurement,
];

/// Deep enough for any WHERE clause a person writes; bounds recursion on
/// hostile input.
const MAX_PREDICATE_DEPTH: usize = 64;

impl Tombstone {
    /// The single-object encoding of the tombstone.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(128);
        put_header(&mut buf, TOMBSTONE_SCHEMA.fingerprint);
        put_str(&mut buf, &self.database);
        put_str(&mut buf, &self.retention_policy);
        put_long(&mut buf, self.shard_id as i64);
        let kind = DELETE_KINDS
            .iter()
            .position(|k| *k == self.kind)
            .expect("listed");
        put_long(&mut buf, kind as i64);
        match &self.measurement {
            None => put_long(&mut buf, 0),
            Some(m) => {
                put_long(&mut buf, 1);
                put_bool(&mut buf, m.regex);
                put_str(&mut buf, &m.pattern);
            }
        }
        match &self.predicate {
            None => put_long(&mut buf, 0),
            Some(p) => {
                put_long(&mut buf, 1);
                encode_predicate(&mut buf, p);
            }
        }
        put_long(&mut buf, self.min_time);
        put_long(&mut buf, self.max_time);
        buf
    }

    pub(super) fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let database = r.str()?.into_owned();
        let retention_policy = r.str()?.into_owned();
        let shard_id = r.long()? as u64;
        let kind = DELETE_KINDS[r.index(DELETE_KINDS.len())?];
        let measurement = match r.index(2)? {
            0 => None,
            _ => Some(NameMatcher {
                regex: r.bool()?,
                pattern: r.str()?.into_owned(),
            }),
        };
        let predicate = match r.index(2)? {
            0 => None,
            _ => Some(decode_predicate(&mut r, 0)?),
        };
        let min_time = r.long()?;
        let max_time = r.long()?;
        if r.remaining() > 0 {
            return Err(DecodeError::TrailingBytes(r.remaining()));
        }
        Ok(Tombstone {
            database,
            retention_policy,
            shard_id,
            kind,
            measurement,
            predicate,
            min_time,
            max_time,
        })
    }
}

// Symbol order of the `TagOp` enum in tombstone.avsc.
const OP_AND: i64 = 0;
const OP_OR: i64 = 1;
const OP_EQ: i64 = 2;
const OP_NEQ: i64 = 3;
const OP_MATCH: i64 = 4;
const OP_NOT_MATCH: i64 = 5;

fn encode_predicate(buf: &mut Vec<u8>, p: &TagPredicate) {
    let (op, key, value, children): (i64, &str, &str, &[TagPredicate]) = match p {
        TagPredicate::And(c) => (OP_AND, "", "", c),
        TagPredicate::Or(c) => (OP_OR, "", "", c),
        TagPredicate::Eq { key, value } => (OP_EQ, key, value, &[]),
        TagPredicate::NotEq { key, value } => (OP_NEQ, key, value, &[]),
        TagPredicate::Match { key, regex } => (OP_MATCH, key, regex, &[]),
        TagPredicate::NotMatch { key, regex } => (OP_NOT_MATCH, key, regex, &[]),
    };
    put_long(buf, op);
    put_str(buf, key);
    put_str(buf, value);
    put_array(buf, children, encode_predicate);
}

fn decode_predicate(r: &mut Reader<'_>, depth: usize) -> Result<TagPredicate, DecodeError> {
    if depth > MAX_PREDICATE_DEPTH {
        return Err(DecodeError::BadPredicate("nested too deeply"));
    }
    let op = r.index(6)? as i64;
    let key = r.str()?.into_owned();
    let value = r.str()?.into_owned();
    let children = r.array(4, |r| decode_predicate(r, depth + 1))?;
    let leaf = |p: TagPredicate| {
        if children.is_empty() {
            Ok(p)
        } else {
            Err(DecodeError::BadPredicate("a comparison has no children"))
        }
    };
    match op {
        OP_AND | OP_OR if children.is_empty() => {
            Err(DecodeError::BadPredicate("AND/OR without operands"))
        }
        OP_AND => Ok(TagPredicate::And(children)),
        OP_OR => Ok(TagPredicate::Or(children)),
        OP_EQ => leaf(TagPredicate::Eq { key, value }),
        OP_NEQ => leaf(TagPredicate::NotEq { key, value }),
        OP_MATCH => leaf(TagPredicate::Match { key, regex: value }),
        _ => leaf(TagPredicate::NotMatch { key, regex: value }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::LogRecord;
    use super::*;
    use apache_avro::types::Value;
    use proptest::prelude::*;

    fn arb_predicate() -> impl Strategy<Value = TagPredicate> {
        let leaf = prop_oneof![
            ("[a-z]{1,4}", ".{0,6}").prop_map(|(key, value)| TagPredicate::Eq { key, value }),
            ("[a-z]{1,4}", ".{0,6}").prop_map(|(key, value)| TagPredicate::NotEq { key, value }),
            ("[a-z]{1,4}", "[a-z.*]{0,6}")
                .prop_map(|(key, regex)| TagPredicate::Match { key, regex }),
            ("[a-z]{1,4}", "[a-z.*]{0,6}")
                .prop_map(|(key, regex)| TagPredicate::NotMatch { key, regex }),
        ];
        leaf.prop_recursive(4, 16, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..3).prop_map(TagPredicate::And),
                proptest::collection::vec(inner, 1..3).prop_map(TagPredicate::Or),
            ]
        })
    }

    fn arb_tombstone() -> impl Strategy<Value = Tombstone> {
        (
            ".{0,8}",
            ".{0,8}",
            any::<u64>(),
            prop::sample::select(DELETE_KINDS.to_vec()),
            proptest::option::of((any::<bool>(), ".{0,8}")),
            proptest::option::of(arb_predicate()),
            any::<i64>(),
            any::<i64>(),
        )
            .prop_map(
                |(database, retention_policy, shard_id, kind, m, predicate, min_time, max_time)| {
                    Tombstone {
                        database,
                        retention_policy,
                        shard_id,
                        kind,
                        measurement: m.map(|(regex, pattern)| NameMatcher { regex, pattern }),
                        predicate,
                        min_time,
                        max_time,
                    }
                },
            )
    }

    fn predicate_value(p: &TagPredicate) -> Value {
        let (op, key, value, children): (u32, &str, &str, &[TagPredicate]) = match p {
            TagPredicate::And(c) => (0, "", "", c),
            TagPredicate::Or(c) => (1, "", "", c),
            TagPredicate::Eq { key, value } => (2, key, value, &[]),
            TagPredicate::NotEq { key, value } => (3, key, value, &[]),
            TagPredicate::Match { key, regex } => (4, key, regex, &[]),
            TagPredicate::NotMatch { key, regex } => (5, key, regex, &[]),
        };
        let symbols = ["AND", "OR", "EQ", "NEQ", "MATCH", "NOT_MATCH"];
        Value::Record(vec![
            ("op".into(), Value::Enum(op, symbols[op as usize].into())),
            ("key".into(), Value::String(key.into())),
            ("value".into(), Value::String(value.into())),
            (
                "children".into(),
                Value::Array(children.iter().map(predicate_value).collect()),
            ),
        ])
    }

    fn to_avro_value(t: &Tombstone) -> Value {
        let kind = DELETE_KINDS.iter().position(|k| *k == t.kind).unwrap() as u32;
        let symbols = ["DELETE", "DROP_SERIES", "DROP_MEASUREMENT"];
        Value::Record(vec![
            ("database".into(), Value::String(t.database.clone())),
            (
                "retention_policy".into(),
                Value::String(t.retention_policy.clone()),
            ),
            ("shard_id".into(), Value::Long(t.shard_id as i64)),
            (
                "kind".into(),
                Value::Enum(kind, symbols[kind as usize].into()),
            ),
            (
                "measurement".into(),
                match &t.measurement {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(m) => Value::Union(
                        1,
                        Box::new(Value::Record(vec![
                            ("regex".into(), Value::Boolean(m.regex)),
                            ("pattern".into(), Value::String(m.pattern.clone())),
                        ])),
                    ),
                },
            ),
            (
                "predicate".into(),
                match &t.predicate {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(p) => Value::Union(1, Box::new(predicate_value(p))),
                },
            ),
            ("min_time".into(), Value::Long(t.min_time)),
            ("max_time".into(), Value::Long(t.max_time)),
        ])
    }

    proptest! {
        #[test]
        fn round_trips(t in arb_tombstone()) {
            let bytes = t.encode();
            prop_assert_eq!(LogRecord::decode(&bytes).unwrap(), LogRecord::Tombstone(t));
        }

        #[test]
        fn apache_avro_reads_what_we_write(t in arb_tombstone()) {
            let bytes = t.encode();
            let reader = apache_avro::GenericSingleObjectReader::builder().schema(TOMBSTONE_SCHEMA.schema.clone()).build().unwrap();
            let value = reader.read_value(&mut &bytes[..]).unwrap();
            prop_assert_eq!(value, to_avro_value(&t));
        }

        #[test]
        fn we_read_what_apache_avro_writes(t in arb_tombstone()) {
            let body = apache_avro::writer::datum::GenericDatumWriter::builder(&TOMBSTONE_SCHEMA.schema)
                .build()
                .unwrap()
                .write_value_to_vec(to_avro_value(&t))
                .unwrap();
            let mut bytes = Vec::new();
            put_header(&mut bytes, TOMBSTONE_SCHEMA.fingerprint);
            bytes.extend_from_slice(&body);
            prop_assert_eq!(LogRecord::decode(&bytes).unwrap(), LogRecord::Tombstone(t));
        }
    }

    #[test]
    fn empty_and_is_rejected() {
        let mut t = Tombstone {
            database: "db".into(),
            retention_policy: "rp".into(),
            shard_id: 1,
            kind: DeleteKind::DropSeries,
            measurement: None,
            predicate: Some(TagPredicate::And(vec![])),
            min_time: i64::MIN,
            max_time: i64::MAX,
        };
        let err = LogRecord::decode(&t.encode()).unwrap_err();
        assert_eq!(err, DecodeError::BadPredicate("AND/OR without operands"));
        t.predicate = None;
        assert!(LogRecord::decode(&t.encode()).is_ok());
    }
}

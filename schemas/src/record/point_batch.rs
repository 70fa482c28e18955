//! `PointBatch`: points for one shard, grouped by series, one column per field.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::avro_binary::{put_array, put_bool, put_double, put_long, put_str, Reader};
use super::{put_header, DecodeError, POINT_BATCH_SCHEMA};

/// A batch of points for one shard (schema `io.sluice.log.PointBatch`).
///
/// Strings are `Cow` so that ingest can encode from borrowed line protocol and
/// shardd can decode without copying out of the Kafka message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointBatch<'a> {
    /// Database name.
    pub database: Cow<'a, str>,
    /// Retention policy name.
    pub retention_policy: Cow<'a, str>,
    /// The shard the points belong to.
    pub shard_id: u64,
    /// The series of the batch, each series key at most once.
    pub series: Vec<Series<'a>>,
}

/// One series of a batch and its field columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series<'a> {
    /// Unescaped measurement name.
    pub measurement: Cow<'a, str>,
    /// Unescaped tags, sorted by key, keys unique.
    pub tags: Vec<Tag<'a>>,
    /// One column per field.
    pub fields: Vec<FieldColumn<'a>>,
}

/// A tag of a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag<'a> {
    /// Unescaped tag key.
    pub key: Cow<'a, str>,
    /// Unescaped tag value.
    pub value: Cow<'a, str>,
}

/// All values of one field of one series in a batch; `timestamps[i]` (ns)
/// goes with value `i`. If a timestamp repeats, the later entry wins.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldColumn<'a> {
    /// Unescaped field key.
    pub name: Cow<'a, str>,
    /// Nanoseconds since the Unix epoch.
    pub timestamps: Vec<i64>,
    /// The values, all of one type.
    pub values: FieldValues<'a>,
}

/// A column of values of one InfluxDB field type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValues<'a> {
    /// 64-bit floats.
    Float(Vec<f64>),
    /// Signed 64-bit integers (`1i`).
    Integer(Vec<i64>),
    /// Unsigned 64-bit integers (`1u`).
    Unsigned(Vec<u64>),
    /// UTF-8 strings.
    String(Vec<Cow<'a, str>>),
    /// Booleans.
    Boolean(Vec<bool>),
}

/// The type of a field, as InfluxDB names it in `SHOW FIELD KEYS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// 64-bit float.
    Float,
    /// Signed 64-bit integer.
    Integer,
    /// Unsigned 64-bit integer.
    Unsigned,
    /// String.
    String,
    /// Boolean.
    Boolean,
}

impl FieldType {
    /// The name InfluxDB 1.x uses for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Unsigned => "unsigned",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        }
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FieldValues<'_> {
    /// The type of the column, which is also its union branch in the schema.
    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValues::Float(_) => FieldType::Float,
            FieldValues::Integer(_) => FieldType::Integer,
            FieldValues::Unsigned(_) => FieldType::Unsigned,
            FieldValues::String(_) => FieldType::String,
            FieldValues::Boolean(_) => FieldType::Boolean,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            FieldValues::Float(v) => v.len(),
            FieldValues::Integer(v) => v.len(),
            FieldValues::Unsigned(v) => v.len(),
            FieldValues::String(v) => v.len(),
            FieldValues::Boolean(v) => v.len(),
        }
    }

    /// Whether the column is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty column of `field_type`.
    pub fn empty(field_type: FieldType) -> Self {
        match field_type {
            FieldType::Float => FieldValues::Float(Vec::new()),
            FieldType::Integer => FieldValues::Integer(Vec::new()),
            FieldType::Unsigned => FieldValues::Unsigned(Vec::new()),
            FieldType::String => FieldValues::String(Vec::new()),
            FieldType::Boolean => FieldValues::Boolean(Vec::new()),
        }
    }
}

impl PointBatch<'_> {
    /// Number of field values in the batch (the unit of the throughput targets).
    pub fn value_count(&self) -> usize {
        self.series
            .iter()
            .flat_map(|s| &s.fields)
            .map(|f| f.timestamps.len())
            .sum()
    }

    /// Appends the single-object encoding of the batch to `buf`.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        put_header(buf, POINT_BATCH_SCHEMA.fingerprint);
        put_str(buf, &self.database);
        put_str(buf, &self.retention_policy);
        put_long(buf, self.shard_id as i64);
        put_array(buf, &self.series, |buf, series| {
            put_str(buf, &series.measurement);
            put_array(buf, &series.tags, |buf, tag| {
                put_str(buf, &tag.key);
                put_str(buf, &tag.value);
            });
            put_array(buf, &series.fields, encode_column);
        });
    }

    /// The single-object encoding of the batch.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64 + self.value_count() * 12);
        self.encode_into(&mut buf);
        buf
    }

    /// Copies every borrowed string, detaching the batch from its input.
    pub fn into_owned(self) -> PointBatch<'static> {
        fn own(s: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(s.into_owned())
        }
        PointBatch {
            database: own(self.database),
            retention_policy: own(self.retention_policy),
            shard_id: self.shard_id,
            series: self
                .series
                .into_iter()
                .map(|s| Series {
                    measurement: own(s.measurement),
                    tags: s
                        .tags
                        .into_iter()
                        .map(|t| Tag {
                            key: own(t.key),
                            value: own(t.value),
                        })
                        .collect(),
                    fields: s
                        .fields
                        .into_iter()
                        .map(|f| FieldColumn {
                            name: own(f.name),
                            timestamps: f.timestamps,
                            values: match f.values {
                                FieldValues::Float(v) => FieldValues::Float(v),
                                FieldValues::Integer(v) => FieldValues::Integer(v),
                                FieldValues::Unsigned(v) => FieldValues::Unsigned(v),
                                FieldValues::String(v) => {
                                    FieldValues::String(v.into_iter().map(own).collect())
                                }
                                FieldValues::Boolean(v) => FieldValues::Boolean(v),
                            },
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn encode_column(buf: &mut Vec<u8>, column: &FieldColumn<'_>) {
    put_str(buf, &column.name);
    put_array(buf, &column.timestamps, |buf, ts| put_long(buf, *ts));
    // The union branch index is the record's position in the schema's union.
    match &column.values {
        FieldValues::Float(v) => {
            put_long(buf, 0);
            put_array(buf, v, |buf, x| put_double(buf, *x));
        }
        FieldValues::Integer(v) => {
            put_long(buf, 1);
            put_array(buf, v, |buf, x| put_long(buf, *x));
        }
        FieldValues::Unsigned(v) => {
            put_long(buf, 2);
            put_array(buf, v, |buf, x| put_long(buf, *x as i64));
        }
        FieldValues::String(v) => {
            put_long(buf, 3);
            put_array(buf, v, |buf, x| put_str(buf, x));
        }
        FieldValues::Boolean(v) => {
            put_long(buf, 4);
            put_array(buf, v, |buf, x| put_bool(buf, *x));
        }
    }
}

impl<'a> PointBatch<'a> {
    /// Decodes a single-object encoded point batch (strings borrow `bytes`).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        match super::LogRecord::decode(bytes)? {
            super::LogRecord::Points(batch) => Ok(batch),
            super::LogRecord::Tombstone(_) => Err(DecodeError::NotPoints),
        }
    }

    pub(super) fn decode_body(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let database = r.str()?;
        let retention_policy = r.str()?;
        let shard_id = r.long()? as u64;
        // Minimum encoded sizes bound pre-allocation on hostile input; they
        // must be exact (an empty series is 3 bytes), or valid records are
        // refused.
        let series = r.array(3, |r| {
            let measurement = r.str()?;
            let tags = r.array(2, |r| {
                Ok(Tag {
                    key: r.str()?,
                    value: r.str()?,
                })
            })?;
            let fields = r.array(4, decode_column)?;
            Ok(Series {
                measurement,
                tags,
                fields,
            })
        })?;
        if r.remaining() > 0 {
            return Err(DecodeError::TrailingBytes(r.remaining()));
        }
        Ok(PointBatch {
            database,
            retention_policy,
            shard_id,
            series,
        })
    }
}

fn decode_column<'a>(r: &mut Reader<'a>) -> Result<FieldColumn<'a>, DecodeError> {
    let name = r.str()?;
    let timestamps = r.array(1, Reader::long)?;
    let values = match r.index(5)? {
        0 => FieldValues::Float(r.array(8, Reader::double)?),
        1 => FieldValues::Integer(r.array(1, Reader::long)?),
        2 => FieldValues::Unsigned(r.array(1, |r| r.long().map(|v| v as u64))?),
        3 => FieldValues::String(r.array(1, Reader::str)?),
        _ => FieldValues::Boolean(r.array(1, Reader::bool)?),
    };
    if values.len() != timestamps.len() {
        return Err(DecodeError::ColumnLengthMismatch {
            field: name.into_owned(),
            timestamps: timestamps.len(),
            values: values.len(),
        });
    }
    Ok(FieldColumn {
        name,
        timestamps,
        values,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use apache_avro::types::Value;
    use proptest::prelude::*;

    /// The batch as `apache-avro`'s generic value, built independently of our
    /// encoder, to check both directions against the reference library.
    pub(crate) fn to_avro_value(batch: &PointBatch<'_>) -> Value {
        let s = |x: &str| Value::String(x.to_owned());
        let arr = |v: Vec<Value>| Value::Array(v);
        Value::Record(vec![
            ("database".into(), s(&batch.database)),
            ("retention_policy".into(), s(&batch.retention_policy)),
            ("shard_id".into(), Value::Long(batch.shard_id as i64)),
            (
                "series".into(),
                arr(batch
                    .series
                    .iter()
                    .map(|series| {
                        Value::Record(vec![
                            ("measurement".into(), s(&series.measurement)),
                            (
                                "tags".into(),
                                arr(series
                                    .tags
                                    .iter()
                                    .map(|t| {
                                        Value::Record(vec![
                                            ("key".into(), s(&t.key)),
                                            ("value".into(), s(&t.value)),
                                        ])
                                    })
                                    .collect()),
                            ),
                            (
                                "fields".into(),
                                arr(series.fields.iter().map(column_value).collect()),
                            ),
                        ])
                    })
                    .collect()),
            ),
        ])
    }

    fn column_value(c: &FieldColumn<'_>) -> Value {
        let (branch, values) = match &c.values {
            FieldValues::Float(v) => (0, v.iter().map(|x| Value::Double(*x)).collect()),
            FieldValues::Integer(v) => (1, v.iter().map(|x| Value::Long(*x)).collect()),
            FieldValues::Unsigned(v) => (2, v.iter().map(|x| Value::Long(*x as i64)).collect()),
            FieldValues::String(v) => (3, v.iter().map(|x| Value::String(x.to_string())).collect()),
            FieldValues::Boolean(v) => (4, v.iter().map(|x| Value::Boolean(*x)).collect()),
        };
        Value::Record(vec![
            ("name".into(), Value::String(c.name.to_string())),
            (
                "timestamps".into(),
                Value::Array(
                    c.timestamps
                        .iter()
                        .map(|t| Value::TimestampNanos(*t))
                        .collect(),
                ),
            ),
            (
                "values".into(),
                Value::Union(
                    branch,
                    Box::new(Value::Record(vec![("values".into(), Value::Array(values))])),
                ),
            ),
        ])
    }

    pub(crate) fn arb_batch() -> impl Strategy<Value = PointBatch<'static>> {
        let name = "[a-z é,= \\\\\"]{0,12}";
        let column = (
            name,
            prop_oneof![
                proptest::collection::vec(any::<f64>(), 0..20).prop_map(FieldValues::Float),
                proptest::collection::vec(any::<i64>(), 0..20).prop_map(FieldValues::Integer),
                proptest::collection::vec(any::<u64>(), 0..20).prop_map(FieldValues::Unsigned),
                proptest::collection::vec(".{0,10}".prop_map(Cow::Owned), 0..20)
                    .prop_map(FieldValues::String),
                proptest::collection::vec(any::<bool>(), 0..20).prop_map(FieldValues::Boolean),
            ],
        )
            .prop_flat_map(|(name, values)| {
                let n = values.len();
                (
                    Just(name),
                    proptest::collection::vec(any::<i64>(), n..=n),
                    Just(values),
                )
            })
            .prop_map(|(name, timestamps, values)| FieldColumn {
                name: name.into(),
                timestamps,
                values,
            });
        let series = (
            name,
            proptest::collection::btree_map(name, name, 0..5),
            proptest::collection::vec(column, 0..5),
        )
            .prop_map(|(measurement, tags, fields)| Series {
                measurement: measurement.into(),
                tags: tags
                    .into_iter()
                    .map(|(k, v)| Tag {
                        key: k.into(),
                        value: v.into(),
                    })
                    .collect(),
                fields,
            });
        (
            name,
            name,
            any::<u64>(),
            proptest::collection::vec(series, 0..5),
        )
            .prop_map(
                |(database, retention_policy, shard_id, series)| PointBatch {
                    database: database.into(),
                    retention_policy: retention_policy.into(),
                    shard_id,
                    series,
                },
            )
    }

    /// NaN != NaN, so compare floats by bits.
    fn same(a: &PointBatch<'_>, b: &PointBatch<'_>) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        #[test]
        fn round_trips(batch in arb_batch()) {
            let bytes = batch.encode();
            let decoded = PointBatch::decode(&bytes).unwrap();
            prop_assert!(same(&decoded, &batch));
        }

        /// `apache-avro` must read every record we write.
        #[test]
        fn apache_avro_reads_what_we_write(batch in arb_batch()) {
            let bytes = batch.encode();
            let reader = apache_avro::GenericSingleObjectReader::builder().schema(POINT_BATCH_SCHEMA.schema.clone()).build().unwrap();
            let value = reader.read_value(&mut &bytes[..]).unwrap();
            prop_assert_eq!(format!("{value:?}"), format!("{:?}", to_avro_value(&batch)));
        }

        /// ...and we must read what `apache-avro` writes.
        #[test]
        fn we_read_what_apache_avro_writes(batch in arb_batch(), block in prop_oneof![Just(None), Just(Some(1usize)), Just(Some(64))]) {
            // Small block sizes make apache-avro split arrays into several
            // blocks with byte sizes, a layout our writer never uses.
            let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&POINT_BATCH_SCHEMA.schema)
                .maybe_target_block_size(block)
                .build()
                .unwrap();
            let body = writer.write_value_to_vec(to_avro_value(&batch)).unwrap();
            let mut bytes = Vec::new();
            put_header(&mut bytes, POINT_BATCH_SCHEMA.fingerprint);
            bytes.extend_from_slice(&body);
            let decoded = PointBatch::decode(&bytes).unwrap();
            prop_assert!(same(&decoded, &batch));
        }

        #[test]
        fn truncated_input_is_an_error_not_a_panic(batch in arb_batch(), cut in any::<prop::sample::Index>()) {
            let bytes = batch.encode();
            let cut = cut.index(bytes.len());
            prop_assert!(PointBatch::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn multi_block_arrays_with_byte_sizes_decode() {
        // A writer may split an array into blocks and give negative counts
        // followed by the block's byte size; build such a column by hand.
        let mut body = Vec::new();
        put_str(&mut body, "db");
        put_str(&mut body, "rp");
        put_long(&mut body, 7);
        put_long(&mut body, 1); // one series
        put_str(&mut body, "cpu");
        put_long(&mut body, 0); // no tags
        put_long(&mut body, 1); // one field
        put_str(&mut body, "v");
        put_long(&mut body, -1); // block of 1 timestamp, with size
        put_long(&mut body, 1);
        put_long(&mut body, 5);
        put_long(&mut body, 1); // another block of 1
        put_long(&mut body, 6);
        put_long(&mut body, 0);
        put_long(&mut body, 1); // integer branch
        put_long(&mut body, 2);
        put_long(&mut body, 10);
        put_long(&mut body, 11);
        put_long(&mut body, 0);
        put_long(&mut body, 0); // end fields
        put_long(&mut body, 0); // end series
        let mut bytes = Vec::new();
        put_header(&mut bytes, POINT_BATCH_SCHEMA.fingerprint);
        bytes.extend_from_slice(&body);
        let batch = PointBatch::decode(&bytes).unwrap();
        assert_eq!(batch.series[0].fields[0].timestamps, vec![5, 6]);
        assert_eq!(
            batch.series[0].fields[0].values,
            FieldValues::Integer(vec![10, 11])
        );
    }

    /// Found by the `avro_decode` fuzz target: empty series encode to 3
    /// bytes each, and the allocation guard assumed 4.
    #[test]
    fn many_empty_series_round_trip() {
        let batch = PointBatch {
            series: vec![Series::default(); 9],
            ..PointBatch::default()
        };
        assert_eq!(PointBatch::decode(&batch.encode()).unwrap(), batch);
    }

    #[test]
    fn mismatched_column_lengths_are_rejected() {
        let batch = PointBatch {
            database: "db".into(),
            retention_policy: "rp".into(),
            shard_id: 1,
            series: vec![Series {
                measurement: "m".into(),
                tags: vec![],
                fields: vec![FieldColumn {
                    name: "f".into(),
                    timestamps: vec![1, 2],
                    values: FieldValues::Boolean(vec![true]),
                }],
            }],
        };
        let err = PointBatch::decode(&batch.encode()).unwrap_err();
        assert!(
            matches!(err, DecodeError::ColumnLengthMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn huge_array_count_does_not_allocate() {
        let mut bytes = Vec::new();
        put_header(&mut bytes, POINT_BATCH_SCHEMA.fingerprint);
        put_str(&mut bytes, "db");
        put_str(&mut bytes, "rp");
        put_long(&mut bytes, 1);
        put_long(&mut bytes, i64::MAX); // claims 2^63 series
        assert!(matches!(
            PointBatch::decode(&bytes).unwrap_err(),
            DecodeError::BadLength { .. }
        ));
    }
}

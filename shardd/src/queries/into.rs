//! `SELECT ... INTO`: a SELECT's answer written back as points through the
//! write path (routed and produced to Kafka like any `/write`), answered
//! with InfluxDB's `result` series (`time` 0, `written` N).
//!
//! The conversion is InfluxDB 1.6's `convertRowToPoints`: every non-time
//! column with a value becomes a field, the series' GROUP BY tags stay
//! tags, a row without any value is dropped; the measurement is the
//! target's, or the source series' name for `:MEASUREMENT`.

use std::borrow::Cow;

use influxql::ast::Target;
use ingest::write::WriteService;
use line_protocol::{FieldValue, Point};
use query::result::{Cell, Series};

/// Where the points go, with the request's defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntoTarget {
    /// Database the points are written to.
    pub database: String,
    /// `None`: the database's default retention policy.
    pub retention_policy: Option<String>,
    /// `None`: each series' own measurement name (`:MEASUREMENT`).
    pub measurement: Option<String>,
}

impl IntoTarget {
    /// The statement's target, filled in with the request's database.
    pub fn resolve(t: &Target, default_db: Option<&str>) -> Result<Self, String> {
        let database = t
            .database
            .as_deref()
            .or(default_db)
            .filter(|d| !d.is_empty())
            .ok_or("database name required")?
            .to_owned();
        Ok(Self {
            database,
            retention_policy: t.retention_policy.clone().filter(|r| !r.is_empty()),
            measurement: t.measurement.clone(),
        })
    }
}

fn field_value(c: &Cell) -> Option<FieldValue<'_>> {
    match c {
        Cell::Float(v) => Some(FieldValue::Float(*v)),
        Cell::Integer(v) => Some(FieldValue::Integer(*v)),
        Cell::Unsigned(v) => Some(FieldValue::Unsigned(*v)),
        Cell::String(v) => Some(FieldValue::String(Cow::Borrowed(v))),
        Cell::Boolean(v) => Some(FieldValue::Boolean(*v)),
        Cell::Null | Cell::Time(_) | Cell::ZonedTime { .. } => None,
    }
}

/// The points of a SELECT's answer.
pub fn points<'s>(series: &'s [Series], measurement: Option<&'s str>) -> Vec<Point<'s>> {
    let mut out = Vec::new();
    for s in series {
        let Some(time_col) = s.columns.iter().position(|c| c == "time") else {
            continue;
        };
        let name = measurement.unwrap_or(&s.name);
        // Line protocol has no empty tag values; InfluxDB drops them too.
        let tags: Vec<(Cow<'_, str>, Cow<'_, str>)> = s
            .tags
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect();
        for row in &s.values {
            let time = match row.get(time_col) {
                Some(Cell::Time(t) | Cell::ZonedTime { ns: t, .. }) => *t,
                _ => continue,
            };
            let fields: Vec<_> = s
                .columns
                .iter()
                .zip(row)
                .enumerate()
                .filter(|(i, _)| *i != time_col)
                .filter_map(|(_, (c, v))| Some((Cow::Borrowed(c.as_str()), field_value(v)?)))
                .collect();
            if fields.is_empty() {
                continue;
            }
            out.push(Point {
                measurement: Cow::Borrowed(name),
                tags: tags.clone(),
                fields,
                timestamp_ns: time,
                line_number: out.len() + 1,
            });
        }
    }
    out
}

/// Writes `series` into `target`; returns InfluxDB's answer to the
/// statement: one `result` series with the number of points written.
pub async fn write(
    writer: &WriteService,
    target: &IntoTarget,
    series: &[Series],
    now_ns: i64,
) -> Result<Series, String> {
    let dest = writer
        .target(&target.database, target.retention_policy.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let points = points(series, target.measurement.as_deref());
    let outcome = writer
        .write_points(&dest, points, now_ns)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(e) = outcome.error_message() {
        return Err(e);
    }
    Ok(Series {
        name: "result".into(),
        columns: vec!["time".into(), "written".into()],
        values: vec![vec![Cell::Time(0), Cell::Integer(outcome.points as i64)]],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, tags: &[(&str, &str)], rows: Vec<Vec<Cell>>) -> Series {
        Series {
            name: name.into(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            columns: vec!["time".into(), "mean".into(), "host".into()],
            values: rows,
            partial: false,
        }
    }

    #[test]
    fn rows_become_points_with_group_tags_and_non_null_fields() {
        let s = vec![series(
            "cpu",
            &[("region", "eu"), ("empty", "")],
            vec![
                vec![Cell::Time(10), Cell::Float(0.5), Cell::String("a".into())],
                vec![Cell::Time(20), Cell::Null, Cell::Null],
                vec![Cell::Time(30), Cell::Null, Cell::String("b".into())],
            ],
        )];
        let p = points(&s, Some("down"));
        assert_eq!(p.len(), 2, "the all-null row is dropped");
        assert_eq!(p[0].measurement, "down");
        assert_eq!(p[0].tags, vec![(Cow::from("region"), Cow::from("eu"))]);
        assert_eq!(p[0].timestamp_ns, 10);
        assert_eq!(
            p[0].fields,
            vec![
                (Cow::from("mean"), FieldValue::Float(0.5)),
                (Cow::from("host"), FieldValue::String("a".into()))
            ]
        );
        assert_eq!(
            p[1].fields,
            vec![(Cow::from("host"), FieldValue::String("b".into()))]
        );
    }

    #[test]
    fn measurement_backreference_keeps_each_series_name() {
        let s = vec![
            series(
                "cpu",
                &[],
                vec![vec![Cell::Time(1), Cell::Integer(1), Cell::Null]],
            ),
            series(
                "mem",
                &[],
                vec![vec![Cell::Time(1), Cell::Integer(2), Cell::Null]],
            ),
        ];
        let names: Vec<_> = points(&s, None)
            .into_iter()
            .map(|p| p.measurement)
            .collect();
        assert_eq!(names, vec!["cpu", "mem"]);
    }

    #[test]
    fn target_takes_the_request_database() {
        let t = Target {
            database: None,
            retention_policy: None,
            measurement: Some("m".into()),
        };
        assert_eq!(IntoTarget::resolve(&t, Some("db")).unwrap().database, "db");
        assert!(IntoTarget::resolve(&t, None).is_err());
    }
}

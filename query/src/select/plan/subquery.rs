//! `FROM (SELECT ...)`: the inner query narrowed to the outer time range,
//! its answer read as a schema, and its series scanned in memory by the
//! accumulator a shard uses.

use std::collections::{BTreeMap, BTreeSet};

use influxql::ast::{BinaryOp, Expr, Literal, SelectStatement};
use schemas::FieldType;

use super::{invalid, Plan};
use crate::result::{Cell, Series};
use crate::select::scan::{self, MeasurementScan, ScanMode, ScanRequest};
use crate::select::value::{Regexes, Val};
use crate::select::QueryError;

/// A subquery narrowed to the outer statement's explicit time bounds, as
/// InfluxDB 1.6 runs it: the inner aggregates see only the outer range.
pub(super) fn with_outer_time_range(
    q: &SelectStatement,
    range: &influxql::TimeRange,
) -> SelectStatement {
    let mut q = q.clone();
    let bound = |op, t| Expr::binary(Expr::var("time"), op, Expr::Literal(Literal::Time(t)));
    let mut bounds = Vec::new();
    if let Some(min) = range.min {
        bounds.push(bound(BinaryOp::GtEq, min));
    }
    if let Some(max) = range.max {
        bounds.push(bound(BinaryOp::LtEq, max));
    }
    for b in bounds {
        q.and_condition(b);
    }
    q
}

/// The schema of a subquery's answer: its series are the measurements,
/// their GROUP BY tags the tags, their columns the fields (typed by their
/// first value).
pub(super) fn inner_schema(
    series: &[Series],
    fields: &mut BTreeMap<String, FieldType>,
    tags: &mut BTreeSet<String>,
    measurements: &mut BTreeSet<String>,
) {
    for s in series {
        measurements.insert(s.name.clone());
        tags.extend(s.tags.keys().cloned());
        for (i, c) in s.columns.iter().enumerate().skip(1) {
            let ty = s.values.iter().find_map(|r| match r.get(i) {
                Some(Cell::Float(_)) => Some(FieldType::Float),
                Some(Cell::Integer(_)) => Some(FieldType::Integer),
                Some(Cell::Unsigned(_)) => Some(FieldType::Unsigned),
                Some(Cell::String(_)) => Some(FieldType::String),
                Some(Cell::Boolean(_)) => Some(FieldType::Boolean),
                _ => None,
            });
            if let Some(ty) = ty {
                fields.entry(c.clone()).or_insert(ty);
            }
        }
    }
}

impl Plan {
    /// Scans a subquery's answer as one shard would scan stored series.
    pub(super) fn scan_inner(
        &self,
        series: &[Series],
        measurements: Vec<MeasurementScan>,
        mode: ScanMode,
    ) -> Result<scan::ScanResponse, QueryError> {
        let req = ScanRequest {
            shard_id: 0,
            wait_offset: None,
            min_time: self.min,
            max_time: self.max,
            group_by: self.group_by.clone(),
            window: self.window,
            measurements,
            mode,
            max_series: 0,
            max_points: 0,
        };
        let mut acc = scan::Accumulator::new(&req);
        for m in &req.measurements {
            let re = match &m.cond {
                Some(c) => Regexes::compile(c).map_err(|e| invalid(e.to_string()))?,
                None => Regexes::default(),
            };
            for s in series.iter().filter(|s| s.name == m.name) {
                let tags: Vec<(String, String)> =
                    s.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let idx: Vec<Option<usize>> = m
                    .cols
                    .iter()
                    .map(|c| s.columns.iter().skip(1).position(|x| x == c).map(|i| i + 1))
                    .collect();
                let mut timestamps = Vec::new();
                let mut columns: Vec<Vec<Option<Val>>> = vec![Vec::new(); m.cols.len()];
                for row in &s.values {
                    let t = match row.first() {
                        Some(Cell::Time(t)) | Some(Cell::ZonedTime { ns: t, .. }) => *t,
                        _ => continue,
                    };
                    if t < self.min || t > self.max {
                        continue;
                    }
                    timestamps.push(t);
                    for (c, i) in idx.iter().enumerate() {
                        columns[c].push(i.and_then(|i| row.get(i)).and_then(val_of_cell));
                    }
                }
                acc.add_rows(
                    m,
                    m.cond.as_ref(),
                    &re,
                    scan::SeriesRows {
                        key: schemas::series_key::series_key(&s.name, &tags),
                        tags,
                        timestamps,
                        columns,
                    },
                );
            }
        }
        Ok(acc.finish())
    }
}

/// A result cell as a value (times and nulls are none).
fn val_of_cell(c: &Cell) -> Option<Val> {
    match c {
        Cell::Float(f) => Some(Val::Float(*f)),
        Cell::Integer(i) => Some(Val::Int(*i)),
        Cell::Unsigned(u) => Some(Val::Uns(*u)),
        Cell::String(s) => Some(Val::Str(s.clone())),
        Cell::Boolean(b) => Some(Val::Bool(*b)),
        Cell::Null | Cell::Time(_) | Cell::ZonedTime { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subquery_answer_reads_as_a_schema() {
        let series = vec![Series {
            name: "h2o_feet".into(),
            tags: [("location".to_owned(), "santa_monica".to_owned())].into(),
            columns: vec!["time".into(), "max".into(), "note".into()],
            values: vec![
                vec![Cell::Time(0), Cell::Null, Cell::String("x".into())],
                vec![Cell::Time(1), Cell::Float(2.5), Cell::Null],
            ],
            partial: false,
        }];
        let (mut fields, mut tags, mut ms) = Default::default();
        inner_schema(&series, &mut fields, &mut tags, &mut ms);
        // Types come from the first non-null value of each column.
        assert_eq!(fields.get("max"), Some(&FieldType::Float));
        assert_eq!(fields.get("note"), Some(&FieldType::String));
        assert!(!fields.contains_key("time"));
        assert!(tags.contains("location"));
        assert!(ms.contains("h2o_feet"));
        assert_eq!(val_of_cell(&Cell::Time(5)), None);
        assert_eq!(val_of_cell(&Cell::Integer(5)), Some(Val::Int(5)));
    }

    #[test]
    fn subqueries_see_the_outer_time_range() {
        let stmt = match influxql::parse_statement(
            "SELECT max(x) FROM m WHERE a = 'b' OR c = 'd' GROUP BY t",
        ) {
            Ok(influxql::Statement::Select(s)) => s,
            other => panic!("not a select: {other:?}"),
        };
        let range = influxql::TimeRange {
            min: Some(10),
            max: None,
        };
        let q = with_outer_time_range(&stmt, &range);
        let split = influxql::split_condition(q.condition.as_ref(), 0, None).expect("split");
        assert_eq!(split.time_range.min, Some(10));
        assert_eq!(split.time_range.max, None);
        // The inner condition keeps its OR together.
        let rest = split.condition.expect("tag condition kept").to_string();
        assert!(rest.contains("OR"), "{rest}");
    }
}

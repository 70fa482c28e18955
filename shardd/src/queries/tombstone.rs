//! DELETE, DROP SERIES and DROP MEASUREMENT as tombstone records in the log.
//!
//! ```text
//!  statement ──▶ measurement matchers (FROM), tag predicate and time range (WHERE)
//!            ──▶ every live shard group of every RP of the database overlapping the range
//!            ──▶ one Tombstone per (shard, source), produced acks=all to partition shard.index
//!            ──▶ answer once Kafka acknowledged all of them
//! ```
//!
//! Every replica applies a tombstone at its place in the partition's log, so
//! replicas stay identical and a rebuild by replay deletes the same points.
//! A shard group created after the statement gets no tombstone: like
//! InfluxDB, a delete affects only data that existed when it ran.

use std::sync::Arc;

use influxql::{BinaryOp, Expr, Literal, MeasurementName, Source, Statement};
use ingest::produce::{ProduceError, Producer};
use schemas::meta::MetaData;
use schemas::record::{record_key, DeleteKind, NameMatcher, TagPredicate, Tombstone};
use tracing::info;

/// Smallest time a delete covers (InfluxDB's `MinTime`).
const MIN_TIME: i64 = influxql::time::MIN_TIME;
/// Largest time a delete covers (InfluxDB's `MaxTime`).
const MAX_TIME: i64 = influxql::time::MAX_TIME;

/// Produces tombstones for delete statements.
pub struct TombstoneWriter {
    producer: Arc<Producer>,
}

impl std::fmt::Debug for TombstoneWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TombstoneWriter").finish_non_exhaustive()
    }
}

/// What a delete statement removes, before it is addressed to shards.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletePlan {
    /// Which statement asked: what is removed besides the points.
    pub kind: DeleteKind,
    /// One entry per FROM source; `[None]` for every measurement.
    pub measurements: Vec<Option<NameMatcher>>,
    /// The WHERE clause's condition on tags; `None` for every series.
    pub predicate: Option<TagPredicate>,
    /// First nanosecond deleted (inclusive).
    pub min_time: i64,
    /// Last nanosecond deleted (inclusive).
    pub max_time: i64,
}

impl TombstoneWriter {
    /// A writer producing through `producer` (acks=all, idempotent).
    pub fn new(producer: Arc<Producer>) -> Self {
        Self { producer }
    }

    /// Runs a DELETE / DROP SERIES / DROP MEASUREMENT on `database`.
    /// Returns InfluxDB's error text on failure.
    pub async fn execute(
        &self,
        md: &MetaData,
        database: &str,
        stmt: &Statement,
    ) -> Result<(), String> {
        let plan = plan(stmt, now_ns())?;
        let db = md
            .database(database)
            .ok_or_else(|| format!("database not found: {database}"))?;
        let records = tombstones(md, &db.name, &plan);
        let n = records.len();
        for (topic, partition, shards, t) in &records {
            // The group's topic normally exists (ingest made it with the
            // group); a group nobody wrote to yet may lack it.
            self.producer
                .ensure_topic(topic, *shards)
                .await
                .map_err(|e| e.to_string())?;
            self.producer
                .send_record(topic, *partition, &record_key(t.shard_id), &t.encode())
                .await
                .map_err(|e: ProduceError| e.to_string())?;
        }
        info!(database, kind = ?plan.kind, tombstones = n, "delete acknowledged");
        Ok(())
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The tombstones of `plan` on `database`: `(topic, partition, shards in
/// the group, record)` for every shard of every live group overlapping the
/// time range.
pub fn tombstones(
    md: &MetaData,
    database: &str,
    plan: &DeletePlan,
) -> Vec<(String, i32, usize, Tombstone)> {
    let mut out = Vec::new();
    let Some(db) = md.database(database) else {
        return out;
    };
    for rp in db.retention_policies.values() {
        for g in rp.shard_groups.values() {
            if g.deleted_at_ns.is_some() || g.end_ns <= plan.min_time || g.start_ns > plan.max_time
            {
                continue;
            }
            for shard in &g.shards {
                for m in &plan.measurements {
                    out.push((
                        g.topic.clone(),
                        shard.index as i32,
                        g.shards.len(),
                        Tombstone {
                            database: db.name.clone(),
                            retention_policy: rp.name.clone(),
                            shard_id: shard.id,
                            kind: plan.kind,
                            measurement: m.clone(),
                            predicate: plan.predicate.clone(),
                            min_time: plan.min_time,
                            max_time: plan.max_time,
                        },
                    ));
                }
            }
        }
    }
    out
}

/// Turns a delete statement into what its tombstones say.
pub fn plan(stmt: &Statement, now: i64) -> Result<DeletePlan, String> {
    match stmt {
        Statement::Delete(d) => {
            let (predicate, min_time, max_time) = split_condition(d.condition.as_ref(), now)?;
            Ok(DeletePlan {
                kind: DeleteKind::Delete,
                measurements: matchers(&d.sources)?,
                predicate,
                min_time,
                max_time,
            })
        }
        Statement::DropSeries(d) => {
            let (predicate, min_time, max_time) = split_condition(d.condition.as_ref(), now)?;
            if (min_time, max_time) != (MIN_TIME, MAX_TIME) {
                return Err("DROP SERIES doesn't support time in WHERE clause".into());
            }
            Ok(DeletePlan {
                kind: DeleteKind::DropSeries,
                measurements: matchers(&d.sources)?,
                predicate,
                min_time,
                max_time,
            })
        }
        Statement::DropMeasurement(d) => Ok(DeletePlan {
            kind: DeleteKind::DropMeasurement,
            measurements: vec![Some(NameMatcher {
                regex: false,
                pattern: d.name.clone(),
            })],
            predicate: None,
            min_time: MIN_TIME,
            max_time: MAX_TIME,
        }),
        _ => Err("not a delete statement".into()),
    }
}

fn matchers(sources: &[Source]) -> Result<Vec<Option<NameMatcher>>, String> {
    if sources.is_empty() {
        return Ok(vec![None]);
    }
    sources
        .iter()
        .map(|s| match s {
            Source::Measurement(m) => Ok(Some(match &m.name {
                MeasurementName::Name(n) => NameMatcher {
                    regex: false,
                    pattern: n.clone(),
                },
                MeasurementName::Regex(r) => NameMatcher {
                    regex: true,
                    pattern: r.as_str().to_owned(),
                },
            })),
            Source::Subquery(_) => Err("subqueries are not allowed in a delete".to_owned()),
        })
        .collect()
}

const FIELDS_NOT_SUPPORTED: &str = "fields not supported in WHERE clause during deletion";

/// Splits a WHERE clause into a tag predicate and an inclusive time range.
/// Time terms must be ANDed at the top level, as InfluxDB requires.
fn split_condition(
    cond: Option<&Expr>,
    now: i64,
) -> Result<(Option<TagPredicate>, i64, i64), String> {
    let mut min = MIN_TIME;
    let mut max = MAX_TIME;
    let Some(cond) = cond else {
        return Ok((None, min, max));
    };
    let mut rest = Vec::new();
    let mut conjuncts = Vec::new();
    flatten_and(cond, &mut conjuncts);
    for c in conjuncts {
        if let Some((op, t)) = time_term(c, now)? {
            match op {
                BinaryOp::Gt => min = min.max(t.saturating_add(1)),
                BinaryOp::GtEq => min = min.max(t),
                BinaryOp::Lt => max = max.min(t.saturating_sub(1)),
                BinaryOp::LtEq => max = max.min(t),
                BinaryOp::Eq => {
                    min = min.max(t);
                    max = max.min(t);
                }
                _ => return Err("invalid time comparison operator".into()),
            }
        } else {
            rest.push(c);
        }
    }
    let predicate = match rest.len() {
        0 => None,
        1 => Some(tag_predicate(rest[0])?),
        _ => Some(TagPredicate::And(
            rest.into_iter()
                .map(tag_predicate)
                .collect::<Result<_, _>>()?,
        )),
    };
    Ok((predicate, min, max))
}

fn flatten_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e.unparen() {
        Expr::Binary(b) if b.op == BinaryOp::And => {
            flatten_and(&b.lhs, out);
            flatten_and(&b.rhs, out);
        }
        other => out.push(other),
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(v) if v.name.eq_ignore_ascii_case("time"))
}

/// `time <op> value` (either side) as (op with time on the left, ns).
fn time_term(e: &Expr, now: i64) -> Result<Option<(BinaryOp, i64)>, String> {
    let Expr::Binary(b) = e.unparen() else {
        return Ok(None);
    };
    let (op, value) = if is_time(&b.lhs) {
        (b.op, &b.rhs)
    } else if is_time(&b.rhs) {
        let flipped = match b.op {
            BinaryOp::Lt => BinaryOp::Gt,
            BinaryOp::LtEq => BinaryOp::GtEq,
            BinaryOp::Gt => BinaryOp::Lt,
            BinaryOp::GtEq => BinaryOp::LtEq,
            other => other,
        };
        (flipped, &b.lhs)
    } else {
        if contains_time(e) {
            return Err("invalid time condition in a delete".into());
        }
        return Ok(None);
    };
    Ok(Some((op, time_value(value, now)?)))
}

fn contains_time(e: &Expr) -> bool {
    match e.unparen() {
        Expr::Binary(b) => contains_time(&b.lhs) || contains_time(&b.rhs),
        other => is_time(other),
    }
}

fn time_value(e: &Expr, now: i64) -> Result<i64, String> {
    match e.unparen() {
        Expr::Literal(Literal::String(s)) => {
            influxql::time::parse_time_string(s, None).map_err(|_| {
                "invalid operation: time and *influxql.StringLiteral are not compatible".to_owned()
            })
        }
        Expr::Literal(Literal::Time(t)) => Ok(*t),
        Expr::Literal(Literal::Integer(i)) => Ok(*i),
        Expr::Literal(Literal::Duration(d)) => Ok(*d),
        Expr::Literal(Literal::Float(f)) => Ok(*f as i64),
        Expr::Call(c) if c.name == "now" && c.args.is_empty() => Ok(now),
        Expr::Binary(b) if matches!(b.op, BinaryOp::Add | BinaryOp::Sub) => {
            let l = time_value(&b.lhs, now)?;
            let r = time_value(&b.rhs, now)?;
            Ok(if b.op == BinaryOp::Add {
                l.saturating_add(r)
            } else {
                l.saturating_sub(r)
            })
        }
        _ => Err("invalid time expression in a delete".into()),
    }
}

fn tag_key(e: &Expr) -> Option<&str> {
    match e.unparen() {
        Expr::VarRef(v) => Some(&v.name),
        _ => None,
    }
}

/// A WHERE clause over tags as a [`TagPredicate`]. Anything else (field
/// comparisons, arithmetic) is refused with InfluxDB's message.
fn tag_predicate(e: &Expr) -> Result<TagPredicate, String> {
    let Expr::Binary(b) = e.unparen() else {
        return Err(FIELDS_NOT_SUPPORTED.into());
    };
    match b.op {
        BinaryOp::And | BinaryOp::Or => {
            let l = tag_predicate(&b.lhs)?;
            let r = tag_predicate(&b.rhs)?;
            Ok(if b.op == BinaryOp::And {
                TagPredicate::And(vec![l, r])
            } else {
                TagPredicate::Or(vec![l, r])
            })
        }
        BinaryOp::Eq | BinaryOp::NotEq | BinaryOp::EqRegex | BinaryOp::NotEqRegex => {
            let (key, value) = match (tag_key(&b.lhs), tag_key(&b.rhs)) {
                (Some(k), None) => (k, b.rhs.unparen()),
                (None, Some(k)) => (k, b.lhs.unparen()),
                _ => return Err(FIELDS_NOT_SUPPORTED.into()),
            };
            let key = key.to_owned();
            match (b.op, value) {
                (BinaryOp::Eq, Expr::Literal(Literal::String(v))) => Ok(TagPredicate::Eq {
                    key,
                    value: v.clone(),
                }),
                (BinaryOp::NotEq, Expr::Literal(Literal::String(v))) => Ok(TagPredicate::NotEq {
                    key,
                    value: v.clone(),
                }),
                (BinaryOp::EqRegex, Expr::Literal(Literal::Regex(r))) => Ok(TagPredicate::Match {
                    key,
                    regex: r.as_str().to_owned(),
                }),
                (BinaryOp::NotEqRegex, Expr::Literal(Literal::Regex(r))) => {
                    Ok(TagPredicate::NotMatch {
                        key,
                        regex: r.as_str().to_owned(),
                    })
                }
                _ => Err(FIELDS_NOT_SUPPORTED.into()),
            }
        }
        _ => Err(FIELDS_NOT_SUPPORTED.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Result<DeletePlan, String> {
        plan(&influxql::parse_statement(q).expect("parses"), 1_000)
    }

    #[test]
    fn delete_with_time_and_tags() {
        let d = p("DELETE FROM \"h2o_feet\" WHERE \"location\" = 'santa_monica' AND time >= '2015-08-25T00:00:00Z' AND time < '2015-08-26T00:00:00Z'")
            .expect("plans");
        assert_eq!(d.kind, DeleteKind::Delete);
        assert_eq!(
            d.measurements,
            vec![Some(NameMatcher {
                regex: false,
                pattern: "h2o_feet".into()
            })]
        );
        assert_eq!(
            d.predicate,
            Some(TagPredicate::Eq {
                key: "location".into(),
                value: "santa_monica".into()
            })
        );
        assert_eq!(d.min_time, 1_440_460_800_000_000_000);
        assert_eq!(d.max_time, 1_440_547_200_000_000_000 - 1);
    }

    #[test]
    fn delete_regex_sources_and_no_where() {
        let d = p("DELETE FROM /h2o_[pP]H/").expect("plans");
        assert_eq!(d.measurements[0].as_ref().map(|m| m.regex), Some(true));
        assert_eq!(d.predicate, None);
        assert_eq!((d.min_time, d.max_time), (MIN_TIME, MAX_TIME));
        let all = p("DELETE WHERE \"randtag\" = '3'").expect("plans");
        assert_eq!(all.measurements, vec![None]);
        let now = p("DELETE FROM cpu WHERE time < now() - 1s").expect("plans");
        assert_eq!(now.max_time, 1_000 - 1_000_000_000 - 1);
    }

    #[test]
    fn errors_like_influxdb() {
        assert_eq!(
            p("DELETE FROM \"h2o_feet\" WHERE \"water_level\" > 5").unwrap_err(),
            FIELDS_NOT_SUPPORTED
        );
        assert_eq!(
            p("DROP SERIES FROM \"h2o_feet\" WHERE time > '2015-08-20T00:00:00Z'").unwrap_err(),
            "DROP SERIES doesn't support time in WHERE clause"
        );
    }

    #[test]
    fn drop_series_and_measurement() {
        let d =
            p("DROP SERIES WHERE \"hostname\" = 'host_3' OR \"region\" =~ /eu/").expect("plans");
        assert_eq!(d.kind, DeleteKind::DropSeries);
        assert!(matches!(d.predicate, Some(TagPredicate::Or(ref v)) if v.len() == 2));
        let m = p("DROP MEASUREMENT \"weird meas\"").expect("plans");
        assert_eq!(m.kind, DeleteKind::DropMeasurement);
        assert_eq!(
            m.measurements[0].as_ref().map(|m| m.pattern.as_str()),
            Some("weird meas")
        );
    }
}

//! The index SHOW statements (`SHOW MEASUREMENTS`, `TAG KEYS`,
//! `TAG VALUES`, `FIELD KEYS`, `SERIES`), answered from every shard of the
//! database's retention policy through the same owner-retry fan-out as
//! SELECT: series keys (filtered by the tag condition on the shard) and
//! field schemas, merged and sorted on the coordinator.

use std::collections::{BTreeMap, BTreeSet};

use influxql::ast::{
    CardinalityKind, Expr, MeasurementName, ShowCardinalityStatement, Source, Statement,
    TagKeyPredicate,
};
use schemas::meta::Shard as MetaShard;
use schemas::series_key::parse_series_key;

use crate::result::{Cell, Series};
use crate::select::scan::{SchemaRequest, SeriesRequest, SourceMatch};
use crate::select::value::{Ex, Op, Val};
use crate::select::{QueryContext, QueryError};
use crate::shards::ShardReader;
use crate::shards::{ShardOp, ShardOut};

fn sources_of(sources: &[Source]) -> Vec<SourceMatch> {
    sources
        .iter()
        .filter_map(|s| match s {
            Source::Measurement(m) => Some(match &m.name {
                MeasurementName::Name(n) => SourceMatch::Name(n.clone()),
                MeasurementName::Regex(r) => SourceMatch::Regex(r.as_str().to_owned()),
            }),
            Source::Subquery(_) => None,
        })
        .collect()
}

/// A tag-only condition: every name is a tag.
fn tag_cond(e: &Expr) -> Result<Ex, QueryError> {
    use influxql::ast::{BinaryOp as B, Literal as L};
    Ok(match e {
        Expr::Paren(p) => tag_cond(p)?,
        Expr::VarRef(v) => Ex::Tag(v.name.clone()),
        Expr::Literal(L::String(s)) => Ex::Lit(Some(Val::Str(s.clone()))),
        Expr::Literal(L::Regex(r)) => Ex::Regex(r.as_str().to_owned()),
        Expr::Literal(L::Boolean(b)) => Ex::Lit(Some(Val::Bool(*b))),
        Expr::Binary(b) => {
            let op = match b.op {
                B::And => Op::And,
                B::Or => Op::Or,
                B::Eq => Op::Eq,
                B::NotEq => Op::NotEq,
                B::EqRegex => Op::EqRegex,
                B::NotEqRegex => Op::NotEqRegex,
                B::Lt => Op::Lt,
                B::LtEq => Op::LtEq,
                B::Gt => Op::Gt,
                B::GtEq => Op::GtEq,
                _ => return Err(QueryError::Invalid(format!("invalid condition: {e}"))),
            };
            Ex::Bin(op, Box::new(tag_cond(&b.lhs)?), Box::new(tag_cond(&b.rhs)?))
        }
        other => return Err(QueryError::Invalid(format!("invalid condition: {other}"))),
    })
}

/// Field keys and types per measurement of `sources` (every measurement
/// when there are none) across all shards of the database; a field that
/// has different types in different shards keeps the first one seen.
async fn field_types(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    database: Option<&String>,
    sources: &[Source],
) -> Result<BTreeMap<String, BTreeMap<String, schemas::FieldType>>, QueryError> {
    let mut sources = sources_of(sources);
    if sources.is_empty() {
        sources.push(SourceMatch::Regex(String::new()));
    }
    let outs = fan_out(reader, ctx, database, |shard_id| {
        ShardOp::Schema(SchemaRequest {
            shard_id,
            sources: sources.clone(),
        })
    })
    .await?;
    let mut by_m: BTreeMap<String, BTreeMap<String, schemas::FieldType>> = BTreeMap::new();
    for o in outs {
        if let ShardOut::Schema(ms) = o {
            for m in ms {
                let e = by_m.entry(m.name).or_default();
                for (f, t) in m.fields {
                    e.entry(f).or_insert(t);
                }
            }
        }
    }
    Ok(by_m)
}

async fn fan_out(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    database: Option<&String>,
    make: impl Fn(u64) -> ShardOp,
) -> Result<Vec<ShardOut>, QueryError> {
    let db = database
        .cloned()
        .or_else(|| ctx.database.clone())
        .filter(|d| !d.is_empty())
        .ok_or(QueryError::DatabaseRequired)?;
    let md = reader.meta();
    let database = md
        .database(&db)
        .ok_or_else(|| QueryError::DatabaseNotFound(db.clone()))?;
    // Index statements see every retention policy of the database.
    let shards: Vec<MetaShard> = database
        .retention_policies
        .values()
        .flat_map(|rp| rp.shard_groups.values())
        .filter(|g| g.deleted_at_ns.is_none())
        .flat_map(|g| g.shards.iter().cloned())
        .collect();
    let calls = shards
        .into_iter()
        .map(|s| (s.clone(), make(s.id)))
        .collect();
    crate::select::dispatch_calls(reader, &md, calls).await
}

async fn series_keys(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    database: Option<&String>,
    sources: &[Source],
    cond: Option<&Expr>,
) -> Result<BTreeSet<String>, QueryError> {
    Ok(series_keys_per_shard(reader, ctx, database, sources, cond)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// The matching series keys of every shard, one list per shard.
async fn series_keys_per_shard(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    database: Option<&String>,
    sources: &[Source],
    cond: Option<&Expr>,
) -> Result<Vec<Vec<String>>, QueryError> {
    let sources = sources_of(sources);
    let cond = cond.map(tag_cond).transpose()?;
    let outs = fan_out(reader, ctx, database, |shard_id| {
        ShardOp::Series(SeriesRequest {
            shard_id,
            sources: sources.clone(),
            cond: cond.clone(),
        })
    })
    .await?;
    Ok(outs
        .into_iter()
        .filter_map(|o| match o {
            ShardOut::Series(k) => Some(k.into_iter().collect()),
            _ => None,
        })
        .collect())
}

fn page<T>(v: Vec<T>, limit: u64, offset: u64) -> Vec<T> {
    let it = v.into_iter().skip(offset as usize);
    if limit > 0 {
        it.take(limit as usize).collect()
    } else {
        it.collect()
    }
}

fn one(name: &str, columns: &[&str], values: Vec<Vec<Cell>>) -> Vec<Series> {
    if values.is_empty() {
        return Vec::new();
    }
    vec![Series {
        name: name.to_owned(),
        tags: Default::default(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        values,
        partial: false,
    }]
}

fn key_matches(p: &TagKeyPredicate, k: &str) -> bool {
    match p {
        TagKeyPredicate::Eq(x) => x == k,
        TagKeyPredicate::NotEq(x) => x != k,
        TagKeyPredicate::EqRegex(r) => r.is_match(k),
        TagKeyPredicate::NotEqRegex(r) => !r.is_match(k),
        TagKeyPredicate::In(v) => v.iter().any(|x| x == k),
    }
}

/// Answers an index SHOW statement; other statements are refused.
pub async fn show(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    stmt: &Statement,
) -> Result<Vec<Series>, QueryError> {
    match stmt {
        Statement::ShowMeasurements(s) => {
            let mut sources = Vec::new();
            if let Some(m) = &s.with_measurement {
                sources.push(Source::Measurement(m.clone()));
            }
            let keys = match series_keys(
                reader,
                ctx,
                s.database.as_ref(),
                &sources,
                s.condition.as_ref(),
            )
            .await
            {
                Ok(k) => k,
                // InfluxDB 1.6 lists no measurements of a database it does
                // not have, where the other SHOWs report it missing.
                Err(QueryError::DatabaseNotFound(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let names: BTreeSet<String> = keys
                .iter()
                .filter_map(|k| parse_series_key(k).map(|(m, _)| m))
                .collect();
            let values = page(names.into_iter().collect(), s.limit, s.offset)
                .into_iter()
                .map(|n| vec![Cell::String(n)])
                .collect();
            Ok(one("measurements", &["name"], values))
        }
        Statement::ShowTagKeys(s) => {
            let keys = series_keys(
                reader,
                ctx,
                s.database.as_ref(),
                &s.sources,
                s.condition.as_ref(),
            )
            .await?;
            let mut by_m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for k in &keys {
                if let Some((m, tags)) = parse_series_key(k) {
                    by_m.entry(m)
                        .or_default()
                        .extend(tags.into_iter().map(|(k, _)| k));
                }
            }
            let mut out = Vec::new();
            for (m, tk) in page(by_m.into_iter().collect(), s.slimit, s.soffset) {
                let values = page(tk.into_iter().collect(), s.limit, s.offset)
                    .into_iter()
                    .map(|k| vec![Cell::String(k)])
                    .collect();
                out.extend(one(&m, &["tagKey"], values));
            }
            Ok(out)
        }
        Statement::ShowTagValues(s) => {
            let keys = series_keys(
                reader,
                ctx,
                s.database.as_ref(),
                &s.sources,
                s.condition.as_ref(),
            )
            .await?;
            let mut by_m: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
            for k in &keys {
                if let Some((m, tags)) = parse_series_key(k) {
                    let e = by_m.entry(m).or_default();
                    for (tk, tv) in tags {
                        if key_matches(&s.key, &tk) {
                            e.insert((tk, tv));
                        }
                    }
                }
            }
            let mut out = Vec::new();
            for (m, kv) in by_m {
                let values = page(kv.into_iter().collect(), s.limit, s.offset)
                    .into_iter()
                    .map(|(k, v)| vec![Cell::String(k), Cell::String(v)])
                    .collect();
                out.extend(one(&m, &["key", "value"], values));
            }
            Ok(out)
        }
        Statement::ShowFieldKeys(s) => {
            let by_m = field_types(reader, ctx, s.database.as_ref(), &s.sources).await?;
            let mut out = Vec::new();
            for (m, fields) in by_m {
                let values = page(fields.into_iter().collect(), s.limit, s.offset)
                    .into_iter()
                    .map(|(f, t)| vec![Cell::String(f), Cell::String(t.as_str().to_owned())])
                    .collect();
                out.extend(one(&m, &["fieldKey", "fieldType"], values));
            }
            Ok(out)
        }
        Statement::ShowSeries(s) => {
            let keys = series_keys(
                reader,
                ctx,
                s.database.as_ref(),
                &s.sources,
                s.condition.as_ref(),
            )
            .await?;
            let values = page(keys.into_iter().collect(), s.limit, s.offset)
                .into_iter()
                .map(|k| vec![Cell::String(k)])
                .collect();
            Ok(one("", &["key"], values))
        }
        Statement::ShowCardinality(s) => cardinality(reader, ctx, s).await,
        _ => Err(QueryError::Invalid("not an index SHOW statement".into())),
    }
}

/// `SHOW ... [EXACT] CARDINALITY`, counted exactly over every shard
/// (distinct across shards). As InfluxDB 1.6 answers: series and
/// measurement cardinality without FROM or WHERE and without EXACT is one
/// `cardinality estimation` (exact here: the sets are counted, not
/// sketched); measurement counts are one `count`; the others one `count`
/// series per measurement, measurements counting nothing left out.
async fn cardinality(
    reader: &dyn ShardReader,
    ctx: &QueryContext,
    s: &ShowCardinalityStatement,
) -> Result<Vec<Series>, QueryError> {
    let estimate = !s.exact && s.sources.is_empty() && s.condition.is_none();
    let single = |column: &str, n: usize| {
        vec![Series {
            name: String::new(),
            tags: Default::default(),
            columns: vec![column.to_owned()],
            values: vec![vec![Cell::Integer(n as i64)]],
            partial: false,
        }]
    };
    let per_measurement = |counts: BTreeMap<String, usize>| -> Vec<Series> {
        counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .flat_map(|(m, n)| one(&m, &["count"], vec![vec![Cell::Integer(n as i64)]]))
            .collect()
    };
    if let CardinalityKind::FieldKey = s.kind {
        let by_m = field_types(reader, ctx, s.database.as_ref(), &s.sources).await?;
        return Ok(per_measurement(
            by_m.into_iter().map(|(m, f)| (m, f.len())).collect(),
        ));
    }
    let per_shard = match series_keys_per_shard(
        reader,
        ctx,
        s.database.as_ref(),
        &s.sources,
        s.condition.as_ref(),
    )
    .await
    {
        Ok(k) => k,
        // An estimate over a database InfluxDB does not have is 0.
        Err(QueryError::DatabaseNotFound(_)) if estimate => Vec::new(),
        Err(e) => return Err(e),
    };
    if let CardinalityKind::Series = s.kind {
        if !estimate {
            return Ok(per_measurement(series_counts(&per_shard)));
        }
    }
    let keys: BTreeSet<String> = per_shard.into_iter().flatten().collect();
    let parsed: Vec<(String, Vec<(String, String)>)> =
        keys.iter().filter_map(|k| parse_series_key(k)).collect();
    Ok(match &s.kind {
        CardinalityKind::Series => single("cardinality estimation", parsed.len()),
        CardinalityKind::Measurement => {
            let names: BTreeSet<&String> = parsed.iter().map(|(m, _)| m).collect();
            let column = if estimate {
                "cardinality estimation"
            } else {
                "count"
            };
            single(column, names.len())
        }
        CardinalityKind::TagKey => {
            let mut by_m: BTreeMap<String, BTreeSet<&String>> = BTreeMap::new();
            for (m, tags) in &parsed {
                by_m.entry(m.clone())
                    .or_default()
                    .extend(tags.iter().map(|(k, _)| k));
            }
            per_measurement(by_m.into_iter().map(|(m, k)| (m, k.len())).collect())
        }
        CardinalityKind::TagValues(pred) => {
            let mut by_m: BTreeMap<String, BTreeSet<(&String, &String)>> = BTreeMap::new();
            for (m, tags) in &parsed {
                let e = by_m.entry(m.clone()).or_default();
                for (k, v) in tags {
                    if key_matches(pred, k) {
                        e.insert((k, v));
                    }
                }
            }
            per_measurement(by_m.into_iter().map(|(m, kv)| (m, kv.len())).collect())
        }
        CardinalityKind::FieldKey => unreachable!("answered above"),
    })
}

/// Series per measurement as `SHOW SERIES EXACT CARDINALITY` counts them in
/// InfluxDB 1.6: in each shard, added up (a series in three shards counts
/// three).
fn series_counts(per_shard: &[Vec<String>]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for key in per_shard.iter().flatten() {
        if let Some((m, _)) = parse_series_key(key) {
            *counts.entry(m).or_default() += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_series_cardinality_adds_shards_up() {
        let shard = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let per_shard = vec![
            shard(&["cpu,host=a", "cpu,host=b", "mem,host=a"]),
            shard(&["cpu,host=a"]),
        ];
        let counts = series_counts(&per_shard);
        assert_eq!(counts.get("cpu"), Some(&3));
        assert_eq!(counts.get("mem"), Some(&1));
    }
}

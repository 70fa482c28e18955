//! The answers of SHOW statements read from the meta data alone, in
//! InfluxDB 1.6's columns and formats.

use query::format::rfc3339;
use query::result::{Cell, Series};
use schemas::meta::{MetaData, User};

fn s(v: &str) -> Cell {
    Cell::String(v.to_owned())
}

fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|c| (*c).to_owned()).collect()
}

/// `SHOW DATABASES`: a non-admin user sees the databases it may read.
pub fn show_databases(md: &MetaData, user: Option<&User>) -> Series {
    Series {
        name: "databases".into(),
        columns: cols(&["name"]),
        values: md
            .databases
            .keys()
            .filter(|db| user.is_none_or(|u| u.admin || u.can_read(db)))
            .map(|db| vec![s(db)])
            .collect(),
        ..Default::default()
    }
}

/// `SHOW RETENTION POLICIES`, durations as Go prints them (`168h0m0s`).
pub fn show_retention_policies(md: &MetaData, db: &str) -> Result<Series, String> {
    let d = md
        .database(db)
        .ok_or_else(|| format!("database not found: {db}"))?;
    Ok(Series {
        columns: cols(&[
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ]),
        values: d
            .retention_policies
            .values()
            .map(|rp| {
                vec![
                    s(&rp.name),
                    s(&influxql::format_go_duration(rp.duration_ns as i64)),
                    s(&influxql::format_go_duration(
                        rp.shard_group_duration_ns as i64,
                    )),
                    Cell::Integer(i64::from(rp.replication_factor)),
                    Cell::Boolean(d.default_retention_policy.as_deref() == Some(&rp.name)),
                ]
            })
            .collect(),
        ..Default::default()
    })
}

/// RFC3339 without fractions, as InfluxDB formats shard times.
fn rfc3339_secs(ns: i64) -> String {
    rfc3339(ns.div_euclid(1_000_000_000) * 1_000_000_000)
}

/// `SHOW SHARDS`: one series per database, deleted groups left out.
pub fn show_shards(md: &MetaData) -> Vec<Series> {
    md.databases
        .values()
        .map(|db| {
            let mut values = Vec::new();
            for rp in db.retention_policies.values() {
                for g in rp
                    .shard_groups
                    .values()
                    .filter(|g| g.deleted_at_ns.is_none())
                {
                    let expiry = g.end_ns.saturating_add(rp.duration_ns as i64);
                    for sh in &g.shards {
                        let owners: Vec<String> = sh.owners.iter().map(u64::to_string).collect();
                        values.push(vec![
                            Cell::Integer(sh.id as i64),
                            s(&db.name),
                            s(&rp.name),
                            Cell::Integer(g.id as i64),
                            s(&rfc3339_secs(g.start_ns)),
                            s(&rfc3339_secs(g.end_ns)),
                            s(&rfc3339_secs(expiry)),
                            s(&owners.join(",")),
                        ]);
                    }
                }
            }
            Series {
                name: db.name.clone(),
                columns: cols(&[
                    "id",
                    "database",
                    "retention_policy",
                    "shard_group",
                    "start_time",
                    "end_time",
                    "expiry_time",
                    "owners",
                ]),
                values,
                ..Default::default()
            }
        })
        .collect()
}

/// `SHOW SHARD GROUPS`.
pub fn show_shard_groups(md: &MetaData) -> Series {
    let mut values = Vec::new();
    for db in md.databases.values() {
        for rp in db.retention_policies.values() {
            for g in rp
                .shard_groups
                .values()
                .filter(|g| g.deleted_at_ns.is_none())
            {
                let expiry = g.end_ns.saturating_add(rp.duration_ns as i64);
                values.push(vec![
                    Cell::Integer(g.id as i64),
                    s(&db.name),
                    s(&rp.name),
                    s(&rfc3339_secs(g.start_ns)),
                    s(&rfc3339_secs(g.end_ns)),
                    s(&rfc3339_secs(expiry)),
                ]);
            }
        }
    }
    Series {
        name: "shard groups".into(),
        columns: cols(&[
            "id",
            "database",
            "retention_policy",
            "start_time",
            "end_time",
            "expiry_time",
        ]),
        values,
        ..Default::default()
    }
}

/// `SHOW USERS`.
pub fn show_users(md: &MetaData) -> Series {
    Series {
        columns: cols(&["user", "admin"]),
        values: md
            .users
            .values()
            .map(|u| vec![s(&u.name), Cell::Boolean(u.admin)])
            .collect(),
        ..Default::default()
    }
}

/// `SHOW GRANTS FOR user`.
pub fn show_grants(md: &MetaData, user: &str) -> Result<Series, String> {
    let u = md.users.get(user).ok_or("user not found")?;
    Ok(Series {
        columns: cols(&["database", "privilege"]),
        values: u
            .privileges
            .iter()
            .map(|(db, p)| vec![s(db), s(p.as_str())])
            .collect(),
        ..Default::default()
    })
}

/// `SHOW CONTINUOUS QUERIES`: one series per database.
pub fn show_continuous_queries(md: &MetaData) -> Vec<Series> {
    md.databases
        .values()
        .map(|db| Series {
            name: db.name.clone(),
            columns: cols(&["name", "query"]),
            values: db
                .continuous_queries
                .values()
                .map(|cq| vec![s(&cq.name), s(&cq.query)])
                .collect(),
            ..Default::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::queries::statements::test_user as user;
    use schemas::meta::{Database, Privilege, RetentionPolicy};

    fn md() -> MetaData {
        let mut md = MetaData::default();
        let mut rps = BTreeMap::new();
        rps.insert(
            "autogen".to_owned(),
            RetentionPolicy {
                name: "autogen".into(),
                duration_ns: 0,
                shard_group_duration_ns: 7 * 86_400_000_000_000,
                replication_factor: 1,
                shard_count: None,
                log_retention_ns: None,
                shard_groups: BTreeMap::new(),
            },
        );
        rps.insert(
            "mixed".to_owned(),
            RetentionPolicy {
                name: "mixed".into(),
                duration_ns: 5_400_000_000_000,
                shard_group_duration_ns: 3_600_000_000_000,
                replication_factor: 2,
                shard_count: None,
                log_retention_ns: None,
                shard_groups: BTreeMap::new(),
            },
        );
        md.databases.insert(
            "db".into(),
            Database {
                name: "db".into(),
                default_retention_policy: Some("autogen".into()),
                retention_policies: rps,
                continuous_queries: BTreeMap::new(),
            },
        );
        md
    }

    #[test]
    fn retention_policies_like_influxdb() {
        let s = show_retention_policies(&md(), "db").expect("db exists");
        assert_eq!(s.name, "");
        assert_eq!(
            s.values[1],
            vec![
                Cell::String("mixed".into()),
                Cell::String("1h30m0s".into()),
                Cell::String("1h0m0s".into()),
                Cell::Integer(2),
                Cell::Boolean(false)
            ]
        );
        assert_eq!(s.values[0][1], Cell::String("0s".into()));
        assert_eq!(s.values[0][2], Cell::String("168h0m0s".into()));
        assert_eq!(
            show_retention_policies(&md(), "nope").unwrap_err(),
            "database not found: nope"
        );
    }

    #[test]
    fn databases_filtered_for_non_admins() {
        let md = md();
        assert_eq!(show_databases(&md, None).values.len(), 1);
        assert_eq!(show_databases(&md, Some(&user(false, &[]))).values.len(), 0);
        assert_eq!(
            show_databases(&md, Some(&user(false, &[("db", Privilege::Read)])))
                .values
                .len(),
            1
        );
    }
}

//! Filling in default database and retention policy, as InfluxDB does
//! before executing a statement (its `NormalizeStatement`). The stored text
//! of a continuous query is the normalized statement, which is why SHOW
//! CONTINUOUS QUERIES prints `FROM db.rp.m`.

use crate::ast::*;

/// Why a statement cannot be normalized; texts are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError<E> {
    /// A measurement with an empty name.
    #[error("invalid measurement")]
    InvalidMeasurement,
    /// No database in the statement and none given with the request.
    #[error("database name required")]
    DatabaseNameRequired,
    /// The resolver's error (e.g. `database not found: x`).
    #[error("{0}")]
    Resolve(E),
}

/// Fills in missing databases and retention policies of every measurement
/// (FROM sources, subqueries, INTO target, SHOW ... WITH MEASUREMENT) and
/// the `ON` database of SHOW statements.
///
/// - `default_db`: the request's `db` parameter;
/// - `default_rp`: the request's `rp` parameter, used for every measurement
///   without one;
/// - `db_default_rp(db)`: otherwise the database's default retention policy,
///   or the error to report (`database not found: db`,
///   `default retention policy not set for: db`).
///
/// DELETE and DROP SERIES are left alone: their sources may not name a
/// database or retention policy.
pub fn normalize_statement<E>(
    stmt: &mut Statement,
    default_db: Option<&str>,
    default_rp: Option<&str>,
    mut db_default_rp: impl FnMut(&str) -> Result<String, E>,
) -> Result<(), NormalizeError<E>> {
    let mut n = Normalizer {
        default_db,
        default_rp,
        resolve: &mut db_default_rp,
    };
    let set_db = |db: &mut Option<String>| {
        if db.is_none() {
            *db = default_db.map(str::to_owned);
        }
    };
    match stmt {
        Statement::Select(s) => n.select(s),
        Statement::Explain(s) => n.select(&mut s.statement),
        Statement::CreateContinuousQuery(s) => n.select(&mut s.source),
        Statement::ShowMeasurements(s) => {
            set_db(&mut s.database);
            if let Some(m) = &mut s.with_measurement {
                n.measurement(m)?;
            }
            Ok(())
        }
        Statement::ShowTagKeys(s) => {
            set_db(&mut s.database);
            n.sources(&mut s.sources)
        }
        Statement::ShowTagValues(s) => {
            set_db(&mut s.database);
            n.sources(&mut s.sources)
        }
        Statement::ShowFieldKeys(s) => {
            set_db(&mut s.database);
            n.sources(&mut s.sources)
        }
        Statement::ShowSeries(s) => {
            set_db(&mut s.database);
            n.sources(&mut s.sources)
        }
        Statement::ShowCardinality(s) => {
            set_db(&mut s.database);
            n.sources(&mut s.sources)
        }
        Statement::ShowRetentionPolicies(s) => {
            set_db(&mut s.database);
            Ok(())
        }
        _ => Ok(()),
    }
}

struct Normalizer<'a, F> {
    default_db: Option<&'a str>,
    default_rp: Option<&'a str>,
    resolve: &'a mut F,
}

impl<'a, E, F: FnMut(&str) -> Result<String, E>> Normalizer<'a, F> {
    fn select(&mut self, s: &mut SelectStatement) -> Result<(), NormalizeError<E>> {
        self.sources(&mut s.sources)?;
        if let Some(t) = &mut s.target {
            let (db, rp) = self.db_rp(t.database.take(), t.retention_policy.take())?;
            t.database = Some(db);
            t.retention_policy = Some(rp);
        }
        Ok(())
    }

    fn sources(&mut self, sources: &mut [Source]) -> Result<(), NormalizeError<E>> {
        for s in sources {
            match s {
                Source::Measurement(m) => self.measurement(m)?,
                Source::Subquery(q) => self.select(q)?,
            }
        }
        Ok(())
    }

    fn measurement(&mut self, m: &mut Measurement) -> Result<(), NormalizeError<E>> {
        if matches!(&m.name, MeasurementName::Name(n) if n.is_empty()) {
            return Err(NormalizeError::InvalidMeasurement);
        }
        let (db, rp) = self.db_rp(m.database.take(), m.retention_policy.take())?;
        m.database = Some(db);
        m.retention_policy = Some(rp);
        Ok(())
    }

    fn db_rp(
        &mut self,
        db: Option<String>,
        rp: Option<String>,
    ) -> Result<(String, String), NormalizeError<E>> {
        let db = db
            .or_else(|| self.default_db.map(str::to_owned))
            .filter(|d| !d.is_empty())
            .ok_or(NormalizeError::DatabaseNameRequired)?;
        let rp = match rp {
            Some(rp) => rp,
            None => match self.default_rp {
                Some(rp) if !rp.is_empty() => rp.to_owned(),
                _ => (self.resolve)(&db).map_err(NormalizeError::Resolve)?,
            },
        };
        Ok((db, rp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_statement;

    fn norm(q: &str, rp: Option<&str>) -> Result<String, NormalizeError<String>> {
        let mut s = parse_statement(q).unwrap();
        normalize_statement(&mut s, Some("db0"), rp, |db| {
            if db == "missing" {
                Err(format!("database not found: {db}"))
            } else {
                Ok(format!("{db}_rp"))
            }
        })?;
        Ok(s.to_string())
    }

    #[test]
    fn fills_defaults_like_influxdb() {
        assert_eq!(
            norm(
                "CREATE CONTINUOUS QUERY cq ON db0 BEGIN SELECT mean(x) INTO m2 FROM m, db1..n, /re/ GROUP BY time(1h) END",
                None
            )
            .unwrap(),
            "CREATE CONTINUOUS QUERY cq ON db0 BEGIN SELECT mean(x) INTO db0.db0_rp.m2 FROM db0.db0_rp.m, db1.db1_rp.n, db0.db0_rp./re/ GROUP BY time(1h) END"
        );
        assert_eq!(
            norm("SELECT x FROM (SELECT y FROM m)", Some("one_week")).unwrap(),
            "SELECT x FROM (SELECT y FROM db0.one_week.m)"
        );
        assert_eq!(norm("SHOW TAG KEYS", None).unwrap(), "SHOW TAG KEYS ON db0");
        assert_eq!(norm("DELETE FROM m", None).unwrap(), "DELETE FROM m");
        assert_eq!(
            norm("SELECT x FROM missing..m", None)
                .unwrap_err()
                .to_string(),
            "database not found: missing"
        );
        assert_eq!(
            norm("SELECT x FROM \"\"", None).unwrap_err().to_string(),
            "invalid measurement"
        );
        let mut s = parse_statement("SELECT x FROM m").unwrap();
        let e = normalize_statement(&mut s, None, None, |_| Ok::<_, String>("rp".into()));
        assert_eq!(e.unwrap_err().to_string(), "database name required");
    }
}

//! Which privileges a statement needs, per InfluxDB 1.x's rules (its
//! `RequiredPrivileges`); the server checks them against the user's admin
//! flag and per-database grants.

use crate::ast::*;

/// One privilege a statement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredPrivilege {
    /// Only a cluster admin may run the statement.
    pub admin: bool,
    /// The database the privilege applies to; `None` means the request's
    /// default database (`db` parameter) for database privileges, and
    /// "no particular database" for admin ones.
    pub database: Option<String>,
    /// `None` for statements anyone may run (SHOW DATABASES: the answer is
    /// filtered by grants instead).
    pub privilege: Option<Privilege>,
}

fn admin() -> Vec<RequiredPrivilege> {
    vec![RequiredPrivilege {
        admin: true,
        database: None,
        privilege: Some(Privilege::All),
    }]
}

fn on(database: &Option<String>, privilege: Privilege) -> RequiredPrivilege {
    RequiredPrivilege {
        admin: false,
        database: database.clone(),
        privilege: Some(privilege),
    }
}

fn sources(sources: &[Source], out: &mut Vec<RequiredPrivilege>) {
    for s in sources {
        match s {
            Source::Measurement(m) => out.push(on(&m.database, Privilege::Read)),
            Source::Subquery(q) => out.extend(q.required_privileges()),
        }
    }
}

impl SelectStatement {
    /// READ on each source's database (subqueries included) and WRITE on
    /// the INTO database.
    pub fn required_privileges(&self) -> Vec<RequiredPrivilege> {
        let mut out = Vec::new();
        sources(&self.sources, &mut out);
        if let Some(t) = &self.target {
            out.push(on(&t.database, Privilege::Write));
        }
        out
    }
}

impl Statement {
    /// The privileges needed to run this statement. Normalize first
    /// ([`crate::normalize_statement`]) so sources name their database.
    pub fn required_privileges(&self) -> Vec<RequiredPrivilege> {
        use Statement::*;
        match self {
            Select(s) => s.required_privileges(),
            Explain(s) => s.statement.required_privileges(),
            ShowDatabases => vec![RequiredPrivilege {
                admin: false,
                database: None,
                privilege: None,
            }],
            ShowMeasurements(s) => vec![on(&s.database, Privilege::Read)],
            ShowTagKeys(s) => vec![on(&s.database, Privilege::Read)],
            ShowTagValues(s) => vec![on(&s.database, Privilege::Read)],
            ShowFieldKeys(s) => vec![on(&s.database, Privilege::Read)],
            ShowSeries(s) => vec![on(&s.database, Privilege::Read)],
            ShowCardinality(s) => {
                let estimate_on_db = !s.exact
                    && matches!(
                        s.kind,
                        CardinalityKind::Series | CardinalityKind::Measurement
                    );
                if estimate_on_db {
                    vec![on(&s.database, Privilege::Read)]
                } else {
                    let mut out = Vec::new();
                    sources(&s.sources, &mut out);
                    out
                }
            }
            ShowRetentionPolicies(s) => vec![on(&s.database, Privilege::Read)],
            ShowContinuousQueries | ShowQueries => vec![on(&None, Privilege::Read)],
            ShowShards | ShowShardGroups | ShowUsers | ShowGrants(_) | ShowDiagnostics(_)
            | ShowStats(_) | ShowSubscriptions | KillQuery(_) => admin(),
            CreateDatabase(_)
            | DropDatabase(_)
            | CreateRetentionPolicy(_)
            | AlterRetentionPolicy(_)
            | CreateUser(_)
            | DropUser(_)
            | SetPassword(_)
            | Grant(_)
            | GrantAdmin(_)
            | Revoke(_)
            | RevokeAdmin(_)
            | DropMeasurement(_)
            | DropShard(_)
            | CreateSubscription(_)
            | DropSubscription(_) => admin(),
            DropRetentionPolicy(s) => vec![on(&Some(s.database.clone()), Privilege::Write)],
            Delete(_) | DropSeries(_) => vec![on(&None, Privilege::Write)],
            CreateContinuousQuery(s) => {
                let mut out = vec![on(&Some(s.database.clone()), Privilege::Read)];
                if let Some(db) = s.source.target.as_ref().and_then(|t| t.database.clone()) {
                    out.push(on(&Some(db), Privilege::Write));
                }
                out
            }
            DropContinuousQuery(s) => vec![on(&Some(s.database.clone()), Privilege::Write)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_statement;

    fn req(q: &str) -> Vec<(bool, Option<String>, Option<Privilege>)> {
        parse_statement(q)
            .unwrap()
            .required_privileges()
            .into_iter()
            .map(|p| (p.admin, p.database, p.privilege))
            .collect()
    }

    #[test]
    fn per_statement_rules() {
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(
            req("SELECT x INTO db2..m FROM db1..m, (SELECT y FROM db3..n)"),
            vec![
                (false, s("db1"), Some(Privilege::Read)),
                (false, s("db3"), Some(Privilege::Read)),
                (false, s("db2"), Some(Privilege::Write)),
            ]
        );
        assert_eq!(req("SHOW DATABASES"), vec![(false, None, None)]);
        assert_eq!(
            req("CREATE DATABASE x"),
            vec![(true, None, Some(Privilege::All))]
        );
        assert_eq!(
            req("DROP MEASUREMENT m"),
            vec![(true, None, Some(Privilege::All))]
        );
        assert_eq!(
            req("DELETE FROM m"),
            vec![(false, None, Some(Privilege::Write))]
        );
        assert_eq!(
            req("DROP RETENTION POLICY rp ON d"),
            vec![(false, s("d"), Some(Privilege::Write))]
        );
        assert_eq!(
            req("SHOW TAG KEYS ON d"),
            vec![(false, s("d"), Some(Privilege::Read))]
        );
        assert_eq!(
            req("SHOW SERIES EXACT CARDINALITY FROM d..m"),
            vec![(false, s("d"), Some(Privilege::Read))]
        );
        assert_eq!(
            req("SHOW GRANTS FOR u"),
            vec![(true, None, Some(Privilege::All))]
        );
    }
}

//! Who may run what: InfluxDB 1.6's `RequiredPrivileges` per statement.

use influxql::Statement;
use schemas::meta::User;

/// Why a user may not run a query: InfluxDB 1.6's
/// `error authorizing query: ...` text follows the prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{user} not authorized to execute statement '{statement}', requires {requirement}")]
pub struct AuthorizeError {
    /// Name of the user who asked.
    pub user: String,
    /// The refused statement, as InfluxDB prints it.
    pub statement: String,
    /// The privilege the statement needs (e.g. `admin privilege`).
    pub requirement: String,
}

/// What a statement needs, as InfluxDB 1.6's `RequiredPrivileges`.
enum Need<'a> {
    Nothing,
    Admin,
    Read(Option<&'a str>),
    Write(Option<&'a str>),
}

fn needs(stmt: &Statement) -> Vec<Need<'_>> {
    use influxql::Source;
    fn source_dbs(sources: &[Source]) -> Vec<Need<'_>> {
        let mut out = Vec::new();
        for src in sources {
            match src {
                Source::Measurement(m) => out.push(Need::Read(m.database.as_deref())),
                Source::Subquery(sel) => out.extend(source_dbs(&sel.sources)),
            }
        }
        out
    }
    fn select_needs(sel: &influxql::SelectStatement) -> Vec<Need<'_>> {
        let mut n = source_dbs(&sel.sources);
        if let Some(t) = &sel.target {
            n.push(Need::Write(t.database.as_deref()));
        }
        n
    }
    match stmt {
        Statement::Select(sel) => select_needs(sel),
        Statement::Explain(e) => source_dbs(&e.statement.sources),
        Statement::ShowDatabases => vec![Need::Nothing],
        Statement::ShowMeasurements(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowTagKeys(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowTagValues(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowFieldKeys(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowSeries(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowCardinality(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowRetentionPolicies(s) => vec![Need::Read(s.database.as_deref())],
        Statement::ShowContinuousQueries => vec![Need::Read(None)],
        Statement::Delete(_) | Statement::DropSeries(_) => vec![Need::Write(None)],
        // InfluxDB 1.6: READ on the CQ's database and whatever its SELECT
        // needs, so that nobody copies a database they cannot read through
        // a CQ. Sources and target without a database are the CQ's (where
        // it runs), whatever database the creating request named.
        Statement::CreateContinuousQuery(s) => {
            let on = Some(s.database.as_str());
            std::iter::once(Need::Read(on))
                .chain(select_needs(&s.source).into_iter().map(|n| match n {
                    Need::Read(None) => Need::Read(on),
                    Need::Write(None) => Need::Write(on),
                    other => other,
                }))
                .collect()
        }
        Statement::DropContinuousQuery(s) => vec![Need::Write(Some(&s.database))],
        Statement::ShowShards
        | Statement::ShowShardGroups
        | Statement::ShowUsers
        | Statement::ShowGrants(_)
        | Statement::ShowDiagnostics(_)
        | Statement::ShowStats(_)
        | Statement::ShowQueries
        | Statement::ShowSubscriptions
        | Statement::KillQuery(_)
        | Statement::CreateDatabase(_)
        | Statement::DropDatabase(_)
        | Statement::CreateRetentionPolicy(_)
        | Statement::AlterRetentionPolicy(_)
        | Statement::DropRetentionPolicy(_)
        | Statement::CreateUser(_)
        | Statement::DropUser(_)
        | Statement::SetPassword(_)
        | Statement::Grant(_)
        | Statement::GrantAdmin(_)
        | Statement::Revoke(_)
        | Statement::RevokeAdmin(_)
        | Statement::DropMeasurement(_)
        | Statement::DropShard(_)
        | Statement::CreateSubscription(_)
        | Statement::DropSubscription(_) => vec![Need::Admin],
    }
}

/// Checks every statement against `user`'s privileges before any runs, as
/// InfluxDB's query authorizer does. Admins may do everything.
pub fn authorize(
    user: &User,
    statements: &[Statement],
    default_db: Option<&str>,
) -> Result<(), AuthorizeError> {
    if user.admin {
        return Ok(());
    }
    for stmt in statements {
        for need in needs(stmt) {
            let (ok, requirement) = match need {
                Need::Nothing => (true, String::new()),
                Need::Admin => (false, "admin privilege".to_owned()),
                Need::Read(db) => {
                    let db = db.or(default_db).unwrap_or_default();
                    (user.can_read(db), format!("READ on {db}"))
                }
                Need::Write(db) => {
                    let db = db.or(default_db).unwrap_or_default();
                    (user.can_write(db), format!("WRITE on {db}"))
                }
            };
            if !ok {
                return Err(AuthorizeError {
                    user: user.name.clone(),
                    statement: stmt.to_string(),
                    requirement,
                });
            }
        }
    }
    Ok(())
}

/// With authentication on and no admin user yet, InfluxDB accepts exactly
/// one kind of query without credentials: creating the first admin.
pub fn is_bootstrap_admin_creation(statements: &[Statement]) -> bool {
    matches!(statements, [Statement::CreateUser(u)] if u.admin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::statements::test_user as user;
    use schemas::meta::Privilege;

    #[test]
    fn authorization_follows_required_privileges() {
        let q = influxql::parse_query("SELECT * FROM cpu; SHOW DATABASES").expect("parses");
        let reader = user(false, &[("db", Privilege::Read)]);
        assert!(authorize(&reader, &q.statements, Some("db")).is_ok());
        assert!(authorize(&reader, &q.statements, Some("other")).is_err());
        let ddl = influxql::parse_query("CREATE DATABASE x").expect("parses");
        let e = authorize(&reader, &ddl.statements, Some("db")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "u not authorized to execute statement 'CREATE DATABASE x', requires admin privilege"
        );
        assert!(authorize(&user(true, &[]), &ddl.statements, None).is_ok());
        let del = influxql::parse_query("DELETE FROM cpu").expect("parses");
        assert!(authorize(&reader, &del.statements, Some("db")).is_err());
        let writer = user(false, &[("db", Privilege::Write)]);
        assert!(authorize(&writer, &del.statements, Some("db")).is_ok());
        let first = influxql::parse_query("CREATE USER a WITH PASSWORD 'x' WITH ALL PRIVILEGES")
            .expect("parses");
        assert!(is_bootstrap_admin_creation(&first.statements));
        assert!(!is_bootstrap_admin_creation(&ddl.statements));
    }

    #[test]
    fn a_continuous_query_needs_what_its_select_needs() {
        let cq = |text: &str| influxql::parse_query(text).expect("parses").statements;
        // WRITE on `a` alone may not copy `b` into `a`, nor even read `a`.
        let copy = cq(
            "CREATE CONTINUOUS QUERY c ON a BEGIN SELECT mean(v) INTO a.autogen.m \
             FROM b.autogen.src GROUP BY time(1h) END",
        );
        let writer = user(false, &[("a", Privilege::Write)]);
        let e = authorize(&writer, &copy, Some("a")).unwrap_err();
        assert!(e.to_string().ends_with("requires READ on a"), "{e}");
        let owner = user(false, &[("a", Privilege::All)]);
        let e = authorize(&owner, &copy, Some("a")).unwrap_err();
        assert!(e.to_string().ends_with("requires READ on b"), "{e}");
        let both = user(false, &[("a", Privilege::All), ("b", Privilege::Read)]);
        assert!(authorize(&both, &copy, Some("a")).is_ok());
        // Sources and target without a database are the CQ's, whatever
        // database the request named.
        let local = cq(
            "CREATE CONTINUOUS QUERY c ON b BEGIN SELECT mean(v) INTO m \
             FROM src GROUP BY time(1h) END",
        );
        let e = authorize(&owner, &local, Some("a")).unwrap_err();
        assert!(e.to_string().ends_with("requires READ on b"), "{e}");
        let reader_b = user(false, &[("a", Privilege::All), ("b", Privilege::Read)]);
        let e = authorize(&reader_b, &local, Some("a")).unwrap_err();
        assert!(e.to_string().ends_with("requires WRITE on b"), "{e}");
    }
}

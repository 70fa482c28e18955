//! `/query` with authentication on: InfluxDB 1.x's bootstrap of the first
//! admin, credentials from `u`/`p`, Basic and Token headers, and the
//! admin-only statements.

mod common;

use base64::Engine as _;
use common::{get, post, reply, Sluice};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authentication_and_permissions_like_influxdb() {
    let s = Sluice::start(true).await;
    let url = s.url.clone();

    // No admin yet: everything but creating one is refused.
    let r = get(&url, &[("q", "SHOW DATABASES")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"error": "create admin user first or disable authentication"})
    );
    let r = post(
        &url,
        &[(
            "q",
            "CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES",
        )],
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"results":[{"statement_id":0}]}))
    );

    // Credentials required from now on.
    let r = get(&url, &[("q", "SHOW DATABASES")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"error": "unable to parse authentication credentials"})
    );
    let r = get(
        &url,
        &[("q", "SHOW DATABASES"), ("u", "admin"), ("p", "wrong")],
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"error": "authorization failed"}))
    );
    let r = post(&url, &[("q", "CREATE DATABASE db; CREATE USER reader WITH PASSWORD 'r'; GRANT READ ON db TO reader"), ("u", "admin"), ("p", "pw")]).await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0},{"statement_id":1},{"statement_id":2}]})
    );

    let client = reqwest::Client::new();
    let basic = base64::engine::general_purpose::STANDARD.encode("reader:r");
    let resp = client
        .get(format!("{url}/query"))
        .header("Authorization", format!("Basic {basic}"))
        .query(&[("q", "SHOW DATABASES")])
        .send()
        .await
        .expect("request");
    let r = reply(resp).await;
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["db"]]}]}]})
        )
    );
    let resp = client
        .get(format!("{url}/query"))
        .header("Authorization", "Token reader:r")
        .query(&[("q", "SELECT * FROM m"), ("db", "db")])
        .send()
        .await
        .expect("request");
    assert_eq!(reply(resp).await.status, 200);

    // A reader may not run admin statements nor write.
    let r = post(
        &url,
        &[("q", "CREATE DATABASE other"), ("u", "reader"), ("p", "r")],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"error": "error authorizing query: reader not authorized to execute statement 'CREATE DATABASE other', requires admin privilege"})
    );
    let r = post(
        &url,
        &[
            ("q", "DELETE FROM m"),
            ("db", "db"),
            ("u", "reader"),
            ("p", "r"),
        ],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = get(&url, &[("q", "SHOW USERS"), ("u", "reader"), ("p", "r")]).await;
    assert_eq!(r.status, 403);
    let r = get(
        &url,
        &[
            ("q", "SELECT * FROM m"),
            ("db", "elsewhere"),
            ("u", "reader"),
            ("p", "r"),
        ],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = get(&url, &[("q", "SHOW USERS"), ("u", "admin"), ("p", "pw")]).await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"series":[{"columns":["user","admin"],"values":[["admin",true],["reader",false]]}]}]})
    );
    s.stop().await;
}

/// A continuous query runs with its creator's rights: once the creator
/// loses READ on its source, its runs are skipped (InfluxDB's CQs would
/// go on copying data nobody may read any more).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_continuous_query_runs_with_its_creators_rights() {
    let s = Sluice::start(true).await;
    let url = s.url.clone();
    let admin = [("u", "admin"), ("p", "pw")];
    post(
        &url,
        &[(
            "q",
            "CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES",
        )],
    )
    .await;
    let r = post(
        &url,
        &[
            (
                "q",
                "CREATE DATABASE db; CREATE USER w WITH PASSWORD 'w'; GRANT ALL ON db TO w",
            ),
            admin[0],
            admin[1],
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(&url, &[("db", "db"), ("q", "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT count(v) INTO cpu_count FROM cpu GROUP BY time(1s) END"), ("u", "w"), ("p", "w")]).await;
    assert_eq!(r.json(), json!({"results":[{"statement_id":0}]}));

    let client = reqwest::Client::new();
    // Five points in a second that has not begun yet; once it has closed,
    // whether the CQ counted them.
    let counted = |second: i64| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let body: String = (0..5)
                .map(|i| format!("cpu v={i} {}\n", second * 1_000_000_000 + i * 100_000_000))
                .collect();
            let resp = client
                .post(format!("{url}/write"))
                .query(&[("db", "db"), ("u", "admin"), ("p", "pw")])
                .body(body)
                .send()
                .await
                .expect("write");
            assert_eq!(resp.status().as_u16(), 204);
            // The interval closes at second + 1; the CQ checks every second.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
            let q = format!("SELECT count FROM cpu_count WHERE time = {second}s");
            loop {
                let r = get(
                    &url,
                    &[
                        ("db", "db"),
                        ("q", q.as_str()),
                        ("consistency", "strong"),
                        ("u", "admin"),
                        ("p", "pw"),
                    ],
                )
                .await;
                let values = r.json()["results"][0]["series"][0]["values"].clone();
                if values == json!([[query::format::rfc3339(second * 1_000_000_000), 5]]) {
                    return true;
                }
                if std::time::Instant::now() > deadline {
                    return false;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
    };
    assert!(
        counted(now() + 2).await,
        "the CQ runs while its creator may read cpu"
    );

    let r = post(
        &url,
        &[
            ("q", "REVOKE ALL ON db FROM w; GRANT WRITE ON db TO w"),
            admin[0],
            admin[1],
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !counted(now() + 2).await,
        "a CQ ran with rights its creator lost"
    );
    s.stop().await;
}

/// InfluxDB's `pprof-auth-enabled`: `/debug/vars` (expvar JSON, which
/// Telegraf's `influxdb` input reads) needs an admin, `/metrics` any user;
/// with it off both stay open, as in InfluxDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn debug_and_metrics_behind_pprof_auth() {
    let s = Sluice::start_with(|spec| {
        spec.api.auth_enabled = true;
        spec.api.pprof_auth_enabled = true;
    })
    .await;
    let url = s.url.clone();
    let r = post(
        &url,
        &[(
            "q",
            "CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES",
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &url,
        &[
            (
                "q",
                "CREATE USER reader WITH PASSWORD 'r'; CREATE DATABASE db",
            ),
            ("u", "admin"),
            ("p", "pw"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let w = reqwest::Client::new()
        .post(format!("{url}/write"))
        .query(&[("db", "db"), ("u", "admin"), ("p", "pw")])
        .body("m v=1 1")
        .send()
        .await
        .unwrap();
    assert_eq!(w.status(), 204);

    let fetch = |path: &'static str, creds: Option<(&'static str, &'static str)>| {
        let url = url.clone();
        async move {
            let mut req = reqwest::Client::new().get(format!("{url}{path}"));
            if let Some((u, p)) = creds {
                req = req.query(&[("u", u), ("p", p)]);
            }
            reply(req.send().await.expect("request")).await
        }
    };
    assert_eq!(fetch("/debug/vars", None).await.status, 401);
    let r = fetch("/debug/vars", Some(("reader", "r"))).await;
    assert_eq!(
        (r.status, r.json()),
        (
            403,
            json!({"error": "\"reader\" user is not authorized to access debug endpoints"})
        )
    );
    let r = fetch("/debug/vars", Some(("admin", "pw"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let vars = r.json();
    assert!(
        vars.get("cmdline").is_none(),
        "no command line: it may hold a secret"
    );
    let accepted = vars
        .as_object()
        .unwrap()
        .values()
        .find(|v| v["name"] == "sluice_ingest_points_accepted_total")
        .unwrap_or_else(|| panic!("no count of accepted points: {vars}"));
    assert_eq!(accepted["values"]["value"], 1.0, "{accepted}");
    assert!(accepted["tags"]["node_id"].is_string(), "{accepted}");

    assert_eq!(fetch("/metrics", None).await.status, 401);
    assert_eq!(fetch("/metrics", Some(("reader", "r"))).await.status, 200);
    // /ping stays open: that is ping-auth-enabled's.
    assert_eq!(fetch("/ping", None).await.status, 204);
    s.stop().await;

    let open = Sluice::start(true).await;
    let r = reqwest::get(format!("{}/debug/vars", open.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    open.stop().await;
}

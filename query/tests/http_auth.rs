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

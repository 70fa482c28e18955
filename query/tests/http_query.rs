//! `/query` over real HTTP on a real data node (real tansu, metad, shardd):
//! InfluxDB 1.x's parameters, response shapes and meta statements.

mod common;

use common::{get, post, write, Sluice};
use serde_json::json;

const STRONG: (&str, &str) = ("consistency", "strong");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_endpoint_speaks_influxdb() {
    let s = Sluice::start(false).await;
    let url = s.url.clone();

    // Request-level errors.
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "{\"error\":\"missing required parameter \\\"q\\\"\"}\n"
    );
    assert!(
        r.headers
            .get("x-influxdb-version")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("1.6")),
        "{:?}",
        r.headers
    );
    let r = get(&url, &[("q", "SELECT * FROM")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": "error parsing query: found EOF, expected identifier at line 1, char 15"})
    );
    let r = get(
        &url,
        &[("q", "SELECT * FROM cpu WHERE host = $h"), ("params", "{")],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("error parsing query parameters: ")));

    // Databases and retention policies through metad.
    let r = post(&url, &[("q", "CREATE DATABASE mydb")]).await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"results":[{"statement_id":0}]}))
    );
    let r = get(&url, &[("q", "SHOW DATABASES")]).await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["mydb"]]}]}]})
    );
    let r = post(
        &url,
        &[("q", "CREATE RETENTION POLICY \"mixed\" ON \"mydb\" DURATION 1h30m REPLICATION 1 SHARD DURATION 30m DEFAULT; SHOW RETENTION POLICIES ON mydb")],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0},{"statement_id":1,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,false],["mixed","1h30m0s","1h0m0s",1,true]]}]}]})
    );
    let r = post(&url, &[("q", "ALTER RETENTION POLICY autogen ON mydb DEFAULT; DROP RETENTION POLICY mixed ON mydb; SHOW RETENTION POLICIES ON mydb")]).await;
    assert_eq!(
        r.json()["results"][2]["series"][0]["values"],
        json!([["autogen", "0s", "168h0m0s", 1, true]])
    );
    let r = post(
        &url,
        &[(
            "q",
            "CREATE RETENTION POLICY bad ON mydb DURATION 30m REPLICATION 1; SHOW DATABASES",
        )],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"error":"retention policy duration must be at least 1h0m0s"},{"statement_id":1,"error":"not executed"}]})
    );
    let r = get(&url, &[("q", "SHOW RETENTION POLICIES ON nope")]).await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"error":"database not found: nope"}]})
    );
    let r = get(&url, &[("q", "SHOW RETENTION POLICIES")]).await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"error":"database name required"}]})
    );

    // Users, grants, continuous queries.
    let r = post(&url, &[("q", "CREATE USER todd WITH PASSWORD 'x'; CREATE USER root WITH PASSWORD 'y' WITH ALL PRIVILEGES; GRANT READ ON mydb TO todd; SHOW USERS; SHOW GRANTS FOR todd")]).await;
    let v = r.json();
    assert_eq!(
        v["results"][3]["series"][0]["values"],
        json!([["root", true], ["todd", false]]),
        "{v}"
    );
    assert_eq!(
        v["results"][4]["series"][0]["values"],
        json!([["mydb", "READ"]]),
        "{v}"
    );
    let r = post(&url, &[("q", "REVOKE READ ON mydb FROM todd; SET PASSWORD FOR todd = 'z'; DROP USER root; SHOW USERS; SHOW GRANTS FOR nobody")]).await;
    let v = r.json();
    assert_eq!(
        v["results"][3]["series"][0]["values"],
        json!([["todd", false]]),
        "{v}"
    );
    assert_eq!(v["results"][4]["error"], json!("user not found"), "{v}");
    let r = post(&url, &[("q", "CREATE CONTINUOUS QUERY cq ON mydb BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h) END; SHOW CONTINUOUS QUERIES"), ("db", "mydb")]).await;
    let v = r.json();
    assert_eq!(v["results"][1]["series"][0]["name"], json!("mydb"), "{v}");
    assert_eq!(
        v["results"][1]["series"][0]["values"][0][0],
        json!("cq"),
        "{v}"
    );
    assert!(v["results"][1]["series"][0]["values"][0][1]
        .as_str()
        .is_some_and(|q| q.starts_with("CREATE CONTINUOUS QUERY cq ON mydb BEGIN SELECT mean(v) INTO mydb.autogen.m2 FROM mydb.autogen.m")), "{v}");
    let r = post(
        &url,
        &[(
            "q",
            "DROP CONTINUOUS QUERY cq ON mydb; SHOW CONTINUOUS QUERIES",
        )],
    )
    .await;
    assert_eq!(
        r.json()["results"][1],
        json!({"statement_id":1,"series":[{"name":"mydb","columns":["name","query"]}]})
    );

    // Data through /write, read back with read-your-writes.
    write(&url, "mydb", "cpu,host=a,region=eu value=1.5,n=3i 1000000000\ncpu,host=b,region=us value=2,n=4i 2000000000\ncpu,host=a,region=eu value=0.25,n=5i 3000000000").await;
    // The write created a shard group; the node opens its replica when its
    // meta watch sees the group, and until then the engine has no owner to
    // ask (read-your-writes waits for an open replica, not for its opening).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get(
        &url,
        &[
            ("q", "SELECT count(value) FROM cpu"),
            ("db", "mydb"),
            STRONG,
        ],
    )
    .await
    .body
    .contains("\"error\"")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never opened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let q = "SELECT value, n FROM cpu WHERE host = 'a'";
    let r = get(&url, &[("q", q), ("db", "mydb"), STRONG]).await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","value","n"],"values":[["1970-01-01T00:00:01Z",1.5,3],["1970-01-01T00:00:03Z",0.25,5]]}]}]})
    );
    let r = get(&url, &[("q", q), ("db", "mydb"), ("epoch", "ms"), STRONG]).await;
    assert_eq!(
        r.json()["results"][0]["series"][0]["values"],
        json!([[1000, 1.5, 3], [3000, 0.25, 5]])
    );
    let r = get(
        &url,
        &[
            ("q", "SELECT value FROM cpu WHERE host = $h"),
            ("params", "{\"h\":\"b\"}"),
            ("db", "mydb"),
            STRONG,
        ],
    )
    .await;
    assert_eq!(
        r.json()["results"][0]["series"][0]["values"],
        json!([["1970-01-01T00:00:02Z", 2]])
    );

    // pretty
    let r = get(&url, &[("q", "SHOW DATABASES"), ("pretty", "true")]).await;
    assert!(
        r.body
            .starts_with("{\n    \"results\": [\n        {\n            \"statement_id\": 0,"),
        "{}",
        r.body
    );

    // CSV
    let resp = reqwest::Client::new()
        .get(format!("{url}/query"))
        .header("Accept", "application/csv")
        .query(&[
            ("q", "SELECT value FROM cpu GROUP BY host"),
            ("db", "mydb"),
            STRONG,
        ])
        .send()
        .await
        .expect("csv query");
    assert_eq!(resp.headers()["content-type"], "text/csv");
    assert_eq!(
        resp.text().await.expect("body"),
        "name,tags,time,value\ncpu,host=a,1000000000,1.5\ncpu,host=a,3000000000,0.25\ncpu,host=b,2000000000,2\n"
    );

    // chunked: one JSON document per line, cut at chunk_size rows.
    let r = get(
        &url,
        &[
            ("q", "SELECT value FROM cpu"),
            ("db", "mydb"),
            ("chunked", "true"),
            ("chunk_size", "2"),
            STRONG,
        ],
    )
    .await;
    let lines: Vec<serde_json::Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", r.body);
    assert_eq!(lines[0]["results"][0]["partial"], json!(true));
    assert_eq!(lines[0]["results"][0]["series"][0]["partial"], json!(true));
    assert_eq!(
        lines[0]["results"][0]["series"][0]["values"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(lines[1]["results"][0].get("partial"), None);

    // DELETE through tombstones, then the data is gone on every read.
    let r = post(
        &url,
        &[
            ("q", "DELETE FROM cpu WHERE host = 'a' AND time < 2s"),
            ("db", "mydb"),
        ],
    )
    .await;
    assert_eq!(r.json(), json!({"results":[{"statement_id":0}]}));
    let r = get(
        &url,
        &[("q", "SELECT value FROM cpu"), ("db", "mydb"), STRONG],
    )
    .await;
    assert_eq!(
        r.json()["results"][0]["series"][0]["values"],
        json!([["1970-01-01T00:00:02Z", 2], ["1970-01-01T00:00:03Z", 0.25]])
    );
    let r = post(
        &url,
        &[
            ("q", "DROP SERIES FROM cpu WHERE region = 'us'"),
            ("db", "mydb"),
        ],
    )
    .await;
    assert_eq!(r.json(), json!({"results":[{"statement_id":0}]}));
    let r = get(
        &url,
        &[("q", "SELECT value FROM cpu"), ("db", "mydb"), STRONG],
    )
    .await;
    assert_eq!(
        r.json()["results"][0]["series"][0]["values"],
        json!([["1970-01-01T00:00:03Z", 0.25]])
    );
    let r = post(
        &url,
        &[("q", "DELETE FROM cpu WHERE value > 1"), ("db", "mydb")],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"error":"fields not supported in WHERE clause during deletion"}]})
    );
    let r = post(&url, &[("q", "DROP MEASUREMENT cpu"), ("db", "mydb")]).await;
    assert_eq!(r.json(), json!({"results":[{"statement_id":0}]}));
    let r = get(&url, &[("q", "SELECT * FROM cpu"), ("db", "mydb"), STRONG]).await;
    assert_eq!(r.json(), json!({"results":[{"statement_id":0}]}));

    let r = post(&url, &[("q", "DROP DATABASE mydb; SHOW DATABASES")]).await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0},{"statement_id":1,"series":[{"name":"databases","columns":["name"]}]}]})
    );
    s.stop().await;
}

/// `SELECT ... INTO` writes its answer back through the log, and a
/// continuous query stored in metad runs on schedule on the data node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn select_into_and_continuous_queries_write_through_the_log() {
    let s = Sluice::start(false).await;
    let url = s.url.clone();
    post(&url, &[("q", "CREATE DATABASE db; CREATE DATABASE other")]).await;
    write(
        &url,
        "db",
        "cpu,host=a v=1 1000000000\ncpu,host=b v=3 1000000000\ncpu,host=a v=5 2000000000",
    )
    .await;

    let r = post(
        &url,
        &[
            ("db", "db"),
            ("q", "SELECT mean(v) INTO other.autogen.cpu_mean FROM cpu WHERE time >= 0 AND time < 10s GROUP BY time(1s), host"),
            STRONG,
        ],
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"results":[{"statement_id":0,"series":[{"name":"result","columns":["time","written"],"values":[["1970-01-01T00:00:00Z",3]]}]}]})
    );
    let r = get(
        &url,
        &[
            ("db", "other"),
            ("q", "SELECT * FROM cpu_mean GROUP BY host"),
            STRONG,
        ],
    )
    .await;
    assert_eq!(
        r.json()["results"][0]["series"],
        json!([
            {"name":"cpu_mean","tags":{"host":"a"},"columns":["time","mean"],"values":[["1970-01-01T00:00:01Z",1],["1970-01-01T00:00:02Z",5]]},
            {"name":"cpu_mean","tags":{"host":"b"},"columns":["time","mean"],"values":[["1970-01-01T00:00:01Z",3]]}
        ])
    );
    // Tags not grouped by become fields, as in InfluxDB.
    let r = post(
        &url,
        &[("db", "db"), ("q", "SELECT * INTO flat FROM cpu"), STRONG],
    )
    .await;
    assert_eq!(r.json()["results"][0]["series"][0]["values"][0][1], 3);
    let r = get(&url, &[("db", "db"), ("q", "SELECT * FROM flat"), STRONG]).await;
    assert_eq!(
        r.json()["results"][0]["series"][0]["columns"],
        json!(["time", "host", "v"]),
        "{}",
        r.body
    );
    let r = post(
        &url,
        &[
            ("db", "db"),
            ("q", "SELECT v INTO nowhere.autogen.x FROM cpu"),
        ],
    )
    .await;
    assert!(
        r.json()["results"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("database not found")),
        "{}",
        r.body
    );

    // A CQ over one-second intervals: points written for a second that has
    // not begun yet are counted once it has closed.
    let r = post(
        &url,
        &[("db", "db"), ("q", "CREATE CONTINUOUS QUERY cq_count ON db BEGIN SELECT count(v) INTO cpu_count FROM cpu GROUP BY time(1s) END")],
    )
    .await;
    assert_eq!(r.json(), json!({"results":[{"statement_id":0}]}));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let second = now + 3;
    let lines: Vec<String> = (0..5)
        .map(|i| {
            format!(
                "cpu,host=c v={i} {}",
                second * 1_000_000_000 + i * 100_000_000
            )
        })
        .collect();
    write(&url, "db", &lines.join("\n")).await;
    let expected = json!([[query::format::rfc3339(second * 1_000_000_000), 5]]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let q = format!("SELECT count FROM cpu_count WHERE time = {}s", second);
        let r = get(&url, &[("db", "db"), ("q", q.as_str()), STRONG]).await;
        if r.json()["results"][0]["series"][0]["values"] == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the CQ did not write {expected}: {}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    s.stop().await;
}

//! The write path end to end against a real tansu broker and a real metad:
//! HTTP `/write` and raw line-protocol topics (written with `kcat -P`) into
//! shard-group topics, each point on partition `fnv1a_64(series key) %
//! shard_count` of its group's topic, nothing missing; and InfluxDB's
//! answers to bad input.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{drain_shard_topics, eventually, expected_values, tsbs_lines, Cluster};
use ingest::daemon::{self, DaemonConfig};
use ingest::http::ApiConfig;
use ingest::produce::KafkaConfig;
use ingest::raw::RawConfig;
use kafka_log::rdkafka::message::{Header, OwnedHeaders};
use kafka_log::rdkafka::producer::FutureRecord;
use tokio::sync::watch;

const T0: i64 = 1_451_606_400_000_000_000; // 2016-01-01T00:00:00Z

struct Ingest {
    url: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn start_ingest(
    cluster: &Cluster,
    api: ApiConfig,
    dead_letter_topic: Option<String>,
) -> Ingest {
    let port = testkit::free_port();
    let http_listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = DaemonConfig {
        kafka: KafkaConfig {
            brokers: cluster.broker.bootstrap(),
            ..KafkaConfig::default()
        },
        metad: meta_client::Config {
            shared_secret: Some(cluster.secret.clone()),
            ..meta_client::Config::new([cluster.metad_addr.clone()])
        },
        raw: RawConfig {
            topic_prefix: cluster.prefix.clone(),
            group_id: format!("ingest-{port}"),
            dead_letter_topic,
            ..RawConfig::default()
        },
        http_listen,
        serve_writes: true,
        api,
    };
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(async move { daemon::run(config, rx).await.expect("ingest runs") });
    let url = format!("http://{http_listen}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while client.get(format!("{url}/ping")).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "ingest did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ingest { url, stop, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_and_raw_topic_points_land_on_their_partitions() {
    let cluster = Cluster::start(3, "bench").await;
    let ingest = start_ingest(&cluster, ApiConfig::default(), None).await;
    let http = reqwest::Client::new();

    // Over HTTP: 50 hosts × 20 intervals, two writes.
    let body = tsbs_lines(50, 20, T0);
    let mut expected = expected_values(&body);
    let lines: Vec<&str> = body.lines().collect();
    for half in lines.chunks(lines.len() / 2) {
        let r = http
            .post(format!("{}/write?db=bench", ingest.url))
            .body(half.join("\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        assert!(r.headers().contains_key("x-influxdb-version"));
    }

    // Into raw topics: the per-database topic, and the catch-all one with a
    // `db` header and second precision.
    let raw_topic = schemas::topics::raw_topic_for_database(&cluster.prefix, "bench").unwrap();
    let catch_all = schemas::topics::raw_topic(&cluster.prefix);
    cluster.broker.create_topic(&raw_topic, 2).await.unwrap();
    cluster.broker.create_topic(&catch_all, 1).await.unwrap();
    // With kcat, one record per line, as the README tells users to.
    let raw_body = tsbs_lines(30, 20, T0 + 1_000_000_000_000);
    expected.extend(expected_values(&raw_body));
    let raw_lines: Vec<&str> = raw_body.lines().collect();
    let (first, second) = raw_lines.split_at(raw_lines.len() / 2);
    let brokers = cluster.broker.bootstrap();
    testkit::kcat_produce(&brokers, &raw_topic, Some(0), &[], &first.join("\n"));
    testkit::kcat_produce(&brokers, &raw_topic, Some(1), &[], &second.join("\n"));
    // Headers name the database and the precision.
    testkit::kcat_produce(
        &brokers,
        &catch_all,
        None,
        &[("db", "bench"), ("precision", "s")],
        "disk,host=a used=1.5 1500000000",
    );
    // A point without timestamp takes the record's (kcat cannot set one).
    let record_ms = 1_500_000_000_000i64;
    let producer = kafka_log::dead_letter_producer(&KafkaConfig::new(&brokers)).unwrap();
    producer
        .send(
            FutureRecord::<(), _>::to(&catch_all)
                .payload("disk,host=b used=2.5")
                .timestamp(record_ms)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "db",
                    value: Some("bench"),
                })),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    expected.insert((
        "disk,host=a".into(),
        "used".into(),
        1_500_000_000_000_000_000,
        "1.5".into(),
    ));
    expected.insert((
        "disk,host=b".into(),
        "used".into(),
        record_ms * 1_000_000,
        "2.5".into(),
    ));

    let mut got = Default::default();
    for _ in 0..60 {
        let md = cluster.snapshot().await;
        got = drain_shard_topics(&brokers, &md);
        if got.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} values missing, e.g. {missing:?}",
        expected.difference(&got).count()
    );
    assert_eq!(got.len(), expected.len(), "no value that was not written");

    // Groups were made by metad with one shard per live data node (rf 1).
    let md = cluster.snapshot().await;
    assert!(md
        .shard_groups()
        .all(|g| g.shards.len() == 3 && g.topic.starts_with(&cluster.prefix)));

    let metrics = http
        .get(format!("{}/metrics", ingest.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sluice_ingest_points_accepted_total"),
        "{metrics}"
    );
    ingest.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), ingest.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_influxdb_errors_and_good_lines_are_written() {
    let cluster = Cluster::start(1, "db").await;
    let dead = format!("{}.dead-letter", cluster.prefix);
    cluster.broker.create_topic(&dead, 1).await.unwrap();
    let ingest = start_ingest(
        &cluster,
        ApiConfig {
            auth_enabled: false,
            max_body_size: 10_000,
            ..ApiConfig::default()
        },
        Some(dead.clone()),
    )
    .await;
    let http = reqwest::Client::new();
    let post = |q: &str, body: String| {
        http.post(format!("{}/write?{q}", ingest.url))
            .body(body)
            .send()
    };

    // A batch mixing good and malformed lines: 400 naming the lines, and
    // the good points written.
    let r = post(
        "db=db",
        format!("m v=1 {T0}\nm v= {T0}\nm,t=x w=2i {T0}\nbad\n"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let err: serde_json::Value = r.json().await.unwrap();
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.starts_with("partial write: unable to parse 'm v= "),
        "{msg}"
    );
    assert!(
        msg.contains("(line 2)") && msg.contains("(line 4)") && msg.ends_with("dropped=2"),
        "{msg}"
    );

    // Every line bad: the parse errors alone.
    let r = post("db=db", "nope\n".into()).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "unable to parse 'nope': missing fields (line 1)"
    );

    // Field type conflict with what was written before.
    let r = post("db=db", format!("m v=5i {}\n", T0 + 1)).await.unwrap();
    assert_eq!(r.status(), 400);
    let msg = r.json::<serde_json::Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float"), "{msg}");

    let r = post("db=nope", "m v=1".into()).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "database not found: \"nope\""
    );
    let r = post("", "m v=1".into()).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "database is required"
    );
    let r = post("db=db&rp=nope", "m v=1".into()).await.unwrap();
    assert_eq!(r.status(), 500);
    let r = post("db=db", "m v=1\n".repeat(3000)).await.unwrap();
    assert_eq!(r.status(), 413);
    let r = post("db=db&precision=weeks", "m v=1".into()).await.unwrap();
    assert_eq!(r.status(), 400);

    // gzip bodies.
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("gz v=7 {T0}\n").as_bytes()).unwrap();
    let r = http
        .post(format!(
            "{}/api/v2/write?bucket=db/autogen&org=any",
            ingest.url
        ))
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{:?}", r.text().await);

    // A raw record for a database that does not exist, and one whose point
    // conflicts with the type `m.v` has: counted and dead-lettered, and the
    // partition moves on to the next record.
    let raw_topic = schemas::topics::raw_topic(&cluster.prefix);
    cluster.broker.create_topic(&raw_topic, 1).await.unwrap();
    let producer =
        kafka_log::simple_producer(&KafkaConfig::new(cluster.broker.bootstrap())).unwrap();
    for (db, body) in [
        ("ghost", format!("m v=1 {T0}")),
        ("db", format!("m v=\"s\" {}", T0 + 9)),
        ("db", format!("after v=1 {T0}")),
    ] {
        producer
            .send(
                FutureRecord::<(), _>::to(&raw_topic)
                    .payload(&body)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: "db",
                        value: Some(db),
                    })),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }

    let brokers = cluster.broker.bootstrap();
    let want = [
        ("m".to_string(), "v".to_string(), T0, "1".to_string()),
        ("m,t=x".into(), "w".into(), T0, "2i".into()),
        ("gz".into(), "v".into(), T0, "7".into()),
        ("after".into(), "v".into(), T0, "1".into()),
    ];
    let mut got = Default::default();
    for _ in 0..60 {
        got = drain_shard_topics(&brokers, &cluster.snapshot().await);
        if want.iter().all(|w| got.contains(w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for w in &want {
        assert!(got.contains(w), "{w:?} missing from {got:?}");
    }
    assert_eq!(got.len(), want.len(), "only the good points: {got:?}");
    let metrics = http
        .get(format!("{}/metrics", ingest.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sluice_ingest_raw_bad_records_total{reason=\"refused\"} 2"),
        "{metrics}"
    );
    eventually("dead letter", Duration::from_secs(10), || {
        kafka_log::Watermarks::new(&KafkaConfig::new(&brokers))
            .unwrap()
            .fetch_blocking(&dead, 0, Duration::from_secs(5))
            .is_ok_and(|(_, h)| h == 2)
    })
    .await;
    ingest.stop.send(true).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_credentials_get_401_when_auth_is_on() {
    let cluster = Cluster::start(1, "db").await;
    cluster
        .meta
        .create_user("admin", "s3cret", true)
        .await
        .unwrap();
    cluster
        .meta
        .create_user("reader", "pw", false)
        .await
        .unwrap();
    let ingest = start_ingest(
        &cluster,
        ApiConfig {
            auth_enabled: true,
            ping_auth_enabled: true,
            ..ApiConfig::default()
        },
        None,
    )
    .await;
    let http = reqwest::Client::new();
    let write = |q: String| {
        http.post(format!("{}/write?db=db{q}", ingest.url))
            .body(format!("m v=1 {T0}"))
            .send()
    };
    // The follower may lag the users we just created by a moment.
    let mut status = 0;
    for _ in 0..50 {
        status = write("&u=admin&p=s3cret".into())
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 204 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 204);
    let r = write("&u=admin&p=wrong".into()).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "authorization failed"
    );
    assert_eq!(write(String::new()).await.unwrap().status(), 401);
    let r = write("&u=reader&p=pw".into()).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{}/write?db=db", ingest.url))
        .basic_auth("admin", Some("s3cret"))
        .body(format!("m v=2 {T0}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .post(format!("{}/api/v2/write?bucket=db", ingest.url))
        .header("Authorization", "Token admin:s3cret")
        .body(format!("m v=3 {T0}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // ping-auth-enabled: /ping wants credentials too.
    let ping = |q: &str| http.get(format!("{}/ping{q}", ingest.url)).send();
    assert_eq!(ping("").await.unwrap().status(), 401);
    assert_eq!(ping("?u=admin&p=wrong").await.unwrap().status(), 401);
    assert_eq!(ping("?u=admin&p=s3cret").await.unwrap().status(), 204);
    ingest.stop.send(true).unwrap();
}

/// Reads from `stream` until the server closes it (or `within` passes);
/// returns what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut got)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_and_greedy_clients_cannot_hold_the_api() {
    use tokio::io::AsyncWriteExt as _;
    let cluster = Cluster::start(1, "db").await;
    let limits = settings::HttpLimits {
        max_concurrent_write_limit: 1,
        max_enqueued_write_limit: 0,
        enqueued_write_timeout: Duration::from_millis(200),
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(5),
        ..settings::HttpLimits::default()
    };
    let ingest = start_ingest(
        &cluster,
        ApiConfig {
            limits,
            ..ApiConfig::default()
        },
        None,
    )
    .await;
    let addr = ingest.url.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();
    let write = || {
        http.post(format!("{}/write?db=db", ingest.url))
            .body(format!("m v=1 {T0}"))
            .send()
    };

    // Slow loris: headers that never end; the connection is closed.
    let mut loris = tokio::net::TcpStream::connect(&addr).await.unwrap();
    loris
        .write_all(b"POST /write?db=db HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut loris, Duration::from_secs(10))
            .await
            .is_some(),
        "a client that never finishes its headers keeps its connection"
    );

    // The first write makes the shard group and its topic, which on a busy
    // machine can outlast the slow body below: make it first.
    assert_eq!(write().await.unwrap().status(), 204);
    // A write whose body trickles holds the only write slot; with no queue
    // the next write is refused at once, as InfluxDB refuses it...
    let start_slow = || async {
        let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
        slow.write_all(
            b"POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nm v=1 ",
        )
        .await
        .unwrap();
        slow
    };
    let mut slow = start_slow().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = write().await.unwrap();
        if r.status() == 503 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"], "request throttled, queue full");
            break;
        }
        // The slow request may not have reached its handler yet, or, on a
        // busy machine, reached it after this write took the slot and was
        // refused itself (it has an answer then): send it again.
        let mut byte = [0u8; 1];
        let answered = tokio::time::timeout(Duration::from_millis(20), slow.peek(&mut byte)).await;
        if answered.is_ok() {
            slow = start_slow().await;
        }
        assert!(std::time::Instant::now() < deadline, "never throttled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...until the slow body runs out of time (408), freeing the slot.
    let mut answer = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt as _;
        slow.read_exact(&mut answer).await
    })
    .await
    .expect("an answer to the slow write")
    .unwrap();
    assert_eq!(
        &answer,
        b"HTTP/1.1 408",
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(write().await.unwrap().status(), 204);
    ingest.stop.send(true).unwrap();
    let _ = ingest.task.await;

    // max-connection-limit: a connection past the limit is closed at once.
    let ingest = start_ingest(
        &cluster,
        ApiConfig {
            limits: settings::HttpLimits {
                max_connection_limit: 1,
                ..settings::HttpLimits::default()
            },
            ..ApiConfig::default()
        },
        None,
    )
    .await;
    let addr = ingest.url.trim_start_matches("http://").to_owned();
    // The start-up probe's connection may take a moment to be released.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let holder = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
    extra
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok();
    assert_eq!(
        read_until_closed(&mut extra, Duration::from_secs(5)).await,
        Some(String::new()),
        "the connection past the limit was served"
    );
    drop(holder);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reqwest::Client::new()
        .get(format!("{}/ping", ingest.url))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ingest.stop.send(true).unwrap();
}

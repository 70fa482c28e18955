//! Test context: a real tansu broker, a real metad (in-process, with its
//! HTTP API on loopback), registered data nodes kept alive by heartbeats, and
//! a reader that drains every shard-group topic.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_log::rdkafka::consumer::Consumer;
use kafka_log::rdkafka::{Message, Offset, TopicPartitionList};
use kafka_log::KafkaConfig;
use meta_client::MetaClient;
use schemas::meta::MetaData;
use schemas::{series_key, shard_index, FieldValues, LogRecord};

pub struct Cluster {
    pub broker: testkit::Broker,
    pub metad_addr: String,
    pub meta: Arc<MetaClient>,
    pub prefix: String,
    /// The shared secret every node-to-node call carries.
    pub secret: String,
    _cluster: sluice::cluster::Cluster,
    _meta_dir: tempfile::TempDir,
    _heartbeats: tokio::task::JoinHandle<()>,
}

impl Cluster {
    /// Broker, metad with `data_nodes` live data nodes, and `db` created.
    pub async fn start(data_nodes: usize, db: &str) -> Self {
        let broker = testkit::Broker::start().expect("start tansu");
        let meta_dir = tempfile::tempdir().unwrap();
        let spec = sluice::cluster::ClusterSpec::for_test(meta_dir.path(), broker.bootstrap(), 0);
        let cluster = spec.start().await.expect("start metad");
        let meta = Arc::clone(&cluster.meta);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut nodes = Vec::new();
        for i in 0..data_nodes {
            loop {
                match meta
                    .register_data_node(
                        &format!("127.0.0.1:{}", 20000 + i),
                        &format!("127.0.0.1:{}", 21000 + i),
                        None,
                    )
                    .await
                {
                    Ok(n) => break nodes.push(n.id),
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("waiting for metad: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("metad did not come up: {e}"),
                }
            }
        }
        // Keep the registered nodes alive: shard groups are sized from them.
        let hb = Arc::clone(&meta);
        let heartbeats = tokio::spawn(async move {
            loop {
                for &id in &nodes {
                    let _ = hb.heartbeat(id, Vec::new()).await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        meta.create_database(db, None)
            .await
            .expect("create database");
        Cluster {
            broker,
            metad_addr: cluster.meta_addr.to_string(),
            meta,
            prefix: cluster.spec().topic_prefix.clone(),
            secret: cluster
                .spec()
                .shared_secret
                .clone()
                .expect("tests run with a secret"),
            _cluster: cluster,
            _meta_dir: meta_dir,
            _heartbeats: heartbeats,
        }
    }

    pub async fn snapshot(&self) -> MetaData {
        self.meta.snapshot_linearizable().await.unwrap()
    }
}

/// One stored field value, as comparable text.
pub type Value = (String, String, i64, String);

/// Every value of every shard-group topic of `md`, after checking that each
/// record sits on the partition its series hashes to.
pub fn drain_shard_topics(brokers: &str, md: &MetaData) -> BTreeSet<Value> {
    let mut out = BTreeSet::new();
    for group in md.shard_groups() {
        let consumer = kafka_log::reader(&KafkaConfig::new(brokers), "test-reader").unwrap();
        let mut tpl = TopicPartitionList::new();
        let mut remaining = 0;
        for shard in &group.shards {
            let partition = shard.index as i32;
            let (low, high) = consumer
                .fetch_watermarks(&group.topic, partition, Duration::from_secs(10))
                .unwrap();
            remaining += high - low;
            tpl.add_partition_offset(&group.topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while remaining > 0 {
            assert!(
                Instant::now() < deadline,
                "{} records not read from {}",
                remaining,
                group.topic
            );
            let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let msg = msg.unwrap();
            remaining -= 1;
            let LogRecord::Points(batch) = LogRecord::decode(msg.payload().unwrap()).unwrap()
            else {
                panic!("tombstone in a write test");
            };
            let shard = &group.shards[msg.partition() as usize];
            assert_eq!(
                batch.shard_id,
                shard.id,
                "record of shard {} on partition {}",
                batch.shard_id,
                msg.partition()
            );
            for s in batch.series {
                let key = series_key(&s.measurement, &s.tags);
                assert_eq!(
                    shard_index(&key, group.shards.len() as u32) as i32,
                    msg.partition(),
                    "{key} on the wrong partition of {}",
                    group.topic
                );
                for c in s.fields {
                    let texts: Vec<String> = match c.values {
                        FieldValues::Float(v) => v.iter().map(|x| format!("{x}")).collect(),
                        FieldValues::Integer(v) => v.iter().map(|x| format!("{x}i")).collect(),
                        FieldValues::Unsigned(v) => v.iter().map(|x| format!("{x}u")).collect(),
                        FieldValues::String(v) => v.iter().map(|x| format!("{x:?}")).collect(),
                        FieldValues::Boolean(v) => v.iter().map(|x| x.to_string()).collect(),
                    };
                    for (ts, v) in c.timestamps.into_iter().zip(texts) {
                        out.insert((key.clone(), c.name.to_string(), ts, v));
                    }
                }
            }
        }
    }
    out
}

/// The values a body of line protocol holds (nanosecond timestamps).
pub fn expected_values(body: &str) -> BTreeSet<Value> {
    let batch = line_protocol::parse_batch(body, line_protocol::Precision::Nanoseconds, 0);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    let mut out = BTreeSet::new();
    for p in batch.points {
        let key = series_key(&p.measurement, &p.tags);
        for (name, v) in p.fields {
            let text = match v {
                line_protocol::FieldValue::Float(x) => format!("{x}"),
                line_protocol::FieldValue::Integer(x) => format!("{x}i"),
                line_protocol::FieldValue::Unsigned(x) => format!("{x}u"),
                line_protocol::FieldValue::String(x) => format!("{x:?}"),
                line_protocol::FieldValue::Boolean(x) => x.to_string(),
            };
            out.insert((key.clone(), name.to_string(), p.timestamp_ns, text));
        }
    }
    out
}

pub use testkit::tsbs::cpu_lines as tsbs_lines;

/// Waits until `f` holds.
pub async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! Point batches through a real tansu broker: produced with idempotence,
//! `acks=all` and compression to explicit partitions, read back with manual
//! partition assignment, checked record by record (offsets and contents).

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_log::rdkafka::consumer::Consumer;
use kafka_log::rdkafka::producer::FutureRecord;
use kafka_log::rdkafka::{Message, Offset, TopicPartitionList};
use kafka_log::KafkaConfig;
use schemas::record::record_key;
use schemas::{
    series_key, shard_index, FieldColumn, FieldValues, LogRecord, PointBatch, Series, Tag,
};

const SHARDS: u32 = 3;

fn batch_for(shard: u32, seq: i64, hosts: &[String]) -> PointBatch<'static> {
    PointBatch {
        database: "db".into(),
        retention_policy: "autogen".into(),
        shard_id: 100 + u64::from(shard),
        series: hosts
            .iter()
            .map(|h| Series {
                measurement: "cpu".into(),
                tags: vec![Tag {
                    key: "host".into(),
                    value: h.clone().into(),
                }],
                fields: vec![
                    FieldColumn {
                        name: "usage".into(),
                        timestamps: vec![seq * 10, seq * 10 + 1],
                        values: FieldValues::Float(vec![seq as f64, 0.5]),
                    },
                    FieldColumn {
                        name: "note".into(),
                        timestamps: vec![seq * 10],
                        values: FieldValues::String(vec![format!("batch {seq}").into()]),
                    },
                ],
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_land_on_their_partition_and_read_back_identically() {
    let broker = testkit::Broker::start().expect("start tansu");
    let topic = schemas::topics::shard_group_topic("itest", 1);

    broker.create_topic(&topic, SHARDS as i32).await.unwrap();

    // Route 30 hosts by the contract's function.
    let mut by_shard: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for h in 0..30 {
        let host = format!("host_{h}");
        let key = series_key("cpu", &[("host", host.as_str())]);
        by_shard
            .entry(shard_index(&key, SHARDS))
            .or_default()
            .push(host);
    }
    assert_eq!(
        by_shard.len(),
        SHARDS as usize,
        "30 hosts spread over all shards"
    );

    // The write path's own producer: idempotent, acks=all, lz4.
    let kafka = KafkaConfig::new(broker.bootstrap());
    let producer = kafka_log::producer(&kafka).unwrap();
    let mut expected: BTreeMap<(u32, i64), PointBatch<'static>> = BTreeMap::new();
    for seq in 0..5 {
        for (&shard, hosts) in &by_shard {
            let batch = batch_for(shard, seq, hosts);
            let payload = batch.encode();
            let key = record_key(batch.shard_id);
            let delivery = producer
                .send(
                    FutureRecord::to(&topic)
                        .partition(shard as i32)
                        .key(&key)
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
            assert_eq!(delivery.partition, shard as i32);
            assert_eq!(delivery.offset, seq, "offsets are dense per partition");
            expected.insert((shard, delivery.offset), batch);
        }
    }

    let consumer = kafka_log::reader(&kafka, "unused-manual-assignment").unwrap();
    let mut tpl = TopicPartitionList::new();
    for shard in 0..SHARDS {
        tpl.add_partition_offset(&topic, shard as i32, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();

    let mut seen = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < expected.len() && std::time::Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.expect("consume without error");
        let partition = msg.partition() as u32;
        let record = LogRecord::decode(msg.payload().unwrap()).expect("decodes");
        let LogRecord::Points(batch) = record else {
            panic!("a point batch")
        };
        assert_eq!(msg.key(), Some(record_key(batch.shard_id).as_bytes()));
        for series in &batch.series {
            let key = series_key(&series.measurement, &series.tags);
            assert_eq!(
                shard_index(&key, SHARDS),
                partition,
                "{key} on the wrong partition"
            );
        }
        seen.insert((partition, msg.offset()), batch.into_owned());
    }
    assert_eq!(seen, expected);

    let (low, high) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!((low, high), (0, 5));
}

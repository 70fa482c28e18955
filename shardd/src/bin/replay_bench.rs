//! Replay benchmark: how fast a fresh replica rebuilds from its partition.
//!
//! ```text
//! CARGO_TARGET_DIR=/root/.cache/sluice/target \
//!   cargo run --release -p shardd --bin replay-bench -- [--records 200] [--hosts 100] \
//!       [--batches 1,4,16,64] [--brokers host:port]
//! ```
//!
//! Produces `--records` TSBS-shaped point batches (TSBS `cpu`: 10 tags per
//! host, 10 integer fields as random walks, 10 s apart, 5000 lines per
//! record as ingest builds them) into one partition of a local tansu
//! broker (started here unless `--brokers` names one), then replays the
//! partition into a fresh shard with the replica consumer for each apply
//! batch size, and prints field values per second of wall time and per
//! CPU second of the process (consume + decode + apply; librdkafka's
//! fetch threads included). Target: ≥ 1.5 M field values/s per core.
//!
//! Then it brings a new owner to caught-up both ways in the same run — a
//! full replay, and a peer's snapshot plus the partition after it — and
//! prints both times and the bytes per field value of the log, the
//! snapshot and the compacted store. `--records 173 --hosts 100` is one
//! day of TSBS at 10 s (864 000 lines).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use kafka_log::rdkafka::producer::FutureRecord;
use kafka_log::{Admin, KafkaConfig, TopicSpec};
use schemas::record::record_key;
use schemas::{FieldColumn, FieldValues, PointBatch, Series, Tag};
use shardd::{ConsumerConfig, ReplicaSpec};
use storage::{NodeBudget, Store};

const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];
const LINES_PER_RECORD: usize = 5000;
const SHARD_ID: u64 = 1;

/// Replay benchmark for shardd.
#[derive(Debug, Parser)]
#[command(name = "replay-bench")]
struct Args {
    /// Records to produce (each 5000 lines × 10 fields = 50 000 values).
    #[arg(long, default_value_t = 200)]
    records: usize,
    /// Hosts (series) in the data set.
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Apply batch sizes (records per RocksDB write batch) to try.
    #[arg(long, default_value = "1,4,16,64", value_delimiter = ',')]
    batches: Vec<usize>,
    /// Use this broker instead of starting tansu.
    #[arg(long)]
    brokers: Option<String>,
}

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn host_tags(rng: &mut Rng, h: usize) -> Vec<(String, String)> {
    const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];
    let region = REGIONS[rng.below(4) as usize];
    vec![
        ("arch".into(), ["x64", "x86"][rng.below(2) as usize].into()),
        (
            "datacenter".into(),
            format!("{region}{}", ["a", "b", "c"][rng.below(3) as usize]),
        ),
        ("hostname".into(), format!("host_{h}")),
        (
            "os".into(),
            ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"][rng.below(3) as usize].into(),
        ),
        ("rack".into(), rng.below(100).to_string()),
        ("region".into(), region.into()),
        ("service".into(), rng.below(20).to_string()),
        (
            "service_environment".into(),
            ["production", "staging", "test"][rng.below(3) as usize].into(),
        ),
        ("service_version".into(), rng.below(2).to_string()),
        (
            "team".into(),
            ["SF", "NYC", "LON", "CHI"][rng.below(4) as usize].into(),
        ),
    ]
}

/// TSBS-shaped records: each covers `LINES_PER_RECORD / hosts` consecutive
/// timestamps for every host, values a clamped integer random walk.
fn records(n: usize, hosts: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x5EED_0000_0000_0001);
    let tags: Vec<_> = (0..hosts).map(|h| host_tags(&mut rng, h)).collect();
    let mut walk: Vec<[i64; 10]> = (0..hosts)
        .map(|_| std::array::from_fn(|_| rng.below(100) as i64))
        .collect();
    let per_record = (LINES_PER_RECORD / hosts).max(1);
    let start_s: i64 = 1_767_225_600;
    (0..n)
        .map(|r| {
            let ts: Vec<i64> = (0..per_record)
                .map(|i| (start_s + ((r * per_record + i) as i64) * 10) * 1_000_000_000)
                .collect();
            let series = (0..hosts)
                .map(|h| Series {
                    measurement: Cow::Borrowed("cpu"),
                    tags: tags[h]
                        .iter()
                        .map(|(k, v)| Tag {
                            key: Cow::Owned(k.clone()),
                            value: Cow::Owned(v.clone()),
                        })
                        .collect(),
                    fields: FIELDS
                        .iter()
                        .enumerate()
                        .map(|(f, name)| FieldColumn {
                            name: Cow::Borrowed(*name),
                            timestamps: ts.clone(),
                            values: FieldValues::Integer(
                                (0..per_record)
                                    .map(|_| {
                                        let step = rng.below(3) as i64 - 1;
                                        walk[h][f] = (walk[h][f] + step).clamp(0, 100);
                                        walk[h][f]
                                    })
                                    .collect(),
                            ),
                        })
                        .collect(),
                })
                .collect();
            PointBatch {
                database: "bench".into(),
                retention_policy: "autogen".into(),
                shard_id: SHARD_ID,
                series,
            }
            .encode()
        })
        .collect()
}

/// User + system CPU seconds of this process so far (Linux `/proc`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // tansu's data directory, to weigh what the broker keeps.
    let broker_dir = tempfile::tempdir()?;
    let broker = match &args.brokers {
        Some(_) => None,
        None => Some(
            testkit::Broker::start_in(broker_dir.path(), testkit::free_port())
                .context("start tansu")?,
        ),
    };
    let brokers = args
        .brokers
        .clone()
        .or_else(|| broker.as_ref().map(|b| b.bootstrap()))
        .expect("one of them");
    let topic = format!("replay-bench-{}", std::process::id());

    let data = records(args.records, args.hosts);
    let values = (args.records * (LINES_PER_RECORD / args.hosts).max(1) * args.hosts * 10) as f64;
    let bytes: usize = data.iter().map(Vec::len).sum();
    println!(
        "data: {} records, {} hosts, {:.1} M field values, {:.1} MiB encoded",
        args.records,
        args.hosts,
        values / 1e6,
        bytes as f64 / (1 << 20) as f64
    );

    let kafka = KafkaConfig {
        // The write path's producer, with room for records of ~2 MiB
        // (message.max.bytes = max_record_bytes + 64 KiB).
        max_record_bytes: (2 << 20) - 64 * 1024,
        operation_timeout: Duration::from_secs(10),
        ..KafkaConfig::new(&brokers)
    };
    Admin::new(&kafka)?
        .create_topic(&TopicSpec::new(&topic, 1, 1))
        .await?;
    let producer = kafka_log::producer(&kafka)?;
    let t = Instant::now();
    let key = record_key(SHARD_ID);
    let sends: Vec<_> = data
        .iter()
        .map(|d| {
            producer.send(
                FutureRecord::to(&topic).partition(0).key(&key).payload(d),
                Duration::from_secs(30),
            )
        })
        .collect();
    for s in sends {
        s.await.map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    }
    println!("produced in {:.2} s", t.elapsed().as_secs_f64());

    println!("\nreplay into a fresh shard (consume → decode → apply_many):");
    println!(
        "{:>14}  {:>9}  {:>9}  {:>16}  {:>18}",
        "batch records", "wall s", "cpu s", "values/s (wall)", "values/s per core"
    );
    for &batch in &args.batches {
        let dir = tempfile::tempdir()?;
        let spec = ReplicaSpec {
            shard_id: SHARD_ID,
            database: "bench".into(),
            retention_policy: "autogen".into(),
            shard_group_id: 1,
            topic: topic.clone(),
            partition: 0,
        };
        let config = ConsumerConfig {
            kafka: kafka.clone(),
            group_id: "replay-bench".into(),
            batch_max_records: batch,
            ..ConsumerConfig::default()
        };
        let store = Store::open(dir.path(), NodeBudget::default())?;
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let status =
            tokio::task::spawn_blocking(move || shardd::replay_partition(spec, store, config))
                .await?
                .map_err(|reason| anyhow::anyhow!("replay failed: {reason}"))?;
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map(|(a, b)| a - b);
        anyhow::ensure!(
            status.values_applied as f64 == values,
            "applied {} values, expected {values}",
            status.values_applied
        );
        println!(
            "{batch:>14}  {wall:>9.2}  {:>9}  {:>14.2} M  {:>16}",
            cpu.map_or("-".into(), |c| format!("{c:.2}")),
            values / wall / 1e6,
            cpu.map_or("-".into(), |c| format!("{:.2} M", values / c / 1e6)),
        );
    }
    println!("\ntarget: >= 1.5 M field values/s per core");

    let broker_bytes = broker
        .is_some()
        .then(|| testkit::dir_size(broker_dir.path()));
    new_owner(&topic, &kafka, values, bytes, broker_bytes)?;
    Ok(())
}

/// A new owner brought to caught-up two ways, in one run: by replaying the
/// whole partition, and by installing a peer's snapshot (the peer being
/// the replica the replay made, uncompacted, as a live peer's hot shard
/// is) and then fetching the partition after its offset, which is empty
/// here. The snapshot goes through a pipe between two threads, as it goes
/// through the internal API's body between two nodes, without the network.
fn new_owner(
    topic: &str,
    kafka: &KafkaConfig,
    values: f64,
    log_bytes: usize,
    broker_bytes: Option<u64>,
) -> anyhow::Result<()> {
    let spec = ReplicaSpec {
        shard_id: SHARD_ID,
        database: "bench".into(),
        retention_policy: "autogen".into(),
        shard_group_id: 1,
        topic: topic.to_owned(),
        partition: 0,
    };
    let config = ConsumerConfig {
        kafka: kafka.clone(),
        group_id: "replay-bench".into(),
        ..ConsumerConfig::default()
    };
    println!(
        "\nnew owner brought to caught-up (batch {}):",
        config.batch_max_records
    );
    let peer_dir = tempfile::tempdir()?;
    let peer = Store::open(peer_dir.path(), NodeBudget::default())?;
    let t = Instant::now();
    shardd::replay_partition(spec.clone(), peer.clone(), config.clone())
        .map_err(|reason| anyhow::anyhow!("replay failed: {reason}"))?;
    let replay_s = t.elapsed().as_secs_f64();
    let peer_digest = peer.shard(SHARD_ID, &Default::default())?.digest()?;

    let owner_dir = tempfile::tempdir()?;
    let owner = Store::open(owner_dir.path(), NodeBudget::default())?;
    let t = Instant::now();
    let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
    let exporter = {
        let peer = peer.clone();
        std::thread::spawn(move || {
            peer.export_shard(
                SHARD_ID,
                std::io::BufWriter::with_capacity(256 << 10, writer),
            )
        })
    };
    let imported = owner.import_shard(
        SHARD_ID,
        std::io::BufReader::with_capacity(256 << 10, reader),
    )?;
    exporter
        .join()
        .map_err(|_| anyhow::anyhow!("export thread panicked"))??;
    let tail = shardd::replay_partition(spec, owner.clone(), config)
        .map_err(|reason| anyhow::anyhow!("tail replay failed: {reason}"))?;
    let snapshot_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        tail.records_applied == 0,
        "the tail held {} records",
        tail.records_applied
    );
    let shard = owner.shard(SHARD_ID, &Default::default())?;
    anyhow::ensure!(
        shard.digest()? == peer_digest,
        "the snapshot's copy differs from its peer"
    );
    println!("  by full replay:         {replay_s:>7.2} s");
    println!(
        "  by snapshot + tail:     {snapshot_s:>7.2} s  ({:.1} MiB streamed, {:.1}x faster)",
        imported.bytes as f64 / (1 << 20) as f64,
        replay_s / snapshot_s
    );

    drop(shard);
    let peer_shard = peer.shard(SHARD_ID, &Default::default())?;
    peer_shard.compact()?;
    let store_bytes = peer.size_on_disk()?;
    println!("\nbytes per field value:");
    println!(
        "  Kafka log, record payloads (before the producer's lz4):       {:>6.2}",
        log_bytes as f64 / values
    );
    if let Some(b) = broker_bytes {
        println!(
            "  tansu's data directory (lz4 batches as sent, in sqlite):     {:>6.2}",
            b as f64 / values
        );
    }
    println!(
        "  snapshot stream:                                            {:>6.2}",
        imported.bytes as f64 / values
    );
    println!(
        "  shard store on disk, compacted (whole store directory):     {:>6.2}",
        store_bytes as f64 / values
    );
    Ok(())
}

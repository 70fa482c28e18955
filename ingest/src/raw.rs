//! Raw line-protocol topics: producers write line protocol straight to
//! Kafka, and ingest daemons route it, sharing the partitions through a
//! consumer group.
//!
//! ```text
//!  <prefix>.lp.<db> / <prefix>.lp ──▶ poll a run of records ──▶ parse each (its timestamp
//!  headers db, rp, precision          (same db and rp)          is the default time)
//!                                                                   │
//!   commit offsets ◀── store offsets ◀── Kafka acked ◀── route + produce (WriteService)
//! ```
//!
//! Delivery is at least once: a record's offset is stored for commit only
//! after every point routed from it is acknowledged, so a crash replays it
//! (replicas apply idempotently). A record that can never be written (no
//! database, unknown database, unparsable lines) is counted, logged with
//! topic/partition/offset, copied to the dead-letter topic if one is set,
//! and passed: it never blocks its partition. Failures that can heal (metad
//! or Kafka unreachable) are retried and do block, so nothing is skipped.

use std::sync::Arc;
use std::time::Duration;

use kafka_log::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use kafka_log::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use kafka_log::rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use kafka_log::rdkafka::producer::{FutureProducer, FutureRecord};
use line_protocol::{parse_batch_bytes, Point, Precision};
use schemas::topics::{self, HEADER_DATABASE, HEADER_PRECISION, HEADER_RETENTION_POLICY};
use tokio::sync::watch;
use tracing::{error, info, info_span, warn, Instrument};

use crate::now_ns;
use crate::produce::KafkaConfig;
use crate::write::{WriteError, WriteService};

/// Settings of the raw-topic consumer.
#[derive(Debug, Clone)]
pub struct RawConfig {
    /// Cluster topic prefix: consumes `<prefix>.lp` and `<prefix>.lp.<db>`.
    pub topic_prefix: String,
    /// Consumer group shared by all ingest daemons.
    pub group_id: String,
    /// Kafka static membership (`group.instance.id`): a stable name per
    /// daemon, so that one restarted in place (crash, SIGKILL, upgrade)
    /// takes its partitions straight back instead of waiting for the
    /// broker to expire its previous incarnation. Unique per daemon.
    pub instance_id: Option<String>,
    /// Where records that cannot be written are copied, if anywhere.
    pub dead_letter_topic: Option<String>,
    /// Most records routed together.
    pub max_batch_records: usize,
    /// How long to wait for more records before routing what arrived.
    pub max_batch_wait: Duration,
    /// Partitions of the raw topics this daemon creates (`<prefix>.lp` and
    /// `<prefix>.lp.<db>` for every database, as databases appear), so that
    /// producers can write to them on brokers that do not create topics on
    /// first use (tansu, Kafka with auto-create off); 0 leaves creating
    /// them to the operator.
    pub create_topic_partitions: usize,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            topic_prefix: topics::DEFAULT_PREFIX.into(),
            group_id: "sluice-ingest".into(),
            instance_id: None,
            dead_letter_topic: None,
            max_batch_records: 1000,
            max_batch_wait: Duration::from_millis(10),
            create_topic_partitions: 4,
        }
    }
}

/// Why the consumer stopped.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// A Kafka client (the consumer, the dead-letter producer) could not
    /// be created.
    #[error(transparent)]
    Client(#[from] kafka_log::Error),
    /// The consumer could not subscribe to the raw topics.
    #[error("raw-topic consumer: subscribing to {pattern}: {source}")]
    Subscribe {
        /// The subscription pattern.
        pattern: String,
        /// The cause.
        source: KafkaError,
    },
    /// The dead-letter topic is a raw topic, or not a valid name.
    #[error("dead-letter topic {0:?} must be a valid topic name outside the raw topics (<prefix>.lp, <prefix>.lp.*)")]
    BadDeadLetterTopic(String),
}

/// Refuses a dead-letter topic that is itself a raw topic: the consumer
/// would read its own dead letters back, forever.
pub fn validate_dead_letter_topic(prefix: &str, topic: &str) -> Result<(), RawError> {
    let is_raw = topic == topics::raw_topic(prefix)
        || topics::database_of_raw_topic(prefix, topic).is_some();
    if is_raw || !topics::is_valid_topic_name(topic) {
        return Err(RawError::BadDeadLetterTopic(topic.to_owned()));
    }
    Ok(())
}

/// The subscription pattern: the catch-all topic and every per-database one.
pub fn subscription(prefix: &str) -> String {
    format!("^{}\\.lp(\\..+)?$", regex_escape(prefix))
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$-".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// A record's write parameters, from its headers and topic name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    database: String,
    retention_policy: Option<String>,
    precision: Precision,
}

/// Why a raw record cannot be written at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BadRecord {
    #[error("no database: the topic name names none and the record has no `db` header")]
    NoDatabase,
    #[error("header {0:?} is not UTF-8")]
    BadHeader(&'static str),
    #[error("{0}")]
    BadPrecision(String),
    #[error("{0}")]
    Refused(String),
}

impl BadRecord {
    fn label(&self) -> &'static str {
        match self {
            BadRecord::NoDatabase => "no_database",
            BadRecord::BadHeader(_) => "bad_header",
            BadRecord::BadPrecision(_) => "bad_precision",
            BadRecord::Refused(_) => "refused",
        }
    }
}

fn header<'m>(msg: &'m OwnedMessage, name: &'static str) -> Result<Option<&'m str>, BadRecord> {
    let Some(headers) = msg.headers() else {
        return Ok(None);
    };
    // The last header of a name wins, as with HTTP parameters.
    let value = headers
        .iter()
        .filter(|h| h.key == name)
        .last()
        .and_then(|h| h.value);
    value
        .map(|v| std::str::from_utf8(v).map_err(|_| BadRecord::BadHeader(name)))
        .transpose()
}

fn params(prefix: &str, msg: &OwnedMessage) -> Result<Params, BadRecord> {
    let database = match header(msg, HEADER_DATABASE)? {
        Some(db) if !db.is_empty() => db.to_owned(),
        _ => topics::database_of_raw_topic(prefix, msg.topic())
            .ok_or(BadRecord::NoDatabase)?
            .to_owned(),
    };
    let retention_policy = header(msg, HEADER_RETENTION_POLICY)?
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let precision = header(msg, HEADER_PRECISION)?
        .unwrap_or_default()
        .parse()
        .map_err(|e: line_protocol::UnknownPrecision| BadRecord::BadPrecision(e.to_string()))?;
    Ok(Params {
        database,
        retention_policy,
        precision,
    })
}

/// A record's timestamp in ns (its create or log-append time), the default
/// time of its points that carry none.
fn record_time_ns(msg: &OwnedMessage) -> i64 {
    msg.timestamp()
        .to_millis()
        .map_or_else(now_ns, |ms| ms.saturating_mul(1_000_000))
}

/// The consumer loop. Runs until `shutdown` turns true, then commits what
/// was written and returns.
pub async fn run(
    service: Arc<WriteService>,
    kafka: &KafkaConfig,
    config: RawConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), RawError> {
    // Consumer-group and offset settings: kafka_log::raw_consumer.
    let consumer: Arc<StreamConsumer> = Arc::new(kafka_log::raw_consumer(
        kafka,
        &config.group_id,
        config.instance_id.as_deref(),
    )?);
    let pattern = subscription(&config.topic_prefix);
    consumer
        .subscribe(&[&pattern])
        .map_err(|source| RawError::Subscribe {
            pattern: pattern.clone(),
            source,
        })?;
    info!(%pattern, group = %config.group_id, "consuming raw line-protocol topics");
    let dead_letters: Option<FutureProducer> = match &config.dead_letter_topic {
        Some(topic) => {
            validate_dead_letter_topic(&config.topic_prefix, topic)?;
            Some(kafka_log::dead_letter_producer(kafka)?)
        }
        None => None,
    };
    let lag_task = tokio::spawn(report_lag(Arc::clone(&consumer), Arc::clone(&service)));
    let topics_task = (config.create_topic_partitions > 0).then(|| {
        tokio::spawn(create_raw_topics(
            Arc::clone(&service),
            config.topic_prefix.clone(),
            config.create_topic_partitions,
        ))
    });
    let writer = RunWriter {
        consumer: &consumer,
        service: &service,
        config: &config,
        dead_letters: dead_letters.as_ref(),
    };

    loop {
        let first = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            m = consumer.recv() => m,
        };
        let mut batch = Vec::new();
        match first {
            Ok(m) => batch.push(m.detach()),
            Err(e) => {
                warn!(error = %e, "raw-topic consumer error");
                continue;
            }
        }
        while batch.len() < config.max_batch_records {
            match tokio::time::timeout(config.max_batch_wait, consumer.recv()).await {
                Ok(Ok(m)) => batch.push(m.detach()),
                Ok(Err(e)) => warn!(error = %e, "raw-topic consumer error"),
                Err(_elapsed) => break,
            }
        }
        writer
            .process(batch, &mut shutdown)
            .instrument(info_span!("raw_batch"))
            .await;
    }
    lag_task.abort();
    let _ = lag_task.await;
    if let Some(t) = topics_task {
        t.abort();
        let _ = t.await;
    }
    // Stored offsets of everything written so far; NoOffset means the
    // background commit already took them all.
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => warn!(error = %e, "final offset commit failed"),
    }
    close(consumer).await;
    Ok(())
}

/// How long leaving the consumer group may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Drops (closes) the consumer on a thread of its own and stops waiting
/// after [`CLOSE_TIMEOUT`]: librdkafka's close (revoke, leave the group)
/// blocks, and against tansu 0.6 it has been seen to block without end.
/// Offsets are committed already; a member that never left is expired by
/// the broker after `session.timeout.ms`.
async fn close(consumer: Arc<StreamConsumer>) {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        drop(consumer);
        let _ = done_tx.send(());
    });
    if tokio::time::timeout(CLOSE_TIMEOUT, done_rx).await.is_err() {
        warn!(timeout = ?CLOSE_TIMEOUT, "the raw-topic consumer did not close in time; leaving it");
    }
}

struct RunWriter<'a> {
    consumer: &'a StreamConsumer,
    service: &'a WriteService,
    config: &'a RawConfig,
    dead_letters: Option<&'a FutureProducer>,
}

impl RunWriter<'_> {
    /// Writes a batch of records in runs of the same target, in order.
    async fn process(&self, batch: Vec<OwnedMessage>, shutdown: &mut watch::Receiver<bool>) {
        let mut run: Vec<(OwnedMessage, Params)> = Vec::new();
        for msg in batch {
            match params(&self.config.topic_prefix, &msg) {
                Err(bad) => {
                    // Finish what precedes it first so offsets stay in order.
                    self.write_run(std::mem::take(&mut run), shutdown).await;
                    self.bad_record(&msg, &bad).await;
                    self.store(&msg);
                }
                Ok(p) => {
                    let same = run.last().is_none_or(|(_, q)| {
                        q.database == p.database && q.retention_policy == p.retention_policy
                    });
                    if !same {
                        self.write_run(std::mem::take(&mut run), shutdown).await;
                    }
                    run.push((msg, p));
                }
            }
        }
        self.write_run(run, shutdown).await;
    }

    async fn write_run(
        &self,
        run: Vec<(OwnedMessage, Params)>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let Some((_, first)) = run.first() else {
            return;
        };
        let (db, rp) = (first.database.clone(), first.retention_policy.clone());
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.try_write_run(&run, &db, rp.as_deref()).await {
                Ok(()) => break,
                Err(WriteError::DatabaseNotFound(_) | WriteError::RetentionPolicyNotFound(_)) => {
                    let why = self
                        .service
                        .target(&db, rp.as_deref())
                        .await
                        .err()
                        .map_or_else(|| "refused".to_owned(), |e| e.to_string());
                    for (msg, _) in &run {
                        self.bad_record(msg, &BadRecord::Refused(why.clone())).await;
                    }
                    break;
                }
                Err(e) => {
                    // metad or Kafka is away: retry; skipping would lose data.
                    error!(error = %e, db, retry_in_ms = backoff.as_millis() as u64, "raw-topic write failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        for (msg, _) in &run {
            self.store(msg);
        }
    }

    async fn try_write_run(
        &self,
        run: &[(OwnedMessage, Params)],
        db: &str,
        rp: Option<&str>,
    ) -> Result<(), WriteError> {
        let target = self.service.target(db, rp).await?;
        // Each point's line_number becomes an index into `origins`, so a
        // rejection names its record and line.
        let mut origins: Vec<(usize, usize)> = Vec::new();
        let mut points: Vec<Point<'_>> = Vec::new();
        for (i, (msg, p)) in run.iter().enumerate() {
            let body = msg.payload().unwrap_or_default();
            let parsed = parse_batch_bytes(body, p.precision, record_time_ns(msg));
            if !parsed.errors.is_empty() {
                self.service
                    .metrics()
                    .rejected("parse", parsed.errors.len());
                let text: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
                self.bad_record(msg, &BadRecord::Refused(text.join("\n")))
                    .await;
            }
            for mut point in parsed.points {
                origins.push((i, point.line_number));
                point.line_number = origins.len() - 1;
                points.push(point);
            }
        }
        let outcome = self.service.write_points(&target, points, now_ns()).await?;
        // Refused points (a field type conflict, beyond retention) send
        // their record to the dead-letter topic with the reasons, as a
        // record with a line that does not parse does.
        let mut refused: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
        for r in &outcome.rejected {
            let (i, line) = origins[r.line_number];
            refused
                .entry(i)
                .or_default()
                .push(format!("{} (line {line})", r.reason));
        }
        for (i, reasons) in refused {
            self.bad_record(&run[i].0, &BadRecord::Refused(reasons.join("\n")))
                .await;
        }
        Ok(())
    }

    fn store(&self, msg: &OwnedMessage) {
        if let Err(e) = self
            .consumer
            .store_offset(msg.topic(), msg.partition(), msg.offset())
        {
            // The partition was revoked meanwhile; its new owner replays.
            warn!(error = %e, topic = msg.topic(), partition = msg.partition(), "cannot store offset");
        }
    }

    async fn bad_record(&self, msg: &OwnedMessage, why: &BadRecord) {
        self.service.metrics().raw_bad_record(why.label());
        warn!(
            topic = msg.topic(),
            partition = msg.partition(),
            offset = msg.offset(),
            reason = %why,
            "raw-topic record not (fully) written"
        );
        let (Some(producer), Some(topic)) = (self.dead_letters, &self.config.dead_letter_topic)
        else {
            return;
        };
        let mut headers = OwnedHeaders::new();
        if let Some(h) = msg.headers() {
            for header in h.iter() {
                headers = headers.insert(header);
            }
        }
        let reason = why.to_string();
        let origin = format!("{}/{}/{}", msg.topic(), msg.partition(), msg.offset());
        headers = headers
            .insert(Header {
                key: "sluice-error",
                value: Some(&reason),
            })
            .insert(Header {
                key: "sluice-origin",
                value: Some(&origin),
            });
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
        if let Some(p) = msg.payload() {
            record = record.payload(p);
        }
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Err((e, _)) = producer.send(record, Duration::from_secs(10)).await {
            error!(error = %e, %topic, "cannot copy record to the dead-letter topic");
        }
    }
}

/// Publishes consumer lag (high watermark - position) every few seconds.
/// Keeps a raw topic for every database of the meta data (and the
/// catch-all one) in existence.
async fn create_raw_topics(service: Arc<WriteService>, prefix: String, partitions: usize) {
    let mut meta = service.follower().subscribe();
    let mut made = std::collections::HashSet::new();
    loop {
        let md = Arc::clone(&meta.borrow_and_update());
        let wanted = std::iter::once(topics::raw_topic(&prefix)).chain(
            md.databases
                .keys()
                .filter_map(|db| topics::raw_topic_for_database(&prefix, db)),
        );
        for topic in wanted {
            if made.contains(&topic) {
                continue;
            }
            match service
                .producer()
                .ensure_raw_topic(&topic, partitions)
                .await
            {
                Ok(()) => {
                    made.insert(topic);
                }
                Err(e) => warn!(error = %e, "creating a raw line-protocol topic failed; retrying"),
            }
        }
        // Retry failures a little later; otherwise wait for new databases.
        let retry = tokio::time::sleep(Duration::from_secs(5));
        tokio::select! {
            changed = meta.changed() => if changed.is_err() { return },
            _ = retry => {}
        }
    }
}

async fn report_lag(consumer: Arc<StreamConsumer>, service: Arc<WriteService>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let c = Arc::clone(&consumer);
        // Watermark queries block on the network.
        let lags = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let Ok(position) = c.position() else {
                return out;
            };
            for e in position.elements() {
                if let Ok((_, high)) =
                    c.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2))
                {
                    let pos = e.offset().to_raw().filter(|o| *o >= 0).unwrap_or(0);
                    out.push((e.topic().to_owned(), e.partition(), (high - pos).max(0)));
                }
            }
            out
        })
        .await
        .unwrap_or_default();
        for (topic, partition, lag) in lags {
            service.metrics().raw_lag(&topic, partition, lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_log::rdkafka::message::Timestamp;

    use super::*;

    fn msg(topic: &str, headers: &[(&'static str, &str)]) -> OwnedMessage {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(Header {
                key: k,
                value: Some(*v),
            });
        }
        OwnedMessage::new(
            Some(b"m v=1".to_vec()),
            None,
            topic.into(),
            Timestamp::CreateTime(1_000),
            0,
            7,
            Some(h),
        )
    }

    #[test]
    fn parameters_from_topic_and_headers() {
        let p = params("sluice", &msg("sluice.lp.telegraf", &[])).unwrap();
        assert_eq!(p.database, "telegraf");
        assert_eq!(p.retention_policy, None);
        assert_eq!(p.precision, Precision::Nanoseconds);
        let p = params(
            "sluice",
            &msg(
                "sluice.lp.telegraf",
                &[("db", "other"), ("rp", "week"), ("precision", "s")],
            ),
        )
        .unwrap();
        assert_eq!(
            (p.database.as_str(), p.retention_policy.as_deref()),
            ("other", Some("week"))
        );
        assert_eq!(p.precision, Precision::Seconds);
        assert_eq!(
            params("sluice", &msg("sluice.lp", &[])),
            Err(BadRecord::NoDatabase)
        );
        assert!(matches!(
            params(
                "sluice",
                &msg("sluice.lp", &[("db", "x"), ("precision", "weeks")])
            ),
            Err(BadRecord::BadPrecision(_))
        ));
        assert_eq!(record_time_ns(&msg("t", &[])), 1_000_000_000);
    }

    #[test]
    fn dead_letter_topic_must_not_be_consumed() {
        assert!(validate_dead_letter_topic("sluice", "sluice.dead-letter").is_ok());
        assert!(validate_dead_letter_topic("sluice", "sluice.lp").is_err());
        assert!(validate_dead_letter_topic("sluice", "sluice.lp.dlq").is_err());
        assert!(validate_dead_letter_topic("sluice", "bad topic").is_err());
    }

    #[test]
    fn subscription_pattern() {
        let re = subscription("my-cluster");
        assert_eq!(re, "^my\\-cluster\\.lp(\\..+)?$");
    }
}

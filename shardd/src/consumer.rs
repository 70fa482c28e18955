//! The consumer of one replica: a blocking thread that owns an rdkafka
//! `BaseConsumer` manually assigned to the shard's partition, and applies
//! what it reads to the shard.
//!
//! ```text
//!  assign (topic, partition) at applied+1 | beginning | operator's offset
//!    │
//!    ▼
//!  poll ─ a run of records (≤ batch_max_records, ≤ batch_max_bytes) ─┐
//!    ▲                                                                │ control lock
//!    │   commands: rebuild / resume / stop    hold: apply nothing > N │
//!    │                                                                ▼
//!    │          check offsets (gap?) ─ LogRecord::decode ─ shard id ─ apply_many
//!    │                                                                │
//!    └── publish: applied offset, progress (watch), counters, state ◀─┘
//!        failure → state failed{reason}, unassign, wait for an operator
//! ```
//!
//! Polling `BaseConsumer` on a thread of its own follows Quickwit: rdkafka
//! and RocksDB calls block, so they stay off the async runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_log::rdkafka::consumer::Consumer;
use kafka_log::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use kafka_log::rdkafka::message::{BorrowedMessage, Message};
use kafka_log::rdkafka::{Offset, TopicPartitionList};
use kafka_log::KafkaConfig;
use schemas::node_api::ReplicaState;
use schemas::LogRecord;
use storage::{Shard, ShardOptions, StorageResources};
use tracing::{debug, error, info, info_span, warn};

use crate::metrics::{FailureKind, Metrics};
use crate::replica::{Command, Replica};

/// The consumer of one replica (its settings: `kafka_log::replica_consumer`).
type BaseConsumer = kafka_log::ReplicaConsumer;

/// Name of the file in a shard directory that records an operator's
/// `resume-shard --from-offset N` until a record at or after `N` is applied,
/// so a crash in between does not stop at the skipped record again.
const RESUME_FILE: &str = "SLUICE_RESUME_FROM";

/// Default of [`ConsumerConfig::compact_cold_after`]: InfluxDB's 4 h.
pub(crate) const DEFAULT_COMPACT_COLD_AFTER: Duration = Duration::from_secs(4 * 3600);

/// Settings of the replica consumers.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Brokers, client id and extra librdkafka properties (a node takes
    /// them from [`crate::NodeConfig::kafka`]).
    pub kafka: KafkaConfig,
    /// `group.id`, required by librdkafka but used for nothing: partitions
    /// are assigned, never subscribed, and offsets are never committed.
    pub group_id: String,
    /// Most records applied in one `apply_many` (one RocksDB write batch).
    pub batch_max_records: usize,
    /// Most record bytes applied in one `apply_many`.
    pub batch_max_bytes: usize,
    /// How long one poll waits for a record.
    pub poll_timeout: Duration,
    /// Per-shard options of new shards.
    pub shard_options: ShardOptions,
    /// A shard that has applied nothing for this long is compacted once
    /// (InfluxDB's `compact-full-write-cold-duration`); `None`: never.
    pub compact_cold_after: Option<Duration>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            kafka: KafkaConfig::default(),
            group_id: "sluice-shardd".into(),
            batch_max_records: 16,
            batch_max_bytes: 16 << 20,
            poll_timeout: Duration::from_millis(100),
            shard_options: ShardOptions::default(),
            compact_cold_after: Some(DEFAULT_COMPACT_COLD_AFTER),
        }
    }
}

/// Everything a consumer thread needs.
pub(crate) struct ConsumerCtx {
    pub replica: Arc<Replica>,
    pub resources: StorageResources,
    pub config: ConsumerConfig,
    pub metrics: Arc<Metrics>,
}

/// Where the consumer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Assigned and applying; `expected` is the next offset, `None` when
    /// reading from the beginning of the partition.
    Running { expected: Option<i64> },
    /// Stopped by a hold before the record at `next`.
    Held { next: i64 },
    /// Stopped by a failure; waits for a command.
    Failed,
}

/// A failure: what to tell the operator.
struct Failure {
    kind: FailureKind,
    reason: String,
}

impl Failure {
    fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Failure {
            kind,
            reason: reason.into(),
        }
    }
}

/// Runs the consumer of `ctx.replica` until it is told to stop.
pub(crate) fn run(ctx: ConsumerCtx) {
    let spec = &ctx.replica.spec;
    let span = info_span!(
        "consumer",
        shard_id = spec.shard_id,
        topic = %spec.topic,
        partition = spec.partition
    );
    let _entered = span.enter();
    let consumer: BaseConsumer =
        match kafka_log::replica_consumer(&ctx.config.kafka, &ctx.config.group_id) {
            Ok(c) => c,
            Err(e) => {
                let mut c = ApplyLoop::without_kafka(&ctx);
                c.fail(Failure::new(FailureKind::Consumer, e.to_string()));
                c.wait_for_stop();
                return;
            }
        };
    let mut c = ApplyLoop {
        ctx: &ctx,
        consumer: Some(consumer),
        shard: None,
        phase: Phase::Failed,
        last_transient: None,
        last_write: Instant::now(),
        cold_checked: false,
    };
    c.open_and_assign();
    c.run_loop();
}

/// The consumer thread's state.
struct ApplyLoop<'a> {
    ctx: &'a ConsumerCtx,
    consumer: Option<BaseConsumer>,
    shard: Option<Arc<Shard>>,
    phase: Phase,
    /// When a transient Kafka error was last logged (rate limit).
    last_transient: Option<Instant>,
    /// When a record was last applied (or the loop started), and whether
    /// the shard has been checked for a cold compaction since.
    last_write: Instant,
    cold_checked: bool,
}

impl<'a> ApplyLoop<'a> {
    fn without_kafka(ctx: &'a ConsumerCtx) -> Self {
        ApplyLoop {
            ctx,
            consumer: None,
            shard: None,
            phase: Phase::Failed,
            last_transient: None,
            last_write: Instant::now(),
            cold_checked: false,
        }
    }

    fn replica(&self) -> &Replica {
        &self.ctx.replica
    }

    fn path(&self) -> &Path {
        &self.ctx.replica.spec.path
    }

    fn resume_file(&self) -> PathBuf {
        self.path().join(RESUME_FILE)
    }

    /// Marks the replica failed, counts it and stops fetching.
    fn fail(&mut self, failure: Failure) {
        let shard_id = self.replica().spec.shard_id;
        error!(kind = failure.kind.as_str(), reason = %failure.reason, "replica failed");
        self.ctx.metrics.failure(shard_id, failure.kind);
        {
            let mut st = self.replica().lock_status();
            st.state = ReplicaState::Failed {
                reason: failure.reason,
            };
            st.failures += 1;
        }
        if let Some(c) = &self.consumer {
            let _ = c.unassign();
        }
        self.phase = Phase::Failed;
    }

    /// Opens the shard (if not open) and assigns the partition at the
    /// offset after the applied one.
    fn open_and_assign(&mut self) {
        if self.shard.is_none() {
            let opened = Shard::open(
                self.path(),
                &self.ctx.resources,
                &self.ctx.config.shard_options,
            );
            match opened {
                Ok(s) => {
                    let s = Arc::new(s);
                    self.replica().set_shard(Some(Arc::clone(&s)));
                    self.shard = Some(s);
                }
                Err(e) => {
                    self.fail(Failure::new(
                        FailureKind::Open,
                        format!("cannot open {}: {e}", self.path().display()),
                    ));
                    return;
                }
            }
        }
        let applied = self.shard.as_ref().and_then(|s| s.applied_offset());
        {
            let mut st = self.replica().lock_status();
            st.applied = applied;
        }
        if let Some(a) = applied {
            self.replica().advance_progress(a);
        }
        let resume_from = self.read_resume_file(applied);
        let start = match (applied, resume_from) {
            (_, Some(r)) => Some(r),
            (Some(a), None) => Some(a + 1),
            (None, None) => None,
        };
        if let Some(start) = start {
            if let Some(failure) = self.check_in_range(start) {
                self.fail(failure);
                return;
            }
        }
        info!(?applied, ?start, "assigning partition");
        self.assign(start);
    }

    /// An operator's resume offset, if it still matters.
    fn read_resume_file(&self, applied: Option<i64>) -> Option<i64> {
        let path = self.resume_file();
        let text = std::fs::read_to_string(&path).ok()?;
        let from: i64 = match text.trim().parse() {
            Ok(v) => v,
            Err(_) => {
                warn!(path = %path.display(), "ignoring unreadable resume file");
                return None;
            }
        };
        if applied.is_some_and(|a| a >= from) {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(from)
    }

    fn write_resume_file(&self, from: i64) -> std::io::Result<()> {
        let path = self.resume_file();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, from.to_string())?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(self.path())?.sync_all()
    }

    /// Refuses to start at an offset the partition no longer (or not yet)
    /// holds. Skipped when the watermarks cannot be read (the topic may not
    /// exist yet); librdkafka then reports out-of-range itself.
    fn check_in_range(&mut self, start: i64) -> Option<Failure> {
        let spec = &self.ctx.replica.spec;
        let consumer = self.consumer.as_ref()?;
        let (low, high) = consumer
            .fetch_watermarks(&spec.topic, spec.partition, Duration::from_secs(5))
            .ok()?;
        self.set_watermarks(low, high);
        if start < low {
            return Some(Failure::new(
                FailureKind::OutOfRange,
                format!(
                    "offset {start} is out of range: the partition starts at {low} \
                     (records {start}..{} are gone)",
                    low - 1
                ),
            ));
        }
        if start > high {
            return Some(Failure::new(
                FailureKind::OutOfRange,
                format!(
                    "offset {start} is out of range: the partition ends at {high} \
                     (was the topic recreated?)"
                ),
            ));
        }
        None
    }

    fn set_watermarks(&self, low: i64, high: i64) {
        let mut st = self.replica().lock_status();
        st.low_watermark = Some(low);
        st.high_watermark = Some(high);
    }

    fn assign(&mut self, start: Option<i64>) {
        let spec = &self.ctx.replica.spec;
        let Some(consumer) = &self.consumer else {
            return;
        };
        let mut tpl = TopicPartitionList::new();
        let offset = start.map_or(Offset::Beginning, Offset::Offset);
        if let Err(e) = tpl.add_partition_offset(&spec.topic, spec.partition, offset) {
            let failure = Failure::new(FailureKind::Consumer, format!("assign: {e}"));
            self.fail(failure);
            return;
        }
        if let Err(e) = consumer.assign(&tpl) {
            let failure = Failure::new(FailureKind::Consumer, format!("assign: {e}"));
            self.fail(failure);
            return;
        }
        self.phase = Phase::Running { expected: start };
    }

    fn run_loop(&mut self) {
        loop {
            let command = self.replica().lock_control().command.take();
            match command {
                Some(Command::Stop { remove }) => {
                    self.close(remove);
                    return;
                }
                Some(Command::Rebuild) => {
                    self.rebuild();
                    continue;
                }
                Some(Command::Resume(from)) => {
                    self.resume(from);
                    continue;
                }
                None => {}
            }
            match self.phase {
                Phase::Failed => self.wait(Duration::from_millis(500)),
                Phase::Held { next } => self.held(next),
                Phase::Running { .. } => self.poll_and_apply(),
            }
        }
    }

    /// Sleeps until woken by a command (or `timeout`).
    fn wait(&self, timeout: Duration) {
        let ctl = self.replica().lock_control();
        if ctl.command.is_none() {
            let _ = self.replica().wake.wait_timeout(ctl, timeout);
        }
    }

    /// Used when the consumer could not even be created.
    fn wait_for_stop(&mut self) {
        loop {
            let command = self.replica().lock_control().command.take();
            if let Some(Command::Stop { remove }) = command {
                self.close(remove);
                return;
            }
            self.wait(Duration::from_millis(500));
        }
    }

    /// Stays stopped while the hold covers nothing beyond it.
    fn held(&mut self, next: i64) {
        let release = {
            let mut ctl = self.replica().lock_control();
            let expired = ctl.hold.is_some_and(|h| h.until <= Instant::now());
            if expired {
                ctl.hold = None;
                self.replica().lock_status().hold = None;
            }
            ctl.hold.is_none_or(|h| h.offset >= next)
        };
        if release {
            debug!(next, "hold released");
            self.assign(Some(next));
        } else {
            self.wait(Duration::from_millis(100));
        }
    }

    fn poll_and_apply(&mut self) {
        let Some(consumer) = self.consumer.take() else {
            self.phase = Phase::Failed;
            return;
        };
        self.poll_and_apply_with(&consumer);
        if self.phase == Phase::Failed {
            // `fail` could not reach the consumer while it was lent out.
            let _ = consumer.unassign();
        }
        self.consumer = Some(consumer);
    }

    fn poll_and_apply_with(&mut self, consumer: &BaseConsumer) {
        let Phase::Running { mut expected } = self.phase else {
            return;
        };
        // A run of records, then at most one event (EOF or error) after it.
        let mut messages: Vec<BorrowedMessage<'_>> = Vec::new();
        let mut bytes = 0usize;
        let mut event: Option<KafkaError> = None;
        let mut timeout = self.ctx.config.poll_timeout;
        while messages.len() < self.ctx.config.batch_max_records
            && bytes < self.ctx.config.batch_max_bytes
        {
            match consumer.poll(timeout) {
                None => break,
                Some(Ok(m)) => {
                    bytes += m.payload_len();
                    messages.push(m);
                }
                Some(Err(e)) => {
                    event = Some(e);
                    break;
                }
            }
            timeout = Duration::ZERO;
        }

        let replica = Arc::clone(&self.ctx.replica);
        let mut ctl = replica.lock_control();
        if ctl.command.is_some() {
            // Handled at the top of the loop; what was polled is re-read
            // after the new assignment.
            return;
        }
        if ctl.hold.is_some_and(|h| h.until <= Instant::now()) {
            ctl.hold = None;
            replica.lock_status().hold = None;
        }
        let hold = ctl.hold.map(|h| h.offset);
        let Some(shard) = self.shard.clone() else {
            self.phase = Phase::Failed;
            return;
        };
        let applied = shard.applied_offset();
        let shard_id = replica.spec.shard_id;

        let mut batch: Vec<(i64, LogRecord<'_>)> = Vec::with_capacity(messages.len());
        let mut last_ts: Option<i64> = None;
        let mut failure: Option<Failure> = None;
        let mut held_at: Option<i64> = None;
        let mut skips = 0u64;
        for m in &messages {
            let offset = m.offset();
            if applied.is_some_and(|a| offset <= a) {
                debug!(offset, "record already applied; skipped");
                continue;
            }
            if hold.is_some_and(|h| offset > h) {
                held_at = Some(offset);
                break;
            }
            if let Some(e) = expected {
                if offset > e {
                    match self.classify_jump(consumer, e, offset) {
                        Ok(n) => skips += n,
                        Err(f) => {
                            failure = Some(f);
                            break;
                        }
                    }
                }
            }
            let Some(payload) = m.payload() else {
                failure = Some(Failure::new(
                    FailureKind::Undecodable,
                    format!("undecodable record at offset {offset}: empty value"),
                ));
                break;
            };
            let record = match LogRecord::decode(payload) {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(Failure::new(
                        FailureKind::Undecodable,
                        format!("undecodable record at offset {offset}: {e}"),
                    ));
                    break;
                }
            };
            if record.shard_id() != shard_id {
                failure = Some(Failure::new(
                    FailureKind::WrongShard,
                    format!(
                        "record at offset {offset} is for shard {}, not {shard_id}",
                        record.shard_id()
                    ),
                ));
                break;
            }
            if let Some(ts) = m.timestamp().to_millis() {
                last_ts = Some(ts);
            }
            batch.push((offset, record));
            expected = Some(offset + 1);
        }

        if !batch.is_empty() {
            let values: u64 = batch
                .iter()
                .map(|(_, r)| match r {
                    LogRecord::Points(p) => p.value_count() as u64,
                    LogRecord::Tombstone(_) => 0,
                })
                .sum();
            let records = batch.len() as u64;
            match shard.apply_many(batch.iter().map(|(o, r)| (*o, r))) {
                Ok(_) => {
                    (self.last_write, self.cold_checked) = (Instant::now(), false);
                    self.ctx.metrics.applied(shard_id, records, values);
                    let last = batch.last().map(|(o, _)| *o).expect("not empty");
                    self.published_applied(last, last_ts, records, values);
                }
                Err(e) => {
                    // Find the record it failed at: the ones before it may
                    // be committed, so retry one by one after the applied one.
                    let mut failed_at = batch[0].0;
                    let mut err = e.to_string();
                    for (o, r) in &batch {
                        if shard.applied_offset().is_some_and(|a| *o <= a) {
                            continue;
                        }
                        if let Err(e) = shard.apply(*o, r) {
                            failed_at = *o;
                            err = e.to_string();
                            break;
                        }
                    }
                    if let Some(a) = shard.applied_offset() {
                        self.published_applied(a, None, 0, 0);
                    }
                    failure = Some(Failure::new(
                        FailureKind::Apply,
                        format!("cannot apply record at offset {failed_at}: {err}"),
                    ));
                }
            }
        }
        if skips > 0 {
            self.ctx.metrics.offset_skips(shard_id, skips);
            self.replica().lock_status().offset_skips += skips;
        }
        if let Some(f) = failure {
            self.fail(f);
            return;
        }
        if let Some(next) = held_at {
            let _ = consumer.unassign();
            self.replica().advance_progress(next - 1);
            self.phase = Phase::Held { next };
            return;
        }
        self.phase = Phase::Running { expected };
        if messages.is_empty() {
            // A compaction can take seconds: commands must not wait for it.
            drop(ctl);
            self.compact_if_cold(&shard);
        }
        match event {
            None => {}
            Some(KafkaError::PartitionEOF(_)) => self.caught_up(consumer, expected),
            Some(
                KafkaError::MessageConsumption(code) | KafkaError::MessageConsumptionFatal(code),
            ) if matches!(
                code,
                RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset
            ) =>
            {
                let at = expected.map_or_else(|| "the beginning".to_owned(), |e| e.to_string());
                self.fail(Failure::new(
                    FailureKind::OutOfRange,
                    format!("offset {at} is out of range: {code}"),
                ));
            }
            Some(e) => {
                // Broker unreachable, topic not created yet, leader moving:
                // librdkafka retries; we only report, at most every 10 s.
                let now = Instant::now();
                if self
                    .last_transient
                    .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
                {
                    warn!(error = %e, "kafka error; retrying");
                    self.last_transient = Some(now);
                }
            }
        }
    }

    /// Compacts the shard once when it has applied nothing for
    /// `compact_cold_after`. RocksDB leaves a shard that stopped receiving
    /// writes (a past shard group) with its last flushes in L0 as raw merge
    /// operands, 16 bytes a value before LZ4, where packed blocks take one
    /// or two; reads of it also merge those operands every time.
    fn compact_if_cold(&mut self, shard: &Shard) {
        let Some(after) = self.ctx.config.compact_cold_after else {
            return;
        };
        if self.cold_checked || self.last_write.elapsed() < after {
            return;
        }
        self.cold_checked = true;
        let started = Instant::now();
        match shard.needs_compaction().and_then(|needed| {
            if needed {
                shard.compact()?;
            }
            Ok(needed)
        }) {
            Ok(false) => {}
            Ok(true) => info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "cold shard compacted"
            ),
            Err(e) => warn!(error = %e, "compacting a cold shard failed"),
        }
    }

    /// Decides what an offset jump from `expected` to `got` is.
    ///
    /// Our producers are idempotent, not transactional, and shard topics are
    /// never compacted, so normally offsets are consecutive. Kafka leaves
    /// offsets without data records for transaction markers, which
    /// librdkafka does not hand out: those are counted as skips. A jump over
    /// records that existed and were deleted (retention, `DeleteRecords`)
    /// is a real gap: the partition's first offset has moved past
    /// `expected`. Only that is a failure.
    fn classify_jump(
        &self,
        consumer: &BaseConsumer,
        expected: i64,
        got: i64,
    ) -> Result<u64, Failure> {
        let spec = &self.ctx.replica.spec;
        match consumer.fetch_watermarks(&spec.topic, spec.partition, Duration::from_secs(5)) {
            Ok((low, high)) => {
                self.set_watermarks(low, high);
                if low > expected {
                    return Err(Failure::new(
                        FailureKind::Gap,
                        format!(
                            "gap before offset {got}: records {expected}..{} were deleted \
                             (the partition now starts at {low})",
                            got - 1
                        ),
                    ));
                }
                warn!(
                    expected,
                    got, "offsets without data records skipped (transaction markers)"
                );
                Ok((got - expected) as u64)
            }
            Err(e) => Err(Failure::new(
                FailureKind::Gap,
                format!(
                    "offset jump from {expected} to {got} that cannot be checked \
                     (watermarks: {e})"
                ),
            )),
        }
    }

    fn published_applied(&self, last: i64, ts: Option<i64>, records: u64, values: u64) {
        {
            let mut st = self.replica().lock_status();
            st.applied = Some(last);
            if ts.is_some() {
                st.last_record_ms = ts;
            }
            st.records_applied += records;
            st.values_applied += values;
        }
        self.replica().advance_progress(last);
        if std::fs::metadata(self.resume_file()).is_ok() {
            let _ = std::fs::remove_file(self.resume_file());
        }
    }

    /// End of partition: everything before the fetch position is applied.
    fn caught_up(&self, consumer: &BaseConsumer, expected: Option<i64>) {
        let spec = &self.ctx.replica.spec;
        // The fetch position is past any trailing offsets without data records.
        let position = consumer
            .position()
            .ok()
            .and_then(|tpl| {
                tpl.find_partition(&spec.topic, spec.partition)
                    .and_then(|p| p.offset().to_raw())
            })
            .filter(|p| *p >= 0);
        if let Some(next) = position.or(expected) {
            self.replica().advance_progress(next - 1);
            let mut st = self.replica().lock_status();
            st.high_watermark = Some(st.high_watermark.map_or(next, |h| h.max(next)));
        }
        let mut st = self.replica().lock_status();
        if st.state == ReplicaState::CatchingUp {
            info!(applied = ?st.applied, "replica caught up");
            st.state = ReplicaState::Healthy;
        }
    }

    /// Takes the shard away from readers and waits for the last one.
    fn take_shard(&mut self) -> Option<Shard> {
        self.replica().set_shard(None);
        let mut shard = self.shard.take()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Arc::try_unwrap(shard) {
                Ok(s) => return Some(s),
                Err(back) if Instant::now() < deadline => {
                    shard = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => {
                    error!("a reader still holds the shard after 30 s; closing without it");
                    return None;
                }
            }
        }
    }

    fn close(&mut self, remove: bool) {
        if let Some(c) = &self.consumer {
            let _ = c.unassign();
        }
        let closed = match self.take_shard() {
            Some(s) => s
                .close()
                .map_err(|e| error!(error = %e, "closing shard"))
                .is_ok(),
            None => self.shard.is_none(),
        };
        if remove {
            if closed {
                match Shard::destroy(self.path()) {
                    Ok(()) => info!(path = %self.path().display(), "replica removed"),
                    Err(e) => error!(error = %e, "removing shard directory"),
                }
            } else {
                warn!("shard still open; its directory is removed at the next start");
            }
        } else {
            info!("replica closed");
        }
    }

    /// Drops the local copy and replays the partition from its beginning.
    fn rebuild(&mut self) {
        info!("rebuilding replica from the beginning of the partition");
        if let Some(c) = &self.consumer {
            let _ = c.unassign();
        }
        let closed = match self.take_shard() {
            Some(s) => s.close().is_ok(),
            None => self.shard.is_none(),
        };
        if !closed {
            self.fail(Failure::new(
                FailureKind::Open,
                "rebuild: the shard could not be closed",
            ));
            return;
        }
        if let Err(e) = Shard::destroy(self.path()) {
            self.fail(Failure::new(
                FailureKind::Open,
                format!("rebuild: cannot remove {}: {e}", self.path().display()),
            ));
            return;
        }
        {
            let mut st = self.replica().lock_status();
            st.state = ReplicaState::CatchingUp;
            st.applied = None;
            st.last_record_ms = None;
            st.records_applied = 0;
            st.values_applied = 0;
            st.offset_skips = 0;
        }
        self.replica().reset_progress(None);
        self.open_and_assign();
    }

    /// Continues a failed replica at `from`.
    fn resume(&mut self, from: i64) {
        let applied = self.shard.as_ref().and_then(|s| s.applied_offset());
        if applied.is_some_and(|a| from <= a) {
            warn!(from, ?applied, "resume offset already applied; ignored");
            return;
        }
        if let Err(e) = self.write_resume_file(from) {
            self.fail(Failure::new(
                FailureKind::Open,
                format!("cannot record the resume offset: {e}"),
            ));
            return;
        }
        if let Some(f) = self.check_in_range(from) {
            self.fail(f);
            return;
        }
        info!(from, ?applied, "resuming replica at an operator's offset");
        self.replica().lock_status().state = ReplicaState::CatchingUp;
        self.assign(Some(from));
    }
}

//! The replica consumers of a node: one Kafka consumer for all the
//! partitions of the shards the node owns, and a fixed number of apply
//! threads (`apply_threads`), each running the apply loops of its share of
//! the replicas. What a replica costs is then its state, not a thread or a
//! client of its own.
//!
//! ```text
//!  Consumers::add(spec) ─► worker (shard id mod apply_threads)
//!                              │
//!  Kafka consumer ── partition queue per replica (split_partition_queue)
//!        │                     │ non-empty callback ─► worker wakes
//!        ▼                     ▼
//!  assign (topic, partition) at applied+1 | beginning | operator's offset
//!    │
//!    ▼
//!  poll ─ a run of records (≤ batch_max_records, ≤ batch_max_bytes) ─┐
//!    ▲                                                                │ control lock
//!    │   commands: rebuild / resume / stop /  hold: apply nothing > N │
//!    │   detach (a snapshot replaces the shard; snapshots.rs) / attach│
//!    │                                                                ▼
//!    │          check offsets (gap?) ─ LogRecord::decode ─ shard id ─ apply_many
//!    │                                                                │
//!    └── publish: applied offset, progress (watch), counters, state ◀─┘
//!        failure → state failed{reason}, unassign, wait for an operator
//! ```
//!
//! rdkafka and RocksDB calls block, so the loops run on threads of their
//! own, off the async runtime (as Quickwit polls its consumers). A worker
//! sleeps until a partition queue becomes non-empty, a command arrives, or
//! a tick (holds expiring, cold compactions) is due.
//!
//! A replica whose shard the store does not hold (a new owner, a rebuild)
//! detaches and asks the node for a peer's snapshot (`BootstrapRequests`);
//! the node answers with `Command::Attach` (installed, or replay from the
//! beginning) or `Command::Fail` (the log lost what a replay would need).

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_log::rdkafka::consumer::Consumer;
use kafka_log::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use kafka_log::rdkafka::message::{BorrowedMessage, Message};
use kafka_log::rdkafka::{Offset, TopicPartitionList};
use kafka_log::{KafkaConfig, ReplicaConsumer};
use schemas::meta::{NodeId, ShardId};
use schemas::node_api::ReplicaState;
use schemas::LogRecord;
use storage::{Shard, ShardOptions, Store};
use tracing::{debug, error, info, info_span, warn};

use crate::metrics::{FailureKind, Metrics};
use crate::replica::{Command, Replica, ReplicaSpec, Waker};

/// A partition's own queue on the node's consumer.
type Queue = kafka_log::PartitionQueue;

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
    /// How often an idle worker looks at holds and cold shards.
    pub poll_timeout: Duration,
    /// Threads applying records, whatever the number of replicas; replicas
    /// are spread over them by shard id.
    pub apply_threads: usize,
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
            apply_threads: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 4),
            shard_options: ShardOptions::default(),
            compact_cold_after: Some(DEFAULT_COMPACT_COLD_AFTER),
        }
    }
}

/// What wakes a worker.
pub(crate) enum Wake {
    /// A new replica to run.
    Add(Arc<Replica>),
    /// A replica has records, an event or a command.
    Ready(ShardId),
    /// A partition's records reached the consumer's main queue, where no
    /// apply loop reads them: assign it again from the applied offset.
    Reassign(String, i32),
    /// Close every replica (keeping its data) and end.
    Exit,
}

/// The node's consumer and its apply threads.
pub(crate) struct Consumers {
    consumer: Arc<ReplicaConsumer>,
    workers: Vec<(mpsc::Sender<Wake>, std::thread::JoinHandle<()>)>,
}

/// Where a replica without a shard asks for a peer's snapshot (the node's
/// bootstrap task); it answers with [`Command::Attach`].
pub(crate) type BootstrapRequests = tokio::sync::mpsc::UnboundedSender<Arc<Replica>>;

/// What every apply loop of a node shares.
struct Shared {
    consumer: Arc<ReplicaConsumer>,
    store: Store,
    config: ConsumerConfig,
    metrics: Arc<Metrics>,
    /// `None` (a replay without a node): new replicas replay the partition.
    bootstrap: Option<BootstrapRequests>,
}

impl Consumers {
    /// Creates the node's consumer and starts the apply threads.
    pub(crate) fn start(
        config: ConsumerConfig,
        store: Store,
        metrics: Arc<Metrics>,
        bootstrap: Option<BootstrapRequests>,
    ) -> Result<Consumers, kafka_log::Error> {
        let consumer = Arc::new(kafka_log::replica_consumer(
            &config.kafka,
            &config.group_id,
        )?);
        let threads = config.apply_threads.max(1);
        let shared = Arc::new(Shared {
            consumer: Arc::clone(&consumer),
            store,
            config,
            metrics,
            bootstrap,
        });
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel()).unzip();
        let workers = rxs
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                let worker = Worker {
                    shared: Arc::clone(&shared),
                    tx: txs[i].clone(),
                    others: (i == 0).then(|| txs.clone()),
                    loops: HashMap::new(),
                    ready: BTreeSet::new(),
                };
                let handle = std::thread::Builder::new()
                    .name(format!("apply-{i}"))
                    .spawn(move || worker.run(rx))
                    .expect("spawn apply thread");
                (txs[i].clone(), handle)
            })
            .collect();
        Ok(Consumers { consumer, workers })
    }

    /// The `(low, high)` watermarks of an assigned partition as the last
    /// fetch response gave them (no request).
    pub(crate) fn cached_watermarks(&self, topic: &str, partition: i32) -> Option<(i64, i64)> {
        kafka_log::cached_watermarks(&self.consumer, topic, partition)
    }

    /// Starts a replica of `spec` on its worker.
    pub(crate) fn add(&self, spec: ReplicaSpec, node_id: NodeId) -> Arc<Replica> {
        let (tx, _) = &self.workers[spec.shard_id as usize % self.workers.len()];
        let replica = Arc::new(Replica::new(spec, node_id, Waker::new(tx.clone())));
        let _ = tx.send(Wake::Add(Arc::clone(&replica)));
        replica
    }

    /// Closes every replica (keeping their data) and waits for the threads.
    pub(crate) fn stop(self) {
        drop(self.consumer);
        for (tx, _) in &self.workers {
            let _ = tx.send(Wake::Exit);
        }
        for (_, handle) in self.workers {
            let _ = handle.join();
        }
    }
}

/// One apply thread: the loops of its replicas.
struct Worker {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Wake>,
    /// Worker 0 serves the consumer's main queue and tells the others.
    others: Option<Vec<mpsc::Sender<Wake>>>,
    loops: HashMap<ShardId, ApplyLoop>,
    /// Replicas to step: records waiting, a command, or a full batch last
    /// time (the queue's callback fires only when it becomes non-empty).
    ready: BTreeSet<ShardId>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Wake>) {
        let tick = self.shared.config.poll_timeout;
        let mut last_tick = Instant::now();
        loop {
            let wait = if self.ready.is_empty() {
                tick.saturating_sub(last_tick.elapsed())
            } else {
                Duration::ZERO
            };
            let mut next = rx.recv_timeout(wait);
            loop {
                match next {
                    Ok(Wake::Add(r)) => self.add(r),
                    Ok(Wake::Ready(id)) => {
                        self.ready.insert(id);
                    }
                    Ok(Wake::Reassign(topic, partition)) => self.reassign(&topic, partition),
                    Ok(Wake::Exit) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                        self.exit();
                        return;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                }
                next = rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => mpsc::RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
                });
            }
            self.serve_main_queue();
            for id in std::mem::take(&mut self.ready) {
                self.step(id);
            }
            if last_tick.elapsed() >= tick {
                last_tick = Instant::now();
                let ids: Vec<ShardId> = self.loops.keys().copied().collect();
                for id in ids {
                    if let Some(l) = self.loops.get_mut(&id) {
                        l.tick();
                    }
                }
            }
        }
    }

    fn add(&mut self, replica: Arc<Replica>) {
        let id = replica.spec.shard_id;
        // A replica of the same shard may still be closing (removed and
        // owned again): its stop command is pending; carry it out first.
        if self.loops.contains_key(&id) {
            self.step(id);
            if let Some(mut old) = self.loops.remove(&id) {
                old.close(false);
            }
        }
        let mut l = ApplyLoop::new(Arc::clone(&self.shared), replica, self.tx.clone());
        l.start(true);
        self.loops.insert(id, l);
        self.ready.insert(id);
    }

    fn step(&mut self, id: ShardId) {
        let Some(l) = self.loops.get_mut(&id) else {
            return;
        };
        match l.step() {
            Step::Idle => {}
            Step::More => {
                self.ready.insert(id);
            }
            Step::Stopped => {
                self.loops.remove(&id);
            }
        }
    }

    /// Every partition has its own queue, so the main queue carries only
    /// events; librdkafka serves callbacks when it is polled.
    fn serve_main_queue(&mut self) {
        let Some(others) = &self.others else {
            return;
        };
        while let Some(polled) = self.shared.consumer.poll(Duration::ZERO) {
            match polled {
                Ok(m) => {
                    error!(
                        topic = m.topic(),
                        partition = m.partition(),
                        offset = m.offset(),
                        "record outside its partition queue; reassigning the partition"
                    );
                    for tx in others {
                        let _ = tx.send(Wake::Reassign(m.topic().to_owned(), m.partition()));
                    }
                }
                Err(e) => debug!(error = %e, "consumer event"),
            }
        }
    }

    fn reassign(&mut self, topic: &str, partition: i32) {
        for l in self.loops.values_mut() {
            if l.replica.spec.topic == topic && l.replica.spec.partition == partition {
                if let Phase::Running { expected } = l.phase {
                    let start =
                        expected.or_else(|| l.shard.as_ref()?.applied_offset().map(|a| a + 1));
                    l.assign(start);
                }
            }
        }
    }

    fn exit(&mut self) {
        for (_, mut l) in self.loops.drain() {
            let remove = matches!(
                l.replica.lock_control().command,
                Some(Command::Stop { remove: true })
            );
            l.close(remove);
        }
        // Once for all the shards closed (each close does not sync).
        if let Err(e) = self.shared.store.sync_wal() {
            error!(error = %e, "syncing the store's WAL");
        }
    }
}

/// What a step of an apply loop left to do.
enum Step {
    /// Nothing until woken.
    Idle,
    /// A full batch was applied: there may be more.
    More,
    /// The replica is closed.
    Stopped,
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
    /// The shard is closed while a snapshot replaces it; waits for
    /// [`Command::Attach`].
    Detached,
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

/// The apply loop of one replica.
struct ApplyLoop {
    shared: Arc<Shared>,
    replica: Arc<Replica>,
    /// Wakes this loop's worker when the partition queue fills.
    tx: mpsc::Sender<Wake>,
    queue: Option<Queue>,
    shard: Option<Arc<Shard>>,
    phase: Phase,
    /// When a transient Kafka error was last logged (rate limit).
    last_transient: Option<Instant>,
    /// When a record was last applied (or the loop started), and whether
    /// the shard has been checked for a cold compaction since.
    last_write: Instant,
    cold_checked: bool,
    /// While catching up: the partition's end when its first fetch after
    /// the assignment answered (see `reached_start_end`).
    catch_up_to: Option<i64>,
}

impl ApplyLoop {
    fn new(shared: Arc<Shared>, replica: Arc<Replica>, tx: mpsc::Sender<Wake>) -> Self {
        ApplyLoop {
            shared,
            replica,
            tx,
            queue: None,
            shard: None,
            phase: Phase::Failed,
            last_transient: None,
            last_write: Instant::now(),
            cold_checked: false,
            catch_up_to: None,
        }
    }

    fn replica(&self) -> &Replica {
        &self.replica
    }

    fn span(&self) -> tracing::Span {
        let spec = &self.replica.spec;
        info_span!(
            "consumer",
            shard_id = spec.shard_id,
            topic = %spec.topic,
            partition = spec.partition
        )
    }

    /// Carries out a pending command, or applies what the partition queue
    /// holds.
    fn step(&mut self) -> Step {
        let span = self.span();
        let _entered = span.enter();
        let command = self.replica().lock_control().command.take();
        match command {
            Some(Command::Stop { remove }) => {
                self.close(remove);
                return Step::Stopped;
            }
            Some(Command::Rebuild { replay }) => self.rebuild(replay),
            Some(Command::Resume(from)) => self.resume(from),
            Some(Command::Detach) => self.detach(),
            Some(Command::Attach) if self.phase == Phase::Detached => {
                self.replica().lock_status().detached = false;
                self.open_and_assign();
            }
            Some(Command::Fail(reason)) if self.phase == Phase::Detached => {
                self.replica().lock_status().detached = false;
                self.fail(Failure::new(FailureKind::OutOfRange, reason));
            }
            Some(Command::Attach | Command::Fail(_)) | None => {}
        }
        match self.phase {
            Phase::Failed | Phase::Detached => Step::Idle,
            Phase::Held { next } => {
                // Released by a wake (the API's release) or a tick (expiry).
                self.held(next);
                Step::Idle
            }
            Phase::Running { .. } => self.poll_and_apply(),
        }
    }

    /// What a worker does for every loop now and then: release an expired
    /// hold, compact a shard gone cold.
    fn tick(&mut self) {
        match self.phase {
            Phase::Held { next } => {
                let span = self.span();
                let _entered = span.enter();
                self.held(next);
            }
            Phase::Running { .. } => {
                if let Some(shard) = self.shard.clone() {
                    let span = self.span();
                    let _entered = span.enter();
                    self.compact_if_cold(&shard);
                }
            }
            Phase::Failed | Phase::Detached => {}
        }
    }

    /// Marks the replica failed, counts it and stops fetching.
    fn fail(&mut self, failure: Failure) {
        let shard_id = self.replica().spec.shard_id;
        error!(kind = failure.kind.as_str(), reason = %failure.reason, "replica failed");
        self.shared.metrics.failure(shard_id, failure.kind);
        {
            let mut st = self.replica().lock_status();
            st.state = ReplicaState::Failed {
                reason: failure.reason,
            };
            st.failures += 1;
        }
        self.unassign();
        self.phase = Phase::Failed;
    }

    /// Starts a replica: a shard the store does not hold yet is first
    /// offered a peer's snapshot (when `may_bootstrap` and the node
    /// bootstraps), then opened and assigned.
    fn start(&mut self, may_bootstrap: bool) {
        let id = self.replica.spec.shard_id;
        let store = &self.shared.store;
        // Keys without meta are what an import cut short by a crash leaves;
        // a shard opened over them would reuse their ids: dropped first.
        let has_copy = if self.shard.is_some() {
            Ok(true)
        } else {
            store.contains_shard(id).and_then(|has| {
                if !has {
                    store.destroy_shard(id)?;
                }
                Ok(has)
            })
        };
        let has_copy = match has_copy {
            Ok(has) => has,
            Err(e) => {
                self.fail(Failure::new(
                    FailureKind::Open,
                    format!("cannot look up or clear shard {id}: {e}"),
                ));
                return;
            }
        };
        if let (false, true, Some(requests)) =
            (has_copy, may_bootstrap, self.shared.bootstrap.clone())
        {
            let span = self.span();
            let _entered = span.enter();
            self.detach();
            if self.phase == Phase::Detached {
                info!("no local copy: asking the node for a peer's snapshot");
                if requests.send(Arc::clone(&self.replica)).is_ok() {
                    return;
                }
                // The node is stopping: nothing will answer.
                self.replica().lock_status().detached = false;
            }
        }
        self.open_and_assign();
    }

    /// Stops fetching and closes the shard, so that a snapshot can replace
    /// it; the installer waits for [`crate::replica::Status::detached`].
    fn detach(&mut self) {
        self.unassign();
        if !self.close_shard() {
            self.fail(Failure::new(
                FailureKind::Open,
                "the shard could not be closed for a snapshot",
            ));
            return;
        }
        {
            let mut st = self.replica().lock_status();
            st.state = ReplicaState::CatchingUp;
            st.applied = None;
            st.detached = true;
            st.detaches += 1;
        }
        // What the snapshot holds may be behind what this copy had.
        self.replica().reset_progress(None);
        self.phase = Phase::Detached;
    }

    /// Opens the shard (if not open) and assigns the partition at the
    /// offset after the applied one.
    fn open_and_assign(&mut self) {
        let span = self.span();
        let _entered = span.enter();
        if self.shard.is_none() {
            let id = self.replica.spec.shard_id;
            match self
                .shared
                .store
                .shard(id, &self.shared.config.shard_options)
            {
                Ok(s) => {
                    let s = Arc::new(s);
                    self.replica().set_shard(Some(Arc::clone(&s)));
                    self.shard = Some(s);
                }
                Err(e) => {
                    self.fail(Failure::new(
                        FailureKind::Open,
                        format!("cannot open shard {id}: {e}"),
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
        let resume_from = self.shard.as_ref().and_then(|s| s.resume_from());
        let start = match (applied, resume_from) {
            (_, Some(r)) => Some(r),
            (Some(a), None) => Some(a + 1),
            (None, None) => None,
        };
        // From the beginning needs no check here: whoever started this
        // replica without a snapshot (the bootstrap, a rebuild by replay)
        // has made sure the partition still starts at offset 0.
        if let Some(failure) = start.and_then(|start| self.check_in_range(start)) {
            self.fail(failure);
            return;
        }
        info!(?applied, ?start, "assigning partition");
        self.assign(start);
    }

    /// Refuses to start at an offset the partition no longer (or not yet)
    /// holds. Skipped when the watermarks cannot be read (the topic may not
    /// exist yet); librdkafka then reports out-of-range itself.
    fn check_in_range(&mut self, start: i64) -> Option<Failure> {
        let spec = &self.replica.spec;
        let (low, high) = self
            .shared
            .consumer
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

    fn partition_list(&self, offset: Offset) -> Result<TopicPartitionList, KafkaError> {
        let spec = &self.replica.spec;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&spec.topic, spec.partition, offset)?;
        Ok(tpl)
    }

    /// Stops fetching the partition and drops its queue.
    fn unassign(&mut self) {
        if self.queue.take().is_some() {
            if let Ok(tpl) = self.partition_list(Offset::Invalid) {
                if let Err(e) = self.shared.consumer.incremental_unassign(&tpl) {
                    warn!(error = %e, "unassign");
                }
            }
        }
    }

    /// (Re)starts fetching the partition at `start` (`None`: its
    /// beginning), into a queue of its own that wakes this loop's worker.
    fn assign(&mut self, start: Option<i64>) {
        self.unassign();
        let spec = &self.replica.spec;
        let Some(mut queue) = self
            .shared
            .consumer
            .split_partition_queue(&spec.topic, spec.partition)
        else {
            self.fail(Failure::new(
                FailureKind::Consumer,
                format!("no queue for topic {:?}", spec.topic),
            ));
            return;
        };
        let (tx, id) = (self.tx.clone(), spec.shard_id);
        queue.set_nonempty_callback(move || {
            let _ = tx.send(Wake::Ready(id));
        });
        let assigned = self
            .partition_list(start.map_or(Offset::Beginning, Offset::Offset))
            .and_then(|tpl| self.shared.consumer.incremental_assign(&tpl));
        if let Err(e) = assigned {
            self.fail(Failure::new(FailureKind::Consumer, format!("assign: {e}")));
            return;
        }
        self.queue = Some(queue);
        self.phase = Phase::Running { expected: start };
        self.catch_up_to = None;
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
        }
    }

    fn poll_and_apply(&mut self) -> Step {
        let Some(queue) = self.queue.take() else {
            self.phase = Phase::Failed;
            return Step::Idle;
        };
        let more = self.poll_and_apply_with(&queue);
        if self.phase == Phase::Failed || matches!(self.phase, Phase::Held { .. }) {
            // `fail` or a hold could not reach the queue while it was lent
            // out.
            self.queue = Some(queue);
            self.unassign();
        } else {
            self.queue = Some(queue);
        }
        if more {
            Step::More
        } else {
            Step::Idle
        }
    }

    /// Applies a run of records from the queue; whether the run was cut
    /// by the batch limits (more may be waiting).
    fn poll_and_apply_with(&mut self, queue: &Queue) -> bool {
        let Phase::Running { mut expected } = self.phase else {
            return false;
        };
        // A run of records, then at most one event (EOF or error) after it.
        let mut messages: Vec<BorrowedMessage<'_>> = Vec::new();
        let mut bytes = 0usize;
        let mut event: Option<KafkaError> = None;
        let config = &self.shared.config;
        while messages.len() < config.batch_max_records && bytes < config.batch_max_bytes {
            match queue.poll(Duration::ZERO) {
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
        }
        let more = event.is_none()
            && (messages.len() >= config.batch_max_records || bytes >= config.batch_max_bytes);

        let replica = Arc::clone(&self.replica);
        let mut ctl = replica.lock_control();
        if ctl.command.is_some() {
            // Handled at the next step; what was polled is re-read after
            // the new assignment.
            return true;
        }
        if ctl.hold.is_some_and(|h| h.until <= Instant::now()) {
            ctl.hold = None;
            replica.lock_status().hold = None;
        }
        let hold = ctl.hold.map(|h| h.offset);
        let Some(shard) = self.shard.clone() else {
            self.phase = Phase::Failed;
            return false;
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
                    match self.classify_jump(e, offset) {
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
                Ok(stats) => {
                    (self.last_write, self.cold_checked) = (Instant::now(), false);
                    self.shared.metrics.applied(shard_id, records, values);
                    let last = batch.last().map(|(o, _)| *o).expect("not empty");
                    if stats.points_type_conflict > 0 {
                        // The router refuses these at /write; what reaches a
                        // replica anyway (a producer writing the shard topic
                        // directly) is dropped loudly.
                        warn!(
                            shard_id,
                            offsets = %format!("{}..={last}", batch[0].0),
                            points = stats.points_type_conflict,
                            values = stats.values_type_conflict + stats.values_dropped_with_point,
                            "points dropped at apply: field type conflict"
                        );
                        self.shared.metrics.points_dropped(
                            shard_id,
                            "field_type_conflict",
                            stats.points_type_conflict,
                        );
                        self.replica().lock_status().points_dropped += stats.points_type_conflict;
                    }
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
            self.shared.metrics.offset_skips(shard_id, skips);
            self.replica().lock_status().offset_skips += skips;
        }
        if let Some(f) = failure {
            self.fail(f);
            return false;
        }
        if let Some(next) = held_at {
            self.replica().advance_progress(next - 1);
            self.phase = Phase::Held { next };
            return false;
        }
        self.phase = Phase::Running { expected };
        drop(ctl);
        match event {
            None => self.reached_start_end(expected),
            Some(KafkaError::PartitionEOF(_)) => self.caught_up(expected),
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
        more
    }

    /// Compacts the shard once when it has applied nothing for
    /// `compact_cold_after`. RocksDB leaves a shard that stopped receiving
    /// writes (a past shard group) with its last flushes in L0 as raw merge
    /// operands, 16 bytes a value before LZ4, where packed blocks take one
    /// or two; reads of it also merge those operands every time.
    fn compact_if_cold(&mut self, shard: &Shard) {
        let Some(after) = self.shared.config.compact_cold_after else {
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
    fn classify_jump(&self, expected: i64, got: i64) -> Result<u64, Failure> {
        let spec = &self.replica.spec;
        match self.shared.consumer.fetch_watermarks(
            &spec.topic,
            spec.partition,
            Duration::from_secs(5),
        ) {
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
    }

    /// A catching-up replica whose applied records reach the partition's end
    /// as it was when its first fetch answered is caught up, whether or not
    /// an end-of-partition event comes: under a steady writer some brokers
    /// (tansu) answer every fetch with a high watermark past the records
    /// they return, so librdkafka never reports the end and the replica
    /// stayed out of queries until the writes stopped.
    fn reached_start_end(&mut self, expected: Option<i64>) {
        let Some(next) = expected else {
            return;
        };
        if self.replica().lock_status().state != ReplicaState::CatchingUp {
            return;
        }
        let target = match self.catch_up_to {
            Some(t) => t,
            None => {
                let spec = &self.replica.spec;
                let Some((_, high)) = kafka_log::cached_watermarks(
                    &self.shared.consumer,
                    &spec.topic,
                    spec.partition,
                ) else {
                    return;
                };
                *self.catch_up_to.insert(high)
            }
        };
        if next >= target {
            let mut st = self.replica().lock_status();
            if st.state == ReplicaState::CatchingUp {
                info!(applied = ?st.applied, target, "replica caught up with the partition's end at its start");
                st.state = ReplicaState::Healthy;
            }
        }
    }

    /// End of partition: everything before the fetch position is applied.
    fn caught_up(&self, expected: Option<i64>) {
        let spec = &self.replica.spec;
        // The fetch position is the high watermark librdkafka last saw
        // (past any trailing offsets without data records); no request.
        let position =
            kafka_log::cached_watermarks(&self.shared.consumer, &spec.topic, spec.partition)
                .map(|(_, high)| high)
                .filter(|h| expected.is_none_or(|e| *h >= e));
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

    /// Takes the shard away from readers, waits for the last one and
    /// closes it; false when a reader still holds it after 30 s (then it
    /// closes when that reader lets go, and the store refuses to drop its
    /// data meanwhile).
    fn close_shard(&mut self) -> bool {
        self.replica().set_shard(None);
        let Some(mut shard) = self.shard.take() else {
            return true;
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Arc::try_unwrap(shard) {
                Ok(s) => {
                    drop(s);
                    return true;
                }
                Err(back) if Instant::now() < deadline => {
                    shard = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => {
                    error!("a reader still holds the shard after 30 s; closing without it");
                    return false;
                }
            }
        }
    }

    /// Stops fetching and closes the shard (without syncing the WAL: the
    /// worker does that once when it exits), removing its data if asked.
    fn close(&mut self, remove: bool) {
        self.unassign();
        let id = self.replica.spec.shard_id;
        let closed = self.close_shard();
        if remove {
            if closed {
                match self.shared.store.destroy_shard(id) {
                    Ok(()) => info!("replica removed"),
                    Err(e) => error!(error = %e, "removing the shard's data"),
                }
            } else {
                warn!("shard still open; its data is removed at the next start");
            }
        } else {
            info!("replica closed");
        }
    }

    /// Drops the local copy and rebuilds it: from a peer's snapshot and
    /// the partition after it, or with `replay` from the partition's
    /// beginning.
    fn rebuild(&mut self, replay: bool) {
        info!(replay, "rebuilding replica");
        self.unassign();
        if !self.close_shard() {
            self.fail(Failure::new(
                FailureKind::Open,
                "rebuild: the shard could not be closed",
            ));
            return;
        }
        let id = self.replica.spec.shard_id;
        if let Err(e) = self.shared.store.destroy_shard(id) {
            self.fail(Failure::new(
                FailureKind::Open,
                format!("rebuild: cannot remove shard {id}: {e}"),
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
        self.start(!replay);
    }

    /// Continues a failed replica at `from`.
    fn resume(&mut self, from: i64) {
        let applied = self.shard.as_ref().and_then(|s| s.applied_offset());
        if applied.is_some_and(|a| from <= a) {
            warn!(from, ?applied, "resume offset already applied; ignored");
            return;
        }
        let recorded = match &self.shard {
            Some(s) => s.set_resume_from(from).map_err(|e| e.to_string()),
            None => Err("the shard is not open".to_owned()),
        };
        if let Err(e) = recorded {
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

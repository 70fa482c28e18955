//! One replica's shared state: what the consumer thread publishes (status,
//! progress) and what the API asks of it (hold, rebuild, resume, stop).
//!
//! Two locks, never held together by the same caller in the other order:
//! `control` is held by the consumer for a whole iteration (decide → apply →
//! publish), so an API call that takes it sees the consumer between batches;
//! `status` is held only for short reads and writes, so status readers never
//! wait for an apply.

use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use schemas::meta::{NodeId, ShardGroupId, ShardId};
use schemas::node_api::{ReplicaState, ShardStatus};
use tokio::sync::watch;

use crate::consumer::Wake;

/// Where a replica's partition and directory are, from the meta data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSpec {
    /// Shard id.
    pub shard_id: ShardId,
    /// Database.
    pub database: String,
    /// Retention policy.
    pub retention_policy: String,
    /// Shard group.
    pub shard_group_id: ShardGroupId,
    /// The group's topic.
    pub topic: String,
    /// The shard's partition.
    pub partition: i32,
}

/// Wakes the apply thread that runs a replica.
#[derive(Debug, Clone)]
pub(crate) struct Waker(mpsc::Sender<Wake>);

impl Waker {
    pub(crate) fn new(tx: mpsc::Sender<Wake>) -> Self {
        Waker(tx)
    }
}

/// What the API asks the consumer to do at its next iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Drop the local copy and rebuild it: from a peer's snapshot (the
    /// node's bootstrap, when it has one) unless `replay`, then from the
    /// partition.
    Rebuild { replay: bool },
    /// Close the shard and stop fetching: a snapshot is about to replace it.
    Detach,
    /// The shard is in place again (installed, or none could be): open it
    /// and fetch from after its applied offset.
    Attach,
    /// Stay stopped: no snapshot could be installed and the log can no
    /// longer rebuild the replica (the reason says why).
    Fail(String),
    /// Continue a failed replica at this offset.
    Resume(i64),
    /// Stop; `remove` also deletes the directory (no longer owned).
    Stop { remove: bool },
}

/// Apply nothing after `offset` until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hold {
    pub offset: i64,
    pub until: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Control {
    pub command: Option<Command>,
    pub hold: Option<Hold>,
}

/// What the consumer publishes.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub state: ReplicaState,
    pub applied: Option<i64>,
    pub caught_up_through: Option<i64>,
    pub high_watermark: Option<i64>,
    pub low_watermark: Option<i64>,
    /// Producer timestamp (ms) of the last applied record.
    pub last_record_ms: Option<i64>,
    pub bytes_on_disk: u64,
    pub records_applied: u64,
    pub values_applied: u64,
    pub failures: u64,
    pub offset_skips: u64,
    /// Points dropped at apply (field type conflicts).
    pub points_dropped: u64,
    pub hold: Option<i64>,
    pub rebuilds: u64,
    /// The apply loop has let go of the shard (see [`Command::Detach`]).
    pub detached: bool,
    /// Counts the loop's detaches, so that an installer waits for the one
    /// it asked for, not an earlier one.
    pub detaches: u64,
    /// Every record at or below it is applied and in the synced WAL.
    pub durable: Option<i64>,
    /// Counts the times the shard's contents were dropped (rebuild,
    /// snapshot install), so that a WAL sync that started before cannot
    /// vouch for what came after.
    pub generation: u64,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            state: ReplicaState::CatchingUp,
            applied: None,
            caught_up_through: None,
            high_watermark: None,
            low_watermark: None,
            last_record_ms: None,
            bytes_on_disk: 0,
            records_applied: 0,
            values_applied: 0,
            failures: 0,
            offset_skips: 0,
            points_dropped: 0,
            hold: None,
            rebuilds: 0,
            detached: false,
            detaches: 0,
            durable: None,
            generation: 0,
        }
    }
}

impl Status {
    /// Records behind the high watermark.
    pub(crate) fn lag_records(&self) -> Option<i64> {
        let hwm = self.high_watermark?;
        let done = self
            .caught_up_through
            .max(self.applied)
            .map_or(0, |o| o + 1);
        Some((hwm - done).max(0))
    }

    /// Seconds behind, by the producer timestamp of the last applied record.
    pub(crate) fn lag_seconds(&self, now_ms: i64) -> Option<f64> {
        match self.lag_records() {
            Some(0) => Some(0.0),
            _ => self
                .last_record_ms
                .map(|t| ((now_ms - t).max(0)) as f64 / 1000.0),
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A replica of a shard on this node.
#[derive(Debug)]
pub struct Replica {
    /// Where it lives.
    pub spec: ReplicaSpec,
    pub(crate) node_id: NodeId,
    /// The open shard; `None` while opening, rebuilding, closing, or when
    /// opening failed.
    pub(crate) shard: RwLock<Option<Arc<storage::Shard>>>,
    pub(crate) control: Mutex<Control>,
    /// Wakes its apply thread for a command or a released hold.
    waker: Waker,
    pub(crate) status: Mutex<Status>,
    /// Every record at or below the published offset is applied: the
    /// read-your-writes and digest waits watch it.
    pub(crate) progress: watch::Sender<Option<i64>>,
    /// One snapshot install at a time (a peer's bootstrap, an operator's
    /// restore).
    pub(crate) install: tokio::sync::Mutex<()>,
}

impl Replica {
    pub(crate) fn new(spec: ReplicaSpec, node_id: NodeId, waker: Waker) -> Self {
        Replica {
            spec,
            node_id,
            shard: RwLock::new(None),
            control: Mutex::new(Control::default()),
            waker,
            status: Mutex::new(Status::default()),
            progress: watch::channel(None).0,
            install: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn lock_control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lock_status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open shard, if any.
    pub fn shard(&self) -> Option<Arc<storage::Shard>> {
        self.shard.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_shard(&self, shard: Option<Arc<storage::Shard>>) {
        *self.shard.write().unwrap_or_else(|e| e.into_inner()) = shard;
    }

    /// The replica's state.
    pub fn state(&self) -> ReplicaState {
        self.lock_status().state.clone()
    }

    /// Every record at or below the returned offset is applied.
    pub fn progress(&self) -> Option<i64> {
        *self.progress.borrow()
    }

    /// Publishes progress; never moves it backwards except through
    /// [`Self::reset_progress`] (rebuild).
    pub(crate) fn advance_progress(&self, through: i64) {
        self.progress.send_if_modified(|p| {
            if p.is_none_or(|cur| through > cur) {
                *p = Some(through);
                true
            } else {
                false
            }
        });
        let mut st = self.lock_status();
        if st.caught_up_through.is_none_or(|c| through > c) {
            st.caught_up_through = Some(through);
        }
    }

    /// Moves progress back (the shard's contents were dropped): to `to`,
    /// and nothing is durable any more.
    pub(crate) fn reset_progress(&self, to: Option<i64>) {
        self.progress.send_replace(to);
        let mut st = self.lock_status();
        st.caught_up_through = to;
        st.durable = None;
        st.generation += 1;
    }

    /// Sends a command and wakes the consumer.
    pub(crate) fn command(&self, ctl: &mut Control, command: Command) {
        // A stop outranks whatever was pending.
        if !matches!(ctl.command, Some(Command::Stop { .. })) {
            ctl.command = Some(command);
        }
        self.wake();
    }

    /// Has the apply thread look at the replica's control (a command, a
    /// hold set or released).
    pub(crate) fn wake(&self) {
        let _ = self.waker.0.send(Wake::Ready(self.spec.shard_id));
    }

    /// Waits until every record at or below `offset` is applied, or
    /// `timeout` passes, or the replica fails.
    pub async fn wait_for(&self, offset: i64, timeout: Duration) -> Result<(), WaitError> {
        let mut rx = self.progress.subscribe();
        let wait = rx.wait_for(|p| p.is_some_and(|p| p >= offset));
        let failed = async {
            loop {
                if let ReplicaState::Failed { reason } = self.state() {
                    return reason;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            r = tokio::time::timeout(timeout, wait) => match r {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(_)) => Err(WaitError::Stopped),
                Err(_) => Err(WaitError::Timeout { offset, progress: self.progress() }),
            },
            reason = failed => Err(WaitError::Failed(reason)),
        }
    }

    /// The status as the API shows it.
    pub fn status(&self) -> ShardStatus {
        let st = self.lock_status().clone();
        ShardStatus {
            shard_id: self.spec.shard_id,
            node_id: self.node_id,
            database: self.spec.database.clone(),
            retention_policy: self.spec.retention_policy.clone(),
            shard_group_id: self.spec.shard_group_id,
            topic: self.spec.topic.clone(),
            partition: self.spec.partition,
            lag_records: st.lag_records(),
            lag_seconds: st.lag_seconds(now_ms()),
            state: st.state,
            applied_offset: st.applied,
            durable_offset: st.durable,
            caught_up_through: st.caught_up_through,
            high_watermark: st.high_watermark,
            low_watermark: st.low_watermark,
            bytes_on_disk: st.bytes_on_disk,
            records_applied: st.records_applied,
            values_applied: st.values_applied,
            failures: st.failures,
            offset_skips: st.offset_skips,
            points_dropped: st.points_dropped,
            hold: st.hold,
            rebuilds: st.rebuilds,
        }
    }
}

/// Why waiting for an offset ended without it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaitError {
    /// Not reached in time.
    #[error("shard has not applied offset {offset} in time (it is through {progress:?})")]
    Timeout {
        /// The offset waited for.
        offset: i64,
        /// How far it got.
        progress: Option<i64>,
    },
    /// The replica failed.
    #[error("replica failed: {0}")]
    Failed(String),
    /// The replica was closed.
    #[error("replica stopped")]
    Stopped,
    /// This node holds no replica of the shard.
    #[error("no replica of shard {0} on this node")]
    NoReplica(ShardId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_caught_up_offset() {
        let mut st = Status {
            high_watermark: Some(10),
            ..Status::default()
        };
        assert_eq!(st.lag_records(), Some(10));
        st.applied = Some(4);
        assert_eq!(st.lag_records(), Some(5));
        st.last_record_ms = Some(1_000);
        assert_eq!(st.lag_seconds(3_500), Some(2.5));
        // The tail holds no data records: caught up all the same.
        st.caught_up_through = Some(9);
        assert_eq!(st.lag_records(), Some(0));
        assert_eq!(st.lag_seconds(3_500), Some(0.0));
    }
}

//! The raft log, vote and state machine on disk.
//!
//! One RocksDB instance per metad node, three column families:
//!
//! | cf      | keys                                   |
//! |---------|----------------------------------------|
//! | `logs`  | log index (big-endian u64) → entry     |
//! | `store` | `vote`, `last_purged`, `committed`     |
//! | `sm`    | `state` (applied state), `snapshot`    |
//!
//! Why RocksDB rather than files + fsync: the log needs ordered keys, range
//! deletes for truncation and purge, and atomic multi-key writes (state and
//! `last_applied` together; purge marker and deletions together). With files
//! we would write that machinery ourselves; RocksDB's `WriteBatch` plus a
//! synced WAL gives all of it, and the workspace already builds RocksDB for
//! the data nodes.
//!
//! Durability: every write uses `WriteOptions::set_sync(true)`, so the WAL is
//! fsynced before the call returns; log appends report completion to
//! openraft only after that. The whole state machine is small (InfluxDB
//! itself rewrites its whole meta file on every change), so `apply` writes
//! the new [`SmState`] — meta data, `last_applied` and membership — as one
//! value in one synced batch: never one without the other.
//!
//! RocksDB calls block, so they run on tokio's blocking pool.

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use schemas::meta::MetaData;
use schemas::meta_api::CommandOutput;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{Applied, MetaNodeId, TypeConfig};

type StorageResult<T> = Result<T, StorageError<MetaNodeId>>;

const CF_LOGS: &str = "logs";
const CF_STORE: &str = "store";
const CF_SM: &str = "sm";
const KEY_VOTE: &[u8] = b"vote";
const KEY_LAST_PURGED: &[u8] = b"last_purged";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_STATE: &[u8] = b"state";
const KEY_SNAPSHOT: &[u8] = b"snapshot";

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// RocksDB refused to open the directory.
    #[error("cannot open the meta store: {0}")]
    RocksDb(#[from] rocksdb::Error),
    /// The persisted state machine is not readable.
    #[error("cannot read the persisted meta state: {0}")]
    Decode(#[from] serde_json::Error),
}

/// What the state machine persists and what a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmState {
    /// The last applied log id.
    pub last_applied: Option<LogId<MetaNodeId>>,
    /// The last applied membership.
    pub last_membership: StoredMembership<MetaNodeId, openraft::BasicNode>,
    /// The meta data.
    pub meta: MetaData,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<MetaNodeId, openraft::BasicNode>,
    data: Vec<u8>,
}

fn sync_writes() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[..8]);
    u64::from_be_bytes(b)
}

fn io_err(
    subject: ErrorSubject<MetaNodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError<MetaNodeId> {
    StorageIOError::new(subject, verb, AnyError::new(&e)).into()
}

/// Runs a RocksDB call on the blocking pool.
async fn blocking<T: Send + 'static>(
    subject: ErrorSubject<MetaNodeId>,
    verb: ErrorVerb,
    f: impl FnOnce() -> StorageResult<T> + Send + 'static,
) -> StorageResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io_err(subject, verb, e))?
}

/// Opens (or creates) the store under `dir`; returns the log store, the
/// state machine, and a receiver that always holds the latest applied meta
/// data.
pub fn open(
    dir: &Path,
) -> Result<(LogStore, StateMachine, watch::Receiver<Arc<MetaData>>), OpenError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // The raft log and state are small: no preallocated WAL (RocksDB would
    // reserve ~70 MB of disk for it). No setter in the crate: the options
    // string sets it on a copy.
    let opts = opts.get_options_from_string("allow_fallocate=false")?;
    let cfs = [CF_LOGS, CF_STORE, CF_SM]
        .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
    let db = Arc::new(DB::open_cf_descriptors(&opts, dir, cfs)?);
    let state: SmState = match db.get_cf(cf(&db, CF_SM), KEY_STATE)? {
        Some(bytes) => serde_json::from_slice(&bytes)?,
        None => SmState::default(),
    };
    let (tx, rx) = watch::channel(Arc::new(state.meta.clone()));
    Ok((
        LogStore { db: db.clone() },
        StateMachine {
            db,
            state,
            published: tx,
        },
        rx,
    ))
}

fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name)
        .expect("column families are created on open")
}

fn get_json<T: serde::de::DeserializeOwned>(
    db: &DB,
    family: &str,
    key: &[u8],
    subject: ErrorSubject<MetaNodeId>,
) -> StorageResult<Option<T>> {
    let bytes = db
        .get_cf(cf(db, family), key)
        .map_err(|e| io_err(subject.clone(), ErrorVerb::Read, e))?;
    bytes
        .map(|b| serde_json::from_slice(&b).map_err(|e| io_err(subject, ErrorVerb::Read, e)))
        .transpose()
}

fn put_json<T: Serialize>(
    db: &DB,
    family: &str,
    key: &[u8],
    value: &T,
    subject: ErrorSubject<MetaNodeId>,
) -> StorageResult<()> {
    let bytes =
        serde_json::to_vec(value).map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
    db.put_cf_opt(cf(db, family), key, bytes, &sync_writes())
        .map_err(|e| io_err(subject, ErrorVerb::Write, e))
}

/// The raft log and vote.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

impl LogStore {
    fn read_range(db: &DB, start: u64, end: Bound<u64>) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let mut out = Vec::new();
        let from = index_key(start);
        let iter = db.iterator_cf(
            cf(db, CF_LOGS),
            IteratorMode::From(&from, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            let index = key_index(&key);
            let inside = match end {
                Bound::Included(e) => index <= e,
                Bound::Excluded(e) => index < e,
                Bound::Unbounded => true,
            };
            if !inside {
                break;
            }
            let entry: Entry<TypeConfig> = serde_json::from_slice(&value)
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            out.push(entry);
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => *s + 1,
            Bound::Unbounded => 0,
        };
        let end = range.end_bound().cloned();
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            Self::read_range(&db, start, end)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            let last_purged: Option<LogId<MetaNodeId>> =
                get_json(&db, CF_STORE, KEY_LAST_PURGED, ErrorSubject::Store)?;
            let last = match db.iterator_cf(cf(&db, CF_LOGS), IteratorMode::End).next() {
                Some(item) => {
                    let (_, value) =
                        item.map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                    let entry: Entry<TypeConfig> = serde_json::from_slice(&value)
                        .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                    Some(entry.log_id)
                }
                None => last_purged,
            };
            Ok(LogState {
                last_purged_log_id: last_purged,
                last_log_id: last,
            })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<MetaNodeId>) -> StorageResult<()> {
        let (db, vote) = (self.db.clone(), *vote);
        blocking(ErrorSubject::Vote, ErrorVerb::Write, move || {
            put_json(&db, CF_STORE, KEY_VOTE, &vote, ErrorSubject::Vote)
        })
        .await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<MetaNodeId>>> {
        let db = self.db.clone();
        blocking(ErrorSubject::Vote, ErrorVerb::Read, move || {
            get_json(&db, CF_STORE, KEY_VOTE, ErrorSubject::Vote)
        })
        .await
    }

    async fn save_committed(&mut self, committed: Option<LogId<MetaNodeId>>) -> StorageResult<()> {
        let db = self.db.clone();
        blocking(ErrorSubject::Store, ErrorVerb::Write, move || {
            put_json(
                &db,
                CF_STORE,
                KEY_COMMITTED,
                &committed,
                ErrorSubject::Store,
            )
        })
        .await
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<MetaNodeId>>> {
        let db = self.db.clone();
        blocking(ErrorSubject::Store, ErrorVerb::Read, move || {
            Ok(get_json::<Option<LogId<MetaNodeId>>>(
                &db,
                CF_STORE,
                KEY_COMMITTED,
                ErrorSubject::Store,
            )?
            .flatten())
        })
        .await
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry)
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            batch.put_cf(cf(&self.db, CF_LOGS), index_key(entry.log_id.index), bytes);
        }
        let db = self.db.clone();
        // The synced write has reached the disk when this returns; only then
        // may openraft count the entries as persisted.
        let result = blocking(ErrorSubject::Logs, ErrorVerb::Write, move || {
            db.write_opt(batch, &sync_writes())
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))
        })
        .await;
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<MetaNodeId>) -> StorageResult<()> {
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(
                cf(&db, CF_LOGS),
                index_key(log_id.index),
                index_key(u64::MAX),
            );
            db.write_opt(batch, &sync_writes())
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<MetaNodeId>) -> StorageResult<()> {
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            // The purge marker and the deletion land together, so the log
            // state read after a crash is never behind what is gone.
            let mut batch = WriteBatch::default();
            let marker = serde_json::to_vec(&log_id)
                .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
            batch.put_cf(cf(&db, CF_STORE), KEY_LAST_PURGED, marker);
            batch.delete_range_cf(cf(&db, CF_LOGS), index_key(0), index_key(log_id.index + 1));
            db.write_opt(batch, &sync_writes())
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
        })
        .await
    }
}

/// The state machine: the meta data in memory, persisted on every apply,
/// published to watchers after it is durable.
pub struct StateMachine {
    db: Arc<DB>,
    state: SmState,
    published: watch::Sender<Arc<MetaData>>,
}

impl StateMachine {
    fn persist(db: &DB, state: &SmState, snapshot: Option<&StoredSnapshot>) -> StorageResult<()> {
        let subject = ErrorSubject::StateMachine;
        let mut batch = WriteBatch::default();
        let bytes =
            serde_json::to_vec(state).map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        batch.put_cf(cf(db, CF_SM), KEY_STATE, bytes);
        if let Some(snapshot) = snapshot {
            let bytes = serde_json::to_vec(snapshot)
                .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
            batch.put_cf(cf(db, CF_SM), KEY_SNAPSHOT, bytes);
        }
        db.write_opt(batch, &sync_writes())
            .map_err(|e| io_err(subject, ErrorVerb::Write, e))
    }

    async fn persist_and_publish(&mut self, snapshot: Option<StoredSnapshot>) -> StorageResult<()> {
        let (db, state) = (self.db.clone(), self.state.clone());
        blocking(ErrorSubject::StateMachine, ErrorVerb::Write, move || {
            Self::persist(&db, &state, snapshot.as_ref())
        })
        .await?;
        let meta = Arc::new(self.state.meta.clone());
        self.published.send_replace(meta);
        Ok(())
    }
}

/// Builds a snapshot of the state as it was when the builder was made.
pub struct SnapshotBuilder {
    db: Arc<DB>,
    state: SmState,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let data = serde_json::to_vec(&self.state)
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
        let snapshot_id = match self.state.last_applied {
            Some(id) => format!(
                "{}-{}-{}",
                id.leader_id.term, id.leader_id.node_id, id.index
            ),
            None => "empty".to_owned(),
        };
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.last_membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        let db = self.db.clone();
        blocking(ErrorSubject::Snapshot(None), ErrorVerb::Write, move || {
            put_json(
                &db,
                CF_SM,
                KEY_SNAPSHOT,
                &stored,
                ErrorSubject::Snapshot(None),
            )
        })
        .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(
        Option<LogId<MetaNodeId>>,
        StoredMembership<MetaNodeId, openraft::BasicNode>,
    )> {
        Ok((self.state.last_applied, self.state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.state.last_applied = Some(entry.log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Ok(CommandOutput::Done {
                    version: self.state.meta.version,
                }),
                EntryPayload::Normal(cmd) => {
                    let reply = crate::state::apply(&mut self.state.meta, entry.log_id.index, &cmd);
                    if let Err(e) = &reply {
                        tracing::debug!(index = entry.log_id.index, command = cmd.name(), error = %e, "command refused");
                    }
                    reply
                }
                EntryPayload::Membership(m) => {
                    self.state.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    Ok(CommandOutput::Done {
                        version: self.state.meta.version,
                    })
                }
            };
            replies.push(reply);
        }
        self.persist_and_publish(None).await?;
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            state: self.state.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<MetaNodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let data = snapshot.into_inner();
        let state: SmState = serde_json::from_slice(&data).map_err(|e| {
            io_err(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
                e,
            )
        })?;
        self.state = SmState {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            meta: state.meta,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.persist_and_publish(Some(stored)).await
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let db = self.db.clone();
        let stored: Option<StoredSnapshot> =
            blocking(ErrorSubject::Snapshot(None), ErrorVerb::Read, move || {
                get_json(&db, CF_SM, KEY_SNAPSHOT, ErrorSubject::Snapshot(None))
            })
            .await?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};
    use tempfile::TempDir;

    use super::*;

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
        async fn build(&self) -> StorageResult<(TempDir, LogStore, StateMachine)> {
            let dir = TempDir::new().expect("temp dir");
            let (log, sm, _rx) = open(dir.path()).expect("open store");
            Ok((dir, log, sm))
        }
    }

    #[test]
    fn openraft_storage_suite() -> StorageResult<()> {
        Suite::test_all(Builder)
    }

    #[tokio::test]
    async fn state_survives_reopen() {
        let dir = TempDir::new().unwrap();
        let cmd = schemas::meta_api::MetaCommand::CreateDatabase {
            name: "db".into(),
            retention_policy: None,
        };
        let log_id = LogId::new(openraft::CommittedLeaderId::new(1, 1), 7);
        {
            let (_log, mut sm, rx) = open(dir.path()).unwrap();
            let entry = Entry::<TypeConfig> {
                log_id,
                payload: EntryPayload::Normal(cmd),
            };
            let replies = sm.apply([entry]).await.unwrap();
            assert_eq!(replies, vec![Ok(CommandOutput::Done { version: 7 })]);
            assert_eq!(rx.borrow().version, 7, "published after apply");
        }
        let (_log, mut sm, rx) = open(dir.path()).unwrap();
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id));
        assert_eq!(rx.borrow().version, 7);
        assert!(rx.borrow().databases.contains_key("db"));
    }
}

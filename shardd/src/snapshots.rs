//! Shard snapshots between nodes: serving this node's replicas as streams,
//! installing a stream in place of a replica, and bootstrapping a new
//! replica from the freshest healthy peer.
//!
//! ```text
//!  apply loop: no local copy (new owner, rebuild) ── detach ── request ─┐
//!                                                                       ▼
//!  bootstrap task ── status of each other owner (internal API) ── the
//!     healthy one with the highest applied offset ── GET .../snapshot ──┐
//!                                                                       ▼
//!  install ── Store::import_shard (SST files ingested) ── attach: the
//!     loop opens the shard and fetches from applied+1. With no peer, or
//!     when every peer fails: replay from the partition's beginning, or,
//!     when the log no longer starts at offset 0, fail saying so
//!
//!  PUT .../snapshot (sluice-ctl restore) ── detach ── install ── attach
//!  GET .../snapshot ── Store::export_shard on a blocking thread ── body
//! ```
//!
//! Every install (a peer's, an operator's) holds the replica's install
//! lock, asks the loop to detach and waits for *that* detach (the loop
//! counts them), and always ends by attaching the loop again or failing
//! it, in a task of its own so that a caller going away cannot leave the
//! replica detached.

use std::io::BufReader;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use schemas::meta::{NodeId, ShardId};
use schemas::node_api::{InstallLog, InstallReport, ReplicaState};
use storage::SnapshotInfo;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use tracing::{info, info_span, warn, Instrument as _};

use crate::node::Node;
use crate::replica::{Command, Replica};

/// Bytes per chunk of a snapshot body.
const CHUNK: usize = 256 << 10;
/// How long an install waits for the apply loop to let go of the shard
/// (it finishes the batch it is applying first).
const DETACH_WAIT: Duration = Duration::from_secs(60);
/// How long a bootstrap waits for a peer's status: a new group's replicas
/// all start at once and ask each other, and a down peer must not hold
/// them up.
const PEER_STATUS_WAIT: Duration = Duration::from_millis(500);

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The apply loop did not close the shard in time.
    #[error("shard {0}: the replica did not stop applying within {DETACH_WAIT:?}")]
    Busy(ShardId),
    /// The snapshot was refused or could not be stored.
    #[error("shard {shard}: {source}")]
    Storage {
        /// The shard.
        shard: ShardId,
        /// Cause.
        source: storage::Error,
    },
    /// The node is stopping.
    #[error("shutting down")]
    ShuttingDown,
}

/// Serves the replicas' bootstrap requests until the node's consumers go.
pub(crate) async fn run_bootstraps(
    node: Arc<Node>,
    mut requests: mpsc::UnboundedReceiver<Arc<Replica>>,
) {
    while let Some(replica) = requests.recv().await {
        let span = info_span!("bootstrap", shard_id = replica.spec.shard_id);
        tokio::spawn(bootstrap(Arc::clone(&node), replica).instrument(span));
    }
}

/// Installs the freshest healthy peer's snapshot of a replica that has no
/// local copy, then lets it go on; with no usable peer it replays the
/// partition, or fails when the partition no longer starts at offset 0.
async fn bootstrap(node: Arc<Node>, replica: Arc<Replica>) {
    let _turn = replica.install.lock().await;
    if detach(&replica).await.is_err() {
        warn!("the replica did not stop for its bootstrap; left as it is");
        return;
    }
    for (peer, addr, offset) in peers_by_freshness(&node, replica.spec.shard_id).await {
        match fetch_and_import(&node, &replica, &addr).await {
            Ok(info) => {
                info!(
                    peer,
                    peer_offset = ?offset,
                    snapshot_offset = ?info.applied_offset,
                    bytes = info.bytes,
                    "installed the peer's snapshot; fetching the partition after it"
                );
                attach(&replica, None);
                return;
            }
            Err(error) => warn!(peer, %error, "no snapshot from this peer; trying the next"),
        }
    }
    match log_gone_reason(&node, &replica).await {
        Some(reason) => attach(&replica, Some(reason)),
        None => {
            info!("no healthy peer has a snapshot; replaying the partition from its beginning");
            attach(&replica, None);
        }
    }
}

async fn fetch_and_import(
    node: &Node,
    replica: &Replica,
    addr: &str,
) -> Result<SnapshotInfo, Box<dyn std::error::Error + Send + Sync>> {
    let reader = node
        .peers()
        .snapshot(addr, replica.spec.shard_id, false, None)
        .await?
        .ok_or("the peer answered not modified")?;
    Ok(import(node, replica.spec.shard_id, reader).await?)
}

/// Why replaying the partition from its beginning would skip records:
/// the partition no longer starts at offset 0 (log retention deleted its
/// first records). `None` also when the watermarks cannot be read (a topic
/// not made yet has lost nothing).
pub(crate) async fn log_gone_reason(node: &Node, replica: &Replica) -> Option<String> {
    let spec = &replica.spec;
    let (low, _) = node
        .watermarks()
        .fetch(&spec.topic, spec.partition)
        .await
        .ok()?;
    (low > 0).then(|| {
        format!(
            "cannot replay from the beginning: the partition starts at offset {low} \
             (records 0..{} were deleted from the log) and no healthy peer had a \
             snapshot; rebuild it once a peer is healthy (sluice-ctl rebuild-shard) \
             or restore a backup",
            low - 1
        )
    })
}

/// The other owners of `shard` whose replica is healthy, highest applied
/// offset first.
pub(crate) async fn peers_by_freshness(
    node: &Node,
    shard: ShardId,
) -> Vec<(NodeId, String, Option<i64>)> {
    let md = node.follower().current();
    let owners: Vec<(NodeId, String)> = md
        .shard_groups()
        .flat_map(|g| g.shards.iter())
        .filter(|s| s.id == shard)
        .flat_map(|s| s.owners.iter().copied())
        .filter(|o| *o != node.id())
        .filter_map(|o| Some((o, md.data_nodes.get(&o)?.internal_addr.clone())))
        .collect();
    let asks = owners.into_iter().map(|(peer, addr)| async move {
        let asked = tokio::time::timeout(PEER_STATUS_WAIT, node.peers().status(&addr, shard));
        let status = asked.await.ok()?.ok()?;
        (status.state == ReplicaState::Healthy).then_some((peer, addr, status.applied_offset))
    });
    let mut healthy: Vec<_> = futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    healthy.sort_by_key(|(peer, _, offset)| (std::cmp::Reverse(*offset), *peer));
    healthy
}

/// Imports a snapshot stream into the store as shard `id` (which no loop
/// has open).
async fn import(
    node: &Node,
    id: ShardId,
    reader: impl AsyncRead + Send + Unpin + 'static,
) -> Result<SnapshotInfo, InstallError> {
    let store = node.store().clone();
    let bridge = SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || {
        store
            .import_shard(id, BufReader::with_capacity(CHUNK, bridge))
            .map_err(|source| InstallError::Storage { shard: id, source })
    })
    .await
    .map_err(|_| InstallError::ShuttingDown)?
}

/// Asks the loop to let go of the shard and waits until it has, for this
/// request. On timeout the request is replaced by an attach, so the
/// replica is not left to detach later with nobody to attach it.
async fn detach(replica: &Replica) -> Result<(), InstallError> {
    let before = {
        let mut ctl = replica.lock_control();
        ctl.hold = None;
        let before = {
            let mut st = replica.lock_status();
            st.hold = None;
            st.detaches
        };
        replica.command(&mut ctl, Command::Detach);
        before
    };
    let deadline = tokio::time::Instant::now() + DETACH_WAIT;
    loop {
        {
            let st = replica.lock_status();
            if st.detaches > before && st.detached {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            attach(replica, None);
            return Err(InstallError::Busy(replica.spec.shard_id));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Lets the loop go on (open the shard, fetch after its offset), or, with
/// a reason, fail.
fn attach(replica: &Replica, fail: Option<String>) {
    let mut ctl = replica.lock_control();
    let command = fail.map_or(Command::Attach, Command::Fail);
    replica.command(&mut ctl, command);
}

/// Replaces the node's replica by `snapshot` (an operator's restore), in
/// a task of its own: the replica is attached again whatever happens to
/// the caller. See [`InstallLog`] for what becomes of the offset. If the
/// snapshot is refused, the replica goes on with what it had.
pub(crate) async fn install(
    node: Arc<Node>,
    replica: Arc<Replica>,
    snapshot: impl AsyncRead + Send + Unpin + 'static,
    log: InstallLog,
) -> Result<InstallReport, InstallError> {
    let span = info_span!(
        "install",
        shard_id = replica.spec.shard_id,
        log = log.as_str()
    );
    tokio::spawn(
        async move {
            let _turn = replica.install.lock().await;
            detach(&replica).await?;
            let result = install_detached(&node, &replica, snapshot, log).await;
            attach(&replica, None);
            result
        }
        .instrument(span),
    )
    .await
    .map_err(|_| InstallError::ShuttingDown)?
}

async fn install_detached(
    node: &Node,
    replica: &Replica,
    snapshot: impl AsyncRead + Send + Unpin + 'static,
    log: InstallLog,
) -> Result<InstallReport, InstallError> {
    let id = replica.spec.shard_id;
    let spec = &replica.spec;
    // A restore makes the group's topic if the broker lacks it (a new
    // broker): then the log starts over, whatever the snapshot's offset.
    let mut new_log = log == InstallLog::New;
    if log != InstallLog::Keep {
        let partitions = node
            .follower()
            .current()
            .shard_group(spec.shard_group_id)
            .map_or(1, |g| g.shards.len());
        let producer = node.write_service().producer();
        match producer.ensure_topic(&spec.topic, partitions).await {
            Ok(created) => new_log |= created,
            Err(error) => warn!(%error, topic = %spec.topic, "cannot create the group's topic"),
        }
    }
    let info = import(node, id, snapshot).await?;
    let keep = match info.applied_offset {
        None => true,
        Some(_) if log == InstallLog::Keep => true,
        Some(_) if new_log => false,
        // The topic was there: go on if it holds the record after the
        // snapshot, which a recreated topic with fewer records does not.
        Some(offset) => node
            .watermarks()
            .fetch(&spec.topic, spec.partition)
            .await
            .is_ok_and(|(_, high)| offset < high),
    };
    if !keep {
        let store = node.store().clone();
        tokio::task::spawn_blocking(move || store.forget_offset(id))
            .await
            .map_err(|_| InstallError::ShuttingDown)?
            .map_err(|source| InstallError::Storage { shard: id, source })?;
    }
    info!(
        snapshot_offset = ?info.applied_offset,
        offset_kept = keep,
        bytes = info.bytes,
        "snapshot installed"
    );
    Ok(InstallReport {
        shard_id: id,
        snapshot_offset: info.applied_offset,
        offset_kept: keep,
        entries: info.entries,
        bytes: info.bytes,
    })
}

/// The snapshot of the node's replica of `id` as a body stream; an error
/// while writing ends the stream early, which the importer refuses.
pub(crate) fn export(
    node: &Node,
    id: ShardId,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let store = node.store().clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(CHUNK, ChunkWriter(tx.clone()));
        if let Err(e) = store.export_shard(id, out) {
            warn!(shard_id = id, error = %e, "snapshot export failed");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Sends each write as a chunk of the body.
struct ChunkWriter(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "receiver gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

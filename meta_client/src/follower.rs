//! A local, always-current copy of the meta data.
//!
//! Ingest and shardd read the meta data on every request; asking metad each
//! time would put it on the write path. A [`Follower`] long-polls metad's
//! watch in a background task and publishes each new version through a
//! `tokio::sync::watch` channel, so readers get an `Arc` without I/O and
//! waiters wake as soon as a version lands.

use std::sync::Arc;
use std::time::Duration;

use schemas::meta::MetaData;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn, Instrument};

use crate::{Error, MetaClient};

/// How long one long poll waits for a change before asking again.
const POLL_WAIT: Duration = Duration::from_secs(30);
/// Pause after a failed poll, so an unreachable metad is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Follows metad's meta data; dropping it stops the background task.
#[derive(Debug)]
pub struct Follower {
    rx: watch::Receiver<Arc<MetaData>>,
    tx: Arc<watch::Sender<Arc<MetaData>>>,
    task: JoinHandle<()>,
}

impl Follower {
    /// Fetches the current meta data, then follows it in the background.
    pub async fn start(client: Arc<MetaClient>) -> Result<Self, Error> {
        let first = client.snapshot().await?;
        let (tx, rx) = watch::channel(Arc::new(first));
        let tx = Arc::new(tx);
        let task = tokio::spawn(
            follow(client, Arc::clone(&tx)).instrument(tracing::info_span!("meta_follower")),
        );
        Ok(Self { rx, tx, task })
    }

    /// The newest meta data seen.
    pub fn current(&self) -> Arc<MetaData> {
        Arc::clone(&self.rx.borrow())
    }

    /// A receiver that is notified of every new version.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetaData>> {
        self.rx.clone()
    }

    /// Publishes meta data obtained elsewhere (e.g. returned by a command)
    /// if it is newer than what the follower has, so the caller does not
    /// wait for the next poll to see its own change.
    pub fn offer(&self, md: MetaData) {
        publish(&self.tx, md);
    }

    /// Waits until the version is at least `version`, up to `timeout`;
    /// returns the newest meta data either way.
    pub async fn wait_for_version(&self, version: u64, timeout: Duration) -> Arc<MetaData> {
        let mut rx = self.rx.clone();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|md| md.version >= version)).await;
        self.current()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow(client: Arc<MetaClient>, tx: Arc<watch::Sender<Arc<MetaData>>>) {
    loop {
        let since = tx.borrow().version;
        match client.watch(since, POLL_WAIT).await {
            Ok(md) => {
                let version = md.version;
                if publish(&tx, md) {
                    debug!(version, "meta data changed");
                }
            }
            Err(error) => {
                warn!(%error, "meta watch failed; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

/// Replaces the published meta data with `md` if it is newer.
fn publish(tx: &watch::Sender<Arc<MetaData>>, md: MetaData) -> bool {
    tx.send_if_modified(|cur| {
        let newer = md.version > cur.version;
        if newer {
            *cur = Arc::new(md);
        }
        newer
    })
}

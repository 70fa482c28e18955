//! A data node is its id, not its address. metad hands the id out at the
//! node's first start; the node keeps it in `<data-dir>/node-id` and
//! registers with it ever after, so a restart at another address (a new
//! container IP, a moved disk) updates the address and keeps the node, its
//! shards and its data. Nothing here ever deletes data: a directory whose
//! id metad does not know refuses to start instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meta_client::MetaClient;
use schemas::meta::{DataNode, NodeId};
use schemas::meta_api::CommandError;
use tracing::warn;

/// The file holding the node's id, in decimal.
pub const NODE_ID_FILE: &str = "node-id";

/// Why the node's identity could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The id file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The id file holds something else than an id.
    #[error("{path}: not a data node id: {text:?}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What it holds.
        text: String,
    },
    /// The id file names a node metad does not know.
    #[error(
        "this data directory belongs to data node {id}, which metad does not know (another \
         cluster, or its meta data was lost); nothing was deleted. Start it against its own \
         cluster, or move {path} away to join as a new node"
    )]
    UnknownId {
        /// The id.
        id: NodeId,
        /// The id file.
        path: PathBuf,
    },
    /// metad refused the registration.
    #[error("meta service: {0}")]
    Meta(#[from] meta_client::Error),
}

/// The node as registered, and whether its id was handed out just now
/// (no id file before this start).
#[derive(Debug)]
pub struct Identity {
    /// The node as metad has it.
    pub node: DataNode,
    /// The id file did not exist before this start.
    pub first_start: bool,
}

/// Registers the node kept in `data_dir` at these addresses: with its id
/// when the directory has one, else as a new node (or the one registered
/// at `internal_addr` before), whose id is then kept. While metad still
/// sees this id alive elsewhere, or another alive node at one of these
/// addresses, it retries for up to `wait`: a node restarted at a new
/// address before metad noticed the old process stop.
pub async fn register(
    client: &MetaClient,
    data_dir: &Path,
    http_addr: &str,
    internal_addr: &str,
    wait: Duration,
) -> Result<Identity, IdentityError> {
    let path = data_dir.join(NODE_ID_FILE);
    let kept = read(&path)?;
    let deadline = tokio::time::Instant::now() + wait;
    let node = loop {
        match client
            .register_data_node(http_addr, internal_addr, kept)
            .await
        {
            Ok(node) => break node,
            Err(e) => match e.command_error() {
                Some(CommandError::DataNodeNotFound(id)) => {
                    return Err(IdentityError::UnknownId { id: *id, path })
                }
                Some(CommandError::AddressInUse { .. } | CommandError::NodeIdInUse { .. })
                    if tokio::time::Instant::now() < deadline =>
                {
                    warn!(error = %e, "registration refused for now; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ => return Err(e.into()),
            },
        }
    };
    if kept.is_none() {
        write(&path, node.id)?;
    }
    Ok(Identity {
        node,
        first_start: kept.is_none(),
    })
}

fn read(path: &Path) -> Result<Option<NodeId>, IdentityError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IdentityError::File {
                path: path.to_owned(),
                source,
            })
        }
    };
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| IdentityError::Malformed {
            path: path.to_owned(),
            text,
        })
}

/// Writes the id durably: a temporary file renamed over, then the
/// directory synced, so a crash leaves either no file or the whole id.
fn write(path: &Path, id: NodeId) -> Result<(), IdentityError> {
    let err = |source| IdentityError::File {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(format!("{id}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_file_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_ID_FILE);
        assert_eq!(read(&path).unwrap(), None);
        write(&path, 42).unwrap();
        assert_eq!(read(&path).unwrap(), Some(42));
        std::fs::write(&path, "node-7").unwrap();
        assert!(matches!(read(&path), Err(IdentityError::Malformed { .. })));
    }
}

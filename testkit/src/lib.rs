//! # testkit — real parts for Sluice's tests
//!
//! [`Broker`] starts a real tansu Kafka broker process with durable
//! `sqlite://` storage in a temporary directory, on a free loopback port,
//! waits until it answers Kafka metadata requests, and kills it on drop.
//! Tests get a real broker, never a mock.
//!
//! [`Influxd`] starts Debian's InfluxDB 1.6 the same way, as the reference
//! for differential tests and benchmarks; [`tsbs`] makes TSBS-shaped data.
//!
//! The broker process itself is run by the `broker` crate (also the
//! all-in-one mode's embedded broker); this adds the temporary directory
//! and the free port. [`tls`] makes self-signed certificates.
//!
//! ```text
//!  Broker::start()  ── temp dir + free port ─▶ broker::Tansu (real tansu) ─▶ bootstrap()
//!  Influxd::start() ── temp dir + free ports ─▶ Debian's influxd 1.6 ─▶ url()
//!  tsbs::*          ── deterministic TSBS cpu-only line protocol
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod influxd;
pub mod tls;
pub mod tsbs;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

pub use broker::{tansu_binary, Error as BrokerError};
pub use influxd::Influxd;

/// Why a reference server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No influxd binary was found.
    #[error(
        "influxd not found ($INFLUXD_BIN, $PATH): run scripts/setup.sh (Debian package `influxdb`)"
    )]
    InfluxdNotFound,
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server process exited before it answered.
    #[error("the server exited with {status} before answering; its log:\n{log}")]
    Exited {
        /// The exit status.
        status: std::process::ExitStatus,
        /// The tail of its log.
        log: String,
    },
    /// The server did not answer in time.
    #[error("the server did not answer on {addr} within {timeout:?}; its log:\n{log}")]
    Timeout {
        /// Where it should listen.
        addr: String,
        /// How long we waited.
        timeout: Duration,
        /// The tail of its log.
        log: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// Runs a daemon's `cmd` with no shared secret in its environment and
/// checks that it refuses to start, naming the ways to give one, without
/// writing anything into `data_dir`.
pub fn assert_refuses_to_start_without_secret(
    mut cmd: std::process::Command,
    data_dir: &std::path::Path,
) {
    let out = cmd
        .env_remove("SLUICE_SHARED_SECRET")
        .env_remove("SLUICE_SHARED_SECRET_FILE")
        .env_remove("SLUICE_INSECURE_INTERNAL")
        .output()
        .expect("run the daemon");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no shared secret") && err.contains("--insecure-internal"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(data_dir).map_or(0, |d| d.count()),
        0,
        "it wrote into {}",
        data_dir.display()
    );
}

/// Bytes of the files under `p` (their lengths, as `du --apparent-size`);
/// 0 for a path that does not exist.
pub fn dir_size(p: &std::path::Path) -> u64 {
    walk_size(p, &|m| m.len())
}

/// Bytes of disk the files under `p` take (allocated blocks, as `du`:
/// space a file reserved but has not written counts too).
pub fn disk_usage(p: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    walk_size(p, &|m| m.blocks() * 512)
}

fn walk_size(p: &std::path::Path, size: &dyn Fn(&std::fs::Metadata) -> u64) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| walk_size(&e.path(), size)).sum())
            .unwrap_or(0)
    } else {
        size(&meta)
    }
}

/// A running tansu broker on a free loopback port. Killed (SIGKILL) when
/// dropped.
#[derive(Debug)]
pub struct Broker {
    tansu: broker::Tansu,
    /// Keeps a temporary data directory alive as long as the broker.
    _temp: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Broker {
    type Target = broker::Tansu;
    fn deref(&self) -> &broker::Tansu {
        &self.tansu
    }
}

impl std::ops::DerefMut for Broker {
    fn deref_mut(&mut self) -> &mut broker::Tansu {
        &mut self.tansu
    }
}

impl Broker {
    /// Starts a broker with its data in a fresh temporary directory.
    pub fn start() -> Result<Self, BrokerError> {
        let temp = tempfile::Builder::new()
            .prefix("sluice-tansu-")
            .tempdir()
            .map_err(|source| BrokerError::Io {
                what: "create broker data dir".into(),
                source,
            })?;
        let mut broker = Self::start_in(temp.path(), free_port())?;
        broker._temp = Some(temp);
        Ok(broker)
    }

    /// Starts a broker whose sqlite data lives in `dir` (kept after the
    /// broker stops, so a restart finds its topics and records again).
    pub fn start_in(dir: &Path, port: u16) -> Result<Self, BrokerError> {
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Ok(Broker {
            tansu: broker::Tansu::start(dir, listen)?,
            _temp: None,
        })
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.tansu.listen().port()
    }
}

/// Produces `payload` to `topic` with kcat (`kcat -P`), one record per line
/// as a user following the README would, to `partition` if given and with
/// `headers` on every record. Panics if kcat is missing or fails: tests that
/// call it need it (`$KCAT_BIN`, else `kcat` on `$PATH`; `scripts/setup.sh`
/// installs one that talks to tansu).
pub fn kcat_produce(
    brokers: &str,
    topic: &str,
    partition: Option<i32>,
    headers: &[(&str, &str)],
    payload: &str,
) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let kcat = std::env::var("KCAT_BIN").unwrap_or_else(|_| "kcat".into());
    let mut cmd = Command::new(&kcat);
    cmd.args(["-P", "-b", brokers, "-t", topic]);
    if let Some(p) = partition {
        cmd.args(["-p", &p.to_string()]);
    }
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}={v}")]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {kcat} (scripts/setup.sh installs it): {e}"));
    child
        .stdin
        .take()
        .expect("kcat stdin")
        .write_all(payload.as_bytes())
        .expect("write to kcat");
    let status = child.wait().expect("wait for kcat");
    assert!(status.success(), "kcat -P -t {topic} failed: {status}");
}

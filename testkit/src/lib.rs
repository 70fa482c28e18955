//! # testkit — real parts for Sluice's tests
//!
//! [`Broker`] starts a real tansu Kafka broker process with durable
//! `sqlite://` storage in a temporary directory, on a free loopback port,
//! waits until it answers Kafka metadata requests, and kills it on drop.
//! Tests get a real broker, never a mock.
//!
//! The `tansu` binary is found through `$TANSU_BIN`, then `$PATH`, then
//! `~/.cargo/bin`. Install it once with
//! `cargo install --locked tansu --features libsql,dynostore` (`.ci/run` does).

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

/// How long a broker may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a broker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No tansu binary was found.
    #[error(
        "tansu not found ($TANSU_BIN, $PATH, ~/.cargo/bin): install it with \
         `cargo install --locked tansu --features libsql,dynostore`"
    )]
    TansuNotFound,
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The broker process exited before it answered.
    #[error("tansu exited with {status} before answering; its log:\n{log}")]
    Exited {
        /// The exit status.
        status: std::process::ExitStatus,
        /// The tail of its log.
        log: String,
    },
    /// The broker did not answer in time.
    #[error("tansu did not answer on {addr} within {timeout:?}; its log:\n{log}")]
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

/// Locates the tansu binary.
pub fn tansu_binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"));
    let in_cargo_home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/tansu"));
    on_path
        .chain(in_cargo_home)
        .find(|p| p.is_file())
        .ok_or(Error::TansuNotFound)
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// A running tansu broker. Killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// Keeps a temporary data directory alive as long as the broker.
    _temp: Option<tempfile::TempDir>,
}

impl Broker {
    /// Starts a broker with its data in a fresh temporary directory.
    pub fn start() -> Result<Self, Error> {
        let temp = tempfile::Builder::new()
            .prefix("sluice-tansu-")
            .tempdir()
            .map_err(io("create broker data dir"))?;
        let dir = temp.path().to_owned();
        let mut broker = Self::start_in(&dir, free_port())?;
        broker._temp = Some(temp);
        Ok(broker)
    }

    /// Starts a broker whose sqlite data lives in `dir` (kept after the
    /// broker stops, so a restart finds its topics and records again).
    pub fn start_in(dir: &Path, port: u16) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        let mut broker = Broker {
            child: None,
            port,
            dir: dir.to_owned(),
            _temp: None,
        };
        broker.spawn()?;
        Ok(broker)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("tansu.log")
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let log = File::create(self.log_path()).map_err(io("create tansu.log"))?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // tansu resolves `sqlite://NAME` against its working directory.
        let child = Command::new(tansu_binary()?)
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .env(
                "RUST_LOG",
                std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("clone log handle"))?)
            .stderr(log)
            .spawn()
            .map_err(io("spawn tansu"))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "0")
            .create()
            .expect("valid client config");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(Error::Exited {
                        status,
                        log: self.log_tail(),
                    });
                }
            }
            if producer
                .client()
                .fetch_metadata(None, Duration::from_millis(500))
                .is_ok_and(|m| !m.brokers().is_empty())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    addr: self.bootstrap(),
                    timeout: START_TIMEOUT,
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of the broker's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the broker keeps its data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the broker with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and data, after [`kill`](Self::kill).
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        self.spawn()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

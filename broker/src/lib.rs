//! # broker — a tansu Kafka-API broker as a child process
//!
//! [`Tansu`] starts the `tansu` binary with durable `sqlite://` storage in a
//! directory of ours, waits until it answers Kafka metadata requests, and
//! stops it with SIGTERM (or SIGKILL, as a crash would). The child gets
//! SIGKILL from the kernel when our process dies without stopping it (even
//! by SIGKILL), so a killed all-in-one never leaves a broker holding its
//! port and its sqlite file.
//!
//! tansu is a separate binary rather than a library dependency: it takes
//! ~12 minutes to build and pulls its own async runtime and storage stack;
//! as a process it is built once, cached in `~/.cargo/bin`, and replaceable
//! by any Kafka (`--kafka-brokers`). The binary is found through
//! `$TANSU_BIN`, then `$PATH`, then `~/.cargo/bin`; `scripts/setup.sh`
//! installs it (`cargo install --locked tansu --features libsql,dynostore`).
//!
//! ```text
//!  Tansu::start(dir, listen) ── spawn tansu (sqlite://dir, PR_SET_PDEATHSIG=SIGKILL)
//!                            ── poll Kafka metadata (kafka_log::Admin) until it answers
//!  exited() / restart()      ── the all-in-one's supervisor restarts a dead broker
//!  stop(grace) / Drop        ── SIGTERM, then SIGKILL after the grace
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_log::{Admin, KafkaConfig, TopicSpec};

/// How long a broker may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a previous broker may take to release our address.
const ADDR_FREE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a broker could not be run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No tansu binary was found.
    #[error(
        "tansu not found ($TANSU_BIN, $PATH, ~/.cargo/bin): run scripts/setup.sh, or \
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
    /// The broker exited before it answered.
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
    /// Something else listens on the broker's address.
    #[error(
        "{addr} is in use (another broker, or a previous one still exiting): pick another address"
    )]
    AddrInUse {
        /// The address.
        addr: SocketAddr,
    },
    /// The broker refused an admin request, or no client could be made.
    #[error(transparent)]
    Kafka(#[from] kafka_log::Error),
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

/// A running tansu broker. Killed (SIGKILL) when dropped; use
/// [`Tansu::stop`] for a clean shutdown.
#[derive(Debug)]
pub struct Tansu {
    child: Option<Child>,
    listen: SocketAddr,
    dir: PathBuf,
}

impl Tansu {
    /// Starts a broker listening on `listen`, whose sqlite data and log live
    /// in `dir` (kept after the broker stops, so a restart finds its topics
    /// and records again).
    pub fn start(dir: &Path, listen: SocketAddr) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        let mut broker = Tansu {
            child: None,
            listen,
            dir: dir.to_owned(),
        };
        broker.spawn()?;
        Ok(broker)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("tansu.log")
    }

    fn spawn(&mut self) -> Result<(), Error> {
        self.wait_addr_free()?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(io("open tansu.log"))?;
        let url = format!("tcp://{}", self.listen);
        let mut cmd = Command::new(tansu_binary()?);
        // tansu resolves `sqlite://NAME` against its working directory.
        cmd.current_dir(&self.dir)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .env(
                "RUST_LOG",
                std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("clone log handle"))?)
            .stderr(log);
        // SIGKILL, not SIGTERM: tansu's graceful shutdown can take seconds,
        // and a restarted parent must find the port and the sqlite file
        // free. Every acknowledged record is already committed to sqlite,
        // so a kill loses nothing a producer was told was written.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().map_err(io("spawn tansu"))?);
        self.wait_ready()
    }

    /// Waits (a few seconds at most) until our address can be bound: the
    /// broker of a parent that just died may still be exiting.
    fn wait_addr_free(&self) -> Result<(), Error> {
        let deadline = Instant::now() + ADDR_FREE_TIMEOUT;
        while std::net::TcpListener::bind(self.listen).is_err() {
            if Instant::now() > deadline {
                return Err(Error::AddrInUse { addr: self.listen });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        // Quiet: refused connections are expected until it listens.
        let admin = Admin::new(&self.kafka_config().with_property("log_level", "0"))?;
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
            if admin
                .broker_count_within(Duration::from_millis(500))
                .is_ok_and(|n| n > 0)
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

    /// A client configuration for this broker.
    pub fn kafka_config(&self) -> KafkaConfig {
        KafkaConfig::new(self.bootstrap())
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.listen.to_string()
    }

    /// The listening address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Where the broker keeps its data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the process has exited (and is reaped), e.g. to restart it.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten();
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Kills the broker with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the broker with SIGTERM, waiting up to `grace` before SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the broker again on the same address and data.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        self.spawn()
    }

    /// Creates `topic` with `partitions` partitions unless it exists (tansu
    /// does not create topics on first use, as Kafka may).
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), Error> {
        Admin::new(&self.kafka_config())?
            .create_topic(&TopicSpec::new(topic, partitions, 1))
            .await?;
        Ok(())
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

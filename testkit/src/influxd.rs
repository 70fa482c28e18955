//! A real InfluxDB 1.6 server (Debian's `influxdb` package) in a temporary
//! directory on free loopback ports: the reference that Sluice's answers and
//! figures are compared with.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, io, Error};

/// A running `influxd`, killed on drop.
pub struct Influxd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// Locates `influxd` through `$INFLUXD_BIN`, then `$PATH`.
pub fn influxd_binary() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("INFLUXD_BIN") {
        return Ok(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|d| d.join("influxd"))
        .find(|p| p.is_file())
        .ok_or(Error::InfluxdNotFound)
}

impl Influxd {
    /// Starts influxd with its meta, data and WAL in a fresh temporary
    /// directory and waits until `/ping` answers.
    pub fn start() -> Result<Self, Error> {
        let bin = influxd_binary()?;
        let dir = tempfile::tempdir().map_err(io("create influxd dir"))?;
        let port = free_port();
        let d = dir.path().display();
        let config = format!(
            "reporting-disabled = true\n\
             bind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n  logging-enabled = false\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [continuous_queries]\n  enabled = false\n",
            rpc = free_port()
        );
        let conf = dir.path().join("influxdb.conf");
        std::fs::write(&conf, config).map_err(io("write influxd config"))?;
        let log = File::create(dir.path().join("influxd.log")).map_err(io("create influxd log"))?;
        let child = Command::new(bin)
            .arg("-config")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("clone log"))?)
            .stderr(log)
            .spawn()
            .map_err(io("spawn influxd"))?;
        let mut me = Influxd { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = me.child.try_wait().map_err(io("wait influxd"))? {
                return Err(Error::Exited {
                    status,
                    log: me.log_tail(),
                });
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(me);
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    addr: me.url(),
                    timeout: Duration::from_secs(30),
                    log: me.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id (for its threads and memory in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The HTTP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Bytes influxd keeps in its data and WAL directories.
    pub fn data_bytes(&self) -> u64 {
        crate::dir_size(&self.dir.path().join("data"))
            + crate::dir_size(&self.dir.path().join("wal"))
    }

    /// Disk influxd's directories take, as `du` counts it (meta included).
    pub fn disk_usage(&self) -> u64 {
        ["data", "wal", "meta"]
            .iter()
            .map(|d| crate::disk_usage(&self.dir.path().join(d)))
            .sum()
    }

    /// The last lines of influxd's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("influxd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

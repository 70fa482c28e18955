//! Helpers of the tests that run a cluster in-process: `/write` and
//! `/query` over real HTTP, and `sluice-ctl` as operators run it.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// `POST /query` on `base` with `consistency=strong`; the statement must
/// not fail.
pub async fn query(http: &reqwest::Client, base: &str, db: &str, q: &str) -> Value {
    let v: Value = http
        .post(format!("{base}/query"))
        .query(&[("db", db), ("q", q), ("consistency", "strong")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["results"][0]["error"].is_null(), "{q}: {v}");
    v
}

/// `POST /write` on `base`; it must be acknowledged (204).
pub async fn write(http: &reqwest::Client, base: &str, db: &str, body: String) {
    let resp = http
        .post(format!("{base}/write"))
        .query(&[("db", db)])
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
}

/// `sluice-ctl` is a binary of the `metad` package: a workspace build puts
/// it beside `sluice`.
fn ctl_binary() -> PathBuf {
    let sluice = PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
    let ctl = sluice.with_file_name(format!("sluice-ctl{}", std::env::consts::EXE_SUFFIX));
    assert!(
        ctl.is_file(),
        "{} is missing: build the workspace (cargo build --workspace)",
        ctl.display()
    );
    ctl
}

/// `sluice-ctl --json` against one cluster.
pub struct Ctl {
    pub metad: String,
    pub secret: String,
    /// `--timeout-s`.
    pub timeout_s: u64,
}

impl Ctl {
    /// Its stdout, or its stderr when it fails.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(ctl_binary())
            .args(["--metad", &self.metad, "--shared-secret", &self.secret])
            .args(["--json", "--timeout-s", &self.timeout_s.to_string()])
            .args(args)
            .output()
            .expect("run sluice-ctl");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(stderr)
        }
    }

    /// Its JSON answer; it must succeed.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self
            .run(args)
            .unwrap_or_else(|e| panic!("sluice-ctl {args:?}: {e}"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
}

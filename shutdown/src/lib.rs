//! # shutdown — how Sluice's daemons stop
//!
//! Every binary stops cleanly on SIGINT (Ctrl-C) or SIGTERM: it stops taking
//! work, finishes what is in flight, commits and closes. A clean stop can
//! wait on Kafka (librdkafka's consumer close, a final offset commit), and
//! with the broker gone that wait has no end; [`exit_if_stuck`] bounds it.
//! Exiting early loses nothing acknowledged: raw records whose offsets were
//! not committed are consumed again, and replicas resume from the offset
//! stored with their data.
//!
//! ```text
//!  main ── select! { signal() => stop, … } ── exit_if_stuck(GRACE) ── clean stop:
//!          SIGINT / SIGTERM                   (a thread that exits      stop taking work,
//!                                              the process if the       flush, commit, close
//!                                              clean stop hangs)
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::time::Duration;

/// How long a clean stop may take before [`exit_if_stuck`] ends it.
pub const GRACE: Duration = Duration::from_secs(30);

/// Resolves on the first SIGINT or SIGTERM.
pub async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Call once a clean stop has begun: exits the process with status 1 if it
/// is still running after `grace`, or at once on another SIGINT/SIGTERM.
pub fn exit_if_stuck(grace: Duration) {
    tokio::spawn(async move {
        tokio::select! {
            _ = signal() => tracing::warn!("second signal: exiting without finishing the stop"),
            _ = tokio::time::sleep(grace) => tracing::error!(
                ?grace,
                "the clean stop did not finish (is Kafka reachable?); exiting without it"
            ),
        }
        std::process::exit(1);
    });
}

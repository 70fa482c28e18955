//! `sluice standalone`: a whole Sluice cluster on one machine, in one
//! process tree.
//!
//! ```text
//!  tansu (child process, sqlite in <data-dir>/kafka)  :9092   ◀── kcat -P, any Kafka client
//!  metad (1 voter, <data-dir>/meta)                    :8091
//!  data node 1..N (<data-dir>/node-<i>)                :8086 (+100 per node), internal :8088 (+1)
//!     /write /api/v2/write /query /ping /health /metrics
//!  ingest (raw line-protocol topics <prefix>.lp[.<db>]) :8087 /metrics /health
//! ```
//!
//! Order matters on the way down: ingest stops first (its offsets are
//! committed only after Kafka acknowledged what it routed), then the data
//! nodes (close RocksDB), then metad, then the broker.

mod standalone;

use clap::{Parser, Subcommand};

/// Sluice: an InfluxDB 1.x-compatible time-series cluster on a Kafka log.
#[derive(Debug, Parser)]
#[command(name = "sluice", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a single-machine cluster: an embedded Kafka-API broker (tansu),
    /// one metad, N data nodes and the ingest router, with InfluxDB's HTTP
    /// API on --http-listen. Ctrl-C (SIGINT) or SIGTERM stops it cleanly; a
    /// restart on the same --data-dir keeps every acknowledged point.
    Standalone(standalone::Args),
}

fn main() -> anyhow::Result<()> {
    settings::runtime()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Standalone(args) => {
            let settings = args.resolve()?;
            settings::init_tracing(&settings.log_filter)?;
            standalone::run(settings).await
        }
    }
}

//! Every default the daemons share, in one place. Each address comes as a
//! `SocketAddr` (for listeners) and, where clients need it, as text.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

const fn localhost(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// metad's API, as clients are told it (`--metad`).
pub const META_ADDR: &str = "127.0.0.1:8091";
/// Where metad listens (`--listen` of metad, `--meta-bind` of standalone).
pub const META_LISTEN: SocketAddr = localhost(8091);
/// A data node's public InfluxDB API (`--http-listen`).
pub const HTTP_LISTEN: SocketAddr = localhost(8086);
/// A data node's internal API (`--internal-listen`).
pub const INTERNAL_LISTEN: SocketAddr = localhost(8088);
/// The ingest daemon's HTTP server: `/metrics`, `/health`, writes.
pub const INGEST_HTTP_LISTEN: SocketAddr = localhost(8087);
/// Kafka bootstrap servers (`--kafka-brokers`); kafka_log owns it.
pub const KAFKA_BROKERS: &str = kafka_log::DEFAULT_BROKERS;
/// Where the embedded broker of `sluice standalone` listens.
pub const KAFKA_LISTEN: SocketAddr = localhost(9092);
/// Data directory of a data node and of `sluice standalone`.
pub const DATA_DIR: &str = "sluice-data";
/// Require credentials on the HTTP API (InfluxDB's `auth-enabled`).
pub const AUTH_ENABLED: bool = false;
/// Largest write body in bytes, after decompression (InfluxDB's
/// `max-body-size`).
pub const MAX_BODY_SIZE: usize = 25_000_000;
/// Log filter of the daemons.
pub const LOG_FILTER: &str = "info";
/// Log filter of `sluice standalone`, which runs every part in one
/// process and would otherwise repeat librdkafka's and openraft's chatter.
pub const STANDALONE_LOG_FILTER: &str = "info,librdkafka=warn,openraft=warn";
/// Log filter of `sluice-ctl`, whose output is its answer.
pub const CTL_LOG_FILTER: &str = "off";

/// InfluxDB's `enqueued-write-timeout`.
pub const ENQUEUED_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a client may take to send a request's body (25 MB at 200 kB/s).
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_socket_forms_agree() {
        assert_eq!(META_LISTEN.to_string(), META_ADDR);
        assert_eq!(KAFKA_LISTEN.to_string(), KAFKA_BROKERS);
        assert_eq!(HTTP_LISTEN.to_string(), "127.0.0.1:8086");
        assert_eq!(INTERNAL_LISTEN.to_string(), "127.0.0.1:8088");
        assert_eq!(INGEST_HTTP_LISTEN.to_string(), "127.0.0.1:8087");
    }
}

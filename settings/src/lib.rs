//! # settings — configuration blocks shared by Sluice's daemons
//!
//! Each concern that several binaries share is one block: a `clap::Args`
//! struct to `#[command(flatten)]` into a daemon's CLI (every flag with a
//! `SLUICE_*` environment variable) and the matching TOML part to
//! `#[serde(flatten)]` into its config file:
//!
//! | block                          | flags                                          | file keys                              |
//! |--------------------------------|------------------------------------------------|----------------------------------------|
//! | [`KafkaArgs`] / [`KafkaFile`]  | `--kafka-brokers`                              | `kafka_brokers`, `[kafka_properties]`  |
//! | [`MetadArgs`] / [`MetadFile`]  | `--metad` and [`SecretArgs`]'s                 | `metad` and [`SecretFile`]'s           |
//! | [`SecretArgs`] / [`SecretFile`]| `--shared-secret`, `--shared-secret-file`, `--insecure-internal` | `shared_secret`, `shared_secret_file`, `insecure_internal` |
//! | [`HttpApiArgs`] / [`HttpApiFile`] | `--http-listen`, `--auth-enabled`, `--max-body-size`, [`HttpLimits`]' six | `http_listen`, `auth_enabled`, `max_body_size`, the same six |
//! | [`LoggingArgs`] / [`LoggingFile`] | `--log-filter`                              | `log_filter`                           |
//!
//! Every setting is layered the same way by [`layer`]: a flag wins over its
//! environment variable (clap merges those two), which wins over the config
//! file, which wins over the default. Defaults are named constants in
//! [`defaults`]. [`load_file`] reads a config file; flatten [`NoUnknownKeys`]
//! last into it so that a misspelt key is refused. [`init_tracing`] is the
//! one way a binary starts logging, [`runtime`] the one runtime it runs on.

#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod defaults;
mod file;
mod http;
mod kafka;
mod layer;
mod logging;
mod metad;
mod runtime;

pub use file::{load_file, NoUnknownKeys};
pub use http::{HttpApi, HttpApiArgs, HttpApiFile, HttpLimits, HttpsFiles};
pub use kafka::{KafkaArgs, KafkaFile};
pub use layer::{layer, renamed_env};
pub use logging::{init_tracing, LoggingArgs, LoggingFile};
pub use metad::{
    load_or_create_secret, read_secret_file, shared_secret, MetadArgs, MetadFile, SecretArgs,
    SecretFile,
};
pub use runtime::{runtime, MAX_BLOCKING_THREADS};

use std::path::PathBuf;

/// Why settings could not be loaded or applied.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has a value of the wrong type, or
    /// an unknown key.
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: toml::de::Error,
    },
    /// An environment variable holds a value that does not parse.
    #[error("invalid environment variable {name}={value:?}: {reason}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// `https-enabled` is on but no certificate is given.
    #[error("https-enabled needs https-certificate (a PEM file)")]
    HttpsWithoutCertificate,
    /// A duration of the config file does not parse.
    #[error("invalid {key} {value:?}: {reason}")]
    Duration {
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The log filter is not valid `EnvFilter` syntax.
    #[error("invalid log filter {filter:?}: {source}")]
    LogFilter {
        /// The filter.
        filter: String,
        /// Cause.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A secret file holds nothing but whitespace.
    #[error("{path}: the shared secret file is empty")]
    EmptySecret {
        /// The file.
        path: PathBuf,
    },
    /// A daemon was given no shared secret.
    #[error(
        "no shared secret: give --shared-secret, SLUICE_SHARED_SECRET, --shared-secret-file or \
         shared_secret in the config file (every node of the cluster the same), or \
         --insecure-internal to leave the node-to-node APIs open"
    )]
    NoSecret,
    /// A shared secret and `--insecure-internal` together.
    #[error("--insecure-internal contradicts the shared secret also given")]
    SecretAndInsecure,
    /// A global tracing subscriber was already installed.
    #[error("cannot install the tracing subscriber: {0}")]
    Tracing(String),
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        metad: MetadArgs,
        #[command(flatten)]
        http: HttpApiArgs,
        #[command(flatten)]
        logging: LoggingArgs,
    }

    #[test]
    fn help_states_every_flag_its_variable_and_the_defaults() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "--kafka-brokers",
            "SLUICE_KAFKA_BROKERS",
            defaults::KAFKA_BROKERS,
            "--metad",
            "SLUICE_METAD",
            defaults::META_ADDR,
            "--shared-secret",
            "SLUICE_SHARED_SECRET",
            "--shared-secret-file",
            "--insecure-internal",
            "--http-listen",
            "SLUICE_HTTP_LISTEN",
            &defaults::HTTP_LISTEN.to_string(),
            &defaults::INGEST_HTTP_LISTEN.to_string(),
            "--auth-enabled",
            "SLUICE_AUTH_ENABLED",
            "--max-body-size",
            "SLUICE_MAX_BODY_SIZE",
            "--max-connection-limit",
            "--max-concurrent-write-limit",
            "--max-enqueued-write-limit",
            "--enqueued-write-timeout",
            "--header-read-timeout",
            "--body-read-timeout",
            &defaults::MAX_BODY_SIZE.to_string(),
            "--log-filter",
            "SLUICE_LOG_FILTER",
            defaults::LOG_FILTER,
            defaults::STANDALONE_LOG_FILTER,
            defaults::CTL_LOG_FILTER,
        ] {
            assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
        }
    }
}

//! The HTTP API block: where the API listens, authentication, body size,
//! and InfluxDB's `[http]` limits that keep one client from holding the
//! API (connections, concurrent and queued writes, read deadlines), and
//! HTTPS as InfluxDB's `https-enabled`, `https-certificate` and
//! `https-private-key`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::{defaults, layer, renamed_env, SettingsError};

/// HTTP API flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HttpApiArgs {
    /// Address of the HTTP API: a data node's InfluxDB API (standalone: the
    /// first node's), the ingest daemon's /metrics, /health and writes
    /// [default: 127.0.0.1:8086; ingest: 127.0.0.1:8087].
    #[arg(long, alias = "http-bind", env = "SLUICE_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Require credentials on the HTTP API [default: false].
    #[arg(long, env = "SLUICE_AUTH_ENABLED")]
    pub auth_enabled: Option<bool>,
    /// Largest write body in bytes, after decompression [default: 25000000].
    #[arg(long, env = "SLUICE_MAX_BODY_SIZE")]
    pub max_body_size: Option<usize>,
    /// With --auth-enabled, require credentials on /ping and /metrics too
    /// (InfluxDB's ping-auth-enabled) [default: false].
    #[arg(long, env = "SLUICE_PING_AUTH_ENABLED")]
    pub ping_auth_enabled: Option<bool>,
    /// With --auth-enabled, require an admin's credentials on /debug/vars
    /// and any user's on /metrics (InfluxDB's pprof-auth-enabled)
    /// [default: false].
    #[arg(long, env = "SLUICE_PPROF_AUTH_ENABLED")]
    pub pprof_auth_enabled: Option<bool>,
    /// Open connections at most; more are closed at once (InfluxDB's
    /// max-connection-limit) [default: 0, no limit].
    #[arg(long, env = "SLUICE_MAX_CONNECTION_LIMIT")]
    pub max_connection_limit: Option<usize>,
    /// Writes served at once (InfluxDB's max-concurrent-write-limit)
    /// [default: 0, no limit].
    #[arg(long, env = "SLUICE_MAX_CONCURRENT_WRITE_LIMIT")]
    pub max_concurrent_write_limit: Option<usize>,
    /// Writes waiting for a turn beyond those; more get 503 (InfluxDB's
    /// max-enqueued-write-limit) [default: 0].
    #[arg(long, env = "SLUICE_MAX_ENQUEUED_WRITE_LIMIT")]
    pub max_enqueued_write_limit: Option<usize>,
    /// How long a queued write waits before 503, e.g. `30s` (InfluxDB's
    /// enqueued-write-timeout) [default: 30s].
    #[arg(long, env = "SLUICE_ENQUEUED_WRITE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub enqueued_write_timeout: Option<Duration>,
    /// How long a client may take to send a request's headers before its
    /// connection is closed [default: 10s].
    #[arg(long, env = "SLUICE_HEADER_READ_TIMEOUT", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Option<Duration>,
    /// How long a client may take to send a request's body before it gets
    /// 408 [default: 2m].
    #[arg(long, env = "SLUICE_BODY_READ_TIMEOUT", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Option<Duration>,
    /// Serve the HTTP API over TLS (InfluxDB's https-enabled); needs
    /// --https-certificate [default: false].
    #[arg(long, env = "SLUICE_HTTPS_ENABLED")]
    pub https_enabled: Option<bool>,
    /// PEM file with the server's certificate chain and, without
    /// --https-private-key, its private key too (InfluxDB's
    /// https-certificate).
    #[arg(long, env = "SLUICE_HTTPS_CERTIFICATE")]
    pub https_certificate: Option<PathBuf>,
    /// PEM file with the certificate's private key (InfluxDB's
    /// https-private-key) [default: the certificate file].
    #[arg(long, env = "SLUICE_HTTPS_PRIVATE_KEY")]
    pub https_private_key: Option<PathBuf>,
}

/// HTTP API keys of a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpApiFile {
    /// Listen address of the HTTP API (`http_bind` in standalone's files
    /// of old).
    #[serde(alias = "http_bind")]
    pub http_listen: Option<SocketAddr>,
    /// Require credentials on the HTTP API.
    pub auth_enabled: Option<bool>,
    /// Largest write body in bytes, after decompression.
    pub max_body_size: Option<usize>,
    /// See [`HttpApiArgs::ping_auth_enabled`].
    pub ping_auth_enabled: Option<bool>,
    /// See [`HttpApiArgs::pprof_auth_enabled`].
    pub pprof_auth_enabled: Option<bool>,
    /// See [`HttpApiArgs::max_connection_limit`].
    pub max_connection_limit: Option<usize>,
    /// See [`HttpApiArgs::max_concurrent_write_limit`].
    pub max_concurrent_write_limit: Option<usize>,
    /// See [`HttpApiArgs::max_enqueued_write_limit`].
    pub max_enqueued_write_limit: Option<usize>,
    /// A duration such as `"30s"`.
    pub enqueued_write_timeout: Option<String>,
    /// A duration such as `"10s"`.
    pub header_read_timeout: Option<String>,
    /// A duration such as `"2m"`.
    pub body_read_timeout: Option<String>,
    /// See [`HttpApiArgs::https_enabled`].
    pub https_enabled: Option<bool>,
    /// See [`HttpApiArgs::https_certificate`].
    pub https_certificate: Option<PathBuf>,
    /// See [`HttpApiArgs::https_private_key`].
    pub https_private_key: Option<PathBuf>,
}

/// The resolved HTTP API settings (`ingest::http::ApiConfig` converts from
/// it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApi {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Require credentials.
    pub auth_enabled: bool,
    /// Largest write body in bytes, after decompression.
    pub max_body_size: usize,
    /// Credentials on /ping and /metrics too, when auth is enabled.
    pub ping_auth_enabled: bool,
    /// An admin's credentials on /debug/*, any user's on /metrics, when
    /// auth is enabled.
    pub pprof_auth_enabled: bool,
    /// Connection, write and read limits.
    pub limits: HttpLimits,
    /// With `https-enabled`: where the certificate and key are.
    pub https: Option<HttpsFiles>,
}

/// The PEM files of an HTTPS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsFiles {
    /// The certificate chain (and the key, when `private_key` is `None`).
    pub certificate: PathBuf,
    /// The private key, when in a file of its own.
    pub private_key: Option<PathBuf>,
}

/// InfluxDB's `[http]` limits, plus read deadlines; 0 is "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections at most.
    pub max_connection_limit: usize,
    /// Writes served at once.
    pub max_concurrent_write_limit: usize,
    /// Writes waiting for a turn beyond those.
    pub max_enqueued_write_limit: usize,
    /// How long a queued write waits.
    pub enqueued_write_timeout: Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_read_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connection_limit: 0,
            max_concurrent_write_limit: 0,
            max_enqueued_write_limit: 0,
            enqueued_write_timeout: defaults::ENQUEUED_WRITE_TIMEOUT,
            header_read_timeout: defaults::HEADER_READ_TIMEOUT,
            body_read_timeout: defaults::BODY_READ_TIMEOUT,
        }
    }
}

/// A duration of the config file, `key` naming it in the error.
fn file_duration(
    key: &'static str,
    value: Option<String>,
) -> Result<Option<Duration>, SettingsError> {
    value
        .map(|v| {
            humantime::parse_duration(&v).map_err(|e| SettingsError::Duration {
                key,
                reason: e.to_string(),
                value: v,
            })
        })
        .transpose()
}

impl HttpApiArgs {
    /// Layers the flags over the file over the defaults; `default_listen`
    /// is the binary's own, `renamed_listen_env` the variable its listen
    /// address used to be read from, if any (below the flag and
    /// `SLUICE_HTTP_LISTEN`, above the file).
    pub fn resolve(
        self,
        file: HttpApiFile,
        default_listen: SocketAddr,
        renamed_listen_env: Option<&'static str>,
    ) -> Result<HttpApi, SettingsError> {
        let mut listen = self.http_listen;
        if let (None, Some(old)) = (listen, renamed_listen_env) {
            listen = renamed_env(old)?;
        }
        let d = HttpLimits::default();
        let limits = HttpLimits {
            max_connection_limit: layer(self.max_connection_limit, file.max_connection_limit)
                .unwrap_or(d.max_connection_limit),
            max_concurrent_write_limit: layer(
                self.max_concurrent_write_limit,
                file.max_concurrent_write_limit,
            )
            .unwrap_or(d.max_concurrent_write_limit),
            max_enqueued_write_limit: layer(
                self.max_enqueued_write_limit,
                file.max_enqueued_write_limit,
            )
            .unwrap_or(d.max_enqueued_write_limit),
            enqueued_write_timeout: layer(
                self.enqueued_write_timeout,
                file_duration("enqueued_write_timeout", file.enqueued_write_timeout)?,
            )
            .unwrap_or(d.enqueued_write_timeout),
            header_read_timeout: layer(
                self.header_read_timeout,
                file_duration("header_read_timeout", file.header_read_timeout)?,
            )
            .unwrap_or(d.header_read_timeout),
            body_read_timeout: layer(
                self.body_read_timeout,
                file_duration("body_read_timeout", file.body_read_timeout)?,
            )
            .unwrap_or(d.body_read_timeout),
        };
        let https = if layer(self.https_enabled, file.https_enabled).unwrap_or(false) {
            let certificate = layer(self.https_certificate, file.https_certificate)
                .ok_or(SettingsError::HttpsWithoutCertificate)?;
            Some(HttpsFiles {
                certificate,
                private_key: layer(self.https_private_key, file.https_private_key),
            })
        } else {
            None
        };
        Ok(HttpApi {
            https,
            listen: layer(listen, file.http_listen).unwrap_or(default_listen),
            auth_enabled: layer(self.auth_enabled, file.auth_enabled)
                .unwrap_or(defaults::AUTH_ENABLED),
            max_body_size: layer(self.max_body_size, file.max_body_size)
                .unwrap_or(defaults::MAX_BODY_SIZE),
            ping_auth_enabled: layer(self.ping_auth_enabled, file.ping_auth_enabled)
                .unwrap_or(false),
            pprof_auth_enabled: layer(self.pprof_auth_enabled, file.pprof_auth_enabled)
                .unwrap_or(false),
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        http: HttpApiArgs,
    }

    fn parse(args: &[&str]) -> HttpApiArgs {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .http
    }

    #[test]
    fn toml_keys_aliases_and_typos() {
        let f: HttpApiFile =
            toml::from_str("http_listen = \"127.0.0.1:1\"\nauth_enabled = true\nmax_body_size = 5")
                .unwrap();
        assert_eq!(f.http_listen, Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(f.auth_enabled, Some(true));
        let old: HttpApiFile = toml::from_str("http_bind = \"127.0.0.1:1\"").unwrap();
        assert_eq!(old.http_listen, f.http_listen);
        assert!(toml::from_str::<HttpApiFile>("listen = \"127.0.0.1:1\"").is_err());
        assert!(toml::from_str::<HttpApiFile>("http_listen = \"nowhere\"").is_err());
    }

    #[test]
    fn layering() {
        let file = HttpApiFile {
            http_listen: Some("127.0.0.1:2".parse().unwrap()),
            auth_enabled: Some(true),
            enqueued_write_timeout: Some("5s".into()),
            max_concurrent_write_limit: Some(8),
            ..HttpApiFile::default()
        };
        let d = defaults::HTTP_LISTEN;
        let api = parse(&[]).resolve(HttpApiFile::default(), d, None).unwrap();
        assert_eq!(
            api,
            HttpApi {
                listen: d,
                auth_enabled: defaults::AUTH_ENABLED,
                max_body_size: defaults::MAX_BODY_SIZE,
                ping_auth_enabled: false,
                pprof_auth_enabled: false,
                limits: HttpLimits::default(),
                https: None,
            }
        );
        let api = parse(&[]).resolve(file.clone(), d, None).unwrap();
        assert_eq!(api.listen, file.http_listen.unwrap());
        assert!(api.auth_enabled);
        assert_eq!(api.limits.enqueued_write_timeout, Duration::from_secs(5));
        assert_eq!(api.limits.max_concurrent_write_limit, 8);
        let api = parse(&[
            "--enqueued-write-timeout",
            "250ms",
            "--header-read-timeout",
            "1s",
        ])
        .resolve(file.clone(), d, None)
        .unwrap();
        assert_eq!(
            api.limits.enqueued_write_timeout,
            Duration::from_millis(250)
        );
        assert_eq!(api.limits.header_read_timeout, Duration::from_secs(1));
        let bad = HttpApiFile {
            body_read_timeout: Some("soon".into()),
            ..HttpApiFile::default()
        };
        let err = parse(&[]).resolve(bad, d, None).unwrap_err();
        assert!(err.to_string().contains("body_read_timeout"), "{err}");
        let api = parse(&["--http-bind", "127.0.0.1:3", "--auth-enabled", "false"])
            .resolve(file.clone(), d, None)
            .unwrap();
        assert_eq!(api.listen, "127.0.0.1:3".parse().unwrap());
        assert!(!api.auth_enabled);
        // The old variable sits between the new name and the file.
        std::env::set_var("SETTINGS_TEST_OLD_HTTP", "127.0.0.1:4");
        let api = parse(&[])
            .resolve(file.clone(), d, Some("SETTINGS_TEST_OLD_HTTP"))
            .unwrap();
        assert_eq!(api.listen, "127.0.0.1:4".parse().unwrap());
        let api = parse(&["--http-listen", "127.0.0.1:5"])
            .resolve(file, d, Some("SETTINGS_TEST_OLD_HTTP"))
            .unwrap();
        assert_eq!(api.listen, "127.0.0.1:5".parse().unwrap());
    }
}

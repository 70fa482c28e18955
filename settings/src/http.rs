//! The HTTP API block: where the API listens, authentication, body size.

use std::net::SocketAddr;

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
}

/// The resolved HTTP API settings (`ingest::http::ApiConfig` converts from
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpApi {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Require credentials.
    pub auth_enabled: bool,
    /// Largest write body in bytes, after decompression.
    pub max_body_size: usize,
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
        Ok(HttpApi {
            listen: layer(listen, file.http_listen).unwrap_or(default_listen),
            auth_enabled: layer(self.auth_enabled, file.auth_enabled)
                .unwrap_or(defaults::AUTH_ENABLED),
            max_body_size: layer(self.max_body_size, file.max_body_size)
                .unwrap_or(defaults::MAX_BODY_SIZE),
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
            max_body_size: None,
        };
        let d = defaults::HTTP_LISTEN;
        let api = parse(&[]).resolve(HttpApiFile::default(), d, None).unwrap();
        assert_eq!(
            api,
            HttpApi {
                listen: d,
                auth_enabled: defaults::AUTH_ENABLED,
                max_body_size: defaults::MAX_BODY_SIZE,
            }
        );
        let api = parse(&[]).resolve(file.clone(), d, None).unwrap();
        assert_eq!(api.listen, file.http_listen.unwrap());
        assert!(api.auth_enabled);
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

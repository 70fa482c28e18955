//! The logging block, and the one way a binary starts tracing.

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

use crate::{layer, renamed_env, SettingsError};

/// Logging flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LoggingArgs {
    /// Log filter in tracing's `EnvFilter` syntax (`info`,
    /// `warn,shardd=debug`); `RUST_LOG` is read when neither this nor the
    /// config file sets it [default: info; sluice: info,librdkafka=warn,openraft=warn;
    /// sluice-ctl: off].
    #[arg(long, alias = "log", env = "SLUICE_LOG_FILTER")]
    pub log_filter: Option<String>,
}

/// Logging keys of a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingFile {
    /// Log filter in tracing's `EnvFilter` syntax.
    pub log_filter: Option<String>,
}

impl LoggingArgs {
    /// The filter: `--log-filter` or `SLUICE_LOG_FILTER`, else the
    /// binary's old variable `renamed_env` (metad's `METAD_LOG`), else
    /// `RUST_LOG`, else the file, else `default`.
    pub fn resolve(
        self,
        file: LoggingFile,
        renamed: Option<&'static str>,
        default: &str,
    ) -> Result<String, SettingsError> {
        let mut env = self.log_filter;
        if let (None, Some(old)) = (&env, renamed) {
            env = renamed_env(old)?;
        }
        if env.is_none() {
            env = renamed_env(EnvFilter::DEFAULT_ENV)?;
        }
        Ok(layer(env, file.log_filter).unwrap_or_else(|| default.to_owned()))
    }
}

/// Installs the global tracing subscriber: human-readable lines on stderr,
/// filtered by `filter` (`EnvFilter` syntax). Every binary calls this once.
pub fn init_tracing(filter: &str) -> Result<(), SettingsError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|source| SettingsError::LogFilter {
        filter: filter.to_owned(),
        source,
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| SettingsError::Tracing(e.to_string()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        logging: LoggingArgs,
    }

    #[test]
    fn toml_keys_and_typos() {
        let f: LoggingFile = toml::from_str("log_filter = \"debug\"").unwrap();
        assert_eq!(f.log_filter.as_deref(), Some("debug"));
        assert!(toml::from_str::<LoggingFile>("log = \"debug\"").is_err());
    }

    #[test]
    fn layering_and_init() {
        let file = LoggingFile {
            log_filter: Some("file".into()),
        };
        let old = Cli::try_parse_from(["x", "--log", "warn"]).unwrap().logging;
        assert_eq!(old.resolve(file.clone(), None, "d").unwrap(), "warn");
        let new = Cli::try_parse_from(["x", "--log-filter", "error"])
            .unwrap()
            .logging;
        std::env::set_var("SETTINGS_TEST_OLD_LOG", "trace");
        assert_eq!(
            new.resolve(file.clone(), Some("SETTINGS_TEST_OLD_LOG"), "d")
                .unwrap(),
            "error"
        );
        let none = LoggingArgs::default();
        assert_eq!(
            none.clone()
                .resolve(file.clone(), Some("SETTINGS_TEST_OLD_LOG"), "d")
                .unwrap(),
            "trace"
        );
        if std::env::var_os(EnvFilter::DEFAULT_ENV).is_none() {
            assert_eq!(none.clone().resolve(file, None, "d").unwrap(), "file");
            assert_eq!(
                none.resolve(LoggingFile::default(), None, "d").unwrap(),
                "d"
            );
        }
        assert!(matches!(
            init_tracing("shardd=loud").unwrap_err(),
            SettingsError::LogFilter { .. }
        ));
        init_tracing("info").unwrap();
        assert!(matches!(
            init_tracing("info").unwrap_err(),
            SettingsError::Tracing(_)
        ));
    }
}

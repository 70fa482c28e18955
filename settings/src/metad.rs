//! The metad client block: where metad is and the cluster's shared secret.

use serde::Deserialize;

use crate::{defaults, layer};

/// The shared-secret flag alone, for metad itself.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecretArgs {
    /// Shared secret of the cluster: metad and the data nodes' internal API
    /// require it as `Authorization: Bearer`, clients send it; empty means
    /// none [default: none].
    #[arg(long, env = "SLUICE_SHARED_SECRET", hide_env_values = true)]
    pub shared_secret: Option<String>,
}

/// The shared-secret key of a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretFile {
    /// Shared secret of the cluster; empty means none. Better passed as
    /// `SLUICE_SHARED_SECRET`.
    pub shared_secret: Option<String>,
}

/// The one rule for the shared secret: an empty one means none.
pub fn shared_secret(secret: Option<String>) -> Option<String> {
    secret.filter(|s| !s.is_empty())
}

impl SecretArgs {
    /// The secret layered over the file's, empty meaning none.
    pub fn resolve(self, file: SecretFile) -> Option<String> {
        shared_secret(layer(self.shared_secret, file.shared_secret))
    }
}

/// Flags of a metad client: the addresses and the shared secret.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetadArgs {
    /// metad addresses, `host:port[,host:port...]`; any node will do
    /// [default: 127.0.0.1:8091].
    #[arg(long, env = "SLUICE_METAD")]
    pub metad: Option<String>,
    /// The shared secret.
    #[command(flatten)]
    pub secret: SecretArgs,
}

/// metad client keys of a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadFile {
    /// metad addresses.
    pub metad: Option<Vec<String>>,
    /// Shared secret of the cluster; empty means none.
    pub shared_secret: Option<String>,
}

impl MetadArgs {
    /// The client settings: addresses layered over
    /// [`defaults::META_ADDR`], the secret by [`shared_secret`], the
    /// client's own defaults for the rest.
    pub fn resolve(self, file: MetadFile) -> meta_client::Config {
        let list = layer(self.metad, file.metad.map(|v| v.join(",")))
            .unwrap_or_else(|| defaults::META_ADDR.to_owned());
        let mut config = meta_client::Config::from_list(&list);
        config.shared_secret = self.secret.resolve(SecretFile {
            shared_secret: file.shared_secret,
        });
        config
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        metad: MetadArgs,
    }

    fn parse(args: &[&str]) -> MetadArgs {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .metad
    }

    #[test]
    fn toml_keys_and_typos() {
        let f: MetadFile = toml::from_str("metad = [\"a:1\"]\nshared_secret = \"s\"").unwrap();
        assert_eq!(f.metad, Some(vec!["a:1".to_owned()]));
        assert!(toml::from_str::<MetadFile>("metad = \"a:1\"").is_err());
        assert!(toml::from_str::<MetadFile>("metad_addrs = [\"a:1\"]").is_err());
        let s: SecretFile = toml::from_str("shared_secret = \"s\"").unwrap();
        assert_eq!(s.shared_secret.as_deref(), Some("s"));
        assert!(toml::from_str::<SecretFile>("secret = \"s\"").is_err());
    }

    #[test]
    fn layering_and_the_empty_secret() {
        let file = MetadFile {
            metad: Some(vec!["f1:1".into(), "f2:1".into()]),
            shared_secret: Some("file".into()),
        };
        let c = parse(&[]).resolve(file.clone());
        assert_eq!(c.addrs, ["f1:1", "f2:1"]);
        assert_eq!(c.shared_secret.as_deref(), Some("file"));
        let c = parse(&["--metad", "a:1, b:1", "--shared-secret", "flag"]).resolve(file.clone());
        assert_eq!(c.addrs, ["a:1", "b:1"]);
        assert_eq!(c.shared_secret.as_deref(), Some("flag"));
        // An empty flag turns the file's secret off.
        let c = parse(&["--shared-secret", ""]).resolve(file);
        assert_eq!(c.shared_secret, None);
        let c = parse(&[]).resolve(MetadFile {
            shared_secret: Some(String::new()),
            ..MetadFile::default()
        });
        assert_eq!(c.shared_secret, None);
        assert_eq!(c.addrs, [defaults::META_ADDR]);
        assert_eq!(shared_secret(Some("x".into())).as_deref(), Some("x"));
        assert_eq!(shared_secret(Some(String::new())), None);
    }
}

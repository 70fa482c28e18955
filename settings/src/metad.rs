//! The metad client block: where metad is and the cluster's shared secret.
//!
//! Node-to-node calls (metad's API, raft, the data nodes' internal API)
//! carry the secret as `Authorization: Bearer`. A daemon refuses to start
//! without one unless told `--insecure-internal`: an open metad hands out
//! password hashes and creates admins for whoever reaches its port.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{defaults, layer, SettingsError};

/// The shared-secret flags alone, for metad itself.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecretArgs {
    /// Shared secret of the cluster: metad and the data nodes' internal API
    /// require it as `Authorization: Bearer`, clients send it. Daemons
    /// refuse to start without one (this, --shared-secret-file or the
    /// config file) unless --insecure-internal.
    #[arg(long, env = "SLUICE_SHARED_SECRET", hide_env_values = true)]
    pub shared_secret: Option<String>,
    /// File holding the shared secret (surrounding whitespace ignored); the
    /// all-in-one writes one at `<data-dir>/cluster-secret`.
    #[arg(long, env = "SLUICE_SHARED_SECRET_FILE")]
    pub shared_secret_file: Option<PathBuf>,
    /// Run without a shared secret: every node-to-node API is open to
    /// whoever reaches its port, password hashes included. For a cluster
    /// on a network nobody else can reach.
    #[arg(long, env = "SLUICE_INSECURE_INTERNAL")]
    pub insecure_internal: bool,
}

/// The shared-secret keys of a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretFile {
    /// Shared secret of the cluster. Better passed as
    /// `SLUICE_SHARED_SECRET` or `shared_secret_file`.
    pub shared_secret: Option<String>,
    /// File holding the shared secret.
    pub shared_secret_file: Option<PathBuf>,
    /// Run without a shared secret.
    pub insecure_internal: Option<bool>,
}

/// The one rule for the shared secret: an empty one means none.
pub fn shared_secret(secret: Option<String>) -> Option<String> {
    secret.filter(|s| !s.is_empty())
}

/// Reads a secret file: its content without surrounding whitespace, which
/// must not be empty.
pub fn read_secret_file(path: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })?;
    shared_secret(Some(text.trim().to_owned())).ok_or_else(|| SettingsError::EmptySecret {
        path: path.to_owned(),
    })
}

/// The secret kept at `path`, written there first (32 random bytes as hex,
/// mode 0600) when the file does not exist: how the all-in-one has a
/// secret from its first start without anyone choosing one.
pub fn load_or_create_secret(path: &Path) -> Result<String, SettingsError> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;

    let write_err = |source| SettingsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{secret}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(write_err)?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_secret_file(path),
        Err(e) => Err(write_err(e)),
    }
}

impl SecretArgs {
    /// The secret a client sends: the flag (or its variable), else the
    /// file's key, else the content of the secret file either names; empty
    /// means none.
    pub fn resolve(self, file: SecretFile) -> Result<Option<String>, SettingsError> {
        if let Some(secret) = layer(self.shared_secret, file.shared_secret) {
            return Ok(shared_secret(Some(secret)));
        }
        layer(self.shared_secret_file, file.shared_secret_file)
            .map(|path| read_secret_file(&path))
            .transpose()
    }

    /// The secret a daemon requires of its callers: as [`Self::resolve`],
    /// but none at all is refused unless `--insecure-internal` was asked
    /// for (`None` then; the daemon warns when it starts), and asking for
    /// both is a contradiction.
    pub fn require(self, file: SecretFile) -> Result<Option<String>, SettingsError> {
        let insecure = self.insecure_internal || file.insecure_internal.unwrap_or(false);
        match (self.resolve(file)?, insecure) {
            (Some(_), true) => Err(SettingsError::SecretAndInsecure),
            (Some(secret), false) => Ok(Some(secret)),
            (None, true) => Ok(None),
            (None, false) => Err(SettingsError::NoSecret),
        }
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

/// metad client keys of a config file ([`SecretFile`]'s keys repeated:
/// serde refuses unknown keys only in a struct that flattens nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadFile {
    /// metad addresses.
    pub metad: Option<Vec<String>>,
    /// Shared secret of the cluster.
    pub shared_secret: Option<String>,
    /// File holding the shared secret.
    pub shared_secret_file: Option<PathBuf>,
    /// Run without a shared secret.
    pub insecure_internal: Option<bool>,
}

impl MetadArgs {
    /// The settings of a daemon's metad client: addresses layered over
    /// [`defaults::META_ADDR`], the secret by [`SecretArgs::require`]
    /// (the same secret guards the daemon's own internal API), the
    /// client's own defaults for the rest.
    pub fn resolve(self, file: MetadFile) -> Result<meta_client::Config, SettingsError> {
        let list = layer(self.metad, file.metad.map(|v| v.join(",")))
            .unwrap_or_else(|| defaults::META_ADDR.to_owned());
        let mut config = meta_client::Config::from_list(&list);
        config.shared_secret = self.secret.require(SecretFile {
            shared_secret: file.shared_secret,
            shared_secret_file: file.shared_secret_file,
            insecure_internal: file.insecure_internal,
        })?;
        Ok(config)
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
        let s: SecretFile =
            toml::from_str("shared_secret_file = \"/s\"\ninsecure_internal = true").unwrap();
        assert_eq!(s.shared_secret_file, Some(PathBuf::from("/s")));
        assert_eq!(s.insecure_internal, Some(true));
        assert!(toml::from_str::<SecretFile>("secret = \"s\"").is_err());
    }

    #[test]
    fn layering_and_the_empty_secret() {
        let file = MetadFile {
            metad: Some(vec!["f1:1".into(), "f2:1".into()]),
            shared_secret: Some("file".into()),
            ..MetadFile::default()
        };
        let c = parse(&[]).resolve(file.clone()).unwrap();
        assert_eq!(c.addrs, ["f1:1", "f2:1"]);
        assert_eq!(c.shared_secret.as_deref(), Some("file"));
        let c = parse(&["--metad", "a:1, b:1", "--shared-secret", "flag"])
            .resolve(file.clone())
            .unwrap();
        assert_eq!(c.addrs, ["a:1", "b:1"]);
        assert_eq!(c.shared_secret.as_deref(), Some("flag"));
        // An empty secret is none, which a daemon refuses...
        let err = parse(&["--shared-secret", ""]).resolve(file).unwrap_err();
        assert!(matches!(err, SettingsError::NoSecret), "{err}");
        assert!(err.to_string().contains("--insecure-internal"), "{err}");
        // ...unless told to run open.
        let c = parse(&["--insecure-internal"])
            .resolve(MetadFile {
                shared_secret: Some(String::new()),
                ..MetadFile::default()
            })
            .unwrap();
        assert_eq!(c.shared_secret, None);
        assert_eq!(c.addrs, [defaults::META_ADDR]);
        let both = parse(&["--insecure-internal", "--shared-secret", "s"]);
        assert!(matches!(
            both.resolve(MetadFile::default()),
            Err(SettingsError::SecretAndInsecure)
        ));
        assert_eq!(shared_secret(Some("x".into())).as_deref(), Some("x"));
        assert_eq!(shared_secret(Some(String::new())), None);
    }

    #[test]
    fn secret_files() {
        let dir = std::env::temp_dir().join(format!("settings-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster-secret");
        let _ = std::fs::remove_file(&path);
        let made = load_or_create_secret(&path).unwrap();
        assert_eq!(made.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Kept: the second start reads the first one's.
        assert_eq!(load_or_create_secret(&path).unwrap(), made);
        let flag = path.to_str().unwrap();
        let c = parse(&["--shared-secret-file", flag]).resolve(MetadFile::default());
        assert_eq!(c.unwrap().shared_secret, Some(made));
        std::fs::write(&path, " \n").unwrap();
        assert!(matches!(
            read_secret_file(&path),
            Err(SettingsError::EmptySecret { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Reading a daemon's TOML config file.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::SettingsError;

/// Reads and parses the config file at `path`, or gives the empty file
/// (every key unset) when there is none.
pub fn load_file<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T, SettingsError> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| SettingsError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Refuses the keys no other field of a config file took. serde cannot
/// combine `deny_unknown_fields` with `flatten`, so a file struct that
/// flattens blocks declares this field last, flattened:
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct File {
///     batch_size: Option<usize>,
///     #[serde(flatten)]
///     kafka: settings::KafkaFile,
///     #[serde(flatten)]
///     _unknown: settings::NoUnknownKeys,
/// }
/// assert!(toml::from_str::<File>("kafka_brokers = \"k:9092\"").is_ok());
/// let err = toml::from_str::<File>("kafka_broker = \"k:9092\"").err().unwrap();
/// assert!(err.to_string().contains("unknown field `kafka_broker`"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoUnknownKeys;

impl<'de> Deserialize<'de> for NoUnknownKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Refuse;
        impl<'de> Visitor<'de> for Refuse {
            type Value = NoUnknownKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("no further keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoUnknownKeys, A::Error> {
                match map.next_key::<String>()? {
                    Some(key) => Err(de::Error::custom(format!("unknown field `{key}`"))),
                    None => Ok(NoUnknownKeys),
                }
            }
        }
        d.deserialize_map(Refuse)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::{HttpApiFile, KafkaFile, LoggingFile, MetadFile};

    #[derive(Debug, Default, Deserialize)]
    struct Daemon {
        own: Option<u32>,
        #[serde(flatten)]
        kafka: KafkaFile,
        #[serde(flatten)]
        metad: MetadFile,
        #[serde(flatten)]
        http: HttpApiFile,
        #[serde(flatten)]
        logging: LoggingFile,
        #[serde(flatten)]
        _unknown: NoUnknownKeys,
    }

    #[test]
    fn blocks_flatten_and_typos_are_refused() {
        let d: Daemon = toml::from_str(
            r#"
            own = 3
            kafka_brokers = "k:9092"
            metad = ["m1:8091", "m2:8091"]
            shared_secret = "s"
            http_bind = "127.0.0.1:9999"
            max_body_size = 10
            log_filter = "debug"
            [kafka_properties]
            "security.protocol" = "SSL"
            "#,
        )
        .unwrap();
        assert_eq!(d.own, Some(3));
        assert_eq!(d.kafka.kafka_brokers.as_deref(), Some("k:9092"));
        assert_eq!(
            d.kafka.kafka_properties.unwrap()["security.protocol"],
            "SSL"
        );
        assert_eq!(d.metad.metad.unwrap().len(), 2);
        assert_eq!(d.metad.shared_secret.as_deref(), Some("s"));
        assert_eq!(d.http.http_listen, Some("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(d.http.max_body_size, Some(10));
        assert_eq!(d.logging.log_filter.as_deref(), Some("debug"));
        for typo in [
            "owned = 1",
            "kafka_broker = \"x\"",
            "[kafka]\nbrokers = \"x\"",
        ] {
            let err = toml::from_str::<Daemon>(typo).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{typo}: {err}");
        }
        assert!(toml::from_str::<Daemon>("max_body_size = \"big\"").is_err());
    }

    #[test]
    fn load_file_reads_or_defaults() {
        let none: Daemon = load_file(None).unwrap();
        assert_eq!(none.own, None);
        let mut f = tempfile_in_target();
        writeln!(f.1, "own = 7").unwrap();
        let d: Daemon = load_file(Some(&f.0)).unwrap();
        assert_eq!(d.own, Some(7));
        writeln!(f.1, "bogus = 1").unwrap();
        let err = load_file::<Daemon>(Some(&f.0)).unwrap_err();
        assert!(matches!(err, SettingsError::Parse { .. }), "{err}");
        std::fs::remove_file(&f.0).unwrap();
        let err = load_file::<Daemon>(Some(&f.0)).unwrap_err();
        assert!(matches!(err, SettingsError::Read { .. }), "{err}");
    }

    fn tempfile_in_target() -> (std::path::PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("settings-test-{}.toml", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }
}

//! The one layering rule: flag > environment > file > default.

use std::str::FromStr;

use crate::SettingsError;

/// Resolves one setting: the value clap found (a flag wins over its
/// environment variable) or else the config file's. The caller adds the
/// default with `unwrap_or`, so that a setting without one stays optional.
pub fn layer<T>(flag_or_env: Option<T>, file: Option<T>) -> Option<T> {
    flag_or_env.or(file)
}

/// Reads an environment variable that a setting used to be known by
/// (clap gives a flag one `env`); layer its value under the new name's:
/// `layer(args.x.or(renamed_env("OLD")?), file.x)`. Unset or empty is
/// `None`.
pub fn renamed_env<T>(name: &'static str) -> Result<Option<T>, SettingsError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => {
            value
                .parse()
                .map(Some)
                .map_err(|e: T::Err| SettingsError::Env {
                    name,
                    reason: e.to_string(),
                    value,
                })
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_or_env_beats_file_beats_default() {
        assert_eq!(layer(Some(1), Some(2)).unwrap_or(3), 1);
        assert_eq!(layer(None, Some(2)).unwrap_or(3), 2);
        assert_eq!(layer(None::<i32>, None).unwrap_or(3), 3);
        assert_eq!(layer(Some(1), None).unwrap_or(3), 1);
        assert_eq!(layer::<i32>(None, None), None);
    }

    #[test]
    fn renamed_variables_are_read_and_checked() {
        // Names no other test or process uses.
        std::env::set_var("SETTINGS_TEST_RENAMED_OK", "127.0.0.1:1");
        std::env::set_var("SETTINGS_TEST_RENAMED_BAD", "not an address");
        std::env::set_var("SETTINGS_TEST_RENAMED_EMPTY", "");
        let ok: Option<std::net::SocketAddr> = renamed_env("SETTINGS_TEST_RENAMED_OK").unwrap();
        assert_eq!(ok, Some("127.0.0.1:1".parse().unwrap()));
        let bad = renamed_env::<std::net::SocketAddr>("SETTINGS_TEST_RENAMED_BAD").unwrap_err();
        assert!(
            bad.to_string().contains("SETTINGS_TEST_RENAMED_BAD"),
            "{bad}"
        );
        assert_eq!(
            renamed_env::<String>("SETTINGS_TEST_RENAMED_EMPTY").unwrap(),
            None
        );
        assert_eq!(
            renamed_env::<String>("SETTINGS_TEST_RENAMED_UNSET").unwrap(),
            None
        );
        // With the new name's value present, the old one is not consulted.
        let new = Some("10.0.0.1:2".parse::<std::net::SocketAddr>().unwrap());
        let old = renamed_env("SETTINGS_TEST_RENAMED_OK").unwrap();
        assert_eq!(layer(new.or(old), None), new);
    }
}

//! Authentication and authorization of the public API, as InfluxDB 1.x does
//! it: credentials from the `u`/`p` query parameters, a Basic
//! `Authorization` header, or a `Token user:password` header (the 2.x
//! compatibility API), checked against the users of the meta data.
//!
//! Password hashes are argon2, slow on purpose; checking one per request
//! would cap writes at a few dozen per second. So, like InfluxDB's meta
//! client, a successful check is cached: per user, the stored hash it was
//! checked against and a keyed BLAKE2 digest of the password (never the
//! password itself). A changed password changes the stored hash and so
//! invalidates the entry.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use blake2::digest::{KeyInit, Mac};
use schemas::meta::{MetaData, User};

/// Presented credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password, in clear (never logged: `Debug` hides it).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused. Messages are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or unreadable ones.
    #[error("unable to parse authentication credentials")]
    NoCredentials,
    /// Unknown user or wrong password.
    #[error("authorization failed")]
    Failed,
    /// Authentication is on but there is no admin user to log in as.
    #[error("create admin user first or disable authentication")]
    NoAdminUser,
    /// The user lacks the privilege.
    #[error("\"{user}\" user is not authorized to {action} database \"{database}\"")]
    Forbidden {
        /// User name.
        user: String,
        /// `write to` or `read from`.
        action: &'static str,
        /// Database name.
        database: String,
    },
}

impl AuthError {
    /// The HTTP status InfluxDB answers with.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Forbidden { .. } => 403,
            _ => 401,
        }
    }
}

/// Reads credentials the way InfluxDB 1.x does: query parameters first,
/// then the `Authorization` header (`Basic ...` or `Token user:password`).
pub fn credentials(
    query_user: Option<&str>,
    query_password: Option<&str>,
    authorization: Option<&str>,
) -> Option<Credentials> {
    if let Some(user) = query_user.filter(|u| !u.is_empty()) {
        return Some(Credentials {
            username: user.to_owned(),
            password: query_password.unwrap_or_default().to_owned(),
        });
    }
    let header = authorization?.trim();
    let (scheme, rest) = header.split_once(' ')?;
    let pair = match scheme {
        s if s.eq_ignore_ascii_case("basic") => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            String::from_utf8(bytes).ok()?
        }
        s if s.eq_ignore_ascii_case("token") => rest.trim().to_owned(),
        _ => return None,
    };
    let (username, password) = pair.split_once(':')?;
    Some(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

type Blake2bMac = blake2::Blake2bMac512;

/// Checks credentials against the meta data, caching successes.
pub struct Authenticator {
    /// Per process, so cached digests are useless anywhere else.
    key: [u8; 32],
    /// user → (stored hash checked against, keyed digest of the password).
    cache: Mutex<HashMap<String, (String, Vec<u8>)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Default for Authenticator {
    fn default() -> Self {
        let mut key = [0u8; 32];
        // RandomState is seeded from the OS per process: enough to key a
        // cache that never leaves memory.
        for chunk in key.chunks_mut(8) {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u8(0);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        Self {
            key,
            cache: Mutex::default(),
        }
    }
}

impl Authenticator {
    fn digest(&self, password: &str) -> Vec<u8> {
        let mut mac = <Blake2bMac as KeyInit>::new_from_slice(&self.key).expect("32-byte key fits");
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The user the credentials identify.
    pub fn authenticate(
        &self,
        md: &MetaData,
        creds: Option<&Credentials>,
    ) -> Result<User, AuthError> {
        if !md.users.values().any(|u| u.admin) {
            return Err(AuthError::NoAdminUser);
        }
        let creds = creds.ok_or(AuthError::NoCredentials)?;
        let user = md.users.get(&creds.username).ok_or(AuthError::Failed)?;
        let digest = self.digest(&creds.password);
        {
            let cache = self.cache.lock().expect("not poisoned");
            if let Some((hash, cached)) = cache.get(&user.name) {
                if *hash == user.password_hash && *cached == digest {
                    return Ok(user.clone());
                }
            }
        }
        if !crate::verify_password(&user.password_hash, &creds.password) {
            return Err(AuthError::Failed);
        }
        self.cache
            .lock()
            .expect("not poisoned")
            .insert(user.name.clone(), (user.password_hash.clone(), digest));
        Ok(user.clone())
    }
}

/// Whether `headers` carry the cluster's shared secret as a bearer token
/// (always true when there is none): how metad and the data nodes check
/// node-to-node calls.
pub fn has_shared_secret(headers: &reqwest::header::HeaderMap, secret: Option<&str>) -> bool {
    let Some(secret) = secret else {
        return true;
    };
    headers
        .get(reqwest::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| same_secret(token.as_bytes(), secret.as_bytes()))
}

/// Compares in time independent of where the first difference is.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Refuses a write to `database` by `user` without the privilege.
pub fn authorize_write(user: &User, database: &str) -> Result<(), AuthError> {
    if user.can_write(database) {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            user: user.name.clone(),
            action: "write to",
            database: database.to_owned(),
        })
    }
}

/// Refuses a query of `database` by `user` without the privilege.
pub fn authorize_read(user: &User, database: &str) -> Result<(), AuthError> {
    if user.can_read(database) {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            user: user.name.clone(),
            action: "read from",
            database: database.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemas::meta::Privilege;

    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"ab", b"abc"));
    }

    fn md() -> MetaData {
        let mut md = MetaData::default();
        for (name, pass, admin) in [("admin", "secret", true), ("bob", "pw", false)] {
            md.users.insert(
                name.into(),
                User {
                    name: name.into(),
                    password_hash: crate::hash_password(pass).unwrap(),
                    admin,
                    privileges: BTreeMap::from([("db".to_string(), Privilege::Write)]),
                },
            );
        }
        md
    }

    #[test]
    fn credentials_sources_in_influxdb_order() {
        let c = |u: &str, p: &str| {
            Some(Credentials {
                username: u.into(),
                password: p.into(),
            })
        };
        assert_eq!(
            credentials(Some("a"), Some("b"), Some("Token x:y")),
            c("a", "b")
        );
        assert_eq!(
            credentials(None, None, Some("Basic Ym9iOnB3")),
            c("bob", "pw")
        );
        assert_eq!(
            credentials(None, None, Some("Token bob:pw")),
            c("bob", "pw")
        );
        assert_eq!(
            credentials(Some(""), None, Some("token bob:p:w")),
            c("bob", "p:w")
        );
        assert_eq!(credentials(None, None, Some("Bearer x")), None);
        assert_eq!(credentials(None, None, Some("Basic !!")), None);
        assert_eq!(credentials(None, None, None), None);
    }

    #[test]
    fn authenticates_and_caches() {
        let md = md();
        let auth = Authenticator::default();
        let bob = Credentials {
            username: "bob".into(),
            password: "pw".into(),
        };
        assert_eq!(auth.authenticate(&md, Some(&bob)).unwrap().name, "bob");
        // Cached: the same answer, and a wrong password still fails.
        assert_eq!(auth.authenticate(&md, Some(&bob)).unwrap().name, "bob");
        let wrong = Credentials {
            password: "nope".into(),
            ..bob.clone()
        };
        assert_eq!(auth.authenticate(&md, Some(&wrong)), Err(AuthError::Failed));
        let ghost = Credentials {
            username: "ghost".into(),
            ..bob.clone()
        };
        assert_eq!(auth.authenticate(&md, Some(&ghost)), Err(AuthError::Failed));
        assert_eq!(auth.authenticate(&md, None), Err(AuthError::NoCredentials));

        // A password change invalidates the cached entry.
        let mut changed = md.clone();
        changed.users.get_mut("bob").unwrap().password_hash = crate::hash_password("new").unwrap();
        assert_eq!(
            auth.authenticate(&changed, Some(&bob)),
            Err(AuthError::Failed)
        );
    }

    #[test]
    fn needs_an_admin_user() {
        let mut md = md();
        md.users.remove("admin");
        let bob = Credentials {
            username: "bob".into(),
            password: "pw".into(),
        };
        assert_eq!(
            Authenticator::default().authenticate(&md, Some(&bob)),
            Err(AuthError::NoAdminUser)
        );
    }

    #[test]
    fn privileges() {
        let md = md();
        let bob = &md.users["bob"];
        assert!(authorize_write(bob, "db").is_ok());
        let err = authorize_read(bob, "db").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"bob\" user is not authorized to read from database \"db\""
        );
        assert_eq!(err.status(), 403);
        assert!(authorize_write(&md.users["admin"], "other").is_ok());
    }
}

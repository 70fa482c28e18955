//! Measurement matchers and tag predicates, compiled once per call.
//!
//! InfluxDB 1.x semantics: a regular expression matches anywhere in the
//! string (unanchored, `regex::Regex::is_match`); a series without a tag
//! key compares as if the tag's value were the empty string, so
//! `host = ''` matches series without `host`, `host != 'a'` matches series
//! lacking `host`, and `host =~ /.*/` matches every series.

use regex::Regex;
use schemas::record::{NameMatcher, TagPredicate};

use crate::error::{Error, Result};

fn compile(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|source| Error::InvalidRegex {
        pattern: pattern.to_owned(),
        source: Box::new(source),
    })
}

/// A compiled [`NameMatcher`].
#[derive(Debug, Clone)]
pub enum MeasurementMatcher {
    /// Exactly this name.
    Exact(String),
    /// Names the expression matches (unanchored).
    Regex(Regex),
}

impl MeasurementMatcher {
    /// Compiles a matcher of the log record contract.
    pub fn compile(m: &NameMatcher) -> Result<Self> {
        Ok(if m.regex {
            MeasurementMatcher::Regex(compile(&m.pattern)?)
        } else {
            MeasurementMatcher::Exact(m.pattern.clone())
        })
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            MeasurementMatcher::Exact(n) => n == name,
            MeasurementMatcher::Regex(r) => r.is_match(name),
        }
    }
}

/// A compiled [`TagPredicate`].
#[derive(Debug, Clone)]
pub enum Predicate {
    /// All hold.
    And(Vec<Predicate>),
    /// One holds.
    Or(Vec<Predicate>),
    /// `key = value`.
    Eq(String, String),
    /// `key != value`.
    NotEq(String, String),
    /// `key =~ /re/`.
    Match(String, Regex),
    /// `key !~ /re/`.
    NotMatch(String, Regex),
}

impl Predicate {
    /// Compiles a predicate of the log record contract.
    pub fn compile(p: &TagPredicate) -> Result<Self> {
        Ok(match p {
            TagPredicate::And(c) => {
                Predicate::And(c.iter().map(Predicate::compile).collect::<Result<_>>()?)
            }
            TagPredicate::Or(c) => {
                Predicate::Or(c.iter().map(Predicate::compile).collect::<Result<_>>()?)
            }
            TagPredicate::Eq { key, value } => Predicate::Eq(key.clone(), value.clone()),
            TagPredicate::NotEq { key, value } => Predicate::NotEq(key.clone(), value.clone()),
            TagPredicate::Match { key, regex } => Predicate::Match(key.clone(), compile(regex)?),
            TagPredicate::NotMatch { key, regex } => {
                Predicate::NotMatch(key.clone(), compile(regex)?)
            }
        })
    }

    /// Whether a series with `tags` (sorted by key, as in a series key)
    /// satisfies the predicate.
    pub fn matches<K: AsRef<str>, V: AsRef<str>>(&self, tags: &[(K, V)]) -> bool {
        let value = |key: &str| {
            tags.binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .map(|i| tags[i].1.as_ref())
                .unwrap_or("")
        };
        match self {
            Predicate::And(c) => c.iter().all(|p| p.matches(tags)),
            Predicate::Or(c) => c.iter().any(|p| p.matches(tags)),
            Predicate::Eq(k, v) => value(k) == v,
            Predicate::NotEq(k, v) => value(k) != v,
            Predicate::Match(k, r) => r.is_match(value(k)),
            Predicate::NotMatch(k, r) => !r.is_match(value(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(k: &str, v: &str) -> TagPredicate {
        TagPredicate::Eq {
            key: k.into(),
            value: v.into(),
        }
    }

    fn check(p: TagPredicate, tags: &[(&str, &str)]) -> bool {
        Predicate::compile(&p).unwrap().matches(tags)
    }

    #[test]
    fn missing_tag_compares_as_empty() {
        let a = [("host", "a")];
        let none: [(&str, &str); 0] = [];
        assert!(check(eq("host", ""), &none));
        assert!(!check(eq("host", ""), &a));
        let ne = TagPredicate::NotEq {
            key: "host".into(),
            value: "a".into(),
        };
        assert!(check(ne.clone(), &none));
        assert!(!check(ne, &a));
        let m = |r: &str| TagPredicate::Match {
            key: "host".into(),
            regex: r.into(),
        };
        assert!(check(m(".*"), &none));
        assert!(!check(m("."), &none));
        // Unanchored: matches anywhere.
        assert!(check(m("b"), &[("host", "abc")]));
        assert!(!check(m("^b"), &[("host", "abc")]));
        let nm = TagPredicate::NotMatch {
            key: "host".into(),
            regex: "^a".into(),
        };
        assert!(!check(nm.clone(), &a));
        assert!(check(nm, &[("host", "ba")]));
    }

    #[test]
    fn and_or_combine() {
        let tags = [("host", "a"), ("region", "eu")];
        assert!(check(
            TagPredicate::And(vec![eq("host", "a"), eq("region", "eu")]),
            &tags
        ));
        assert!(!check(
            TagPredicate::And(vec![eq("host", "a"), eq("region", "us")]),
            &tags
        ));
        assert!(check(
            TagPredicate::Or(vec![eq("host", "b"), eq("region", "eu")]),
            &tags
        ));
        assert!(!check(
            TagPredicate::Or(vec![eq("host", "b"), eq("region", "us")]),
            &tags
        ));
    }

    #[test]
    fn measurement_matchers() {
        let exact = MeasurementMatcher::compile(&NameMatcher {
            regex: false,
            pattern: "cpu".into(),
        })
        .unwrap();
        assert!(exact.matches("cpu") && !exact.matches("cpu2"));
        let re = MeasurementMatcher::compile(&NameMatcher {
            regex: true,
            pattern: "pu".into(),
        })
        .unwrap();
        assert!(re.matches("cpu") && re.matches("gpu2") && !re.matches("mem"));
        assert!(matches!(
            MeasurementMatcher::compile(&NameMatcher {
                regex: true,
                pattern: "(".into()
            }),
            Err(Error::InvalidRegex { .. })
        ));
    }
}

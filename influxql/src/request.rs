//! The parameters of a `/query` request as InfluxDB's handler reads them:
//! form body values first, then the URL's (Go's `Request.FormValue`), and
//! the `params` JSON object of bound parameters. Kept apart from the HTTP
//! server so that they are fuzzed without one (`fuzz/`).

use std::collections::HashMap;

use crate::ParamValue;

/// A request's parameters, first value of a name winning.
#[derive(Debug, Default)]
pub struct QueryParams {
    values: HashMap<String, String>,
}

impl QueryParams {
    /// Adds the pairs of `application/x-www-form-urlencoded` text (a form
    /// body, or a URL's query string); a name already present keeps its
    /// value. A malformed escape stays as it is (WHATWG's rules, where Go
    /// drops the pair).
    pub fn add(&mut self, raw: &[u8]) {
        for (k, v) in form_urlencoded::parse(raw) {
            self.values
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
    }

    /// The value of `k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(String::as_str)
    }
}

/// Why `params` was refused; the texts are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// Not JSON.
    #[error("error parsing query parameters: {0}")]
    Json(String),
    /// JSON, but not an object.
    #[error("error parsing query parameters: not a JSON object")]
    NotAnObject,
    /// A number out of range of its type.
    #[error("error parsing json value: {0}")]
    Number(String),
    /// An array, object or null.
    #[error("error parsing query parameters: unsupported value for {name}: {value}")]
    Unsupported {
        /// The parameter.
        name: String,
        /// Its JSON.
        value: String,
    },
}

/// Reads `params` as InfluxDB does: JSON numbers with a `.` or an exponent
/// are floats, others integers.
pub fn bound_params(raw: &str) -> Result<HashMap<String, ParamValue>, ParamsError> {
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| ParamsError::Json(e.to_string()))?;
    let obj = v.as_object().ok_or(ParamsError::NotAnObject)?;
    let mut out = HashMap::new();
    for (k, v) in obj {
        let p = match v {
            serde_json::Value::String(s) => ParamValue::String(s.clone()),
            serde_json::Value::Bool(b) => ParamValue::Boolean(*b),
            serde_json::Value::Number(n) => {
                let text = n.to_string();
                let out_of_range = || ParamsError::Number(text.clone());
                if text.contains('.') || text.contains(['e', 'E']) {
                    ParamValue::Float(n.as_f64().ok_or_else(out_of_range)?)
                } else {
                    ParamValue::Integer(n.as_i64().ok_or_else(out_of_range)?)
                }
            }
            other => {
                return Err(ParamsError::Unsupported {
                    name: k.clone(),
                    value: other.to_string(),
                })
            }
        };
        out.insert(k.clone(), p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_values_win_over_the_url() {
        let mut p = QueryParams::default();
        p.add(b"q=SELECT+1&db=a");
        p.add(b"db=b&epoch=ms&bad=%zz");
        assert_eq!(p.get("q"), Some("SELECT 1"));
        assert_eq!(p.get("db"), Some("a"));
        assert_eq!(p.get("epoch"), Some("ms"));
        assert_eq!(p.get("bad"), Some("%zz"));
    }

    #[test]
    fn numbers_strings_and_refusals() {
        let b = bound_params(r#"{"i": 3, "f": 3.0, "e": 1e3, "s": "x", "t": true}"#).unwrap();
        assert_eq!(b["i"], ParamValue::Integer(3));
        assert_eq!(b["f"], ParamValue::Float(3.0));
        assert_eq!(b["e"], ParamValue::Float(1000.0));
        assert_eq!(b["s"], ParamValue::String("x".into()));
        assert_eq!(b["t"], ParamValue::Boolean(true));
        assert_eq!(bound_params("[1]"), Err(ParamsError::NotAnObject));
        assert_eq!(
            bound_params(r#"{"n": 9223372036854775808}"#)
                .unwrap_err()
                .to_string(),
            "error parsing json value: 9223372036854775808"
        );
        assert_eq!(
            bound_params(r#"{"a": [1]}"#).unwrap_err().to_string(),
            "error parsing query parameters: unsupported value for a: [1]"
        );
        assert!(bound_params("{")
            .unwrap_err()
            .to_string()
            .starts_with("error parsing query parameters: "));
    }
}

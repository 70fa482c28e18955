//! The differential harness: reads the corpus files, sends each query to a
//! server over HTTP exactly as a client would, and compares two answers
//! under InfluxDB's rules (series order only where unspecified, floats to
//! 1e-9 relative).
//!
//! The corpus format is described at the top of `corpus.iql`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// Relative tolerance for floats: InfluxDB and Sluice may sum in a different
/// order (shards merged in parallel), which moves the last bits.
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// The directory holding the corpus files.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

/// The dataset both servers load.
pub fn dataset_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dataset.lp")
}

/// How two answers are compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Series may come in any order.
    pub unordered: bool,
    /// Rows within a series may come in any order.
    pub rows_unordered: bool,
    /// Only names, tags and columns are compared.
    pub columns: bool,
    /// Both must fail; the wording may differ.
    pub error_any: bool,
}

/// One query of the corpus.
#[derive(Debug, Clone)]
pub struct Case {
    /// File and line, for messages.
    pub file: String,
    pub line: usize,
    pub query: String,
    pub db: Option<String>,
    pub epoch: Option<String>,
    pub params: Option<String>,
    pub post: bool,
    pub flags: Flags,
}

/// One step of a corpus file.
#[derive(Debug, Clone)]
pub enum Step {
    Query(Case),
    /// Create a database and write the dataset into it.
    Load(String),
    Sleep(Duration),
}

/// Parses a corpus file; panics with the line on a malformed one, since a
/// broken corpus must fail the test rather than shrink it.
pub fn parse_corpus(path: &Path) -> Vec<Step> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read corpus {}: {e}", path.display()));
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut db: Option<String> = None;
    let mut epoch: Option<String> = None;
    let mut post = false;
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        if let Some(rest) = raw.strip_prefix('@') {
            let (word, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            let arg = arg.trim();
            let opt = |a: &str| (a != "-").then(|| a.to_owned());
            match word {
                "db" => db = opt(arg),
                "epoch" => epoch = opt(arg),
                "method" => post = arg.eq_ignore_ascii_case("POST"),
                "load" => steps.push(Step::Load(arg.to_owned())),
                "sleep" => steps.push(Step::Sleep(Duration::from_millis(
                    arg.parse()
                        .unwrap_or_else(|_| panic!("{file}:{line_no}: bad @sleep")),
                ))),
                other => panic!("{file}:{line_no}: unknown directive @{other}"),
            }
            continue;
        }
        let mut case = Case {
            file: file.clone(),
            line: line_no,
            query: raw.to_owned(),
            db: db.clone(),
            epoch: epoch.clone(),
            params: None,
            post,
            flags: Flags::default(),
        };
        if let Some(rest) = raw.strip_prefix('[') {
            let (head, query) = rest
                .split_once("] ")
                .unwrap_or_else(|| panic!("{file}:{line_no}: unclosed [flags]"));
            case.query = query.to_owned();
            for flag in head.split(';') {
                let (k, v) = flag.split_once('=').unwrap_or((flag, ""));
                match k {
                    "unordered" => case.flags.unordered = true,
                    "rows_unordered" => case.flags.rows_unordered = true,
                    "columns" => case.flags.columns = true,
                    "error_any" => case.flags.error_any = true,
                    "post" => case.post = true,
                    "epoch" => case.epoch = Some(v.to_owned()),
                    "params" => case.params = Some(v.to_owned()),
                    other => panic!("{file}:{line_no}: unknown flag {other}"),
                }
            }
        }
        steps.push(Step::Query(case));
    }
    steps
}

/// An HTTP answer: status and parsed JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// A server under test, reached over HTTP.
pub struct Server {
    pub name: &'static str,
    pub url: String,
    /// Extra query-string parameters on every `/query` (Sluice's
    /// read-your-writes switch; InfluxDB ignores unknown parameters).
    pub extra: Vec<(String, String)>,
    client: reqwest::Client,
}

impl Server {
    pub fn new(name: &'static str, url: String, extra: Vec<(String, String)>) -> Self {
        Self {
            name,
            url,
            extra,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
        }
    }

    /// Sends one case.
    pub async fn run(&self, case: &Case) -> Answer {
        let mut form: Vec<(String, String)> = vec![("q".into(), case.query.clone())];
        if let Some(db) = &case.db {
            form.push(("db".into(), db.clone()));
        }
        if let Some(e) = &case.epoch {
            form.push(("epoch".into(), e.clone()));
        }
        if let Some(p) = &case.params {
            form.push(("params".into(), p.clone()));
        }
        let url = format!("{}/query", self.url);
        let req = if case.post {
            self.client.post(&url).query(&self.extra).form(&form)
        } else {
            form.extend(self.extra.iter().cloned());
            self.client.get(&url).query(&form)
        };
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {}:{}: {e}", self.name, case.file, case.line));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    /// Sends a statement that must succeed (setup).
    pub async fn must(&self, q: &str) {
        let resp = self
            .client
            .post(format!("{}/query", self.url))
            .form(&[("q", q)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {q}: {e}", self.name));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success() && !text.contains("\"error\""),
            "{}: {q}: {status} {text}",
            self.name
        );
    }

    /// Creates `db` and writes the dataset into it through `/write`.
    pub async fn load(&self, db: &str, data: &[u8]) {
        self.must(&format!("CREATE DATABASE \"{db}\"")).await;
        // In slices, as a client would: the body limit stays far away.
        let text = std::str::from_utf8(data).expect("utf-8 dataset");
        let lines: Vec<&str> = text.lines().collect();
        for chunk in lines.chunks(2000) {
            let body = chunk.join("\n");
            let resp = self
                .client
                .post(format!("{}/write", self.url))
                .query(&[("db", db)])
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}: write: {e}", self.name));
            let status = resp.status();
            assert_eq!(
                status.as_u16(),
                204,
                "{}: write into {db}: {}",
                self.name,
                resp.text().await.unwrap_or_default()
            );
        }
    }
}

/// Compares two answers; `None` when they agree, else a readable diff.
pub fn compare(case: &Case, expected: &Answer, actual: &Answer) -> Option<String> {
    if case.flags.error_any {
        let fails = |a: &Answer| a.status >= 400 || has_error(&a.body);
        return if fails(expected) == fails(actual) {
            None
        } else {
            Some(render(case, "expected an error on both", expected, actual))
        };
    }
    if expected.status != actual.status {
        return Some(render(
            case,
            &format!("status {} != {}", expected.status, actual.status),
            expected,
            actual,
        ));
    }
    let e = normalize(&expected.body, &case.flags);
    let a = normalize(&actual.body, &case.flags);
    let mut path = String::new();
    first_difference(&e, &a, &mut path)
        .map(|what| render(case, &format!("at {path}: {what}"), expected, actual))
}

fn has_error(v: &Value) -> bool {
    if v.get("error").is_some() {
        return true;
    }
    v.get("results")
        .and_then(Value::as_array)
        .is_some_and(|rs| rs.iter().any(|r| r.get("error").is_some()))
}

/// Applies the case's flags: sorting where the order is unspecified and
/// dropping values the servers cannot share (shard ids, owners).
fn normalize(body: &Value, flags: &Flags) -> Value {
    let mut body = body.clone();
    let Some(results) = body.get_mut("results").and_then(Value::as_array_mut) else {
        return body;
    };
    for r in results {
        let Some(series) = r.get_mut("series").and_then(Value::as_array_mut) else {
            continue;
        };
        for s in series.iter_mut() {
            let Some(obj) = s.as_object_mut() else {
                continue;
            };
            if flags.columns {
                obj.remove("values");
            } else if flags.rows_unordered {
                if let Some(rows) = obj.get_mut("values").and_then(Value::as_array_mut) {
                    rows.sort_by_key(|r| r.to_string());
                }
            }
        }
        if flags.unordered || flags.columns {
            series.sort_by_key(|s| {
                format!(
                    "{}\u{0}{}",
                    s.get("name").map(Value::to_string).unwrap_or_default(),
                    s.get("tags").map(Value::to_string).unwrap_or_default()
                )
            });
            if flags.columns {
                series.dedup();
            }
        }
    }
    body
}

fn numbers_agree(e: &serde_json::Number, a: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (e.as_i64(), a.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (e.as_u64(), a.as_u64()) {
        return x == y;
    }
    let (Some(x), Some(y)) = (e.as_f64(), a.as_f64()) else {
        return false;
    };
    if x == y {
        return true;
    }
    let scale = x.abs().max(y.abs());
    (x - y).abs() <= FLOAT_TOLERANCE * scale
}

fn first_difference(e: &Value, a: &Value, path: &mut String) -> Option<String> {
    match (e, a) {
        (Value::Number(x), Value::Number(y)) => {
            (!numbers_agree(x, y)).then(|| format!("{x} != {y}"))
        }
        (Value::Array(xs), Value::Array(ys)) => {
            for (i, (x, y)) in xs.iter().zip(ys).enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                if let Some(d) = first_difference(x, y, path) {
                    return Some(d);
                }
                path.truncate(len);
            }
            (xs.len() != ys.len()).then(|| {
                let extra = if xs.len() > ys.len() {
                    format!("missing {}", xs[ys.len()])
                } else {
                    format!("unexpected {}", ys[xs.len()])
                };
                format!("length {} != {} ({extra})", xs.len(), ys.len())
            })
        }
        (Value::Object(xs), Value::Object(ys)) => {
            for (k, x) in xs {
                let len = path.len();
                let _ = write!(path, ".{k}");
                match ys.get(k) {
                    None => return Some(format!("missing key (expected {})", short(x))),
                    Some(y) => {
                        if let Some(d) = first_difference(x, y, path) {
                            return Some(d);
                        }
                    }
                }
                path.truncate(len);
            }
            ys.keys()
                .find(|k| !xs.contains_key(*k))
                .map(|k| format!("unexpected key {k:?} = {}", short(&ys[k])))
        }
        _ => (e != a).then(|| format!("{} != {}", short(e), short(a))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 300 {
        let cut: String = s.chars().take(300).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn render(case: &Case, what: &str, expected: &Answer, actual: &Answer) -> String {
    format!(
        "{}:{}: {}\n  db={:?} epoch={:?} params={:?}\n  difference: {what}\n  influxdb 1.6 ({}): {}\n  sluice       ({}): {}\n",
        case.file,
        case.line,
        case.query,
        case.db,
        case.epoch,
        case.params,
        expected.status,
        short(&expected.body),
        actual.status,
        short(&actual.body),
    )
}

/// Golden answers recorded by `capture_influxd.py`, keyed by file line.
pub fn golden(name: &str) -> Vec<(usize, String, Answer)> {
    let path = corpus_dir().join("golden").join(format!("{name}.jsonl"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("golden line is JSON");
            let line = v["line"].as_u64().expect("line") as usize;
            let query = v["query"].as_str().expect("query").to_owned();
            let status = v["status"].as_u64().expect("status") as u16;
            (
                line,
                query,
                Answer {
                    status,
                    body: v["body"].clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(flags: Flags) -> Case {
        Case {
            file: "t".into(),
            line: 1,
            query: "q".into(),
            db: None,
            epoch: None,
            params: None,
            post: false,
            flags,
        }
    }

    fn ans(v: Value) -> Answer {
        Answer {
            status: 200,
            body: v,
        }
    }

    #[test]
    fn floats_agree_within_tolerance_only() {
        let c = case(Flags::default());
        let e = ans(serde_json::json!({"results":[{"series":[{"values":[[1.0000000000001]]}]}]}));
        let a = ans(serde_json::json!({"results":[{"series":[{"values":[[1.0]]}]}]}));
        assert!(compare(&c, &e, &a).is_none());
        let b = ans(serde_json::json!({"results":[{"series":[{"values":[[1.00001]]}]}]}));
        let diff = compare(&c, &e, &b).expect("differs");
        assert!(diff.contains("results[0].series[0].values[0][0]"), "{diff}");
    }

    #[test]
    fn series_order_matters_unless_unordered() {
        let e = ans(serde_json::json!({"results":[{"series":[{"name":"a"},{"name":"b"}]}]}));
        let a = ans(serde_json::json!({"results":[{"series":[{"name":"b"},{"name":"a"}]}]}));
        assert!(compare(&case(Flags::default()), &e, &a).is_some());
        let unordered = Flags {
            unordered: true,
            ..Flags::default()
        };
        assert!(compare(&case(unordered), &e, &a).is_none());
    }

    #[test]
    fn missing_and_extra_keys_are_reported() {
        let c = case(Flags::default());
        let e = ans(serde_json::json!({"results":[{"statement_id":0}]}));
        let a = ans(serde_json::json!({"results":[{"statement_id":0,"series":[]}]}));
        assert!(compare(&c, &e, &a)
            .expect("differs")
            .contains("unexpected key"));
        assert!(compare(&c, &a, &e)
            .expect("differs")
            .contains("missing key"));
    }

    #[test]
    fn integers_and_floats_are_not_confused() {
        let c = case(Flags::default());
        let e = ans(serde_json::json!({"v":[1]}));
        let a = ans(serde_json::json!({"v":["1"]}));
        assert!(compare(&c, &e, &a).is_some());
        let f = ans(serde_json::json!({"v":[1.0]}));
        assert!(compare(&c, &e, &f).is_none());
    }

    #[test]
    fn corpus_parses_and_is_large_enough() {
        let mut queries = 0;
        for name in ["corpus.iql", "stateful.iql"] {
            for step in parse_corpus(&corpus_dir().join(name)) {
                if matches!(step, Step::Query(_)) {
                    queries += 1;
                }
            }
        }
        assert!(queries >= 150, "only {queries} queries");
    }
}

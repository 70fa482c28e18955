//! The query crate's differential corpus (`query/tests/differential`) holds
//! answers recorded from InfluxDB 1.6 for queries taken from the 1.x docs.
//! Every parse error there must be ours word for word, every query InfluxDB
//! parsed must parse here, and where we refuse a SELECT before running it,
//! InfluxDB must have refused it with the same text.

use std::collections::HashMap;

use influxql::select::compile_select;
use influxql::{parse_query_with_params, ParamValue, Statement};

/// The recorded `params` request parameter: raw JSON text, or null.
fn params(raw: &serde_json::Value) -> HashMap<String, ParamValue> {
    let mut out = HashMap::new();
    let v: serde_json::Value = match raw.as_str() {
        Some(text) => serde_json::from_str(text).expect("params JSON"),
        None => serde_json::Value::Null,
    };
    if let Some(obj) = v.as_object() {
        for (k, v) in obj {
            let p = match v {
                serde_json::Value::String(s) => ParamValue::String(s.clone()),
                serde_json::Value::Bool(b) => ParamValue::Boolean(*b),
                serde_json::Value::Number(n) if n.to_string().contains('.') => {
                    ParamValue::Float(n.as_f64().expect("float"))
                }
                serde_json::Value::Number(n) => ParamValue::Integer(n.as_i64().expect("integer")),
                other => panic!("unsupported param {other}"),
            };
            out.insert(k.clone(), p);
        }
    }
    out
}

#[test]
fn recorded_influxdb_answers_agree() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../query/tests/differential/golden"
    );
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in ["corpus.jsonl", "stateful.jsonl"] {
        let Ok(text) = std::fs::read_to_string(format!("{dir}/{file}")) else {
            eprintln!("{dir}/{file} not found; skipping");
            continue;
        };
        for line in text.lines() {
            let rec: serde_json::Value = serde_json::from_str(line).expect("json line");
            let query = rec["query"].as_str().expect("query");
            let body = &rec["body"];
            let parsed = parse_query_with_params(query.trim(), &params(&rec["params"]));
            checked += 1;
            match (body["error"].as_str(), parsed) {
                (Some(e), Err(ours)) if e.starts_with("error parsing query: ") => {
                    if e != format!("error parsing query: {ours}") {
                        failures.push(format!("{query}: influxd {e:?}, ours {ours:?}"));
                    }
                }
                (Some(e), Ok(_)) if e.starts_with("error parsing query: ") => {
                    failures.push(format!("{query}: influxd {e:?}, we accept"));
                }
                (_, Err(ours)) => failures.push(format!("{query}: we refuse: {ours}")),
                (_, Ok(q)) => {
                    for (i, s) in q.statements.iter().enumerate() {
                        if let Statement::Select(sel) = s {
                            if let Err(ours) = compile_select(sel, 0) {
                                let theirs = body["results"][i]["error"].as_str();
                                if theirs != Some(ours.message.as_str()) {
                                    failures
                                        .push(format!("{query}: influxd {theirs:?}, ours {ours}"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{checked} recorded answers agree");
}

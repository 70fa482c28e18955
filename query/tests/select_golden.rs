//! The SELECT engine against InfluxDB 1.6's golden answers
//! (`tests/differential/golden/corpus.jsonl`), without HTTP: the dataset is
//! loaded into real shards (two per group, so merges across shards are
//! exercised) and every read-only SELECT of the corpus runs through
//! `query::select::select`; the series are rendered with the HTTP layer's
//! JSON writer and compared like the differential test does (floats to
//! 1e-9 relative, series order ignored where the corpus says so).
//!
//! `SELECT_GOLDEN_VERBOSE=1` prints every mismatch.

mod select_support;

use serde_json::Value;

const DB: &str = "NOAA_water_database";

fn float_eq(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => float_eq(x, y),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn sort_series(v: &mut Value) {
    if let Some(series) = v.get_mut("series").and_then(|s| s.as_array_mut()) {
        series.sort_by_key(|s| s.to_string());
    }
}

fn sort_rows(v: &mut Value) {
    if let Some(series) = v.get_mut("series").and_then(|s| s.as_array_mut()) {
        for s in series {
            if let Some(rows) = s.get_mut("values").and_then(|r| r.as_array_mut()) {
                rows.sort_by_key(|r| r.to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_selects_match_influxdb() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lp = std::fs::read_to_string(root.join("tests/data/dataset.lp")).unwrap();
    let loaded = select_support::load(&lp, DB, 7 * 86_400_000_000_000, 2, |_| vec![1]);
    let cluster = loaded.cluster(1);
    let golden =
        std::fs::read_to_string(root.join("tests/differential/golden/corpus.jsonl")).unwrap();
    let verbose = std::env::var_os("SELECT_GOLDEN_VERBOSE").is_some();
    let (mut pass, mut fail) = (0, 0);
    for line in golden.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let q = case["query"].as_str().unwrap();
        if !q.trim_start().to_ascii_uppercase().starts_with("SELECT")
            || q.to_ascii_uppercase().contains(" INTO ")
            || !case["epoch"].is_null()
            || !case["params"].is_null()
            || case["db"].as_str() != Some(DB)
            || q.contains(';')
        {
            continue;
        }
        let flags: Vec<String> = case["flags"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let want = &case["body"]["results"][0];
        let got = match select_support::run(&cluster, DB, q).await {
            Ok(series) => select_support::to_json(&series)["results"][0].clone(),
            Err(e) => serde_json::json!({"statement_id": 0, "error": e}),
        };
        let ok = if flags.iter().any(|f| f == "error_any") {
            want.get("error").is_some() == got.get("error").is_some()
        } else {
            let (mut w, mut g) = (want.clone(), got.clone());
            if flags.iter().any(|f| f == "unordered") {
                sort_series(&mut w);
                sort_series(&mut g);
            }
            if flags.iter().any(|f| f == "rows_unordered") {
                sort_rows(&mut w);
                sort_rows(&mut g);
            }
            same(&w, &g)
        };
        if ok {
            pass += 1;
        } else {
            fail += 1;
            if verbose {
                println!(
                    "MISMATCH line {}: {q}\n  want {}\n  got  {}",
                    case["line"],
                    cut(want),
                    cut(&got)
                );
            }
        }
    }
    println!("golden SELECTs: {pass} match, {fail} differ");
    // Ratchet: raise as the engine improves; a drop is a regression.
    assert!(
        pass >= MIN_PASS,
        "only {pass} SELECTs match InfluxDB 1.6 (want >= {MIN_PASS}), {fail} differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_index_shows_match_influxdb() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lp = std::fs::read_to_string(root.join("tests/data/dataset.lp")).unwrap();
    let loaded = select_support::load(&lp, DB, 7 * 86_400_000_000_000, 2, |_| vec![1]);
    let cluster = loaded.cluster(1);
    let golden =
        std::fs::read_to_string(root.join("tests/differential/golden/corpus.jsonl")).unwrap();
    let verbose = std::env::var_os("SELECT_GOLDEN_VERBOSE").is_some();
    let (mut pass, mut fail) = (0, 0);
    for line in golden.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let q = case["query"].as_str().unwrap();
        let u = q.to_ascii_uppercase();
        let index_show = [
            "SHOW MEASUREMENTS",
            "SHOW TAG KEYS",
            "SHOW TAG VALUES",
            "SHOW FIELD KEYS",
            "SHOW SERIES",
        ]
        .iter()
        .any(|p| u.starts_with(p))
            && !u.contains("CARDINALITY");
        if !index_show || !case["epoch"].is_null() || case["db"].as_str() != Some(DB) {
            continue;
        }
        let want = &case["body"]["results"][0];
        let ctx = query::select::QueryContext::new(Some(DB.into()), 0);
        let got = match influxql::parse_statement(q) {
            Ok(stmt) => match query::show::show(&cluster, &ctx, &stmt).await {
                Ok(series) => select_support::to_json(&series)["results"][0].clone(),
                Err(e) => serde_json::json!({"statement_id": 0, "error": e.to_string()}),
            },
            Err(e) => serde_json::json!({"statement_id": 0, "error": e.to_string()}),
        };
        if same(want, &got) {
            pass += 1;
        } else {
            fail += 1;
            if verbose {
                println!(
                    "MISMATCH line {}: {q}\n  want {}\n  got  {}",
                    case["line"],
                    cut(want),
                    cut(&got)
                );
            }
        }
    }
    println!("golden index SHOWs: {pass} match, {fail} differ");
    assert!(
        pass >= MIN_SHOW_PASS,
        "only {pass} SHOWs match InfluxDB 1.6, {fail} differ"
    );
}

const MIN_SHOW_PASS: usize = 29;

const MIN_PASS: usize = 203;

fn cut(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 600 {
        format!("{}…", &s[..600])
    } else {
        s
    }
}

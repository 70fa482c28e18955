//! Feeds arbitrary requests to `/query`'s parameter handling, as
//! `shardd/src/queries/http.rs` runs it: a form body and a URL query
//! string (`influxql::request::QueryParams`, body first), the `params` JSON
//! of bound parameters (`bound_params`), and the query text parsed with
//! them. The input is `body \0 url`. Errors are fine; a panic is a bug, and
//! so is a parsed query whose printed text does not print the same once
//! parsed again (statements with a password print it `[REDACTED]`).

#![no_main]

use std::collections::HashMap;

use influxql::request::{bound_params, QueryParams};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let mut params = QueryParams::default();
    params.add(parts.next().unwrap_or_default());
    params.add(parts.next().unwrap_or_default());
    let Some(q) = params.get("q") else { return };
    let bound = match params.get("params").filter(|p| !p.is_empty()) {
        None => HashMap::new(),
        Some(raw) => match bound_params(raw) {
            Ok(b) => b,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                return;
            }
        },
    };
    let Ok(query) = influxql::parse_query_with_params(q.trim(), &bound) else { return };
    let printed = query.to_string();
    // Passwords print as `[REDACTED]`, as in InfluxDB: no text to re-parse.
    if printed.contains("[REDACTED]") {
        return;
    }
    let again = influxql::parse_query(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} does not parse back: {e}"));
    assert_eq!(again.to_string(), printed);
});

//! Feeds arbitrary text to the InfluxQL parser and checks invariants that
//! only a bug can break: no panic anywhere (parse, print, WHERE split,
//! SELECT validation, normalization); and every statement that parses
//! prints as text that parses back to the same tree.

#![no_main]

use influxql::{
    normalize_statement, parse_query, select::compile_select, split_condition, Statement,
};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000_123_456_789;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse_query(text) else {
        return;
    };
    let printed = query.to_string();
    if !printed.contains("[REDACTED]") {
        let again = parse_query(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(again, query, "{text:?} printed as {printed:?}");
    }
    let _ = influxql::to_influxdb16_string(&query);
    for stmt in &query.statements {
        let _ = stmt.required_privileges();
        if let Statement::Select(sel) = stmt {
            let _ = compile_select(sel, NOW);
            let _ = split_condition(sel.condition.as_ref(), NOW, sel.timezone.as_deref());
        }
        let mut s = stmt.clone();
        let _ = normalize_statement(&mut s, Some("db"), None, |_| Ok::<_, ()>("rp".into()));
    }
});

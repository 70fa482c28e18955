//! Differential test: the same dataset and the same InfluxQL corpus against
//! Debian's InfluxDB 1.6 and against Sluice, answers compared as JSON.
//!
//! `corpus.iql` (read-only queries) then `stateful.iql` (DDL, users, CQs,
//! deletes) run in order; see the top of `corpus.iql` for the format and
//! `harness.rs` for the comparison rules. Needs `influxd` (Debian package
//! `influxdb`, installed by `scripts/setup.sh`); a missing binary fails the
//! test, it never skips.

mod common;
#[path = "differential/harness.rs"]
mod harness;

use harness::{compare, corpus_dir, dataset_path, golden, parse_corpus, Answer, Server, Step};

const DB: &str = "NOAA_water_database";

fn start_influxd() -> testkit::Influxd {
    testkit::Influxd::start().unwrap_or_else(|e| {
        panic!("cannot start InfluxDB 1.6 for the differential test (run scripts/setup.sh): {e}")
    })
}

/// Runs every step of one corpus file on `server`, returning each query's
/// answer with its case.
async fn run_file(server: &Server, name: &str, data: &[u8]) -> Vec<(harness::Case, Answer)> {
    let mut out = Vec::new();
    for step in parse_corpus(&corpus_dir().join(format!("{name}.iql"))) {
        match step {
            Step::Load(db) => server.load(&db, data).await,
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::Query(case) => {
                let answer = server.run(&case).await;
                out.push((case, answer));
            }
        }
    }
    out
}

/// The reference itself: a live InfluxDB 1.6 must still give the recorded
/// golden answers, so the corpus is deterministic (no `now()`, no
/// unspecified order left unflagged) and the harness compares correctly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_reproduces_golden_answers() {
    let influxd = start_influxd();
    let server = Server::new("influxdb", influxd.url(), Vec::new());
    let data = std::fs::read(dataset_path()).expect("read dataset");
    server.load(DB, &data).await;

    let mut diffs = Vec::new();
    let mut total = 0;
    for name in ["corpus", "stateful"] {
        let answers = run_file(&server, name, &data).await;
        let recorded = golden(name);
        assert_eq!(
            answers.len(),
            recorded.len(),
            "{name}: golden file out of date (run tests/differential/capture_influxd.py)"
        );
        for ((case, actual), (line, query, expected)) in answers.iter().zip(&recorded) {
            assert_eq!(
                (case.line, &case.query),
                (*line, query),
                "{name}: golden file out of date (run tests/differential/capture_influxd.py)"
            );
            total += 1;
            if let Some(d) = compare(case, expected, actual) {
                diffs.push(d);
            }
        }
    }
    assert!(total >= 150, "corpus has only {total} queries");
    assert!(
        diffs.is_empty(),
        "{} of {total} answers differ from the golden files:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The acceptance test of the query engine: Sluice (real tansu, metad and a
/// shardd node, loaded through `/write`) answers the whole corpus as
/// InfluxDB 1.6 does. Queries carry `consistency=strong`, so every write
/// and tombstone acknowledged before a query is visible to it.
///
/// The gaps still open are listed in `known_differences.txt`: the test
/// fails on any other difference (a regression) and on a listed query that
/// now matches (so the list only shrinks), and prints how many remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sluice_matches_influxdb() {
    let influxd = start_influxd();
    let sluice = common::Sluice::start(false).await;
    let reference = Server::new("influxdb", influxd.url(), Vec::new());
    let ours = Server::new(
        "sluice",
        sluice.url.clone(),
        vec![("consistency".into(), "strong".into())],
    );
    let data = std::fs::read(dataset_path()).expect("read dataset");
    reference.load(DB, &data).await;
    ours.load(DB, &data).await;

    let known = known_differences();
    let mut unexpected = Vec::new();
    let mut now_match = Vec::new();
    let mut still_differ = 0;
    let mut total = 0;
    for name in ["corpus", "stateful"] {
        for step in parse_corpus(&corpus_dir().join(format!("{name}.iql"))) {
            match step {
                Step::Load(db) => {
                    reference.load(&db, &data).await;
                    ours.load(&db, &data).await;
                }
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Query(case) => {
                    let expected = reference.run(&case).await;
                    let actual = ours.run(&case).await;
                    total += 1;
                    let key = format!("{}:{}", case.file, case.line);
                    let listed = known.get(&key).map(|q| {
                        assert_eq!(
                            q, &case.query,
                            "{KNOWN_FILE}: {key} names another query; update the list"
                        );
                    });
                    match (compare(&case, &expected, &actual), listed) {
                        (Some(d), None) => unexpected.push(d),
                        (Some(d), Some(())) => {
                            // DIFFERENTIAL_SHOW_KNOWN=1 prints the listed
                            // gaps too, to work on them.
                            if std::env::var_os("DIFFERENTIAL_SHOW_KNOWN").is_some() {
                                println!("known difference:\n{d}");
                                println!("  full sluice answer: {}", actual.body);
                            }
                            still_differ += 1
                        }
                        (None, Some(())) => now_match.push(key),
                        (None, None) => {}
                    }
                }
            }
        }
    }
    sluice.stop().await;
    println!(
        "{} of {total} queries answer as InfluxDB 1.6 does; {still_differ} known differences remain",
        total - still_differ - unexpected.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} of {total} queries answer differently from InfluxDB 1.6 and are not in {KNOWN_FILE}:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    // A fixed difference must leave the list, so the list keeps guarding it.
    assert!(
        now_match.is_empty(),
        "these queries now answer as InfluxDB 1.6 does; remove them from {KNOWN_FILE}: {now_match:?}"
    );
}

const KNOWN_FILE: &str = "tests/differential/known_differences.txt";

/// `file:line` -> query of every corpus query Sluice is known to answer
/// differently (the gaps of the query engine, each one to be fixed and
/// removed). Lines are `file:line<TAB>query`; `#` starts a comment.
fn known_differences() -> std::collections::HashMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(KNOWN_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {KNOWN_FILE}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, query) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("{KNOWN_FILE}: no tab in {l:?}"));
            (key.to_owned(), query.to_owned())
        })
        .collect()
}

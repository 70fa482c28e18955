//! Which of three points (2016-01-01T00:00, 00:01, 00:02) a WHERE time
//! condition selects, as recorded from influxd 1.6.7, against the time range
//! [`split_condition`] computes.

use influxql::{parse_expr, split_condition};

const T0: i64 = 1_451_606_400_000_000_000;
const MIN: i64 = 60_000_000_000;
/// The recording was made in 2026; only `now() - 1h` depends on it.
const NOW: i64 = 1_790_000_000_000_000_000;

#[test]
fn selected_points_match_influxd() {
    for (cond, selected) in [
        ("time > '2016-01-01T00:00:30Z'", "01,02"),
        ("time >= '2016-01-01T00:01:00Z'", "01,02"),
        ("time < '2016-01-01T00:01:00Z'", "00"),
        ("time <= '2016-01-01T00:01:00Z'", "00,01"),
        ("time = '2016-01-01T00:01:00Z'", "01"),
        ("time = 1451606460000000000", "01"),
        ("time > 1451606400s AND time < 1451606520s", "01"),
        ("time > '2016-01-01T00:00:30Z' - 1m", "00,01,02"),
        ("time > 1451606400000000000 + 1m", "02"),
        (
            "time > '2016-01-01' AND time <= '2016-01-01 00:01:00'",
            "01",
        ),
        ("time >= '2016-01-01T00:00:59.999999999Z'", "01,02"),
        ("time > 1451606400000000000.5", "01,02"),
        ("1451606460000000000 <= time", "01,02"),
        ("'2016-01-01T00:01:00Z' > time", "00"),
        ("time > now() - 1h", "-"),
        ("time < now() AND time > '2015-12-31T23:59:00Z'", "00,01,02"),
        ("time > '2016-01-01T01:00:30+01:00'", "01,02"),
        ("time >= 24h * 16801", "00,01,02"),
        (
            "(time > 1451606400s) AND (time < 1451606520s OR time > 0)",
            "01",
        ),
        ("time > 1451606400s OR time < 1451606460s", "-"),
        (
            "time = '2016-01-01T00:01:00Z' OR time = '2016-01-01T00:00:00Z'",
            "-",
        ),
        ("time > 0 AND time < 1451606460000000000 + 1ns", "00,01"),
    ] {
        let split = split_condition(Some(&parse_expr(cond).unwrap()), NOW, None).unwrap();
        assert_eq!(split.condition, None, "{cond} leaves no other condition");
        let r = split.time_range;
        let got: Vec<String> = (0..3)
            .filter(|i| {
                let t = T0 + i * MIN;
                r.min_ns() <= t && t <= r.max_ns()
            })
            .map(|i| format!("{i:02}"))
            .collect();
        let got = if got.is_empty() {
            "-".to_owned()
        } else {
            got.join(",")
        };
        assert_eq!(got, selected, "{cond}: range {r:?}");
    }
}

/// Strings without an offset are read in the query's `tz(...)` zone.
#[test]
fn zone_applies_like_influxd() {
    for (cond, tz, selected) in [
        ("time >= '2016-01-01 00:01:00'", None, "01,02"),
        (
            "time >= '2016-01-01 00:01:00'",
            Some("Europe/Paris"),
            "00,01,02",
        ),
        (
            "time >= '2016-01-01 00:01:00'",
            Some("America/New_York"),
            "-",
        ),
        ("time >= '2016-01-01T01:01:00Z'", Some("Europe/Paris"), "-"),
        ("time < '2016-01-01'", Some("Europe/Paris"), "-"),
        ("time < '2016-01-01'", Some("America/New_York"), "00,01,02"),
    ] {
        let r = split_condition(Some(&parse_expr(cond).unwrap()), NOW, tz)
            .unwrap()
            .time_range;
        let got: Vec<String> = (0..3)
            .filter(|i| {
                let t = T0 + i * MIN;
                r.min_ns() <= t && t <= r.max_ns()
            })
            .map(|i| format!("{i:02}"))
            .collect();
        let got = if got.is_empty() {
            "-".to_owned()
        } else {
            got.join(",")
        };
        assert_eq!(got, selected, "{cond} {tz:?}");
    }
}

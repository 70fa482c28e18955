//! InfluxQL duration literals and Go-style duration printing.

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
const W: i64 = 7 * D;

/// Why a duration literal was refused; texts are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration literal (no unit, unknown unit, stray text).
    #[error("invalid duration")]
    Invalid,
    /// A component does not fit in `i64` nanoseconds.
    #[error("overflowed duration {value}{unit}: choose a smaller duration or INF")]
    Overflow {
        /// The number as written.
        value: i64,
        /// Its unit as written (`h`, `ms`, ...).
        unit: String,
    },
}

/// Parses an InfluxQL duration such as `10s`, `1h30m`, `500ms`, `3u`, `3µs`,
/// `2w` or `-5m` into nanoseconds. Units: `ns`, `u`/`µ`, `ms`, `s`, `m`,
/// `h`, `d`, `w`.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let a: Vec<char> = s.chars().collect();
    if s.len() < 2 {
        return Err(DurationError::Invalid);
    }
    let mut i = 0;
    let negative = a[0] == '-';
    if negative {
        i += 1;
    }
    // Go accumulates with wrapping arithmetic and checks the sign at the
    // end; the same is done here so the same inputs are refused.
    let mut d: i64 = 0;
    let mut measure = 0;
    let mut unit = String::new();
    while i < a.len() {
        let start = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        if i >= a.len() || i == start {
            return Err(DurationError::Invalid);
        }
        let digits: String = a[start..i].iter().collect();
        let n: i64 = digits.parse().map_err(|_| DurationError::Invalid)?;
        measure = n;
        unit = a[i].to_string();
        let scale = match a[i] {
            'n' => {
                if i + 1 < a.len() && a[i + 1] == 's' {
                    unit = "ns".to_owned();
                    d = d.wrapping_add(n.wrapping_mul(NS));
                    i += 2;
                    continue;
                }
                return Err(DurationError::Invalid);
            }
            'u' | 'µ' => US,
            'm' => {
                if i + 1 < a.len() && a[i + 1] == 's' {
                    unit = "ms".to_owned();
                    d = d.wrapping_add(n.wrapping_mul(MS));
                    i += 2;
                    continue;
                }
                M
            }
            's' => S,
            'h' => H,
            'd' => D,
            'w' => W,
            _ => return Err(DurationError::Invalid),
        };
        d = d.wrapping_add(n.wrapping_mul(scale));
        i += 1;
    }
    if d < 0 && !negative {
        return Err(DurationError::Overflow {
            value: measure,
            unit,
        });
    }
    Ok(if negative { d.wrapping_neg() } else { d })
}

/// Formats nanoseconds as an InfluxQL duration literal in the largest unit
/// that divides it (`90m`, `1d`, `2w`, `0s`), as InfluxQL's `String()` does.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    for (unit, name) in [
        (W, "w"),
        (D, "d"),
        (H, "h"),
        (M, "m"),
        (S, "s"),
        (MS, "ms"),
        (US, "u"),
    ] {
        if ns % unit == 0 {
            return format!("{}{}", ns / unit, name);
        }
    }
    format!("{ns}ns")
}

/// Formats nanoseconds like Go's `time.Duration.String()`: `1h0m0s`,
/// `168h0m0s`, `1.5s`, `100ms`, `1µs`, `0s`. InfluxDB uses it for the
/// `duration` / `shardGroupDuration` columns of SHOW RETENTION POLICIES.
pub fn format_go_duration(ns: i64) -> String {
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if u < S as u64 {
        if u == 0 {
            return "0s".to_owned();
        }
        let (prec, unit) = if u < US as u64 {
            (0, "ns")
        } else if u < MS as u64 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (frac, int) = frac_part(u, prec);
        u = int;
        out.push_str(&u.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (frac, secs) = frac_part(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        let mut tail = format!("{s}{frac}s");
        if u > 0 {
            let m = u % 60;
            u /= 60;
            tail = format!("{m}m{tail}");
            if u > 0 {
                tail = format!("{u}h{tail}");
            }
        }
        out.push_str(&tail);
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits `v` into `v / 10^prec` and its fraction printed as `.ddd` without
/// trailing zeros (empty when zero).
fn frac_part(v: u64, prec: u32) -> (String, u64) {
    let p = 10u64.pow(prec);
    let int = v / p;
    let frac = v % p;
    if frac == 0 {
        return (String::new(), int);
    }
    let digits = format!("{:0width$}", frac, width = prec as usize);
    (format!(".{}", digits.trim_end_matches('0')), int)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("10s"), Ok(10 * S));
        assert_eq!(parse_duration("1h30m"), Ok(H + 30 * M));
        assert_eq!(parse_duration("500ms"), Ok(500 * MS));
        assert_eq!(parse_duration("3u"), Ok(3 * US));
        assert_eq!(parse_duration("3µ"), Ok(3 * US));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("2w"), Ok(2 * W));
        assert_eq!(parse_duration("1d"), Ok(D));
        assert_eq!(parse_duration("-5m"), Ok(-5 * M));
        assert_eq!(parse_duration("1h0m0s"), Ok(H));
        assert_eq!(parse_duration("5"), Err(DurationError::Invalid));
        assert_eq!(parse_duration("5x"), Err(DurationError::Invalid));
        assert_eq!(parse_duration("5n"), Err(DurationError::Invalid));
        assert_eq!(
            parse_duration("1000000000000w").unwrap_err().to_string(),
            "overflowed duration 1000000000000w: choose a smaller duration or INF"
        );
    }

    #[test]
    fn formats_influxql_style() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(90 * M), "90m");
        assert_eq!(format_duration(H + 30 * M), "90m");
        assert_eq!(format_duration(14 * D), "2w");
        assert_eq!(format_duration(3 * D), "3d");
        assert_eq!(format_duration(1500 * MS), "1500ms");
        assert_eq!(format_duration(3 * US), "3u");
        assert_eq!(format_duration(7), "7ns");
        assert_eq!(format_duration(-5 * M), "-5m");
    }

    #[test]
    fn formats_go_style() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(H), "1h0m0s");
        assert_eq!(format_go_duration(7 * D), "168h0m0s");
        assert_eq!(format_go_duration(1500 * MS), "1.5s");
        assert_eq!(format_go_duration(100 * MS), "100ms");
        assert_eq!(format_go_duration(1500 * US), "1.5ms");
        assert_eq!(format_go_duration(US), "1µs");
        assert_eq!(format_go_duration(1), "1ns");
        assert_eq!(format_go_duration(H + M + S + 1), "1h1m1.000000001s");
        assert_eq!(format_go_duration(-90 * S), "-1m30s");
    }
}

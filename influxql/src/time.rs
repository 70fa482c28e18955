//! Absolute time literals: RFC3339 / `YYYY-MM-DD[ HH:MM:SS[.f]]` strings
//! compared with `time`, and their printing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Smallest timestamp InfluxDB accepts from users (its `MinTime + 1`; the two
/// lowest values are internal sentinels).
pub const MIN_TIME: i64 = i64::MIN + 2;
/// Largest timestamp InfluxDB represents (`MaxTime`).
pub const MAX_TIME: i64 = i64::MAX - 1;

/// Why a string could not be read as a time; texts are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not an RFC 3339 time or date.
    #[error("invalid timestamp string")]
    InvalidTimestamp,
    /// A `tz()` zone that is not in the IANA database.
    #[error("unable to find time zone {0}")]
    UnknownZone(String),
}

/// True when `s` looks like a date (`2016-01-01`) or date-time
/// (`2016-01-01T...` / `2016-01-01 ...`) string, i.e. InfluxDB will treat it
/// as a time when compared with `time`.
pub fn is_time_string(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// Parses a time string as InfluxDB does: `2006-01-02 15:04:05.999999` or
/// `2006-01-02` in `tz` (UTC when `None`), otherwise RFC3339 with optional
/// fractional seconds. Returns nanoseconds since the epoch.
pub fn parse_time_string(s: &str, tz: Option<&str>) -> Result<i64, TimeError> {
    if !is_time_string(s) {
        return Err(TimeError::InvalidTimestamp);
    }
    let zone = match tz {
        None | Some("") | Some("UTC") => None,
        Some(name) => Some(
            name.parse::<chrono_tz::Tz>()
                .map_err(|_| TimeError::UnknownZone(name.to_owned()))?,
        ),
    };
    let local = |naive: NaiveDateTime| -> Result<i64, TimeError> {
        let dt = match zone {
            None => Utc.from_utc_datetime(&naive).timestamp_nanos_opt(),
            Some(z) => z
                .from_local_datetime(&naive)
                .earliest()
                .and_then(|d| d.timestamp_nanos_opt()),
        };
        dt.ok_or(TimeError::InvalidTimestamp)
    };
    if s.len() == 10 {
        let d =
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| TimeError::InvalidTimestamp)?;
        return local(d.and_hms_opt(0, 0, 0).ok_or(TimeError::InvalidTimestamp)?);
    }
    if let Some(naive) = parse_space_format(s) {
        return local(naive);
    }
    let dt = DateTime::parse_from_rfc3339(s).map_err(|_| TimeError::InvalidTimestamp)?;
    // Go requires an upper-case `T` and `Z`; chrono is laxer.
    if s.as_bytes()[10] != b'T' || s.contains('z') {
        return Err(TimeError::InvalidTimestamp);
    }
    dt.timestamp_nanos_opt().ok_or(TimeError::InvalidTimestamp)
}

/// `2006-01-02 15:04:05[.999999]` (at most 6 fractional digits, as Go's
/// layout allows).
fn parse_space_format(s: &str) -> Option<NaiveDateTime> {
    if s.as_bytes().get(10) != Some(&b' ') {
        return None;
    }
    let (main, frac) = match s.find('.') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let base = NaiveDateTime::parse_from_str(main, "%Y-%m-%d %H:%M:%S").ok()?;
    match frac {
        None => Some(base),
        Some(f) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let nanos: i64 = format!("{f:0<9}").parse().ok()?;
            base.checked_add_signed(chrono::Duration::nanoseconds(nanos))
        }
        _ => None,
    }
}

/// RFC3339 with nanoseconds, trailing zeros trimmed, in UTC (`Z`), like Go's
/// `time.RFC3339Nano` layout: `2016-01-01T00:00:00Z`,
/// `2016-01-01T00:00:00.5Z`.
pub fn format_rfc3339_nano(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let sub = ns.rem_euclid(1_000_000_000) as u32;
    let Some(dt) = DateTime::<Utc>::from_timestamp(secs, sub) else {
        return ns.to_string();
    };
    let mut out = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    if sub != 0 {
        let frac = format!("{sub:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The year of a date string, if it starts with one.
pub(crate) fn year_of(s: &str) -> Option<i32> {
    if !is_time_string(s) {
        return None;
    }
    s[..4].parse().ok()
}

/// An out-of-range time string printed as Go's `time.RFC3339` would (whole
/// seconds, UTC when no offset was written).
pub(crate) fn rfc3339_seconds(s: &str) -> String {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
            .replace("+00:00", "Z");
    }
    if s.len() == 10 {
        return format!("{s}T00:00:00Z");
    }
    match parse_space_format(s) {
        Some(n) => n.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_strings() {
        assert_eq!(parse_time_string("1970-01-01T00:00:00Z", None), Ok(0));
        assert_eq!(
            parse_time_string("2016-01-01T00:00:00Z", None),
            Ok(1_451_606_400_000_000_000)
        );
        assert_eq!(
            parse_time_string("2016-01-01T00:00:00.5Z", None),
            Ok(1_451_606_400_500_000_000)
        );
        assert_eq!(
            parse_time_string("2016-01-01T01:00:00+01:00", None),
            Ok(1_451_606_400_000_000_000)
        );
        assert_eq!(
            parse_time_string("2016-01-01", None),
            Ok(1_451_606_400_000_000_000)
        );
        assert_eq!(
            parse_time_string("2016-01-01 00:00:01.25", None),
            Ok(1_451_606_401_250_000_000)
        );
        assert_eq!(
            parse_time_string("2016-01-01", Some("Europe/Paris")),
            Ok(1_451_606_400_000_000_000 - 3_600_000_000_000)
        );
        assert_eq!(
            parse_time_string("2016-13-01T00:00:00Z", None),
            Err(TimeError::InvalidTimestamp)
        );
        assert_eq!(
            parse_time_string("abc", None),
            Err(TimeError::InvalidTimestamp)
        );
    }

    #[test]
    fn formats_rfc3339_nano() {
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano(1_451_606_400_500_000_000),
            "2016-01-01T00:00:00.5Z"
        );
        assert_eq!(format_rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
    }
}

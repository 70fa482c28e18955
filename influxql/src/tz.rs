//! Time zone names accepted by `tz('...')`.

/// True if `name` is a zone InfluxDB would load: `UTC`, `Local`, the empty
/// name (UTC), or an IANA zone.
pub(crate) fn zone_exists(name: &str) -> bool {
    matches!(name, "" | "UTC" | "Local") || name.parse::<chrono_tz::Tz>().is_ok()
}

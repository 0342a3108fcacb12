//! Timestamps (SPEC 2.4): accepted only with an offset, stored as microseconds since the
//! Unix epoch (truncated), returned as RFC 3339 UTC with exactly six fractional digits.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses an RFC 3339 timestamp that carries an offset (`Z` or `±hh:mm`) into
/// microseconds since the Unix epoch, truncating sub-microsecond digits.
///
/// Errors: `None` when the text is not RFC 3339 or has no offset.
pub fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    // Only instants that format back as four-digit years (0001-01-01 to 9999-12-31 UTC).
    let secs = dt.unix_timestamp();
    if !(-62_135_596_800..=253_402_300_799).contains(&secs) {
        return None;
    }
    let ns = dt.unix_timestamp_nanos();
    i64::try_from(ns.div_euclid(1000)).ok()
}

/// Formats microseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (SPEC 2.4).
pub fn format_us(us: i64) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.microsecond()
        ),
        Err(_) => "1970-01-01T00:00:00.000000Z".to_string(),
    }
}

/// The default conversation name of SPEC 2.4: `Conversation YYYY-MM-DD HH:MM UTC`.
pub fn default_name(started_at_us: i64) -> String {
    let s = format_us(started_at_us);
    format!("Conversation {} {} UTC", &s[0..10], &s[11..16])
}

/// Current time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    let ns = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(ns / 1000).unwrap_or(i64::MAX)
}

/// Parses a date bound for list filters (SPEC 5): RFC 3339 with an offset, or a bare
/// `YYYY-MM-DD` meaning the whole UTC day. Returns `(start_us, end_us_inclusive)` of the
/// span; an instant outside the years 1..=9999 UTC is clamped to them.
pub fn parse_date_bound(s: &str) -> Option<(i64, i64)> {
    if let Ok(dt) = OffsetDateTime::parse(s.trim(), &Rfc3339) {
        // A bound past the years 1..=9999 (UTC) is as good as the end of that range.
        let us = (dt.unix_timestamp_nanos() / 1000)
            .clamp(-62_135_596_800_000_000, 253_402_300_799_999_999);
        let us = i64::try_from(us).unwrap_or(0);
        return Some((us, us));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s.trim(), &fmt).ok()?;
    let start = d.midnight().assume_utc().unix_timestamp() * 1_000_000;
    Some((start, start + 86_400_000_000 - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_precision() {
        let a = parse_rfc3339_us("2025-11-05T01:04:47.578608772+05:30").unwrap();
        let b = parse_rfc3339_us("2025-11-04T19:34:47.578608Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(format_us(a), "2025-11-04T19:34:47.578608Z");
        assert!(parse_rfc3339_us("2025-11-04T19:52:04.710").is_none());
        assert!(parse_rfc3339_us("9999-12-31T23:59:59-23:59").is_none());
        assert_eq!(default_name(a), "Conversation 2025-11-04 19:34 UTC");
    }

    #[test]
    fn bare_date_is_whole_day() {
        let (s, e) = parse_date_bound("2025-11-04").unwrap();
        assert_eq!(format_us(s), "2025-11-04T00:00:00.000000Z");
        assert_eq!(format_us(e), "2025-11-04T23:59:59.999999Z");
        assert!(parse_date_bound("yesterday").is_none());
        // An offset that puts the instant before year 1 (UTC) clamps instead of failing.
        let (s, _) = parse_date_bound("0001-01-01T00:00:00+01:00").unwrap();
        assert_eq!(format_us(s), "0001-01-01T00:00:00.000000Z");
    }
}

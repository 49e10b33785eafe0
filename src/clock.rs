//! Wall-clock time as the journal, the API and the logs show it: Unix seconds, RFC 3339 text.
//! A leaf module, so the registry, the engine and the CLI share it without importing each other.

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 (`2026-12-02T01:20:00Z`) for Unix seconds; the number itself if it is out of range.
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|moment| moment.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_and_out_of_range_ones_stay_numbers() {
        assert_eq!(super::format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::format_time(i64::MAX), i64::MAX.to_string());
        assert!(super::now() > 1_700_000_000);
    }
}

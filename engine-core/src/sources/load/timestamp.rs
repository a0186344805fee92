//! Timestamp parsing and formatting for the loaders.
//!
//! Epoch numbers are told apart by magnitude here; calendar text (ISO 8601
//! dates and datetimes, times of day) is read and written with `chrono`.
//! Naive times are taken as UTC.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// The unit an epoch number was found to be in, judged by its magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpochUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl fmt::Display for EpochUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EpochUnit::Seconds => "seconds",
            EpochUnit::Millis => "milliseconds",
            EpochUnit::Micros => "microseconds",
            EpochUnit::Nanos => "nanoseconds",
        })
    }
}

/// Converts an epoch number to milliseconds, choosing the unit by magnitude.
///
/// The thresholds put every date between 1973 and 5138 in the right unit:
/// below 1e11 is seconds, below 1e14 milliseconds, below 1e17 microseconds,
/// above that nanoseconds.
#[inline]
pub(crate) fn epoch_to_ms(value: i64) -> (i64, EpochUnit) {
    let magnitude = value.unsigned_abs();
    if magnitude < 100_000_000_000 {
        (value * 1000, EpochUnit::Seconds)
    } else if magnitude < 100_000_000_000_000 {
        (value, EpochUnit::Millis)
    } else if magnitude < 100_000_000_000_000_000 {
        (value.div_euclid(1000), EpochUnit::Micros)
    } else {
        (value.div_euclid(1_000_000), EpochUnit::Nanos)
    }
}

/// A kline time (Binance CSV, JSON rows) as milliseconds: epoch ms, or
/// epoch µs converted (Binance moved spot archives to microseconds in 2025;
/// the magnitude tells them apart), noting in `micros_seen` that µs were met.
/// Seconds and nanoseconds are refused: no kline source writes them.
pub(crate) fn kline_time_ms(field: &str, value: i64, micros_seen: &mut bool) -> Result<i64, String> {
    match epoch_to_ms(value) {
        (ms, EpochUnit::Millis) => Ok(ms),
        (ms, EpochUnit::Micros) => {
            *micros_seen = true;
            Ok(ms)
        }
        (_, unit) => {
            Err(format!("field {field}: {value} looks like epoch {unit}; expected milliseconds or microseconds"))
        }
    }
}

/// Parses an optionally signed decimal integer without going through `str`
/// parsing machinery (the Binance hot path calls this twice per row).
#[inline]
pub(crate) fn parse_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    if digits.len() <= 18 {
        // Cannot overflow: the common case skips the checked arithmetic.
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            value = value * 10 + d as i64;
        }
    } else {
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            value = value.checked_mul(10)?.checked_add(d as i64)?;
        }
    }
    Some(if negative { -value } else { value })
}

/// Formats epoch milliseconds as ISO 8601 UTC, with milliseconds only when
/// there are any: `2015-09-23T20:58:13.009Z`, `2004-08-19T00:00:00Z`.
pub(crate) fn format_ms(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) if ms.rem_euclid(1000) == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms} ms since 1970"),
    }
}

fn millis_of_day(t: NaiveTime) -> i64 {
    i64::from(t.num_seconds_from_midnight()) * 1000 + i64::from(t.nanosecond() / 1_000_000)
}

/// A time of day `HH:MM[:SS[.fff]]` as milliseconds, for separate Time columns.
pub(crate) fn parse_time_of_day(text: &str) -> Option<i64> {
    let text = text.trim();
    ["%H:%M:%S%.f", "%H:%M"].iter().find_map(|f| NaiveTime::parse_from_str(text, f).ok()).map(millis_of_day)
}

/// A date `YYYY-MM-DD` (or `YYYY/MM/DD`) as epoch milliseconds at midnight UTC.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let date = ["%Y-%m-%d", "%Y/%m/%d"].iter().find_map(|f| NaiveDate::parse_from_str(text, f).ok())?;
    Some(date.and_time(NaiveTime::MIN).and_utc().timestamp_millis())
}

/// Parses a timestamp cell: an ISO date, an ISO datetime with `T` or a space,
/// optional fractional seconds and optional `Z`/offset (naive times are UTC),
/// or an epoch number in s/ms/µs/ns. Returns epoch milliseconds and, for
/// epoch numbers, the unit found.
pub(crate) fn parse_timestamp(text: &str) -> Option<(i64, Option<EpochUnit>)> {
    let text = text.trim();
    if let Some(value) = parse_int(text.as_bytes()) {
        let (ms, unit) = epoch_to_ms(value);
        return Some((ms, Some(unit)));
    }
    if let Some(ms) = parse_date(text) {
        return Some((ms, None));
    }
    // `Z` is UTC, as is a time without any offset.
    let naive = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    const NAIVE: [&str; 4] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];
    if let Some(t) = NAIVE.iter().find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok()) {
        return Some((t.and_utc().timestamp_millis(), None));
    }
    const OFFSET: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"];
    let t = OFFSET.iter().find_map(|f| DateTime::parse_from_str(text, f).ok())?;
    Some((t.timestamp_millis(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_forms() {
        let base = 1_442_955_600_000; // 2015-09-22T21:00:00Z
        assert_eq!(parse_timestamp("2015-09-22T21:00:00"), Some((base, None)));
        assert_eq!(parse_timestamp("2015-09-22 21:00:00"), Some((base, None)));
        assert_eq!(parse_timestamp("2015-09-22 21:00"), Some((base, None)));
        assert_eq!(parse_timestamp("2015-09-22T21:00:00.146"), Some((base + 146, None)));
        assert_eq!(parse_timestamp("2015-09-22 21:00:00.146999"), Some((base + 146, None)));
        assert_eq!(parse_timestamp("2015-09-22T21:00:00Z"), Some((base, None)));
        assert_eq!(parse_timestamp("2015-09-22 21:00:00.138000+00:00"), Some((base + 138, None)));
        assert_eq!(parse_timestamp("2015-09-22T23:00:00+02:00"), Some((base, None)));
        assert_eq!(parse_timestamp("2015-09-22"), Some((base - 21 * 3_600_000, None)));
    }

    #[test]
    fn parses_epochs_by_magnitude() {
        assert_eq!(parse_timestamp("1442955600"), Some((1_442_955_600_000, Some(EpochUnit::Seconds))));
        assert_eq!(parse_timestamp("1442955600000"), Some((1_442_955_600_000, Some(EpochUnit::Millis))));
        assert_eq!(parse_timestamp("1442955600000123"), Some((1_442_955_600_000, Some(EpochUnit::Micros))));
        assert_eq!(parse_timestamp("1442955600000123456"), Some((1_442_955_600_000, Some(EpochUnit::Nanos))));
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in
            ["", "abc", "2015-13-01", "2015-02-29", "2015-09-22T25:00", "2015-09-22T21:00:00.", "2015-09-22x", "1.5e9"]
        {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
        assert_eq!(parse_timestamp("2016-02-29"), Some((1_456_704_000_000, None)));
        assert_eq!(parse_time_of_day("09:01:00"), Some(9 * 3_600_000 + 60_000));
        assert_eq!(parse_time_of_day("3602.00"), None);
    }

    #[test]
    fn formats_with_millis_only_when_present() {
        assert_eq!(format_ms(1_443_041_893_009), "2015-09-23T20:58:13.009Z");
        assert_eq!(format_ms(1_092_873_600_000), "2004-08-19T00:00:00Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}

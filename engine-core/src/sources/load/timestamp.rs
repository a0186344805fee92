//! Timestamp parsing and formatting for the loaders.
//!
//! Hand-written rather than pulled from a date crate: the loaders only need
//! proleptic-Gregorian UTC dates, ISO 8601 text and epoch numbers, and doing
//! it here keeps the hot path allocation-free.

use std::fmt;

/// Milliseconds in one day.
pub(crate) const MS_PER_DAY: i64 = 86_400_000;

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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12; // March = 0, so the leap day is last
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Formats epoch milliseconds as ISO 8601 UTC, with milliseconds only when
/// they are not zero: `2015-09-23T20:58:13.009Z`, `2004-08-19T00:00:00Z`.
pub(crate) fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    if milli == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{milli:03}Z")
    }
}

/// A small cursor over ASCII text, for the ISO parsers below.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { bytes: text.as_bytes(), pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let slice = self.bytes.get(self.pos..self.pos + n)?;
        let mut value = 0u32;
        for &b in slice {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + (b - b'0') as u32;
        }
        self.pos += n;
        Some(value)
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// `YYYY-MM-DD` (or with `/`), as days since the epoch.
fn parse_date_part(cur: &mut Cursor<'_>) -> Option<i64> {
    let year = cur.digits(4)? as i64;
    let sep = cur.peek()?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    cur.pos += 1;
    let month = cur.digits(2)?;
    if !cur.eat(sep) {
        return None;
    }
    let day = cur.digits(2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// `HH:MM[:SS[.fraction]]` as milliseconds into the day. Fractions beyond
/// milliseconds are truncated: bars are keyed by milliseconds.
fn parse_time_part(cur: &mut Cursor<'_>) -> Option<i64> {
    let hour = cur.digits(2)?;
    if !cur.eat(b':') {
        return None;
    }
    let minute = cur.digits(2)?;
    let mut second = 0;
    let mut milli = 0;
    if cur.eat(b':') {
        second = cur.digits(2)?;
        if cur.eat(b'.') {
            let mut scale = 100;
            let start = cur.pos;
            while let Some(b) = cur.peek().filter(u8::is_ascii_digit) {
                milli += (b - b'0') as i64 * scale;
                scale /= 10;
                cur.pos += 1;
            }
            if cur.pos == start {
                return None;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(hour as i64 * 3_600_000 + minute as i64 * 60_000 + second as i64 * 1000 + milli)
}

/// A trailing `Z` or `±HH:MM` / `±HHMM` offset, as milliseconds to subtract.
fn parse_offset(cur: &mut Cursor<'_>) -> Option<i64> {
    if cur.at_end() {
        return Some(0);
    }
    if cur.eat(b'Z') || cur.eat(b'z') {
        return cur.at_end().then_some(0);
    }
    let sign = match cur.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    cur.pos += 1;
    let hours = cur.digits(2)?;
    cur.eat(b':');
    let minutes = cur.digits(2)?;
    if !cur.at_end() || hours > 14 || minutes > 59 {
        return None;
    }
    Some(sign * (hours as i64 * 3_600_000 + minutes as i64 * 60_000))
}

/// A time of day `HH:MM[:SS[.fff]]` as milliseconds, for separate Time columns.
pub(crate) fn parse_time_of_day(text: &str) -> Option<i64> {
    let mut cur = Cursor::new(text.trim());
    let ms = parse_time_part(&mut cur)?;
    cur.at_end().then_some(ms)
}

/// A date `YYYY-MM-DD` as epoch milliseconds at midnight UTC.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let mut cur = Cursor::new(text.trim());
    let days = parse_date_part(&mut cur)?;
    cur.at_end().then_some(days * MS_PER_DAY)
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
    let mut cur = Cursor::new(text);
    let days = parse_date_part(&mut cur)?;
    let mut ms = days * MS_PER_DAY;
    if cur.at_end() {
        return Some((ms, None));
    }
    if !(cur.eat(b'T') || cur.eat(b't') || cur.eat(b' ')) {
        return None;
    }
    ms += parse_time_part(&mut cur)?;
    ms -= parse_offset(&mut cur)?;
    Some((ms, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

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
        assert_eq!(parse_timestamp("2016-02-29"), Some((days_from_civil(2016, 2, 29) * MS_PER_DAY, None)));
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

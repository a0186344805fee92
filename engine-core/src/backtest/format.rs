//! Text forms of times, durations and numbers.
//!
//! Two audiences: files meant to be read back by programs (CSV, JSON) get
//! RFC 3339 times and exact numbers; people (the terminal table, the HTML
//! report) get rounded numbers with digit grouping and short durations.

use chrono::{DateTime, SecondsFormat};

/// `ms` as an RFC 3339 UTC time with milliseconds
/// (`2024-01-01T00:00:00.000Z`); `None` outside chrono's range.
pub fn rfc3339_ms(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// `ms` as `2024-01-01 00:00:00 UTC` for people; seconds are dropped when
/// zero, the raw number is shown outside chrono's range.
pub(crate) fn human_time(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) if ms % 60_000 == 0 => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{ms} ms"),
    }
}

/// A time as an axis label in chrono `format`; the raw number outside
/// chrono's range.
pub(crate) fn axis_time(ms: i64, format: &str) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format(format).to_string(),
        None => ms.to_string(),
    }
}

/// A duration as `3d 04h 05m`, `4h 05m`, `5m 03s` or `1.250s`.
pub(crate) fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (days, hours, minutes, seconds) = (ms / 86_400_000, ms / 3_600_000 % 24, ms / 60_000 % 60, ms / 1000 % 60);
    if days > 0 {
        format!("{sign}{days}d {hours:02}h {minutes:02}m")
    } else if hours > 0 {
        format!("{sign}{hours}h {minutes:02}m")
    } else if minutes > 0 {
        format!("{sign}{minutes}m {seconds:02}s")
    } else {
        format!("{sign}{}.{:03}s", seconds, ms % 1000)
    }
}

/// A number with `decimals` decimals and thousands grouped by commas:
/// `1,234,567.89`.
pub(crate) fn grouped(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::with_capacity(text.len() + int.len() / 3 + 1);
    // "-0.00" is shown as "0.00": the sign of a rounded-away value is noise.
    if x < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A money amount or price: two decimals from 1 up, enough decimals for
/// four significant digits below (a price of 0.00001234 must not read 0.00).
pub(crate) fn amount(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude >= 1.0 || magnitude == 0.0 || !x.is_finite() {
        grouped(x, 2)
    } else {
        // Digits after the point to reach 4 significant digits.
        let decimals = (3 - magnitude.log10().floor() as i32).clamp(2, 12) as usize;
        grouped(x, decimals)
    }
}

/// A price for reading: six significant digits, at least two decimals,
/// trailing zeros after those two dropped (`4.2696`, `4.27`, `43,210.50`,
/// `0.00012346`): two decimals alone hide every move of an asset priced
/// around 4, and `amount`'s four digits most of them.
pub fn price(x: f64, thousands: bool) -> String {
    let decimals =
        if x.is_finite() && x != 0.0 { (5 - x.abs().log10().floor() as i32).clamp(2, 12) as usize } else { 2 };
    let text = if thousands { grouped(x, decimals) } else { format!("{x:.decimals$}") };
    match text.find('.') {
        Some(point) => {
            let keep = text.trim_end_matches('0').len().max(point + 3);
            text[..keep].to_string()
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339_ms(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_704_067_200_123).unwrap(), "2024-01-01T00:00:00.123Z");
        assert_eq!(rfc3339_ms(i64::MAX), None);
        assert_eq!(human_time(1_704_067_200_000), "2024-01-01 00:00 UTC");
        assert_eq!(human_time(1_704_067_201_000), "2024-01-01 00:00:01 UTC");
        assert_eq!(axis_time(1_704_067_200_000, "%Y-%m-%d"), "2024-01-01");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0.000s");
        assert_eq!(duration(1_250), "1.250s");
        assert_eq!(duration(5 * 60_000 + 3_000), "5m 03s");
        assert_eq!(duration(4 * 3_600_000 + 5 * 60_000), "4h 05m");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000), "3d 04h 05m");
        assert_eq!(duration(-60_000), "-1m 00s");
    }

    #[test]
    fn numbers() {
        assert_eq!(grouped(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(grouped(-1_234.5, 1), "-1,234.5");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(-0.001, 2), "0.00");
        assert_eq!(grouped(f64::NAN, 2), "n/a");
        assert_eq!(amount(10_000.0), "10,000.00");
        assert_eq!(amount(0.5), "0.5000");
        assert_eq!(amount(0.000_012_344), "0.00001234");
        assert_eq!(amount(-0.25), "-0.2500");
        assert_eq!(amount(0.0), "0.00");
    }

    #[test]
    fn prices_keep_six_significant_digits() {
        assert_eq!(price(4.2696, true), "4.2696");
        assert_eq!(price(4.27, true), "4.27");
        assert_eq!(price(4.269573, true), "4.26957");
        assert_eq!(price(43_210.5, true), "43,210.50");
        assert_eq!(price(43_210.5, false), "43210.50");
        assert_eq!(price(100.068, false), "100.068");
        assert_eq!(price(0.000_123_456_7, false), "0.000123457");
        assert_eq!(price(0.5, true), "0.50");
        assert_eq!(price(0.0, true), "0.00");
        assert_eq!(price(f64::NAN, true), "n/a");
    }
}

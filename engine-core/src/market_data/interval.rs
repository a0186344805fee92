//! Bar intervals written as `1m`, `15m`, `1h`.

/// `1s`, `5m`, `4h`, `1d`, `1w`, `250ms` or plain milliseconds; positive.
pub fn parse_interval(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let scale = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    number.checked_mul(scale).filter(|ms| *ms > 0)
}

/// The shortest spelling [`parse_interval`] reads back: `15m`, `1h`, `250ms`.
pub fn format_interval(ms: i64) -> String {
    const UNITS: [(i64, &str); 5] =
        [(604_800_000, "w"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
    for (scale, unit) in UNITS {
        if ms != 0 && ms % scale == 0 {
            return format!("{}{unit}", ms / scale);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_trip() {
        for (text, ms) in [("1m", 60_000), ("15m", 900_000), ("1h", 3_600_000), ("1d", 86_400_000), ("250ms", 250)] {
            assert_eq!(parse_interval(text), Some(ms));
            assert_eq!(format_interval(ms), text);
        }
        assert_eq!(parse_interval("90s"), Some(90_000));
        assert_eq!(format_interval(90_000), "90s");
        for bad in ["", "m", "0m", "5y", "-1m", "99999999999999999w"] {
            assert_eq!(parse_interval(bad), None, "{bad}");
        }
    }
}

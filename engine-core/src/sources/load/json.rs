//! JSON arrays of kline rows: freqtrade's `[[open_time_ms, o, h, l, c, v], ...]`
//! and Binance REST `GET /api/v3/klines` responses (12 elements, prices as
//! strings, close time at index 6).
//!
//! Whole files often sit on a single line, so rows are named by their
//! element index (`element [5]`) as well as their physical line.

use std::path::Path;

use serde_json::Value;

use super::timestamp::{kline_time_ms, EpochUnit};
use super::{LoadError, SeriesBuilder};
use crate::market_data::{Bar, Symbol};

/// Positional names of the elements this loader reads.
const FIELDS: [&str; 7] = ["open_time", "open", "high", "low", "close", "volume", "close_time"];

/// Parses the JSON array into `builder`; returns the notes for the report.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    symbol: &Symbol,
    builder: &mut SeriesBuilder<'_>,
) -> Result<Vec<String>, LoadError> {
    let rows: Vec<Value> = serde_json::from_str(text).map_err(|e| {
        let line = (e.line() > 0).then_some(e.line());
        LoadError::new(path, line, format!("invalid JSON (expected an array of kline rows): {e}"))
    })?;
    let starts = element_starts(text);
    debug_assert_eq!(starts.len(), rows.len());
    builder.reserve(rows.len());
    let mut micros_seen = false;
    // Lines are counted incrementally: each element start is after the previous one.
    let (mut line, mut counted_to) = (1, 0);
    for (index, row) in rows.iter().enumerate() {
        let start = starts.get(index).copied().unwrap_or(counted_to);
        line += text.as_bytes()[counted_to..start].iter().filter(|&&b| b == b'\n').count();
        counted_to = start;
        let parsed = parse_row(row, symbol, &mut micros_seen);
        builder.row(line, index, parsed)?;
    }
    let mut notes = Vec::new();
    if micros_seen {
        notes.push(format!("timestamps in {} converted to milliseconds", EpochUnit::Micros));
    }
    Ok(notes)
}

/// Byte offsets where each element of the top-level array starts. Only
/// called on text serde_json has accepted, so brackets and strings balance.
fn element_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut expecting) = (0usize, false, false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if depth == 1 && expecting && !b.is_ascii_whitespace() && b != b']' {
            starts.push(i);
            expecting = false;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 {
                    expecting = true;
                }
            }
            b']' | b'}' => depth -= 1,
            b',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    starts
}

fn parse_row(row: &Value, symbol: &Symbol, micros_seen: &mut bool) -> Result<Bar, String> {
    let Value::Array(items) = row else {
        return Err(format!("expected an array [open_time, open, high, low, close, volume, ...], found {}", kind(row)));
    };
    if items.len() < 6 {
        return Err(format!("expected at least 6 fields, found {}", items.len()));
    }
    let open_time = time(0, &items[0], micros_seen)?;
    // Binance REST rows carry the close time at index 6; freqtrade rows stop at volume.
    let close_time = match items.get(6) {
        Some(value) if items.len() >= 12 => Some(time(6, value, micros_seen)?),
        _ => None,
    };
    Ok(Bar {
        symbol: symbol.clone(),
        open_time,
        open: number(1, &items[1])?,
        high: number(2, &items[2])?,
        low: number(3, &items[3])?,
        close: number(4, &items[4])?,
        volume: number(5, &items[5])?,
        bid: None,
        ask: None,
        close_time,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A number, or a string holding one (Binance sends prices as strings).
fn number(index: usize, value: &Value) -> Result<f64, String> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| format!("field {}: {value} is not a number", FIELDS[index]))
}

/// An integer epoch time in ms (or µs, converted), as a number or a string.
fn time(index: usize, value: &Value, micros_seen: &mut bool) -> Result<i64, String> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let raw = parsed.ok_or_else(|| format!("field {}: {value} is not an integer timestamp", FIELDS[index]))?;
    kline_time_ms(FIELDS[index], raw, micros_seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::load::{BadRowPolicy, DataFormat};

    fn load(text: &str, policy: BadRowPolicy) -> Result<super::super::LoadedSeries, LoadError> {
        let path = Path::new("k.json");
        let mut builder = SeriesBuilder::new(path, policy, true);
        let notes = parse(path, text, &"K".into(), &mut builder)?;
        builder.finish(DataFormat::JsonRows, notes)
    }

    #[test]
    fn finds_element_starts_past_strings_and_nesting() {
        let text = "[ [1,\"a]\"], {\"x\":[2]},\n 3 ]";
        let starts = element_starts(text);
        assert_eq!(starts.iter().map(|&i| &text[i..i + 1]).collect::<Vec<_>>(), ["[", "{", "3"]);
        assert!(element_starts("[]").is_empty());
    }

    #[test]
    fn reads_numbers_and_numeric_strings() {
        let text = "[[1634943780000,\"60685.22\",\"60729.84\",\"60670.90\",\"60719.27\",\"21.6\",1634943839999,\"1\",617,\"1\",\"1\",\"0\"],\n\
                    [1634943840000, 1, 2, 0.5, 1.5, 3]]";
        let series = load(text, BadRowPolicy::Fail).unwrap();
        assert_eq!(series.bars[0].close, 60719.27);
        assert_eq!(series.bars[0].close_time, Some(1_634_943_839_999));
        assert_eq!((series.bars[1].high, series.bars[1].close_time), (2.0, None));
    }

    #[test]
    fn names_element_and_line() {
        let text = "[\n[1600000000000, 1, 1, 1, 1, 1],\n[1600000060000, 1, 1, 1, \"abc\", 1]\n]";
        let err = load(text, BadRowPolicy::Fail).unwrap_err();
        assert_eq!(err.to_string(), "k.json:3: element [1]: field close: \"abc\" is not a number");
        let text =
            "[[1600000060000,1,1,1,1,1],[1600000000000,1,1,1,1,1],[1600000120000,1,1,1,1],[1600000180000,1,1,1,1,1]]";
        let err = load(text, BadRowPolicy::Fail).unwrap_err();
        assert_eq!(
            err.to_string(),
            "k.json:1: element [1]: open_time 2020-09-13T12:26:40Z is before element [0] (out of order)"
        );
        let series = load(text, BadRowPolicy::Skip).unwrap();
        assert_eq!(series.bars.len(), 2);
        assert_eq!(series.report.skipped[1].message, "element [2]: expected at least 6 fields, found 5");
    }

    #[test]
    fn rejects_malformed_json_with_its_line() {
        let err = load("[\n[1,2,\n", BadRowPolicy::Fail).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.starts_with("invalid JSON"), "{err}");
    }
}

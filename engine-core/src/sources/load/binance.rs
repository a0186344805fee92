//! The fast path: data.binance.vision kline CSV.
//!
//! The file is already in memory as one `&str`. Each well-formed row is split
//! on commas and its seven needed fields parsed (`memchr` finds line ends,
//! `fast-float2` reads the numbers, bit-identical to `str::parse`); the other
//! five are only counted. Anything unusual (the header, blank
//! lines, exponents, bad fields, wrong field counts) falls back to a general
//! per-line path that gives the exact `file:line` error. Nothing is
//! allocated per row except the bar, whose symbol is a shared `Arc<str>`.

use std::path::Path;

use super::timestamp::{epoch_to_ms, kline_time_ms, parse_int, EpochUnit};
use super::{parse_number, LoadError, SeriesBuilder};
use crate::market_data::{Bar, Symbol};

/// The 12 kline columns, in file order.
pub(crate) const COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

/// The index of the next newline at or after `from`, or the end of the text.
#[inline]
fn find_newline(bytes: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &bytes[from..]).map_or(bytes.len(), |i| from + i)
}

/// Parses kline rows into `builder`; returns the notes for the report.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    symbol: &Symbol,
    builder: &mut SeriesBuilder<'_>,
) -> Result<Vec<String>, LoadError> {
    let bytes = text.as_bytes();
    // Reserving the exact row count avoids regrowing (and over-allocating) a
    // 300k-bar Vec; counting newlines (memchr, SIMD) is far cheaper than parsing.
    builder.reserve(memchr::memchr_iter(b'\n', bytes).count() + 1);
    let mut lines = Lines { path, text, symbol, builder, line_no: 0, seen_first: false, micros_seen: false };
    let mut pos = 0;
    while pos < bytes.len() {
        // After the first line, rows take the fused fast path. Whatever it
        // does not recognise (a blank line, an unusual number, a wrong field
        // count) is re-read by the general path, which gives the exact error.
        if lines.seen_first {
            if let Some((row, end)) = fast_row(bytes, pos) {
                lines.fast(row)?;
                pos = end + 1;
                continue;
            }
        }
        let end = find_newline(bytes, pos);
        lines.line(pos, end)?;
        pos = end + 1;
    }
    let mut notes = Vec::new();
    if lines.micros_seen {
        notes.push(format!("timestamps in {} converted to milliseconds", EpochUnit::Micros));
    }
    Ok(notes)
}

/// The values of one row read by [`fast_row`].
struct FastRow {
    open_time: i64,
    close_time: i64,
    /// open, high, low, close, volume.
    values: [f64; 5],
    micros: bool,
}

/// Reads a well-formed kline row starting at `pos`: the line is split on
/// commas and the seven needed fields parsed; the other five are only
/// counted. Returns the row and the index of its newline (or the end of the
/// text), or `None` for anything unusual, left to the general path.
#[inline]
fn fast_row(bytes: &[u8], pos: usize) -> Option<(FastRow, usize)> {
    let end = find_newline(bytes, pos);
    let mut fields = bytes[pos..end].split(|&b| b == b',');
    let (open_time, open_micros) = fast_time(fields.next()?)?;
    let mut values = [0.0; 5];
    for value in &mut values {
        *value = fast_number(fields.next()?)?;
    }
    let (close_time, close_micros) = fast_time(fields.next()?)?;
    // Fields 7..=11: exactly five more.
    if fields.count() != 5 {
        return None;
    }
    let row = FastRow { open_time, close_time, values, micros: open_micros || close_micros };
    Some((row, end))
}

/// An epoch-ms or epoch-µs integer, as milliseconds.
#[inline]
fn fast_time(field: &[u8]) -> Option<(i64, bool)> {
    match epoch_to_ms(parse_int(field)?) {
        (ms, EpochUnit::Millis) => Some((ms, false)),
        (ms, EpochUnit::Micros) => Some((ms, true)),
        _ => None,
    }
}

/// A plain number (digits, sign, point, exponent). Whatever `fast-float2`
/// does not take whole (spaces, `\r`, text) goes to the general path, which
/// says what is wrong.
#[inline]
fn fast_number(field: &[u8]) -> Option<f64> {
    fast_float2::parse(field).ok()
}

/// Everything a finished line needs.
struct Lines<'a, 'b> {
    path: &'a Path,
    text: &'a str,
    symbol: &'a Symbol,
    builder: &'a mut SeriesBuilder<'b>,
    line_no: usize,
    seen_first: bool,
    micros_seen: bool,
}

impl Lines<'_, '_> {
    /// A row the fast path read.
    #[inline]
    fn fast(&mut self, row: FastRow) -> Result<(), LoadError> {
        self.line_no += 1;
        self.micros_seen |= row.micros;
        let element = self.builder.rows;
        let [open, high, low, close, volume] = row.values;
        let bar = Bar {
            symbol: self.symbol.clone(),
            open_time: row.open_time,
            open,
            high,
            low,
            close,
            volume,
            bid: None,
            ask: None,
            close_time: Some(row.close_time),
        };
        self.builder.row(self.line_no, element, Ok(bar))
    }

    /// The general path for the line `start..end` (newline excluded): the
    /// header, blank lines and every row the fast path declined.
    fn line(&mut self, start: usize, end: usize) -> Result<(), LoadError> {
        self.line_no += 1;
        let line = &self.text[start..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return Ok(());
        }
        if !self.seen_first {
            self.seen_first = true;
            if let Some(header) = check_header(line) {
                return header.map_err(|message| LoadError::new(self.path, Some(self.line_no), message));
            }
        }
        let (fields, bounds) = split(line);
        let element = self.builder.rows;
        let parsed = parse_row(line, fields, &bounds, self.symbol, &mut self.micros_seen);
        self.builder.row(self.line_no, element, parsed)
    }
}

/// The field count of `line` and the start of its fields 1..8.
fn split(line: &str) -> (usize, [usize; 8]) {
    let mut bounds = [0usize; 8];
    let mut fields = 1;
    for (i, b) in line.bytes().enumerate() {
        if b == b',' {
            if fields < bounds.len() {
                bounds[fields] = i + 1;
            }
            fields += 1;
        }
    }
    (fields, bounds)
}

/// `None` when the first line is data; `Some(Ok)` for a kline header to
/// skip; `Some(Err)` for some other header, which this parser cannot map.
fn check_header(line: &str) -> Option<Result<(), String>> {
    let first = line.split(',').next().unwrap_or_default().trim();
    if parse_int(first.as_bytes()).is_some() {
        return None;
    }
    let names: Vec<&str> = line.split(',').map(str::trim).collect();
    let matches =
        names.len() == COLUMNS.len() && names[..7].iter().zip(COLUMNS).all(|(n, c)| n.eq_ignore_ascii_case(c));
    Some(if matches {
        Ok(())
    } else {
        Err(format!(
            "header {line:?} is not the Binance kline header (expected {}); load it as csv instead",
            COLUMNS.join(",")
        ))
    })
}

/// One kline row whose field count and field starts the caller found.
/// `micros_seen` is set when a timestamp had to be converted.
#[inline]
fn parse_row(
    line: &str,
    fields: usize,
    bounds: &[usize; 8],
    symbol: &Symbol,
    micros_seen: &mut bool,
) -> Result<Bar, String> {
    if fields != COLUMNS.len() {
        return Err(format!("expected {} fields, found {fields}", COLUMNS.len()));
    }
    let field = |k: usize| &line[bounds[k]..bounds[k + 1] - 1];
    let open_time = parse_time(0, field(0), micros_seen)?;
    let close_time = parse_time(6, field(6), micros_seen)?;
    Ok(Bar {
        symbol: symbol.clone(),
        open_time,
        open: number(1, field(1))?,
        high: number(2, field(2))?,
        low: number(3, field(3))?,
        close: number(4, field(4))?,
        volume: number(5, field(5))?,
        bid: None,
        ask: None,
        close_time: Some(close_time),
    })
}

/// A price or volume: the exact fast path first, `str::parse` (with its
/// trimming and error message) for anything unusual.
#[inline]
fn number(column: usize, text: &str) -> Result<f64, String> {
    match fast_number(text.as_bytes()) {
        Some(value) => Ok(value),
        None => parse_number(COLUMNS[column], text),
    }
}

/// An epoch-ms or epoch-µs field as milliseconds.
#[inline]
fn parse_time(column: usize, text: &str, micros_seen: &mut bool) -> Result<i64, String> {
    let value = parse_int(text.as_bytes())
        .or_else(|| parse_int(text.trim().as_bytes()))
        .ok_or_else(|| format!("field {}: {text:?} is not an integer timestamp", COLUMNS[column]))?;
    kline_time_ms(COLUMNS[column], value, micros_seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(line: &str) -> Result<Bar, String> {
        parse_one_seen(line, &mut false)
    }

    fn parse_one_seen(line: &str, seen: &mut bool) -> Result<Bar, String> {
        let (fields, bounds) = split(line);
        parse_row(line, fields, &bounds, &"X".into(), seen)
    }

    #[test]
    fn fast_path_agrees_with_the_general_path_or_declines() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let times = ["1690848000000", "1690848000000000"];
        let decimals = ["4.255", "25259.1", "0", "3.", ".5", "0.00002853", "60685.22000000"];
        let odd = ["abc", "", "-1", "1e3", " 2", "1.2.3", "4,5", "9\r", "12345678901234567890"];
        let (mut fast_rows, mut declined) = (0, 0);
        for _ in 0..50_000 {
            let fields = if rng.gen_bool(0.8) { 12 } else { rng.gen_range(9..=14) };
            let line: Vec<&str> = (0..fields)
                .map(|k| {
                    let pool: &[&str] = if rng.gen_bool(0.05) {
                        &odd
                    } else if k == 0 || k == 6 {
                        &times
                    } else {
                        &decimals
                    };
                    pool[rng.gen_range(0..pool.len())]
                })
                .collect();
            let line = line.join(",");
            let text = format!("{line}\nNEXT");
            let general = parse_one_seen(&line, &mut false);
            match fast_row(text.as_bytes(), 0) {
                Some((row, end)) => {
                    assert_eq!(end, line.len(), "{line}");
                    let bar = general.unwrap_or_else(|e| panic!("fast path accepted {line:?}: {e}"));
                    assert_eq!((row.open_time, Some(row.close_time)), (bar.open_time, bar.close_time), "{line}");
                    assert_eq!(row.values, [bar.open, bar.high, bar.low, bar.close, bar.volume], "{line}");
                    fast_rows += 1;
                }
                None => {
                    declined += 1;
                    // Declined rows are either errors or unusual-but-valid numbers.
                    let unusual = line.split(',').take(7).any(|f| odd.contains(&f));
                    assert!(general.is_err() || unusual, "fast path declined a plain row {line:?}");
                }
            }
        }
        assert!(fast_rows > 10_000 && declined > 10_000, "fast {fast_rows}, declined {declined}");
    }

    #[test]
    fn parses_the_needed_fields() {
        let bar = parse_one(
            "1690848000000,4.255,4.256,4.252,4.252,25259.1,1690848059999,107451.0165,208,5452.3,23199.1103,0",
        )
        .unwrap();
        assert_eq!(
            (bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume),
            (1_690_848_000_000, 4.255, 4.256, 4.252, 4.252, 25259.1)
        );
        assert_eq!(bar.close_time, Some(1_690_848_059_999));
    }

    #[test]
    fn converts_microseconds() {
        let mut seen = false;
        let bar = parse_one_seen("1690848000000000,1,1,1,1,1,1690848059999999,1,1,1,1,0", &mut seen).unwrap();
        assert!(seen);
        assert_eq!((bar.open_time, bar.close_time), (1_690_848_000_000, Some(1_690_848_059_999)));
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(parse_one("1,1,1,1,1,1,1,1,1,1,1").unwrap_err(), "expected 12 fields, found 11");
        assert_eq!(
            parse_one("1690848000000,1,1,1,abc,1,1690848059999,1,1,1,1,0").unwrap_err(),
            "field close: \"abc\" is not a number"
        );
        assert_eq!(
            parse_one("2023-08-01,1,1,1,1,1,1690848059999,1,1,1,1,0").unwrap_err(),
            "field open_time: \"2023-08-01\" is not an integer timestamp"
        );
    }

    fn parse_text(text: &str) -> Result<Vec<Bar>, LoadError> {
        let path = Path::new("k.csv");
        let mut builder = SeriesBuilder::new(path, super::super::BadRowPolicy::Fail, false);
        let notes = parse(path, text, &"K".into(), &mut builder)?;
        Ok(builder.finish(super::super::DataFormat::BinanceKlines, notes)?.bars)
    }

    #[test]
    fn handles_crlf_blank_lines_and_a_missing_final_newline() {
        let row = |minute: i64| {
            let t = 1_690_848_000_000 + minute * 60_000;
            format!("{t},1.5,2,1,1.25,10,{},0,0,0,0,0", t + 59_999)
        };
        let header = COLUMNS.join(",");
        for text in [
            format!("{header}\r\n{}\r\n\r\n{}\r\n", row(0), row(1)),
            format!("{}\n{}", row(0), row(1)),
            format!("{}\n{}\n\n", row(0), row(1)),
        ] {
            let bars = parse_text(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(bars.len(), 2, "{text:?}");
            assert_eq!((bars[1].open, bars[1].close, bars[1].volume), (1.5, 1.25, 10.0));
        }
        let err = parse_text(&format!("{header}\n{}\n\n{}", row(0), row(0))).unwrap_err();
        assert_eq!(err.to_string(), "k.csv:4: open_time 2023-08-01T00:00:00Z is not after line 2 (same time)");
        let err = parse_text("Date,Open,High,Low,Close\n").unwrap_err();
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn recognises_headers() {
        assert_eq!(check_header("1690848000000,1"), None);
        assert_eq!(check_header(&COLUMNS.join(",")), Some(Ok(())));
        assert!(check_header("Date,Open,High,Low,Close,Volume").unwrap().is_err());
    }
}

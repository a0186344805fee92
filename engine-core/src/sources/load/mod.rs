//! Historical bar files: Binance kline CSV, generic OHLCV CSV and JSON rows.
//!
//! [`load_file`] reads a whole file into memory, detects (or is told) its
//! format, parses every row into a [`Bar`], validates it with
//! [`Bar::validate`], checks that open times strictly increase, and reports
//! interval and gaps. Bad rows fail the load with `file:line: message`, or
//! are skipped and listed under [`BadRowPolicy::Skip`]. Gaps are reported,
//! never filled.

mod binance;
mod generic_csv;
mod json;
mod report;
pub(crate) mod timestamp;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::market_data::{Bar, Symbol};

use report::GapStats;
pub use report::{LoadReport, RowIssue};

/// The layout of a bar file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// data.binance.vision kline CSV: 12 columns, with or without header.
    BinanceKlines,
    /// OHLCV CSV with a header, columns matched by name.
    GenericCsv,
    /// A JSON array of `[open_time, open, high, low, close, volume, ...]` rows.
    JsonRows,
}

impl FromStr for DataFormat {
    type Err = String;

    /// `binance`, `csv` or `json` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "binance" => Ok(DataFormat::BinanceKlines),
            "csv" => Ok(DataFormat::GenericCsv),
            "json" => Ok(DataFormat::JsonRows),
            other => Err(format!("unknown data format {other:?} (expected binance, csv or json)")),
        }
    }
}

impl fmt::Display for DataFormat {
    /// The same names [`FromStr`] accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataFormat::BinanceKlines => "binance",
            DataFormat::GenericCsv => "csv",
            DataFormat::JsonRows => "json",
        })
    }
}

/// What to do with a row that cannot become a valid bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRowPolicy {
    /// The first bad row fails the load with its `file:line`.
    #[default]
    Fail,
    /// Bad rows are dropped and listed in [`LoadReport::skipped`].
    Skip,
}

/// How to load a file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `None` detects the format from the file's first bytes.
    pub format: Option<DataFormat>,
    /// Fail on the first bad row (default) or skip and report bad rows.
    pub bad_rows: BadRowPolicy,
    /// `None` takes the symbol from the file name: the part before the first
    /// `-`, `_` or `.`, uppercased (`FILUSDT-1m-2023-08.csv` → `FILUSDT`).
    pub symbol: Option<String>,
}

/// The bars of one file and what the load found.
#[derive(Debug, Clone)]
pub struct LoadedSeries {
    /// Valid bars in strictly increasing open-time order; gaps are not filled.
    pub bars: Vec<Bar>,
    /// What the load found: counts, interval, gaps, skipped rows, notes.
    pub report: LoadReport,
}

/// A file that could not be loaded. Displays as `path:line: message`, or
/// `path: message` when the problem is not tied to one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct LoadError {
    /// The path as given by the caller.
    pub file: PathBuf,
    /// 1-based physical line, counting the header, when known.
    pub line: Option<usize>,
    /// What is wrong, naming the field where there is one.
    pub message: String,
}

impl LoadError {
    pub(crate) fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        LoadError { file: file.to_path_buf(), line, message: message.into() }
    }
}

/// How many bytes of the file [`load_file`] hands to [`detect_format`].
const DETECT_HEAD: usize = 64 * 1024;

/// Loads one bar file. See the module docs for what is checked.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<LoadedSeries, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::new(path, None, format!("cannot read file: {e}")))?;
    load_bytes(path, &bytes, options)
}

/// Loads the content `bytes` of the bar file `path` (for a caller that has
/// read it already, e.g. to hash it); `path` names the file in errors and
/// gives the symbol when `options` does not.
pub fn load_bytes(path: &Path, bytes: &[u8], options: &LoadOptions) -> Result<LoadedSeries, LoadError> {
    let format = match options.format {
        Some(format) => format,
        None => detect_format(path, &bytes[..bytes.len().min(DETECT_HEAD)])?,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        LoadError::new(path, Some(line), "not UTF-8 text")
    })?;
    // A UTF-8 byte-order mark (Excel exports) would otherwise glue itself to the first header name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let symbol: Symbol = match &options.symbol {
        Some(symbol) => symbol.as_str().into(),
        None => symbol_from_path(path).into(),
    };
    let mut builder = SeriesBuilder::new(path, options.bad_rows, format == DataFormat::JsonRows);
    let notes = match format {
        DataFormat::BinanceKlines => binance::parse(path, text, &symbol, &mut builder)?,
        DataFormat::GenericCsv => generic_csv::parse(path, text, &symbol, &mut builder)?,
        DataFormat::JsonRows => json::parse(path, text, &symbol, &mut builder)?,
    };
    builder.finish(format, notes)
}

/// Guesses a file's format from its first bytes: `[` first → JSON; a first
/// line of 12 fields starting with an integer, or a header naming
/// `open_time,...,ignore` → Binance klines; any other text → generic CSV.
pub fn detect_format(path: &Path, head: &[u8]) -> Result<DataFormat, LoadError> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(LoadError::new(path, None, "file is empty"));
    };
    if head.contains(&0) {
        return Err(LoadError::new(path, None, "not a text file (it contains NUL bytes)"));
    }
    match head[start] {
        b'[' => return Ok(DataFormat::JsonRows),
        b'{' => {
            return Err(LoadError::new(path, None, "JSON object found; expected a JSON array of kline rows"));
        }
        _ => {}
    }
    let rest = &head[start..];
    let first_line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    let first_line = String::from_utf8_lossy(first_line);
    let fields: Vec<&str> = first_line.trim_end_matches('\r').split(',').map(str::trim).collect();
    if fields.len() == binance::COLUMNS.len() {
        let headerless = timestamp::parse_int(fields[0].as_bytes()).is_some();
        let header = fields[0].eq_ignore_ascii_case("open_time") && fields[11].eq_ignore_ascii_case("ignore");
        if headerless || header {
            return Ok(DataFormat::BinanceKlines);
        }
    }
    Ok(DataFormat::GenericCsv)
}

/// The symbol implied by a file name: the part before the first `-`, `_` or
/// `.`, uppercased. Falls back to the whole stem when that part is empty.
pub fn symbol_from_path(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let head = name.split(['-', '_', '.']).next().unwrap_or_default();
    if head.is_empty() {
        path.file_stem().map(|s| s.to_string_lossy().to_uppercase()).unwrap_or_default()
    } else {
        head.to_uppercase()
    }
}

/// Collects bars row by row, applying validation, the time-order check and
/// the bad-row policy in one place for every format.
pub(crate) struct SeriesBuilder<'a> {
    file: &'a Path,
    policy: BadRowPolicy,
    /// JSON rows are named by element index, since whole files often sit on one line.
    by_element: bool,
    bars: Vec<Bar>,
    rows: usize,
    skipped: Vec<RowIssue>,
    /// Open time and (line, element) of the last kept bar.
    previous: Option<(i64, usize, usize)>,
}

impl<'a> SeriesBuilder<'a> {
    pub(crate) fn new(file: &'a Path, policy: BadRowPolicy, by_element: bool) -> Self {
        SeriesBuilder { file, policy, by_element, bars: Vec::new(), rows: 0, skipped: Vec::new(), previous: None }
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.bars.reserve(additional);
    }

    /// Takes one data row: a parsed bar, or the reason it could not be parsed.
    /// `element` is the row's index (used in messages for JSON).
    #[inline]
    pub(crate) fn row(&mut self, line: usize, element: usize, parsed: Result<Bar, String>) -> Result<(), LoadError> {
        self.rows += 1;
        let checked = parsed.and_then(|bar| self.check(bar));
        match checked {
            Ok(bar) => {
                self.previous = Some((bar.open_time, line, element));
                self.bars.push(bar);
                Ok(())
            }
            Err(message) => self.bad_row(line, element, message),
        }
    }

    /// Records a bad row per the policy.
    pub(crate) fn bad_row(&mut self, line: usize, element: usize, message: String) -> Result<(), LoadError> {
        let message = if self.by_element { format!("element [{element}]: {message}") } else { message };
        match self.policy {
            BadRowPolicy::Fail => Err(LoadError::new(self.file, Some(line), message)),
            BadRowPolicy::Skip => {
                self.skipped.push(RowIssue { line, message });
                Ok(())
            }
        }
    }

    #[inline]
    fn check(&self, bar: Bar) -> Result<Bar, String> {
        bar.validate().map_err(|e| e.to_string())?;
        if let Some((previous_time, line, element)) = self.previous {
            if bar.open_time <= previous_time {
                let what = if bar.open_time == previous_time { "same time" } else { "out of order" };
                let relation = if bar.open_time == previous_time { "not after" } else { "before" };
                let reference = if self.by_element { format!("element [{element}]") } else { format!("line {line}") };
                return Err(format!(
                    "open_time {} is {relation} {reference} ({what})",
                    timestamp::format_ms(bar.open_time)
                ));
            }
        }
        Ok(bar)
    }

    pub(crate) fn finish(self, format: DataFormat, notes: Vec<String>) -> Result<LoadedSeries, LoadError> {
        if self.rows == 0 {
            return Err(LoadError::new(self.file, None, "no data rows"));
        }
        if self.bars.is_empty() {
            let first = &self.skipped[0];
            return Err(LoadError::new(
                self.file,
                None,
                format!(
                    "no valid bars: all {} rows are bad (first: line {}: {})",
                    self.rows, first.line, first.message
                ),
            ));
        }
        let stats = GapStats::of(&self.bars);
        let report = LoadReport {
            file: self.file.to_path_buf(),
            format,
            rows: self.rows,
            bars: self.bars.len(),
            skipped: self.skipped,
            interval_ms: stats.interval_ms,
            gaps: stats.gaps,
            missing_bars: stats.missing_bars,
            largest_gap_ms: stats.largest_gap_ms,
            notes,
        };
        Ok(LoadedSeries { bars: self.bars, report })
    }
}

/// Parses a price or volume field, naming the field when it is not a number.
#[inline]
pub(crate) fn parse_number(field: &str, text: &str) -> Result<f64, String> {
    text.trim().parse::<f64>().map_err(|_| format!("field {field}: {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_is_the_file_name_head_uppercased() {
        assert_eq!(symbol_from_path(Path::new("/x/FILUSDT-1m-2023-08.csv")), "FILUSDT");
        assert_eq!(symbol_from_path(Path::new("orcl-1995-2014.txt")), "ORCL");
        assert_eq!(symbol_from_path(Path::new("UNITTEST_BTC-1m.json")), "UNITTEST");
        assert_eq!(symbol_from_path(Path::new("GOOG.csv")), "GOOG");
        assert_eq!(symbol_from_path(Path::new("2006-day-001.txt")), "2006");
    }

    #[test]
    fn format_names_round_trip() {
        for format in [DataFormat::BinanceKlines, DataFormat::GenericCsv, DataFormat::JsonRows] {
            assert_eq!(format.to_string().parse::<DataFormat>(), Ok(format));
        }
        assert!("parquet".parse::<DataFormat>().unwrap_err().contains("parquet"));
    }

    #[test]
    fn detects_formats_from_the_head() {
        let p = Path::new("x");
        assert_eq!(detect_format(p, b"  \n[[1,2,3,4,5,6]]"), Ok(DataFormat::JsonRows));
        assert_eq!(
            detect_format(p, b"1637971200000,1,1,1,1,1,1637971259999,1,1,1,1,0\n"),
            Ok(DataFormat::BinanceKlines)
        );
        let header = b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\r\n";
        assert_eq!(detect_format(p, header), Ok(DataFormat::BinanceKlines));
        assert_eq!(detect_format(p, b"Date,Open,High,Low,Close,Volume\n"), Ok(DataFormat::GenericCsv));
        assert_eq!(detect_format(p, b"").unwrap_err().to_string(), "x: file is empty");
        assert!(detect_format(p, b"{\"a\":1}").is_err());
    }

    #[test]
    fn converts_into_a_source_error_unchanged() {
        let err: crate::sources::SourceError =
            LoadError::new(Path::new("a.csv"), Some(3), "expected 12 fields, found 11").into();
        assert_eq!(err.to_string(), "a.csv:3: expected 12 fields, found 11");
    }

    #[test]
    fn error_display_has_file_and_line() {
        assert_eq!(
            LoadError::new(Path::new("orcl.csv"), Some(1812), "high 2.1 is below close 2.3").to_string(),
            "orcl.csv:1812: high 2.1 is below close 2.3"
        );
        assert_eq!(LoadError::new(Path::new("a/b.csv"), None, "no data rows").to_string(), "a/b.csv: no data rows");
    }
}

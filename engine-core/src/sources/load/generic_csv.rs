//! Generic OHLCV CSV with a header row, columns matched by name.
//!
//! Handles the shapes found in the wild: Yahoo-style `Date,Open,...,Adj Close,Volume`,
//! pandas exports whose index column has no name, separate `Date,Time`
//! columns, and backtrader's header that forgets the `Time` column.

use std::path::Path;

use csv::{ByteRecord, ReaderBuilder};

use super::timestamp::{parse_date, parse_time_of_day, parse_timestamp, EpochUnit};
use super::{parse_number, LoadError, SeriesBuilder};
use crate::market_data::{Bar, Symbol};

/// Header names accepted for a single timestamp column, in order of preference.
const TIME_NAMES: [&str; 8] =
    ["datetime", "timestamp", "open_time", "date_time", "opentime", "open time", "date", "time"];

/// Where each needed value lives in a row.
#[derive(Debug)]
struct Columns {
    time: TimeColumns,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    /// Fields every row must have.
    width: usize,
    /// Lowercased column names, for messages (`field close: ...`).
    labels: Vec<String>,
}

#[derive(Debug)]
enum TimeColumns {
    /// One cell holding a date, a datetime or an epoch number.
    Single { index: usize },
    /// A date cell plus a time-of-day cell.
    DateTime { date: usize, time: usize },
}

/// Parses the CSV into `builder`; returns the notes for the report.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    symbol: &Symbol,
    builder: &mut SeriesBuilder<'_>,
) -> Result<Vec<String>, LoadError> {
    let mut reader = ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut header = ByteRecord::new();
    let read = |reader: &mut csv::Reader<&[u8]>, record: &mut ByteRecord| {
        reader.read_byte_record(record).map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            LoadError::new(path, line, format!("malformed CSV: {e}"))
        })
    };
    if !read(&mut reader, &mut header)? {
        return Err(LoadError::new(path, None, "file is empty"));
    }
    let mut names: Vec<String> = header.iter().map(|n| String::from_utf8_lossy(n).trim().to_string()).collect();
    let mut notes = Vec::new();

    let mut record = ByteRecord::new();
    let mut have_record = read(&mut reader, &mut record)?;
    // backtrader's volume-min-001 names 7 columns but writes 8 fields per row,
    // the second being a time of day: read that as a Date,Time pair.
    if have_record && record.len() == names.len() + 1 && names.len() >= 2 {
        let second = std::str::from_utf8(&record[1]).unwrap_or_default();
        if parse_time_of_day(second).is_some() {
            notes.push(format!(
                "header names {} columns but rows have {}, the second being a time of day: read as {},Time,{}",
                names.len(),
                names.len() + 1,
                names[0],
                names[1..].join(",")
            ));
            names.insert(1, "Time".to_string());
        }
    }
    let header_line = header.position().map_or(1, |p| p.line() as usize);
    let columns = map_columns(path, header_line, &names)?;
    if columns.volume.is_none() {
        notes.push("no volume column: volume set to 0".to_string());
    }
    builder.reserve(text.len() / 40 + 1);
    let mut units_seen: Option<EpochUnit> = None;
    while have_record {
        let line = record.position().map_or(0, |p| p.line() as usize);
        let element = builder.rows;
        let parsed = parse_row(&record, &columns, symbol, &mut units_seen);
        builder.row(line, element, parsed)?;
        have_record = read(&mut reader, &mut record)?;
    }
    match units_seen {
        Some(EpochUnit::Millis) | None => {}
        Some(unit) => notes.push(format!("epoch timestamps in {unit} converted to milliseconds")),
    }
    Ok(notes)
}

/// Finds the time and OHLCV columns by name, case-insensitively.
fn map_columns(path: &Path, header_line: usize, names: &[String]) -> Result<Columns, LoadError> {
    let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let find = |name: &str| lower.iter().position(|n| n == name);
    let (open, high, low, close) = (find("open"), find("high"), find("low"), find("close"));
    let time = match (find("date"), find("time")) {
        (Some(date), Some(time)) => Some(TimeColumns::DateTime { date, time }),
        _ => TIME_NAMES
            .iter()
            .find_map(|name| find(name))
            // A nameless first header cell is a pandas index: the date.
            .or_else(|| lower.first().filter(|n| n.is_empty()).map(|_| 0))
            .map(|index| TimeColumns::Single { index }),
    };
    let (Some(open), Some(high), Some(low), Some(close), Some(time)) = (open, high, low, close, time) else {
        let found: Vec<String> = names.iter().map(|n| display_name(n)).collect();
        return Err(LoadError::new(
            path,
            Some(header_line),
            format!(
                "no OHLC bars here: the header has columns [{}]; expected a time column (date, time, datetime, timestamp, \
                 open_time or an unnamed first column) and open, high, low, close (volume optional)",
                found.join(", ")
            ),
        ));
    };
    let labels = names.iter().map(|n| display_name(n).to_ascii_lowercase()).collect();
    Ok(Columns { time, open, high, low, close, volume: find("volume"), width: names.len(), labels })
}

fn display_name(name: &str) -> String {
    if name.is_empty() {
        "(unnamed)".to_string()
    } else {
        name.to_string()
    }
}

fn cell<'r>(record: &'r ByteRecord, index: usize, name: &str) -> Result<&'r str, String> {
    std::str::from_utf8(&record[index]).map_err(|_| format!("field {name}: not valid UTF-8"))
}

fn parse_row(
    record: &ByteRecord,
    columns: &Columns,
    symbol: &Symbol,
    units_seen: &mut Option<EpochUnit>,
) -> Result<Bar, String> {
    if record.len() != columns.width {
        return Err(format!("expected {} fields, found {}", columns.width, record.len()));
    }
    let labels = &columns.labels;
    let number = |index: usize| parse_number(&labels[index], cell(record, index, &labels[index])?);
    let open_time = match columns.time {
        TimeColumns::Single { index } => {
            let name = &labels[index];
            let text = cell(record, index, name)?;
            let (ms, unit) =
                parse_timestamp(text).ok_or_else(|| format!("field {name}: {text:?} is not a date/time"))?;
            if unit.is_some() {
                *units_seen = unit;
            }
            ms
        }
        TimeColumns::DateTime { date, time } => {
            let date_text = cell(record, date, &labels[date])?;
            let time_text = cell(record, time, &labels[time])?;
            let day =
                parse_date(date_text).ok_or_else(|| format!("field {}: {date_text:?} is not a date", labels[date]))?;
            let in_day = parse_time_of_day(time_text)
                .ok_or_else(|| format!("field {}: {time_text:?} is not a time of day", labels[time]))?;
            day + in_day
        }
    };
    Ok(Bar {
        symbol: symbol.clone(),
        open_time,
        open: number(columns.open)?,
        high: number(columns.high)?,
        low: number(columns.low)?,
        close: number(columns.close)?,
        volume: match columns.volume {
            Some(index) => number(index)?,
            None => 0.0,
        },
        bid: None,
        ask: None,
        close_time: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::load::BadRowPolicy;

    fn load(text: &str) -> Result<(Vec<Bar>, Vec<String>), LoadError> {
        let path = Path::new("t.csv");
        let mut builder = SeriesBuilder::new(path, BadRowPolicy::Fail, false);
        let notes = parse(path, text, &"T".into(), &mut builder)?;
        let series = builder.finish(super::super::DataFormat::GenericCsv, notes)?;
        Ok((series.bars, series.report.notes))
    }

    #[test]
    fn reads_pandas_index_and_ignores_extra_columns() {
        let (bars, notes) =
            load(",Open,High,Low,Close,Adj Close,Volume\n2004-08-19,100,104.06,95.96,100.34,1,22351900\n").unwrap();
        assert_eq!(bars[0].open_time, 1_092_873_600_000);
        assert_eq!((bars[0].open, bars[0].close, bars[0].volume), (100.0, 100.34, 22_351_900.0));
        assert!(notes.is_empty());
    }

    #[test]
    fn fixes_the_header_without_time() {
        let (bars, notes) =
            load("Date,Open,High,Low,Close,Volume,OpenInterest\r\n2006-01-02,09:01:00,3602,3603,3597,3599,5699,0\r\n")
                .unwrap();
        assert_eq!(bars[0].open_time, 1_136_192_460_000);
        assert_eq!(bars[0].volume, 5699.0);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("read as Date,Time,Open"), "{notes:?}");
    }

    #[test]
    fn volume_is_optional_and_epoch_seconds_convert() {
        let (bars, notes) = load("timestamp,open,high,low,close\n1442955600,1,2,0.5,1.5\n").unwrap();
        assert_eq!((bars[0].open_time, bars[0].volume), (1_442_955_600_000, 0.0));
        assert_eq!(
            notes,
            ["no volume column: volume set to 0", "epoch timestamps in seconds converted to milliseconds"]
        );
    }

    #[test]
    fn refuses_files_without_bars() {
        let err = load(",timestamp,id,type,side,price,amount,cost,date\n0,1,2,,buy,1,1,1,x\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("t.csv:1: no OHLC bars here: the header has columns [(unnamed), timestamp, id,"),
            "{text}"
        );
        assert!(text.contains("expected a time column"), "{text}");
    }

    #[test]
    fn names_bad_fields_and_lines() {
        let err = load("Date,Open,High,Low,Close\n2020-01-01,1,1,1,1\n2020-01-02,1,1,1,abc\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv:3: field close: \"abc\" is not a number");
        let err = load("Date,Open,High,Low,Close\n2020-01-01,1,1,1\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv:2: expected 5 fields, found 4");
        let err = load("Date,Open,High,Low,Close\n2020-31-01,1,1,1,1\n").unwrap_err();
        assert_eq!(err.to_string(), "t.csv:2: field date: \"2020-31-01\" is not a date/time");
    }
}

//! Loads every file in `shared/data` and checks the loaders against the
//! counts and values documented in `shared/data/SOURCES.md`, then breaks
//! copies of real files by hand and checks the exact `file:line` errors.

mod common;

use std::path::{Path, PathBuf};

use engine_core::market_data::Bar;
use engine_core::sources::{load_file, BadRowPolicy, DataFormat, LoadError, LoadOptions, LoadedSeries};

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// `shared/data`. Panics (failing every test) when it is missing: these
/// tests must never pass by skipping.
fn shared() -> PathBuf {
    let dir = common::shared_data();
    assert!(dir.join("SOURCES.md").is_file(), "shared data folder not found at {}", dir.display());
    dir
}

fn file(relative: &str) -> PathBuf {
    let path = shared().join(relative);
    assert!(path.is_file(), "missing shared data file {}", path.display());
    path
}

fn load(relative: &str) -> LoadedSeries {
    let path = file(relative);
    load_file(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{relative} should load: {e}"))
}

fn load_err(path: &Path, policy: BadRowPolicy) -> LoadError {
    let options = LoadOptions { bad_rows: policy, ..LoadOptions::default() };
    match load_file(path, &options) {
        Ok(series) => panic!("{} should be refused, loaded {} bars", path.display(), series.bars.len()),
        Err(e) => e,
    }
}

fn skip(path: &Path) -> LoadedSeries {
    let options = LoadOptions { bad_rows: BadRowPolicy::Skip, ..LoadOptions::default() };
    load_file(path, &options).unwrap_or_else(|e| panic!("{} should load with Skip: {e}", path.display()))
}

fn ohlcv(bar: &Bar) -> (f64, f64, f64, f64, f64) {
    (bar.open, bar.high, bar.low, bar.close, bar.volume)
}

/// Epoch ms of a UTC date and time, computed independently of the loader
/// from a known anchor (2000-01-01T00:00Z = 946684800000) and day counts.
fn utc(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
    let days_before_month = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: i64 = 0;
    for y in 2000.min(year)..2000.max(year) {
        let len = if leap(y) { 366 } else { 365 };
        days += if year >= 2000 { len } else { -len };
    }
    days += days_before_month[month as usize - 1] + if month > 2 && leap(year) { 1 } else { 0 };
    days += day as i64 - 1;
    946_684_800_000 + days * DAY + hour * 3_600_000 + minute * MINUTE
}

fn assert_report(series: &LoadedSeries, format: DataFormat, bars: usize, interval: i64, gaps: usize) {
    let report = &series.report;
    assert_eq!(report.format, format, "{report}");
    assert_eq!((report.rows, report.bars, series.bars.len()), (bars, bars, bars), "{report}");
    assert_eq!(report.interval_ms, Some(interval), "{report}");
    assert_eq!(report.gaps, gaps, "{report}");
    assert!(report.skipped.is_empty(), "{report}");
    assert!(series.bars.windows(2).all(|w| w[0].open_time < w[1].open_time));
    assert!(series.bars.iter().all(|b| b.validate().is_ok()));
}

#[test]
fn binance_vision_months_load_contiguous_with_close_times() {
    let months = [
        ("FILUSDT-1m-2023-08.csv", 44_640, utc(2023, 8, 1, 0, 0)),
        ("FILUSDT-1m-2023-09.csv", 43_200, utc(2023, 9, 1, 0, 0)),
        ("FILUSDT-1m-2023-10.csv", 44_640, utc(2023, 10, 1, 0, 0)),
        ("FILUSDT-1m-2023-11.csv", 43_200, utc(2023, 11, 1, 0, 0)),
        ("NEARUSDT-1m-2023-08.csv", 44_640, utc(2023, 8, 1, 0, 0)),
        ("NEARUSDT-1m-2023-09.csv", 43_200, utc(2023, 9, 1, 0, 0)),
        ("NEARUSDT-1m-2023-10.csv", 44_640, utc(2023, 10, 1, 0, 0)),
    ];
    let mut fil_total = 0;
    let mut fil_previous_last: Option<i64> = None;
    for (name, rows, start) in months {
        let series = load(&format!("binance-vision-um/{name}"));
        assert_report(&series, DataFormat::BinanceKlines, rows, MINUTE, 0);
        assert_eq!(series.report.missing_bars, 0);
        assert_eq!(series.report.largest_gap_ms, None);
        let symbol = name.split('-').next().unwrap();
        assert!(series.bars.iter().all(|b| &*b.symbol == symbol));
        assert_eq!(series.bars[0].open_time, start, "{name}");
        assert_eq!(series.bars.last().unwrap().open_time, start + (rows as i64 - 1) * MINUTE, "{name}");
        assert!(series.bars.iter().all(|b| b.close_time == Some(b.open_time + 59_999)), "{name}");
        if symbol == "FILUSDT" {
            fil_total += rows;
            if let Some(previous) = fil_previous_last {
                assert_eq!(series.bars[0].open_time, previous + MINUTE, "FILUSDT months are one series");
            }
            fil_previous_last = Some(series.bars.last().unwrap().open_time);
        }
    }
    assert_eq!(fil_total, 175_680);

    let aug = load("binance-vision-um/FILUSDT-1m-2023-08.csv");
    assert_eq!(ohlcv(&aug.bars[0]), (4.255, 4.256, 4.252, 4.252, 25259.1));
    assert_eq!(ohlcv(aug.bars.last().unwrap()), (3.211, 3.214, 3.211, 3.214, 11078.0));
    assert_eq!(aug.bars.last().unwrap().close_time, Some(1_693_526_399_999));
    let near = load("binance-vision-um/NEARUSDT-1m-2023-08.csv");
    assert_eq!(ohlcv(&near.bars[0]), (1.37, 1.37, 1.367, 1.367, 79426.0));
}

#[test]
fn headerless_spot_klines_and_rest_json() {
    let ada = load("nautilus_trader/ADABTC-1m-2021-11-27.csv");
    assert_report(&ada, DataFormat::BinanceKlines, 10, MINUTE, 0);
    assert_eq!(&*ada.bars[0].symbol, "ADABTC");
    assert_eq!(ada.bars[0].open_time, utc(2021, 11, 27, 0, 0));
    assert_eq!(ohlcv(&ada.bars[0]), (0.00002853, 0.00002854, 0.00002851, 0.00002854, 36304.2));
    assert_eq!(ada.bars[0].close_time, Some(1_637_971_259_999));
    assert_eq!(ada.bars[9].open_time, utc(2021, 11, 27, 0, 9));

    let rest = load("nautilus_trader/http_spot_market_klines.json");
    assert_report(&rest, DataFormat::JsonRows, 10, MINUTE, 0);
    let first = &rest.bars[0];
    assert_eq!(first.open_time, 1_634_943_780_000);
    assert_eq!(first.open_time, utc(2021, 10, 22, 23, 3));
    assert_eq!(ohlcv(first), (60685.22, 60729.84, 60670.90, 60719.27, 21.63272));
    assert_eq!(first.close_time, Some(1_634_943_839_999));
    let last = rest.bars.last().unwrap();
    assert_eq!((last.open_time, last.close_time), (utc(2021, 10, 22, 23, 12), Some(1_634_944_379_999)));
    assert_eq!(ohlcv(last), (60739.85, 60739.85, 60739.85, 60739.85, 0.04734));
}

#[test]
fn freqtrade_json_has_538_gaps() {
    let series = load("freqtrade/UNITTEST_BTC-1m.json");
    assert_report(&series, DataFormat::JsonRows, 13_681, MINUTE, 538);
    // The largest gap is 8 minutes between consecutive candles.
    assert_eq!(series.report.largest_gap_ms, Some(8 * MINUTE));
    assert_eq!(&*series.bars[0].symbol, "UNITTEST");
    assert_eq!(series.bars[0].open_time, utc(2017, 11, 4, 23, 2));
    assert_eq!(ohlcv(&series.bars[0]), (0.00162008, 0.00162008, 0.00162008, 0.00162008, 108.14853839));
    let last = series.bars.last().unwrap();
    assert_eq!(last.open_time, utc(2017, 11, 14, 22, 59));
    assert_eq!(ohlcv(last), (0.00270001, 0.00270002, 0.00270001, 0.00270002, 1.94577668));
    assert_eq!(last.close_time, None);
    // span / interval + 1 = bars + missing bars, for a gap-only series.
    let span = (last.open_time - series.bars[0].open_time) / MINUTE + 1;
    assert_eq!(span as usize, series.bars.len() + series.report.missing_bars);
}

#[test]
fn yahoo_style_daily_files() {
    for (name, rows, first, last, first_bar) in [
        (
            "orcl-1995-2014.txt",
            5036,
            (1995, 1, 3),
            (2014, 12, 31),
            (2.179012, 2.191358, 2.117284, 2.117284, 36_301_200.0),
        ),
        ("nvda-1999-2014.txt", 4012, (1999, 1, 22), (2014, 12, 31), (1.75, 1.953125, 1.552083, 1.640625, 67_867_200.0)),
        (
            "yhoo-1996-2015.txt",
            4965,
            (1996, 4, 12),
            (2015, 12, 31),
            (1.052083, 1.791667, 1.020833, 1.375, 408_720_000.0),
        ),
    ] {
        let series = load(&format!("backtrader/{name}"));
        let report = &series.report;
        assert_eq!((report.format, report.rows, report.bars), (DataFormat::GenericCsv, rows, rows), "{report}");
        assert_eq!(report.interval_ms, Some(DAY), "{report}");
        assert!(report.gaps > 0, "weekends are gaps: {report}");
        assert_eq!(series.bars[0].open_time, utc(first.0, first.1, first.2, 0, 0));
        assert_eq!(series.bars.last().unwrap().open_time, utc(last.0, last.1, last.2, 0, 0));
        // Close, not Adj Close, is the close.
        assert_eq!(ohlcv(&series.bars[0]), first_bar, "{name}");
    }
    let orcl = load("backtrader/orcl-1995-2014.txt");
    assert_eq!(ohlcv(orcl.bars.last().unwrap()), (45.450001, 45.560001, 44.970001, 44.970001, 13_269_200.0));
}

#[test]
fn backtrader_intraday_and_the_header_missing_time() {
    let daily = load("backtrader/2006-day-001.txt");
    assert_eq!((daily.report.bars, daily.report.interval_ms), (255, Some(DAY)));
    assert!(daily.bars.iter().all(|b| b.volume == 0.0));
    assert_eq!(ohlcv(&daily.bars[0]).0, 3578.73);

    let five = load("backtrader/2006-min-005.txt");
    assert_eq!((five.report.bars, five.report.interval_ms), (2142, Some(5 * MINUTE)));
    assert_eq!(five.bars[0].open_time, utc(2006, 1, 2, 9, 5));
    assert_eq!(five.bars.last().unwrap().open_time, utc(2006, 1, 30, 17, 30));
    assert!(five.report.notes.is_empty(), "{}", five.report);

    let one = load("backtrader/2006-01-02-volume-min-001.txt");
    assert_eq!((one.report.rows, one.report.bars, one.report.interval_ms), (30_889, 30_889, Some(MINUTE)));
    assert_eq!(one.bars[0].open_time, utc(2006, 1, 2, 9, 1));
    assert_eq!(ohlcv(&one.bars[0]), (3602.0, 3603.0, 3597.0, 3599.0, 5699.0));
    assert_eq!(one.bars.last().unwrap().open_time, utc(2006, 2, 27, 22, 0));
    assert_eq!(ohlcv(one.bars.last().unwrap()), (3840.0, 3840.0, 3838.0, 3838.0, 327.0));
    assert_eq!(one.report.notes.len(), 1, "{}", one.report);
    assert!(one.report.notes[0].contains("header names 7 columns but rows have 8"), "{}", one.report);
}

#[test]
fn pandas_exports_with_a_nameless_index_column() {
    let goog = load("backtesting.py/GOOG.csv");
    assert_eq!((goog.report.bars, goog.report.interval_ms), (2148, Some(DAY)));
    assert_eq!(goog.bars[0].open_time, utc(2004, 8, 19, 0, 0));
    assert_eq!(ohlcv(&goog.bars[0]), (100.0, 104.06, 95.96, 100.34, 22_351_900.0));
    assert_eq!(goog.bars.last().unwrap().open_time, utc(2013, 3, 1, 0, 0));
    assert_eq!(ohlcv(goog.bars.last().unwrap()), (797.8, 807.14, 796.15, 806.19, 2_175_400.0));

    let eurusd = load("backtesting.py/EURUSD.csv");
    assert_eq!((eurusd.report.bars, eurusd.report.interval_ms), (5000, Some(3_600_000)));
    assert!(eurusd.report.gaps > 0, "weekend gaps: {}", eurusd.report);
    assert_eq!(eurusd.bars[0].open_time, utc(2017, 4, 19, 9, 0));
    assert_eq!(eurusd.bars.last().unwrap().open_time, utc(2018, 2, 7, 15, 0));
    assert_eq!(ohlcv(eurusd.bars.last().unwrap()), (1.23427, 1.23444, 1.22904, 1.22904, 6143.0));

    let btc = load("backtesting.py/BTCUSD.csv");
    assert_eq!(btc.report.bars, 156);
    assert_eq!(btc.bars[0].open_time, utc(2012, 1, 31, 0, 0));
    assert_eq!(btc.bars.last().unwrap().open_time, utc(2024, 12, 31, 0, 0));
    assert_eq!(btc.bars[0].volume, 2012.25343589);
}

#[test]
fn ftx_perp_with_microsecond_text_timestamps() {
    let series = load("nautilus_trader/btc-perp-20211231-20220201_1m.csv");
    assert_report(&series, DataFormat::GenericCsv, 45_031, MINUTE, 0);
    assert_eq!(&*series.bars[0].symbol, "BTC");
    assert_eq!(series.bars[0].open_time, utc(2021, 12, 31, 23, 1));
    assert_eq!(ohlcv(&series.bars[0]), (46319.0, 46385.0, 46319.0, 46377.0, 2300413.7295));
    assert_eq!(series.bars.last().unwrap().open_time, utc(2022, 2, 1, 5, 31));
    assert_eq!(ohlcv(series.bars.last().unwrap()), (38525.0, 38546.0, 38525.0, 38544.0, 685906.9735));
}

#[test]
fn ticksample_duplicate_fails_by_default_and_is_skipped_on_request() {
    let path = file("backtrader/ticksample.csv");
    let err = load_err(&path, BadRowPolicy::Fail);
    assert_eq!(
        err.to_string(),
        format!("{}:24: open_time 2015-09-23T20:58:22.316Z is not after line 23 (same time)", path.display())
    );
    assert_eq!(err.line, Some(24));
    let series = skip(&path);
    assert_eq!((series.report.rows, series.report.bars), (135, 134));
    assert_eq!(series.report.skipped.len(), 1);
    assert_eq!(series.report.skipped[0].line, 24);
    assert!(series.report.to_string().contains("line 24: open_time 2015-09-23T20:58:22.316Z is not after line 23"));
    assert_eq!(series.bars[0].open_time, utc(2015, 9, 23, 20, 57) + 42_146);
    assert_eq!(series.bars.last().unwrap().open_time, utc(2015, 9, 23, 21, 0) + 238);
}

#[test]
fn trade_lists_and_depth_files_are_refused() {
    for (name, columns) in [
        ("freqtrade/public_trades_list.csv", "[(unnamed), timestamp, id, type, side, price, amount, cost, date]"),
        (
            "nautilus_trader/btcusdt-depth-snap.csv",
            "[symbol, timestamp, first_update_id, last_update_id, side, update_type, price, qty, pu]",
        ),
        (
            "nautilus_trader/btcusdt-depth-update.csv",
            "[symbol, timestamp, first_update_id, last_update_id, side, update_type, price, qty, pu]",
        ),
    ] {
        let path = file(name);
        for policy in [BadRowPolicy::Fail, BadRowPolicy::Skip] {
            let err = load_err(&path, policy);
            assert_eq!(
                err.to_string(),
                format!(
                    "{}:1: no OHLC bars here: the header has columns {columns}; expected a time column (date, time, \
                     datetime, timestamp, open_time or an unnamed first column) and open, high, low, close (volume optional)",
                    path.display()
                )
            );
        }
    }
}

#[test]
fn every_file_in_shared_data_loads_or_is_refused_clearly() {
    let refused = ["public_trades_list.csv", "btcusdt-depth-snap.csv", "btcusdt-depth-update.csv", "ticksample.csv"];
    let mut seen = 0;
    for dir in std::fs::read_dir(shared()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            seen += 1;
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            match load_file(&path, &LoadOptions::default()) {
                Ok(series) => {
                    assert!(!refused.contains(&name.as_str()), "{name} should be refused");
                    assert!(series.report.bars > 0 && series.report.interval_ms.is_some(), "{}", series.report);
                }
                Err(e) => {
                    assert!(refused.contains(&name.as_str()), "{name} should load: {e}");
                    assert!(e.to_string().starts_with(&format!("{}:", path.display())), "{e}");
                }
            }
        }
    }
    assert_eq!(seen, 24, "SOURCES.md lists 24 data files");
}

// ---- hand-broken copies ----

/// Writes `lines` (joined with `\n`) to `name` in `dir`.
fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn read_lines(relative: &str) -> Vec<String> {
    std::fs::read_to_string(file(relative)).unwrap().lines().map(str::to_string).collect()
}

/// Replaces field `index` of the comma-separated `line`.
fn set_field(line: &str, index: usize, value: &str) -> String {
    let mut fields: Vec<&str> = line.split(',').collect();
    fields[index] = value;
    fields.join(",")
}

#[test]
fn broken_binance_copies_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let original = read_lines("binance-vision-um/FILUSDT-1m-2023-08.csv");

    // Line numbers are physical, counting the header as line 1.
    let mut bad_number = original.clone();
    bad_number[4] = set_field(&bad_number[4], 4, "abc");
    let path = write_lines(dir.path(), "FILUSDT-bad-number.csv", &bad_number);
    assert_eq!(
        load_err(&path, BadRowPolicy::Fail).to_string(),
        format!("{}:5: field close: \"abc\" is not a number", path.display())
    );

    let mut short = original.clone();
    short[6] = short[6].rsplit_once(',').unwrap().0.to_string();
    let path = write_lines(dir.path(), "FILUSDT-short.csv", &short);
    assert_eq!(
        load_err(&path, BadRowPolicy::Fail).to_string(),
        format!("{}:7: expected 12 fields, found 11", path.display())
    );

    let mut shuffled = original.clone();
    shuffled.swap(99, 100);
    let path = write_lines(dir.path(), "FILUSDT-shuffled.csv", &shuffled);
    let moved_back = utc(2023, 8, 1, 0, 98);
    assert_eq!(shuffled[100].split(',').next().unwrap(), moved_back.to_string());
    assert_eq!(
        load_err(&path, BadRowPolicy::Fail).to_string(),
        format!("{}:101: open_time 2023-08-01T01:38:00Z is before line 100 (out of order)", path.display())
    );

    // All breakages in one file: Skip keeps the rest and lists each line.
    let mut all = original.clone();
    all[4] = bad_number[4].clone();
    all[6] = short[6].clone();
    all.swap(99, 100);
    let (open, close) = (1.0, 1.5);
    all[2000] = format!(
        "{},{open},1.2,0.9,{close},10,{},0,0,0,0,0",
        utc(2023, 8, 1, 0, 0) + 1999 * MINUTE,
        utc(2023, 8, 1, 0, 0) + 1999 * MINUTE + 59_999
    );
    let path = write_lines(dir.path(), "FILUSDT-all.csv", &all);
    let series = skip(&path);
    let lines: Vec<usize> = series.report.skipped.iter().map(|i| i.line).collect();
    assert_eq!(lines, [5, 7, 101, 2001]);
    assert_eq!(series.report.skipped[3].message, "high 1.2 is below close 1.5");
    assert_eq!((series.report.rows, series.report.bars, series.bars.len()), (44_640, 44_636, 44_636));
    // Skipped minutes show up as gaps, never filled.
    assert_eq!((series.report.gaps, series.report.missing_bars), (4, 4));
    let text = series.report.to_string();
    assert!(text.contains("skipped 4 bad rows"), "{text}");
    assert!(text.contains("line 7: expected 12 fields, found 11"), "{text}");
}

#[test]
fn broken_generic_csv_high_below_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = read_lines("backtrader/orcl-1995-2014.txt");
    // Line 1812 is 2002-03-12; keep its date so only the prices are wrong.
    assert!(lines[1811].starts_with("2002-03-12,"));
    lines[1811] = "2002-03-12,2.2,2.1,2.0,2.3,2.3,100".to_string();
    let path = write_lines(dir.path(), "orcl.csv", &lines);
    let err = load_err(&path, BadRowPolicy::Fail);
    assert_eq!(err.to_string(), format!("{}:1812: high 2.1 is below close 2.3", path.display()));
    assert_eq!((err.file.as_path(), err.line), (path.as_path(), Some(1812)));
    let series = skip(&path);
    assert_eq!((series.report.bars, series.report.skipped.len()), (5035, 1));

    // Relative paths are shown as the user gave them.
    let err =
        LoadError { file: PathBuf::from("orcl.csv"), line: Some(1812), message: "high 2.1 is below close 2.3".into() };
    assert_eq!(err.to_string(), "orcl.csv:1812: high 2.1 is below close 2.3");
}

#[test]
fn broken_json_names_the_element() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(file("freqtrade/UNITTEST_BTC-1m.json")).unwrap();
    let mut rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(&text).unwrap();
    rows[100][2] = serde_json::json!(0.001); // high far below open and close
    let top = rows[100][1].as_f64().unwrap().max(rows[100][4].as_f64().unwrap());
    let top_name = if rows[100][4].as_f64().unwrap() >= rows[100][1].as_f64().unwrap() { "close" } else { "open" };
    rows.swap(200, 201);
    let path = dir.path().join("UNITTEST_BTC-1m.json");
    std::fs::write(&path, serde_json::to_string(&rows).unwrap()).unwrap();
    assert_eq!(
        load_err(&path, BadRowPolicy::Fail).to_string(),
        format!("{}:1: element [100]: high 0.001 is below {top_name} {top}", path.display())
    );
    let series = skip(&path);
    assert_eq!(series.report.skipped.len(), 2);
    assert!(series.report.skipped[1].message.starts_with("element [201]: open_time "), "{}", series.report);
    assert!(series.report.skipped[1].message.ends_with("is before element [200] (out of order)"), "{}", series.report);
    assert_eq!(series.bars.len(), 13_679);
}

#[test]
fn headerless_microsecond_and_forced_format_copies_give_the_same_bars() {
    let dir = tempfile::tempdir().unwrap();
    let original = load("binance-vision-um/FILUSDT-1m-2023-08.csv");
    let lines = read_lines("binance-vision-um/FILUSDT-1m-2023-08.csv");

    let path = write_lines(dir.path(), "FILUSDT-headerless.csv", &lines[1..]);
    let headerless = load_file(&path, &LoadOptions::default()).unwrap();
    assert_eq!(headerless.report.format, DataFormat::BinanceKlines);
    assert_eq!(headerless.bars, original.bars);

    let micros: Vec<String> = lines[1..]
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let open = format!("{}000", fields[0]);
            let close = format!("{}999", fields[6]);
            set_field(&set_field(line, 0, &open), 6, &close)
        })
        .collect();
    let path = write_lines(dir.path(), "FILUSDT-micros.csv", &micros);
    let converted = load_file(&path, &LoadOptions::default()).unwrap();
    assert_eq!(converted.bars, original.bars);
    assert_eq!(converted.report.notes, ["timestamps in microseconds converted to milliseconds"]);

    let path = file("binance-vision-um/FILUSDT-1m-2023-08.csv");
    let options =
        LoadOptions { format: Some(DataFormat::GenericCsv), symbol: Some("FIL".into()), ..LoadOptions::default() };
    let generic = load_file(&path, &options).unwrap();
    assert_eq!(generic.report.format, DataFormat::GenericCsv);
    assert_eq!(generic.bars.len(), original.bars.len());
    assert!(generic
        .bars
        .iter()
        .zip(&original.bars)
        .all(|(g, o)| &*g.symbol == "FIL" && ohlcv(g) == ohlcv(o) && g.open_time == o.open_time));
}

//! `trading-engine backtest` and `run` end to end: the built-in default
//! offline, a real Binance file checked by hand against its bars, bad
//! configs, graceful shutdown and the state-directory lock.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{engine, shared_data, spawn_paper_run, stderr, stdout, workspace, write_file};
use engine_core::sources::{load_file, LoadOptions};

fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().map(str::to_string).zip(r.unwrap().iter().map(str::to_string)).collect())
        .collect()
}

/// `backtest` of `ema_crossover.lua` on `data` through the shorthand.
fn backtest_ema_crossover(data: &Path, out: &Path) -> std::process::Output {
    let strategy = workspace().join("lua-strategies/ema_crossover.lua");
    let [strategy, data, out] = [strategy.as_path(), data, out].map(|p| p.to_str().unwrap().to_string());
    engine(&["backtest", "--strategy", &strategy, "--data", &data, "--output", &out])
}

#[test]
fn the_default_backtest_runs_offline_and_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let result = engine(&["backtest", "--output", out.to_str().unwrap()]);
    let text = stdout(&result);
    assert_eq!(result.status.code(), Some(0), "{text}\n{}", stderr(&result));
    assert!(text.contains("Total return") && text.contains("Sharpe ratio") && text.contains("Max drawdown"), "{text}");
    assert!(text.contains("SYNTH: 20000 bars"), "{text}");
    for file in ["summary.json", "trades.csv", "orders.csv", "fills.csv", "equity.csv", "report.html"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["strategies"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(summary["data"][0]["bars"], 20_000);
    assert!(summary["metrics"]["trades"].as_u64().unwrap() > 50);
    assert_eq!(summary["config"]["runners"][0]["symbol"], "SYNTH");
    assert_eq!(summary["status"], "completed");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<svg")
            && !html.contains("http://")
            && !html.contains("https://")
            && !html.contains("<script src")
    );
    // The equity curve has a point per bar, and trades add up to the P&L.
    assert_eq!(read_csv(&out.join("equity.csv")).len(), 20_000);
}

/// `ema_crossover.lua` on a real month of FILUSDT: every entry fills at the
/// open of the bar after the one the order was sent on (plus 1 bp of
/// slippage, within the bar), and pays the 4 bp taker fee.
#[test]
fn a_backtest_on_real_filusdt_data_trades_at_the_next_open_with_fees() {
    let data = shared_data("binance-vision-um/FILUSDT-1m-2023-08.csv");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fil");
    let result = backtest_ema_crossover(&data, &out);
    assert_eq!(result.status.code(), Some(0), "{}\n{}", stdout(&result), stderr(&result));
    assert!(stdout(&result).contains("FILUSDT: 44640 bars"), "{}", stdout(&result));
    let bars = load_file(&data, &LoadOptions::default()).unwrap().bars;
    // The bar after a given time (the data has gaps: not always +1 minute).
    let next_bar = |time: i64| bars.iter().find(|b| b.open_time > time).unwrap();
    let orders = read_csv(&out.join("orders.csv"));
    let fills = read_csv(&out.join("fills.csv"));
    let entries: Vec<_> = orders.iter().filter(|o| o["purpose"] == "entry" && o["status"] == "filled").collect();
    assert!(entries.len() > 20, "{} entries", entries.len());
    let mut capped = 0;
    for o in &entries {
        let submitted: i64 = o["submitted_ms"].parse().unwrap();
        let mut expected_bar = next_bar(submitted);
        let mut filled = 0.0;
        for f in fills.iter().filter(|f| f["order_id"] == o["id"]) {
            // Each fill on the next bar: the first after the decision, the
            // rest (when a thin bar's volume cap left some) on the bars after.
            let time: i64 = f["time_ms"].parse().unwrap();
            assert_eq!(time, expected_bar.open_time, "order {}: fills on consecutive bars", o["id"]);
            let price: f64 = f["price"].parse().unwrap();
            let bar = expected_bar;
            let expected = match o["side"].as_str() {
                "buy" => (bar.open * 1.0001).min(bar.high),
                _ => (bar.open * 0.9999).max(bar.low),
            };
            assert!((price - expected).abs() <= 1e-9 * expected, "order {}: {price} vs open {}", o["id"], bar.open);
            let quantity: f64 = f["quantity"].parse().unwrap();
            assert!(quantity <= bar.volume * 0.25 + 1e-12, "order {}: within 25 % of the bar's volume", o["id"]);
            let fee: f64 = f["fee"].parse().unwrap();
            assert!((fee - price * quantity * 4e-4).abs() <= 1e-12 * price.max(1.0), "order {}: fee {fee}", o["id"]);
            filled += quantity;
            expected_bar = next_bar(bar.open_time);
        }
        assert!((filled - 1.0).abs() < 1e-9, "order {}: filled {filled}", o["id"]);
        capped += usize::from(fills.iter().filter(|f| f["order_id"] == o["id"]).count() > 1);
    }
    eprintln!("{} entries, {capped} filled over several bars (thin volume)", entries.len());
    // Trades: net = gross − fees, and every entry is a trade.
    let trades = read_csv(&out.join("trades.csv"));
    assert_eq!(trades.len(), entries.len());
    for t in &trades {
        let (gross, fees, net): (f64, f64, f64) =
            (t["gross_pnl"].parse().unwrap(), t["fees"].parse().unwrap(), t["net_pnl"].parse().unwrap());
        assert!((gross - fees - net).abs() < 1e-9);
    }
}

fn config_error(body: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let strategy = workspace().join("lua-strategies/ema_crossover.lua");
    let csv = shared_data("binance-vision-um/FILUSDT-1m-2023-08.csv");
    let text = body.replace("STRATEGY", &strategy.display().to_string()).replace("CSV", &csv.display().to_string());
    let path = write_file(dir.path(), "bad.toml", &text);
    let out =
        engine(&["backtest", "--config", path.to_str().unwrap(), "--output", dir.path().join("o").to_str().unwrap()]);
    (out.status.code(), stderr(&out))
}

#[test]
fn bad_configs_get_one_clear_line_and_exit_2() {
    let runner =
        "[[runners]]\nsymbol = \"X\"\nstrategy = \"STRATEGY\"\nsource = { type = \"synthetic\", bars = 100 }\n";
    let cases = [
        (format!("{runner}[execution]\ntaker = 1\n"), "execution.taker: unknown field `taker`, expected one of"),
        (format!("{runner}[execution]\ninitial_capital = \"much\"\n"), "execution.initial_capital: invalid type: string"),
        (
            "[engine]\nmode = \"live\"\n[[runners]]\nsymbol = \"X\"\nstrategy = \"STRATEGY\"\nsource = { type = \"file\", path = \"CSV\" }\n[execution]\nmode = \"live\"\n".to_string(),
            "execution.mode = \"live\" sends real orders and needs live market data, but runners[0].source is historical (file)",
        ),
        (runner.replace("STRATEGY", "/nowhere/missing.lua"), "runners[0].strategy: /nowhere/missing.lua does not exist"),
    ];
    for (config, expected) in cases {
        let (code, err) = config_error(&config);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        assert!(err.contains("bad.toml"), "names the file: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
    }
    let missing = engine(&["backtest", "--config", "/nowhere/config.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nowhere/config.toml: cannot read the config file"), "{}", stderr(&missing));
}

#[test]
fn a_paper_run_stops_on_ctrl_c_writes_results_and_holds_its_state_lock() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_paper_run(dir.path(), 0.2, 6000);
    let out = dir.path().join("results");
    // Wait for the lock to be taken.
    let lock = dir.path().join("state/lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&lock).is_ok_and(|pid| !pid.is_empty()) {
        assert!(Instant::now() < deadline, "the first run never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = dir.path().join("paper.toml");
    let second = engine(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(2));
    let err = stderr(&second);
    assert!(err.contains("is locked by another run") && err.contains(&format!("pid {}", first.id())), "{err}");

    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: signalling the child we started.
    assert_eq!(unsafe { libc::kill(first.id() as i32, libc::SIGINT) }, 0);
    let output = first.wait_with_output().unwrap();
    let (text, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{text}\n{err}");
    assert!(err.contains("status ") && err.contains("SYNTH"), "status lines: {err}");
    assert!(text.contains("interrupted: results cover the bars processed so far"), "{text}");
    assert!(out.join("summary.json").is_file() && out.join("report.html").is_file());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        (summary["status"].as_str(), summary["errors"].as_array().map(Vec::len)),
        (Some("interrupted"), Some(0))
    );
    // The lock went with the process: a new run may start.
    let again = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(again.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
}

#[test]
fn a_period_that_selects_no_bar_is_refused_naming_the_data_span() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    for period in [["--from", "2099-01-01"], ["--to", "1999-01-01"]] {
        let out = engine(&["backtest", period[0], period[1], "--output", out_dir.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("backtest.toml: runners[0]: the period") && err.contains("selects none of its bars"),
            "{err}"
        );
        assert!(!out_dir.join("summary.json").exists(), "no results for a run that did not happen");
    }
}

/// Data without volume trades: the volume cap leaves alone the bars that
/// have none (it used to cap them at 0, so no entry ever filled), and the
/// loader's note about it is shown.
#[test]
fn a_file_without_volume_trades_and_says_it_has_no_volume() {
    let bars =
        load_file(&shared_data("binance-vision-um/FILUSDT-1m-2023-08.csv"), &LoadOptions::default()).unwrap().bars;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("timestamp,open,high,low,close\n");
    for b in &bars[..3_000] {
        csv += &format!("{},{},{},{},{}\n", b.open_time, b.open, b.high, b.low, b.close);
    }
    let data = write_file(dir.path(), "novol.csv", &csv);
    let out = dir.path().join("out");
    let result = backtest_ema_crossover(&data, &out);
    assert_eq!(result.status.code(), Some(0), "{}", stderr(&result));
    assert!(stderr(&result).contains("no volume column: volume set to 0"), "{}", stderr(&result));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["metrics"]["trades"].as_u64().unwrap() > 10, "{}", summary["metrics"]);
}

/// An output path that cannot be a directory is refused before the run,
/// in one line that says why once.
#[test]
fn an_unusable_output_directory_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, "not a directory").unwrap();
    for (output, why) in [(file.clone(), "afile is not a directory"), (file.join("below"), "afile is not a directory")]
    {
        let out = engine(&["backtest", "--output", output.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("output directory {}: ", output.display())) && err.contains(why), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
    }
    // A directory still to be made, under one that exists, is fine.
    let fresh = dir.path().join("new").join("results");
    let out = engine(&["backtest", "--to", "2024-01-02", "--output", fresh.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(fresh.join("summary.json").is_file());
}

#[test]
fn bad_flags_are_named_as_flags() {
    let cases: [(&[&str], &str); 6] = [
        (&["--speed", "0"], "--speed: must be a finite number above 0, got 0"),
        (&["--speed", "inf"], "--speed: must be a finite number above 0, got inf"),
        (&["--speed=-1"], "--speed: must be a finite number above 0, got -1"),
        (&["--speed", "-5"], "--speed: must be a finite number above 0, got -5"),
        (&["--from", "yesterday"], "--from: \"yesterday\" is not a time"),
        (&["--from", "2024-01-10", "--to", "2024-01-05"], "--from 2024-01-10 is after --to 2024-01-05"),
    ];
    for (flags, expected) in cases {
        let out = engine(&[&["backtest"], flags].concat());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(expected) && !err.contains("backtest.toml"), "{flags:?}: {err}");
    }
}

#[test]
fn a_mode_set_by_the_environment_is_blamed_on_its_variable() {
    let paper = workspace().join("config/paper.toml");
    for (args, expected) in [
        (vec!["backtest"], "engine.mode = \"paper\" (set by TRADING_ENGINE__ENGINE__MODE) trades live data"),
        (
            vec!["backtest", "--config", paper.to_str().unwrap()],
            "engine.mode is \"paper\" (set by TRADING_ENGINE__ENGINE__MODE): a backtest needs mode = \"backtest\"",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trading-engine"))
            .args(&args)
            .env("TRADING_ENGINE__ENGINE__MODE", "paper")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn the_shorthand_skips_bad_rows_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("time,open,high,low,close,volume\n");
    for i in 0..300 {
        let price = 100.0 + (i as f64 / 10.0).sin() * 5.0;
        let (high, low) = if i == 150 { (price - 1.0, price - 2.0) } else { (price + 1.0, price - 1.0) };
        csv += &format!("{},{price},{high},{low},{price},10\n", 1_700_000_000_000i64 + i * 60_000);
    }
    let data = write_file(dir.path(), "bars.csv", &csv);
    let strategy = workspace().join("lua-strategies/ema_crossover.lua");
    let out_dir = dir.path().join("out");
    let args = ["backtest", "--strategy", strategy.to_str().unwrap(), "--data", data.to_str().unwrap(), "-o"];
    let refused = engine(&[&args[..], &[out_dir.to_str().unwrap()]].concat());
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("bars.csv:152"), "{}", stderr(&refused));
    let skipped = engine(&[&args[..], &[out_dir.to_str().unwrap(), "--skip-bad-rows"]].concat());
    assert_eq!(skipped.status.code(), Some(0), "{}", stderr(&skipped));
    assert!(stderr(&skipped).contains("warning: runners[0].source:"), "{}", stderr(&skipped));
    assert!(stdout(&skipped).contains("BARS: 299 bars"), "{}", stdout(&skipped));
}

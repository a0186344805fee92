//! Recorded sessions through the command line: a paper run records by
//! default, its what-if replay with the same strategy is identical, the
//! default backtest recorded twice gives the same bytes, the tools answer,
//! bad requests exit 2, and a log that cannot be written halts trading.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{engine, spawn_paper_run, stderr, stdout, workspace};

/// Session ids under `dir`, oldest first.
fn sessions(dir: &Path) -> Vec<String> {
    let mut ids: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let manifest: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path.join("manifest.json")).unwrap()).unwrap();
            let started = manifest["started_at"].as_str().unwrap().to_string();
            (started, path.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

fn manifest(dir: &Path, id: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(id).join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn a_paper_session_is_recorded_and_replays_identically_through_the_historical_runner() {
    let dir = tempfile::tempdir().unwrap();
    let run = spawn_paper_run(dir.path(), 1.0, 12000);
    let strategy = workspace().join("lua-strategies/ema_crossover.lua");
    let sessions_dir = dir.path().join("sessions");
    // Let it trade a few hundred bars (200 a second), then stop it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sessions_dir.exists() || sessions(&sessions_dir).is_empty() {
        assert!(Instant::now() < deadline, "no session appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(2_500));
    // SAFETY: signalling the child we started.
    assert_eq!(unsafe { libc::kill(run.id() as i32, libc::SIGINT) }, 0);
    let output = run.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let paper = sessions(&sessions_dir).remove(0);
    let m = manifest(&sessions_dir, &paper);
    assert_eq!((m["kind"].as_str(), m["status"].as_str()), (Some("paper"), Some("interrupted")));
    let records = m["records"].as_u64().unwrap();
    assert!(records > 100, "{records} records");
    assert_eq!(m["strategies"][0]["file"].as_str().unwrap(), strategy.display().to_string());

    let dir_arg = sessions_dir.to_str().unwrap();
    let listed = engine(&["sessions", "--dir", dir_arg]);
    assert!(stdout(&listed).contains(&paper) && stdout(&listed).contains("interrupted"), "{}", stdout(&listed));

    // Replay: one line per record, state rebuilt from the log.
    let replay = engine(&["replay", "--session", &paper, "--dir", dir_arg]);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    assert_eq!(stdout(&replay).lines().count() as u64, records);
    let window = engine(&["replay", "--session", &paper, "--dir", dir_arg, "--from-seq", "40", "--to-seq", "49"]);
    let lines: Vec<String> = stdout(&window).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 10);
    assert!(lines[0].starts_with("#40 ") && lines[9].starts_with("#49 "), "{lines:?}");

    let inspect = engine(&["inspect-event", "--session", &paper, "--dir", dir_arg, "--sequence", "45", "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&inspect)).unwrap();
    assert_eq!(shown["event"]["seq"], 45);
    assert_eq!(shown["event"]["symbol"], "SYNTH");
    assert!(shown["state_changes"].as_array().is_some_and(|c| !c.is_empty()), "{shown}");

    // What-if with the same strategy: the historical runner on the recorded
    // bars decides exactly as the paper session did.
    let whatif_out = dir.path().join("whatif");
    let whatif = engine(&[
        "replay",
        "--session",
        &paper,
        "--dir",
        dir_arg,
        "--strategy",
        strategy.to_str().unwrap(),
        "--record",
        "--output",
        whatif_out.to_str().unwrap(),
    ]);
    assert_eq!(whatif.status.code(), Some(0), "{}", stderr(&whatif));
    assert!(whatif_out.join("summary.json").is_file() && whatif_out.join("trades.csv").is_file());
    let replayed = sessions(&sessions_dir).pop().unwrap();
    assert_ne!(replayed, paper);
    let same = engine(&["compare", "--session1", &paper, "--session2", &replayed, "--dir", dir_arg]);
    assert_eq!(same.status.code(), Some(0), "{}{}", stdout(&same), stderr(&same));
    assert!(stdout(&same).starts_with("identical"), "{}", stdout(&same));

    // Other parameters: a what-if that diverges, and compare says where.
    let other = engine(&[
        "replay",
        "--session",
        &paper,
        "--dir",
        dir_arg,
        "--param",
        "fast=5",
        "--record",
        "--output",
        whatif_out.to_str().unwrap(),
    ]);
    assert_eq!(other.status.code(), Some(0), "{}", stderr(&other));
    let changed = sessions(&sessions_dir).pop().unwrap();
    let differ = engine(&["compare", "--session1", &paper, "--session2", &changed, "--dir", dir_arg]);
    assert_eq!(differ.status.code(), Some(1));
    assert!(
        stdout(&differ).contains("first divergence at sequence 1, field after.indicators.names[0]"),
        "{}",
        stdout(&differ)
    );

    // Clear errors: a missing session, a sequence out of range.
    let missing = engine(&["replay", "--session", "no-such-session", "--dir", dir_arg]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no session no-such-session"), "{}", stderr(&missing));
    let beyond = (records + 1).to_string();
    let out_of_range = engine(&["inspect-event", "--session", &paper, "--dir", dir_arg, "--sequence", &beyond]);
    assert_eq!(out_of_range.status.code(), Some(2));
    assert!(stderr(&out_of_range).contains(&format!("has records 1 to {records}")), "{}", stderr(&out_of_range));
}

#[test]
fn the_default_backtest_recorded_twice_gives_identical_logs_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let run = Command::new(env!("CARGO_BIN_EXE_trading-engine"))
            .args(["backtest", "--record"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let sessions_dir = dir.path().join("sessions");
    let ids = sessions(&sessions_dir);
    assert_eq!(ids.len(), 2);
    let read = |id: &str| std::fs::read(sessions_dir.join(id).join("events.log")).unwrap();
    assert!(read(&ids[0]) == read(&ids[1]), "the two logs differ");
    let (a, b) = (manifest(&sessions_dir, &ids[0]), manifest(&sessions_dir, &ids[1]));
    assert_eq!(a["events_blake3"], b["events_blake3"]);
    assert_eq!(a["events_blake3"].as_str().map(str::len), Some(64), "a BLAKE3 digest in hex");
    assert_eq!(a["status"], "completed");
    let dir_arg = sessions_dir.to_str().unwrap();
    let same = engine(&["compare", "--session1", &ids[0], "--session2", &ids[1], "--dir", dir_arg]);
    assert_eq!(same.status.code(), Some(0));

    // Compare finds every round trip of trades.csv, those opened and closed
    // on one bar included; the one open at the end is told as open.
    let compared = engine(&["compare", "--session1", &ids[0], "--session2", &ids[1], "--dir", dir_arg, "--json"]);
    let compared: serde_json::Value = serde_json::from_str(&stdout(&compared)).unwrap();
    let trades = compared["first"]["trades"].as_array().unwrap();
    let mut csv_trades = csv::Reader::from_path(dir.path().join("results/backtest/trades.csv")).unwrap();
    let csv_header = csv_trades.headers().unwrap().clone();
    let csv_trades: Vec<csv::StringRecord> = csv_trades.records().map(Result::unwrap).collect();
    let csv_column = |name: &str| csv_header.iter().position(|h| h == name).unwrap();
    assert_eq!(trades.len(), csv_trades.len());
    for (trade, row) in trades.iter().zip(&csv_trades) {
        assert_eq!(trade["entry_time"].as_i64().unwrap().to_string(), row[csv_column("entry_time_ms")]);
        match trade["exit_time"].as_i64() {
            Some(exit) => assert_eq!(exit.to_string(), row[csv_column("exit_time_ms")]),
            None => assert_eq!(&row[csv_column("exit_reason")], "end_of_data"),
        }
    }
    assert!(csv_trades.iter().any(|r| &r[csv_column("bars_held")] == "0"), "a trade within one bar");

    // The same backtest stored otherwise (delta, snapshots every 1000
    // records, lz4, indicators recomputed) took the same steps.
    let strategy = workspace().join("lua-strategies/ema_crossover.lua");
    let config = std::fs::read_to_string(workspace().join("config/backtest.toml"))
        .unwrap()
        .replace("\"../lua-strategies/ema_crossover.lua\"", &format!("{:?}", strategy.display().to_string()));
    let config = common::write_file(
        dir.path(),
        "delta.toml",
        &format!(
            "{config}\n[events]\nrecord = true\ndir = \"sessions\"\nstorage = \"delta\"\nsnapshot_every = 1000\n\
             indicators = \"recompute\"\ncompression = \"lz4\"\n"
        ),
    );
    let run = Command::new(env!("CARGO_BIN_EXE_trading-engine"))
        .args(["backtest", "--config", config.to_str().unwrap(), "--output", "delta"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let delta = sessions(&sessions_dir).pop().unwrap();
    assert_eq!(manifest(&sessions_dir, &delta)["storage"], "delta");
    let across = engine(&["compare", "--session1", &ids[0], "--session2", &delta, "--dir", dir_arg]);
    assert_eq!(across.status.code(), Some(0), "{}{}", stdout(&across), stderr(&across));
    assert!(stdout(&across).starts_with("identical"), "{}", stdout(&across));

    let csv = dir.path().join("events.csv");
    let export =
        engine(&["export", "--session", &ids[0], "--dir", dir_arg, "--format", "csv", "-o", csv.to_str().unwrap()]);
    assert_eq!(export.status.code(), Some(0), "{}", stderr(&export));
    let mut rows = csv::Reader::from_path(&csv).unwrap();
    let headers = rows.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 20_000, "one row per bar of the default backtest");
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let fills = rows.iter().filter(|r| !r[column("fills")].is_empty()).count();
    assert!(fills > 100, "{fills} rows with fills");
    assert!(rows.iter().any(|r| r[column("outcome")].starts_with("enter ")));

    // User text, not Rust's debug forms.
    for outcome in rows.iter().map(|r| &r[column("outcome")]) {
        assert!(!["Some(", "None", "Long", "Short"].iter().any(|debug| outcome.contains(debug)), "{outcome}");
    }
    assert!(rows.iter().any(|r| r[column("outcome")].starts_with("update stop ")));
    let replay = engine(&["replay", "--session", &ids[0], "--dir", dir_arg]);
    let text = stdout(&replay);
    assert!(text.contains("| fill buy ") && text.contains("| fill sell "), "fills with their sides in lowercase");
    assert!(!["Some(", "None", "Buy", "Sell", "Long", "Short"].iter().any(|debug| text.contains(debug)));

    let jsonl = engine(&["export", "--session", &ids[0], "--dir", dir_arg]);
    let events: Vec<serde_json::Value> = stdout(&jsonl).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((events[0]["seq"].as_u64(), events[0]["symbol"].as_str()), (Some(1), Some("SYNTH")));
    // `ctx` is plain JSON; a setup shows in it, and inspect-event names
    // the changed field as the event does.
    let setup = events.iter().find(|e| e["after"]["ctx"]["setup"]["side"].is_string()).expect("a step with a setup");
    let seq = setup["seq"].as_u64().unwrap().to_string();
    let inspect = engine(&["inspect-event", "--session", &ids[0], "--dir", dir_arg, "--sequence", &seq]);
    assert_eq!(inspect.status.code(), Some(0), "{}", stderr(&inspect));
    let side = setup["after"]["ctx"]["setup"]["side"].to_string();
    assert!(stdout(&inspect).contains(&format!("  after.ctx.setup.side: null -> {side}")), "{}", stdout(&inspect));
    assert!(!stdout(&inspect).contains("\"Table\""), "{}", stdout(&inspect));
    let replayed = engine(&["replay", "--session", &ids[0], "--dir", dir_arg, "--format", "jsonl", "--from-seq", &seq]);
    let replayed: serde_json::Value = serde_json::from_str(stdout(&replayed).lines().next().unwrap()).unwrap();
    assert_eq!(replayed["after"]["ctx"], setup["after"]["ctx"]);
    // Steps only, whatever the storage: the delta session's snapshots are
    // how it is stored, not events.
    let delta_jsonl = engine(&["export", "--session", &delta, "--dir", dir_arg]);
    assert_eq!(stdout(&delta_jsonl).lines().count(), 20_000);
    for line in stdout(&delta_jsonl).lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event.get("snapshot").is_none() && event["symbol"] == "SYNTH", "{line}");
    }
}

#[test]
fn a_log_that_cannot_be_written_halts_trading() {
    let dir = tempfile::tempdir().unwrap();
    // Files may not grow past 1,000 blocks: the event log hits the limit
    // long before the 20,000 bars end.
    let bin = env!("CARGO_BIN_EXE_trading-engine");
    let run = Command::new("sh")
        .args(["-c", &format!("ulimit -f 1000 && exec {bin} backtest --record --output out")])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (text, err) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "{text}\n{err}");
    assert!(err.contains("event log failed") && err.contains("trading halted"), "{err}");
    assert!(text.contains("interrupted: results cover the bars processed so far"), "{text}");
    let sessions_dir = dir.path().join("sessions");
    let id = sessions(&sessions_dir).remove(0);
    let m = manifest(&sessions_dir, &id);
    assert_eq!(m["status"], "failed");
    assert!(m["error"].as_str().unwrap().contains("File too large"), "{m}");
    // What did reach the log reads back (a torn last record is cut off).
    let replay = engine(&["replay", "--session", &id, "--dir", sessions_dir.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    let lines = stdout(&replay).lines().count();
    assert!(lines > 500, "{lines} events readable");
    let bars: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("SYNTH: ")?.split(' ').next()?.parse().ok())
        .expect("the runner's bar count");
    assert!(bars < 20_000, "trading went on to bar {bars}");
}

/// A small backtest recorded in `dir/sessions` with a copy of
/// `ema_crossover.lua` in `dir`; returns its session id and the copy.
fn record_small_backtest(dir: &Path) -> (String, std::path::PathBuf) {
    let strategy = dir.join("ema_copy.lua");
    std::fs::copy(workspace().join("lua-strategies/ema_crossover.lua"), &strategy).unwrap();
    let config = common::write_file(
        dir,
        "small.toml",
        &format!(
            "[[runners]]\nsymbol = \"SYNTH\"\nstrategy = {:?}\n\
             source = {{ type = \"synthetic\", seed = 7, bars = 600, interval = \"1m\" }}\n\
             [events]\nrecord = true\ndir = \"sessions\"\n",
            strategy.display().to_string()
        ),
    );
    let run = Command::new(env!("CARGO_BIN_EXE_trading-engine"))
        .args(["backtest", "--config", config.to_str().unwrap(), "--output", "small"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    (sessions(&dir.join("sessions")).pop().unwrap(), strategy)
}

#[test]
fn replay_refuses_ranges_speeds_and_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _) = record_small_backtest(dir.path());
    let sessions_dir = dir.path().join("sessions");
    let dir_arg = sessions_dir.to_str().unwrap();
    let last = manifest(&sessions_dir, &id)["last_seq"].as_u64().unwrap();
    let replay = |extra: &[&str]| {
        let mut args = vec!["replay", "--session", &id, "--dir", dir_arg];
        args.extend_from_slice(extra);
        engine(&args)
    };
    let refused = |extra: &[&str], expected: &str| {
        let out = replay(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(expected), "{extra:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{extra:?}: one line: {}", stderr(&out));
    };
    refused(&["--from-seq", "10", "--to-seq", "5"], "--from-seq 10 is after --to-seq 5");
    let beyond = (last + 1).to_string();
    refused(
        &["--to-seq", &beyond],
        &format!("--to-seq: sequence {beyond} is out of range: session {id} has records 1 to {last}"),
    );
    refused(&["--from-seq", &beyond], "--from-seq: sequence");
    // A time window wholly outside the session, like a sequence out of range.
    refused(&["--from-time", "2100-01-01"], "--from-time 2100-01-01T00:00:00.000Z is after the last record: session");
    refused(&["--to-time", "1990-01-01"], "--to-time 1990-01-01T00:00:00.000Z is before the first record: session");
    let first_time = manifest(&sessions_dir, &id)["first_time"].as_i64().unwrap().to_string();
    let from_first = replay(&["--to-time", &first_time]);
    assert_eq!(from_first.status.code(), Some(0), "{}", stderr(&from_first));
    assert!(stdout(&from_first).starts_with("#1 "), "{}", stdout(&from_first));
    for (speed, shown) in [("0", "0"), ("-1", "-1"), ("nan", "NaN"), ("inf", "inf")] {
        refused(&["--speed", speed], &format!("--speed: must be a finite number above 0, got {shown}"));
    }
    // A pace so slow it cannot be represented neither panics nor delays the first event.
    let crawl = replay(&["--speed", "1e-300", "--from-seq", "3", "--to-seq", "3"]);
    assert_eq!(crawl.status.code(), Some(0), "{}", stderr(&crawl));
    assert!(stdout(&crawl).starts_with("#3 "), "{}", stdout(&crawl));
    let window = replay(&["--from-seq", "3", "--to-seq", &last.to_string(), "--speed", "1e300"]);
    assert_eq!(stdout(&window).lines().count() as u64, last - 2);

    // A what-if runs on every recorded bar: a replay's range, pace and
    // format are refused rather than ignored, and so is a nameless param.
    for flag in
        [["--from-seq", "3"], ["--to-seq", "9"], ["--speed", "2"], ["--format", "jsonl"], ["--from-time", "2024-01-01"]]
    {
        let mut extra = vec!["--param", "fast=5"];
        extra.extend_from_slice(&flag);
        refused(&extra, &format!("{} is for replaying the recorded events, not for a what-if", flag[0]));
    }
    refused(&["--param", "=3"], "--param =3: the parameter name is empty");
    refused(&["--record"], "--record is for a what-if");
    refused(&["--output", "x"], "--output is for a what-if");
}

#[test]
fn a_what_if_on_an_edited_strategy_warns_with_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let (id, strategy) = record_small_backtest(dir.path());
    let sessions_dir = dir.path().join("sessions");
    let recorded = manifest(&sessions_dir, &id)["strategies"][0]["sha256"].as_str().unwrap().to_string();
    let whatif = |extra: &[&str]| {
        let mut args = vec!["replay", "--session", &id, "--dir", sessions_dir.to_str().unwrap(), "--output", "whatif"];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_trading-engine")).args(args).current_dir(dir.path()).output().unwrap()
    };
    let unchanged = whatif(&["--param", "fast=5"]);
    assert_eq!(unchanged.status.code(), Some(0), "{}", stderr(&unchanged));
    assert!(!stderr(&unchanged).contains("warning"), "{}", stderr(&unchanged));

    let mut source = std::fs::read_to_string(&strategy).unwrap();
    source.push_str("\n-- edited after the session\n");
    std::fs::write(&strategy, &source).unwrap();
    let now = engine_core::content_hash::sha256_hex(source.as_bytes());
    for run in [whatif(&["--param", "fast=5"]), whatif(&["--strategy", strategy.to_str().unwrap()])] {
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        let err = stderr(&run);
        let warning: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
        assert_eq!(warning.len(), 1, "{err}");
        assert!(warning[0].contains(&strategy.display().to_string()), "{}", warning[0]);
        assert!(warning[0].contains(&recorded[..12]) && warning[0].contains(&now[..12]), "{}", warning[0]);
    }
}

#[test]
fn every_failure_of_the_session_tools_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _) = record_small_backtest(dir.path());
    let sessions_dir = dir.path().join("sessions");
    let dir_arg = sessions_dir.to_str().unwrap();
    // A copy with a byte flipped in the middle of its log.
    let broken = format!("{id}-broken");
    std::fs::create_dir(sessions_dir.join(&broken)).unwrap();
    for file in ["manifest.json", "events.log"] {
        std::fs::copy(sessions_dir.join(&id).join(file), sessions_dir.join(&broken).join(file)).unwrap();
    }
    let log = sessions_dir.join(&broken).join("events.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&log, bytes).unwrap();
    let last = manifest(&sessions_dir, &id)["last_seq"].as_u64().unwrap().to_string();
    let runs: [&[&str]; 5] = [
        &["export", "--session", &broken, "--dir", dir_arg],
        &["export", "--session", &broken, "--dir", dir_arg, "--format", "csv"],
        &["replay", "--session", &broken, "--dir", dir_arg],
        &["inspect-event", "--session", &broken, "--dir", dir_arg, "--sequence", &last],
        &["compare", "--session1", &id, "--session2", &broken, "--dir", dir_arg],
    ];
    for args in runs {
        let out = engine(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("events.log"), "{args:?} names the log: {}", stderr(&out));
    }
    // compare: 0 same, 1 differ, 2 error.
    let same = engine(&["compare", "--session1", &id, "--session2", &id, "--dir", dir_arg]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let missing = engine(&["compare", "--session1", &id, "--session2", "nope", "--dir", dir_arg]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn a_killed_run_is_listed_as_crashed_with_the_records_of_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = spawn_paper_run(dir.path(), 1.0, 12000);
    let sessions_dir = dir.path().join("sessions");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sessions_dir.exists() || sessions(&sessions_dir).is_empty() {
        assert!(Instant::now() < deadline, "no session appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = sessions(&sessions_dir).remove(0);
    let dir_arg = sessions_dir.to_str().unwrap();
    let listed = |id: &str| -> serde_json::Value {
        let out = engine(&["sessions", "--dir", dir_arg, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|s| s["session_id"] == id)
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(listed(&id)["status"], "running", "its writer is alive");
    run.kill().unwrap();
    run.wait().unwrap();
    assert_eq!(manifest(&sessions_dir, &id)["status"], "running", "the manifest never heard of the end");
    let replay = engine(&["replay", "--session", &id, "--dir", dir_arg]);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    let readable = stdout(&replay).lines().count() as u64;
    assert!(readable > 50, "{readable} records");
    let shown = listed(&id);
    assert_eq!((shown["status"].as_str(), shown["records"].as_u64()), (Some("crashed"), Some(readable)));
    let table = stdout(&engine(&["sessions", "--dir", dir_arg]));
    let row = table.lines().find(|l| l.starts_with(&id)).unwrap();
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((columns[2], columns[4]), ("crashed", readable.to_string().as_str()), "{row}");
}

#[test]
fn a_session_without_its_manifest_names_the_file_and_the_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("lost");
    std::fs::create_dir_all(&session).unwrap();
    std::fs::write(session.join("events.log"), b"").unwrap();
    let out = engine(&["replay", "--dir", dir.path().to_str().unwrap(), "--session", "lost"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lost/manifest.json: No such file or directory"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "the cause once: {err}");
}

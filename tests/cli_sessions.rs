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
    assert_eq!(a["events_sha256"], b["events_sha256"]);
    assert_eq!(a["status"], "completed");
    let dir_arg = sessions_dir.to_str().unwrap();
    let same = engine(&["compare", "--session1", &ids[0], "--session2", &ids[1], "--dir", dir_arg]);
    assert_eq!(same.status.code(), Some(0));

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

    let jsonl = engine(&["export", "--session", &ids[0], "--dir", dir_arg]);
    let first: serde_json::Value = serde_json::from_str(stdout(&jsonl).lines().next().unwrap()).unwrap();
    assert_eq!((first["seq"].as_u64(), first["symbol"].as_str()), (Some(1), Some("SYNTH")));
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

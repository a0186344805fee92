//! The `trading-engine` binary, driven as a user drives it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use common::{engine, shared_data, stderr, stdout, workspace, write_file};

/// The sidecar built by dune, once per test run (so a stale binary is never
/// used, and concurrent tests do not race for dune's build lock).
fn sidecar() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = workspace().join("ocaml-indicators");
            let out = Command::new("dune").args(["build", "--root"]).arg(&root).output();
            match out {
                Ok(out) => {
                    assert!(out.status.success(), "dune build failed:\n{}", String::from_utf8_lossy(&out.stderr))
                }
                Err(e) => panic!("dune not runnable ({e}): run bash tests/run-all, which installs OCaml"),
            }
            root.join("_build/default/bin/sidecar.exe")
        })
        .clone()
}

#[test]
fn list_shows_every_indicator_with_parameters_and_outputs() {
    let out = engine(&["indicators", "--list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for name in [
        "sma",
        "ema",
        "wma",
        "rsi",
        "macd",
        "bollinger",
        "atr",
        "vwap",
        "vwap_session",
        "stoch",
        "adx",
        "obv",
        "cci",
        "willr",
        "roc",
        "stddev",
    ] {
        assert!(text.lines().any(|l| l.split_whitespace().next() == Some(name)), "{name} missing from:\n{text}");
    }
    let macd = text.lines().find(|l| l.starts_with("macd ")).unwrap();
    assert!(macd.contains("fast=12, slow=26, signal=9") && macd.contains("line, signal, hist"), "{macd}");
}

#[test]
fn compute_on_the_default_synthetic_data() {
    let out = engine(&["indicators", "compute", "--synthetic", "bars=300", "-i", "ema:20", "-i", "macd:12,26,9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "open_time,ema(20),macd(12,26,9).line,macd(12,26,9).signal,macd(12,26,9).hist");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 300);
    // Warm-up: ema(20) from bar 19, the MACD line from 25, signal and histogram from 33.
    assert_eq!(rows[18][1], "");
    assert_ne!(rows[19][1], "");
    assert_eq!((rows[24][2], !rows[25][2].is_empty()), ("", true));
    assert_eq!((rows[32][3], !rows[33][3].is_empty(), !rows[33][4].is_empty()), ("", true, true));
    // Values round-trip: the histogram is exactly line minus signal.
    let last = &rows[299];
    let (line, signal, hist): (f64, f64, f64) =
        (last[2].parse().unwrap(), last[3].parse().unwrap(), last[4].parse().unwrap());
    assert_eq!(hist, line - signal);
}

#[test]
fn compute_writes_json_and_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.json");
    let out = engine(&[
        "indicators",
        "compute",
        "--synthetic",
        "bars=50,seed=3",
        "-i",
        "sma:10",
        "--format",
        "json",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert!(rows[8]["sma(10)"].is_null());
    assert!(rows[9]["sma(10)"].is_f64());
    // Nothing but the output is left in the directory (no temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn bad_indicator_specs_exit_2_with_a_clear_message() {
    for (spec, expected) in [("ema:0", "period"), ("ema:abc", "abc"), ("nosuch:3", "nosuch"), ("macd:1,2,3,4", "macd")]
    {
        let out = engine(&["indicators", "compute", "--synthetic", "bars=10", "-i", spec]);
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{spec}: {err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn bad_data_is_reported_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let orcl = std::fs::read_to_string(shared_data("backtrader/orcl-1995-2014.txt")).unwrap();
    let mut lines: Vec<String> = orcl.lines().map(String::from).collect();
    // Line 1812 of the file (header = line 1): make the high fall below the close.
    let fields: Vec<&str> = lines[1811].split(',').collect();
    let close: f64 = fields[4].parse().unwrap();
    let broken_high = close - 0.2;
    lines[1811] =
        format!("{},{},{},{},{},{},{}", fields[0], fields[1], broken_high, fields[3], fields[4], fields[5], fields[6]);
    let path = write_file(dir.path(), "orcl.csv", &(lines.join("\n") + "\n"));
    let out = engine(&["indicators", "compute", "--data", path.to_str().unwrap(), "-i", "ema:5"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("orcl.csv:1812: high {broken_high} is below close {close}")), "{err}");
    assert!(stdout(&out).is_empty(), "no partial output on bad data");

    // Skipping: the bad row is dropped and reported, the rest computed.
    let out = engine(&["data", "check", "--data", path.to_str().unwrap(), "--skip-bad-rows"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1812"), "{}", stdout(&out));
}

#[test]
fn data_check_reports_real_files() {
    let out = engine(&["data", "check", "--data", shared_data("freqtrade/UNITTEST_BTC-1m.json").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("13681") || report.contains("13,681"), "{report}");
    assert!(report.contains("538"), "gaps reported: {report}");

    let out = engine(&["data", "check", "--data", shared_data("freqtrade/public_trades_list.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("public_trades_list.csv"), "{}", stderr(&out));
}

#[test]
fn generated_data_loads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["binance", "csv", "json"] {
        let file = dir.path().join(format!("synth.{format}"));
        let out = engine(&[
            "data",
            "generate",
            "--synthetic",
            "seed=11,bars=500,interval=5m",
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        let direct = engine(&["indicators", "compute", "--synthetic", "seed=11,bars=500,interval=5m", "--all"]);
        let from_file = engine(&["indicators", "compute", "--data", file.to_str().unwrap(), "--all"]);
        assert!(from_file.status.success(), "{format}: {}", stderr(&from_file));
        assert_eq!(stdout(&direct), stdout(&from_file), "{format}: values differ after a round trip through the file");
    }
}

#[test]
fn backend_both_cross_checks_every_indicator_on_real_binance_data() {
    let sidecar = sidecar();
    let out = engine(&[
        "indicators",
        "compute",
        "--data",
        shared_data("binance-vision-um/FILUSDT-1m-2023-08.csv").to_str().unwrap(),
        "--all",
        "--backend",
        "both",
        "--sidecar",
        sidecar.to_str().unwrap(),
        "-o",
        "/dev/null",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("summary: 23 passed, 0 failed, 0 unverified"), "{err}");
}

#[test]
fn backend_ocaml_prints_the_same_values_as_native() {
    let sidecar = sidecar();
    let args = ["indicators", "compute", "--synthetic", "bars=2000,seed=4", "--all"];
    let native = engine(&args);
    let mut with_ocaml: Vec<&str> = args.to_vec();
    with_ocaml.extend(["--backend", "ocaml", "--sidecar", sidecar.to_str().unwrap()]);
    let ocaml = engine(&with_ocaml);
    assert!(ocaml.status.success(), "{}", stderr(&ocaml));
    let (a, b) = (stdout(&native), stdout(&ocaml));
    assert_eq!(a.lines().count(), b.lines().count());
    let mut compared = 0;
    for (x, y) in a.lines().zip(b.lines()).skip(1) {
        for (u, v) in x.split(',').zip(y.split(',')) {
            if u != v {
                let (u, v): (f64, f64) = (u.parse().unwrap(), v.parse().unwrap());
                assert!((u - v).abs() <= 1e-9 * u.abs().max(v.abs()).max(1e-3), "{u} vs {v}");
            }
            compared += 1;
        }
    }
    assert!(compared > 2000 * 20);
}

/// A stand-in sidecar that misbehaves on its first start (hangs or dies),
/// then runs the real one: the run must finish, report the affected
/// columns unverified, restart the sidecar and check the rest.
fn flaky_sidecar(dir: &Path, first_start: &str) -> PathBuf {
    let marker = dir.join("started-once");
    let path = dir.join("flaky-sidecar");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(
        f,
        "#!/bin/sh\nif [ ! -e {m} ]; then touch {m}; {first_start}; fi\nexec {real} \"$@\"",
        m = marker.display(),
        real = sidecar().display()
    )
    .unwrap();
    drop(f);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn run_with_flaky_sidecar(first_start: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let flaky = flaky_sidecar(dir.path(), first_start);
    engine(&[
        "indicators",
        "compute",
        "--synthetic",
        "bars=3000",
        "-i",
        "ema:20",
        "-i",
        "rsi:14",
        "-i",
        "macd:12,26,9",
        "--backend",
        "both",
        "--sidecar",
        flaky.to_str().unwrap(),
        "--sidecar-timeout",
        "1",
        "-o",
        "/dev/null",
    ])
}

#[test]
fn a_hanging_sidecar_leaves_its_request_unverified_and_the_run_finishes() {
    let out = run_with_flaky_sidecar("sleep 600");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("summary: 4 passed, 0 failed, 1 unverified"), "{err}");
    assert!(err.contains("ema(20)") && err.contains("did not answer"), "{err}");
}

#[test]
fn a_crashing_sidecar_leaves_its_request_unverified_and_the_run_finishes() {
    let out = run_with_flaky_sidecar("read -r line; exit 9");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("summary: 4 passed, 0 failed, 1 unverified"), "{err}");
    assert!(err.contains("UNVERIFIED"), "{err}");
}

#[test]
fn a_real_difference_fails_the_cross_check_with_exit_4() {
    // The sidecar is asked for ema(21) whenever the engine asks for ema(20):
    // its values genuinely differ, and the check must say so.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skewed-sidecar");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nsed -u 's/\"params\":\\[20.0\\]/\"params\":[21.0]/' | {} \"$@\"\n", sidecar().display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = engine(&[
        "indicators",
        "compute",
        "--synthetic",
        "bars=500",
        "-i",
        "ema:20",
        "-i",
        "rsi:14",
        "--backend",
        "both",
        "--sidecar",
        path.to_str().unwrap(),
        "-o",
        "/dev/null",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("summary: 1 passed, 1 failed, 0 unverified"), "{err}");
    let ema_row = err.lines().find(|l| l.starts_with("ema(20)")).unwrap();
    assert!(ema_row.contains("FAILED"), "{ema_row}");
}

#[test]
fn json_log_format() {
    let out = engine(&["--log-format", "json", "indicators", "compute", "--synthetic", "bars=30", "-i", "sma:5"]);
    assert!(out.status.success());
    let first = stderr(&out).lines().next().unwrap().to_string();
    let log: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(log["level"], "INFO");
}

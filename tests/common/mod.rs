//! Helpers shared by the CLI tests: run the binary, read its output, find data.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn engine(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trading-engine"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("running trading-engine")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of `shared/data`: under `$TRADING_ENGINE_SHARED`, or `../shared`
/// beside the workspace.
pub fn shared_data(file: &str) -> PathBuf {
    let shared =
        std::env::var_os("TRADING_ENGINE_SHARED").map(PathBuf::from).unwrap_or_else(|| workspace().join("../shared"));
    let path = shared.join("data").join(file);
    assert!(
        path.is_file(),
        "real market data missing: {} (clone beside `shared/`, or set TRADING_ENGINE_SHARED)",
        path.display()
    );
    path
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `run` on a paper config in `dir`: `ema_crossover.lua` on one
/// synthetic symbol (one-minute bars at `speed` times real time), state
/// in `dir/state`, sessions in `dir/sessions`, results in `dir/results`.
pub fn spawn_paper_run(dir: &Path, status_interval_s: f64, speed: u32) -> Child {
    let strategy = workspace().join("lua-strategies/ema_crossover.lua");
    let config = write_file(
        dir,
        "paper.toml",
        &format!(
            "[engine]\nmode = \"paper\"\nstatus_interval_s = {status_interval_s}\nstate_dir = \"state\"\n\
             [[runners]]\nsymbol = \"SYNTH\"\nstrategy = {:?}\n\
             source = {{ type = \"live_synthetic\", interval = \"1m\", speed = {speed} }}\n\
             [events]\ndir = \"sessions\"\n",
            strategy.display().to_string()
        ),
    );
    let out = dir.join("results");
    Command::new(env!("CARGO_BIN_EXE_trading-engine"))
        .args(["run", "--config", config.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

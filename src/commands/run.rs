//! `trading-engine run`: paper or live trading until Ctrl-C or the end of
//! the data, with status lines, hot reload of strategies, and a lock on the
//! state directory so two runs cannot trade the same state.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine_core::config::{Config, EngineMode};

use super::session::{execute, SessionOptions};
use super::BadInput;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The run's config (TOML, docs/config.md), e.g. config/paper.toml.
    #[arg(long, value_name = "FILE.toml")]
    config: PathBuf,
    /// Where the results go when the run ends (default: results/<config name>).
    #[arg(long, short, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Start with the kill switch engaged (no entries).
    #[arg(long)]
    kill_switch: bool,
    /// Do not reload strategy files when they change.
    #[arg(long)]
    no_reload: bool,
    /// Do not record the session's event log (recorded by default; also
    /// `record = false` in the config's [events]).
    #[arg(long)]
    no_record: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let config = Config::load(&args.config).map_err(|e| BadInput(e.to_string()))?;
    let name = args.config.display().to_string();
    if config.engine.mode == EngineMode::Backtest {
        return Err(BadInput(format!(
            "{name}: engine.mode is \"backtest\": `run` trades live data (mode = \"paper\"); use `trading-engine backtest`"
        ))
        .into());
    }
    let stem = args.config.file_stem().map_or("run".into(), |s| s.to_string_lossy().into_owned());
    let state_dir = config.engine.state_dir.clone().unwrap_or_else(|| PathBuf::from("state").join(&stem));
    let _lock = StateLock::acquire(&state_dir)?;
    let output = args
        .output
        .clone()
        .or_else(|| config.engine.output.clone())
        .unwrap_or_else(|| PathBuf::from("results").join(&stem));
    eprintln!("running {name} (Ctrl-C to stop; SIGUSR1 engages the kill switch)");
    let record = !args.no_record && config.events.record.unwrap_or(true);
    execute(
        config,
        SessionOptions {
            hot_reload: !args.no_reload,
            kill_switch: args.kill_switch,
            output,
            config_name: name,
            record,
            bars: None,
        },
    )
}

/// An exclusive `flock` on `<state dir>/lock`, held while the run lasts
/// (released by the OS however the process ends).
struct StateLock {
    _file: File,
}

impl StateLock {
    fn acquire(dir: &Path) -> anyhow::Result<StateLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the state directory {}", dir.display()))?;
        let path = dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let who = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
            return Err(BadInput(format!(
                "{} is locked by another run{who}: one run per state directory (set engine.state_dir to run another)",
                dir.display()
            ))
            .into());
        }
        file.set_len(0).context("writing the lock file")?;
        write!(file, "{}", std::process::id()).context("writing the lock file")?;
        Ok(StateLock { _file: file })
    }
}

//! `trading-engine replay`: a recorded session event by event, as it was
//! (its state rebuilt from the log, no strategy run), or what-if: another
//! strategy or other parameters on the session's recorded bars through
//! the normal historical runner.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use engine_core::backtest::rfc3339_ms;
use engine_core::config::{parse_time, Config, EngineMode};
use engine_core::engine::Pacer;
use engine_core::events::codec::Entry;
use engine_core::events::compare::entry_json;
use engine_core::events::session::SessionReader;

use super::session::{execute, SessionOptions};
use super::sessions::SessionArgs;
use super::BadInput;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Pace the events at N times the pace of their market times (unset:
    /// as fast as possible).
    #[arg(long, value_name = "N")]
    speed: Option<f64>,
    /// Start at this sequence number (found through the log's index).
    #[arg(long, value_name = "N", conflicts_with = "from_time")]
    from_seq: Option<u64>,
    /// Stop after this sequence number.
    #[arg(long, value_name = "N")]
    to_seq: Option<u64>,
    /// Start at the first event at or after this market time (2024-01-31,
    /// 2024-01-31T12:00:00Z or epoch ms).
    #[arg(long, value_name = "TIME")]
    from_time: Option<String>,
    /// Stop after this market time.
    #[arg(long, value_name = "TIME")]
    to_time: Option<String>,
    /// Print one line per event (text) or the whole events (jsonl).
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    format: ReplayFormat,
    /// What-if: run this strategy instead, on the session's recorded bars,
    /// and write a normal backtest output.
    #[arg(long, value_name = "FILE.lua")]
    strategy: Option<PathBuf>,
    /// What-if: a strategy parameter, `name=value` (a TOML value: 20, 1.5,
    /// true, "text"); repeatable; replaces the recorded one.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// What-if: where the backtest output goes (default: results/whatif-<session>).
    #[arg(long, short, value_name = "DIR")]
    output: Option<PathBuf>,
    /// What-if: record the what-if run as a session of its own.
    #[arg(long)]
    record: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    Text,
    Jsonl,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    let reader = args.session.open()?;
    if args.strategy.is_some() || !args.params.is_empty() {
        return what_if(&args, reader);
    }
    replay(&args, reader)
}

/// Rebuilds and prints the session's state event by event.
fn replay(args: &ReplayArgs, mut reader: SessionReader) -> anyhow::Result<u8> {
    let time_arg = |t: &Option<String>, flag: &str| -> anyhow::Result<Option<i64>> {
        t.as_deref().map(|t| parse_time(t).map_err(|e| BadInput(format!("{flag}: {e}")).into())).transpose()
    };
    let (from_time, to_time) = (time_arg(&args.from_time, "--from-time")?, time_arg(&args.to_time, "--to-time")?);
    if let Some(seq) = args.from_seq {
        reader.seek_seq(seq).map_err(|e| BadInput(e.to_string()))?;
    } else if let Some(time) = from_time {
        reader.seek_time(time).context("seeking by time")?;
    }
    let mut pacer = Pacer::new(args.speed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Some(event) = reader.advance()? {
        if args.to_seq.is_some_and(|last| event.seq > last) || to_time.zip(event.time()).is_some_and(|(t, e)| e > t) {
            break;
        }
        if let Some(delay) = event.time().and_then(|t| pacer.delay(t)) {
            out.flush()?;
            std::thread::sleep(delay);
        }
        match args.format {
            ReplayFormat::Jsonl => serde_json::to_writer(&mut out, &entry_json(event.seq, &event.entry))?,
            ReplayFormat::Text => write!(out, "{}", text_line(event.seq, &event.entry))?,
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(0)
}

/// `#12 2024-01-01T00:11:00.000Z BTCUSDT watch -> close_watch | pos 0 cash 10000.00 equity 10000.00 | detect_opportunity: setup (cross up)`
pub fn text_line(seq: u64, entry: &Entry) -> String {
    let step = match entry {
        Entry::Step(step) => step,
        Entry::Snapshot(symbols) => return format!("#{seq} snapshot of {} symbols", symbols.len()),
    };
    let a = &step.after;
    let mut line = format!(
        "#{seq} {} {} {}{} | pos {} cash {:.2} equity {:.2}",
        rfc3339_ms(step.time).unwrap_or_else(|| step.time.to_string()),
        step.symbol,
        step.before,
        if a.state == step.before { String::new() } else { format!(" -> {}", a.state) },
        a.position,
        a.account.cash,
        a.account.equity
    );
    if let Some(d) = &step.decision {
        line += &format!(" | {}: {}", d.callback.as_str(), d.outcome);
    }
    for f in &step.fills {
        line += &format!(" | fill {:?} {} @ {}", f.side, f.quantity, f.price);
    }
    line
}

/// Another strategy or other parameters on the recorded bars.
fn what_if(args: &ReplayArgs, mut reader: SessionReader) -> anyhow::Result<u8> {
    let manifest = reader.manifest().clone();
    let mut config: Config = serde_json::from_value(manifest.config.clone())
        .map_err(|e| BadInput(format!("session {}: its recorded config does not load: {e}", manifest.session_id)))?;
    config.engine.mode = EngineMode::Backtest;
    config.engine.speed = None;
    config.engine.output = None;
    config.events.record = Some(args.record);
    let mut params = toml::Table::new();
    for p in &args.params {
        let (name, value) = p.split_once('=').ok_or_else(|| BadInput(format!("--param {p}: expected NAME=VALUE")))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        params.insert(name.trim().to_string(), value);
    }
    for runner in &mut config.runners {
        if let Some(strategy) = &args.strategy {
            if !strategy.is_file() {
                return Err(BadInput(format!("--strategy {}: no such file", strategy.display())).into());
            }
            runner.strategy = strategy.clone();
        }
        runner.params.extend(params.clone());
    }
    let bars: BTreeMap<String, Vec<engine_core::market_data::Bar>> =
        reader.bars_by_symbol().context("reading the recorded bars")?;
    let output =
        args.output.clone().unwrap_or_else(|| PathBuf::from("results").join(format!("whatif-{}", manifest.session_id)));
    eprintln!(
        "what-if on session {}: {} bars of {} recorded",
        manifest.session_id,
        bars.values().map(Vec::len).sum::<usize>(),
        bars.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    execute(
        config,
        SessionOptions {
            hot_reload: false,
            kill_switch: false,
            output,
            config_name: format!("whatif-{}", manifest.session_id),
            record: args.record,
            bars: Some(bars),
        },
    )
}

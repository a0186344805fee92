//! `trading-engine replay`: a recorded session event by event, as it was
//! (its state rebuilt from the log, no strategy run), or what-if: another
//! strategy or other parameters on the session's recorded bars through
//! the normal historical runner.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine_core::backtest::rfc3339_ms;
use engine_core::config::{parse_time, Config, EngineMode};
use engine_core::content_hash::sha256_hex;
use engine_core::engine::{check_speed, Pacer};
use engine_core::events::codec::Entry;
use engine_core::events::session::{Manifest, SessionReader};
use engine_core::events::view::{entry_json, fill_text, quantity_text};

use super::session::{execute, SessionOptions};
use super::sessions::{tool_error, SessionArgs};
use super::BadInput;

/// Replays a session as recorded; with `--strategy` or `--param`, runs a
/// what-if instead. The range, pace and format flags are for the replay of
/// the recorded events and are refused with a what-if (which runs on every
/// recorded bar and writes a backtest output; record it with `--record`
/// and replay that session to view a range); `--output` and `--record` are
/// for a what-if and are refused without one.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Pace the events at N times the pace of their market times (unset:
    /// as fast as possible); N a positive number.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    speed: Option<f64>,
    /// Start at this sequence number (found through the log's index).
    #[arg(long, value_name = "N", conflicts_with = "from_time", allow_negative_numbers = true)]
    from_seq: Option<u64>,
    /// Stop after this sequence number.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    to_seq: Option<u64>,
    /// Start at the first event at or after this market time (2024-01-31,
    /// 2024-01-31T12:00:00Z or epoch ms).
    #[arg(long, value_name = "TIME")]
    from_time: Option<String>,
    /// Stop after this market time.
    #[arg(long, value_name = "TIME")]
    to_time: Option<String>,
    /// Print one line per event (text, the default) or the whole events (jsonl).
    #[arg(long, value_enum)]
    format: Option<ReplayFormat>,
    /// What-if: run this strategy instead, on every bar the session
    /// recorded, and write a normal backtest output.
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
    replay_or_what_if(&args).map_err(tool_error)
}

fn replay_or_what_if(args: &ReplayArgs) -> anyhow::Result<u8> {
    let what_if_asked = args.strategy.is_some() || !args.params.is_empty();
    refuse_flags_of_the_other_mode(args, what_if_asked)?;
    let reader = args.session.open()?;
    if what_if_asked {
        return what_if(args, reader);
    }
    replay(args, reader)
}

/// Flags that would be silently ignored: a replay's range, pace and format
/// with a what-if, a what-if's output and recording without one.
fn refuse_flags_of_the_other_mode(args: &ReplayArgs, what_if_asked: bool) -> Result<(), BadInput> {
    let given = |flags: &[(&'static str, bool)]| flags.iter().find(|(_, set)| *set).map(|(flag, _)| *flag);
    if what_if_asked {
        let replay_only = given(&[
            ("--from-seq", args.from_seq.is_some()),
            ("--to-seq", args.to_seq.is_some()),
            ("--from-time", args.from_time.is_some()),
            ("--to-time", args.to_time.is_some()),
            ("--speed", args.speed.is_some()),
            ("--format", args.format.is_some()),
        ]);
        if let Some(flag) = replay_only {
            return Err(BadInput(format!(
                "{flag} is for replaying the recorded events, not for a what-if (--strategy/--param), which runs on \
                 every recorded bar and writes a backtest output; record the what-if (--record) and replay its session"
            )));
        }
    } else if let Some(flag) = given(&[("--output", args.output.is_some()), ("--record", args.record)]) {
        return Err(BadInput(format!(
            "{flag} is for a what-if: give --strategy FILE or --param NAME=VALUE (a plain replay writes no output)"
        )));
    }
    Ok(())
}

/// Rebuilds and prints the session's state event by event.
fn replay(args: &ReplayArgs, mut reader: SessionReader) -> anyhow::Result<u8> {
    let time_arg = |t: &Option<String>, flag: &str| -> anyhow::Result<Option<i64>> {
        t.as_deref().map(|t| parse_time(t).map_err(|e| BadInput(format!("{flag}: {e}")).into())).transpose()
    };
    let (from_time, to_time) = (time_arg(&args.from_time, "--from-time")?, time_arg(&args.to_time, "--to-time")?);
    check_range(&reader, args.from_seq, args.to_seq)?;
    if let Some((from, to)) = from_time.zip(to_time).filter(|(from, to)| from > to) {
        return Err(
            BadInput(format!("--from-time {from} is after --to-time {to} (epoch ms): nothing to replay")).into()
        );
    }
    check_time_range(&reader, from_time, to_time)?;
    let mut pacer = args.speed.map(pacer_at).transpose()?;
    if let Some(seq) = args.from_seq {
        reader.seek_seq(seq).map_err(|e| BadInput(format!("--from-seq: {e}")))?;
    } else if let Some(time) = from_time {
        reader.seek_time(time).context("seeking by time")?;
    }
    let format = args.format.unwrap_or(ReplayFormat::Text);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Some(event) = reader.advance()? {
        if args.to_seq.is_some_and(|last| event.seq > last) || to_time.zip(event.time()).is_some_and(|(t, e)| e > t) {
            break;
        }
        if let Some(delay) = pacer.as_mut().zip(event.time()).and_then(|(p, t)| p.delay(t)) {
            out.flush()?;
            std::thread::sleep(delay);
        }
        match format {
            ReplayFormat::Jsonl => serde_json::to_writer(&mut out, &entry_json(event.seq, &event.entry))?,
            ReplayFormat::Text => write!(out, "{}", text_line(event.seq, &event.entry))?,
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(0)
}

/// `--speed N`: a pace only a positive, finite N gives.
fn pacer_at(speed: f64) -> Result<Pacer, BadInput> {
    check_speed("--speed", speed).map(|speed| Pacer::new(Some(speed))).map_err(BadInput)
}

/// `--from-seq` and `--to-seq` within the session's records, in order.
fn check_range(reader: &SessionReader, from: Option<u64>, to: Option<u64>) -> Result<(), BadInput> {
    if let Some((from, to)) = from.zip(to).filter(|(from, to)| from > to) {
        return Err(BadInput(format!("--from-seq {from} is after --to-seq {to}: nothing to replay")));
    }
    for (flag, seq) in [("--from-seq", from), ("--to-seq", to)] {
        if let Some(seq) = seq {
            reader.check_seq(seq).map_err(|e| BadInput(format!("{flag}: {e}")))?;
        }
    }
    Ok(())
}

/// `--from-time` and `--to-time` that select at least one record: a
/// window entirely before or after the session is refused, as an
/// out-of-range sequence is.
fn check_time_range(reader: &SessionReader, from: Option<i64>, to: Option<i64>) -> Result<(), BadInput> {
    let Some((first, last)) = reader.time_range() else { return Ok(()) };
    let shown = |t: i64| rfc3339_ms(t).unwrap_or_else(|| t.to_string());
    let range = || format!("session {} has records from {} to {}", reader.id(), shown(first), shown(last));
    if let Some(from) = from.filter(|&from| from > last) {
        return Err(BadInput(format!("--from-time {} is after the last record: {}", shown(from), range())));
    }
    if let Some(to) = to.filter(|&to| to < first) {
        return Err(BadInput(format!("--to-time {} is before the first record: {}", shown(to), range())));
    }
    Ok(())
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
        quantity_text(a.position),
        a.account.cash,
        a.account.equity
    );
    if let Some(d) = &step.decision {
        line += &format!(" | {}: {}", d.callback.as_str(), d.outcome);
    }
    for f in &step.fills {
        line += &format!(" | {}", fill_text(f));
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
    let params = what_if_params(&args.params)?;
    if let Some(strategy) = args.strategy.as_ref().filter(|s| !s.is_file()) {
        return Err(BadInput(format!("--strategy {}: no such file", strategy.display())).into());
    }
    for runner in &mut config.runners {
        if let Some(strategy) = &args.strategy {
            runner.strategy = strategy.clone();
        }
        runner.params.extend(params.clone());
    }
    warn_of_edited_strategies(&manifest, config.runners.iter().map(|r| (r.symbol.as_str(), r.strategy.as_path())));
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

/// `--param NAME=VALUE` arguments as a table: each value TOML (20, 1.5,
/// true, "text"), or else taken as a string.
fn what_if_params(args: &[String]) -> Result<toml::Table, BadInput> {
    let mut params = toml::Table::new();
    for p in args {
        let (name, value) = p.split_once('=').ok_or_else(|| BadInput(format!("--param {p}: expected NAME=VALUE")))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(BadInput(format!("--param {p}: the parameter name is empty (expected NAME=VALUE)")));
        }
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        params.insert(name.to_string(), value);
    }
    Ok(params)
}

/// Warns, one line each, about the recorded strategy files a what-if runs
/// that were edited since the session recorded them: the what-if then
/// tests today's file, not what the session ran. `runs`: each symbol's
/// strategy file as the what-if runs it.
fn warn_of_edited_strategies<'a>(manifest: &Manifest, runs: impl Iterator<Item = (&'a str, &'a Path)>) {
    for (symbol, file) in runs {
        let Some(recorded) = manifest.strategies.iter().find(|s| s.symbol == symbol) else { continue };
        if !same_file(Path::new(&recorded.file), file) {
            continue;
        }
        let Ok(source) = std::fs::read(file) else { continue };
        let now = sha256_hex(&source);
        if now != recorded.sha256 {
            eprintln!(
                "warning: {} has changed since session {} recorded it (sha256 {} then, {} now): the what-if runs the file as it is now",
                file.display(),
                manifest.session_id,
                short_hash(&recorded.sha256),
                short_hash(&now)
            );
        }
    }
}

/// Whether two paths name one file (the same path, or the same file
/// through links and relative parts).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(a, b)| a == b)
}

/// The first 12 hex digits of a hash.
fn short_hash(hash: &str) -> &str {
    &hash[..12.min(hash.len())]
}

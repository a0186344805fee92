//! `trading-engine sessions` (list the recorded sessions) and
//! `trading-engine export` (a session's events as JSON lines or CSV).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine_core::backtest::{rfc3339_ms, temp_file_in};
use engine_core::events::codec::{CodecError, Entry};
use engine_core::events::log::LogError;
use engine_core::events::session::{
    list_sessions, records_in, Manifest, SessionError, SessionReader, Standing, EVENTS_FILE,
};
use engine_core::events::view::entry_json;
use engine_core::events::StepRecord;

use super::{exit_code_of, BadInput};

/// Where sessions are, and which one.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// The session id (`trading-engine sessions` lists them).
    #[arg(long, value_name = "ID")]
    pub session: String,
    /// The sessions directory (a config's `events.dir`).
    #[arg(long, value_name = "DIR", default_value = "sessions")]
    pub dir: PathBuf,
}

impl SessionArgs {
    /// Opens the session, warning on stderr about a torn last record.
    pub fn open(&self) -> anyhow::Result<SessionReader> {
        open_session(&self.dir, &self.session)
    }
}

/// A session that is missing, unreadable or corrupt is input to look at,
/// like a bad argument: exit 2 (`compare` keeps 1 for "the sessions
/// differ"). Other failures, such as an output that cannot be written,
/// keep exit 1.
pub fn tool_error(err: anyhow::Error) -> anyhow::Error {
    let reading_the_session = |cause: &(dyn std::error::Error + 'static)| {
        cause.is::<SessionError>() || cause.is::<LogError>() || cause.is::<CodecError>()
    };
    if exit_code_of(&err) != super::exit::BAD_INPUT && err.chain().any(reading_the_session) {
        BadInput(format!("{err:#}")).into()
    } else {
        err
    }
}

/// Opens session `id`; a missing one is bad input (exit 2).
pub fn open_session(dir: &Path, id: &str) -> anyhow::Result<SessionReader> {
    let reader = SessionReader::open(dir, id).map_err(|e| match e {
        SessionError::NotFound { .. } => anyhow::Error::new(BadInput(e.to_string())),
        e => anyhow::Error::new(e).context(format!("opening session {id}")),
    })?;
    if let Some(torn) = reader.torn_tail() {
        eprintln!(
            "warning: {}: the last record (at byte {}) was cut short, probably by a crash; it is ignored and every earlier record is intact",
            reader.dir().join(EVENTS_FILE).display(),
            torn.offset
        );
    }
    Ok(reader)
}

#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    /// The sessions directory.
    #[arg(long, value_name = "DIR", default_value = "sessions")]
    dir: PathBuf,
    /// One JSON object per session instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn list(args: SessionsArgs) -> anyhow::Result<u8> {
    list_sessions_in(&args).map_err(tool_error)
}

fn list_sessions_in(args: &SessionsArgs) -> anyhow::Result<u8> {
    if !args.dir.exists() {
        println!("no sessions in {} (`run` records by default; `backtest --record`)", args.dir.display());
        return Ok(0);
    }
    let sessions = list_sessions(&args.dir).with_context(|| format!("listing {}", args.dir.display()))?;
    if !args.json {
        println!(
            "{:<44} {:<9} {:<11} {:<24} {:>9} {:>10}  strategies",
            "session", "kind", "status", "started", "records", "bytes"
        );
    }
    for (id, manifest) in sessions {
        let manifest = match manifest {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{id}: unreadable manifest: {e}");
                continue;
            }
        };
        let dir = args.dir.join(&id);
        let standing = Standing::of(&dir, &manifest);
        let records = records_in(&dir, &manifest).map_err(|e| eprintln!("{id}: unreadable log: {e}")).ok();
        let bytes = std::fs::metadata(dir.join(EVENTS_FILE)).map_or(0, |m| m.len());
        if args.json {
            println!("{}", listed_json(&manifest, standing, records, bytes)?);
            continue;
        }
        println!(
            "{:<44} {:<9} {:<11} {:<24} {:>9} {:>10}  {}",
            id,
            manifest.kind,
            standing,
            manifest.started_at,
            records.map_or_else(|| "?".into(), |r| r.to_string()),
            bytes,
            strategies_text(&manifest)
        );
    }
    Ok(0)
}

/// A listed session as JSON: the manifest without its config, with the
/// status and record count as they stand now (`crashed`, the records the
/// log holds) and the log's size.
fn listed_json(
    manifest: &Manifest,
    standing: Standing,
    records: Option<u64>,
    bytes: u64,
) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(manifest)?;
    value["status"] = standing.as_str().into();
    value["records"] = records.into();
    value["log_bytes"] = bytes.into();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("config");
    }
    Ok(value)
}

/// `SYNTH:ema_crossover.lua@a462fcb9 ...`
fn strategies_text(manifest: &Manifest) -> String {
    let strategies: Vec<String> = manifest
        .strategies
        .iter()
        .map(|s| {
            let file = Path::new(&s.file).file_name().map_or(s.file.clone(), |f| f.to_string_lossy().into());
            format!("{}:{}@{}", s.symbol, file, &s.sha256[..8.min(s.sha256.len())])
        })
        .collect();
    strategies.join(" ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per event (the whole step).
    Jsonl,
    /// One row per step: bar, states, decision, orders, fills and account.
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    session: SessionArgs,
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    format: ExportFormat,
    /// Write here (atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn export(args: ExportArgs) -> anyhow::Result<u8> {
    export_session(&args).map_err(tool_error)
}

fn export_session(args: &ExportArgs) -> anyhow::Result<u8> {
    let mut reader = args.session.open()?;
    let format = args.format;
    let write = |out: &mut dyn Write, reader: &mut SessionReader| -> anyhow::Result<u64> {
        let mut rows = 0;
        match format {
            // Steps only, in both formats: a snapshot (delta storage's
            // periodic full state) is how the log is stored, not an event.
            ExportFormat::Jsonl => {
                while let Some(event) = reader.advance()? {
                    if let Entry::Step(_) = &event.entry {
                        serde_json::to_writer(&mut *out, &entry_json(event.seq, &event.entry))?;
                        out.write_all(b"\n")?;
                        rows += 1;
                    }
                }
            }
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(&mut *out);
                w.write_record(CSV_HEADER)?;
                while let Some(event) = reader.advance()? {
                    if let Entry::Step(step) = &event.entry {
                        w.write_record(csv_row(event.seq, step))?;
                        rows += 1;
                    }
                }
                w.flush()?;
            }
        }
        out.flush()?;
        Ok(rows)
    };
    match &args.output {
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            write(&mut out, &mut reader)?;
        }
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut file = temp_file_in(dir, ".export.").with_context(|| format!("writing {}", path.display()))?;
            let rows = {
                let mut out = std::io::BufWriter::new(file.as_file_mut());
                write(&mut out, &mut reader)?
            };
            file.persist(path).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{rows} events written to {}", path.display());
        }
    }
    Ok(0)
}

const CSV_HEADER: [&str; 24] = [
    "seq",
    "time",
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "state_before",
    "state_after",
    "transitions",
    "callback",
    "outcome",
    "strategy_sha256",
    "strategy_generation",
    "risk",
    "orders",
    "fills",
    "position",
    "cash",
    "equity",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
];

fn csv_row(seq: u64, s: &StepRecord) -> Vec<String> {
    let decision = s.decision.as_ref();
    let a = &s.after.account;
    vec![
        seq.to_string(),
        rfc3339_ms(s.time).unwrap_or_else(|| s.time.to_string()),
        s.symbol.to_string(),
        s.bar.open.to_string(),
        s.bar.high.to_string(),
        s.bar.low.to_string(),
        s.bar.close.to_string(),
        s.bar.volume.to_string(),
        s.before.to_string(),
        s.after.state.to_string(),
        s.transitions.iter().map(|t| format!("{}->{}: {}", t.from, t.to, t.reason)).collect::<Vec<_>>().join("; "),
        decision.map_or(String::new(), |d| d.callback.as_str().to_string()),
        decision.map_or(String::new(), |d| d.outcome.to_string()),
        decision.map_or(String::new(), |d| d.version.hash.to_string()),
        decision.map_or(String::new(), |d| d.version.generation.to_string()),
        if s.risk.is_empty() { String::new() } else { json(&s.risk) },
        if s.orders.is_empty() { String::new() } else { json(&s.orders) },
        if s.fills.is_empty() { String::new() } else { json(&s.fills) },
        s.after.position.to_string(),
        a.cash.to_string(),
        a.equity.to_string(),
        a.realized_pnl.to_string(),
        a.unrealized_pnl.to_string(),
        a.fees.to_string(),
    ]
}

/// Compact JSON of a value, for CSV cells.
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

//! `trading-engine inspect-event` (one event, with its state diff against
//! the symbol's previous one) and `trading-engine compare` (two sessions:
//! the first divergence and how their trades and P&L differ).

use std::path::PathBuf;

use engine_core::backtest::rfc3339_ms;
use engine_core::events::compare::{compare, diff, Comparison, Divergence, FieldChange, RoundTrip};
use engine_core::events::view::{entry_json, state_json};
use engine_core::events::SymbolSnapshot;

use super::sessions::{open_session, tool_error, SessionArgs};
use super::BadInput;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The event's sequence number.
    #[arg(long, value_name = "N")]
    sequence: u64,
    /// Print the event and the diff as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<u8> {
    inspect_event(&args).map_err(tool_error)
}

fn inspect_event(args: &InspectArgs) -> anyhow::Result<u8> {
    let mut reader = args.session.open()?;
    reader.seek_seq(args.sequence).map_err(|e| BadInput(e.to_string()))?;
    let Some((event, previous)) = reader.next_event_with_previous()? else {
        return Err(BadInput(format!("sequence {}: no such event", args.sequence)).into());
    };
    let json = entry_json(event.seq, &event.entry);
    let changes = event.step().map_or_else(Vec::new, |step| state_changes(previous.as_ref(), &step.after));
    if args.json {
        println!("{}", serde_json::json!({ "event": json, "state_changes": changes }));
        return Ok(0);
    }
    println!("event {} at byte {} of session {}", event.seq, event.offset, reader.id());
    println!("{}", serde_json::to_string_pretty(&json)?);
    match (event.step(), previous.is_some()) {
        (None, _) => {}
        (Some(step), true) => {
            println!("\nstate of {} against its previous event ({} changes):", step.symbol, changes.len());
            for c in &changes {
                println!("  {}: {} -> {}", c.field, c.before, c.after);
            }
        }
        (Some(step), false) => println!("\n{}: its first event (no previous state)", step.symbol),
    }
    Ok(0)
}

/// Every field of the symbol's state that the step changed, named as in
/// the event (`after.ctx.setup.side`); against nothing for its first step.
fn state_changes(previous: Option<&SymbolSnapshot>, after: &SymbolSnapshot) -> Vec<FieldChange> {
    let before = previous.map_or(serde_json::Value::Null, state_json);
    let wrap = |state: serde_json::Value| serde_json::json!({ "after": state });
    diff(&wrap(before), &wrap(state_json(after)))
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The first session.
    #[arg(long, value_name = "ID")]
    session1: String,
    /// The second session.
    #[arg(long, value_name = "ID")]
    session2: String,
    /// The sessions directory.
    #[arg(long, value_name = "DIR", default_value = "sessions")]
    dir: PathBuf,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
}

/// Exit 0 when the sessions took the same steps, 1 when they diverge, 2
/// when they cannot be compared (a session missing, unreadable or corrupt).
pub fn run_compare(args: CompareArgs) -> anyhow::Result<u8> {
    compare_sessions(&args).map_err(tool_error)
}

fn compare_sessions(args: &CompareArgs) -> anyhow::Result<u8> {
    let mut first = open_session(&args.dir, &args.session1)?;
    let mut second = open_session(&args.dir, &args.session2)?;
    let comparison = compare(&mut first, &mut second)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print_comparison(args, &comparison);
    }
    Ok(if comparison.divergence.is_some() { crate::exit::FAILURE } else { 0 })
}

fn print_comparison(args: &CompareArgs, c: &Comparison) {
    match &c.divergence {
        None => println!("identical: every step of {} equals {}'s", args.session1, args.session2),
        Some(d) => {
            println!("first divergence at {}, field {}:", divergence_place(args, d), d.field);
            println!("  {}: {}", args.session1, d.first);
            println!("  {}: {}", args.session2, d.second);
        }
    }
    let (a, b) = (&c.first, &c.second);
    println!("\n{:<16} {:>16} {:>16} {:>16}", "", "session1", "session2", "difference");
    let count = |name: &str, x: u64, y: u64| println!("{name:<16} {x:>16} {y:>16} {:>16}", y as i128 - x as i128);
    count("steps", a.steps, b.steps);
    count("decisions", a.decisions, b.decisions);
    count("fills", a.fills, b.fills);
    count("trades", a.trades.len() as u64, b.trades.len() as u64);
    let row = |name: &str, x: f64, y: f64| println!("{name:<16} {x:>16.4} {y:>16.4} {:>16.4}", y - x);
    row("realized P&L", a.realized_pnl, b.realized_pnl);
    row("fees", a.fees, b.fees);
    row("final equity", a.final_equity, b.final_equity);
    let show = |name: &str, trades: &[RoundTrip]| {
        if trades.is_empty() {
            return;
        }
        println!("\ntrades only in {name} ({}):", trades.len());
        for t in trades.iter().take(20) {
            println!(
                "  {} {} {} -> {}: net {:.4}",
                t.symbol,
                if t.direction > 0 { "long" } else { "short" },
                rfc3339_ms(t.entry_time).unwrap_or_default(),
                t.exit_time.and_then(rfc3339_ms).unwrap_or_else(|| "still open at the end".into()),
                t.net_pnl
            );
        }
        if trades.len() > 20 {
            println!("  ... and {} more", trades.len() - 20);
        }
    };
    show(&args.session1, &c.trades_only_in_first);
    show(&args.session2, &c.trades_only_in_second);
}

/// `sequence 42`, or `step 42 (sequence 42 in A, 43 in B)` when snapshots
/// numbered the sessions' records differently.
fn divergence_place(args: &CompareArgs, d: &Divergence) -> String {
    let seq = |s: Option<u64>| s.map_or_else(|| "none".into(), |s| s.to_string());
    match (d.first_seq, d.second_seq) {
        (Some(a), Some(b)) if a == b => format!("sequence {a}"),
        (a, b) => {
            format!("step {} (sequence {} in {}, {} in {})", d.step, seq(a), args.session1, seq(b), args.session2)
        }
    }
}

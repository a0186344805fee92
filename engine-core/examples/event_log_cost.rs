//! What the event log costs, as fixed workloads: `ema_crossover.lua` over
//! synthetic bars recorded in full storage with indicators (as the
//! `event_log` bench does), and the session read back. For counting
//! instructions, and for timing as the best of several rounds where
//! criterion's medians on a noisy machine cannot tell two builds apart
//! (docs/performance.md):
//!
//! ```sh
//! cargo build --release -p engine-core --example event_log_cost
//! target/release/examples/event_log_cost record /tmp/sessions 200000
//! target/release/examples/event_log_cost read /tmp/sessions 20
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*read_session*' \
//!     target/release/examples/event_log_cost read /tmp/sessions 1
//! target/release/examples/event_log_cost write /tmp/sessions 200000 10
//! ```
//!
//! Usage: `event_log_cost record DIR [BARS]` (default 200,000) records the
//! session; `off [BARS]` runs the same engine with recording off; `read DIR
//! [ROUNDS]` (default 10) reads it; `write DIR [BARS] [ROUNDS]` runs the
//! engine with recording off and on, alternately, and
//! prints the best time of each, the throughput recording costs, and the
//! median of each round's figure.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use engine_core::engine::{AccountMode, EngineConfig, Recording, RunnerSpec, TradingEngine};
use engine_core::events::codec::Storage;
use engine_core::events::log::{Durability, WriterOptions};
use engine_core::events::session::{
    IndicatorRecording, Manifest, RecorderOptions, SessionReader, SessionRecorder, SessionStatus,
};
use engine_core::market_data::Bar;
use engine_core::runner::RunnerConfig;
use engine_core::sources::{generate, HistoricalSource, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, LuaStrategy};

const ID: &str = "event-log-cost";

/// Runs the engine over `bars`, recording session `id` under `dir` if given;
/// how many records it wrote.
fn run(bars: Vec<Bar>, session: Option<(&Path, &str)>) -> Result<u64, String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    let strategy = LuaStrategy::load(&file, "S0", CtxValue::empty_table(), SandboxLimits::default(), 500)
        .map_err(|e| e.to_string())?;
    let recording = Recording { events: false, equity: false, prices: false };
    let mut engine =
        TradingEngine::new(EngineConfig { accounts: AccountMode::Shared, recording, ..EngineConfig::default() });
    engine.add_runner(RunnerSpec {
        symbol: "S0".into(),
        strategy: Box::new(strategy),
        source: Box::new(HistoricalSource::new("S0", bars)),
        config: RunnerConfig::default(),
        regime: None,
    });
    let options = RecorderOptions {
        storage: Storage::Full,
        snapshot_every: 10_000,
        indicators: IndicatorRecording::Record,
        writer: WriterOptions { durability: Durability::Buffered, ..WriterOptions::default() },
        ..RecorderOptions::default()
    };
    // As the benches run it: the engine on one worker, the log's writer on
    // its own thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let Some((dir, id)) = session else {
        runtime.block_on(engine.run());
        return Ok(0);
    };
    let manifest = Manifest::new(id, "backtest", "2026-11-22T00:00:00.000Z");
    let mut recorder = SessionRecorder::create(dir, manifest, options).map_err(|e| e.to_string())?;
    engine.record_to(&mut recorder);
    runtime.block_on(engine.run());
    let manifest = recorder.finish(SessionStatus::Completed, None, "end".into());
    Ok(manifest.records)
}

fn synthetic(bars: usize) -> Vec<Bar> {
    generate(&SyntheticConfig { symbol: "S0".into(), seed: 0, bars, ..SyntheticConfig::default() }).bars
}

/// Runs off and recording alternately; prints the best of each, and the
/// median of each round's throughput lost (a round's two runs are
/// seconds apart, so the machine's drift between rounds cancels out).
fn write(dir: &Path, bars: usize, rounds: usize) -> Result<(), String> {
    let data = synthetic(bars);
    let (mut off, mut on, mut lost) = (f64::MAX, f64::MAX, Vec::new());
    for round in 0..rounds.max(1) {
        let (bars_off, bars_on) = (data.clone(), data.clone());
        let start = Instant::now();
        run(bars_off, None)?;
        let this_off = start.elapsed().as_secs_f64();
        let id = format!("write-{round}");
        let start = Instant::now();
        run(bars_on, Some((dir, &id)))?;
        let this_on = start.elapsed().as_secs_f64();
        std::fs::remove_dir_all(dir.join(&id)).map_err(|e| e.to_string())?;
        (off, on) = (off.min(this_off), on.min(this_on));
        lost.push((1.0 - this_off / this_on) * 100.0);
    }
    lost.sort_by(f64::total_cmp);
    let median = match lost.len() % 2 {
        1 => lost[lost.len() / 2],
        _ => (lost[lost.len() / 2 - 1] + lost[lost.len() / 2]) / 2.0,
    };
    println!(
        "{bars} bars, best of {rounds}: off {:.1} ms, full {:.1} ms: {:.1}% extra time, {:.1}% throughput lost; \
         per round {}: median {median:.1}% lost",
        off * 1e3,
        on * 1e3,
        (on / off - 1.0) * 100.0,
        (1.0 - off / on) * 100.0,
        lost.iter().map(|l| format!("{l:.1}")).collect::<Vec<_>>().join(", "),
    );
    Ok(())
}

/// Every event of the session, decoded; how many.
#[inline(never)]
fn read_session(dir: &Path) -> Result<u64, String> {
    let mut reader = SessionReader::open(dir, ID).map_err(|e| e.to_string())?;
    let mut events = 0;
    while let Some(event) = reader.advance().map_err(|e| e.to_string())? {
        std::hint::black_box(event);
        events += 1;
    }
    Ok(events)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).map_or(Ok(default), |s| s.parse::<usize>());
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("record"), Some(dir)) => match number(2, 200_000) {
            Ok(bars) => run(synthetic(bars), Some((Path::new(dir), ID))).map(|n| println!("{n} records")),
            Err(e) => Err(format!("BARS: {e}")),
        },
        (Some("off"), _) => match number(1, 200_000) {
            Ok(bars) => run(synthetic(bars), None).map(|_| println!("{bars} bars, recording off")),
            Err(e) => Err(format!("BARS: {e}")),
        },
        (Some("write"), Some(dir)) => match (number(2, 200_000), number(3, 10)) {
            (Ok(bars), Ok(rounds)) => write(Path::new(dir), bars, rounds),
            (Err(e), _) => Err(format!("BARS: {e}")),
            (_, Err(e)) => Err(format!("ROUNDS: {e}")),
        },
        (Some("read"), Some(dir)) => match number(2, 10) {
            Ok(rounds) => (0..rounds.max(1))
                .map(|_| {
                    let start = Instant::now();
                    read_session(Path::new(dir)).map(|n| (n, start.elapsed().as_secs_f64()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|runs| {
                    let (events, best) = runs.iter().fold((0, f64::MAX), |(_, b), &(n, s)| (n, b.min(s)));
                    println!(
                        "{events} events, best of {}: {:.1} ms, {:.0} events/s",
                        runs.len(),
                        best * 1e3,
                        events as f64 / best
                    );
                }),
            Err(e) => Err(format!("ROUNDS: {e}")),
        },
        _ => {
            Err("usage: event_log_cost record DIR [BARS] | off [BARS] | read DIR [ROUNDS] | write DIR [BARS] [ROUNDS]"
                .into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("event_log_cost: {e}");
            ExitCode::from(2)
        }
    }
}

//! Records a session of `ema_crossover.lua` over synthetic bars (full
//! storage, indicators recorded, as the `event_log` bench does), then reads
//! it back: a fixed workload to count the reader's instructions with, or to
//! time it as the best of several rounds, where criterion's medians on a
//! noisy machine cannot tell two builds apart (docs/performance.md):
//!
//! ```sh
//! cargo build --release -p engine-core --example replay_cost
//! target/release/examples/replay_cost record /tmp/sessions 200000
//! target/release/examples/replay_cost read /tmp/sessions 20
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*read_session*' \
//!     target/release/examples/replay_cost read /tmp/sessions 1
//! ```
//!
//! Usage: `replay_cost record DIR [BARS]` (default 200,000), `replay_cost
//! read DIR [ROUNDS]` (default 10).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use engine_core::engine::{AccountMode, EngineConfig, Recording, RunnerSpec, TradingEngine};
use engine_core::events::codec::Storage;
use engine_core::events::log::{Durability, WriterOptions};
use engine_core::events::session::{
    IndicatorRecording, Manifest, RecorderOptions, SessionReader, SessionRecorder, SessionStatus,
};
use engine_core::runner::RunnerConfig;
use engine_core::sources::{generate, HistoricalSource, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, LuaStrategy};

const ID: &str = "replay-cost";

fn record(dir: &Path, bars: usize) -> Result<u64, String> {
    let bars = generate(&SyntheticConfig { symbol: "S0".into(), seed: 0, bars, ..SyntheticConfig::default() }).bars;
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
    let manifest = Manifest::new(ID, "backtest", "2026-11-22T00:00:00.000Z");
    let mut recorder = SessionRecorder::create(dir, manifest, options).map_err(|e| e.to_string())?;
    engine.record_to(&mut recorder);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(engine.run());
    let manifest = recorder.finish(SessionStatus::Completed, None, "end".into());
    Ok(manifest.records)
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
            Ok(bars) => record(Path::new(dir), bars).map(|n| println!("{n} records")),
            Err(e) => Err(format!("BARS: {e}")),
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
        _ => Err("usage: replay_cost record DIR [BARS] | replay_cost read DIR [ROUNDS]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replay_cost: {e}");
            ExitCode::from(2)
        }
    }
}

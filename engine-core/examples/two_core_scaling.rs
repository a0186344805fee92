//! What a second core gives the engine, timed as alternating rounds: eight
//! symbols (`ema_crossover.lua`, one account each, recording off, as the
//! `engine_8_symbols` bench runs them) on a one-worker runtime, then on a
//! two-worker one, seconds apart. The criterion bench times the two cases a
//! minute apart, and this machine's speed moves by more than the effect
//! between such windows (docs/performance.md); the ratio of each round's
//! two runs cancels that drift.
//!
//! ```sh
//! cargo run --release -p engine-core --example two_core_scaling -- 9
//! ```
//!
//! Usage: `two_core_scaling [ROUNDS] [SYMBOLS] [BARS]` (defaults 5, 8 and
//! 1,000,000 bars in all); prints each round's times and ratio, and the
//! median ratio.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use engine_core::engine::{AccountMode, EngineConfig, Recording, RunnerSpec, TradingEngine};
use engine_core::market_data::Bar;
use engine_core::runner::RunnerConfig;
use engine_core::sources::{generate, HistoricalSource, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, LuaStrategy};

fn engine(series: &[(String, Vec<Bar>)]) -> Result<TradingEngine, String> {
    let recording = Recording { events: false, equity: false, prices: false };
    let config = EngineConfig { accounts: AccountMode::PerRunner, recording, ..EngineConfig::default() };
    let mut engine = TradingEngine::new(config);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    for (symbol, bars) in series {
        let strategy = LuaStrategy::load(&file, symbol, CtxValue::empty_table(), SandboxLimits::default(), 500)
            .map_err(|e| e.to_string())?;
        engine.add_runner(RunnerSpec {
            symbol: symbol.clone(),
            strategy: Box::new(strategy),
            source: Box::new(HistoricalSource::new(symbol.clone(), bars.clone())),
            config: RunnerConfig::default(),
            regime: None,
        });
    }
    Ok(engine)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() % 2 {
        1 => values[values.len() / 2],
        _ => (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0,
    }
}

fn run(rounds: usize, symbols: usize, bars: usize) -> Result<(), String> {
    let per_symbol = bars / symbols.max(1);
    let series: Vec<(String, Vec<Bar>)> = (0..symbols)
        .map(|i| {
            let symbol = format!("S{i}");
            let config = SyntheticConfig {
                symbol: symbol.clone(),
                seed: i as u64,
                bars: per_symbol,
                ..SyntheticConfig::default()
            };
            (symbol, generate(&config).bars)
        })
        .collect();
    let runtime = |workers| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    };
    let (one, two) = (runtime(1)?, runtime(2)?);
    let mut ratios = Vec::new();
    for round in 1..=rounds.max(1) {
        let mut times = [0.0; 2];
        for (time, runtime) in times.iter_mut().zip([&one, &two]) {
            let engine = engine(&series)?;
            let start = Instant::now();
            runtime.block_on(engine.run());
            *time = start.elapsed().as_secs_f64();
        }
        let ratio = times[0] / times[1];
        println!("round {round}: one core {:.3} s, two cores {:.3} s: {ratio:.2}x", times[0], times[1]);
        ratios.push(ratio);
    }
    println!(
        "{symbols} symbols, {} bars in all, {rounds} rounds: median {:.2}x (from {:.2}x to {:.2}x)",
        per_symbol * symbols,
        median(ratios.clone()),
        ratios.iter().copied().fold(f64::MAX, f64::min),
        ratios.iter().copied().fold(f64::MIN, f64::max),
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).map_or(Ok(default), |s| s.parse::<usize>());
    let parsed = (|| Ok::<_, std::num::ParseIntError>((number(0, 5)?, number(1, 8)?, number(2, 1_000_000)?)))();
    let result = match parsed {
        Ok((rounds, symbols, bars)) if symbols > 0 => run(rounds, symbols, bars),
        _ => Err("usage: two_core_scaling [ROUNDS] [SYMBOLS] [BARS] (positive integers)".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("two_core_scaling: {e}");
            ExitCode::FAILURE
        }
    }
}

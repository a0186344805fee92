//! The whole engine: `ema_crossover.lua` (and its Rust twin) over
//! 1,000,000 synthetic one-minute bars, recording off, one symbol on one
//! core; and eight symbols with one account each on two cores.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use engine_core::engine::{AccountMode, EngineConfig, Recording, RunnerSpec, TradingEngine};
use engine_core::market_data::Bar;
use engine_core::runner::RunnerConfig;
use engine_core::sources::{generate, HistoricalSource, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, EmaCrossover, EmaCrossoverParams, LuaStrategy, Strategy};

const BARS: usize = 1_000_000;

fn off() -> Recording {
    Recording { events: false, equity: false, prices: false }
}

fn lua(symbol: &str) -> Box<dyn Strategy> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    Box::new(LuaStrategy::load(&file, symbol, CtxValue::empty_table(), SandboxLimits::default(), 500).unwrap())
}

fn engine(series: &[(String, Vec<Bar>)], accounts: AccountMode, rust: bool) -> TradingEngine {
    let mut engine = TradingEngine::new(EngineConfig { accounts, recording: off(), ..EngineConfig::default() });
    for (symbol, bars) in series {
        let strategy: Box<dyn Strategy> =
            if rust { Box::new(EmaCrossover::new(EmaCrossoverParams::default())) } else { lua(symbol) };
        engine.add_runner(RunnerSpec {
            symbol: symbol.clone(),
            strategy,
            source: Box::new(HistoricalSource::new(symbol.clone(), bars.clone())),
            config: RunnerConfig::default(),
            regime: None,
        });
    }
    engine
}

fn series(symbols: usize, bars: usize) -> Vec<(String, Vec<Bar>)> {
    (0..symbols)
        .map(|i| {
            let symbol = format!("S{i}");
            let config = SyntheticConfig { symbol: symbol.clone(), seed: i as u64, bars, ..SyntheticConfig::default() };
            (symbol, generate(&config).bars)
        })
        .collect()
}

fn one_symbol(c: &mut Criterion) {
    let data = series(1, BARS);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut group = c.benchmark_group("engine_1m_bars_one_core");
    group.throughput(Throughput::Elements(BARS as u64));
    group.sample_size(10);
    for (name, rust) in [("ema_crossover_lua", false), ("ema_crossover_rust", true)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || engine(&data, AccountMode::Shared, rust),
                |engine| runtime.block_on(engine.run()),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn eight_symbols(c: &mut Criterion) {
    let per_symbol = BARS / 8;
    let data = series(8, per_symbol);
    let mut group = c.benchmark_group("engine_8_symbols");
    group.throughput(Throughput::Elements((per_symbol * 8) as u64));
    group.sample_size(10);
    for workers in [1, 2] {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
        group.bench_function(format!("lua_{workers}_cores"), |b| {
            b.iter_batched(
                || engine(&data, AccountMode::PerRunner, false),
                |engine| runtime.block_on(engine.run()),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, one_symbol, eight_symbols);
criterion_main!(benches);

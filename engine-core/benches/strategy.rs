//! What Lua costs: `lua-strategies/ema_crossover.lua` and its Rust twin
//! (`EmaCrossover`, same decisions) driven by the same symbol runner over
//! the same 10,000 synthetic bars; the difference per bar is the price of
//! Lua (sandboxed calls, the API, the tables).

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use engine_core::runner::{RunnerConfig, SymbolRunner};
use engine_core::sources::synthetic::{generate, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, EmaCrossover, EmaCrossoverParams, LuaStrategy, Strategy};

const BARS: usize = 10_000;

fn run<S: Strategy>(mut runner: SymbolRunner<S>, bars: &[engine_core::market_data::Bar]) -> usize {
    for bar in bars {
        runner.on_bar(bar).unwrap();
    }
    runner.transitions().len()
}

fn lua_against_rust(c: &mut Criterion) {
    let bars = generate(&SyntheticConfig { seed: 4, bars: BARS, ..SyntheticConfig::default() }).bars;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    let mut group = c.benchmark_group("strategy_per_bar");
    group.throughput(Throughput::Elements(BARS as u64));
    group.sample_size(20);
    group.bench_function("ema_crossover_rust", |b| {
        b.iter_batched(
            || SymbolRunner::new("SYNTH", EmaCrossover::new(EmaCrossoverParams::default()), RunnerConfig::default()),
            |runner| run(runner, &bars),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("ema_crossover_lua", |b| {
        b.iter_batched(
            || {
                let strategy =
                    LuaStrategy::load(&file, "SYNTH", CtxValue::empty_table(), SandboxLimits::default(), 500).unwrap();
                SymbolRunner::new("SYNTH", strategy, RunnerConfig::default())
            },
            |runner| run(runner, &bars),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, lua_against_rust);
criterion_main!(benches);

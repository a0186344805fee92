//! Runs `ema_crossover` (Lua, or its Rust twin) through a symbol runner
//! over 10,000 synthetic bars, `ITERATIONS` times: a fixed workload to
//! count instructions with, where timings are too noisy to compare small
//! changes (docs/performance.md):
//!
//! ```sh
//! cargo build --release -p engine-core --example strategy_cost
//! valgrind --tool=callgrind target/release/examples/strategy_cost lua 2
//! ```
//!
//! Usage: `strategy_cost lua|rust [ITERATIONS]` (default 50).

use std::path::Path;
use std::process::ExitCode;

use engine_core::market_data::Bar;
use engine_core::runner::{RunnerConfig, SymbolRunner};
use engine_core::sources::synthetic::{generate, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, EmaCrossover, EmaCrossoverParams, LuaStrategy, Strategy};

fn run<S: Strategy>(strategy: S, bars: &[Bar]) -> usize {
    let mut runner = SymbolRunner::new("SYNTH", strategy, RunnerConfig::default());
    for bar in bars {
        runner.on_bar(bar).expect("a clean run");
    }
    runner.transitions().len()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let iterations: usize = match args.next().map(|s| s.parse()) {
        None => 50,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("ITERATIONS: {e}");
            return ExitCode::from(2);
        }
    };
    let bars = generate(&SyntheticConfig { seed: 4, bars: 10_000, ..SyntheticConfig::default() }).bars;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    let mut transitions = 0;
    for _ in 0..iterations {
        transitions += match which.as_str() {
            "lua" => run(
                LuaStrategy::load(&file, "SYNTH", CtxValue::empty_table(), SandboxLimits::default(), 500)
                    .expect("ema_crossover.lua loads"),
                &bars,
            ),
            "rust" => run(EmaCrossover::new(EmaCrossoverParams::default()), &bars),
            _ => {
                eprintln!("usage: strategy_cost lua|rust [ITERATIONS]");
                return ExitCode::from(2);
            }
        };
    }
    println!("{transitions} transitions");
    ExitCode::SUCCESS
}

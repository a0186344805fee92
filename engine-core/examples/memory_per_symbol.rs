//! Memory one symbol costs: loads `N` runners of `ema_crossover.lua` (Lua
//! state, window, indicators, account; recording off), runs each over
//! 2,000 bars, and
//! reports the growth of the process's resident memory per runner
//! (Linux `/proc/self/statm`). docs/performance.md quotes it.
//!
//! Usage: `memory_per_symbol [N]` (default 200).

use std::path::Path;

use engine_core::runner::{RunnerConfig, SymbolRunner};
use engine_core::sources::{generate, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, LuaStrategy};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(200, |s| s.parse().expect("N is a number"));
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    let bars = generate(&SyntheticConfig { bars: 2_000, ..SyntheticConfig::default() }).bars;
    let before = resident_bytes();
    let mut runners = Vec::with_capacity(n);
    for i in 0..n {
        let symbol = format!("S{i}");
        let strategy =
            LuaStrategy::load(&file, &symbol, CtxValue::empty_table(), SandboxLimits::default(), 500).expect("loads");
        let mut runner = SymbolRunner::new(&symbol, strategy, RunnerConfig::default());
        // As the engine runs with recording off: no equity curve.
        runner.desk_mut().expect("own desk").account.set_record_equity(false);
        for bar in &bars {
            runner.on_bar(bar).expect("runs");
        }
        // Keep what a live runner keeps: no recorded events.
        runner.sink_mut().clear();
        runners.push(runner);
    }
    let after = resident_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!("{n} runners: {:.0} KiB resident per symbol", per / 1024.0);
}

//! What a step costs when the caches have gone cold, as in live mode where
//! a symbol's bars come a millisecond or more apart: `ema_crossover` (Lua,
//! or its Rust twin) on a symbol runner, each `on_bar` timed, with the
//! thread doing something else between bars (docs/performance.md, "Why a
//! Lua step is slower live"):
//!
//! * `tight`: nothing, bar after bar (what the throughput benchmarks see);
//! * `spin`: a 1 ms busy wait that touches next to no memory;
//! * `sleep`: a 1 ms sleep (the CPU idles, other work may run);
//! * `pollute`: writes 8 MiB, evicting the caches the step used.
//!
//! ```sh
//! cargo run --release -p engine-core --example cold_cache_cost
//! # the cache misses per step, for one strategy and one mode:
//! valgrind --tool=callgrind --cache-sim=yes --LL=2097152,16,64 \
//!     target/release/examples/cold_cache_cost lua pollute 400
//! ```
//!
//! Usage: `cold_cache_cost [lua|rust MODE [BARS]]` (default: every
//! strategy in every mode, 3,000 bars; the first 100 are not timed).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use engine_core::runner::{RunnerConfig, SymbolRunner};
use engine_core::sources::synthetic::{generate, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, EmaCrossover, EmaCrossoverParams, LuaStrategy, Strategy};

const MODES: [&str; 4] = ["tight", "spin", "sleep", "pollute"];
const UNTIMED: usize = 100;

/// What the thread does between two bars.
fn between_bars(mode: &str) {
    match mode {
        "spin" => {
            let began = Instant::now();
            while began.elapsed() < Duration::from_millis(1) {}
        }
        "sleep" => std::thread::sleep(Duration::from_millis(1)),
        "pollute" => {
            let mut bytes = vec![1u8; 8 << 20];
            for i in (0..bytes.len()).step_by(64) {
                bytes[i] = i as u8;
            }
            std::hint::black_box(&bytes);
        }
        _ => {}
    }
}

fn micros_at(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize] as f64 / 1_000.0
}

fn run<S: Strategy>(name: &str, strategy: S, mode: &str, bars: usize) {
    let bars = generate(&SyntheticConfig { seed: 4, bars, ..SyntheticConfig::default() }).bars;
    let mut runner = SymbolRunner::new("SYNTH", strategy, RunnerConfig::default());
    let mut nanos = Vec::with_capacity(bars.len());
    for (i, bar) in bars.iter().enumerate() {
        between_bars(mode);
        let began = Instant::now();
        runner.on_bar(bar).expect("a clean run");
        if i >= UNTIMED {
            nanos.push(began.elapsed().as_nanos() as u64);
        }
    }
    nanos.sort_unstable();
    println!(
        "| {name} | {mode} | {:.1} | {:.1} | {:.1} |",
        micros_at(&nanos, 50.0),
        micros_at(&nanos, 90.0),
        micros_at(&nanos, 99.0)
    );
}

fn run_one(which: &str, mode: &str, bars: usize) -> Result<(), String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    match which {
        "lua" => {
            let strategy = LuaStrategy::load(&file, "SYNTH", CtxValue::empty_table(), SandboxLimits::default(), 500)
                .map_err(|e| e.to_string())?;
            run("lua", strategy, mode, bars);
        }
        "rust" => run("rust", EmaCrossover::new(EmaCrossoverParams::default()), mode, bars),
        _ => return Err(format!("unknown strategy {which:?} (lua or rust)")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bars = match args.get(2).map(|s| s.parse::<usize>()) {
        None => 3_000,
        Some(Ok(n)) if n > UNTIMED => n,
        _ => {
            eprintln!("BARS: a number above {UNTIMED}");
            return ExitCode::from(2);
        }
    };
    let runs: Vec<(&str, &str)> = match args.as_slice() {
        [] => MODES.iter().flat_map(|&m| [("lua", m), ("rust", m)]).collect(),
        [which, mode, ..] if MODES.contains(&mode.as_str()) => vec![(which.as_str(), mode.as_str())],
        _ => {
            eprintln!("usage: cold_cache_cost [lua|rust tight|spin|sleep|pollute [BARS]]");
            return ExitCode::from(2);
        }
    };
    println!("| strategy | between bars | p50 µs | p90 µs | p99 µs |");
    println!("|---|---|---:|---:|---:|");
    for (which, mode) in runs {
        if let Err(e) = run_one(which, mode, bars) {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

//! Lua strategies through the symbol runner: the Lua EMA crossover decides
//! exactly as its Rust twin, a broken strategy is quarantined for its
//! symbol while others go on, malformed actions are counted, and a
//! strategy edited while it runs switches version keeping `ctx` and its
//! position.

mod common;

use std::path::{Path, PathBuf};

use engine_core::market_data::Bar;
use engine_core::runner::{Outcome, RunnerConfig, SymbolRunner};
use engine_core::sources::synthetic::{generate, SyntheticConfig};
use engine_core::state_machine::SymbolState;
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, EmaCrossover, EmaCrossoverParams, LuaStrategy};

fn example(name: &str) -> PathBuf {
    common::workspace().join("lua-strategies").join(name)
}

fn bars(seed: u64, n: usize) -> Vec<Bar> {
    generate(&SyntheticConfig { seed, bars: n, ..SyntheticConfig::default() }).bars
}

fn lua(path: &Path) -> LuaStrategy {
    LuaStrategy::load(path, "SYNTH", CtxValue::empty_table(), SandboxLimits::default(), 500).unwrap()
}

#[test]
fn lua_ema_crossover_decides_exactly_as_the_rust_one() {
    let bars = bars(4, 5_000);
    let mut in_lua = SymbolRunner::new("SYNTH", lua(&example("ema_crossover.lua")), RunnerConfig::default());
    let mut in_rust =
        SymbolRunner::new("SYNTH", EmaCrossover::new(EmaCrossoverParams::default()), RunnerConfig::default());
    for bar in &bars {
        in_lua.on_bar(bar).unwrap();
        in_rust.on_bar(bar).unwrap();
    }
    let (a, b) = (in_lua.transitions(), in_rust.transitions());
    assert!(a.len() > 300, "{} transitions", a.len());
    assert_eq!(a, b, "the same transitions, reasons and times");
    let outcomes = |r: Vec<&engine_core::runner::Decision>| r.iter().map(|d| d.outcome.clone()).collect::<Vec<_>>();
    assert_eq!(outcomes(in_lua.decisions()), outcomes(in_rust.decisions()));
    let (lua_account, rust_account) = (in_lua.account().unwrap(), in_rust.account().unwrap());
    assert_eq!(lua_account.realized_pnl(), rust_account.realized_pnl());
    assert_eq!(lua_account.ledger().fills, rust_account.ledger().fills);
}

fn write(dir: &Path, name: &str, source: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path
}

const WATCH_ONLY: &str = r#"
function detect_opportunity(md, ctx, ind) return nil end
function filter_commitment(md, ctx, ind) return nil end
function manage_position(md, ctx, ind) return nil end
"#;

#[test]
fn a_failing_strategy_is_quarantined_and_other_symbols_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(
        dir.path(),
        "broken.lua",
        &WATCH_ONLY.replace(
            "function detect_opportunity(md, ctx, ind) return nil end",
            "function detect_opportunity(md, ctx, ind)\n  if md.close > 0 then error(\"boom\") end\nend",
        ),
    );
    let bars = bars(9, 400);
    let mut bad = SymbolRunner::new("BAD", lua(&broken), RunnerConfig::default());
    let mut good = SymbolRunner::new("GOOD", lua(&example("ema_crossover.lua")), RunnerConfig::default());
    for bar in &bars {
        bad.on_bar(bar).unwrap();
        good.on_bar(bar).unwrap();
    }
    let why = bad.quarantine().expect("quarantined");
    assert!(why.contains("broken.lua:3:") && why.contains("boom"), "{why}");
    assert_eq!(bad.counts().script_failures, 1, "asked once, then left alone");
    assert_eq!(bad.counts().calls, 1);
    assert!(good.quarantine().is_none());
    assert_eq!(good.counts().calls, 400);
}

#[test]
fn malformed_actions_are_refused_counted_and_the_strategy_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "sloppy.lua",
        &WATCH_ONLY
            .replace(
                "function detect_opportunity(md, ctx, ind) return nil end",
                "function detect_opportunity(md, ctx, ind) return {reason = \"always\"} end",
            )
            .replace(
                "function filter_commitment(md, ctx, ind) return nil end",
                "function filter_commitment(md, ctx, ind) return {action = \"long\", size = -1} end",
            ),
    );
    let mut runner = SymbolRunner::new("SYNTH", lua(&path), RunnerConfig::default());
    for bar in &bars(2, 30) {
        runner.on_bar(bar).unwrap();
    }
    assert!(runner.quarantine().is_none());
    assert_eq!(runner.counts().bad_actions, 29, "every bar after the first setup");
    let message = runner.decisions().iter().find_map(|d| match &d.outcome {
        Outcome::BadAction { message } => Some(message.clone()),
        _ => None,
    });
    assert_eq!(
        message.as_deref(),
        Some("sloppy.lua: filter_commitment returned a bad action: size is -1, expected a number above 0")
    );
}

/// Enters long on the first bar it can, never exits; counts its calls in
/// ctx. `VERSION` marks the decisions.
const HOLDER: &str = r#"
function detect_opportunity(md, ctx, ind)
  ctx.calls = (ctx.calls or 0) + 1
  return {reason = "VERSION"}
end
function filter_commitment(md, ctx, ind)
  ctx.calls = ctx.calls + 1
  return {action = "long", size = 2, reason = "VERSION"}
end
function manage_position(md, ctx, ind)
  ctx.calls = ctx.calls + 1
  ctx.seen_by = "VERSION"
  return nil
end
"#;

#[test]
fn editing_a_running_strategy_swaps_versions_keeping_ctx_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "holder.lua", &HOLDER.replace("VERSION", "v1"));
    let bars = bars(6, 40);
    let mut runner = SymbolRunner::new("SYNTH", lua(&path), RunnerConfig::default());
    for bar in &bars[..10] {
        runner.on_bar(bar).unwrap();
    }
    assert_eq!(runner.machine().state(), SymbolState::InTrade { entry_filled: true });
    let v1 = runner.strategy().ctx().unwrap();
    assert_eq!(v1.get("seen_by"), Some(&CtxValue::Str("v1".into())));

    // A valid edit: the next decisions are v2's, ctx and the position stay.
    std::fs::write(&path, HOLDER.replace("VERSION", "v2")).unwrap();
    let version = runner.strategy_mut().reload().expect("changed").unwrap();
    assert_eq!(version.generation, 2);
    runner.reloaded(&version);
    runner.on_bar(&bars[10]).unwrap();
    let ctx = runner.strategy().ctx().unwrap();
    assert_eq!(ctx.get("seen_by"), Some(&CtxValue::Str("v2".into())));
    assert_eq!(ctx.get("calls"), Some(&CtxValue::Int(v1_calls(&v1) + 1)), "ctx carried over");
    assert_eq!(runner.account().unwrap().position("SYNTH"), 2.0);
    assert_eq!(runner.decisions().last().unwrap().version, version);

    // A syntax error: refused with file:line, v2 keeps running.
    std::fs::write(&path, "function detect_opportunity(md, ctx, ind\n").unwrap();
    let err = runner.strategy_mut().reload().expect("changed").unwrap_err().to_string();
    assert!(err.contains("holder.lua:"), "{err}");
    runner.reload_failed(&err);
    assert!(runner.strategy_mut().reload().is_none(), "the same broken text is refused once, not again");
    // Back to the running text, then the broken one again: an edit again.
    std::fs::write(&path, HOLDER.replace("VERSION", "v2")).unwrap();
    assert!(runner.strategy_mut().reload().is_none(), "the running version");
    std::fs::write(&path, "function detect_opportunity(md, ctx, ind\n").unwrap();
    assert!(runner.strategy_mut().reload().expect("changed").is_err(), "refused again, and said so");
    runner.on_bar(&bars[11]).unwrap();
    assert_eq!(runner.decisions().last().unwrap().version, version);
    assert_eq!(runner.strategy().ctx().unwrap().get("seen_by"), Some(&CtxValue::Str("v2".into())));

    // The fix: v3 takes over, still holding the same position.
    std::fs::write(&path, HOLDER.replace("VERSION", "v3")).unwrap();
    let v3 = runner.strategy_mut().reload().expect("changed").unwrap();
    assert_eq!(v3.generation, 3);
    runner.reloaded(&v3);
    for bar in &bars[12..] {
        runner.on_bar(bar).unwrap();
    }
    assert_eq!(runner.strategy().ctx().unwrap().get("seen_by"), Some(&CtxValue::Str("v3".into())));
    assert_eq!(runner.machine().state(), SymbolState::InTrade { entry_filled: true });
    assert_eq!(runner.counts().failed_reloads, 1);
    // No decision was ever made by the broken text.
    assert!(runner.decisions().iter().all(|d| d.version.generation <= 3));
}

fn v1_calls(ctx: &CtxValue) -> i64 {
    match ctx.get("calls") {
        Some(CtxValue::Int(n)) => *n,
        other => panic!("calls is {other:?}"),
    }
}

/// Bars arrive every 5 ms as in a live feed; the file is saved at some
/// point. The first decision of the new version must come within 500 ms.
#[test]
fn a_saved_edit_decides_within_500_ms() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "live.lua", &HOLDER.replace("VERSION", "v1"));
    let mut strategy = lua(&path);
    strategy.watch(engine_core::strategy::reload::DEFAULT_DEBOUNCE).unwrap();
    let mut runner = SymbolRunner::new("SYNTH", strategy, RunnerConfig::default());
    let bars = bars(6, 400);
    let mut saved_at = None;
    let mut latency = None;
    for (i, bar) in bars.iter().enumerate() {
        runner.on_bar(bar).unwrap();
        if i == 20 {
            std::fs::write(&path, HOLDER.replace("VERSION", "v2")).unwrap();
            saved_at = Some(Instant::now());
        }
        if let Some(t) = saved_at {
            if runner.decisions().last().is_some_and(|d| d.version.generation == 2) {
                latency = Some(t.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let latency = latency.expect("the new version decided");
    eprintln!("save to first decision by the new version: {latency:?}");
    assert!(latency <= Duration::from_millis(500), "{latency:?}");
    assert_eq!(runner.strategy().ctx().unwrap().get("seen_by"), Some(&CtxValue::Str("v2".into())));
}

/// The host writes `position` through the sandbox: a strategy that traps
/// writes to it with an endless `__newindex` is stopped by its budget and
/// quarantined, never hanging the engine.
#[test]
fn a_trap_on_the_position_table_is_metered() {
    let dir = tempfile::tempdir().unwrap();
    let trap = HOLDER.replace("VERSION", "trap").replace(
        "function manage_position(md, ctx, ind)",
        "function manage_position(md, ctx, ind)\n  setmetatable(position, {__newindex = function() while true do end end})",
    );
    let path = write(dir.path(), "trap.lua", &trap);
    let mut runner = SymbolRunner::new("SYNTH", lua(&path), RunnerConfig::default());
    for bar in &bars(6, 30) {
        runner.on_bar(bar).unwrap();
    }
    let why = runner.quarantine().expect("quarantined");
    assert!(why.contains("trap.lua") && why.contains("instruction"), "{why}");
}

/// A `ctx` that also holds something plain data cannot (a function here) is
/// recorded without it rather than lost whole, and the strategy goes on.
#[test]
fn a_ctx_holding_a_function_is_recorded_without_it() {
    use engine_core::strategy::Strategy;
    let dir = tempfile::tempdir().unwrap();
    let source = WATCH_ONLY.replace(
        "function detect_opportunity(md, ctx, ind) return nil end",
        "function detect_opportunity(md, ctx, ind)\n  ctx.count = (ctx.count or 0) + 1\n  \
         if ctx.count > 3 then ctx.f = function() end end\nend",
    );
    let path = write(dir.path(), "keeps_a_function.lua", &source);
    let mut runner = SymbolRunner::new("SYNTH", lua(&path), RunnerConfig::default());
    for (i, bar) in bars(9, 6).iter().enumerate() {
        runner.on_bar(bar).unwrap();
        let ctx = runner.strategy_mut().context().expect("the plain part of ctx");
        assert_eq!(ctx.get("count"), Some(&CtxValue::Int(i as i64 + 1)), "bar {i}: {ctx:?}");
        assert_eq!(ctx.get("f"), None);
    }
    assert_eq!(runner.counts().script_failures, 0);
    // A reload carries ctx over only as plain data: refused, naming the entry.
    let err = runner.strategy().ctx().unwrap_err().to_string();
    assert!(err.contains("keeps_a_function.lua") && err.contains("ctx.f is a function"), "{err}");
}

//! The symbol runner driving a Rust strategy over synthetic bars: every
//! state is visited, fills drive the transitions, invariants hold.

use engine_core::runner::{Outcome, RunnerConfig, SymbolRunner};
use engine_core::sources::synthetic::{generate, SyntheticConfig};
use engine_core::state_machine::{StateEvent, SymbolState};
use engine_core::strategy::{EmaCrossover, EmaCrossoverParams};

#[test]
fn ema_crossover_trades_through_every_state() {
    let series = generate(&SyntheticConfig { seed: 4, bars: 5_000, ..SyntheticConfig::default() });
    let mut runner =
        SymbolRunner::new("SYNTH", EmaCrossover::new(EmaCrossoverParams::default()), RunnerConfig::default());
    for bar in &series.bars {
        runner.on_bar(bar).expect("no invariant breaks");
    }
    let history = runner.transitions();
    let count = |e: StateEvent| history.iter().filter(|t| t.event == e).count();
    let (setups, sent, filled, closed) = (
        count(StateEvent::SetupFound),
        count(StateEvent::EntrySent),
        count(StateEvent::EntryFilled),
        count(StateEvent::PositionClosed),
    );
    eprintln!(
        "{setups} setups, {sent} entries, {filled} fills, {closed} closes, {} cancels",
        count(StateEvent::SetupCancelled)
    );
    assert!(setups > 20, "{setups} setups");
    assert!(sent > 10 && filled == sent, "market entries always fill: {sent} sent, {filled} filled");
    assert!(closed >= filled - 1);
    // Stops, targets and strategy exits all happen.
    let reasons: Vec<&str> =
        history.iter().filter(|t| t.event == StateEvent::PositionClosed).map(|t| t.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("stop hit")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("exit at")), "{reasons:?}");
    // Transitions chain: each starts where the previous ended.
    for pair in history.windows(2) {
        assert_eq!(pair[0].to, pair[1].from);
    }
    assert!(runner
        .decisions()
        .iter()
        .all(|d| !matches!(d.outcome, Outcome::Failed { .. } | Outcome::BadAction { .. })));
    assert!(matches!(
        runner.machine().state(),
        SymbolState::Watch | SymbolState::CloseWatch | SymbolState::InTrade { .. }
    ));
    assert_eq!(runner.counts().bars, 5_000);
}

/// A setup that is never committed to expires after the configured market
/// time (here 3 minutes of 1-minute bars), back to Watch with the reason.
#[test]
fn a_setup_times_out_by_market_time() {
    use engine_core::state_machine::SetupTimeout;
    use engine_core::strategy::sandbox::SandboxLimits;
    use engine_core::strategy::{CtxValue, LuaStrategy};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hesitant.lua");
    std::fs::write(
        &path,
        "function detect_opportunity(md, ctx, ind) return {side = 'long', reason = 'maybe'} end\n\
         function filter_commitment(md, ctx, ind) return nil end\n\
         function manage_position(md, ctx, ind) return nil end\n",
    )
    .unwrap();
    let strategy = LuaStrategy::load(&path, "SYNTH", CtxValue::empty_table(), SandboxLimits::default(), 100).unwrap();
    let config =
        RunnerConfig { setup_timeout: SetupTimeout { bars: None, millis: Some(180_000) }, ..RunnerConfig::default() };
    let series = generate(&SyntheticConfig { seed: 2, bars: 12, ..SyntheticConfig::default() });
    let mut runner = SymbolRunner::new("SYNTH", strategy, config);
    for bar in &series.bars {
        runner.on_bar(bar).unwrap();
    }
    let history = runner.transitions();
    let expiries: Vec<_> = history.iter().filter(|t| t.event == StateEvent::SetupExpired).collect();
    assert!(!expiries.is_empty(), "{history:?}");
    for expiry in &expiries {
        assert_eq!(expiry.reason, "setup timed out after 180 s");
        assert_eq!(expiry.to, SymbolState::Watch);
        let found = history.iter().rev().find(|t| t.event == StateEvent::SetupFound && t.time < expiry.time).unwrap();
        assert_eq!(expiry.time - found.time, 180_000, "three one-minute bars after the setup");
    }
    assert!(history.iter().all(|t| t.event != StateEvent::EntrySent));
}

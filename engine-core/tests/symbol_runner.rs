//! The symbol runner driving a Rust strategy over synthetic bars: every
//! state is visited, fills drive the transitions, invariants hold; and the
//! whole steps it builds for the event log, fresh or over spares.

use engine_core::events::{EventSink, RiskRecord, RunnerEvent, StepDetail, StepRecord};
use engine_core::execution::{Account, ExecutionConfig};
use engine_core::market_data::Bar;
use engine_core::risk::{RiskConfig, RiskManager};
use engine_core::runner::{Desk, Outcome, RunnerConfig, SymbolRunner};
use engine_core::sources::synthetic::{generate, SyntheticConfig};
use engine_core::state_machine::{StateEvent, SymbolState};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, EmaCrossover, EmaCrossoverParams, LuaStrategy};

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

/// Keeps whole steps, and hands the runner spares to write its next steps
/// over, as the session recorder does.
struct RecyclingSink {
    steps: Vec<Box<StepRecord>>,
    spares: Vec<Box<StepRecord>>,
}

impl EventSink for RecyclingSink {
    fn record(&mut self, _event: RunnerEvent) {}

    fn steps(&self) -> Option<StepDetail> {
        Some(StepDetail { indicator_values: true })
    }

    fn record_step(&mut self, step: Box<StepRecord>) {
        self.steps.push(step);
    }

    fn spare_step(&mut self) -> Option<Box<StepRecord>> {
        self.spares.pop()
    }
}

fn lua_steps(bars: &[Bar], spares: Vec<Box<StepRecord>>, recycle: bool) -> Vec<StepRecord> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    let strategy = LuaStrategy::load(&file, "SYNTH", CtxValue::empty_table(), SandboxLimits::default(), 500).unwrap();
    let sink = RecyclingSink { steps: Vec::new(), spares };
    let mut runner =
        SymbolRunner::with_sink("SYNTH", strategy, RunnerConfig::default(), ExecutionConfig::default(), sink);
    let execution = ExecutionConfig::default();
    let mut desk = Desk::new(Account::new(execution.initial_capital), RiskManager::new(RiskConfig::default()));
    let mut kept = Vec::new();
    for bar in bars {
        desk.account.begin_step(bar.open_time);
        runner.on_bar_with(bar, &mut desk).unwrap();
        desk.account.end_step();
        let sink = runner.sink_mut();
        kept.push(sink.steps.last().unwrap().as_ref().clone());
        // Every step but the first few is written over an earlier one.
        if recycle && sink.steps.len() > 3 {
            let spent = sink.steps.remove(0);
            sink.spares.push(spent);
        }
    }
    kept
}

#[test]
fn a_step_written_over_a_spare_equals_a_fresh_one() {
    let series = generate(&SyntheticConfig { seed: 9, bars: 3_000, ..SyntheticConfig::default() });
    let fresh = lua_steps(&series.bars, Vec::new(), false);
    // Spares that hold everything a step can hold, of another symbol and
    // other times: the fresh run's busiest steps, reversed.
    let mut busy: Vec<Box<StepRecord>> = fresh
        .iter()
        .filter(|s| !s.orders.is_empty() || !s.fills.is_empty() || !s.transitions.is_empty() || s.decision.is_some())
        .rev()
        .take(50)
        .cloned()
        .map(|mut s| {
            s.symbol = "OTHER".into();
            s.after.quarantine = Some("left over".into());
            s.risk.push(RiskRecord::Refused { code: "RISK_TEST".into(), message: "left over".into() });
            Box::new(s)
        })
        .collect();
    assert_eq!(busy.len(), 50);
    assert!(busy.iter().any(|s| !s.fills.is_empty()) && busy.iter().any(|s| s.after.ctx.is_some()));
    busy.reverse();
    let recycled = lua_steps(&series.bars, busy, true);
    assert!(fresh.iter().filter(|s| !s.fills.is_empty()).count() > 20, "the strategy trades");
    assert_eq!(fresh.len(), recycled.len());
    for (i, (a, b)) in fresh.iter().zip(&recycled).enumerate() {
        assert_eq!(a, b, "step {i}");
    }
}

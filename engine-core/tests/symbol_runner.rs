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
    let history = runner.machine().history();
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

//! Risk halts through the engine: the kill switch and the drawdown halt
//! stop new entries, cancel working ones and (when configured) flatten.

use engine_core::engine::{EngineConfig, EngineReport, RunnerSpec, TradingEngine};
use engine_core::execution::{ExecutionConfig, OrderPurpose};
use engine_core::market_data::Bar;
use engine_core::risk::{KillSwitch, RiskConfig, Sizing};
use engine_core::runner::{Outcome, RunnerConfig};
use engine_core::sources::HistoricalSource;
use engine_core::strategy::{
    Commitment, CtxValue, Entry, Management, Setup, Side, Strategy, StrategyError, StrategyInput, StrategyVersion,
};

/// Always wants to be long: a setup every Watch bar, enters at once, holds
/// for `hold` bars. Engages `switch` on its `engage_at`-th call, if given.
struct AlwaysLong {
    hold: u64,
    calls: u64,
    switch: Option<(KillSwitch, u64)>,
}

impl AlwaysLong {
    fn tick(&mut self) {
        self.calls += 1;
        if let Some((switch, at)) = &self.switch {
            if self.calls == *at {
                switch.engage("test: operator pulled the switch");
            }
        }
    }
}

impl Strategy for AlwaysLong {
    fn name(&self) -> &str {
        "always_long"
    }
    fn version(&self) -> &StrategyVersion {
        static VERSION: std::sync::LazyLock<StrategyVersion> =
            std::sync::LazyLock::new(|| StrategyVersion { hash: "test".into(), generation: 1 });
        &VERSION
    }
    fn detect_opportunity(&mut self, _: StrategyInput<'_>) -> Result<Option<Setup>, StrategyError> {
        self.tick();
        Ok(Some(Setup { data: CtxValue::empty_table(), reason: "always".into() }))
    }
    fn filter_commitment(&mut self, _: StrategyInput<'_>) -> Result<Option<Commitment>, StrategyError> {
        self.tick();
        Ok(Some(Commitment::Enter(Entry::market(Side::Long, "go"))))
    }
    fn manage_position(&mut self, input: StrategyInput<'_>) -> Result<Option<Management>, StrategyError> {
        self.tick();
        Ok((input.position.bars_held >= self.hold).then(|| Management::Exit { fraction: 1.0, reason: "held".into() }))
    }
}

/// A steady fall from 100: 0.5 % a bar.
fn falling(n: usize) -> Vec<Bar> {
    let mut price = 100.0;
    (0..n)
        .map(|i| {
            let open = price;
            price *= 0.995;
            Bar::new("X".into(), i as i64 * 60_000, open, open * 1.001, price * 0.999, price, 1e6)
        })
        .collect()
}

async fn run(strategy: AlwaysLong, risk: RiskConfig, bars: Vec<Bar>, engine: Option<TradingEngine>) -> EngineReport {
    let mut engine = engine.unwrap_or_else(|| {
        TradingEngine::new(EngineConfig {
            risk,
            execution: ExecutionConfig { max_volume_fraction: None, ..ExecutionConfig::default() },
            ..EngineConfig::default()
        })
    });
    engine.add_runner(RunnerSpec {
        symbol: "X".into(),
        strategy: Box::new(strategy),
        source: Box::new(HistoricalSource::new("falling", bars)),
        config: RunnerConfig::default(),
        regime: None,
    });
    engine.run().await
}

fn entries_after(report: &EngineReport, time: i64) -> usize {
    report.accounts[0].ledger.fills.iter().filter(|f| f.purpose == OrderPurpose::Entry && f.time > time).count()
}

#[tokio::test]
async fn a_drawdown_halt_stops_entries_for_good_and_flattens_when_configured() {
    for flatten in [false, true] {
        let risk = RiskConfig {
            sizing: Sizing::PercentEquity { percent: 90.0 },
            max_drawdown_pct: Some(5.0),
            flatten_on_halt: flatten,
            ..RiskConfig::default()
        };
        let report = run(AlwaysLong { hold: 1_000, calls: 0, switch: None }, risk, falling(200), None).await;
        let account = &report.accounts[0];
        let halted = account.halted.as_deref().unwrap();
        assert!(halted.starts_with("RISK_MAX_DRAWDOWN"), "{halted}");
        assert_eq!(account.ledger.fills.iter().filter(|f| f.purpose == OrderPurpose::Entry).count(), 1);
        let flattened = account.ledger.fills.iter().any(|f| f.purpose == OrderPurpose::Flatten);
        assert_eq!(flattened, flatten, "flatten_on_halt = {flatten}");
        // Equity never fell far past the limit when flattening.
        if flatten {
            let worst = account.ledger.equity.iter().map(|p| p.equity).fold(f64::INFINITY, f64::min);
            assert!(worst > 10_000.0 * 0.93, "worst equity {worst}");
            assert_eq!(account.final_state.open_positions, 0);
            // Later setups are refused with the halt's code.
            assert!(account.refusals.get("RISK_MAX_DRAWDOWN").copied().unwrap_or(0) > 10, "{:?}", account.refusals);
            let refused = report.runners[0].events.iter().any(|e| {
                matches!(e, engine_core::events::RunnerEvent::Decision { decision, .. }
                    if matches!(&decision.outcome, Outcome::RiskRefused { code, .. } if code == "RISK_MAX_DRAWDOWN"))
            });
            assert!(refused);
        }
    }
}

#[tokio::test]
async fn the_kill_switch_cancels_working_orders_halts_and_flattens_when_configured() {
    for flatten in [false, true] {
        let mut risk = RiskConfig::default();
        risk.kill_switch.flatten = flatten;
        let engine = TradingEngine::new(EngineConfig {
            risk: risk.clone(),
            execution: ExecutionConfig { max_volume_fraction: None, ..ExecutionConfig::default() },
            ..EngineConfig::default()
        });
        // Flat prices: trades only end by the hold or the switch.
        let bars: Vec<Bar> =
            (0..300).map(|i| Bar::new("X".into(), i * 60_000, 100.0, 100.5, 99.5, 100.0, 1e6)).collect();
        let switch = engine.kill_switch();
        // Holds 50 bars; the switch goes on the strategy's 30th call, mid-trade.
        let strategy = AlwaysLong { hold: 50, calls: 0, switch: Some((switch, 30)) };
        let report = run(strategy, risk, bars, Some(engine)).await;
        let account = &report.accounts[0];
        let halted = account.halted.as_deref().unwrap();
        assert!(halted.starts_with("RISK_KILL_SWITCH") && halted.contains("operator pulled the switch"), "{halted}");
        let switch_time = report.runners[0]
            .events
            .iter()
            .filter_map(|e| match e {
                engine_core::events::RunnerEvent::Decision { decision, .. } => Some(decision.time),
                _ => None,
            })
            .nth(29)
            .unwrap();
        assert_eq!(entries_after(&report, switch_time), 0, "no entry after the switch");
        let flattened = account.ledger.fills.iter().find(|f| f.purpose == OrderPurpose::Flatten);
        assert_eq!(flattened.is_some(), flatten);
        if let Some(f) = flattened {
            // Flattened at the open of the bar after the one the switch was seen on.
            assert!(f.time > switch_time && f.time <= switch_time + 2 * 60_000, "{} vs {}", f.time, switch_time);
            assert_eq!(account.final_state.open_positions, 0);
        } else {
            // Kept: the strategy still manages it and exits on its own rule.
            let last = account.ledger.trades.last().unwrap();
            assert_eq!(last.exit_reason, "exit");
            assert!(last.entry_time < switch_time && last.exit_time > switch_time);
        }
    }
}

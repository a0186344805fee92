//! The trading engine: live and historical paths are mechanically the same,
//! multi-symbol runs are deterministic, a failing runner is contained, and
//! a cancelled run stops and reports.

use std::path::Path;
use std::time::Duration;

use engine_core::engine::{AccountMode, EngineConfig, EngineReport, RunMode, RunnerSpec, TradingEngine};
use engine_core::market_data::Bar;
use engine_core::runner::RunnerConfig;
use engine_core::sources::{
    generate, HistoricalSource, MarketDataSource, PushedSource, SourceError, SourceEvent, SyntheticConfig,
};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{
    Commitment, CtxValue, EmaCrossover, EmaCrossoverParams, LuaStrategy, Management, Setup, Strategy, StrategyError,
    StrategyInput, StrategyVersion,
};

fn bars(symbol: &str, seed: u64, n: usize) -> Vec<Bar> {
    generate(&SyntheticConfig { symbol: symbol.into(), seed, bars: n, ..SyntheticConfig::default() }).bars
}

fn lua_strategy(symbol: &str) -> Box<dyn Strategy> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    Box::new(LuaStrategy::load(&file, symbol, CtxValue::empty_table(), SandboxLimits::default(), 500).unwrap())
}

fn spec(
    symbol: &str,
    strategy: Box<dyn Strategy>,
    source: Box<dyn engine_core::sources::MarketDataSource>,
) -> RunnerSpec {
    RunnerSpec { symbol: symbol.into(), strategy, source, config: RunnerConfig::default(), regime: None }
}

/// What must be identical between two runs.
fn fingerprint(report: &EngineReport) -> String {
    let ledger = report.combined_ledger();
    let transitions: Vec<_> = report.runners.iter().flat_map(|r| r.events.iter()).collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        ledger.orders,
        ledger.fills,
        ledger.trades,
        report.accounts.iter().map(|a| &a.final_state).collect::<Vec<_>>(),
        transitions
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_path_and_the_historical_path_trade_identically() {
    let data = bars("SYNTH", 4, 3_000);

    let mut historical = TradingEngine::new(EngineConfig::default());
    historical.add_runner(spec(
        "SYNTH",
        lua_strategy("SYNTH"),
        Box::new(HistoricalSource::new("history", data.clone())),
    ));
    let historical = historical.run().await;

    // Live: the same bars pushed one by one in real time (a fast clock:
    // a bar every 100 µs), through the live feed.
    let (sender, source) = PushedSource::channel("pushed", 16);
    let mut live = TradingEngine::new(EngineConfig { mode: RunMode::Live, ..EngineConfig::default() });
    live.add_runner(spec("SYNTH", lua_strategy("SYNTH"), Box::new(source)));
    let feed = data.clone();
    let pusher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(100));
        for bar in feed {
            tick.tick().await;
            sender.send(bar).await.unwrap();
        }
    });
    let live = live.run().await;
    pusher.await.unwrap();

    let ledger = historical.combined_ledger();
    assert!(ledger.trades.len() > 20, "{} trades", ledger.trades.len());
    assert_eq!(historical.runners[0].counts.bars, 3_000);
    assert_eq!(live.runners[0].counts.bars, 3_000);
    assert_eq!(fingerprint(&historical), fingerprint(&live));
    assert!(!historical.interrupted && !live.interrupted);
}

fn three_symbols(accounts: AccountMode) -> TradingEngine {
    let mut engine = TradingEngine::new(EngineConfig { accounts, ..EngineConfig::default() });
    for (i, symbol) in ["AAA", "BBB", "CCC"].into_iter().enumerate() {
        let strategy = Box::new(EmaCrossover::new(EmaCrossoverParams::default()));
        engine.add_runner(spec(
            symbol,
            strategy,
            Box::new(HistoricalSource::new(symbol, bars(symbol, i as u64, 4_000))),
        ));
    }
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_account_merges_symbols_by_time_deterministically() {
    let first = three_symbols(AccountMode::Shared).run().await;
    let second = three_symbols(AccountMode::Shared).run().await;
    assert_eq!(fingerprint(&first), fingerprint(&second));
    assert_eq!(first.accounts.len(), 1);
    let ledger = &first.accounts[0].ledger;
    // One equity point per time step (the three symbols share their times).
    assert_eq!(ledger.equity.len(), 4_000);
    let symbols: std::collections::BTreeSet<_> = ledger.fills.iter().map(|f| &*f.symbol).collect();
    assert_eq!(symbols.len(), 3, "every symbol traded on the one account");
    // Fills are in time order across symbols.
    assert!(ledger.fills.windows(2).all(|w| w[0].time <= w[1].time));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_per_runner_match_runs_of_each_symbol_alone() {
    let together = three_symbols(AccountMode::PerRunner).run().await;
    assert_eq!(together.accounts.len(), 3);
    for (i, symbol) in ["AAA", "BBB", "CCC"].into_iter().enumerate() {
        let mut alone = TradingEngine::new(EngineConfig::default());
        let strategy = Box::new(EmaCrossover::new(EmaCrossoverParams::default()));
        alone.add_runner(spec(
            symbol,
            strategy,
            Box::new(HistoricalSource::new(symbol, bars(symbol, i as u64, 4_000))),
        ));
        let alone = alone.run().await;
        let account = together.accounts.iter().find(|a| a.symbols == [symbol]).unwrap();
        assert_eq!(account.ledger.fills, alone.accounts[0].ledger.fills, "{symbol}");
        assert_eq!(account.final_state, alone.accounts[0].final_state, "{symbol}");
    }
    // The combined curve sums the three accounts.
    let combined = together.combined_ledger();
    let last = combined.equity.last().unwrap().equity;
    let sum: f64 = together.accounts.iter().map(|a| a.ledger.equity.last().unwrap().equity).sum();
    assert!((last - sum).abs() < 1e-6);
    assert_eq!(together.initial_capital(), 30_000.0);
}

/// Trades like `EmaCrossover` but panics on its 500th call.
struct Faulty {
    inner: EmaCrossover,
    calls: u32,
}

impl Faulty {
    fn tick(&mut self) {
        self.calls += 1;
        if self.calls == 500 {
            panic!("faulty strategy blew up");
        }
    }
}

impl Strategy for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }
    fn version(&self) -> &StrategyVersion {
        self.inner.version()
    }
    fn detect_opportunity(&mut self, input: StrategyInput<'_>) -> Result<Option<Setup>, StrategyError> {
        self.tick();
        self.inner.detect_opportunity(input)
    }
    fn filter_commitment(&mut self, input: StrategyInput<'_>) -> Result<Option<Commitment>, StrategyError> {
        self.tick();
        self.inner.filter_commitment(input)
    }
    fn manage_position(&mut self, input: StrategyInput<'_>) -> Result<Option<Management>, StrategyError> {
        self.tick();
        self.inner.manage_position(input)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_runner_is_stopped_and_reported_while_the_others_finish() {
    for accounts in [AccountMode::Shared, AccountMode::PerRunner] {
        let mut engine = TradingEngine::new(EngineConfig { accounts, ..EngineConfig::default() });
        let faulty = Box::new(Faulty { inner: EmaCrossover::new(EmaCrossoverParams::default()), calls: 0 });
        engine.add_runner(spec("BAD", faulty, Box::new(HistoricalSource::new("bad", bars("BAD", 1, 2_000)))));
        let good = Box::new(EmaCrossover::new(EmaCrossoverParams::default()));
        engine.add_runner(spec("GOOD", good, Box::new(HistoricalSource::new("good", bars("GOOD", 2, 2_000)))));
        let report = engine.run().await;
        let bad = report.runners.iter().find(|r| r.symbol == "BAD").unwrap();
        let good = report.runners.iter().find(|r| r.symbol == "GOOD").unwrap();
        let error = bad.error.as_deref().unwrap();
        assert!(error.contains("panic") && error.contains("faulty strategy blew up"), "{error}");
        assert!(bad.counts.bars < 2_000);
        assert_eq!(good.counts.bars, 2_000, "{accounts:?}");
        assert!(good.error.is_none());
        assert!(report.failed() && report.lost_runners.is_empty());
    }
}

/// A source that panics after `left` bars: outside any runner's step.
struct PanickingSource {
    inner: HistoricalSource,
    left: usize,
}

#[async_trait::async_trait]
impl MarketDataSource for PanickingSource {
    fn name(&self) -> &str {
        "panicking"
    }
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        assert!(self.left > 0, "the source blew up");
        self.left -= 1;
        self.inner.next_event().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_lost_outside_its_runners_steps_fails_the_report() {
    let mut engine = TradingEngine::new(EngineConfig { accounts: AccountMode::PerRunner, ..EngineConfig::default() });
    let source = PanickingSource { inner: HistoricalSource::new("bad", bars("BAD", 1, 2_000)), left: 300 };
    let strategy = Box::new(EmaCrossover::new(EmaCrossoverParams::default()));
    engine.add_runner(spec("BAD", strategy, Box::new(source)));
    let good = Box::new(EmaCrossover::new(EmaCrossoverParams::default()));
    engine.add_runner(spec("GOOD", good, Box::new(HistoricalSource::new("good", bars("GOOD", 2, 2_000)))));
    let report = engine.run().await;
    assert!(report.failed());
    assert_eq!(report.lost_runners.len(), 1, "{:?}", report.lost_runners);
    assert!(report.lost_runners[0].starts_with("runners BAD stopped:"), "{}", report.lost_runners[0]);
    let good = report.runners.iter().find(|r| r.symbol == "GOOD").unwrap();
    assert_eq!(good.counts.bars, 2_000);
    assert!(good.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_paced_run_stops_promptly_and_reports_what_it_did() {
    // One bar a minute at 600x: 100 ms per bar, 10,000 bars would take 17 min.
    let mut engine = TradingEngine::new(EngineConfig {
        mode: RunMode::Historical { speed: Some(600.0) },
        ..EngineConfig::default()
    });
    let strategy = Box::new(EmaCrossover::new(EmaCrossoverParams::default()));
    engine.add_runner(spec("SYNTH", strategy, Box::new(HistoricalSource::new("s", bars("SYNTH", 3, 10_000)))));
    let token = engine.shutdown_token();
    let progress = engine.progress();
    let run = tokio::spawn(engine.run());
    tokio::time::sleep(Duration::from_millis(450)).await;
    token.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), run).await.expect("stops within 5 s").unwrap();
    assert!(report.interrupted);
    let done = report.runners[0].counts.bars;
    assert!((2..=10).contains(&done), "{done} bars in ~450 ms at 100 ms per bar");
    assert_eq!(progress.bars(), done);
    assert_eq!(progress.total(), Some(10_000));
    assert_eq!(report.accounts[0].ledger.equity.len() as u64, done);
}

/// A fast run adds each group's bars and market time to the shared
/// progress in batches; at the end it holds every bar and the last time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_run_reports_every_bar_and_the_last_market_time() {
    let mut engine = TradingEngine::new(EngineConfig { accounts: AccountMode::PerRunner, ..EngineConfig::default() });
    // 2,500 bars each: not a multiple of the groups' reporting interval.
    let series: Vec<Vec<Bar>> = ["A", "B", "C"].iter().zip(1..).map(|(s, seed)| bars(s, seed, 2_500)).collect();
    for (symbol, bars) in ["A", "B", "C"].into_iter().zip(&series) {
        let strategy = Box::new(EmaCrossover::new(EmaCrossoverParams::default()));
        engine.add_runner(spec(symbol, strategy, Box::new(HistoricalSource::new(symbol, bars.clone()))));
    }
    let progress = engine.progress();
    let report = engine.run().await;
    assert!(!report.interrupted);
    assert_eq!(progress.bars(), 7_500);
    let last = series.iter().map(|b| b.last().unwrap().open_time).max();
    assert_eq!(progress.clock.time(), last);
}

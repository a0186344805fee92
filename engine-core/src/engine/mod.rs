//! [`TradingEngine`]: many symbol runners at once, live or historical, by
//! the same code.
//!
//! Runners are grouped by account. With one account per runner, each
//! group runs as its own tokio task, so independent symbols use every core.
//! With a shared account, one group holds every runner and takes their bars
//! merged by time (ties in runner order), so a multi-symbol backtest is
//! deterministic. A live group takes bars as they arrive instead. Either
//! way a step is: the bars of one time, each through its runner, bracketed
//! by the account's `begin_step` / `end_step`.
//!
//! A runner that panics or breaks an invariant is stopped and reported;
//! the others go on. The engine stops taking bars when its
//! [`CancellationToken`] is cancelled (Ctrl-C), finishes the step in
//! progress and reports what it has.

pub mod clock;
mod group;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use clock::{check_speed, Clock, MarketClock, Pacer, RunMode, WallClock};

use crate::events::session::{SessionRecorder, StepSender};
use crate::events::RunnerEvent;
use crate::execution::{AccountSnapshot, ExecutionConfig, Ledger};
use crate::regime::RegimeDetector;
use crate::risk::{KillSwitch, RiskConfig};
use crate::runner::{RunnerConfig, RunnerCounts};
use crate::sources::MarketDataSource;
use crate::state_machine::SymbolState;
use crate::strategy::{Strategy, StrategyVersion};

/// Whether runners share one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountMode {
    /// One account for every symbol (cash and limits are shared).
    #[default]
    Shared,
    /// One account per runner.
    PerRunner,
}

/// What the engine keeps while it runs (everything by default; a benchmark
/// turns it all off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording {
    /// Decisions and transitions of every runner.
    pub events: bool,
    /// An equity point per step.
    pub equity: bool,
    /// Every close, per symbol (for the report's price charts).
    pub prices: bool,
}

impl Default for Recording {
    fn default() -> Self {
        Recording { events: true, equity: true, prices: true }
    }
}

/// How the engine runs.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub mode: RunMode,
    pub accounts: AccountMode,
    pub execution: ExecutionConfig,
    /// Each account gets a risk manager with these rules.
    pub risk: RiskConfig,
    pub recording: Recording,
}

/// One runner to start: a symbol, its strategy and where its bars come from.
pub struct RunnerSpec {
    pub symbol: String,
    pub strategy: Box<dyn Strategy>,
    pub source: Box<dyn MarketDataSource>,
    pub config: RunnerConfig,
    /// A trained detector for `ind.regime()`, if the strategy uses one.
    pub regime: Option<RegimeDetector>,
}

/// A live view of a runner, refreshed as it goes (for status lines).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunnerStatus {
    pub symbol: String,
    pub state: String,
    /// Signed quantity.
    pub position: f64,
    pub unrealized_pnl: f64,
    /// Of the runner's account (shared or not).
    pub equity: f64,
    pub realized_pnl: f64,
    pub bars: u64,
    pub last_time: i64,
    pub quarantined: bool,
}

/// Counters the caller can read while the engine runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bars processed, all runners together.
    pub bars: AtomicU64,
    /// Bars the sources said they had at the start (0: unknown).
    pub total: AtomicU64,
    /// The market time the run has reached.
    pub clock: MarketClock,
    status: Mutex<BTreeMap<String, RunnerStatus>>,
}

impl Progress {
    pub fn bars(&self) -> u64 {
        self.bars.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// The latest status of every runner, by symbol.
    pub fn statuses(&self) -> Vec<RunnerStatus> {
        self.status.lock().values().cloned().collect()
    }

    fn publish(&self, status: RunnerStatus) {
        self.status.lock().insert(status.symbol.clone(), status);
    }
}

/// What one runner did.
#[derive(Debug, Clone)]
pub struct RunnerReport {
    pub symbol: String,
    pub strategy: String,
    pub version: StrategyVersion,
    pub source: String,
    pub counts: RunnerCounts,
    pub state: SymbolState,
    pub quarantine: Option<String>,
    /// Why the runner was stopped early (a panic or a broken invariant).
    pub error: Option<String>,
    /// First and last bar times.
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
    /// Decisions and transitions, when recorded.
    pub events: Vec<RunnerEvent>,
}

/// What one account did.
#[derive(Debug, Clone)]
pub struct AccountReport {
    pub symbols: Vec<String>,
    pub ledger: Ledger,
    pub final_state: AccountSnapshot,
    /// Entries risk refused, by code.
    pub refusals: BTreeMap<String, u64>,
    /// Why risk halted the account, if it did.
    pub halted: Option<String>,
}

/// Everything a run produced.
#[derive(Debug, Clone, Default)]
pub struct EngineReport {
    pub runners: Vec<RunnerReport>,
    pub accounts: Vec<AccountReport>,
    /// Closes per symbol, when recorded.
    pub prices: BTreeMap<String, Vec<(i64, f64)>>,
    /// Stopped by the cancellation token before the data ended.
    pub interrupted: bool,
    /// The session log failed, and trading stopped there.
    pub log_error: Option<String>,
    /// Groups of runners whose task itself failed (a panic outside any
    /// runner's step): they have no report above, only this message.
    pub lost_runners: Vec<String>,
}

impl EngineReport {
    /// A runner stopped early, or a group of them was lost.
    pub fn failed(&self) -> bool {
        !self.lost_runners.is_empty() || self.runners.iter().any(|r| r.error.is_some())
    }

    /// Initial capital over all accounts.
    pub fn initial_capital(&self) -> f64 {
        self.accounts.iter().map(|a| a.final_state.initial_capital).sum()
    }

    /// The accounts' ledgers merged: orders, fills and trades by time, and
    /// one equity curve summing every account at each time (an account
    /// counts with its last equity until its next point). A single
    /// account's ledger is borrowed as it is.
    pub fn combined_ledger(&self) -> Cow<'_, Ledger> {
        if self.accounts.len() == 1 {
            return Cow::Borrowed(&self.accounts[0].ledger);
        }
        let mut ledger = Ledger::default();
        for a in &self.accounts {
            ledger.orders.extend(a.ledger.orders.iter().cloned());
            ledger.fills.extend(a.ledger.fills.iter().cloned());
            ledger.trades.extend(a.ledger.trades.iter().cloned());
        }
        ledger.orders.sort_by_key(|o| (o.submitted, o.id));
        ledger.fills.sort_by_key(|f| (f.time, f.order_id));
        ledger.trades.sort_by_key(|t| (t.exit_time, t.entry_time));
        for (i, t) in ledger.trades.iter_mut().enumerate() {
            t.id = i as u64 + 1;
        }
        ledger.equity = group::merge_equity(self.accounts.iter().map(|a| a.ledger.equity.as_slice()).collect());
        Cow::Owned(ledger)
    }
}

/// Runs runners, each on its own or a shared account.
pub struct TradingEngine {
    config: EngineConfig,
    runners: Vec<RunnerSpec>,
    shutdown: CancellationToken,
    progress: Arc<Progress>,
    kill_switch: KillSwitch,
    /// One sender per group, when a session is recorded.
    log: Option<Vec<StepSender>>,
}

impl TradingEngine {
    pub fn new(config: EngineConfig) -> TradingEngine {
        let kill_switch = KillSwitch::new(config.risk.kill_switch.file.clone());
        TradingEngine {
            config,
            runners: Vec::new(),
            shutdown: CancellationToken::new(),
            progress: Arc::new(Progress::default()),
            kill_switch,
            log: None,
        }
    }

    /// Records every runner step into `recorder`'s session (call after the
    /// last [`TradingEngine::add_runner`]). Historical runs with several
    /// accounts merge their steps by time, so the log is the same however
    /// the groups' threads interleave.
    pub fn record_to(&mut self, recorder: &mut SessionRecorder) {
        let groups = match self.config.accounts {
            AccountMode::Shared => 1,
            AccountMode::PerRunner => self.runners.len(),
        };
        let live = self.config.mode.is_live() || self.runners.iter().any(|r| r.source.is_live());
        self.log = Some(recorder.connect(groups, !live));
    }

    pub fn add_runner(&mut self, spec: RunnerSpec) {
        self.runners.push(spec);
    }

    /// Cancel it to stop the engine after the step in progress.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// The kill switch every account watches: engage it (a flag, a signal)
    /// to cancel working entries and halt new ones (and flatten, if
    /// `risk.kill_switch.flatten`).
    pub fn kill_switch(&self) -> KillSwitch {
        self.kill_switch.clone()
    }

    /// Runs until every source ends or the token is cancelled.
    pub async fn run(self) -> EngineReport {
        let TradingEngine { config, runners, shutdown, progress, kill_switch, log } = self;
        let mut log = log.map(|senders| senders.into_iter().map(Some).collect::<Vec<_>>());
        let total: usize = runners.iter().filter_map(|r| r.source.remaining()).sum();
        progress.total.store(total as u64, Ordering::Relaxed);
        let groups: Vec<Vec<RunnerSpec>> = match config.accounts {
            AccountMode::Shared => vec![runners],
            AccountMode::PerRunner => runners.into_iter().map(|r| vec![r]).collect(),
        };
        let mut tasks = Vec::new();
        for (index, specs) in groups.into_iter().enumerate() {
            let symbols: Vec<String> = specs.iter().map(|s| s.symbol.clone()).collect();
            let sender = log.as_mut().and_then(|senders| senders.get_mut(index).and_then(Option::take));
            let group = group::Group::new(specs, &config, kill_switch.clone(), sender);
            let task = tokio::spawn(group.run(config.mode, shutdown.clone(), progress.clone()));
            tasks.push((symbols, task));
        }
        let mut report = EngineReport::default();
        for (symbols, task) in tasks {
            match task.await {
                Ok(outcome) => {
                    report.interrupted |= outcome.interrupted;
                    if let Some(e) = outcome.log_error {
                        report.log_error.get_or_insert(e);
                    }
                    report.runners.extend(outcome.runners);
                    report.accounts.push(outcome.account);
                    report.prices.extend(outcome.prices);
                }
                Err(e) => {
                    // The group's loop itself failed (runner panics are
                    // caught inside it): its symbols have no results.
                    let message = format!("runners {} stopped: {e}", symbols.join(", "));
                    tracing::error!("{message}");
                    report.lost_runners.push(message);
                }
            }
        }
        report
    }
}

//! [`SymbolRunner`]: one symbol and one strategy, bar by bar. It feeds the
//! indicators, applies execution's fills to the state machine, asks the
//! strategy what to do in the current state (on its cadence), passes the
//! decision to execution, and checks the invariants after every bar.
//!
//! This is the synchronous core of a runner; sources, clocks, risk and the
//! event log attach around it.

use serde::{Deserialize, Serialize};

use crate::events::view::price_text;
use crate::events::{
    AccountFigures, EventSink, IndicatorValues, MemorySink, RecordedBar, RiskRecord, RunnerEvent, StepDetail,
    StepRecord, SymbolSnapshot,
};
use crate::execution::{
    Account, EntryRequest, ExecutionConfig, ExecutionEvent, OrderKind, OrderPurpose, OrderRecord, OrderStatus,
    SymbolBroker,
};
use crate::market_data::{Bar, MarketDataWindow, Symbol};
use crate::regime::RegimeDetector;
use crate::risk::{EntryIntent, RiskAction, RiskConfig, RiskManager};
use crate::state_machine::{
    Cadence, InvalidTransition, InvariantViolation, SetupTimeout, StateEvent, StateMachine, SymbolState, Transition,
};
use crate::strategy::{
    Commitment, IndicatorSet, Management, MarketView, Strategy, StrategyError, StrategyInput, StrategyVersion,
};

/// An account and the risk manager guarding it: what a runner trades on.
/// One desk may serve several runners (a shared account).
pub struct Desk {
    pub account: Account,
    pub risk: RiskManager,
}

impl Desk {
    pub fn new(account: Account, risk: RiskManager) -> Desk {
        Desk { account, risk }
    }
}

/// What to do with an open position when its strategy is quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantinePolicy {
    /// Leave it to its stop and target.
    #[default]
    KeepStop,
    /// Close it at the bar's close.
    Close,
}

/// How a runner drives its strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunnerConfig {
    pub cadence: Cadence,
    pub setup_timeout: SetupTimeout,
    /// Bars a working entry order may wait before it is cancelled.
    pub entry_timeout_bars: u64,
    /// Bars kept for `md.history` and indicator warm-up.
    pub window: usize,
    pub on_quarantine: QuarantinePolicy,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            cadence: Cadence::default(),
            setup_timeout: SetupTimeout { bars: Some(50), millis: None },
            entry_timeout_bars: 20,
            window: 500,
            on_quarantine: QuarantinePolicy::KeepStop,
        }
    }
}

/// A broken runner invariant: a bug, never a strategy's fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    #[error(transparent)]
    Invariant(#[from] InvariantViolation),
}

/// What a strategy call gave, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Nothing,
    Setup {
        reason: String,
    },
    Enter {
        side: crate::strategy::Side,
        quantity: f64,
        reason: String,
    },
    Cancel {
        reason: String,
    },
    Exit {
        fraction: f64,
        reason: String,
    },
    Update {
        stop: Option<f64>,
        target: Option<f64>,
        reason: String,
    },
    /// Execution refused the request.
    Refused {
        reason: String,
    },
    /// Risk refused the entry (`code` such as `RISK_MAX_DRAWDOWN`).
    RiskRefused {
        code: String,
        message: String,
    },
    /// The strategy returned a malformed action (counted, not quarantined).
    BadAction {
        message: String,
    },
    /// The script failed: the strategy is quarantined for this symbol.
    Failed {
        message: String,
    },
}

impl std::fmt::Display for Outcome {
    /// One line: `setup (cross up)`, `enter long 2 (breakout)`,
    /// `update stop 100.07 (break-even)`, `RISK_MAX_POSITIONS: ...`.
    /// Absent fields are left out, an empty reason without its parentheses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let because = |f: &mut std::fmt::Formatter<'_>, reason: &str| match reason {
            "" => Ok(()),
            reason => write!(f, " ({reason})"),
        };
        match self {
            Outcome::Nothing => f.write_str("nothing"),
            Outcome::Setup { reason } => {
                f.write_str("setup")?;
                because(f, reason)
            }
            Outcome::Enter { side, quantity, reason } => {
                write!(f, "enter {} {quantity}", side.as_str())?;
                because(f, reason)
            }
            Outcome::Cancel { reason } => {
                f.write_str("cancel")?;
                because(f, reason)
            }
            Outcome::Exit { fraction, reason } => {
                write!(f, "exit {fraction}")?;
                because(f, reason)
            }
            Outcome::Update { stop, target, reason } => {
                f.write_str("update")?;
                if let Some(stop) = stop {
                    write!(f, " stop {}", price_text(*stop))?;
                }
                if let Some(target) = target {
                    write!(f, " target {}", price_text(*target))?;
                }
                because(f, reason)
            }
            Outcome::Refused { reason } => write!(f, "refused: {reason}"),
            Outcome::RiskRefused { code, message } => write!(f, "{code}: {message}"),
            Outcome::BadAction { message } => write!(f, "bad action: {message}"),
            Outcome::Failed { message } => write!(f, "failed: {message}"),
        }
    }
}

/// The strategy callback a decision came from (one per state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Callback {
    DetectOpportunity,
    FilterCommitment,
    ManagePosition,
}

impl Callback {
    pub fn as_str(self) -> &'static str {
        match self {
            Callback::DetectOpportunity => "detect_opportunity",
            Callback::FilterCommitment => "filter_commitment",
            Callback::ManagePosition => "manage_position",
        }
    }
}

/// One strategy call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub time: i64,
    pub callback: Callback,
    pub version: StrategyVersion,
    pub outcome: Outcome,
}

/// Counts for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerCounts {
    pub bars: u64,
    pub calls: u64,
    pub bad_actions: u64,
    pub script_failures: u64,
    pub refusals: u64,
    pub risk_refusals: u64,
    pub reloads: u64,
    pub failed_reloads: u64,
}

/// One symbol driven by one strategy; its decisions and transitions go to
/// the event sink `K` (kept in memory by default).
pub struct SymbolRunner<S: Strategy, K: EventSink = MemorySink> {
    symbol: String,
    /// The symbol as events carry it.
    symbol_id: Symbol,
    sink: K,
    strategy: S,
    config: RunnerConfig,
    machine: StateMachine,
    broker: SymbolBroker,
    /// The runner's own account and risk manager, unless it trades on a
    /// shared desk ([`SymbolRunner::on_bar_with`]).
    desk: Option<Desk>,
    window: MarketDataWindow,
    indicators: IndicatorSet,
    quarantine: Option<String>,
    counts: RunnerCounts,
    /// A trained regime detector, updated on every bar, for `ind.regime()`.
    regime: Option<RegimeDetector>,
    /// What the current step did, for a sink that takes whole steps.
    capture: StepCapture,
}

/// The parts of a step gathered while it runs (risk actions taken before
/// the bar included), and where the ledger stood after the last one.
#[derive(Default)]
struct StepCapture {
    transitions: Vec<Transition>,
    /// The decision's time, callback and outcome (its version is the
    /// strategy's, set when the step is built).
    decision: Option<(i64, Callback, Outcome)>,
    risk: Vec<RiskRecord>,
    ledger_orders: usize,
    ledger_fills: usize,
    /// The working orders as last recorded, shared with the records until
    /// they change.
    working: std::sync::Arc<[OrderRecord]>,
}

impl<S: Strategy> SymbolRunner<S, MemorySink> {
    /// A runner with its own account, the default execution model and
    /// the default risk (one unit per entry, no limits).
    pub fn new(symbol: &str, strategy: S, config: RunnerConfig) -> Self {
        SymbolRunner::with_execution(symbol, strategy, config, ExecutionConfig::default(), RiskConfig::default())
    }

    /// A runner with its own account, filled by `execution`, guarded by `risk`.
    pub fn with_execution(
        symbol: &str,
        strategy: S,
        config: RunnerConfig,
        execution: ExecutionConfig,
        risk: RiskConfig,
    ) -> Self {
        let desk = Desk::new(Account::new(execution.initial_capital), RiskManager::new(risk));
        let mut runner = SymbolRunner::on_shared_account(symbol, strategy, config, execution);
        runner.desk = Some(desk);
        runner
    }

    /// A runner trading on an account it is handed with every bar
    /// ([`SymbolRunner::on_bar_with`]), possibly shared with other symbols.
    pub fn on_shared_account(symbol: &str, strategy: S, config: RunnerConfig, execution: ExecutionConfig) -> Self {
        SymbolRunner::with_sink(symbol, strategy, config, execution, MemorySink::default())
    }

    /// The decisions recorded so far.
    pub fn decisions(&self) -> Vec<&Decision> {
        self.sink.decisions().collect()
    }

    /// The transitions recorded so far.
    pub fn transitions(&self) -> Vec<&Transition> {
        self.sink.transitions().collect()
    }
}

impl<S: Strategy, K: EventSink> SymbolRunner<S, K> {
    /// A runner on a shared account whose events go to `sink`.
    pub fn with_sink(symbol: &str, strategy: S, config: RunnerConfig, execution: ExecutionConfig, sink: K) -> Self {
        SymbolRunner {
            symbol: symbol.to_string(),
            symbol_id: Symbol::from(symbol),
            sink,
            strategy,
            window: MarketDataWindow::new(config.window.max(1)),
            config,
            machine: StateMachine::new(),
            broker: SymbolBroker::new(symbol, execution),
            desk: None,
            indicators: IndicatorSet::default(),
            quarantine: None,
            counts: RunnerCounts::default(),
            regime: None,
            capture: StepCapture::default(),
        }
    }

    /// Gives the strategy a trained regime detector (`ind.regime()`); it
    /// takes in every bar from now on.
    pub fn with_regime(mut self, detector: RegimeDetector) -> Self {
        self.regime = Some(detector);
        self
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    pub fn broker(&self) -> &SymbolBroker {
        &self.broker
    }

    /// The runner's own account (`None` on a shared desk).
    pub fn account(&self) -> Option<&Account> {
        self.desk.as_ref().map(|d| &d.account)
    }

    /// The runner's own desk (`None` on a shared one).
    pub fn desk_mut(&mut self) -> Option<&mut Desk> {
        self.desk.as_mut()
    }

    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    pub fn strategy_mut(&mut self) -> &mut S {
        &mut self.strategy
    }

    pub fn sink(&self) -> &K {
        &self.sink
    }

    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.sink
    }

    /// Gives the runner its own desk (replacing any).
    pub fn set_desk(&mut self, desk: Desk) {
        self.desk = Some(desk);
    }

    pub fn counts(&self) -> RunnerCounts {
        self.counts
    }

    /// Why the strategy is quarantined, if it is.
    pub fn quarantine(&self) -> Option<&str> {
        self.quarantine.as_deref()
    }

    /// A reload succeeded: the new version may trade again.
    pub fn reloaded(&mut self, version: &StrategyVersion) {
        self.counts.reloads += 1;
        if let Some(why) = self.quarantine.take() {
            tracing::info!(symbol = self.symbol, version = version.short(), "quarantine lifted by a reload ({why})");
        }
    }

    /// A reload failed; the running version stays.
    pub fn reload_failed(&mut self, message: &str) {
        self.counts.failed_reloads += 1;
        tracing::warn!(symbol = self.symbol, "reload refused, the running version stays: {message}");
    }

    /// Processes one bar on the runner's own desk (one account step, risk
    /// actions included).
    ///
    /// # Panics
    /// If the runner trades on a shared desk.
    pub fn on_bar(&mut self, bar: &Bar) -> Result<(), RunnerError> {
        let mut desk = self.desk.take().expect("on_bar needs the runner's own desk; use on_bar_with");
        desk.account.begin_step(bar.open_time);
        let mut result = Ok(());
        for action in desk.risk.on_account(&desk.account.snapshot()) {
            result = result.and(self.risk_action(&action, &mut desk.account));
        }
        let result = result.and_then(|()| self.on_bar_with(bar, &mut desk));
        desk.account.end_step();
        self.desk = Some(desk);
        result
    }

    /// Carries out a risk action (from [`RiskManager::on_account`]) on this
    /// runner's symbol: cancel working entries, or flatten at the next price.
    pub fn risk_action(&mut self, action: &RiskAction, account: &mut Account) -> Result<(), RunnerError> {
        let time = self.window.latest().map_or(i64::MIN, |b| b.open_time);
        if self.sink.steps().is_some() {
            let (kind, reason) = match action {
                RiskAction::CancelWorkingOrders { reason } => ("cancel_working_orders", reason),
                RiskAction::Flatten { reason } => ("flatten", reason),
            };
            self.capture.risk.push(RiskRecord::Action {
                action: kind.to_string(),
                code: reason.code.as_str().to_string(),
                message: reason.message.clone(),
            });
        }
        match action {
            RiskAction::CancelWorkingOrders { reason } => self.cancel_entries(&reason.to_string(), time, account),
            RiskAction::Flatten { reason } => match self.window.latest().cloned() {
                Some(bar) => self.flatten(&reason.to_string(), &bar, account),
                None => Ok(()),
            },
        }
    }

    /// Processes one bar on `desk`. The caller brackets the bars of one
    /// time step with [`Account::begin_step`] and [`Account::end_step`], and
    /// carries out [`RiskManager::on_account`]'s actions.
    pub fn on_bar_with(&mut self, bar: &Bar, desk: &mut Desk) -> Result<(), RunnerError> {
        let Desk { account, risk } = desk;
        let time = bar.open_time;
        let before = self.machine.state();
        match self.strategy.poll_reload() {
            Some(Ok(version)) => self.reloaded(&version),
            Some(Err(message)) => self.reload_failed(&message),
            None => {}
        }
        self.counts.bars += 1;
        self.window.push(bar.clone());
        self.indicators.update(bar);
        if let Some(detector) = &mut self.regime {
            if let Err(e) = detector.push(bar) {
                tracing::warn!(symbol = self.symbol, "regime detector skipped a bar: {e}");
            }
        }
        for event in self.broker.on_bar(bar, account) {
            self.apply_execution(&event, time, account)?;
        }
        self.expire(time, account)?;
        if self.quarantine.is_none() && self.config.cadence.due(self.machine.state(), self.machine.bars_in_state()) {
            self.consult(bar, account, risk)?;
        }
        self.machine.state().check(self.broker.exposure(account))?;
        self.machine.tick();
        self.record_transitions();
        if let Some(detail) = self.sink.steps() {
            let step = self.step_record(bar, before, account, detail);
            self.sink.record_step(step);
        }
        Ok(())
    }

    /// Moves the machine's new transitions to the sink.
    fn record_transitions(&mut self) {
        let steps = self.sink.steps().is_some();
        if !self.sink.enabled() && !steps {
            self.machine.clear_history();
            return;
        }
        for transition in self.machine.drain_history() {
            if steps {
                self.capture.transitions.push(transition.clone());
            }
            if self.sink.enabled() {
                self.sink.record(RunnerEvent::Transition { symbol: self.symbol_id.clone(), transition });
            }
        }
    }

    /// The whole step just taken, for the event log: written over a step
    /// the sink is done with when it has one, so that recording a step
    /// allocates and frees nothing in the common case, and the `Arc`s it
    /// shares (symbol, indicator names, working orders) are not counted up
    /// and down again when they are the ones it already holds.
    fn step_record(
        &mut self,
        bar: &Bar,
        before: SymbolState,
        account: &Account,
        detail: StepDetail,
    ) -> Box<StepRecord> {
        let mut step = self.sink.spare_step().unwrap_or_else(|| Box::new(StepRecord::blank(self.symbol_id.clone())));
        // Every field is named, none left out: a spare holds another
        // step's values (see `Codec::encode_step`), all to be replaced.
        let StepRecord { symbol, time, bar: recorded, before: was, transitions, decision, risk, orders, fills, after } =
            &mut *step;
        let SymbolSnapshot {
            state,
            position,
            average_price,
            unrealized_pnl,
            working,
            quarantine,
            account: figures,
            ctx,
            indicators: IndicatorValues { names, values },
        } = after;
        let capture = &mut self.capture;
        let ledger = account.ledger();
        let mine = |symbol: &str| symbol == self.symbol;
        orders.clear();
        orders.extend(
            ledger.orders[capture.ledger_orders.min(ledger.orders.len())..].iter().filter(|o| mine(&o.symbol)).cloned(),
        );
        fills.clear();
        fills.extend(
            ledger.fills[capture.ledger_fills.min(ledger.fills.len())..].iter().filter(|f| mine(&f.symbol)).cloned(),
        );
        capture.ledger_orders = ledger.orders.len();
        capture.ledger_fills = ledger.fills.len();
        if !self.broker.working_orders().eq(capture.working.iter()) {
            capture.working = self.broker.working_orders().cloned().collect();
        }
        let holding = account.holding(&self.symbol).filter(|h| h.quantity != 0.0);
        share(symbol, &self.symbol_id);
        *time = bar.open_time;
        *recorded = RecordedBar::of(bar);
        *was = before;
        // `append` moves the entries and leaves both vectors their memory.
        transitions.clear();
        transitions.append(&mut capture.transitions);
        *decision = capture.decision.take().map(|(time, callback, outcome)| Decision {
            time,
            callback,
            version: self.strategy.version().clone(),
            outcome,
        });
        risk.clear();
        risk.append(&mut capture.risk);
        *state = self.machine.state();
        *position = holding.map_or(0.0, |h| h.quantity);
        *average_price = holding.map(|h| h.average_price);
        *unrealized_pnl = holding.map_or(0.0, |h| h.unrealized_pnl());
        share(working, &capture.working);
        quarantine.clone_from(&self.quarantine);
        *figures = AccountFigures {
            cash: account.cash(),
            equity: account.equity(),
            realized_pnl: account.realized_pnl(),
            unrealized_pnl: account.unrealized_pnl(),
            fees: account.fees(),
        };
        *ctx = self.strategy.context();
        share(names, self.indicators.names());
        values.clear();
        if detail.indicator_values {
            self.indicators.current_values_into(values);
        }
        step
    }

    /// Closes the position and cancels working entries (kill switch,
    /// drawdown halt), recording the transitions.
    pub fn flatten(&mut self, reason: &str, bar: &Bar, account: &mut Account) -> Result<(), RunnerError> {
        let time = bar.open_time;
        let had_entry = self.broker.entry_working();
        self.broker.flatten(reason, bar, account);
        if had_entry && account.position(&self.symbol) == 0.0 {
            self.machine.apply(StateEvent::EntryFailed, time, reason)?;
        }
        for event in self.broker.take_immediate() {
            self.apply_execution(&event, time, account)?;
        }
        self.record_transitions();
        Ok(())
    }

    /// Cancels working entry orders (kill switch), recording the transition.
    pub fn cancel_entries(&mut self, reason: &str, time: i64, account: &mut Account) -> Result<(), RunnerError> {
        if self.broker.cancel_entries(reason, time, account, OrderStatus::Cancelled)
            && account.position(&self.symbol) == 0.0
        {
            self.machine.apply(StateEvent::EntryFailed, time, reason)?;
        }
        self.record_transitions();
        Ok(())
    }

    /// At the end of a run: working orders are recorded as they stand.
    pub fn finish(&mut self, account: &mut Account) {
        self.broker.finish(account);
    }

    /// Drives the state machine from what execution did.
    fn apply_execution(&mut self, event: &ExecutionEvent, time: i64, account: &mut Account) -> Result<(), RunnerError> {
        use crate::state_machine::SymbolState;
        match event {
            ExecutionEvent::Filled { purpose: OrderPurpose::Entry, side, quantity, price, .. } => {
                if self.machine.state() == (SymbolState::InTrade { entry_filled: false }) {
                    let why = format!("{side} {quantity} filled at {price}");
                    self.machine.apply(StateEvent::EntryFilled, time, why)?;
                }
            }
            ExecutionEvent::Filled { purpose, price, position, .. } => {
                let why = match purpose {
                    OrderPurpose::StopLoss => format!("stop hit at {price}"),
                    OrderPurpose::TakeProfit => format!("target hit at {price}"),
                    OrderPurpose::Flatten => format!("flattened at {price}"),
                    _ => format!("exit at {price}"),
                };
                if *position == 0.0 {
                    // Whatever is left of a partly filled entry goes too.
                    self.broker.cancel_entries("position closed", time, account, OrderStatus::Cancelled);
                    self.machine.apply(StateEvent::PositionClosed, time, why)?;
                } else {
                    self.machine.apply(StateEvent::PartialExit, time, why)?;
                }
            }
            ExecutionEvent::Rejected { purpose: OrderPurpose::Entry, reason, .. }
            | ExecutionEvent::Expired { purpose: OrderPurpose::Entry, reason, filled: 0.0, .. } => {
                if self.machine.state() == (SymbolState::InTrade { entry_filled: false }) {
                    self.machine.apply(StateEvent::EntryFailed, time, reason.clone())?;
                }
            }
            ExecutionEvent::Rejected { .. } | ExecutionEvent::Expired { .. } => {}
        }
        Ok(())
    }

    /// Setups and working entries that waited too long are dropped.
    fn expire(&mut self, time: i64, account: &mut Account) -> Result<(), RunnerError> {
        use crate::state_machine::SymbolState;
        match self.machine.state() {
            SymbolState::CloseWatch => {
                let (bars, since) = (self.machine.bars_in_state(), self.machine.entered_at());
                if let Some(why) = self.config.setup_timeout.expired(bars, since, time) {
                    self.machine.apply(StateEvent::SetupExpired, time, why)?;
                }
            }
            SymbolState::InTrade { entry_filled: false }
                if self.machine.bars_in_state() >= self.config.entry_timeout_bars =>
            {
                let why = format!("entry not filled within {} bars", self.config.entry_timeout_bars);
                self.broker.cancel_entries(&why, time, account, OrderStatus::Expired);
                self.machine.apply(StateEvent::EntryFailed, time, why)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Asks the strategy for the current state's decision and carries it out.
    fn consult(&mut self, bar: &Bar, account: &mut Account, risk: &mut RiskManager) -> Result<(), RunnerError> {
        use crate::state_machine::SymbolState;
        let time = bar.open_time;
        let position = self.broker.view(account);
        let input = StrategyInput {
            market: MarketView { symbol: &self.symbol, bar, window: &self.window },
            indicators: &mut self.indicators,
            position: &position,
            regime: self.regime.as_ref().and_then(|d| d.state()),
        };
        let (callback, result) = match self.machine.state() {
            SymbolState::Watch => {
                (Callback::DetectOpportunity, self.strategy.detect_opportunity(input).map(Choice::Setup))
            }
            SymbolState::CloseWatch => {
                (Callback::FilterCommitment, self.strategy.filter_commitment(input).map(Choice::Commit))
            }
            SymbolState::InTrade { entry_filled: true } => {
                (Callback::ManagePosition, self.strategy.manage_position(input).map(Choice::Manage))
            }
            // Nothing to decide while the entry order works.
            SymbolState::InTrade { entry_filled: false } => return Ok(()),
        };
        self.counts.calls += 1;
        let outcome = match result {
            Ok(choice) => self.carry_out(choice, bar, account, risk)?,
            Err(e) => self.failed(e, bar, account)?,
        };
        // The step record and the event stream each take the outcome; it is
        // cloned only when both want it.
        let (for_step, for_events) = match (self.sink.steps().is_some(), self.sink.enabled()) {
            (true, true) => (Some(outcome.clone()), Some(outcome)),
            (true, false) => (Some(outcome), None),
            (false, true) => (None, Some(outcome)),
            (false, false) => (None, None),
        };
        if let Some(outcome) = for_step {
            self.capture.decision = Some((time, callback, outcome));
        }
        if let Some(outcome) = for_events {
            let decision = Decision { time, callback, version: self.strategy.version().clone(), outcome };
            self.sink.record(RunnerEvent::Decision { symbol: self.symbol_id.clone(), decision });
        }
        Ok(())
    }

    fn carry_out(
        &mut self,
        choice: Choice,
        bar: &Bar,
        account: &mut Account,
        risk: &mut RiskManager,
    ) -> Result<Outcome, RunnerError> {
        let time = bar.open_time;
        let outcome = match choice {
            Choice::Setup(None) | Choice::Commit(None) | Choice::Manage(None) => Outcome::Nothing,
            Choice::Setup(Some(setup)) => {
                self.machine.apply(StateEvent::SetupFound, time, setup.reason.clone())?;
                Outcome::Setup { reason: setup.reason }
            }
            Choice::Commit(Some(Commitment::Cancel { reason })) => {
                self.machine.apply(StateEvent::SetupCancelled, time, reason.clone())?;
                Outcome::Cancel { reason }
            }
            Choice::Commit(Some(Commitment::Enter(entry))) => {
                let kind = match (entry.limit, entry.trigger) {
                    (None, None) => OrderKind::Market,
                    (Some(price), None) => OrderKind::Limit { price },
                    (None, Some(trigger)) => OrderKind::Stop { trigger },
                    (Some(limit), Some(trigger)) => OrderKind::StopLimit { trigger, limit },
                };
                let execution = self.broker.config();
                let intent = EntryIntent {
                    symbol: &self.symbol,
                    side: entry.side,
                    price: entry.limit.or(entry.trigger).unwrap_or(bar.close),
                    stop: entry.stop,
                    requested_quantity: entry.size,
                    lot_size: execution.instrument.lot_size,
                    fee_rate: execution.fees.taker_bps / 10_000.0,
                };
                let verdict = risk.approve_entry(&intent, &account.snapshot());
                if self.sink.steps().is_some() {
                    self.capture.risk.push(match &verdict {
                        Ok(approved) => RiskRecord::Approved { quantity: approved.quantity() },
                        Err(refusal) => RiskRecord::Refused {
                            code: refusal.code.as_str().to_string(),
                            message: refusal.message.clone(),
                        },
                    });
                }
                let quantity = match verdict {
                    Ok(approved) => approved.quantity(),
                    Err(refusal) => {
                        self.counts.risk_refusals += 1;
                        return Ok(Outcome::RiskRefused {
                            code: refusal.code.as_str().to_string(),
                            message: refusal.message,
                        });
                    }
                };
                let request = EntryRequest {
                    side: entry.side,
                    quantity,
                    kind,
                    time_in_force: entry.time_in_force,
                    post_only: entry.post_only,
                    stop: entry.stop,
                    target: entry.target,
                    reason: entry.reason.clone(),
                };
                match self.broker.submit_entry(request, bar, account) {
                    Ok(_) => {
                        self.machine.apply(StateEvent::EntrySent, time, entry.reason.clone())?;
                        Outcome::Enter { side: entry.side, quantity, reason: entry.reason }
                    }
                    Err(e) => {
                        // The setup stays: the strategy may try again next bar.
                        self.refused("entry", e.reason)
                    }
                }
            }
            Choice::Manage(Some(Management::Exit { fraction, reason })) => {
                match self.broker.submit_exit(fraction, OrderPurpose::Exit, &reason, bar, account) {
                    Ok(_) => Outcome::Exit { fraction, reason },
                    Err(e) => self.refused("exit", e.reason),
                }
            }
            Choice::Manage(Some(Management::Update { stop, target, reason })) => {
                match self.broker.update_protection(stop, target, time, account) {
                    Ok(()) => Outcome::Update { stop, target, reason },
                    Err(e) => self.refused("update", e),
                }
            }
        };
        for event in self.broker.take_immediate() {
            self.apply_execution(&event, time, account)?;
        }
        Ok(outcome)
    }

    /// An action execution refused: counted, recorded, and logged with its
    /// reason (see [`repeat_note`]).
    fn refused(&mut self, action: &str, reason: String) -> Outcome {
        self.counts.refusals += 1;
        if let Some(so_far) = repeat_note(self.counts.refusals, "refusals") {
            tracing::warn!(
                symbol = self.symbol,
                "{}: {action} refused by execution: {reason}{so_far}",
                self.strategy.name()
            );
        }
        Outcome::Refused { reason }
    }

    fn failed(&mut self, error: StrategyError, bar: &Bar, account: &mut Account) -> Result<Outcome, RunnerError> {
        let message = error.to_string();
        if !error.quarantines() {
            self.counts.bad_actions += 1;
            if let Some(so_far) = repeat_note(self.counts.bad_actions, "bad actions") {
                tracing::warn!(symbol = self.symbol, "{message}{so_far}");
            }
            return Ok(Outcome::BadAction { message });
        }
        self.counts.script_failures += 1;
        tracing::error!(symbol = self.symbol, "strategy quarantined: {message}");
        self.quarantine = Some(message.clone());
        self.enter_quarantine(bar, account)?;
        Ok(Outcome::Failed { message })
    }

    /// No new positions; the open one keeps its stop or is closed.
    fn enter_quarantine(&mut self, bar: &Bar, account: &mut Account) -> Result<(), RunnerError> {
        use crate::state_machine::SymbolState;
        let time = bar.open_time;
        match self.machine.state() {
            SymbolState::CloseWatch => {
                self.machine.apply(StateEvent::SetupCancelled, time, "strategy quarantined")?;
            }
            SymbolState::InTrade { entry_filled: false } => {
                self.broker.cancel_entries("strategy quarantined", time, account, OrderStatus::Cancelled);
                self.machine.apply(StateEvent::EntryFailed, time, "strategy quarantined")?;
            }
            SymbolState::InTrade { entry_filled: true } if self.config.on_quarantine == QuarantinePolicy::Close => {
                self.broker.flatten("strategy quarantined", bar, account);
                for event in self.broker.take_immediate() {
                    self.apply_execution(&event, time, account)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

enum Choice {
    Setup(Option<crate::strategy::Setup>),
    Commit(Option<Commitment>),
    Manage(Option<Management>),
}

/// Points `slot` at `from`'s value, touching neither count when it already
/// does (a recycled step mostly holds the `Arc`s its runner shares).
fn share<T: ?Sized>(slot: &mut std::sync::Arc<T>, from: &std::sync::Arc<T>) {
    if !std::sync::Arc::ptr_eq(slot, from) {
        *slot = from.clone();
    }
}

/// Whether the `n`th occurrence of a problem a strategy may repeat at every
/// bar is logged, and the note that goes with it: the first three are, then
/// one at each power of two with the count so far, so that the log shows
/// the problem without flooding it (every one is counted and recorded).
fn repeat_note(n: u64, what: &str) -> Option<String> {
    match n {
        0..=3 => Some(String::new()),
        n if n.is_power_of_two() => Some(format!(" ({n} {what} so far)")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_repeated_problem_is_logged_sparsely() {
        let logged: Vec<u64> = (1..=100).filter(|&n| super::repeat_note(n, "refusals").is_some()).collect();
        assert_eq!(logged, [1, 2, 3, 4, 8, 16, 32, 64]);
        assert_eq!(super::repeat_note(2, "refusals").unwrap(), "");
        assert_eq!(super::repeat_note(16, "refusals").unwrap(), " (16 refusals so far)");
    }
}

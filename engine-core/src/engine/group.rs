//! One account and the runners trading on it: the engine's loop.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{AccountReport, EngineConfig, Pacer, Progress, RunMode, RunnerReport, RunnerSpec, RunnerStatus};
use crate::events::session::{RecordingFailed, StepSender};
use crate::events::{EventSink, MemorySink, RunnerEvent, StepDetail, StepRecord};
use crate::execution::{Account, EquityPoint};
use crate::market_data::Bar;
use crate::risk::{KillSwitch, RiskManager};
use crate::runner::SymbolRunner;
use crate::runner::{Desk, RunnerError};
use crate::sources::{MarketDataSource, SourceEvent};
use crate::strategy::Strategy;

/// Adds a group's `unreported` bars and the market time it `reached` to
/// the run's progress.
fn report_progress(progress: &Progress, unreported: &mut u64, reached: Option<i64>) {
    if *unreported > 0 {
        progress.bars.fetch_add(std::mem::take(unreported), Ordering::Relaxed);
    }
    if let Some(time) = reached {
        progress.clock.advance(time);
    }
}

/// A runner's events: kept in memory or not, and its whole steps gathered
/// for the session log or not, as configured.
pub(super) struct GroupSink {
    memory: Option<MemorySink>,
    steps: Option<(StepDetail, Vec<Box<StepRecord>>)>,
    /// Steps the log is done with, for the runner to write its next ones over.
    spares: Vec<Box<StepRecord>>,
}

impl EventSink for GroupSink {
    fn record(&mut self, event: RunnerEvent) {
        if let Some(sink) = &mut self.memory {
            sink.record(event);
        }
    }

    fn enabled(&self) -> bool {
        self.memory.is_some()
    }

    fn steps(&self) -> Option<StepDetail> {
        self.steps.as_ref().map(|(detail, _)| *detail)
    }

    fn record_step(&mut self, step: Box<StepRecord>) {
        if let Some((_, steps)) = &mut self.steps {
            steps.push(step);
        }
    }

    fn spare_step(&mut self) -> Option<Box<StepRecord>> {
        self.spares.pop()
    }
}

/// A runner of the group and its bookkeeping.
struct Member {
    runner: SymbolRunner<Box<dyn Strategy>, GroupSink>,
    source_name: String,
    /// Set when the runner was stopped (panic, broken invariant).
    error: Option<String>,
    first_time: Option<i64>,
    last_time: Option<i64>,
    prices: Vec<(i64, f64)>,
}

impl Member {
    /// Stops the runner if its step failed or panicked (the others go on).
    fn stop_on_failure(&mut self, outcome: std::thread::Result<Result<(), RunnerError>>) {
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => format!("stopped: {e}"),
            Err(panic) => format!("stopped by a panic: {}", panic_message(&panic)),
        };
        tracing::error!(symbol = self.runner.symbol(), "{error}; the other runners go on");
        self.error = Some(error);
    }
}

/// What a group hands back.
pub(super) struct GroupOutcome {
    pub runners: Vec<RunnerReport>,
    pub account: AccountReport,
    pub prices: BTreeMap<String, Vec<(i64, f64)>>,
    pub interrupted: bool,
    /// Why the session log failed (trading stopped then).
    pub log_error: Option<String>,
}

pub(super) struct Group {
    members: Vec<Member>,
    sources: Vec<Box<dyn MarketDataSource>>,
    desk: Desk,
    record_prices: bool,
    log: Option<StepSender>,
}

/// Steps between two status updates (and two yields to the scheduler) in
/// a fast replay; a live or paced run updates after every step.
const STATUS_EVERY: u64 = 1024;

impl Group {
    pub fn new(
        specs: Vec<RunnerSpec>,
        config: &EngineConfig,
        kill_switch: KillSwitch,
        log: Option<StepSender>,
    ) -> Group {
        let mut account = Account::new(config.execution.initial_capital);
        account.set_record_equity(config.recording.equity);
        let desk = Desk::new(account, RiskManager::with_kill_switch(config.risk.clone(), kill_switch));
        let mut members = Vec::with_capacity(specs.len());
        let mut sources = Vec::with_capacity(specs.len());
        for spec in specs {
            let sink = GroupSink {
                memory: config.recording.events.then(MemorySink::default),
                steps: log.as_ref().map(|l| (StepDetail { indicator_values: l.indicator_values() }, Vec::new())),
                spares: Vec::new(),
            };
            let mut runner =
                SymbolRunner::with_sink(&spec.symbol, spec.strategy, spec.config, config.execution.clone(), sink);
            if let Some(detector) = spec.regime {
                runner = runner.with_regime(detector);
            }
            members.push(Member {
                runner,
                source_name: spec.source.name().to_string(),
                error: None,
                first_time: None,
                last_time: None,
                prices: Vec::new(),
            });
            sources.push(spec.source);
        }
        Group { members, sources, desk, record_prices: config.recording.prices, log }
    }

    pub async fn run(mut self, mode: RunMode, shutdown: CancellationToken, progress: Arc<Progress>) -> GroupOutcome {
        let live = mode.is_live() || self.sources.iter().any(|s| s.is_live());
        let mut feed = if live {
            Feed::live(std::mem::take(&mut self.sources), shutdown.clone())
        } else {
            Feed::Merged { sources: std::mem::take(&mut self.sources), heads: Vec::new(), started: false }
        };
        let mut pacer = Pacer::new(mode.speed());
        let paced = live || mode.speed().is_some();
        let interrupted;
        let mut log_error = None;
        let mut steps = 0u64;
        // Bars and market time not yet added to `progress`, which every
        // group shares: a fast replay adds them every STATUS_EVERY steps,
        // so that groups on different cores do not take turns writing the
        // same cache line at every bar.
        let (mut unreported, mut reached) = (0u64, None);
        let mut batch: Vec<(usize, Bar)> = Vec::new();
        loop {
            // The token's check takes a lock: every step when paced, every
            // STATUS_EVERY steps in a fast replay.
            if (paced || steps % STATUS_EVERY == 0) && shutdown.is_cancelled() {
                interrupted = true;
                break;
            }
            batch.clear();
            if !feed.next_batch(&mut batch, &shutdown, &mut self.members).await {
                interrupted = shutdown.is_cancelled();
                break;
            }
            let time = batch[0].1.open_time;
            if let Some(delay) = pacer.delay(time) {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => { interrupted = true; break; }
                }
            }
            self.step(time, &batch);
            (unreported, reached) = (unreported + batch.len() as u64, Some(time));
            if let Err(e) = self.record(&batch, paced).await {
                // No event may go unrecorded: trading stops here.
                tracing::error!("{e}; trading halted");
                log_error = Some(e.0);
                interrupted = true;
                break;
            }
            steps += 1;
            if paced || steps % STATUS_EVERY == 0 {
                report_progress(&progress, &mut unreported, reached);
            }
            if steps % STATUS_EVERY == 0 {
                self.publish(&progress, None);
                if !paced {
                    tokio::task::yield_now().await;
                }
            } else if paced {
                // Only the runners that stepped: a live step of one of
                // 1,000 symbols must not cost 1,000 status updates.
                self.publish(&progress, Some(&batch));
            }
        }
        report_progress(&progress, &mut unreported, reached);
        self.publish(&progress, None);
        if let Some(log) = self.log.take() {
            if let Err(e) = log.close().await {
                log_error.get_or_insert(e.0);
            }
        }
        let mut outcome = self.finish(interrupted);
        outcome.log_error = log_error;
        outcome
    }

    /// Hands the steps just taken to the session log, in batch order; `now`
    /// (live and paced runs): waits until they are in it.
    async fn record(&mut self, batch: &[(usize, Bar)], now: bool) -> Result<(), RecordingFailed> {
        let Some(log) = &mut self.log else { return Ok(()) };
        for (index, _) in batch {
            let sink = self.members[*index].runner.sink_mut();
            if let Some((_, steps)) = &mut sink.steps {
                log.append(steps, &mut sink.spares).await?;
            }
        }
        if now {
            log.write_through().await?;
        }
        Ok(())
    }

    /// The bars of one time, through their runners, on the desk: risk's
    /// actions first (a halt found on the last step's prices), then each bar.
    fn step(&mut self, time: i64, batch: &[(usize, Bar)]) {
        self.desk.account.begin_step(time);
        let actions = self.desk.risk.on_account(&self.desk.account.snapshot());
        for action in &actions {
            tracing::warn!("risk: {}", action.reason());
            for member in self.members.iter_mut().filter(|m| m.error.is_none()) {
                let account = &mut self.desk.account;
                let runner = &mut member.runner;
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| runner.risk_action(action, account)));
                member.stop_on_failure(outcome);
            }
        }
        for (index, bar) in batch {
            let member = &mut self.members[*index];
            if member.error.is_some() {
                continue;
            }
            member.first_time.get_or_insert(bar.open_time);
            member.last_time = Some(bar.open_time);
            if self.record_prices {
                member.prices.push((bar.open_time, bar.close));
            }
            let desk = &mut self.desk;
            let runner = &mut member.runner;
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| runner.on_bar_with(bar, desk)));
            member.stop_on_failure(outcome);
        }
        self.desk.account.end_step();
    }

    /// Refreshes the status of the runners of `batch` (every runner: `None`).
    fn publish(&self, progress: &Progress, batch: Option<&[(usize, Bar)]>) {
        let snapshot = self.desk.account.snapshot();
        let members: Box<dyn Iterator<Item = &Member>> = match batch {
            Some(batch) => Box::new(batch.iter().map(|(i, _)| &self.members[*i])),
            None => Box::new(self.members.iter()),
        };
        for m in members {
            let symbol = m.runner.symbol();
            let holding = self.desk.account.holding(symbol);
            progress.publish(RunnerStatus {
                symbol: symbol.to_string(),
                state: m.runner.machine().state().to_string(),
                position: holding.map_or(0.0, |h| h.quantity),
                unrealized_pnl: holding.map_or(0.0, |h| h.unrealized_pnl()),
                equity: snapshot.equity,
                realized_pnl: snapshot.realized_pnl,
                bars: m.runner.counts().bars,
                last_time: m.last_time.unwrap_or(0),
                quarantined: m.runner.quarantine().is_some(),
            });
        }
    }

    fn finish(mut self, interrupted: bool) -> GroupOutcome {
        for m in &mut self.members {
            m.runner.finish(&mut self.desk.account);
        }
        self.desk.account.report_open_trades();
        let final_state = self.desk.account.snapshot();
        let refusals = self.desk.risk.refusals().iter().map(|(code, n)| (code.as_str().to_string(), *n)).collect();
        let mut prices = BTreeMap::new();
        let mut runners = Vec::with_capacity(self.members.len());
        let symbols = self.members.iter().map(|m| m.runner.symbol().to_string()).collect();
        for mut m in self.members {
            let events = m.runner.sink_mut().memory.take().map(MemorySink::into_events).unwrap_or_default();
            let symbol = m.runner.symbol().to_string();
            if !m.prices.is_empty() {
                prices.insert(symbol.clone(), std::mem::take(&mut m.prices));
            }
            runners.push(RunnerReport {
                symbol,
                strategy: m.runner.strategy().name().to_string(),
                version: m.runner.strategy().version().clone(),
                source: m.source_name,
                counts: m.runner.counts(),
                state: m.runner.machine().state(),
                quarantine: m.runner.quarantine().map(str::to_string),
                error: m.error,
                first_time: m.first_time,
                last_time: m.last_time,
                events,
            });
        }
        let ledger = self.desk.account.take_ledger();
        let halted = self.desk.risk.halted().map(|r| r.to_string());
        let account = AccountReport { symbols, ledger, final_state, refusals, halted };
        GroupOutcome { runners, account, prices, interrupted, log_error: None }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Where a group's bars come from.
enum Feed {
    /// History: the sources' bars merged by time, ties in runner order.
    Merged { sources: Vec<Box<dyn MarketDataSource>>, heads: Vec<Option<Bar>>, started: bool },
    /// Live: bars in the order they arrive, one step each.
    Live { receiver: mpsc::Receiver<(usize, Bar)> },
    /// Live with one source (one account per runner): polled by the group
    /// itself, which saves a task hand-over per bar.
    LiveSingle { source: Box<dyn MarketDataSource>, ended: bool },
}

impl Feed {
    /// One forwarding task per source into a channel (or the one source
    /// itself).
    fn live(mut sources: Vec<Box<dyn MarketDataSource>>, shutdown: CancellationToken) -> Feed {
        if sources.len() == 1 {
            return Feed::LiveSingle { source: sources.pop().expect("one source"), ended: false };
        }
        let (sender, receiver) = mpsc::channel(1024);
        for (index, mut source) in sources.into_iter().enumerate() {
            let sender = sender.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    let event = tokio::select! {
                        event = source.next_event() => event,
                        _ = shutdown.cancelled() => return,
                    };
                    match event {
                        Ok(SourceEvent::Bar(bar)) => {
                            if sender.send((index, bar)).await.is_err() {
                                return;
                            }
                        }
                        Ok(SourceEvent::EndOfData) => return,
                        Err(e) => {
                            tracing::error!(source = source.name(), "source failed: {e}");
                            return;
                        }
                    }
                }
            });
        }
        Feed::Live { receiver }
    }

    /// Fills `batch` with the next step's bars; false when there are none.
    async fn next_batch(
        &mut self,
        batch: &mut Vec<(usize, Bar)>,
        shutdown: &CancellationToken,
        members: &mut [Member],
    ) -> bool {
        match self {
            Feed::LiveSingle { source, ended } => {
                if *ended {
                    return false;
                }
                let event = tokio::select! {
                    event = source.next_event() => event,
                    _ = shutdown.cancelled() => return false,
                };
                match event {
                    Ok(SourceEvent::Bar(bar)) => {
                        batch.push((0, bar));
                        true
                    }
                    Ok(SourceEvent::EndOfData) => {
                        *ended = true;
                        false
                    }
                    Err(e) => {
                        tracing::error!(source = source.name(), "source failed: {e}");
                        *ended = true;
                        false
                    }
                }
            }
            Feed::Live { receiver } => {
                let next = tokio::select! {
                    next = receiver.recv() => next,
                    _ = shutdown.cancelled() => None,
                };
                match next {
                    Some(item) => {
                        batch.push(item);
                        true
                    }
                    None => false,
                }
            }
            Feed::Merged { sources, heads, started } => {
                if !*started {
                    *started = true;
                    for (i, source) in sources.iter_mut().enumerate() {
                        let bar = next_bar(source.as_mut(), &mut members[i]).await;
                        heads.push(bar);
                    }
                }
                let Some(time) = heads.iter().flatten().map(|b| b.open_time).min() else {
                    return false;
                };
                for i in 0..heads.len() {
                    if heads[i].as_ref().is_some_and(|b| b.open_time == time) {
                        let bar = heads[i].take().expect("checked");
                        batch.push((i, bar));
                        heads[i] = next_bar(sources[i].as_mut(), &mut members[i]).await;
                    }
                }
                true
            }
        }
    }
}

/// The next bar of a historical source (`None` at its end, or after an
/// error, which stops its runner).
async fn next_bar(source: &mut dyn MarketDataSource, member: &mut Member) -> Option<Bar> {
    let event = match source.next_ready() {
        Some(event) => event,
        None => source.next_event().await,
    };
    match event {
        Ok(SourceEvent::Bar(bar)) => Some(bar),
        Ok(SourceEvent::EndOfData) => None,
        Err(e) => {
            let error = format!("source {} failed: {e}", source.name());
            tracing::error!(symbol = member.runner.symbol(), "{error}");
            member.error = Some(error);
            None
        }
    }
}

/// Sums equity curves of several accounts into one: at each time, every
/// account's latest equity (its initial point's values before its first).
pub(super) fn merge_equity(curves: Vec<&[EquityPoint]>) -> Vec<EquityPoint> {
    let mut times: Vec<i64> = curves.iter().flat_map(|c| c.iter().map(|p| p.time)).collect();
    times.sort_unstable();
    times.dedup();
    let mut cursors = vec![0usize; curves.len()];
    let mut merged = Vec::with_capacity(times.len());
    for time in times {
        let mut point = EquityPoint {
            time,
            cash: 0.0,
            equity: 0.0,
            realized_pnl: 0.0,
            unrealized_pnl: 0.0,
            fees: 0.0,
            gross_exposure: 0.0,
        };
        for (curve, cursor) in curves.iter().zip(&mut cursors) {
            while *cursor + 1 < curve.len() && curve[*cursor + 1].time <= time {
                *cursor += 1;
            }
            let Some(p) = curve.get(*cursor) else { continue };
            point.cash += p.cash;
            point.equity += p.equity;
            point.realized_pnl += p.realized_pnl;
            point.unrealized_pnl += p.unrealized_pnl;
            point.fees += p.fees;
            point.gross_exposure += p.gross_exposure;
        }
        merged.push(point);
    }
    merged
}

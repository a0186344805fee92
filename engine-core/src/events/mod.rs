//! What the runners record of their decisions, as plain events handed to an
//! [`EventSink`]: every strategy decision (with the strategy version that
//! made it) and every state transition, per symbol. Orders and fills are
//! in execution's ledger. The sink is the seam for the persistent event
//! log; [`MemorySink`] keeps events in memory, [`NullSink`] drops them
//! (benchmarks, long runs that only want the results).

pub mod codec;
pub mod compare;
pub mod log;
pub mod session;
mod step;
pub mod view;

pub use step::{AccountFigures, IndicatorValues, RecordedBar, RiskRecord, StepRecord, SymbolSnapshot};

use serde::{Deserialize, Serialize};

use crate::market_data::Symbol;
use crate::runner::Decision;
use crate::state_machine::Transition;

/// One recorded step of a runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunnerEvent {
    Decision { symbol: Symbol, decision: Decision },
    Transition { symbol: Symbol, transition: Transition },
}

impl RunnerEvent {
    pub fn symbol(&self) -> &str {
        match self {
            RunnerEvent::Decision { symbol, .. } | RunnerEvent::Transition { symbol, .. } => symbol,
        }
    }

    /// Market time of the bar it happened on.
    pub fn time(&self) -> i64 {
        match self {
            RunnerEvent::Decision { decision, .. } => decision.time,
            RunnerEvent::Transition { transition, .. } => transition.time,
        }
    }
}

/// Where runner events go.
pub trait EventSink: Send {
    fn record(&mut self, event: RunnerEvent);

    /// False when events are dropped anyway: the runner then does not
    /// build them.
    fn enabled(&self) -> bool {
        true
    }

    /// What the sink wants of whole steps ([`StepRecord`]); `None` when it
    /// takes none, and the runner then builds none.
    fn steps(&self) -> Option<StepDetail> {
        None
    }

    /// One whole step (only called when [`EventSink::steps`] says so).
    /// Boxed: a step is about 500 bytes, and passes through several
    /// queues on its way to the log and back as a spare.
    fn record_step(&mut self, _step: Box<StepRecord>) {}

    /// A step the sink is done with, for the runner to write the next one
    /// over (its vectors keep their memory); `None` when it has none.
    fn spare_step(&mut self) -> Option<Box<StepRecord>> {
        None
    }
}

/// How much of a step a sink wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDetail {
    /// Every indicator's current value, or only their names (the values
    /// are then recomputed from the bars on replay).
    pub indicator_values: bool,
}

/// Keeps every event, in order.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Vec<RunnerEvent>,
}

impl MemorySink {
    pub fn events(&self) -> &[RunnerEvent] {
        &self.events
    }

    pub fn into_events(self) -> Vec<RunnerEvent> {
        self.events
    }

    /// Forgets the events kept so far.
    pub fn clear(&mut self) {
        self.events = Vec::new();
    }

    pub fn decisions(&self) -> impl Iterator<Item = &Decision> {
        self.events.iter().filter_map(|e| match e {
            RunnerEvent::Decision { decision, .. } => Some(decision),
            _ => None,
        })
    }

    pub fn transitions(&self) -> impl Iterator<Item = &Transition> {
        self.events.iter().filter_map(|e| match e {
            RunnerEvent::Transition { transition, .. } => Some(transition),
            _ => None,
        })
    }
}

impl EventSink for MemorySink {
    fn record(&mut self, event: RunnerEvent) {
        self.events.push(event);
    }
}

/// Drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn record(&mut self, _event: RunnerEvent) {}

    fn enabled(&self) -> bool {
        false
    }
}

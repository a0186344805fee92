//! The per-symbol state machine: Watch → CloseWatch → InTrade → Watch.
//!
//! One `(state, event)` table in [`SymbolState::transition`]; anything not
//! in it is an [`InvalidTransition`], so an illegal state cannot be
//! reached. The state carries what the invariants need (is an entry
//! pending, is a position open), and [`SymbolState::check`] compares it with
//! what execution says.

use std::fmt;

use serde::{Deserialize, Serialize};

mod cadence;

pub use cadence::{Cadence, SetupTimeout};

/// Where a symbol's strategy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolState {
    /// Looking for an opportunity (`detect_opportunity`); no position, no order.
    #[default]
    Watch,
    /// A setup was found; waiting for the moment to commit (`filter_commitment`).
    CloseWatch,
    /// Committed: the entry order is working (`entry_filled: false`) or the
    /// position is open (`manage_position`).
    InTrade { entry_filled: bool },
}

/// What happened to a symbol, as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateEvent {
    /// `detect_opportunity` returned a setup.
    SetupFound,
    /// `filter_commitment` returned a cancel.
    SetupCancelled,
    /// The setup outlived its timeout (bars or seconds).
    SetupExpired,
    /// `filter_commitment` returned an entry and execution accepted the order.
    EntrySent,
    /// The entry order filled (wholly or partly): a position is open.
    EntryFilled,
    /// The entry order was rejected, cancelled or expired with nothing filled.
    EntryFailed,
    /// Part of the position was closed; some remains.
    PartialExit,
    /// The position was closed: an exit, a stop or a target.
    PositionClosed,
}

/// An event the current state does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid transition: {event:?} in state {from}")]
pub struct InvalidTransition {
    pub from: SymbolState,
    pub event: StateEvent,
}

/// The state disagrees with execution's view of the symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant broken in state {state}: {what}")]
pub struct InvariantViolation {
    pub state: SymbolState,
    pub what: String,
}

/// What execution holds for a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exposure {
    /// A position is open (non-zero quantity).
    pub position_open: bool,
    /// An entry order is working.
    pub entry_pending: bool,
}

impl SymbolState {
    /// The whole transition table.
    pub fn transition(self, event: StateEvent) -> Result<SymbolState, InvalidTransition> {
        use StateEvent::*;
        use SymbolState::*;
        match (self, event) {
            (Watch, SetupFound) => Ok(CloseWatch),
            (CloseWatch, SetupCancelled | SetupExpired) => Ok(Watch),
            (CloseWatch, EntrySent) => Ok(InTrade { entry_filled: false }),
            (InTrade { entry_filled: false }, EntryFilled) => Ok(InTrade { entry_filled: true }),
            (InTrade { entry_filled: false }, EntryFailed) => Ok(Watch),
            (InTrade { entry_filled: true }, PartialExit) => Ok(InTrade { entry_filled: true }),
            (InTrade { entry_filled: true }, PositionClosed) => Ok(Watch),
            (from, event) => Err(InvalidTransition { from, event }),
        }
    }

    /// Checks the invariants against execution: no position and no order
    /// in Watch or CloseWatch; in InTrade, a working entry before the fill
    /// and an open position after it.
    pub fn check(self, exposure: Exposure) -> Result<(), InvariantViolation> {
        let broken = |what: &str| Err(InvariantViolation { state: self, what: what.to_string() });
        match self {
            SymbolState::Watch | SymbolState::CloseWatch if exposure.position_open => broken("a position is open"),
            SymbolState::Watch | SymbolState::CloseWatch if exposure.entry_pending => {
                broken("an entry order is working")
            }
            SymbolState::InTrade { entry_filled: false } if !exposure.entry_pending => {
                broken("no entry order is working and none has filled")
            }
            SymbolState::InTrade { entry_filled: false } if exposure.position_open => {
                broken("a position is open before the entry filled")
            }
            SymbolState::InTrade { entry_filled: true } if !exposure.position_open => broken("no position is open"),
            _ => Ok(()),
        }
    }

    /// The name used in logs and records: `watch`, `close_watch`, `in_trade`.
    pub fn name(self) -> &'static str {
        match self {
            SymbolState::Watch => "watch",
            SymbolState::CloseWatch => "close_watch",
            SymbolState::InTrade { .. } => "in_trade",
        }
    }
}

impl fmt::Display for SymbolState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymbolState::InTrade { entry_filled: false } => f.write_str("in_trade (entry pending)"),
            other => f.write_str(other.name()),
        }
    }
}

/// One recorded transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Market time of the bar it happened on, epoch milliseconds.
    pub time: i64,
    pub from: SymbolState,
    pub to: SymbolState,
    pub event: StateEvent,
    /// Why: the strategy's reason, or the engine's (`setup timed out after 20 bars`).
    pub reason: String,
}

/// A symbol's state and the record of how it got there.
#[derive(Debug, Clone, Default)]
pub struct StateMachine {
    state: SymbolState,
    /// Bars evaluated since entering the current state.
    bars_in_state: u64,
    /// Market time the current state was entered.
    entered_at: Option<i64>,
    history: Vec<Transition>,
}

impl StateMachine {
    pub fn new() -> Self {
        StateMachine::default()
    }

    pub fn state(&self) -> SymbolState {
        self.state
    }

    pub fn bars_in_state(&self) -> u64 {
        self.bars_in_state
    }

    /// Market time the current state was entered, once there was a transition.
    pub fn entered_at(&self) -> Option<i64> {
        self.entered_at
    }

    /// Counts a bar spent in the current state.
    pub fn tick(&mut self) {
        self.bars_in_state += 1;
    }

    /// Applies `event` at `time`; an invalid one changes nothing.
    pub fn apply(
        &mut self,
        event: StateEvent,
        time: i64,
        reason: impl Into<String>,
    ) -> Result<&Transition, InvalidTransition> {
        let to = self.state.transition(event)?;
        let from = std::mem::replace(&mut self.state, to);
        if from.name() != to.name() {
            self.bars_in_state = 0;
            self.entered_at = Some(time);
        }
        self.history.push(Transition { time, from, to, event, reason: reason.into() });
        Ok(self.history.last().expect("just pushed"))
    }

    /// Every transition so far, oldest first.
    pub fn history(&self) -> &[Transition] {
        &self.history
    }

    /// Takes the recorded transitions (the event log's seam), leaving none.
    pub fn drain_history(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.history)
    }

    /// Forgets the recorded transitions (keeping the buffer).
    pub fn clear_history(&mut self) {
        self.history.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateEvent::*;

    #[test]
    fn a_round_trip_through_every_state() {
        let mut m = StateMachine::new();
        m.apply(SetupFound, 1, "ema cross").unwrap();
        m.apply(EntrySent, 2, "pullback held").unwrap();
        assert_eq!(m.state(), SymbolState::InTrade { entry_filled: false });
        m.apply(EntryFilled, 3, "filled").unwrap();
        m.apply(PartialExit, 4, "half at 1R").unwrap();
        m.apply(PositionClosed, 5, "stop hit").unwrap();
        assert_eq!(m.state(), SymbolState::Watch);
        let names: Vec<_> = m.history().iter().map(|t| (t.from.name(), t.to.name(), t.reason.as_str())).collect();
        assert_eq!(
            names,
            vec![
                ("watch", "close_watch", "ema cross"),
                ("close_watch", "in_trade", "pullback held"),
                ("in_trade", "in_trade", "filled"),
                ("in_trade", "in_trade", "half at 1R"),
                ("in_trade", "watch", "stop hit"),
            ]
        );
    }

    #[test]
    fn invalid_events_are_refused_and_change_nothing() {
        let mut m = StateMachine::new();
        let err = m.apply(EntryFilled, 1, "").unwrap_err();
        assert_eq!(err.to_string(), "invalid transition: EntryFilled in state watch");
        assert_eq!(m.state(), SymbolState::Watch);
        assert!(m.history().is_empty());
        m.apply(SetupFound, 1, "").unwrap();
        assert!(m.apply(PositionClosed, 2, "").is_err());
        m.apply(EntrySent, 2, "").unwrap();
        // Nothing to exit before the entry fills.
        assert!(m.apply(PartialExit, 3, "").is_err());
        assert!(m.apply(SetupCancelled, 3, "").is_err());
    }

    #[test]
    fn invariants_compare_the_state_with_execution() {
        let open = Exposure { position_open: true, entry_pending: false };
        let pending = Exposure { position_open: false, entry_pending: true };
        let flat = Exposure::default();
        assert!(SymbolState::Watch.check(flat).is_ok());
        assert_eq!(
            SymbolState::Watch.check(open).unwrap_err().to_string(),
            "invariant broken in state watch: a position is open"
        );
        assert!(SymbolState::CloseWatch.check(pending).is_err());
        assert!(SymbolState::InTrade { entry_filled: false }.check(pending).is_ok());
        assert!(SymbolState::InTrade { entry_filled: false }.check(flat).is_err());
        assert!(SymbolState::InTrade { entry_filled: true }.check(open).is_ok());
        assert!(SymbolState::InTrade { entry_filled: true }.check(flat).is_err());
    }

    #[test]
    fn time_in_state_resets_on_a_change_of_state_only() {
        let mut m = StateMachine::new();
        m.tick();
        m.apply(SetupFound, 10, "").unwrap();
        assert_eq!((m.bars_in_state(), m.entered_at()), (0, Some(10)));
        m.tick();
        m.tick();
        m.apply(EntrySent, 30, "").unwrap();
        m.tick();
        m.apply(EntryFilled, 40, "").unwrap();
        assert_eq!((m.bars_in_state(), m.entered_at()), (1, Some(30)), "still in_trade");
        assert_eq!(m.drain_history().len(), 3);
        assert!(m.history().is_empty());
    }
}

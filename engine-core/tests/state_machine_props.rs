//! The per-symbol state machine under 100,000 random event sequences: every
//! accepted event keeps the invariants against a simulated execution, every
//! refused one changes nothing, and the table is exactly the documented one.

use engine_core::state_machine::{Exposure, StateEvent, StateMachine, SymbolState};
use proptest::prelude::*;

const EVENTS: [StateEvent; 8] = [
    StateEvent::SetupFound,
    StateEvent::SetupCancelled,
    StateEvent::SetupExpired,
    StateEvent::EntrySent,
    StateEvent::EntryFilled,
    StateEvent::EntryFailed,
    StateEvent::PartialExit,
    StateEvent::PositionClosed,
];

/// What execution holds after it has done what `event` says it did.
fn execution_after(exposure: Exposure, event: StateEvent) -> Exposure {
    match event {
        StateEvent::EntrySent => Exposure { entry_pending: true, ..exposure },
        StateEvent::EntryFilled => Exposure { entry_pending: false, position_open: true },
        StateEvent::EntryFailed => Exposure { entry_pending: false, ..exposure },
        StateEvent::PositionClosed => Exposure { position_open: false, ..exposure },
        StateEvent::SetupFound | StateEvent::SetupCancelled | StateEvent::SetupExpired | StateEvent::PartialExit => {
            exposure
        }
    }
}

/// The documented table (docs/lua-api.md), written independently of the code.
fn allowed(state: SymbolState, event: StateEvent) -> bool {
    use StateEvent::*;
    matches!(
        (state.name(), state == SymbolState::InTrade { entry_filled: true }, event),
        ("watch", _, SetupFound)
            | ("close_watch", _, SetupCancelled | SetupExpired | EntrySent)
            | ("in_trade", false, EntryFilled | EntryFailed)
            | ("in_trade", true, PartialExit | PositionClosed)
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_never_break_an_invariant(events in prop::collection::vec(0..EVENTS.len(), 1..48)) {
        let mut machine = StateMachine::new();
        let mut exposure = Exposure::default();
        let mut accepted = 0;
        for (t, &e) in events.iter().enumerate() {
            let event = EVENTS[e];
            let before = machine.state();
            let expected = allowed(before, event);
            match machine.apply(event, t as i64, "prop") {
                Ok(transition) => {
                    prop_assert!(expected, "{event:?} accepted in {before}");
                    prop_assert_eq!(transition.from, before);
                    exposure = execution_after(exposure, event);
                    accepted += 1;
                }
                Err(err) => {
                    prop_assert!(!expected, "{event:?} refused in {before}");
                    prop_assert_eq!(err.from, before);
                    prop_assert_eq!(machine.state(), before);
                }
            }
            if let Err(violation) = machine.state().check(exposure) {
                return Err(TestCaseError::fail(format!("{violation} after {event:?}")));
            }
        }
        prop_assert_eq!(machine.history().len(), accepted, "one record per accepted event");
    }
}

//! Records as people and tools read them: JSON (exports, `inspect-event`,
//! `replay --format jsonl`) with the strategy's `ctx` as plain JSON, and
//! one-line text for decisions and fills. The log keeps its own encoding;
//! these views never feed back into it.

use serde_json::Value;

use super::codec::{Entry, SymbolEntry};
use super::{StepRecord, SymbolSnapshot};
use crate::execution::FillRecord;
use crate::runner::Outcome;

/// A record as JSON, with its sequence number.
pub fn entry_json(seq: u64, entry: &Entry) -> Value {
    let mut value = match entry {
        Entry::Step(step) => step_json(step),
        Entry::Snapshot(symbols) => {
            serde_json::json!({ "snapshot": symbols.iter().map(symbol_entry_json).collect::<Vec<_>>() })
        }
    };
    if let Value::Object(map) = &mut value {
        map.insert("seq".into(), seq.into());
    }
    value
}

/// A step as JSON.
pub fn step_json(step: &StepRecord) -> Value {
    let mut value = serde_json::to_value(step).expect("steps serialise to JSON");
    value["after"] = state_json(&step.after);
    value
}

/// A symbol's state as JSON, `ctx` as plain JSON (see
/// [`CtxValue::to_json`](crate::strategy::CtxValue::to_json)).
pub fn state_json(state: &SymbolSnapshot) -> Value {
    let mut value = serde_json::to_value(state).expect("states serialise to JSON");
    value["ctx"] = state.ctx.as_ref().map_or(Value::Null, |ctx| ctx.to_json());
    value
}

fn symbol_entry_json(entry: &SymbolEntry) -> Value {
    let mut value = serde_json::to_value(entry).expect("snapshots serialise to JSON");
    value["state"] = state_json(&entry.state);
    value
}

/// A strategy's outcome in one line: `setup (cross up)`, `enter long 2
/// (breakout)`, `update stop 100.07 (break-even)`: absent fields left out,
/// an empty reason without its parentheses.
pub fn outcome_text(outcome: &Outcome) -> String {
    let with_reason = |what: String, reason: &str| {
        if reason.is_empty() {
            what
        } else {
            format!("{what} ({reason})")
        }
    };
    match outcome {
        Outcome::Nothing => "nothing".into(),
        Outcome::Setup { reason } => with_reason("setup".into(), reason),
        Outcome::Enter { side, quantity, reason } => with_reason(format!("enter {} {quantity}", side.as_str()), reason),
        Outcome::Cancel { reason } => with_reason("cancel".into(), reason),
        Outcome::Exit { fraction, reason } => with_reason(format!("exit {fraction}"), reason),
        Outcome::Update { stop, target, reason } => with_reason(update_text(*stop, *target), reason),
        Outcome::Refused { reason } => format!("refused: {reason}"),
        Outcome::RiskRefused { code, message } => format!("{code}: {message}"),
        Outcome::BadAction { message } => format!("bad action: {message}"),
        Outcome::Failed { message } => format!("failed: {message}"),
    }
}

/// `update stop 100.07 target 101.50`, naming only what was given.
fn update_text(stop: Option<f64>, target: Option<f64>) -> String {
    let mut text = String::from("update");
    if let Some(stop) = stop {
        text += &format!(" stop {}", price_text(stop));
    }
    if let Some(target) = target {
        text += &format!(" target {}", price_text(target));
    }
    text
}

/// A fill in one line: `fill buy 1 @ 100.01`.
pub fn fill_text(fill: &FillRecord) -> String {
    format!("fill {} {} @ {}", fill.side.as_str(), fill.quantity, price_text(fill.price))
}

/// A price for reading: two decimals from 1 up, four significant digits
/// below (a price of 0.000123 must not read as 0.00). The JSON views keep
/// every digit.
pub fn price_text(price: f64) -> String {
    if !price.is_finite() || price.abs() >= 1.0 || price == 0.0 {
        return format!("{price:.2}");
    }
    let decimals = (3.0 - price.abs().log10().floor()) as usize;
    format!("{price:.decimals$}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::execution::{Liquidity, OrderPurpose, OrderSide};
    use crate::strategy::{CtxKey, CtxValue, Side};

    #[test]
    fn outcomes_read_as_text_without_debug_forms() {
        let update = Outcome::Update { stop: Some(100.068_123), target: None, reason: "break-even".into() };
        assert_eq!(outcome_text(&update), "update stop 100.07 (break-even)");
        let both = Outcome::Update { stop: Some(99.0), target: Some(101.5), reason: String::new() };
        assert_eq!(outcome_text(&both), "update stop 99.00 target 101.50");
        let enter = Outcome::Enter { side: Side::Short, quantity: 1.0, reason: "cross down".into() };
        assert_eq!(outcome_text(&enter), "enter short 1 (cross down)");
        assert_eq!(outcome_text(&Outcome::Exit { fraction: 0.5, reason: "half".into() }), "exit 0.5 (half)");
        assert_eq!(outcome_text(&Outcome::Nothing), "nothing");
    }

    #[test]
    fn prices_keep_their_significant_digits() {
        assert_eq!(price_text(100.068), "100.07");
        assert_eq!(price_text(0.000_123_46), "0.0001235");
        assert_eq!(price_text(0.5), "0.5000");
        assert_eq!(price_text(0.0), "0.00");
    }

    #[test]
    fn fills_name_their_side_in_lowercase() {
        let fill = FillRecord {
            order_id: 1,
            symbol: "SYNTH".into(),
            time: 0,
            side: OrderSide::Sell,
            purpose: OrderPurpose::Entry,
            quantity: 2.0,
            price: 99.994,
            fee: 0.1,
            liquidity: Liquidity::Taker,
            realized_pnl: 0.0,
        };
        assert_eq!(fill_text(&fill), "fill sell 2 @ 99.99");
    }

    #[test]
    fn ctx_is_plain_json_in_steps_and_snapshots() {
        let ctx = CtxValue::Table(vec![(
            CtxKey::Str("setup".into()),
            CtxValue::Table(vec![(CtxKey::Str("side".into()), CtxValue::Str("long".into()))]),
        )]);
        let mut step = StepRecord::blank("SYNTH".into());
        step.after.ctx = Some(Arc::new(ctx));
        let json = entry_json(7, &Entry::Step(step.clone()));
        assert_eq!(json["seq"], 7);
        assert_eq!(json["after"]["ctx"], serde_json::json!({"setup": {"side": "long"}}));
        let snapshot =
            Entry::Snapshot(vec![SymbolEntry { symbol: "SYNTH".into(), state: step.after.clone(), version: None }]);
        assert_eq!(entry_json(8, &snapshot)["snapshot"][0]["state"]["ctx"]["setup"]["side"], "long");
        assert_eq!(state_json(&SymbolSnapshot::default())["ctx"], Value::Null);
    }
}

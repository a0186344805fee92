//! Records as people and tools read them: JSON (exports, `inspect-event`,
//! `replay --format jsonl`) with the strategy's `ctx` as plain JSON, and
//! one-line text for decisions and fills. The log keeps its own encoding;
//! these views never feed back into it.

use serde_json::Value;

use super::codec::{Entry, SymbolEntry};
use super::{StepRecord, SymbolSnapshot};
use crate::execution::FillRecord;

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

/// A fill in one line: `fill buy 1 @ 100.01`.
pub fn fill_text(fill: &FillRecord) -> String {
    format!("fill {} {} @ {}", fill.side.as_str(), quantity_text(fill.quantity), price_text(fill.price))
}

/// A quantity for reading: up to eight decimals, trailing zeros dropped
/// (`-457.56789168`, `1`); not every digit of a sized position.
pub fn quantity_text(quantity: f64) -> String {
    let text = format!("{quantity:.8}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_string(),
        t => t.to_string(),
    }
}

/// A price for reading (see [`crate::backtest::format::price`]). The JSON
/// views keep every digit.
pub fn price_text(price: f64) -> String {
    crate::backtest::format::price(price, false)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::execution::{Liquidity, OrderPurpose, OrderSide};
    use crate::runner::Outcome;
    use crate::strategy::{CtxKey, CtxValue, Side};

    #[test]
    fn outcomes_read_as_text_without_debug_forms() {
        let update = Outcome::Update { stop: Some(100.068_123), target: None, reason: "break-even".into() };
        assert_eq!(update.to_string(), "update stop 100.068 (break-even)");
        let both = Outcome::Update { stop: Some(99.0), target: Some(101.5), reason: String::new() };
        assert_eq!(both.to_string(), "update stop 99.00 target 101.50");
        let enter = Outcome::Enter { side: Side::Short, quantity: 1.0, reason: "cross down".into() };
        assert_eq!(enter.to_string(), "enter short 1 (cross down)");
        assert_eq!(Outcome::Exit { fraction: 0.5, reason: "half".into() }.to_string(), "exit 0.5 (half)");
        assert_eq!(Outcome::Nothing.to_string(), "nothing");
    }

    #[test]
    fn prices_keep_their_significant_digits() {
        assert_eq!(price_text(100.068), "100.068");
        assert_eq!(price_text(4.2696), "4.2696");
        assert_eq!(price_text(0.000_123_46), "0.00012346");
        assert_eq!(price_text(0.5), "0.50");
        assert_eq!(price_text(0.0), "0.00");
        assert_eq!(quantity_text(-457.567_891_681_267_4), "-457.56789168");
        assert_eq!(quantity_text(1.0), "1");
        assert_eq!(quantity_text(-0.000_000_001), "0");
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
        assert_eq!(fill_text(&fill), "fill sell 2 @ 99.994");
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

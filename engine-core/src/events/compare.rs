//! Looking into sessions: field-by-field differences between two records
//! (`inspect-event` diffs an event's state against the one before it),
//! and the comparison of two whole sessions (`compare`): the first
//! divergence, and how their trades and P&L differ.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::session::{SessionError, SessionEvent, SessionReader};
use super::view::step_json;
use super::StepRecord;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// `after.position`, `after.working[0].status`, ...
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// Every field that differs between `a` and `b`, in field order (arrays
/// element by element; a missing element or key shows as `null`, and an
/// object against `null` is compared field by field, so that a new
/// `ctx.setup` shows as `ctx.setup.side: null -> "long"`).
pub fn diff(a: &Value, b: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    diff_into(a, b, String::new(), &mut changes);
    changes
}

fn diff_into(a: &Value, b: &Value, path: String, out: &mut Vec<FieldChange>) {
    let none = Map::new();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => diff_objects(x, y, &path, out),
        (Value::Object(x), Value::Null) => diff_objects(x, &none, &path, out),
        (Value::Null, Value::Object(y)) => diff_objects(&none, y, &path, out),
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let (va, vb) = (x.get(i).unwrap_or(&Value::Null), y.get(i).unwrap_or(&Value::Null));
                diff_into(va, vb, format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(FieldChange { field: path, before: a.clone(), after: b.clone() }),
        _ => {}
    }
}

fn diff_objects(x: &Map<String, Value>, y: &Map<String, Value>, path: &str, out: &mut Vec<FieldChange>) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    for (key, va) in x {
        diff_into(va, y.get(key).unwrap_or(&Value::Null), join(key), out);
    }
    for (key, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
        diff_into(&Value::Null, vb, join(key), out);
    }
}

/// A round trip seen in a session: from the fill that opened a position
/// to the fill that made it flat again (both may fall in one step).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundTrip {
    pub symbol: String,
    pub entry_time: i64,
    /// `None`: still open when the session ended.
    pub exit_time: Option<i64>,
    /// Long (+1) or short (−1).
    pub direction: i8,
    /// Realised P&L of its fills, after their fees.
    pub net_pnl: f64,
}

/// What a session did, in sum.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SessionTotals {
    pub steps: u64,
    pub decisions: u64,
    pub fills: u64,
    pub trades: Vec<RoundTrip>,
    pub realized_pnl: f64,
    pub fees: f64,
    /// Last equity of every account, summed.
    pub final_equity: f64,
}

/// A position still open: its round trip and its signed quantity.
#[derive(Debug, Clone, Copy)]
struct OpenPosition {
    trade: usize,
    quantity: f64,
}

/// Gathers [`SessionTotals`] step by step.
#[derive(Debug, Default)]
pub struct TotalsBuilder {
    totals: SessionTotals,
    open: BTreeMap<String, OpenPosition>,
    /// Last account figures per account key (the symbol with one account
    /// per runner, one key for a shared account).
    equity: BTreeMap<String, f64>,
    per_runner: bool,
}

impl TotalsBuilder {
    /// `per_runner`: every symbol has its own account.
    pub fn new(per_runner: bool) -> TotalsBuilder {
        TotalsBuilder { per_runner, ..TotalsBuilder::default() }
    }

    pub fn add(&mut self, step: &StepRecord) {
        let t = &mut self.totals;
        t.steps += 1;
        t.decisions += u64::from(step.decision.is_some());
        t.fills += step.fills.len() as u64;
        t.realized_pnl += step.fills.iter().map(|f| f.realized_pnl).sum::<f64>();
        t.fees += step.fills.iter().map(|f| f.fee).sum::<f64>();
        let symbol = step.symbol.to_string();
        // Round trips follow the fills, not the state after the step: a
        // position opened and stopped out on one bar is flat before and
        // after it.
        for fill in &step.fills {
            self.apply_fill(&symbol, fill.time, fill.side.sign() * fill.quantity, fill.realized_pnl - fill.fee);
        }
        self.settle(&symbol, step);
        let account = if self.per_runner { symbol } else { String::new() };
        self.equity.insert(account, step.after.account.equity);
    }

    /// One fill of `signed` quantity: opens, adds to, reduces, closes or
    /// reverses the symbol's position.
    fn apply_fill(&mut self, symbol: &str, time: i64, signed: f64, net: f64) {
        let Some(open) = self.open.get_mut(symbol) else {
            self.open_trade(symbol, time, signed, net);
            return;
        };
        let trade = &mut self.totals.trades[open.trade];
        trade.net_pnl += net;
        let quantity = open.quantity + signed;
        if is_flat(quantity, open.quantity) {
            trade.exit_time = Some(time);
            self.open.remove(symbol);
        } else if quantity.signum() != open.quantity.signum() {
            // Reversed through flat: the rest opens the next round trip.
            trade.exit_time = Some(time);
            self.open.remove(symbol);
            self.open_trade(symbol, time, quantity, 0.0);
        } else {
            open.quantity = quantity;
        }
    }

    fn open_trade(&mut self, symbol: &str, time: i64, signed: f64, net: f64) {
        if signed == 0.0 {
            return;
        }
        let t = &mut self.totals;
        self.open.insert(symbol.to_string(), OpenPosition { trade: t.trades.len(), quantity: signed });
        t.trades.push(RoundTrip {
            symbol: symbol.to_string(),
            entry_time: time,
            exit_time: None,
            direction: if signed > 0.0 { 1 } else { -1 },
            net_pnl: net,
        });
    }

    /// The step's own position is the truth the fills must end at: a
    /// position flat after the step closes its round trip (whatever
    /// rounding the fills' sum left), and an open one takes its quantity.
    fn settle(&mut self, symbol: &str, step: &StepRecord) {
        let Some(open) = self.open.get_mut(symbol) else { return };
        if step.after.position == 0.0 {
            let trade = &mut self.totals.trades[open.trade];
            trade.exit_time.get_or_insert(step.time);
            self.open.remove(symbol);
        } else {
            open.quantity = step.after.position;
        }
    }

    pub fn finish(mut self) -> SessionTotals {
        self.totals.final_equity = self.equity.values().sum();
        self.totals
    }
}

/// Whether `quantity` is zero but for the rounding of summing fills to a
/// position of size `scale`.
fn is_flat(quantity: f64, scale: f64) -> bool {
    quantity.abs() <= scale.abs() * 1e-9
}

/// Where two sessions first differ: at their `step`-th step (snapshots
/// are not steps, so the two sequence numbers differ when the sessions
/// took snapshots at different intervals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    /// 1 for the first step.
    pub step: u64,
    /// The step's sequence number in each session (`None`: it has no such step).
    pub first_seq: Option<u64>,
    pub second_seq: Option<u64>,
    pub field: String,
    pub first: Value,
    pub second: Value,
}

/// Two sessions side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// `None`: the steps are equal, field for field.
    pub divergence: Option<Divergence>,
    pub first: SessionTotals,
    pub second: SessionTotals,
    /// Round trips (by symbol, entry time and direction) only one session has.
    pub trades_only_in_first: Vec<RoundTrip>,
    pub trades_only_in_second: Vec<RoundTrip>,
}

/// Reads both sessions from the start and compares them step by step: what
/// happened, not how it was stored (snapshots, storage mode, compression
/// and indicator recording do not count).
pub fn compare(first: &mut SessionReader, second: &mut SessionReader) -> Result<Comparison, SessionError> {
    let mut totals = [TotalsBuilder::new(per_runner(first)), TotalsBuilder::new(per_runner(second))];
    let mut divergence = None;
    for n in 1.. {
        let (a, b) = (first.next_step()?, second.next_step()?);
        if a.is_none() && b.is_none() {
            break;
        }
        for (builder, event) in totals.iter_mut().zip([&a, &b]) {
            if let Some(step) = event.and_then(SessionEvent::step) {
                builder.add(step);
            }
        }
        if divergence.is_none() {
            divergence = step_divergence(n, a, b);
        }
    }
    let [a, b] = totals;
    let (first, second) = (a.finish(), b.finish());
    let key = |t: &RoundTrip| (t.symbol.clone(), t.entry_time, t.direction);
    let only = |x: &SessionTotals, y: &SessionTotals| -> Vec<RoundTrip> {
        let keys: std::collections::BTreeSet<_> = y.trades.iter().map(key).collect();
        x.trades.iter().filter(|t| !keys.contains(&key(t))).cloned().collect()
    };
    Ok(Comparison {
        divergence,
        trades_only_in_first: only(&first, &second),
        trades_only_in_second: only(&second, &first),
        first,
        second,
    })
}

/// The first field in which the `step`-th steps differ, if any.
fn step_divergence(step: u64, a: Option<&SessionEvent>, b: Option<&SessionEvent>) -> Option<Divergence> {
    let at = |field: String, first: Value, second: Value| Divergence {
        step,
        first_seq: a.map(|e| e.seq),
        second_seq: b.map(|e| e.seq),
        field,
        first,
        second,
    };
    match (a.and_then(SessionEvent::step), b.and_then(SessionEvent::step)) {
        // Compared decoded: only steps that differ become JSON, to name the
        // field (a NaN is unequal decoded but `null` in both JSON forms, so
        // no field differs there).
        (Some(x), Some(y)) if x == y => None,
        (Some(x), Some(y)) => {
            diff(&step_json(x), &step_json(y)).into_iter().next().map(|c| at(c.field, c.before, c.after))
        }
        (x, y) => {
            let side = |s: Option<&StepRecord>| Value::from(if s.is_some() { "(a step)" } else { "(session ended)" });
            Some(at("(step)".into(), side(x), side(y)))
        }
    }
}

fn per_runner(reader: &SessionReader) -> bool {
    reader.manifest().config["engine"]["accounts"].as_str() == Some("per_runner")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::{FillRecord, Liquidity, OrderPurpose, OrderSide};

    fn fill(time: i64, side: OrderSide, quantity: f64, realized_pnl: f64) -> FillRecord {
        FillRecord {
            order_id: 1,
            symbol: "SYNTH".into(),
            time,
            side,
            purpose: OrderPurpose::Entry,
            quantity,
            price: 100.0,
            fee: 0.1,
            liquidity: Liquidity::Taker,
            realized_pnl,
        }
    }

    fn step(time: i64, fills: Vec<FillRecord>, position: f64) -> StepRecord {
        let mut step = StepRecord::blank("SYNTH".into());
        step.time = time;
        step.fills = fills;
        step.after.position = position;
        step
    }

    fn trips(steps: &[StepRecord]) -> Vec<(i64, Option<i64>, i8)> {
        let mut totals = TotalsBuilder::new(true);
        steps.iter().for_each(|s| totals.add(s));
        totals.finish().trades.iter().map(|t| (t.entry_time, t.exit_time, t.direction)).collect()
    }

    #[test]
    fn a_round_trip_within_one_step_counts() {
        // Entered and stopped out on the bar at 60: flat before and after.
        let steps = [
            step(0, vec![], 0.0),
            step(60, vec![fill(60, OrderSide::Buy, 1.0, 0.0), fill(60, OrderSide::Sell, 1.0, -2.0)], 0.0),
        ];
        assert_eq!(trips(&steps), vec![(60, Some(60), 1)]);
        let mut totals = TotalsBuilder::new(true);
        steps.iter().for_each(|s| totals.add(s));
        let net = totals.finish().trades[0].net_pnl;
        assert!((net - (-2.2)).abs() < 1e-12, "{net}");
    }

    #[test]
    fn partial_exits_reversals_and_open_ends_are_followed_fill_by_fill() {
        let steps = [
            step(0, vec![fill(0, OrderSide::Sell, 2.0, 0.0)], -2.0),
            // Half covered: the same round trip goes on.
            step(60, vec![fill(60, OrderSide::Buy, 1.0, 0.5)], -1.0),
            // Covered and reversed to long 3 by one fill.
            step(120, vec![fill(120, OrderSide::Buy, 4.0, 0.5)], 3.0),
            step(180, vec![fill(180, OrderSide::Sell, 3.0, 1.0)], 0.0),
            // Opened, and still open when the session ends.
            step(240, vec![fill(240, OrderSide::Buy, 0.3, 0.0)], 0.3),
            step(300, vec![], 0.3),
        ];
        assert_eq!(trips(&steps), vec![(0, Some(120), -1), (120, Some(180), 1), (240, None, 1)]);
    }

    #[test]
    fn fills_summing_to_almost_zero_close_the_round_trip() {
        // 0.1 + 0.2 - 0.3 is 5.6e-17, not 0: flat all the same, so the
        // short opened by the last fill is a round trip of its own, with
        // only that fill's fee.
        let fills = vec![
            fill(0, OrderSide::Buy, 0.1, 0.0),
            fill(0, OrderSide::Buy, 0.2, 0.0),
            fill(0, OrderSide::Sell, 0.3, 1.0),
            fill(0, OrderSide::Sell, 1.0, 0.0),
        ];
        let mut totals = TotalsBuilder::new(true);
        totals.add(&step(0, fills, -1.0));
        let trades = totals.finish().trades;
        assert_eq!(trades.iter().map(|t| t.direction).collect::<Vec<_>>(), vec![1, -1]);
        assert!((trades[1].net_pnl - (-0.1)).abs() < 1e-12, "{}", trades[1].net_pnl);
    }
}

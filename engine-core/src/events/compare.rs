//! Looking into sessions: field-by-field differences between two records
//! (`inspect-event` diffs an event's state against the one before it),
//! and the comparison of two whole sessions (`compare`): the first
//! divergence, and how their trades and P&L differ.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::codec::Entry;
use super::session::{SessionError, SessionReader};
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
/// element by element; a missing element or key shows as `null`).
pub fn diff(a: &Value, b: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    diff_into(a, b, String::new(), &mut changes);
    changes
}

fn diff_into(a: &Value, b: &Value, path: String, out: &mut Vec<FieldChange>) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, va) in x {
                diff_into(va, y.get(key).unwrap_or(&Value::Null), join(key), out);
            }
            for (key, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                diff_into(&Value::Null, vb, join(key), out);
            }
        }
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

/// A record as JSON, for diffs, `inspect-event` and exports.
pub fn entry_json(seq: u64, entry: &Entry) -> Value {
    let mut value = match entry {
        Entry::Step(step) => serde_json::to_value(step),
        Entry::Snapshot(symbols) => serde_json::to_value(serde_json::json!({ "snapshot": symbols })),
    }
    .expect("records serialise to JSON");
    if let Value::Object(map) = &mut value {
        map.insert("seq".into(), seq.into());
    }
    value
}

/// A round trip seen in a session: from the step its position opened to
/// the step it was flat again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundTrip {
    pub symbol: String,
    pub entry_time: i64,
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

/// Gathers [`SessionTotals`] step by step.
#[derive(Debug, Default)]
pub struct TotalsBuilder {
    totals: SessionTotals,
    open: BTreeMap<String, usize>,
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
        let symbol = step.symbol.to_string();
        let net: f64 = step.fills.iter().map(|f| f.realized_pnl - f.fee).sum();
        t.realized_pnl += step.fills.iter().map(|f| f.realized_pnl).sum::<f64>();
        t.fees += step.fills.iter().map(|f| f.fee).sum::<f64>();
        match self.open.get(&symbol).copied() {
            Some(i) => {
                t.trades[i].net_pnl += net;
                if step.after.position == 0.0 {
                    t.trades[i].exit_time = Some(step.time);
                    self.open.remove(&symbol);
                }
            }
            None if step.after.position != 0.0 => {
                self.open.insert(symbol.clone(), t.trades.len());
                t.trades.push(RoundTrip {
                    symbol: symbol.clone(),
                    entry_time: step.time,
                    exit_time: None,
                    direction: if step.after.position > 0.0 { 1 } else { -1 },
                    net_pnl: net,
                });
            }
            None => {}
        }
        let account = if self.per_runner { symbol } else { String::new() };
        self.equity.insert(account, step.after.account.equity);
    }

    pub fn finish(mut self) -> SessionTotals {
        self.totals.final_equity = self.equity.values().sum();
        self.totals
    }
}

/// Where two sessions first differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    pub seq: u64,
    pub field: String,
    pub first: Value,
    pub second: Value,
}

/// Two sessions side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// `None`: the records are equal, field for field.
    pub divergence: Option<Divergence>,
    pub first: SessionTotals,
    pub second: SessionTotals,
    /// Round trips (by symbol, entry time and direction) only one session has.
    pub trades_only_in_first: Vec<RoundTrip>,
    pub trades_only_in_second: Vec<RoundTrip>,
}

/// Reads both sessions from the start and compares them record by record.
pub fn compare(first: &mut SessionReader, second: &mut SessionReader) -> Result<Comparison, SessionError> {
    let mut totals = [TotalsBuilder::new(per_runner(first)), TotalsBuilder::new(per_runner(second))];
    let mut divergence = None;
    loop {
        let (a, b) = (first.advance()?, second.advance()?);
        if a.is_none() && b.is_none() {
            break;
        }
        for (builder, event) in totals.iter_mut().zip([&a, &b]) {
            if let Some(step) = event.as_ref().and_then(|e| e.step()) {
                builder.add(step);
            }
        }
        if divergence.is_some() {
            continue;
        }
        let seq = a.as_ref().or(b.as_ref()).map_or(0, |e| e.seq);
        divergence = match (&a, &b) {
            // Compared decoded: only records that differ become JSON, to
            // name the field (a NaN is unequal decoded but `null` in both
            // JSON forms, so no field differs there).
            (Some(x), Some(y)) if x.entry == y.entry => None,
            (Some(x), Some(y)) => diff(&entry_json(x.seq, &x.entry), &entry_json(y.seq, &y.entry))
                .into_iter()
                .next()
                .map(|c| Divergence { seq, field: c.field, first: c.before, second: c.after }),
            (x, y) => Some(Divergence {
                seq,
                field: "(record)".into(),
                first: x.as_ref().map_or_else(|| "(session ended)".into(), |_| "(a record)".into()),
                second: y.as_ref().map_or_else(|| "(session ended)".into(), |_| "(a record)".into()),
            }),
        };
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

fn per_runner(reader: &SessionReader) -> bool {
    reader.manifest().config["engine"]["accounts"].as_str() == Some("per_runner")
}

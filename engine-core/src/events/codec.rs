//! How steps become log records: postcard-encoded [`Stored`] values, each
//! step either whole (`full` storage) or as the changes from the symbol's
//! previous state (`delta` storage), with a snapshot of every symbol's
//! state every N records so that a reader can start at any snapshot.
//!
//! Encoder and decoder are the same [`Codec`]: both keep the last state and
//! strategy version of every symbol, so a delta always applies to exactly
//! the state the encoder diffed against.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::step::{AccountFigures, IndicatorValues, RecordedBar, RiskRecord, StepRecord, SymbolSnapshot};
use crate::execution::{FillRecord, OrderRecord};
use crate::market_data::Symbol;
use crate::runner::{Callback, Decision, Outcome};
use crate::state_machine::{SymbolState, Transition};
use crate::strategy::{CtxValue, StrategyVersion};

/// How much state every step carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// Every step carries the symbol's whole state and the strategy version.
    #[default]
    Full,
    /// A step carries only what changed since the symbol's previous step.
    Delta,
}

/// One symbol's state in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolEntry {
    pub symbol: Symbol,
    pub state: SymbolSnapshot,
    /// The strategy version of its last decision.
    pub version: Option<StrategyVersion>,
}

/// A decoded record.
// Steps are nearly every record: boxing them to shrink the rare snapshot's
// variant would cost an allocation per record read.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Step(StepRecord),
    /// Every symbol's state so far, sorted by symbol.
    Snapshot(Vec<SymbolEntry>),
}

/// A record as stored.
#[allow(clippy::large_enum_variant)] // as for `Entry`
#[derive(Serialize, Deserialize)]
enum Stored {
    Step(StoredStep),
    Snapshot(Vec<SymbolEntry>),
}

#[derive(Serialize, Deserialize)]
struct StoredStep {
    symbol: Symbol,
    time: i64,
    bar: RecordedBar,
    before: SymbolState,
    transitions: Vec<Transition>,
    decision: Option<StoredDecision>,
    risk: Vec<RiskRecord>,
    orders: Vec<OrderRecord>,
    fills: Vec<FillRecord>,
    after: StoredState,
}

/// A decision at the step's time; its version only when it changed (delta
/// storage) or always (full storage).
#[derive(Serialize, Deserialize)]
struct StoredDecision {
    callback: Callback,
    version: Option<StrategyVersion>,
    outcome: Outcome,
}

#[derive(Serialize, Deserialize)]
enum StoredState {
    Full(SymbolSnapshot),
    Delta(StateDelta),
}

/// The fields of a [`SymbolSnapshot`] that changed (`None`: unchanged).
#[derive(Serialize, Deserialize, Default)]
struct StateDelta {
    state: Option<SymbolState>,
    position: Option<f64>,
    average_price: Option<Option<f64>>,
    unrealized_pnl: Option<f64>,
    working: Option<Vec<OrderRecord>>,
    quarantine: Option<Option<String>>,
    account: Option<AccountFigures>,
    ctx: Option<Option<CtxValue>>,
    indicator_names: Option<Arc<[String]>>,
    indicator_values: Option<Vec<Option<f64>>>,
}

/// Why a record cannot be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("undecodable record: {0}")]
    Decode(String),
    #[error("a delta for {symbol} without an earlier state of it (the log must be read from its start or a snapshot)")]
    NoBase { symbol: String },
}

/// The last state and version of every symbol, as written or as read.
#[derive(Debug, Clone, Default)]
pub struct Codec {
    storage: Storage,
    last: BTreeMap<Symbol, (SymbolSnapshot, Option<StrategyVersion>)>,
}

impl Codec {
    pub fn new(storage: Storage) -> Codec {
        Codec { storage, last: BTreeMap::new() }
    }

    /// `symbol`'s state after its last step so far.
    pub fn state(&self, symbol: &str) -> Option<&SymbolSnapshot> {
        self.last.get(symbol).map(|(state, _)| state)
    }

    /// Replaces `symbol`'s last state (indicator values recomputed by a reader).
    pub(crate) fn set_state(&mut self, symbol: &Symbol, state: SymbolSnapshot) {
        if let Some(entry) = self.last.get_mut(symbol) {
            entry.0 = state;
        }
    }

    /// Encodes `step` into `out` (cleared first) and remembers its state.
    /// Takes the step whole: its parts move into the record, nothing is
    /// copied but the fields a delta carries.
    pub fn encode_step(&mut self, step: StepRecord, out: &mut Vec<u8>) {
        let StepRecord { symbol, time, bar, before, transitions, decision, risk, orders, fills, after } = step;
        let previous = self.last.get(&symbol);
        let version = match &decision {
            Some(d) => Some(d.version.clone()),
            None => previous.and_then(|p| p.1.clone()),
        };
        let decision = decision.map(|d| {
            let changed = previous.and_then(|(_, v)| v.as_ref()) != Some(&d.version);
            StoredDecision {
                callback: d.callback,
                version: (self.storage == Storage::Full || changed).then_some(d.version),
                outcome: d.outcome,
            }
        });
        let (after, kept) = match (self.storage, previous) {
            (Storage::Delta, Some((base, _))) => (StoredState::Delta(delta(base, &after)), Some(after)),
            _ => (StoredState::Full(after), None),
        };
        let stored = Stored::Step(StoredStep {
            symbol: symbol.clone(),
            time,
            bar,
            before,
            transitions,
            decision,
            risk,
            orders,
            fills,
            after,
        });
        write(&stored, out);
        let after = match (kept, stored) {
            (Some(after), _) => after,
            (None, Stored::Step(StoredStep { after: StoredState::Full(after), .. })) => after,
            (None, _) => unreachable!("a full state was stored"),
        };
        self.last.insert(symbol, (after, version));
    }

    /// Encodes a snapshot of every symbol's state so far into `out`.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        write(&Stored::Snapshot(self.entries()), out);
    }

    /// Every symbol's state so far, sorted by symbol.
    pub fn entries(&self) -> Vec<SymbolEntry> {
        self.last
            .iter()
            .map(|(symbol, (state, version))| SymbolEntry {
                symbol: symbol.clone(),
                state: state.clone(),
                version: version.clone(),
            })
            .collect()
    }

    /// Decodes a record; a snapshot replaces every symbol's known state.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Entry, CodecError> {
        let stored: Stored = postcard::from_bytes(bytes).map_err(|e| CodecError::Decode(e.to_string()))?;
        match stored {
            Stored::Snapshot(entries) => {
                self.last = entries.iter().map(|e| (e.symbol.clone(), (e.state.clone(), e.version.clone()))).collect();
                Ok(Entry::Snapshot(entries))
            }
            Stored::Step(s) => {
                let previous = self.last.get(&s.symbol);
                let after = match s.after {
                    StoredState::Full(state) => state,
                    StoredState::Delta(d) => match previous {
                        Some((base, _)) => apply(base, d),
                        None => return Err(CodecError::NoBase { symbol: s.symbol.to_string() }),
                    },
                };
                let decision = match s.decision {
                    None => None,
                    Some(d) => {
                        let version = match d.version.or_else(|| previous.and_then(|p| p.1.clone())) {
                            Some(v) => v,
                            None => return Err(CodecError::NoBase { symbol: s.symbol.to_string() }),
                        };
                        Some(Decision { time: s.time, callback: d.callback, version, outcome: d.outcome })
                    }
                };
                let version =
                    decision.as_ref().map(|d| d.version.clone()).or_else(|| previous.and_then(|p| p.1.clone()));
                self.last.insert(s.symbol.clone(), (after.clone(), version));
                Ok(Entry::Step(StepRecord {
                    symbol: s.symbol,
                    time: s.time,
                    bar: s.bar,
                    before: s.before,
                    transitions: s.transitions,
                    decision,
                    risk: s.risk,
                    orders: s.orders,
                    fills: s.fills,
                    after,
                }))
            }
        }
    }
}

fn write(stored: &Stored, out: &mut Vec<u8>) {
    out.clear();
    // Encoding into a Vec cannot fail: every type here is serialisable.
    let bytes = std::mem::take(out);
    *out = postcard::to_extend(stored, bytes).expect("postcard encodes into a Vec");
}

/// Equal as stored: floats by their bits (so NaN equals NaN and -0 differs
/// from 0, as a byte comparison of the log would see them).
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn same_option(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_figures(a: &AccountFigures, b: &AccountFigures) -> bool {
    same(a.cash, b.cash)
        && same(a.equity, b.equity)
        && same(a.realized_pnl, b.realized_pnl)
        && same(a.unrealized_pnl, b.unrealized_pnl)
        && same(a.fees, b.fees)
}

fn delta(base: &SymbolSnapshot, now: &SymbolSnapshot) -> StateDelta {
    let values_same = base.indicators.values.len() == now.indicators.values.len()
        && base.indicators.values.iter().zip(&now.indicators.values).all(|(a, b)| same_option(*a, *b));
    StateDelta {
        state: (base.state != now.state).then_some(now.state),
        position: (!same(base.position, now.position)).then_some(now.position),
        average_price: (!same_option(base.average_price, now.average_price)).then_some(now.average_price),
        unrealized_pnl: (!same(base.unrealized_pnl, now.unrealized_pnl)).then_some(now.unrealized_pnl),
        working: (base.working != now.working).then(|| now.working.clone()),
        quarantine: (base.quarantine != now.quarantine).then(|| now.quarantine.clone()),
        account: (!same_figures(&base.account, &now.account)).then_some(now.account),
        ctx: (base.ctx != now.ctx).then(|| now.ctx.clone()),
        indicator_names: (base.indicators.names != now.indicators.names).then(|| now.indicators.names.clone()),
        indicator_values: (!values_same).then(|| now.indicators.values.clone()),
    }
}

fn apply(base: &SymbolSnapshot, d: StateDelta) -> SymbolSnapshot {
    SymbolSnapshot {
        state: d.state.unwrap_or(base.state),
        position: d.position.unwrap_or(base.position),
        average_price: d.average_price.unwrap_or(base.average_price),
        unrealized_pnl: d.unrealized_pnl.unwrap_or(base.unrealized_pnl),
        working: d.working.unwrap_or_else(|| base.working.clone()),
        quarantine: d.quarantine.unwrap_or_else(|| base.quarantine.clone()),
        account: d.account.unwrap_or(base.account),
        ctx: d.ctx.unwrap_or_else(|| base.ctx.clone()),
        indicators: IndicatorValues {
            names: d.indicator_names.unwrap_or_else(|| base.indicators.names.clone()),
            values: d.indicator_values.unwrap_or_else(|| base.indicators.values.clone()),
        },
    }
}

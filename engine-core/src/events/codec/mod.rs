//! How steps become log records: postcard-encoded [`Stored`] values, each
//! step either whole (`full` storage) or as the changes from the symbol's
//! previous state (`delta` storage), with a snapshot of every symbol's
//! state every N records so that a reader can start at any snapshot.
//!
//! Encoder and decoder are the same [`Codec`]: both keep the last state and
//! strategy version of every symbol, so a delta always applies to exactly
//! the state the encoder diffed against.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod shared;
mod stored;

use shared::{assign, assign_state, changed, decode_ctx, decode_names, decode_working, shared};
use stored::{
    write, Blob, StateDelta, Stored, StoredDecision, StoredSnapshot, StoredState, StoredStep, StoredVersion, Text,
    Values,
};

use super::step::{AccountFigures, StepRecord, SymbolSnapshot};
use crate::market_data::Symbol;
use crate::runner::{Decision, Outcome};
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

/// The payload format [`Codec`] writes; a session's manifest names it and
/// a reader refuses any other.
pub const RECORD_FORMAT: u32 = 2;

/// Why a record cannot be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("undecodable record: {0}")]
    Decode(String),
    #[error("a delta for {symbol} without an earlier state of it (the log must be read from its start or a snapshot)")]
    NoBase { symbol: String },
}

fn undecodable(e: postcard::Error) -> CodecError {
    CodecError::Decode(e.to_string())
}

/// The encodings of a symbol's shared parts as last written or read;
/// `None` when unknown (after a snapshot), so the next one is decoded.
#[derive(Debug, Clone, Default)]
struct Encodings {
    working: Option<Vec<u8>>,
    ctx: Option<Vec<u8>>,
    names: Option<Vec<u8>>,
}

/// What the codec remembers of a symbol.
#[derive(Debug, Clone)]
struct Last {
    /// The map's key again, so that one lookup by name finds both.
    symbol: Symbol,
    state: SymbolSnapshot,
    /// The strategy version of its last decision.
    version: Option<StrategyVersion>,
    encodings: Encodings,
}

/// The last state and version of every symbol, as written or as read.
#[derive(Debug, Clone, Default)]
pub struct Codec {
    storage: Storage,
    last: BTreeMap<Symbol, Last>,
    /// The symbol of the last step decoded.
    recent: Option<Symbol>,
}

/// Re-encodes `value` into `slot` unless `unchanged` and already encoded.
fn encode_into<T: Serialize + ?Sized>(slot: &mut Option<Vec<u8>>, unchanged: bool, value: &T) {
    if unchanged && slot.is_some() {
        return;
    }
    let bytes = slot.take().unwrap_or_default();
    *slot = Some(encode_extend(value, bytes));
}

fn encode_extend<T: Serialize + ?Sized>(value: &T, mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.clear();
    // Encoding into a Vec cannot fail: every type here is serialisable.
    postcard::to_extend(value, bytes).expect("postcard encodes into a Vec")
}

impl Codec {
    pub fn new(storage: Storage) -> Codec {
        Codec { storage, last: BTreeMap::new(), recent: None }
    }

    /// `symbol`'s state after its last step so far.
    pub fn state(&self, symbol: &str) -> Option<&SymbolSnapshot> {
        self.last.get(symbol).map(|last| &last.state)
    }

    /// Replaces `symbol`'s last state (indicator values recomputed by a reader).
    pub(crate) fn set_state(&mut self, symbol: &Symbol, state: &SymbolSnapshot) {
        if let Some(last) = self.last.get_mut(symbol) {
            assign_state(&mut last.state, state);
        }
    }

    /// Encodes `step` into `out` (cleared first) and keeps its state: the
    /// step's `after` is swapped with the symbol's previous state (a
    /// default one for a new symbol). The encoder's thread thus neither
    /// copies nor frees the step's parts; whoever made the step drops it
    /// (the allocator then reuses the memory on the thread that uses it).
    pub fn encode_step(&mut self, step: &mut StepRecord, out: &mut Vec<u8>) {
        if !self.last.contains_key(&*step.symbol) {
            let new = Last {
                symbol: step.symbol.clone(),
                state: SymbolSnapshot::default(),
                version: None,
                encodings: Encodings::default(),
            };
            self.last.insert(step.symbol.clone(), new);
        }
        let storage = self.storage;
        let known = self.last.get_mut(&*step.symbol).expect("inserted above");
        let first = known.encodings.names.is_none();
        let (base, after) = (&known.state, &step.after);
        let encodings = &mut known.encodings;
        // Only the parts that changed are encoded again.
        let same_working = !first && (Arc::ptr_eq(&base.working, &after.working) || base.working == after.working);
        let same_ctx = !first && same_ctx(&base.ctx, &after.ctx);
        let same_names = !first && base.indicators.names == after.indicators.names;
        encode_into(&mut encodings.working, same_working, &*after.working);
        encode_into(&mut encodings.ctx, same_ctx, &after.ctx);
        encode_into(&mut encodings.names, same_names, &*after.indicators.names);
        fn blob(slot: &Option<Vec<u8>>) -> Blob<'_> {
            Blob(slot.as_deref().expect("encoded above"))
        }
        let stored_after = match storage {
            Storage::Delta if !first => StoredState::Delta(StateDelta {
                state: (base.state != after.state).then_some(after.state),
                position: (!same(base.position, after.position)).then_some(after.position),
                average_price: (!same_option(base.average_price, after.average_price)).then_some(after.average_price),
                unrealized_pnl: (!same(base.unrealized_pnl, after.unrealized_pnl)).then_some(after.unrealized_pnl),
                working: (!same_working).then(|| blob(&encodings.working)),
                quarantine: (base.quarantine != after.quarantine).then(|| after.quarantine.as_deref().map(Cow::from)),
                account: (!same_figures(&base.account, &after.account)).then_some(after.account),
                ctx: (!same_ctx).then(|| blob(&encodings.ctx)),
                indicator_names: (!same_names).then(|| blob(&encodings.names)),
                indicator_values: (!same_values(&base.indicators.values, &after.indicators.values))
                    .then(|| Values::Borrowed(&after.indicators.values)),
            }),
            _ => StoredState::Full(StoredSnapshot {
                state: after.state,
                position: after.position,
                average_price: after.average_price,
                unrealized_pnl: after.unrealized_pnl,
                working: blob(&encodings.working),
                quarantine: after.quarantine.as_deref().map(Cow::from),
                account: after.account,
                ctx: blob(&encodings.ctx),
                indicator_names: blob(&encodings.names),
                indicator_values: Values::Borrowed(&after.indicators.values),
            }),
        };
        let stored = Stored::Step(StoredStep {
            symbol: Text(step.symbol.as_bytes()),
            time: step.time,
            bar: step.bar.clone(),
            before: step.before,
            transitions: Cow::from(&step.transitions[..]),
            decision: step.decision.as_ref().map(|d| StoredDecision {
                callback: d.callback,
                version: (storage == Storage::Full || known.version.as_ref() != Some(&d.version))
                    .then(|| StoredVersion::of(&d.version)),
                outcome: Cow::Borrowed(&d.outcome),
            }),
            risk: Cow::from(&step.risk[..]),
            orders: Cow::from(&step.orders[..]),
            fills: Cow::from(&step.fills[..]),
            after: stored_after,
        });
        write(&stored, out);
        if let Some(d) = &step.decision {
            if known.version.as_ref() != Some(&d.version) {
                known.version = Some(d.version.clone());
            }
        }
        std::mem::swap(&mut known.state, &mut step.after);
    }

    /// Encodes a snapshot of every symbol's state so far into `out`.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        write(&Stored::Snapshot(self.entries()), out);
    }

    /// Every symbol's state so far, sorted by symbol.
    pub fn entries(&self) -> Vec<SymbolEntry> {
        self.last
            .iter()
            .map(|(symbol, last)| SymbolEntry {
                symbol: symbol.clone(),
                state: last.state.clone(),
                version: last.version.clone(),
            })
            .collect()
    }

    /// Decodes a record; a snapshot replaces every symbol's known state.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Entry, CodecError> {
        let mut entry = Entry::Snapshot(Vec::new());
        self.decode_into(bytes, &mut entry)?;
        Ok(entry)
    }

    /// Decodes a record into `entry`, reusing what it holds: a reader that
    /// decodes every record into the same entry allocates, copies and frees
    /// only what changed (its vectors keep their memory, and a shared part
    /// equal to the one it holds is kept without touching its counter).
    /// The result is the same as [`Codec::decode`]'s whatever `entry` held;
    /// after an error `entry` holds a partly decoded step.
    pub fn decode_into(&mut self, bytes: &[u8], entry: &mut Entry) -> Result<(), CodecError> {
        let s = match postcard::from_bytes(bytes).map_err(undecodable)? {
            Stored::Snapshot(entries) => {
                self.last = entries
                    .iter()
                    .map(|e| {
                        let last = Last {
                            symbol: e.symbol.clone(),
                            state: e.state.clone(),
                            version: e.version.clone(),
                            encodings: Encodings::default(),
                        };
                        (e.symbol.clone(), last)
                    })
                    .collect();
                *entry = Entry::Snapshot(entries);
                return Ok(());
            }
            Stored::Step(s) => s,
        };
        // The symbol's name is checked as UTF-8 only when it is not the
        // last record's.
        let name = match &self.recent {
            Some(recent) if recent.as_bytes() == s.symbol.0 => recent,
            _ => s.symbol.to_str()?,
        };
        // The symbol's entry is updated in place; a new symbol's is added
        // once its first step has decoded.
        let known = self.last.contains_key(name);
        let mut new = None;
        let Last { symbol, state: last_state, version: last_version, encodings } = match known {
            true => self.last.get_mut(name).expect("checked"),
            false => new.insert(Last {
                symbol: Symbol::from(name),
                state: SymbolSnapshot::default(),
                version: None,
                encodings: Encodings::default(),
            }),
        };
        let no_base = || CodecError::NoBase { symbol: symbol.to_string() };
        // The decision's version: a new one only when it changed.
        let new_version = match s.decision.as_ref().map(|d| &d.version) {
            Some(Some(v)) => match &*last_version {
                Some(k) if k.hash.as_bytes() == v.hash.0 && k.generation == v.generation => None,
                known => Some(v.to_version(known.as_ref())?),
            },
            Some(None) if last_version.is_none() => return Err(no_base()),
            _ => None,
        };
        if !matches!(entry, Entry::Step(_)) {
            *entry = Entry::Step(StepRecord::blank(symbol.clone()));
        }
        let Entry::Step(step) = entry else { unreachable!("made a step above") };
        let base = known.then_some(&*last_state);
        if base.is_none() && matches!(s.after, StoredState::Delta(_)) {
            return Err(no_base());
        }
        // A failed decode leaves no half-updated encodings behind: the next
        // record then decodes its shared parts afresh.
        if let Err(e) = decode_state(s.after, base, encodings, &mut step.after) {
            *encodings = Encodings::default();
            return Err(e);
        }
        if let Some(v) = new_version {
            *last_version = Some(v);
        }
        assign(&mut step.symbol, symbol);
        step.time = s.time;
        step.bar = s.bar;
        step.before = s.before;
        step.transitions = s.transitions.into_owned();
        step.decision = match (s.decision, step.decision.take()) {
            (None, _) => None,
            (Some(d), reused) => {
                let version = last_version.as_ref().expect("checked above");
                let mut decision = reused.unwrap_or_else(|| Decision {
                    time: s.time,
                    callback: d.callback,
                    version: version.clone(),
                    outcome: Outcome::Nothing,
                });
                decision.time = s.time;
                decision.callback = d.callback;
                assign(&mut decision.version.hash, &version.hash);
                decision.version.generation = version.generation;
                decision.outcome = d.outcome.into_owned();
                Some(decision)
            }
        };
        step.risk = s.risk.into_owned();
        step.orders = s.orders.into_owned();
        step.fills = s.fills.into_owned();
        assign_state(last_state, &step.after);
        match &self.recent {
            Some(recent) if Arc::ptr_eq(recent, symbol) => {}
            _ => self.recent = Some(symbol.clone()),
        }
        if let Some(new) = new {
            self.last.insert(new.symbol.clone(), new);
        }
        Ok(())
    }
}

/// Decodes a stored state into `after`, from `base` (the symbol's previous
/// state, if known) for a delta and for the shared parts.
fn decode_state(
    stored: StoredState<'_>,
    base: Option<&SymbolSnapshot>,
    encodings: &mut Encodings,
    after: &mut SymbolSnapshot,
) -> Result<(), CodecError> {
    match stored {
        StoredState::Full(f) => {
            after.state = f.state;
            after.position = f.position;
            after.average_price = f.average_price;
            after.unrealized_pnl = f.unrealized_pnl;
            shared(f.working, &mut encodings.working, base.map(|b| &b.working), &mut after.working, decode_working)?;
            after.quarantine = f.quarantine.map(Cow::into_owned);
            after.account = f.account;
            shared(f.ctx, &mut encodings.ctx, base.map(|b| &b.ctx), &mut after.ctx, decode_ctx)?;
            let names = base.map(|b| &b.indicators.names);
            shared(f.indicator_names, &mut encodings.names, names, &mut after.indicators.names, decode_names)?;
            f.indicator_values.replace(&mut after.indicators.values);
        }
        StoredState::Delta(d) => {
            let base = base.ok_or_else(|| CodecError::Decode("a delta without a base".into()))?;
            after.state = d.state.unwrap_or(base.state);
            after.position = d.position.unwrap_or(base.position);
            after.average_price = d.average_price.unwrap_or(base.average_price);
            after.unrealized_pnl = d.unrealized_pnl.unwrap_or(base.unrealized_pnl);
            changed(d.working, &mut encodings.working, &base.working, &mut after.working, decode_working)?;
            match d.quarantine {
                Some(q) => after.quarantine = q.map(Cow::into_owned),
                None => after.quarantine.clone_from(&base.quarantine),
            }
            after.account = d.account.unwrap_or(base.account);
            changed(d.ctx, &mut encodings.ctx, &base.ctx, &mut after.ctx, decode_ctx)?;
            let names = &base.indicators.names;
            changed(d.indicator_names, &mut encodings.names, names, &mut after.indicators.names, decode_names)?;
            match d.indicator_values {
                Some(v) => v.replace(&mut after.indicators.values),
                None => after.indicators.values.clone_from(&base.indicators.values),
            }
        }
    }
    Ok(())
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

fn same_ctx(a: &Option<Arc<CtxValue>>, b: &Option<Arc<CtxValue>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        (None, None) => true,
        _ => false,
    }
}

fn same_values(a: &[Option<f64>], b: &[Option<f64>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_option(*a, *b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{IndicatorValues, RecordedBar};
    use crate::execution::OrderRecord;
    use crate::execution::{OrderKind, OrderPurpose, OrderSide, OrderStatus, TimeInForce};
    use crate::runner::Callback;
    use crate::state_machine::{SymbolState, Transition};
    use crate::strategy::CtxKey;

    fn stop_order(trigger: f64) -> OrderRecord {
        OrderRecord {
            id: 7,
            symbol: "A".into(),
            submitted: 1,
            updated: 2,
            side: OrderSide::Sell,
            kind: OrderKind::Stop { trigger },
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            purpose: OrderPurpose::StopLoss,
            quantity: 1.0,
            filled_quantity: 0.0,
            average_price: None,
            fees: 0.0,
            status: OrderStatus::Working,
            reason: "stop".into(),
        }
    }

    fn ctx(n: i64) -> Option<Arc<CtxValue>> {
        Some(Arc::new(CtxValue::Table(vec![(CtxKey::Str("n".into()), CtxValue::Int(n))])))
    }

    /// Steps of two symbols whose shared parts change now and then, some
    /// to a new `Arc` with the same content.
    fn steps() -> Vec<StepRecord> {
        let names: Arc<[String]> = vec!["ema(9)".to_string(), "ema(21)".to_string()].into();
        let more_names: Arc<[String]> = vec!["ema(9)".to_string(), "ema(21)".to_string(), "atr(14)".into()].into();
        let v1 = StrategyVersion { hash: "ab".repeat(32).into(), generation: 1 };
        let v2 = StrategyVersion { hash: "cd".repeat(32).into(), generation: 2 };
        let working: Arc<[OrderRecord]> = vec![stop_order(9.0)].into();
        let mut steps = Vec::new();
        for i in 0..12i64 {
            for symbol in ["A", "B"] {
                let mut after = SymbolSnapshot {
                    position: (i / 3) as f64,
                    ctx: if i < 2 { None } else { ctx(i / 4) },
                    indicators: IndicatorValues {
                        names: if i < 6 { names.clone() } else { more_names.clone() },
                        values: vec![Some(i as f64); if i < 6 { 2 } else { 3 }],
                    },
                    ..SymbolSnapshot::default()
                };
                if (4..8).contains(&i) {
                    after.working = if i == 5 { vec![stop_order(9.0)].into() } else { working.clone() };
                }
                if i == 9 {
                    after.quarantine = Some("quota".into());
                }
                let version = if i < 7 { v1.clone() } else { v2.clone() };
                steps.push(StepRecord {
                    symbol: symbol.into(),
                    time: i * 60_000,
                    bar: RecordedBar::of(&crate::market_data::Bar::new(
                        symbol.into(),
                        i * 60_000,
                        1.0,
                        2.0,
                        0.5,
                        1.5,
                        3.0,
                    )),
                    before: SymbolState::Watch,
                    transitions: Vec::new(),
                    decision: (i % 2 == 0).then(|| Decision {
                        time: i * 60_000,
                        callback: Callback::DetectOpportunity,
                        version,
                        outcome: Outcome::Nothing,
                    }),
                    risk: Vec::new(),
                    orders: Vec::new(),
                    fills: Vec::new(),
                    after,
                });
            }
        }
        steps
    }

    /// The steps encoded, with a snapshot after the first `snapshot_after`.
    fn encoded(storage: Storage, snapshot_after: usize) -> Vec<Vec<u8>> {
        let mut codec = Codec::new(storage);
        let mut records = Vec::new();
        for (i, step) in steps().into_iter().enumerate() {
            if i == snapshot_after {
                let mut out = Vec::new();
                codec.encode_snapshot(&mut out);
                records.push(out);
            }
            let mut out = Vec::new();
            let mut step = step;
            codec.encode_step(&mut step, &mut out);
            records.push(out);
        }
        records
    }

    fn decoded(records: &[Vec<u8>], storage: Storage) -> Vec<StepRecord> {
        let mut codec = Codec::new(storage);
        records
            .iter()
            .filter_map(|r| match codec.decode(r).unwrap() {
                Entry::Step(s) => Some(s),
                Entry::Snapshot(_) => None,
            })
            .collect()
    }

    #[test]
    fn steps_decode_to_what_was_encoded_from_the_start_or_a_snapshot() {
        for storage in [Storage::Full, Storage::Delta] {
            let records = encoded(storage, 9);
            assert_eq!(decoded(&records, storage), steps(), "{storage:?} from the start");
            assert_eq!(decoded(&records[9..], storage), steps()[9..], "{storage:?} from the snapshot");
        }
        // A delta needs its base.
        let records = encoded(Storage::Delta, 9);
        let err = Codec::new(Storage::Delta).decode(&records[3]).unwrap_err();
        assert_eq!(err, CodecError::NoBase { symbol: "B".into() });
    }

    #[test]
    fn decoding_into_a_reused_entry_gives_the_same_records() {
        for storage in [Storage::Full, Storage::Delta] {
            let records = encoded(storage, 9);
            let mut fresh = Codec::new(storage);
            let mut reusing = Codec::new(storage);
            // Whatever the entry held before: here a step of another symbol
            // with parts of its own, then every record in turn (two symbols
            // interleaved, and a snapshot).
            let mut other = steps().pop().unwrap();
            other.symbol = "Z".into();
            other.transitions.push(Transition {
                time: 5,
                from: SymbolState::Watch,
                to: SymbolState::CloseWatch,
                event: crate::state_machine::StateEvent::SetupFound,
                reason: "left over".into(),
            });
            other.after.quarantine = Some("left over".into());
            let mut entry = Entry::Step(other);
            for (i, record) in records.iter().enumerate() {
                reusing.decode_into(record, &mut entry).unwrap();
                assert_eq!(entry, fresh.decode(record).unwrap(), "{storage:?} record {i}");
            }
        }
    }

    #[test]
    fn names_and_values_are_stored_as_a_str_and_a_slice_are() {
        // Record format 2 was written with `&str` and `Cow<[Option<f64>]>`.
        let text = Text(b"BTCUSDT");
        assert_eq!(postcard::to_allocvec(&text).unwrap(), postcard::to_allocvec("BTCUSDT").unwrap());
        let values = [Some(1.5), None, Some(-2.0)];
        let slice: Cow<[Option<f64>]> = Cow::Borrowed(&values);
        assert_eq!(postcard::to_allocvec(&Values::Borrowed(&values)).unwrap(), postcard::to_allocvec(&slice).unwrap());
        let bytes = postcard::to_allocvec(&slice).unwrap();
        let Values::Owned(decoded) = postcard::from_bytes::<Values>(&bytes).unwrap() else { panic!("owned") };
        assert_eq!(decoded, values);
        // A name that is not UTF-8 is refused.
        let bad = postcard::to_allocvec(&Text(&[0xff, 0xfe])).unwrap();
        let text: Text = postcard::from_bytes(&bad).unwrap();
        assert!(matches!(text.to_str(), Err(CodecError::Decode(_))));
    }

    #[test]
    fn a_record_that_fails_to_decode_leaves_the_codec_consistent() {
        let records = encoded(Storage::Full, usize::MAX);
        let all = steps();
        let mut codec = Codec::new(Storage::Full);
        for record in &records[..8] {
            codec.decode(record).unwrap();
        }
        // Symbol A's next working orders, then a `ctx` that does not decode.
        let working = encode_extend(&*all[8].after.working, Vec::new());
        let names = encode_extend(&*all[8].after.indicators.names, Vec::new());
        let bad = Stored::Step(StoredStep {
            symbol: Text(b"A"),
            time: all[8].time,
            bar: all[8].bar.clone(),
            before: SymbolState::Watch,
            transitions: Cow::Owned(Vec::new()),
            decision: None,
            risk: Cow::Owned(Vec::new()),
            orders: Cow::Owned(Vec::new()),
            fills: Cow::Owned(Vec::new()),
            after: StoredState::Full(StoredSnapshot {
                state: SymbolState::Watch,
                position: 0.0,
                average_price: None,
                unrealized_pnl: 0.0,
                working: Blob(&working),
                quarantine: None,
                account: AccountFigures::default(),
                ctx: Blob(&[1, 0xff]),
                indicator_names: Blob(&names),
                indicator_values: Values::Borrowed(&[]),
            }),
        });
        let mut out = Vec::new();
        write(&bad, &mut out);
        assert!(matches!(codec.decode(&out), Err(CodecError::Decode(_))));
        // The same working orders in the next good record are decoded, not
        // mistaken for the ones symbol A had.
        for (record, step) in records[8..].iter().zip(&all[8..]) {
            assert_eq!(codec.decode(record).unwrap(), Entry::Step(step.clone()));
        }
    }

    #[test]
    fn unchanged_shared_parts_are_shared_by_the_decoded_steps() {
        for storage in [Storage::Full, Storage::Delta] {
            let steps = decoded(&encoded(storage, usize::MAX), storage);
            // Symbol A's steps 2 and 3 keep ctx, names and the version's hash.
            let (s2, s3) = (&steps[4], &steps[6]);
            assert_eq!(&*s3.symbol, "A");
            assert!(Arc::ptr_eq(s2.after.ctx.as_ref().unwrap(), s3.after.ctx.as_ref().unwrap()), "{storage:?}");
            assert!(Arc::ptr_eq(&s2.after.indicators.names, &s3.after.indicators.names), "{storage:?}");
            assert!(Arc::ptr_eq(&s2.symbol, &s3.symbol), "{storage:?}");
            let (d0, d2) = (steps[0].decision.as_ref().unwrap(), s2.decision.as_ref().unwrap());
            assert!(Arc::ptr_eq(&d0.version.hash, &d2.version.hash), "{storage:?}");
            // Steps 4 and 5 hold equal working orders from different `Arc`s:
            // equal encodings, so shared on reading.
            assert!(Arc::ptr_eq(&steps[8].after.working, &steps[10].after.working), "{storage:?}");
        }
    }
}

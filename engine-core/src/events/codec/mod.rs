//! How steps become log records, in postcard's encoding of the layout in
//! `stored.rs`, written (`write.rs`) and read (`read.rs`) by hand: each
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

mod read;
mod shared;
#[cfg(test)]
mod stored;
mod write;

use read::Cursor;
use shared::{assign, assign_state, changed, decode_ctx, decode_names, decode_working, shared};
use write::Out;

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

/// Variant indices of the record layout (`stored`'s enums): a record is a
/// step or a snapshot, a step's state is whole or a delta.
const STEP: u64 = 0;
const SNAPSHOT: u64 = 1;
const FULL_STATE: u64 = 0;
const DELTA_STATE: u64 = 1;

/// Re-encodes `value` into `slot` unless `unchanged` and already encoded.
fn encode_into<T: Serialize + ?Sized>(slot: &mut Option<Vec<u8>>, unchanged: bool, value: &T) {
    if unchanged && slot.is_some() {
        return;
    }
    let bytes = slot.get_or_insert_with(Vec::new);
    bytes.clear();
    Out::new(bytes).serde(value);
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
        fn blob(slot: &Option<Vec<u8>>) -> &[u8] {
            slot.as_deref().expect("encoded above")
        }
        // The fields in `StoredStep`'s order.
        out.clear();
        let mut o = Out::new(out);
        o.varint(STEP);
        o.bytes(step.symbol.as_bytes());
        o.i64(step.time);
        o.bar(&step.bar);
        o.state(step.before);
        o.seq(&step.transitions);
        o.some(step.decision.is_some());
        if let Some(d) = &step.decision {
            o.callback(d.callback);
            // The version only when it changed (delta) or always (full).
            let version = storage == Storage::Full || known.version.as_ref() != Some(&d.version);
            o.some(version);
            if version {
                o.bytes(d.version.hash.as_bytes());
                o.varint(d.version.generation);
            }
            o.outcome(&d.outcome);
        }
        o.seq(&step.risk);
        o.seq(&step.orders);
        o.seq(&step.fills);
        match storage {
            Storage::Delta if !first => {
                o.varint(DELTA_STATE);
                // Each field an `Option`: `Some` when it changed.
                o.changed(base.state != after.state, |o| o.state(after.state));
                o.changed(!same(base.position, after.position), |o| o.f64(after.position));
                let average_price = !same_option(base.average_price, after.average_price);
                o.changed(average_price, |o| o.option_f64(after.average_price));
                o.changed(!same(base.unrealized_pnl, after.unrealized_pnl), |o| o.f64(after.unrealized_pnl));
                o.changed(!same_working, |o| o.bytes(blob(&encodings.working)));
                let quarantine = after.quarantine.as_deref().map(str::as_bytes);
                o.changed(base.quarantine != after.quarantine, |o| o.option_bytes(quarantine));
                o.changed(!same_figures(&base.account, &after.account), |o| o.account(&after.account));
                o.changed(!same_ctx, |o| o.bytes(blob(&encodings.ctx)));
                o.changed(!same_names, |o| o.bytes(blob(&encodings.names)));
                let values = &after.indicators.values;
                o.changed(!same_values(&base.indicators.values, values), |o| o.values(values));
            }
            _ => {
                o.varint(FULL_STATE);
                o.state(after.state);
                o.f64(after.position);
                o.option_f64(after.average_price);
                o.f64(after.unrealized_pnl);
                o.bytes(blob(&encodings.working));
                o.option_bytes(after.quarantine.as_deref().map(str::as_bytes));
                o.account(&after.account);
                o.bytes(blob(&encodings.ctx));
                o.bytes(blob(&encodings.names));
                o.values(&after.indicators.values);
            }
        }
        if let Some(d) = &step.decision {
            if known.version.as_ref() != Some(&d.version) {
                known.version = Some(d.version.clone());
            }
        }
        std::mem::swap(&mut known.state, &mut step.after);
    }

    /// Encodes a snapshot of every symbol's state so far into `out`.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut o = Out::new(out);
        o.varint(SNAPSHOT);
        o.serde(&self.entries());
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
    /// little more than what changed (an empty vector and the indicator
    /// values keep their memory, and a shared part equal to the one it
    /// holds is kept without touching its counter).
    /// The result is the same as [`Codec::decode`]'s whatever `entry` held;
    /// after an error `entry` holds a partly decoded step.
    pub fn decode_into(&mut self, bytes: &[u8], entry: &mut Entry) -> Result<(), CodecError> {
        let mut c = Cursor::new(bytes);
        if c.variant(2, "record kind")? == SNAPSHOT {
            let entries: Vec<SymbolEntry> = c.serde()?;
            c.finish()?;
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
        // The fields in `StoredStep`'s order. The symbol's name is checked
        // as UTF-8 only when it is not the last record's.
        let name = c.bytes()?;
        let name = match &self.recent {
            Some(recent) if recent.as_bytes() == name => recent,
            _ => read::to_str(name)?,
        };
        // The symbol's entry is updated in place; a new symbol's is added
        // once its first step has decoded.
        let mut new = None;
        let (known, Last { symbol, state: last_state, version: last_version, encodings }) =
            match self.last.get_mut(name) {
                Some(last) => (true, last),
                None => (
                    false,
                    new.insert(Last {
                        symbol: Symbol::from(name),
                        state: SymbolSnapshot::default(),
                        version: None,
                        encodings: Encodings::default(),
                    }),
                ),
            };
        let no_base = || CodecError::NoBase { symbol: symbol.to_string() };
        if !matches!(entry, Entry::Step(_)) {
            *entry = Entry::Step(StepRecord::blank(symbol.clone()));
        }
        let Entry::Step(step) = entry else { unreachable!("made a step above") };
        assign(&mut step.symbol, symbol);
        step.time = c.i64()?;
        c.bar(&mut step.bar)?;
        step.before = c.state()?;
        c.vec(&mut step.transitions)?;
        // The decision's version is stored only when it changed (delta) or
        // always (full); it is kept as the symbol's once the record decoded.
        let mut new_version = None;
        if c.some()? {
            let callback = c.callback()?;
            if c.some()? {
                let (hash, generation) = (c.bytes()?, c.u64()?);
                new_version = match &*last_version {
                    Some(k) if k.hash.as_bytes() == hash && k.generation == generation => None,
                    known => Some(StrategyVersion { hash: shared_hash(hash, known.as_ref())?, generation }),
                };
            }
            let version = new_version.as_ref().or(last_version.as_ref()).ok_or_else(no_base)?;
            let decision = step.decision.get_or_insert_with(|| Decision {
                time: step.time,
                callback,
                version: version.clone(),
                outcome: Outcome::Nothing,
            });
            decision.time = step.time;
            decision.callback = callback;
            assign(&mut decision.version.hash, &version.hash);
            decision.version.generation = version.generation;
            c.outcome(&mut decision.outcome)?;
        } else {
            step.decision = None;
        }
        c.vec(&mut step.risk)?;
        c.vec(&mut step.orders)?;
        c.vec(&mut step.fills)?;
        let base = known.then_some(&*last_state);
        // A failed decode leaves no half-updated encodings behind: the next
        // record then decodes its shared parts afresh.
        if let Err(e) = read_state(&mut c, &no_base, base, encodings, &mut step.after).and_then(|()| c.finish()) {
            *encodings = Encodings::default();
            return Err(e);
        }
        if let Some(v) = new_version {
            *last_version = Some(v);
        }
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

/// A version's hash as decoded, sharing `known`'s when it is the same.
fn shared_hash(hash: &[u8], known: Option<&StrategyVersion>) -> Result<Arc<str>, CodecError> {
    Ok(match known {
        Some(v) if v.hash.as_bytes() == hash => v.hash.clone(),
        _ => read::to_str(hash)?.into(),
    })
}

/// Reads a stored state (`StoredState`) into `after`, from `base` (the
/// symbol's previous state, if known) for a delta and for the shared parts.
fn read_state(
    c: &mut Cursor<'_>,
    no_base: &dyn Fn() -> CodecError,
    base: Option<&SymbolSnapshot>,
    encodings: &mut Encodings,
    after: &mut SymbolSnapshot,
) -> Result<(), CodecError> {
    if c.variant(2, "state storage")? == FULL_STATE {
        after.state = c.state()?;
        after.position = c.f64()?;
        after.average_price = c.option_f64()?;
        after.unrealized_pnl = c.f64()?;
        shared(c.bytes()?, &mut encodings.working, base.map(|b| &b.working), &mut after.working, decode_working)?;
        c.option_string(&mut after.quarantine)?;
        after.account = c.account()?;
        shared(c.bytes()?, &mut encodings.ctx, base.map(|b| &b.ctx), &mut after.ctx, decode_ctx)?;
        let names = base.map(|b| &b.indicators.names);
        shared(c.bytes()?, &mut encodings.names, names, &mut after.indicators.names, decode_names)?;
        return c.values(&mut after.indicators.values);
    }
    // A delta: every field an `Option`, `None` when unchanged.
    let base = base.ok_or_else(no_base)?;
    after.state = if c.some()? { c.state()? } else { base.state };
    after.position = if c.some()? { c.f64()? } else { base.position };
    after.average_price = if c.some()? { c.option_f64()? } else { base.average_price };
    after.unrealized_pnl = if c.some()? { c.f64()? } else { base.unrealized_pnl };
    changed(c.option_bytes()?, &mut encodings.working, &base.working, &mut after.working, decode_working)?;
    match c.some()? {
        true => c.option_string(&mut after.quarantine)?,
        false => after.quarantine.clone_from(&base.quarantine),
    }
    after.account = if c.some()? { c.account()? } else { base.account };
    changed(c.option_bytes()?, &mut encodings.ctx, &base.ctx, &mut after.ctx, decode_ctx)?;
    let names = &base.indicators.names;
    changed(c.option_bytes()?, &mut encodings.names, names, &mut after.indicators.names, decode_names)?;
    match c.some()? {
        true => c.values(&mut after.indicators.values),
        false => {
            after.indicators.values.clone_from(&base.indicators.values);
            Ok(())
        }
    }
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
    use std::borrow::Cow;

    use super::stored::{
        write, Blob, StateDelta, Stored, StoredDecision, StoredSnapshot, StoredState, StoredStep, StoredVersion, Text,
    };
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
                        // A symbol's values repeat on two steps in a row.
                        values: vec![Some((i / 2) as f64); if i < 6 { 2 } else { 3 }],
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

    /// One symbol's steps through every state, callback and kind of
    /// outcome, with transitions, risk verdicts, orders, fills, a
    /// quarantine, quotes and a close time: every field the reader reads
    /// by hand, in every form the encoder can write it.
    fn varied_steps() -> Vec<StepRecord> {
        use crate::events::RiskRecord;
        use crate::execution::{FillRecord, Liquidity, OrderPurpose, OrderSide};
        use crate::state_machine::StateEvent;
        use crate::strategy::Side;
        // Generations of 100 and more: a varint of two bytes.
        let version = |generation| StrategyVersion { hash: format!("{generation:064x}").into(), generation };
        let states = [
            SymbolState::Watch,
            SymbolState::CloseWatch,
            SymbolState::InTrade { entry_filled: false },
            SymbolState::InTrade { entry_filled: true },
        ];
        let callbacks = [Callback::DetectOpportunity, Callback::FilterCommitment, Callback::ManagePosition];
        let outcomes = [
            Outcome::Nothing,
            Outcome::Setup { reason: "setup".into() },
            Outcome::Enter { side: Side::Short, quantity: 2.5, reason: "enter".into() },
            Outcome::Cancel { reason: "cancel".into() },
            Outcome::Exit { fraction: 0.5, reason: "exit".into() },
            Outcome::Update { stop: Some(1.0), target: None, reason: "update".into() },
            Outcome::Refused { reason: "refused".into() },
        ];
        (0..28i64)
            .map(|i| {
                let u = i as usize;
                let mut bar = RecordedBar::of(&crate::market_data::Bar::new("X".into(), i, 1.0, 2.0, 0.5, 1.5, 3.0));
                if i % 3 == 1 {
                    let close_time = if i == 25 { i64::MIN } else { -i * 1_000_000_007 };
                    (bar.bid, bar.ask, bar.close_time) = (Some(1.49), Some(1.51), Some(close_time));
                }
                let state = states[u % 4];
                let after = SymbolSnapshot {
                    state,
                    position: if i % 2 == 0 { 0.0 } else { -(i as f64) / 3.0 },
                    average_price: (i % 2 == 1).then_some(f64::MAX / i as f64),
                    unrealized_pnl: f64::MIN_POSITIVE * i as f64,
                    working: if i % 5 == 0 { vec![stop_order(i as f64)].into() } else { Arc::new([]) },
                    // One over 127 bytes: a length of two bytes.
                    quarantine: (i % 7 == 3)
                        .then(|| format!("quarantined at {i} ✓").repeat(if i == 10 { 9 } else { 1 })),
                    account: AccountFigures {
                        cash: 1e6 - i as f64,
                        equity: f64::NAN,
                        realized_pnl: -0.0,
                        unrealized_pnl: f64::INFINITY,
                        fees: i as f64 * 0.01,
                    },
                    ctx: ctx(i / 6),
                    indicators: IndicatorValues {
                        names: vec!["ema(9)".to_string(), format!("x{}", i / 9)].into(),
                        // Unchanged from i = 2 to 3 and from 6 to 7.
                        values: vec![(i % 4 != 0).then_some((i / 2) as f64), None],
                    },
                };
                StepRecord {
                    symbol: "X".into(),
                    time: i * 60_000 - 1_000_000,
                    bar,
                    before: states[(u + 3) % 4],
                    transitions: (i % 3 == 0)
                        .then(|| Transition {
                            time: i,
                            from: states[(u + 3) % 4],
                            to: state,
                            event: StateEvent::SetupFound,
                            reason: format!("reason {i}"),
                        })
                        .into_iter()
                        .collect(),
                    decision: (i % 4 != 2).then(|| Decision {
                        time: i * 60_000 - 1_000_000,
                        callback: callbacks[u % 3],
                        version: version(100 * (1 + i as u64 / 10)),
                        outcome: outcomes[u % 7].clone(),
                    }),
                    risk: match i % 4 {
                        0 => vec![RiskRecord::Approved { quantity: 1.0 }],
                        1 => vec![RiskRecord::Refused { code: "RISK_MAX_POSITIONS".into(), message: "full".into() }],
                        _ => Vec::new(),
                    },
                    orders: if i % 6 == 5 { vec![stop_order(2.0)] } else { Vec::new() },
                    fills: if i % 4 == 3 {
                        vec![FillRecord {
                            order_id: 7,
                            symbol: "X".into(),
                            time: i,
                            side: OrderSide::Buy,
                            purpose: OrderPurpose::Entry,
                            quantity: 1.0,
                            price: 1.5,
                            fee: 0.01,
                            liquidity: Liquidity::Taker,
                            realized_pnl: 0.0,
                        }]
                    } else {
                        Vec::new()
                    },
                    after,
                }
            })
            .collect()
    }

    /// Equal as stored: the NaN in the figures compares by its bits.
    fn same_steps(a: &[StepRecord], b: &[StepRecord]) -> bool {
        let bits = |s: &[StepRecord]| format!("{s:?}");
        a.len() == b.len() && bits(a) == bits(b)
    }

    #[test]
    fn every_field_in_every_form_reads_back_as_written() {
        for storage in [Storage::Full, Storage::Delta] {
            let mut codec = Codec::new(storage);
            let mut reader = Codec::new(storage);
            let mut reused = Entry::Snapshot(Vec::new());
            let mut read = Vec::new();
            for step in varied_steps() {
                let mut out = Vec::new();
                codec.encode_step(&mut step.clone(), &mut out);
                reader.decode_into(&out, &mut reused).unwrap();
                let Entry::Step(decoded) = &reused else { panic!("a step") };
                read.push(decoded.clone());
            }
            assert!(same_steps(&read, &varied_steps()), "{storage:?}:\n{read:#?}");
        }
    }

    /// `step` as `stored`'s serde types hold it, encoded by postcard: the
    /// bytes the hand-written writer must give. `base` and `version` are the
    /// symbol's state and strategy version as the encoder knew them.
    fn by_serde(
        storage: Storage,
        step: &StepRecord,
        base: Option<&SymbolSnapshot>,
        version: Option<&StrategyVersion>,
    ) -> Vec<u8> {
        let after = &step.after;
        let (working, ctx, names) = (
            postcard::to_allocvec(&*after.working).unwrap(),
            postcard::to_allocvec(&after.ctx).unwrap(),
            postcard::to_allocvec(&*after.indicators.names).unwrap(),
        );
        let state = match base {
            Some(base) if storage == Storage::Delta => StoredState::Delta(StateDelta {
                state: (base.state != after.state).then_some(after.state),
                position: (!same(base.position, after.position)).then_some(after.position),
                average_price: (!same_option(base.average_price, after.average_price)).then_some(after.average_price),
                unrealized_pnl: (!same(base.unrealized_pnl, after.unrealized_pnl)).then_some(after.unrealized_pnl),
                working: (base.working != after.working).then_some(Blob(&working)),
                quarantine: (base.quarantine != after.quarantine).then(|| after.quarantine.as_deref().map(Cow::from)),
                account: (!same_figures(&base.account, &after.account)).then_some(after.account),
                ctx: (base.ctx != after.ctx).then_some(Blob(&ctx)),
                indicator_names: (base.indicators.names != after.indicators.names).then_some(Blob(&names)),
                indicator_values: (!same_values(&base.indicators.values, &after.indicators.values))
                    .then_some(&after.indicators.values[..]),
            }),
            _ => StoredState::Full(StoredSnapshot {
                state: after.state,
                position: after.position,
                average_price: after.average_price,
                unrealized_pnl: after.unrealized_pnl,
                working: Blob(&working),
                quarantine: after.quarantine.as_deref().map(Cow::from),
                account: after.account,
                ctx: Blob(&ctx),
                indicator_names: Blob(&names),
                indicator_values: &after.indicators.values,
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
                version: (storage == Storage::Full || version != Some(&d.version))
                    .then(|| StoredVersion::of(&d.version)),
                outcome: Cow::Borrowed(&d.outcome),
            }),
            risk: Cow::from(&step.risk[..]),
            orders: Cow::from(&step.orders[..]),
            fills: Cow::from(&step.fills[..]),
            after: state,
        });
        let mut out = Vec::new();
        write(&stored, &mut out);
        out
    }

    #[test]
    fn the_hand_written_records_are_postcards_encoding_of_the_stored_layout() {
        for storage in [Storage::Full, Storage::Delta] {
            let mut codec = Codec::new(storage);
            for (i, step) in varied_steps().into_iter().chain(steps()).enumerate() {
                let base = codec.state(&step.symbol).cloned();
                let version = codec.last.get(&*step.symbol).and_then(|l| l.version.clone());
                let expected = by_serde(storage, &step, base.as_ref(), version.as_ref());
                let mut out = vec![0xAA; 3]; // cleared first
                codec.encode_step(&mut step.clone(), &mut out);
                assert_eq!(out, expected, "{storage:?} step {i}");
            }
            let mut out = Vec::new();
            codec.encode_snapshot(&mut out);
            let mut expected = Vec::new();
            write(&Stored::Snapshot(codec.entries()), &mut expected);
            assert_eq!(out, expected, "{storage:?} snapshot");
        }
    }

    #[test]
    fn a_cut_or_lengthened_record_is_refused_and_a_changed_one_never_panics() {
        for storage in [Storage::Full, Storage::Delta] {
            let mut codec = Codec::new(storage);
            let records: Vec<Vec<u8>> = varied_steps()
                .into_iter()
                .map(|mut step| {
                    let mut out = Vec::new();
                    codec.encode_step(&mut step, &mut out);
                    out
                })
                .collect();
            let reader_at = |i: usize| {
                let mut reader = Codec::new(storage);
                for record in &records[..i] {
                    reader.decode(record).unwrap();
                }
                reader
            };
            for (i, record) in records.iter().enumerate() {
                for cut in 0..record.len() {
                    let result = reader_at(i).decode(&record[..cut]);
                    assert!(matches!(result, Err(CodecError::Decode(_))), "{storage:?} record {i} cut at {cut}");
                }
                let mut longer = record.clone();
                longer.push(0);
                let err = reader_at(i).decode(&longer).unwrap_err();
                assert_eq!(err, CodecError::Decode("1 bytes after the record's end".into()));
                for at in 0..record.len() {
                    let mut changed = record.clone();
                    changed[at] ^= 0x5a;
                    let _ = reader_at(i).decode(&changed);
                }
            }
        }
    }

    #[test]
    fn a_name_is_stored_as_a_str_and_one_that_is_not_utf8_is_refused() {
        assert_eq!(postcard::to_allocvec(&Text(b"BTCUSDT")).unwrap(), postcard::to_allocvec("BTCUSDT").unwrap());
        let mut record = Vec::new();
        Codec::new(Storage::Full).encode_step(&mut steps().remove(0), &mut record);
        // The variant index, the name's length, then the name "A".
        assert_eq!(&record[..3], &[0, 1, b'A']);
        record[2] = 0xff;
        let err = Codec::new(Storage::Full).decode(&record).unwrap_err();
        assert!(matches!(&err, CodecError::Decode(m) if m.contains("not UTF-8")), "{err}");
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
        let working = postcard::to_allocvec(&*all[8].after.working).unwrap();
        let names = postcard::to_allocvec(&*all[8].after.indicators.names).unwrap();
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
                indicator_values: &[],
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

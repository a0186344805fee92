//! The record layout as serde types: what the hand-written writer
//! ([`super::write`]) writes and the reader ([`super::read`]) reads. The
//! codec's tests check both against postcard's encoding of these types, so
//! the layout stays postcard's (record format 2, as written before the
//! writer was hand-written).

use std::borrow::Cow;

use serde::Serialize;

use super::SymbolEntry;
use crate::events::step::{AccountFigures, RecordedBar, RiskRecord};
use crate::execution::{FillRecord, OrderRecord};
use crate::runner::{Callback, Outcome};
use crate::state_machine::{SymbolState, Transition};
use crate::strategy::StrategyVersion;

/// A record as stored.
#[allow(clippy::large_enum_variant)] // as for `Entry`
#[derive(Serialize)]
pub(super) enum Stored<'a> {
    Step(StoredStep<'a>),
    Snapshot(Vec<SymbolEntry>),
}

#[derive(Serialize)]
pub(super) struct StoredStep<'a> {
    pub(super) symbol: Text<'a>,
    pub(super) time: i64,
    pub(super) bar: RecordedBar,
    pub(super) before: SymbolState,
    pub(super) transitions: Cow<'a, [Transition]>,
    pub(super) decision: Option<StoredDecision<'a>>,
    pub(super) risk: Cow<'a, [RiskRecord]>,
    pub(super) orders: Cow<'a, [OrderRecord]>,
    pub(super) fills: Cow<'a, [FillRecord]>,
    pub(super) after: StoredState<'a>,
}

/// A decision at the step's time; its version only when it changed (delta
/// storage) or always (full storage).
#[derive(Serialize)]
pub(super) struct StoredDecision<'a> {
    pub(super) callback: Callback,
    pub(super) version: Option<StoredVersion<'a>>,
    pub(super) outcome: Cow<'a, Outcome>,
}

#[derive(Serialize)]
pub(super) struct StoredVersion<'a> {
    pub(super) hash: Text<'a>,
    pub(super) generation: u64,
}

impl<'a> StoredVersion<'a> {
    pub(super) fn of(version: &'a StrategyVersion) -> StoredVersion<'a> {
        StoredVersion { hash: Text(version.hash.as_bytes()), generation: version.generation }
    }
}

/// A string as stored: postcard encodes a `str` and bytes alike (a length
/// and the UTF-8), which is how a reader compares them with the string it
/// already has (the symbol, the version's hash) before checking them as
/// UTF-8.
#[derive(Serialize)]
pub(super) struct Text<'a>(#[serde(with = "bytes")] pub(super) &'a [u8]);

#[derive(Serialize)]
pub(super) enum StoredState<'a> {
    Full(StoredSnapshot<'a>),
    Delta(StateDelta<'a>),
}

/// A [`SymbolSnapshot`](crate::events::SymbolSnapshot) whose shared parts
/// (working orders, `ctx`, indicator names) are kept as their own
/// encodings ([`Blob`]).
#[derive(Serialize)]
pub(super) struct StoredSnapshot<'a> {
    pub(super) state: SymbolState,
    pub(super) position: f64,
    pub(super) average_price: Option<f64>,
    pub(super) unrealized_pnl: f64,
    pub(super) working: Blob<'a>,
    pub(super) quarantine: Option<Cow<'a, str>>,
    pub(super) account: AccountFigures,
    pub(super) ctx: Blob<'a>,
    pub(super) indicator_names: Blob<'a>,
    pub(super) indicator_values: &'a [Option<f64>],
}

/// The fields of a [`SymbolSnapshot`](crate::events::SymbolSnapshot) that
/// changed (`None`: unchanged).
#[derive(Serialize, Default)]
pub(super) struct StateDelta<'a> {
    pub(super) state: Option<SymbolState>,
    pub(super) position: Option<f64>,
    pub(super) average_price: Option<Option<f64>>,
    pub(super) unrealized_pnl: Option<f64>,
    pub(super) working: Option<Blob<'a>>,
    pub(super) quarantine: Option<Option<Cow<'a, str>>>,
    pub(super) account: Option<AccountFigures>,
    pub(super) ctx: Option<Blob<'a>>,
    pub(super) indicator_names: Option<Blob<'a>>,
    pub(super) indicator_values: Option<&'a [Option<f64>]>,
}

/// A value's own postcard encoding, stored as bytes: comparing them with
/// the last ones is how a reader knows it can share the value it has.
#[derive(Serialize)]
pub(super) struct Blob<'a>(#[serde(with = "bytes")] pub(super) &'a [u8]);

/// `&[u8]` as postcard bytes (a length and the bytes).
mod bytes {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(bytes: &&[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }
}

pub(super) fn write(stored: &Stored, out: &mut Vec<u8>) {
    out.clear();
    super::Out::new(out).serde(stored);
}

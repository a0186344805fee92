//! The records as postcard encodes them. Strings and the shared parts'
//! encodings borrow from the payload on decoding; [`Text`] and [`Values`]
//! decode what `&str` and `&[Option<f64>]` wrote.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{CodecError, SymbolEntry};
use crate::events::step::{AccountFigures, RecordedBar, RiskRecord};
use crate::execution::{FillRecord, OrderRecord};
use crate::runner::{Callback, Outcome};
use crate::state_machine::{SymbolState, Transition};
use crate::strategy::StrategyVersion;

/// A record as stored. Strings borrow from the payload on decoding, so
/// that a record whose symbol, strategy version, working orders, `ctx` and
/// indicator names are those of the symbol's previous step allocates none
/// of them again (most steps change none).
#[allow(clippy::large_enum_variant)] // as for `Entry`
#[derive(Serialize, Deserialize)]
pub(super) enum Stored<'a> {
    Step(#[serde(borrow)] StoredStep<'a>),
    Snapshot(Vec<SymbolEntry>),
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredStep<'a> {
    #[serde(borrow)]
    pub(super) symbol: Text<'a>,
    pub(super) time: i64,
    pub(super) bar: RecordedBar,
    pub(super) before: SymbolState,
    pub(super) transitions: Cow<'a, [Transition]>,
    #[serde(borrow)]
    pub(super) decision: Option<StoredDecision<'a>>,
    pub(super) risk: Cow<'a, [RiskRecord]>,
    pub(super) orders: Cow<'a, [OrderRecord]>,
    pub(super) fills: Cow<'a, [FillRecord]>,
    #[serde(borrow)]
    pub(super) after: StoredState<'a>,
}

/// A decision at the step's time; its version only when it changed (delta
/// storage) or always (full storage).
#[derive(Serialize, Deserialize)]
pub(super) struct StoredDecision<'a> {
    pub(super) callback: Callback,
    #[serde(borrow)]
    pub(super) version: Option<StoredVersion<'a>>,
    pub(super) outcome: Cow<'a, Outcome>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredVersion<'a> {
    #[serde(borrow)]
    pub(super) hash: Text<'a>,
    pub(super) generation: u64,
}

impl<'a> StoredVersion<'a> {
    pub(super) fn of(version: &'a StrategyVersion) -> StoredVersion<'a> {
        StoredVersion { hash: Text(version.hash.as_bytes()), generation: version.generation }
    }

    /// The version, sharing `known`'s hash when it is the same.
    pub(super) fn to_version(&self, known: Option<&StrategyVersion>) -> Result<StrategyVersion, CodecError> {
        Ok(match known {
            Some(v) if v.hash.as_bytes() == self.hash.0 => {
                StrategyVersion { hash: v.hash.clone(), generation: self.generation }
            }
            _ => StrategyVersion { hash: self.hash.to_str()?.into(), generation: self.generation },
        })
    }
}

/// A string as stored: postcard encodes a `str` and bytes alike (a length
/// and the UTF-8), so this reads what a `&str` wrote. A reader compares the
/// bytes with the string it already has (the symbol, the version's hash)
/// and checks them as UTF-8 only when they are new.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(super) struct Text<'a>(#[serde(with = "bytes")] pub(super) &'a [u8]);

impl<'a> Text<'a> {
    pub(super) fn to_str(self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.0).map_err(|e| CodecError::Decode(format!("a name that is not UTF-8: {e}")))
    }
}

#[derive(Serialize, Deserialize)]
pub(super) enum StoredState<'a> {
    #[serde(borrow)]
    Full(StoredSnapshot<'a>),
    #[serde(borrow)]
    Delta(StateDelta<'a>),
}

/// A [`SymbolSnapshot`] whose shared parts (working orders, `ctx`,
/// indicator names) are kept as their own encodings ([`Blob`]).
#[derive(Serialize, Deserialize)]
pub(super) struct StoredSnapshot<'a> {
    pub(super) state: SymbolState,
    pub(super) position: f64,
    pub(super) average_price: Option<f64>,
    pub(super) unrealized_pnl: f64,
    #[serde(borrow)]
    pub(super) working: Blob<'a>,
    pub(super) quarantine: Option<Cow<'a, str>>,
    pub(super) account: AccountFigures,
    #[serde(borrow)]
    pub(super) ctx: Blob<'a>,
    #[serde(borrow)]
    pub(super) indicator_names: Blob<'a>,
    pub(super) indicator_values: Values<'a>,
}

/// The fields of a [`SymbolSnapshot`] that changed (`None`: unchanged).
#[derive(Serialize, Deserialize, Default)]
pub(super) struct StateDelta<'a> {
    pub(super) state: Option<SymbolState>,
    pub(super) position: Option<f64>,
    pub(super) average_price: Option<Option<f64>>,
    pub(super) unrealized_pnl: Option<f64>,
    #[serde(borrow)]
    pub(super) working: Option<Blob<'a>>,
    pub(super) quarantine: Option<Option<Cow<'a, str>>>,
    pub(super) account: Option<AccountFigures>,
    #[serde(borrow)]
    pub(super) ctx: Option<Blob<'a>>,
    #[serde(borrow)]
    pub(super) indicator_names: Option<Blob<'a>>,
    pub(super) indicator_values: Option<Values<'a>>,
}

/// Indicator values as stored (a sequence, as a slice encodes). Decoded
/// into a vector taken from a per-thread spare, which the reader's entry
/// gives back its previous vector to ([`Values::replace`]): decoding
/// step after step into one entry allocates no vector.
pub(super) enum Values<'a> {
    Borrowed(&'a [Option<f64>]),
    Owned(Vec<Option<f64>>),
}

thread_local! {
    static SPARE_VALUES: std::cell::Cell<Vec<Option<f64>>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Values<'_> {
    /// Puts these values into `slot`, keeping its old vector as the spare.
    pub(super) fn replace(self, slot: &mut Vec<Option<f64>>) {
        match self {
            Values::Borrowed(v) => {
                slot.clear();
                slot.extend_from_slice(v);
            }
            Values::Owned(v) => {
                let old = std::mem::replace(slot, v);
                SPARE_VALUES.with(|spare| spare.set(old));
            }
        }
    }
}

impl Serialize for Values<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Values::Borrowed(v) => serializer.collect_seq(v.iter()),
            Values::Owned(v) => serializer.collect_seq(v.iter()),
        }
    }
}

impl<'de> Deserialize<'de> for Values<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<Option<f64>>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence of optional numbers")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut values = SPARE_VALUES.with(|spare| spare.take());
                values.clear();
                while let Some(value) = seq.next_element()? {
                    values.push(value);
                }
                Ok(values)
            }
        }
        deserializer.deserialize_seq(Visitor).map(Values::Owned)
    }
}

/// A value's own postcard encoding, stored as bytes: comparing them with
/// the last ones is how a reader knows it can share the value it has.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(super) struct Blob<'a>(#[serde(with = "bytes")] pub(super) &'a [u8]);

/// `&[u8]` as postcard bytes (a length and the bytes, borrowed on reading).
mod bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &&[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'de [u8], D::Error> {
        serde::Deserialize::deserialize(deserializer)
    }
}

pub(super) fn write(stored: &Stored, out: &mut Vec<u8>) {
    out.clear();
    // Encoding into a Vec cannot fail: every type here is serialisable.
    let bytes = std::mem::take(out);
    *out = postcard::to_extend(stored, bytes).expect("postcard encodes into a Vec");
}

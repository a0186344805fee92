//! Writing postcard's encoding of a record by hand, the mirror of
//! [`super::read`]. A step's common fields (the bar, the states, the
//! decision, the account, the indicator values) are written straight from
//! the step, without building a borrowed copy of it for serde to walk; the
//! parts that are rare or nested (transitions, risk verdicts, orders, fills,
//! an outcome other than nothing, snapshots) are handed to postcard itself,
//! whose encoding of a value is the same bytes wherever it stands.
//!
//! The bytes are those `stored.rs`'s types serialise to: the codec's
//! tests check every field in every form against them.

use serde::Serialize;

use crate::events::step::{AccountFigures, RecordedBar};
use crate::runner::{Callback, Outcome};
use crate::state_machine::SymbolState;

/// Appends to a record being written.
pub(super) struct Out<'a> {
    bytes: &'a mut Vec<u8>,
}

impl<'a> Out<'a> {
    pub(super) fn new(bytes: &'a mut Vec<u8>) -> Out<'a> {
        Out { bytes }
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.bytes.push(b);
    }

    /// An unsigned LEB128 varint, as postcard writes every integer wider
    /// than a byte.
    #[inline(always)]
    pub(super) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    #[inline(always)]
    pub(super) fn bool(&mut self, b: bool) {
        self.byte(u8::from(b));
    }

    /// An `Option`'s tag.
    #[inline(always)]
    pub(super) fn some(&mut self, some: bool) {
        self.bool(some);
    }

    /// Zigzag, then a varint.
    #[inline]
    pub(super) fn i64(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    #[inline]
    pub(super) fn f64(&mut self, v: f64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    /// Floats in a row, copied in one go.
    #[inline]
    fn f64s<const N: usize>(&mut self, values: [f64; N]) {
        let mut bytes = [[0u8; 8]; N];
        for (b, v) in bytes.iter_mut().zip(values) {
            *b = v.to_le_bytes();
        }
        self.bytes.extend_from_slice(bytes.as_flattened());
    }

    /// A delta's field: an `Option` that is `Some` when `changed`, its
    /// value written by `write`.
    #[inline]
    pub(super) fn changed(&mut self, changed: bool, write: impl FnOnce(&mut Self)) {
        self.some(changed);
        if changed {
            write(self);
        }
    }

    #[inline]
    pub(super) fn option_f64(&mut self, v: Option<f64>) {
        self.some(v.is_some());
        if let Some(v) = v {
            self.f64(v);
        }
    }

    /// A byte string or a `str`'s bytes (postcard writes both alike).
    #[inline]
    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        self.bytes.extend_from_slice(bytes);
    }

    #[inline]
    pub(super) fn option_bytes(&mut self, bytes: Option<&[u8]>) {
        self.some(bytes.is_some());
        if let Some(bytes) = bytes {
            self.bytes(bytes);
        }
    }

    /// Any value, by postcard.
    pub(super) fn serde<T: Serialize + ?Sized>(&mut self, value: &T) {
        let bytes = std::mem::take(self.bytes);
        // Encoding into a Vec cannot fail: every type here is serialisable.
        *self.bytes = postcard::to_extend(value, bytes).expect("postcard encodes into a Vec");
    }

    /// A sequence: an empty one (nearly always) is its length, 0; another
    /// is written by postcard.
    #[inline]
    pub(super) fn seq<T: Serialize>(&mut self, items: &[T]) {
        match items.is_empty() {
            true => self.byte(0),
            false => self.serde(items),
        }
    }

    /// An outcome: nothing (nearly always) is its variant, 0; another is
    /// written by postcard.
    #[inline]
    pub(super) fn outcome(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Nothing => self.byte(0),
            _ => self.serde(outcome),
        }
    }

    #[inline]
    pub(super) fn state(&mut self, state: SymbolState) {
        match state {
            SymbolState::Watch => self.byte(0),
            SymbolState::CloseWatch => self.byte(1),
            SymbolState::InTrade { entry_filled } => {
                self.byte(2);
                self.bool(entry_filled);
            }
        }
    }

    #[inline]
    pub(super) fn callback(&mut self, callback: Callback) {
        self.byte(match callback {
            Callback::DetectOpportunity => 0,
            Callback::FilterCommitment => 1,
            Callback::ManagePosition => 2,
        });
    }

    #[inline]
    pub(super) fn bar(&mut self, bar: &RecordedBar) {
        let RecordedBar { open, high, low, close, volume, bid, ask, close_time } = *bar;
        self.f64s([open, high, low, close, volume]);
        self.option_f64(bid);
        self.option_f64(ask);
        self.some(close_time.is_some());
        if let Some(t) = close_time {
            self.i64(t);
        }
    }

    #[inline]
    pub(super) fn account(&mut self, account: &AccountFigures) {
        let AccountFigures { cash, equity, realized_pnl, unrealized_pnl, fees } = *account;
        self.f64s([cash, equity, realized_pnl, unrealized_pnl, fees]);
    }

    /// Indicator values: their count, then each as an `Option<f64>`.
    #[inline]
    pub(super) fn values(&mut self, values: &[Option<f64>]) {
        self.varint(values.len() as u64);
        for &v in values {
            self.option_f64(v);
        }
    }
}

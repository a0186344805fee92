//! Reading postcard's encoding of a record by hand. A step record is walked
//! field by field and every value is written straight into the step the
//! reader reuses: no intermediate record is built and moved, a string equal
//! to the one already held is kept, an empty vector keeps its memory, and
//! indicator values are read into the vector already there. The parts that are
//! rare or nested (transitions, risk verdicts, orders, fills, an outcome
//! other than nothing, snapshots, and the shared parts once they changed)
//! are handed to postcard itself.
//!
//! The layout read here is the one `stored.rs`'s types serialise to;
//! the codec's tests check the writer ([`super::write`]) byte for byte
//! against those types and read its records back with this.

use serde::Deserialize;

use super::{undecodable, CodecError};
use crate::events::step::{AccountFigures, RecordedBar};
use crate::runner::{Callback, Outcome};
use crate::state_machine::SymbolState;

/// The unread rest of a record.
pub(super) struct Cursor<'a> {
    rest: &'a [u8],
}

fn malformed(what: impl std::fmt::Display) -> CodecError {
    CodecError::Decode(what.to_string())
}

#[cold]
fn unknown_variant(what: &str, v: u64, count: u64) -> CodecError {
    malformed(format!("{what} {v} is not one of the {count} known"))
}

#[cold]
fn not_a_bool(what: &str, b: u8) -> CodecError {
    malformed(format!("{what} {b} is neither 0 nor 1"))
}

#[cold]
fn ends_early() -> CodecError {
    malformed("the record ends early")
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { rest: bytes }
    }

    /// Nothing may follow the record's last field.
    pub(super) fn finish(self) -> Result<(), CodecError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(malformed(format!("{n} bytes after the record's end"))),
        }
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, CodecError> {
        let (&b, rest) = self.rest.split_first().ok_or_else(ends_early)?;
        self.rest = rest;
        Ok(b)
    }

    /// An unsigned LEB128 varint of at most 10 bytes, as postcard writes
    /// every integer wider than a byte.
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, CodecError> {
        // Nearly every one (lengths, variants, generations) is one byte.
        if let Some((&b, rest)) = self.rest.split_first() {
            if b & 0x80 == 0 {
                self.rest = rest;
                return Ok(u64::from(b));
            }
        }
        self.long_varint()
    }

    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64, CodecError> {
        // With ten bytes left (all but a record's last field), `leb128`
        // runs on a fixed array, which the compiler unrolls without an end
        // check per byte.
        let read = match self.rest.split_first_chunk::<10>() {
            Some((ten, _)) => leb128(ten),
            None => leb128(self.rest),
        };
        match read {
            Some((value, len)) => {
                self.rest = &self.rest[len..];
                Ok(value)
            }
            // Fewer than 10 bytes left, none of them last: the record ends
            // early; else the tenth byte carries bits past 64.
            None if self.rest.len() < 10 => Err(ends_early()),
            None => Err(malformed("an integer wider than 64 bits")),
        }
    }

    /// An enum's variant index, below `count`.
    #[inline(always)]
    pub(super) fn variant(&mut self, count: u64, what: &str) -> Result<u64, CodecError> {
        match self.varint()? {
            v if v < count => Ok(v),
            v => Err(unknown_variant(what, v, count)),
        }
    }

    /// A length of something that takes at least one byte per element.
    #[inline]
    fn len(&mut self) -> Result<usize, CodecError> {
        match usize::try_from(self.varint()?) {
            Ok(n) if n <= self.rest.len() => Ok(n),
            _ => Err(ends_early()),
        }
    }

    #[inline(always)]
    fn bool(&mut self, what: &str) -> Result<bool, CodecError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(not_a_bool(what, b)),
        }
    }

    /// Whether an `Option` is `Some`.
    #[inline(always)]
    pub(super) fn some(&mut self) -> Result<bool, CodecError> {
        self.bool("an option's tag")
    }

    #[inline]
    pub(super) fn i64(&mut self) -> Result<i64, CodecError> {
        let zigzag = self.varint()?;
        Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
    }

    #[inline]
    pub(super) fn u64(&mut self) -> Result<u64, CodecError> {
        self.varint()
    }

    #[inline]
    pub(super) fn f64(&mut self) -> Result<f64, CodecError> {
        let (b, rest) = self.rest.split_first_chunk::<8>().ok_or_else(ends_early)?;
        self.rest = rest;
        Ok(f64::from_le_bytes(*b))
    }

    #[inline]
    pub(super) fn option_f64(&mut self) -> Result<Option<f64>, CodecError> {
        Ok(match self.some()? {
            true => Some(self.f64()?),
            false => None,
        })
    }

    /// A byte string or a `str`'s bytes (postcard writes both alike).
    #[inline]
    pub(super) fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.len()?;
        let (bytes, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(bytes)
    }

    #[inline]
    pub(super) fn option_bytes(&mut self) -> Result<Option<&'a [u8]>, CodecError> {
        Ok(match self.some()? {
            true => Some(self.bytes()?),
            false => None,
        })
    }

    /// An `Option<String>` into `slot`, keeping its string when equal.
    pub(super) fn option_string(&mut self, slot: &mut Option<String>) -> Result<(), CodecError> {
        if !self.some()? {
            *slot = None;
            return Ok(());
        }
        let text = to_str(self.bytes()?)?;
        if slot.as_deref() != Some(text) {
            *slot = Some(text.to_owned());
        }
        Ok(())
    }

    /// Any value, by postcard.
    pub(super) fn serde<T: Deserialize<'a>>(&mut self) -> Result<T, CodecError> {
        let (value, rest) = postcard::take_from_bytes(self.rest).map_err(undecodable)?;
        self.rest = rest;
        Ok(value)
    }

    /// A sequence into `vec`: an empty one (nearly always) clears it and
    /// keeps its memory, another is decoded by postcard.
    #[inline]
    pub(super) fn vec<T: Deserialize<'a>>(&mut self, vec: &mut Vec<T>) -> Result<(), CodecError> {
        match self.rest.first() {
            Some(0) => {
                self.rest = &self.rest[1..];
                vec.clear();
                Ok(())
            }
            _ => {
                *vec = self.serde()?;
                Ok(())
            }
        }
    }

    /// An outcome into `slot`: nothing (nearly always) without postcard.
    #[inline]
    pub(super) fn outcome(&mut self, slot: &mut Outcome) -> Result<(), CodecError> {
        match self.rest.first() {
            Some(0) => {
                self.rest = &self.rest[1..];
                *slot = Outcome::Nothing;
            }
            _ => *slot = self.serde()?,
        }
        Ok(())
    }

    #[inline]
    pub(super) fn state(&mut self) -> Result<SymbolState, CodecError> {
        Ok(match self.variant(3, "state")? {
            0 => SymbolState::Watch,
            1 => SymbolState::CloseWatch,
            _ => SymbolState::InTrade { entry_filled: self.bool("entry_filled")? },
        })
    }

    #[inline]
    pub(super) fn callback(&mut self) -> Result<Callback, CodecError> {
        Ok(match self.variant(3, "callback")? {
            0 => Callback::DetectOpportunity,
            1 => Callback::FilterCommitment,
            _ => Callback::ManagePosition,
        })
    }

    #[inline]
    pub(super) fn bar(&mut self, bar: &mut RecordedBar) -> Result<(), CodecError> {
        bar.open = self.f64()?;
        bar.high = self.f64()?;
        bar.low = self.f64()?;
        bar.close = self.f64()?;
        bar.volume = self.f64()?;
        bar.bid = self.option_f64()?;
        bar.ask = self.option_f64()?;
        bar.close_time = match self.some()? {
            true => Some(self.i64()?),
            false => None,
        };
        Ok(())
    }

    #[inline]
    pub(super) fn account(&mut self) -> Result<AccountFigures, CodecError> {
        Ok(AccountFigures {
            cash: self.f64()?,
            equity: self.f64()?,
            realized_pnl: self.f64()?,
            unrealized_pnl: self.f64()?,
            fees: self.f64()?,
        })
    }

    /// Indicator values into `values`, reusing its memory.
    #[inline]
    pub(super) fn values(&mut self, values: &mut Vec<Option<f64>>) -> Result<(), CodecError> {
        let n = self.len()?;
        values.clear();
        values.reserve(n);
        for _ in 0..n {
            values.push(self.option_f64()?);
        }
        Ok(())
    }
}

/// The value and length of the varint that `bytes` start with, if one of
/// their first ten bytes ends it and it fits in 64 bits.
#[inline(always)]
fn leb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (i < 9 || b <= 1).then_some((value, i + 1));
        }
    }
    None
}

pub(super) fn to_str(bytes: &[u8]) -> Result<&str, CodecError> {
    std::str::from_utf8(bytes).map_err(|e| malformed(format!("a name that is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a varint from `bytes` followed by `tail` more bytes (so that
    /// both the fixed ten-byte path and the one near a record's end run).
    fn varint(bytes: &[u8], tail: usize) -> Result<(u64, usize), CodecError> {
        let mut record = bytes.to_vec();
        record.resize(bytes.len() + tail, 0);
        let mut c = Cursor::new(&record);
        let v = c.varint()?;
        Ok((v, c.rest.len()))
    }

    #[test]
    fn varints_read_as_postcard_writes_them_and_overlong_ones_are_refused() {
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let bytes = postcard::to_allocvec(&v).unwrap();
            for tail in [0, 3, 10] {
                assert_eq!(varint(&bytes, tail).unwrap(), (v, tail), "{v} with {tail} bytes after");
            }
        }
        let too_wide = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        let too_long = [0x80; 11];
        for tail in [0, 10] {
            for bytes in [&too_wide[..], &too_long[..]] {
                let err = varint(bytes, tail).unwrap_err();
                assert!(err.to_string().contains("wider than 64 bits"), "{err}");
            }
        }
        assert!(varint(&[0x80, 0x80], 0).unwrap_err().to_string().contains("ends early"));
    }
}

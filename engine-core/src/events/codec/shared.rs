//! How a reader shares what did not change between a symbol's steps: a
//! shared part whose encoding is the one last seen keeps the value (the
//! `Arc`) the reader already has, and an entry decoded into again keeps its
//! handles without touching their counters.

use std::sync::Arc;

use super::{undecodable, CodecError};
use crate::events::step::SymbolSnapshot;
use crate::execution::OrderRecord;
use crate::strategy::CtxValue;

/// A shared part's handle: an `Arc`, or maybe one.
pub(super) trait Handle: Clone {
    fn same_handle(&self, other: &Self) -> bool;
}

impl<T: ?Sized> Handle for Arc<T> {
    fn same_handle(&self, other: &Self) -> bool {
        Arc::ptr_eq(self, other)
    }
}

impl<T: ?Sized> Handle for Option<Arc<T>> {
    fn same_handle(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// `*slot = value.clone()`, without touching the counters when `slot`
/// already holds that very value (a reused entry, step after step).
pub(super) fn assign<H: Handle>(slot: &mut H, value: &H) {
    if !slot.same_handle(value) {
        *slot = value.clone();
    }
}

/// Copies `from` into `to`, reusing `to`'s memory.
pub(super) fn assign_state(to: &mut SymbolSnapshot, from: &SymbolSnapshot) {
    to.state = from.state;
    to.position = from.position;
    to.average_price = from.average_price;
    to.unrealized_pnl = from.unrealized_pnl;
    assign(&mut to.working, &from.working);
    to.quarantine.clone_from(&from.quarantine);
    to.account = from.account;
    assign(&mut to.ctx, &from.ctx);
    assign(&mut to.indicators.names, &from.indicators.names);
    to.indicators.values.clone_from(&from.indicators.values);
}

/// Remembers `bytes` as the encoding last seen in `seen`.
fn remember(seen: &mut Option<Vec<u8>>, bytes: &[u8]) {
    let seen = seen.get_or_insert_with(Vec::new);
    seen.clear();
    seen.extend_from_slice(bytes);
}

/// Sets `slot` to the value `blob` encodes: `known`'s when `blob` is the
/// encoding last seen (`seen`), else decoded afresh (and `seen` updated).
pub(super) fn shared<H: Handle>(
    blob: &[u8],
    seen: &mut Option<Vec<u8>>,
    known: Option<&H>,
    slot: &mut H,
    decode: impl FnOnce(&[u8]) -> Result<H, CodecError>,
) -> Result<(), CodecError> {
    if let (Some(bytes), Some(value)) = (seen.as_deref(), known) {
        if bytes == blob {
            assign(slot, value);
            return Ok(());
        }
    }
    *slot = decode(blob)?;
    remember(seen, blob);
    Ok(())
}

/// Sets `slot` to what a delta's `blob` encodes, or to `base`'s value
/// when the delta leaves it unchanged.
pub(super) fn changed<H: Handle>(
    blob: Option<&[u8]>,
    seen: &mut Option<Vec<u8>>,
    base: &H,
    slot: &mut H,
    decode: impl FnOnce(&[u8]) -> Result<H, CodecError>,
) -> Result<(), CodecError> {
    match blob {
        Some(b) => {
            *slot = decode(b)?;
            remember(seen, b);
        }
        None => assign(slot, base),
    }
    Ok(())
}

pub(super) fn decode_working(bytes: &[u8]) -> Result<Arc<[OrderRecord]>, CodecError> {
    postcard::from_bytes::<Vec<OrderRecord>>(bytes).map(Into::into).map_err(undecodable)
}

pub(super) fn decode_ctx(bytes: &[u8]) -> Result<Option<Arc<CtxValue>>, CodecError> {
    postcard::from_bytes::<Option<CtxValue>>(bytes).map(|c| c.map(Arc::new)).map_err(undecodable)
}

pub(super) fn decode_names(bytes: &[u8]) -> Result<Arc<[String]>, CodecError> {
    postcard::from_bytes::<Vec<String>>(bytes).map(Into::into).map_err(undecodable)
}

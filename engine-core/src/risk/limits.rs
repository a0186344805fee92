//! The checks an entry must pass once it is sized. Each asks "does the
//! allowed condition hold" ([`at_most`]), so that a NaN anywhere refuses
//! instead of slipping through a `>` that is false for NaN.

use super::config::RiskConfig;
use super::refusal::{money, number, RefusalCode, RiskRefusal};
use super::EntryIntent;
use crate::execution::records::AccountSnapshot;

/// An intent that cannot be priced or sized as given: refused before any
/// limit is looked at.
pub(crate) fn check_intent(intent: &EntryIntent) -> Result<(), RiskRefusal> {
    let invalid = |what: String| Err(RiskRefusal::new(RefusalCode::InvalidIntent, what));
    if intent.symbol.is_empty() {
        return invalid("the entry names no symbol".to_string());
    }
    let price = intent.price;
    if !(price.is_finite() && price > 0.0) {
        return invalid(format!("price {price} of {} is not a finite number above 0", intent.symbol));
    }
    if let Some(stop) = intent.stop {
        let right_side = match intent.side {
            super::Side::Long => stop < price,
            super::Side::Short => stop > price,
        };
        if !(stop.is_finite() && stop > 0.0 && right_side) {
            let side = match intent.side {
                super::Side::Long => "below",
                super::Side::Short => "above",
            };
            return invalid(format!(
                "stop {} of a {} entry in {} must be a finite number above 0 and {side} the price {}",
                number(stop),
                intent.side,
                intent.symbol,
                number(price)
            ));
        }
    }
    if let Some(q) = intent.requested_quantity {
        if !(q.is_finite() && q >= 0.0) {
            return invalid(format!("requested quantity {q} of {} is not a finite number >= 0", intent.symbol));
        }
    }
    if let Some(lot) = intent.lot_size {
        if !(lot.is_finite() && lot > 0.0) {
            return invalid(format!("lot size {lot} of {} is not a finite number above 0", intent.symbol));
        }
    }
    let fee = intent.fee_rate;
    if !(fee.is_finite() && (0.0..1.0).contains(&fee)) {
        return invalid(format!("fee rate {fee} of {} is not a fraction in [0, 1)", intent.symbol));
    }
    Ok(())
}

/// Risk cannot judge an account whose numbers are not numbers: a bug
/// upstream, refused rather than guessed around.
pub(crate) fn check_account(account: &AccountSnapshot) -> Result<(), RiskRefusal> {
    for (name, v) in [("equity", account.equity), ("cash", account.cash)] {
        if !v.is_finite() {
            return Err(RiskRefusal::new(
                RefusalCode::InvalidIntent,
                format!("account {name} is {v}: cannot size or check an entry against it"),
            ));
        }
    }
    Ok(())
}

/// A new position needs a free slot (every entry opens a position: one
/// position per symbol, entries do not add to one).
pub(crate) fn check_open_positions(config: &RiskConfig, account: &AccountSnapshot) -> Result<(), RiskRefusal> {
    match config.max_open_positions {
        Some(max) if account.open_positions >= max => Err(RiskRefusal::new(
            RefusalCode::MaxOpenPositions,
            format!(
                "{} positions are open or have an entry working, the limit is {max}: no room for another",
                account.open_positions
            ),
        )),
        _ => Ok(()),
    }
}

/// A sized, lot-rounded entry.
pub(crate) struct Entry<'a> {
    pub quantity: f64,
    pub price: f64,
    pub notional: f64,
    pub fee: f64,
    /// Where the quantity came from, for messages.
    pub source: &'a str,
}

impl Entry<'_> {
    fn describe(&self) -> String {
        format!(
            "notional {} (quantity {} × price {}, {})",
            money(self.notional),
            number(self.quantity),
            number(self.price),
            self.source
        )
    }
}

/// The per-position and cash limits, in this order: notional, percent of
/// equity, cash reserve. Nothing is shrunk to fit.
pub(crate) fn check_entry(config: &RiskConfig, entry: &Entry, account: &AccountSnapshot) -> Result<(), RiskRefusal> {
    if let Some(max) = config.max_position_notional {
        if !at_most(entry.notional, max) {
            return Err(RiskRefusal::new(
                RefusalCode::MaxPositionNotional,
                format!("{} is above the per-position limit {}", entry.describe(), money(max)),
            ));
        }
    }
    if let Some(pct) = config.max_position_pct_equity {
        let max = account.equity * pct / 100.0;
        if !at_most(entry.notional, max) {
            let share = if account.equity > 0.0 {
                format!("{} % of equity {}", percent(entry.notional / account.equity * 100.0), money(account.equity))
            } else {
                format!("against equity {}", money(account.equity))
            };
            return Err(RiskRefusal::new(
                RefusalCode::MaxPositionPctEquity,
                format!("{} is {share}, above the limit {} % ({})", entry.describe(), number(pct), money(max)),
            ));
        }
    }
    if let Some(reserve) = config.min_cash_reserve {
        let left = account.cash - entry.notional - entry.fee;
        if !at_most(reserve, left) {
            return Err(RiskRefusal::new(
                RefusalCode::MinCashReserve,
                format!(
                    "cash {} − {} − estimated fee {} leaves {}, below the reserve {}",
                    money(account.cash),
                    entry.describe(),
                    money(entry.fee),
                    money(left),
                    money(reserve)
                ),
            ));
        }
    }
    Ok(())
}

/// `value ≤ limit`: the allowed side of a limit, false when either is NaN.
pub(crate) fn at_most(value: f64, limit: f64) -> bool {
    value <= limit
}

/// A percentage with one decimal (`10.9`).
pub(crate) fn percent(value: f64) -> String {
    format!("{value:.1}")
}

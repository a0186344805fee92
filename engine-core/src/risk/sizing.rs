//! How many units an entry is for: the strategy's size when it gave one,
//! else the configured sizing mode; then rounded down to the lot size.

use super::config::Sizing;
use super::refusal::{money, number, RefusalCode, RiskRefusal};
use super::EntryIntent;

/// Relative slack when counting whole lots, so that `0.3 / 0.1`
/// (`2.9999999999999996` in binary floating point) is 3 lots, not 2: a
/// quantity of `n × (1 − 1e-9)` lots or more counts as `n` lots.
pub const LOT_TOLERANCE: f64 = 1e-9;

/// The quantity before lot rounding and where it came from (for messages:
/// "requested by the strategy", "sized by percent_equity 25 %").
pub(crate) fn quantity(sizing: &Sizing, intent: &EntryIntent, equity: f64) -> Result<(f64, String), RiskRefusal> {
    if let Some(q) = intent.requested_quantity {
        return Ok((q, "requested by the strategy".to_string()));
    }
    let price = intent.price;
    Ok(match *sizing {
        Sizing::FixedQuantity { quantity } => (quantity, "sized by fixed_quantity".to_string()),
        Sizing::FixedNotional { notional } => {
            (notional / price, format!("sized by fixed_notional {} at price {}", money(notional), number(price)))
        }
        Sizing::PercentEquity { percent } => (
            equity * percent / 100.0 / price,
            format!(
                "sized by percent_equity {} % of equity {} at price {}",
                number(percent),
                money(equity),
                number(price)
            ),
        ),
        Sizing::RiskPerTrade { percent } => {
            let Some(stop) = intent.stop else {
                return Err(RiskRefusal::new(
                    RefusalCode::NoStop,
                    format!(
                        "sizing risk_per_trade needs a stop to size {} {} and the entry gave none",
                        intent.side, intent.symbol
                    ),
                ));
            };
            let distance = (price - stop).abs();
            (
                equity * percent / 100.0 / distance,
                format!(
                    "sized by risk_per_trade {} % of equity {} over the stop distance |{} − {}| = {}",
                    number(percent),
                    money(equity),
                    number(price),
                    number(stop),
                    number(distance)
                ),
            )
        }
    })
}

/// `quantity` rounded down to a whole number of `lot`s (with
/// [`LOT_TOLERANCE`]), then snapped to the lot's decimal places when it has
/// any, so that 3 lots of 0.1 are `0.3` and not `0.30000000000000004`.
pub fn round_down_to_lot(quantity: f64, lot: f64) -> f64 {
    let lots = (quantity / lot * (1.0 + LOT_TOLERANCE)).floor();
    let rounded = lots * lot;
    match lot_decimals(lot) {
        Some(decimals) => {
            let scale = 10f64.powi(decimals);
            let scaled = rounded * scale;
            // Beyond 2^52 every float is an integer: nothing to snap.
            if scaled.abs() < 4_503_599_627_370_496.0 {
                scaled.round() / scale
            } else {
                rounded
            }
        }
        None => rounded,
    }
}

/// Decimal places of a lot size written in decimal (`0.001` → 3, `5` → 0),
/// up to 12; `None` for a lot like 1/3 that has no short decimal form.
fn lot_decimals(lot: f64) -> Option<i32> {
    (0..=12).find(|&d| {
        let scaled = lot * 10f64.powi(d);
        // Float error in `lot × 10^d` is ~1e-16 relative; a lot without a
        // short decimal form misses every integer by a visible fraction.
        scaled.round() >= 1.0 && (scaled - scaled.round()).abs() <= 1e-6
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_down_to_lots_keeps_exact_multiples() {
        assert_eq!(round_down_to_lot(0.3, 0.1), 0.3);
        assert_eq!(round_down_to_lot(0.7, 0.1), 0.7);
        assert_eq!(round_down_to_lot(0.39999, 0.1), 0.3);
        assert_eq!(round_down_to_lot(1.0, 0.001), 1.0);
        assert_eq!(round_down_to_lot(0.123456789, 0.00001), 0.12345);
        assert_eq!(round_down_to_lot(17.9, 5.0), 15.0);
        assert_eq!(round_down_to_lot(4.99, 5.0), 0.0);
        assert_eq!(round_down_to_lot(1.0, 0.25), 1.0);
        assert_eq!(round_down_to_lot(1.0, 1.0 / 3.0), 1.0);
        assert_eq!(round_down_to_lot(0.9, 1.0 / 3.0), 2.0 / 3.0);
        // A quantity genuinely below the next lot is not rounded up.
        assert_eq!(round_down_to_lot(0.2999999, 0.1), 0.2);
        // Every k × 0.01 for k up to 10,000 is k lots.
        for k in 1..=10_000u32 {
            let q = f64::from(k) * 0.01;
            assert_eq!(round_down_to_lot(q, 0.01), f64::from(k) / 100.0, "{k} lots of 0.01");
        }
    }

    #[test]
    fn lot_decimals_of_decimal_and_other_lots() {
        assert_eq!(lot_decimals(1.0), Some(0));
        assert_eq!(lot_decimals(0.1), Some(1));
        assert_eq!(lot_decimals(0.00000001), Some(8));
        assert_eq!(lot_decimals(2.5), Some(1));
        assert_eq!(lot_decimals(1.0 / 3.0), None);
    }
}

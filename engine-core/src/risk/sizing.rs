//! How many units an entry is for: the strategy's size when it gave one,
//! else the configured sizing mode; then rounded down to the lot size.

use super::config::Sizing;
use super::refusal::{money, number, RefusalCode, RiskRefusal};
use super::EntryIntent;

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

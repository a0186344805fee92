//! How simulated execution fills orders and what it charges. Deserializes
//! from the `[execution]` section of a config (every field optional,
//! unknown fields refused); documented in `docs/config.md`.

use serde::{Deserialize, Serialize};

/// The `[execution]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    /// `simulated` (backtests and paper trading) or `live` (orders sent to
    /// the exchange; needs a live data source).
    pub mode: ExecutionMode,
    /// Cash the account starts with, in quote currency.
    pub initial_capital: f64,
    pub fees: Fees,
    pub slippage: Slippage,
    /// Fill market orders at the bid or ask instead of the bar's price when
    /// the data has quotes (half the spread on each side).
    pub use_spread: bool,
    /// Largest fraction of a bar's volume one order may take; the rest
    /// fills on later bars (GTC) or expires (IOC). `None` (`"none"` in a
    /// config): no cap. A bar without volume (0: the data has none) is not
    /// capped either.
    #[serde(with = "volume_cap")]
    pub max_volume_fraction: Option<f64>,
    /// When a bar touches both a position's stop and its target.
    pub tie_rule: TieRule,
    /// When a market order fills.
    pub market_fill: MarketFill,
    /// Gross exposure allowed, as a multiple of equity (1 = no leverage).
    pub leverage: f64,
    pub instrument: Instrument,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            mode: ExecutionMode::Simulated,
            initial_capital: 10_000.0,
            fees: Fees::default(),
            slippage: Slippage::Bps { bps: 1.0 },
            use_spread: true,
            max_volume_fraction: Some(0.25),
            tie_rule: TieRule::StopFirst,
            market_fill: MarketFill::NextOpen,
            leverage: 1.0,
            instrument: Instrument::default(),
        }
    }
}

impl ExecutionConfig {
    /// Checks every value, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("execution.{name} must be a number above 0, got {v}"))
            }
        };
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("execution.{name} must be a number >= 0, got {v}"))
            }
        };
        positive("initial_capital", self.initial_capital)?;
        positive("leverage", self.leverage)?;
        non_negative("fees.maker_bps", self.fees.maker_bps)?;
        non_negative("fees.taker_bps", self.fees.taker_bps)?;
        match self.slippage {
            Slippage::None => {}
            Slippage::Bps { bps } => non_negative("slippage.bps", bps)?,
            Slippage::Fixed { amount } => non_negative("slippage.amount", amount)?,
        }
        if let Some(f) = self.max_volume_fraction {
            if !(f.is_finite() && f > 0.0 && f <= 1.0) {
                return Err(format!("execution.max_volume_fraction must be in (0, 1], got {f}"));
            }
        }
        let i = &self.instrument;
        for (name, v) in [("min_quantity", i.min_quantity), ("lot_size", i.lot_size), ("tick_size", i.tick_size)] {
            if let Some(v) = v {
                positive(&format!("instrument.{name}"), v)?;
            }
        }
        Ok(())
    }
}

/// `max_volume_fraction`: a number, or `"none"` (also JSON's `null`, as an
/// older summary wrote it) for no cap.
mod volume_cap {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(cap: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match cap {
            Some(fraction) => s.serialize_f64(*fraction),
            None => s.serialize_str("none"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        struct Cap;
        impl Visitor<'_> for Cap {
            type Value = Option<f64>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a fraction of a bar's volume in (0, 1], or \"none\" for no cap")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "none" => Ok(None),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(Cap)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    Simulated,
    Live,
}

/// Fees in basis points of the fill's notional.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fees {
    /// For fills that added liquidity (resting limit orders).
    pub maker_bps: f64,
    /// For fills that took liquidity (market and stop orders, marketable limits).
    pub taker_bps: f64,
}

impl Default for Fees {
    /// Binance USDⓈ-M futures' base tier: 0.02 % maker, 0.04 % taker.
    fn default() -> Self {
        Fees { maker_bps: 2.0, taker_bps: 4.0 }
    }
}

/// Price paid for taking liquidity, on top of the spread: buys fill higher,
/// sells lower. Limit fills get none (they fill at their price or better).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Slippage {
    None,
    /// In basis points of the price.
    Bps {
        bps: f64,
    },
    /// A fixed amount of quote currency per unit.
    Fixed {
        amount: f64,
    },
}

/// Which of a stop and a target both touched by one bar is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieRule {
    /// The cautious assumption (the default): bars do not say which came first.
    StopFirst,
    TargetFirst,
}

/// When a market order fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketFill {
    /// At the next bar's open: the decision saw this bar's close, so filling
    /// at it would trade on information one could not have acted on in time.
    NextOpen,
    /// At the close of the bar the decision was made on (optimistic).
    Close,
}

/// What the exchange accepts for the symbol.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Instrument {
    /// Smallest order quantity.
    pub min_quantity: Option<f64>,
    /// Quantities must be whole multiples of this.
    pub lot_size: Option<f64>,
    /// Prices must be whole multiples of this.
    pub tick_size: Option<f64>,
}

/// Whether `value` is a whole multiple of `step` (within float error).
pub fn is_multiple(value: f64, step: f64) -> bool {
    let ratio = value / step;
    (ratio - ratio.round()).abs() <= 1e-9 * ratio.abs().max(1.0)
}

/// Relative slack when counting whole lots, so that `0.3 / 0.1`
/// (`2.9999999999999996` in binary floating point) is 3 lots, not 2: a
/// quantity of `n × (1 − 1e-9)` lots or more counts as `n` lots.
pub const LOT_TOLERANCE: f64 = 1e-9;

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
    fn multiples_tolerate_float_error() {
        assert!(is_multiple(0.3, 0.1));
        assert!(is_multiple(1234.5, 0.5));
        assert!(!is_multiple(0.35, 0.1));
        assert_eq!(round_down_to_lot(0.3, 0.1), 0.3);
        assert_eq!(round_down_to_lot(0.39, 0.1), 0.3);
        assert_eq!(round_down_to_lot(0.001234, 0.0001), 0.0012);
        assert_eq!(round_down_to_lot(7.0, 2.0), 6.0);
    }

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

    #[test]
    fn validation_names_the_field() {
        let mut c = ExecutionConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.max_volume_fraction = Some(1.5);
        assert_eq!(c.validate().unwrap_err(), "execution.max_volume_fraction must be in (0, 1], got 1.5");
        c = ExecutionConfig { initial_capital: -1.0, ..ExecutionConfig::default() };
        assert!(c.validate().unwrap_err().starts_with("execution.initial_capital"));
        c = ExecutionConfig::default();
        c.instrument.lot_size = Some(0.0);
        assert!(c.validate().unwrap_err().starts_with("execution.instrument.lot_size"));
    }
}

//! Where an order fills on a bar, if it does: pure functions of the order,
//! the bar and the execution config.
//!
//! A bar only says where the price opened, how far it went and where it
//! closed, not in which order, so the model assumes the least favourable
//! order that the bar allows:
//!
//! * market: at the open (the next bar's open after the decision), plus
//!   half the spread when the bar has quotes, plus slippage;
//! * limit: when the bar's range touches the price, at the price, or at the
//!   open when the bar opened beyond it (gapped through); no slippage;
//! * stop: when the range reaches the trigger, at the trigger or at the
//!   open if gapped through, plus slippage (it becomes a market order);
//! * stop-limit: triggered like a stop; at that moment the price is the
//!   trigger (or the open, if gapped): a limit at or through it fills there,
//!   otherwise the limit rests and fills at its price when a bar (this one
//!   included) reaches it.

use crate::execution::config::{ExecutionConfig, Slippage};
use crate::execution::records::{Liquidity, OrderKind, OrderSide};
use crate::market_data::Bar;

/// A price and whether it took liquidity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillPrice {
    pub price: f64,
    pub liquidity: Liquidity,
}

/// Whether a limit at `price` would take liquidity if sent now (it is at or
/// through the current price): such a limit fills as a taker, and a
/// post-only one is rejected.
pub fn is_marketable(side: OrderSide, price: f64, reference: f64) -> bool {
    match side {
        OrderSide::Buy => price >= reference,
        OrderSide::Sell => price <= reference,
    }
}

/// The price `bar` gives an order of `kind`, if it fills. `triggered`
/// carries a stop-limit's trigger over bars (set once the trigger traded);
/// `taker_limit` marks a limit that was marketable when sent.
pub fn fill_price(
    kind: OrderKind,
    side: OrderSide,
    bar: &Bar,
    triggered: &mut bool,
    taker_limit: bool,
    config: &ExecutionConfig,
) -> Option<FillPrice> {
    match kind {
        OrderKind::Market => Some(taker(side, market_price(side, bar, config), bar, config)),
        OrderKind::Limit { price } => limit_fill(side, price, bar)
            .map(|p| FillPrice { price: p, liquidity: if taker_limit { Liquidity::Taker } else { Liquidity::Maker } }),
        OrderKind::Stop { trigger } => stop_trigger(side, trigger, bar).map(|p| taker(side, p, bar, config)),
        OrderKind::StopLimit { trigger, limit } => {
            if *triggered {
                return limit_fill(side, limit, bar).map(|p| FillPrice { price: p, liquidity: Liquidity::Maker });
            }
            let at = stop_trigger(side, trigger, bar)?;
            *triggered = true;
            // When it triggers the price is `at`: a limit at or through it
            // fills there; otherwise it rests, and fills if the bar reaches it.
            if is_marketable(side, limit, at) {
                return Some(FillPrice { price: at, liquidity: Liquidity::Taker });
            }
            let touched = match side {
                OrderSide::Buy => bar.low <= limit,
                OrderSide::Sell => bar.high >= limit,
            };
            touched.then_some(FillPrice { price: limit, liquidity: Liquidity::Maker })
        }
    }
}

/// The bar's price for a market order: the open, or the ask / bid side of
/// the quoted spread around it.
fn market_price(side: OrderSide, bar: &Bar, config: &ExecutionConfig) -> f64 {
    match (config.use_spread, bar.bid, bar.ask) {
        (true, Some(bid), Some(ask)) if ask >= bid => {
            let half = (ask - bid) / 2.0;
            bar.open + side.sign() * half
        }
        _ => bar.open,
    }
}

/// Adds slippage against the taker, kept within the bar's range (a fill
/// cannot be printed outside the prices that traded).
fn taker(side: OrderSide, price: f64, bar: &Bar, config: &ExecutionConfig) -> FillPrice {
    let slip = match config.slippage {
        Slippage::None => 0.0,
        Slippage::Bps { bps } => price * bps / 10_000.0,
        Slippage::Fixed { amount } => amount,
    };
    let slipped = price + side.sign() * slip;
    let bounded = match side {
        OrderSide::Buy => slipped.min(bar.high.max(price)),
        OrderSide::Sell => slipped.max(bar.low.min(price)),
    };
    FillPrice { price: bounded, liquidity: Liquidity::Taker }
}

/// A limit's fill on `bar`: at its price when touched, at the open when the
/// bar opened beyond it.
fn limit_fill(side: OrderSide, limit: f64, bar: &Bar) -> Option<f64> {
    match side {
        OrderSide::Buy if bar.open <= limit => Some(bar.open),
        OrderSide::Buy if bar.low <= limit => Some(limit),
        OrderSide::Sell if bar.open >= limit => Some(bar.open),
        OrderSide::Sell if bar.high >= limit => Some(limit),
        _ => None,
    }
}

/// Where a stop triggers on `bar`: at the trigger, or at the open when the
/// bar opened beyond it.
fn stop_trigger(side: OrderSide, trigger: f64, bar: &Bar) -> Option<f64> {
    match side {
        OrderSide::Buy if bar.open >= trigger => Some(bar.open),
        OrderSide::Buy if bar.high >= trigger => Some(trigger),
        OrderSide::Sell if bar.open <= trigger => Some(bar.open),
        OrderSide::Sell if bar.low <= trigger => Some(trigger),
        _ => None,
    }
}

/// Fee on a fill of `notional`.
pub fn fee(notional: f64, liquidity: Liquidity, config: &ExecutionConfig) -> f64 {
    let bps = match liquidity {
        Liquidity::Maker => config.fees.maker_bps,
        Liquidity::Taker => config.fees.taker_bps,
    };
    notional.abs() * bps / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(open: f64, high: f64, low: f64, close: f64) -> Bar {
        Bar::new("X".into(), 0, open, high, low, close, 100.0)
    }

    fn plain() -> ExecutionConfig {
        ExecutionConfig { slippage: Slippage::None, ..ExecutionConfig::default() }
    }

    fn price(kind: OrderKind, side: OrderSide, b: &Bar, config: &ExecutionConfig) -> Option<f64> {
        fill_price(kind, side, b, &mut false, false, config).map(|f| f.price)
    }

    #[test]
    fn market_orders_take_the_open_the_spread_and_slippage() {
        let b = bar(100.0, 102.0, 98.0, 101.0);
        assert_eq!(price(OrderKind::Market, OrderSide::Buy, &b, &plain()), Some(100.0));
        let slipped = ExecutionConfig { slippage: Slippage::Bps { bps: 10.0 }, ..plain() };
        assert_eq!(price(OrderKind::Market, OrderSide::Buy, &b, &slipped), Some(100.1));
        assert_eq!(price(OrderKind::Market, OrderSide::Sell, &b, &slipped), Some(99.9));
        let fixed = ExecutionConfig { slippage: Slippage::Fixed { amount: 5.0 }, ..plain() };
        assert_eq!(price(OrderKind::Market, OrderSide::Buy, &b, &fixed), Some(102.0), "bounded by the high");
        let mut quoted = b.clone();
        quoted.bid = Some(99.8);
        quoted.ask = Some(100.2);
        assert_eq!(price(OrderKind::Market, OrderSide::Buy, &quoted, &plain()), Some(100.2));
        assert_eq!(price(OrderKind::Market, OrderSide::Sell, &quoted, &plain()), Some(99.8));
        let no_spread = ExecutionConfig { use_spread: false, ..plain() };
        assert_eq!(price(OrderKind::Market, OrderSide::Sell, &quoted, &no_spread), Some(100.0));
    }

    #[test]
    fn limits_fill_when_touched_or_gapped() {
        let b = bar(100.0, 102.0, 98.0, 101.0);
        let buy = |p| price(OrderKind::Limit { price: p }, OrderSide::Buy, &b, &plain());
        assert_eq!(buy(99.0), Some(99.0));
        assert_eq!(buy(97.0), None);
        assert_eq!(buy(101.0), Some(100.0), "opened below the limit: the open");
        let sell = |p| price(OrderKind::Limit { price: p }, OrderSide::Sell, &b, &plain());
        assert_eq!(sell(101.5), Some(101.5));
        assert_eq!(sell(103.0), None);
        let maker = fill_price(OrderKind::Limit { price: 99.0 }, OrderSide::Buy, &b, &mut false, false, &plain());
        assert_eq!(maker.unwrap().liquidity, Liquidity::Maker);
    }

    #[test]
    fn stops_trigger_at_the_level_or_the_gap() {
        let b = bar(100.0, 102.0, 98.0, 101.0);
        let sell_stop = |t| price(OrderKind::Stop { trigger: t }, OrderSide::Sell, &b, &plain());
        assert_eq!(sell_stop(99.0), Some(99.0));
        assert_eq!(sell_stop(97.0), None);
        assert_eq!(sell_stop(100.5), Some(100.0), "gapped below the stop: the open");
        let buy_stop = |t| price(OrderKind::Stop { trigger: t }, OrderSide::Buy, &b, &plain());
        assert_eq!(buy_stop(101.0), Some(101.0));
        assert_eq!(buy_stop(99.0), Some(100.0));
    }

    #[test]
    fn stop_limits_need_the_trigger_then_the_limit() {
        let b = bar(100.0, 102.0, 98.0, 101.0);
        let mut triggered = false;
        // Buy stop-limit, trigger 101, limit 101.5: triggered at 101, where
        // the limit is marketable.
        let kind = OrderKind::StopLimit { trigger: 101.0, limit: 101.5 };
        let f = fill_price(kind, OrderSide::Buy, &b, &mut triggered, false, &plain()).unwrap();
        assert_eq!((f.price, f.liquidity), (101.0, Liquidity::Taker));
        // Gapped over the trigger and under the limit: at the open.
        let gap = bar(101.2, 102.0, 101.0, 101.5);
        let f = fill_price(kind, OrderSide::Buy, &gap, &mut false, false, &plain()).unwrap();
        assert_eq!(f.price, 101.2);
        // Trigger above the bar: nothing, not triggered.
        let mut t2 = false;
        let kind = OrderKind::StopLimit { trigger: 103.0, limit: 104.0 };
        assert_eq!(fill_price(kind, OrderSide::Buy, &b, &mut t2, false, &plain()), None);
        assert!(!t2);
        // Triggered on this bar, limit (below) never reached: stays
        // triggered, and fills at the limit on a later bar.
        let mut t3 = false;
        let kind = OrderKind::StopLimit { trigger: 101.0, limit: 97.5 };
        assert_eq!(fill_price(kind, OrderSide::Buy, &b, &mut t3, false, &plain()), None);
        assert!(t3);
        let next = bar(99.0, 99.5, 96.5, 97.0);
        assert_eq!(fill_price(kind, OrderSide::Buy, &next, &mut t3, false, &plain()).unwrap().price, 97.5);
    }

    #[test]
    fn fees_by_liquidity() {
        let c = ExecutionConfig::default();
        assert!((fee(10_000.0, Liquidity::Maker, &c) - 2.0).abs() < 1e-12);
        assert!((fee(-10_000.0, Liquidity::Taker, &c) - 4.0).abs() < 1e-12);
    }
}

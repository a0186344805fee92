//! Execution: the only writer of orders and fills.
//!
//! [`SimulatedBroker`] fills one symbol's orders against bars: an entry
//! order fills on the bar after it was sent (market at the open; limit when
//! the bar touches it, at the limit or at the open if the bar gapped
//! through), and an open position is closed when a bar touches its stop or
//! target: the stop first when a bar touches both (the cautious
//! assumption). Fees, slippage, partial fills and account-wide cash come
//! with the full execution model.

pub mod records;

use serde::{Deserialize, Serialize};

use crate::market_data::Bar;
use crate::state_machine::Exposure;
use crate::strategy::{PositionView, Side};

/// An entry order waiting for the next bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryOrder {
    pub side: Side,
    pub quantity: f64,
    pub limit: Option<f64>,
    pub stop: Option<f64>,
    pub target: Option<f64>,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub side: Side,
    pub quantity: f64,
    pub entry_price: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub bars_held: u64,
}

/// Something execution did on a bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fill {
    /// The entry filled and a position opened.
    Entry { side: Side, quantity: f64, price: f64 },
    /// Part or all of the position was closed.
    Exit { quantity: f64, price: f64, pnl: f64, reason: ExitReason, remaining: f64 },
}

/// Why a position (or part of it) was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Strategy,
    Stop,
    Target,
}

/// Why an order was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("an entry order is already working")]
    EntryWorking,
    #[error("a position is already open")]
    PositionOpen,
    #[error("no position is open")]
    NoPosition,
    #[error("quantity {0} is not a positive finite number")]
    BadQuantity(f64),
}

/// One symbol's orders and position, filled against bars.
#[derive(Debug, Clone, Default)]
pub struct SimulatedBroker {
    pending: Option<EntryOrder>,
    position: Option<Position>,
    realized_pnl: f64,
    last_close: Option<f64>,
}

impl SimulatedBroker {
    pub fn new() -> Self {
        SimulatedBroker::default()
    }

    pub fn exposure(&self) -> Exposure {
        Exposure { position_open: self.position.is_some(), entry_pending: self.pending.is_some() }
    }

    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    pub fn pending(&self) -> Option<&EntryOrder> {
        self.pending.as_ref()
    }

    pub fn realized_pnl(&self) -> f64 {
        self.realized_pnl
    }

    /// The strategy's view of the position at the last bar's close.
    pub fn view(&self) -> PositionView {
        match &self.position {
            None => PositionView::default(),
            Some(p) => PositionView {
                side: Some(p.side),
                quantity: p.quantity,
                entry_price: Some(p.entry_price),
                stop: p.stop,
                target: p.target,
                unrealized_pnl: self.last_close.map_or(0.0, |c| pnl(p.side, p.entry_price, c, p.quantity)),
                bars_held: p.bars_held,
            },
        }
    }

    /// Accepts an entry order, to be filled from the next bar on.
    pub fn submit_entry(&mut self, order: EntryOrder) -> Result<(), OrderError> {
        if !(order.quantity.is_finite() && order.quantity > 0.0) {
            return Err(OrderError::BadQuantity(order.quantity));
        }
        if self.pending.is_some() {
            return Err(OrderError::EntryWorking);
        }
        if self.position.is_some() {
            return Err(OrderError::PositionOpen);
        }
        self.pending = Some(order);
        Ok(())
    }

    /// Cancels a working entry order; true if there was one.
    pub fn cancel_entry(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// Closes `fraction` of the position at `price` (the strategy's exit,
    /// at the current close).
    pub fn exit(&mut self, fraction: f64, price: f64) -> Result<Fill, OrderError> {
        let position = self.position.as_mut().ok_or(OrderError::NoPosition)?;
        let quantity = if fraction >= 1.0 { position.quantity } else { position.quantity * fraction };
        Ok(self.close(quantity, price, ExitReason::Strategy))
    }

    /// Moves the stop and/or the target of the open position.
    pub fn update_exits(&mut self, stop: Option<f64>, target: Option<f64>) -> Result<(), OrderError> {
        let position = self.position.as_mut().ok_or(OrderError::NoPosition)?;
        if stop.is_some() {
            position.stop = stop;
        }
        if target.is_some() {
            position.target = target;
        }
        Ok(())
    }

    /// Fills what `bar` reaches: a working entry, then the position's stop
    /// or target (stop first when both are touched).
    pub fn on_bar(&mut self, bar: &Bar) -> Vec<Fill> {
        let mut fills = Vec::new();
        if let Some(position) = &mut self.position {
            position.bars_held += 1;
        }
        if let Some(order) = self.pending.take() {
            match entry_price(&order, bar) {
                Some(price) => {
                    self.position = Some(Position {
                        side: order.side,
                        quantity: order.quantity,
                        entry_price: price,
                        stop: order.stop,
                        target: order.target,
                        bars_held: 0,
                    });
                    fills.push(Fill::Entry { side: order.side, quantity: order.quantity, price });
                }
                None => self.pending = Some(order),
            }
        }
        if let Some(p) = &self.position {
            if let Some((price, reason)) = exit_hit(p, bar) {
                let quantity = p.quantity;
                fills.push(self.close(quantity, price, reason));
            }
        }
        self.last_close = Some(bar.close);
        fills
    }

    fn close(&mut self, quantity: f64, price: f64, reason: ExitReason) -> Fill {
        let p = self.position.as_mut().expect("callers check for a position");
        let quantity = quantity.min(p.quantity);
        let gained = pnl(p.side, p.entry_price, price, quantity);
        self.realized_pnl += gained;
        p.quantity -= quantity;
        let remaining = p.quantity.max(0.0);
        if remaining == 0.0 {
            self.position = None;
        }
        Fill::Exit { quantity, price, pnl: gained, reason, remaining }
    }
}

fn pnl(side: Side, entry: f64, exit: f64, quantity: f64) -> f64 {
    match side {
        Side::Long => (exit - entry) * quantity,
        Side::Short => (entry - exit) * quantity,
    }
}

/// Where an entry order fills on `bar`, if it does.
fn entry_price(order: &EntryOrder, bar: &Bar) -> Option<f64> {
    match (order.limit, order.side) {
        (None, _) => Some(bar.open),
        (Some(limit), Side::Long) if bar.low <= limit => Some(limit.min(bar.open)),
        (Some(limit), Side::Short) if bar.high >= limit => Some(limit.max(bar.open)),
        _ => None,
    }
}

/// The stop or target `bar` touches (stop first), and the fill price: the
/// level, or the open when the bar gapped through it.
fn exit_hit(p: &Position, bar: &Bar) -> Option<(f64, ExitReason)> {
    let (stop_hit, target_hit) = match p.side {
        Side::Long => (p.stop.filter(|&s| bar.low <= s), p.target.filter(|&t| bar.high >= t)),
        Side::Short => (p.stop.filter(|&s| bar.high >= s), p.target.filter(|&t| bar.low <= t)),
    };
    if let Some(stop) = stop_hit {
        let gapped = match p.side {
            Side::Long => bar.open < stop,
            Side::Short => bar.open > stop,
        };
        return Some((if gapped { bar.open } else { stop }, ExitReason::Stop));
    }
    target_hit.map(|target| {
        let gapped = match p.side {
            Side::Long => bar.open > target,
            Side::Short => bar.open < target,
        };
        (if gapped { bar.open } else { target }, ExitReason::Target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(open: f64, high: f64, low: f64, close: f64) -> Bar {
        Bar::new("T".into(), 0, open, high, low, close, 1.0)
    }

    fn long(limit: Option<f64>, stop: Option<f64>, target: Option<f64>) -> EntryOrder {
        EntryOrder { side: Side::Long, quantity: 2.0, limit, stop, target }
    }

    #[test]
    fn market_entries_fill_at_the_next_open_and_stops_win_ties() {
        let mut b = SimulatedBroker::new();
        b.submit_entry(long(None, Some(95.0), Some(110.0))).unwrap();
        assert_eq!(b.submit_entry(long(None, None, None)), Err(OrderError::EntryWorking));
        let fills = b.on_bar(&bar(100.0, 101.0, 99.0, 100.5));
        assert_eq!(fills, vec![Fill::Entry { side: Side::Long, quantity: 2.0, price: 100.0 }]);
        assert_eq!(b.view().unrealized_pnl, 1.0);
        // A bar touching both the stop and the target: the stop.
        let fills = b.on_bar(&bar(100.0, 111.0, 94.0, 105.0));
        assert_eq!(
            fills,
            vec![Fill::Exit { quantity: 2.0, price: 95.0, pnl: -10.0, reason: ExitReason::Stop, remaining: 0.0 }]
        );
        assert!(b.position().is_none());
        assert_eq!(b.realized_pnl(), -10.0);
    }

    #[test]
    fn limits_gaps_partial_exits_and_updates() {
        let mut b = SimulatedBroker::new();
        b.submit_entry(long(Some(98.0), None, Some(105.0))).unwrap();
        assert!(b.on_bar(&bar(100.0, 101.0, 99.0, 100.0)).is_empty(), "limit not touched");
        assert_eq!(
            b.on_bar(&bar(97.0, 99.0, 96.0, 98.5))[0],
            Fill::Entry { side: Side::Long, quantity: 2.0, price: 97.0 }
        );
        let exit = b.exit(0.5, 99.0).unwrap();
        assert_eq!(
            exit,
            Fill::Exit { quantity: 1.0, price: 99.0, pnl: 2.0, reason: ExitReason::Strategy, remaining: 1.0 }
        );
        b.update_exits(Some(96.0), None).unwrap();
        assert_eq!(b.view().stop, Some(96.0));
        // Gapping over the target fills at the open.
        let fills = b.on_bar(&bar(107.0, 108.0, 106.0, 107.5));
        assert_eq!(
            fills,
            vec![Fill::Exit { quantity: 1.0, price: 107.0, pnl: 10.0, reason: ExitReason::Target, remaining: 0.0 }]
        );
        assert_eq!(b.exit(1.0, 1.0), Err(OrderError::NoPosition));
        let bad = EntryOrder { quantity: -1.0, ..long(None, None, None) };
        assert_eq!(b.submit_entry(bad), Err(OrderError::BadQuantity(-1.0)));
    }
}

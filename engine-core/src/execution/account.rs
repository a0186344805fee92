//! [`Account`]: cash, positions and fees, kept exactly. Every fill moves
//! cash by its notional and fee; a position keeps its average entry price,
//! so that at every moment
//!
//! `equity = cash + Σ quantity × mark = initial + realised + unrealised − fees`
//!
//! (checked by a property test). One account may be shared by the runners
//! of several symbols, or each runner may have its own.

use crate::execution::records::{
    AccountSnapshot, EquityPoint, FillRecord, OrderId, OrderPurpose, OrderRecord, OrderSide, TradeRecord,
};
use crate::strategy::Side;

/// Milliseconds in a day: daily limits roll over at 00:00 UTC.
const DAY_MS: i64 = 86_400_000;

/// One symbol's position in the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    pub symbol: String,
    /// Signed: positive long, negative short.
    pub quantity: f64,
    /// Average entry price of the open quantity.
    pub average_price: f64,
    /// The last price seen (the last bar's close).
    pub mark: f64,
    /// An entry order for this symbol is working.
    pub entry_working: bool,
    trade: Option<OpenTrade>,
}

impl Holding {
    pub fn side(&self) -> Option<Side> {
        if self.quantity > 0.0 {
            Some(Side::Long)
        } else if self.quantity < 0.0 {
            Some(Side::Short)
        } else {
            None
        }
    }

    pub fn unrealized_pnl(&self) -> f64 {
        self.quantity * (self.mark - self.average_price)
    }

    /// Bar closes seen while the trade was open (1 at the close of the bar
    /// it was entered on).
    pub fn bars_held(&self) -> u64 {
        self.trade.as_ref().map_or(0, |t| t.bars_held)
    }
}

/// A round trip in progress.
#[derive(Debug, Clone, PartialEq)]
struct OpenTrade {
    side: Side,
    entry_time: i64,
    entry_quantity: f64,
    entry_notional: f64,
    exit_quantity: f64,
    exit_notional: f64,
    max_quantity: f64,
    gross_pnl: f64,
    fees: f64,
    bars_held: u64,
    last_exit: Option<OrderPurpose>,
}

/// What execution recorded: orders (final states), fills, round trips and
/// the equity curve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<FillRecord>,
    pub trades: Vec<TradeRecord>,
    pub equity: Vec<EquityPoint>,
}

/// Cash, positions and fees of one account.
#[derive(Debug, Clone)]
pub struct Account {
    initial_capital: f64,
    cash: f64,
    realized_pnl: f64,
    fees: f64,
    /// In the order symbols first traded or were marked; found through
    /// `index` (an account may hold a thousand symbols live).
    holdings: Vec<Holding>,
    index: std::collections::HashMap<String, usize>,
    peak_equity: f64,
    day: i64,
    day_start_equity: f64,
    time: i64,
    next_order_id: OrderId,
    next_trade_id: u64,
    ledger: Ledger,
    record_equity: bool,
}

impl Account {
    pub fn new(initial_capital: f64) -> Account {
        Account {
            initial_capital,
            cash: initial_capital,
            realized_pnl: 0.0,
            fees: 0.0,
            holdings: Vec::new(),
            index: std::collections::HashMap::new(),
            peak_equity: initial_capital,
            day: i64::MIN,
            day_start_equity: initial_capital,
            time: i64::MIN,
            next_order_id: 1,
            next_trade_id: 1,
            ledger: Ledger::default(),
            record_equity: true,
        }
    }

    /// Stops (or resumes) recording an equity point per step; the account
    /// stays exact either way.
    pub fn set_record_equity(&mut self, on: bool) {
        self.record_equity = on;
    }

    pub fn initial_capital(&self) -> f64 {
        self.initial_capital
    }

    pub fn cash(&self) -> f64 {
        self.cash
    }

    pub fn realized_pnl(&self) -> f64 {
        self.realized_pnl
    }

    pub fn fees(&self) -> f64 {
        self.fees
    }

    pub fn unrealized_pnl(&self) -> f64 {
        self.holdings.iter().map(Holding::unrealized_pnl).sum()
    }

    /// Cash plus the market value of every position.
    pub fn equity(&self) -> f64 {
        self.cash + self.holdings.iter().map(|h| h.quantity * h.mark).sum::<f64>()
    }

    /// Sum of |quantity × mark| over positions.
    pub fn gross_exposure(&self) -> f64 {
        self.holdings.iter().map(|h| (h.quantity * h.mark).abs()).sum()
    }

    pub fn holding(&self, symbol: &str) -> Option<&Holding> {
        self.slot(symbol).map(|i| &self.holdings[i])
    }

    /// Where `symbol`'s holding is: a scan of a few, a lookup of many.
    fn slot(&self, symbol: &str) -> Option<usize> {
        if self.holdings.len() <= 8 {
            self.holdings.iter().position(|h| h.symbol == symbol)
        } else {
            self.index.get(symbol).copied()
        }
    }

    /// Signed quantity held in `symbol`.
    pub fn position(&self, symbol: &str) -> f64 {
        self.holding(symbol).map_or(0.0, |h| h.quantity)
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Takes the ledger out (at the end of a run), orders by id.
    pub fn take_ledger(&mut self) -> Ledger {
        let mut ledger = std::mem::take(&mut self.ledger);
        ledger.orders.sort_by_key(|o| o.id);
        ledger
    }

    fn holding_mut(&mut self, symbol: &str) -> &mut Holding {
        match self.slot(symbol) {
            Some(i) => &mut self.holdings[i],
            None => {
                self.index.insert(symbol.to_string(), self.holdings.len());
                self.holdings.push(Holding {
                    symbol: symbol.to_string(),
                    quantity: 0.0,
                    average_price: 0.0,
                    mark: 0.0,
                    entry_working: false,
                    trade: None,
                });
                self.holdings.last_mut().expect("just pushed")
            }
        }
    }

    pub(crate) fn next_order_id(&mut self) -> OrderId {
        let id = self.next_order_id;
        self.next_order_id += 1;
        id
    }

    pub(crate) fn set_entry_working(&mut self, symbol: &str, working: bool) {
        self.holding_mut(symbol).entry_working = working;
    }

    /// Starts a step at market time `time`: a new UTC day sets the day's
    /// starting equity (for daily loss limits).
    pub fn begin_step(&mut self, time: i64) {
        let day = time.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_start_equity = self.equity();
        }
        self.time = time;
    }

    /// The symbol's price moved to `price` (a bar closed): marks the
    /// position and counts a bar held.
    pub fn mark(&mut self, symbol: &str, price: f64) {
        let h = self.holding_mut(symbol);
        h.mark = price;
        if let Some(t) = &mut h.trade {
            t.bars_held += 1;
        }
    }

    /// Ends a step: updates the peak and records an equity point.
    pub fn end_step(&mut self) {
        let equity = self.equity();
        self.peak_equity = self.peak_equity.max(equity);
        if self.record_equity {
            self.ledger.equity.push(EquityPoint {
                time: self.time,
                cash: self.cash,
                equity,
                realized_pnl: self.realized_pnl,
                unrealized_pnl: self.unrealized_pnl(),
                fees: self.fees,
                gross_exposure: self.gross_exposure(),
            });
        }
    }

    pub fn snapshot(&self) -> AccountSnapshot {
        AccountSnapshot {
            time: self.time,
            initial_capital: self.initial_capital,
            cash: self.cash,
            equity: self.equity(),
            realized_pnl: self.realized_pnl,
            unrealized_pnl: self.unrealized_pnl(),
            fees: self.fees,
            open_positions: self.holdings.iter().filter(|h| h.quantity != 0.0 || h.entry_working).count(),
            gross_exposure: self.gross_exposure(),
            peak_equity: self.peak_equity.max(self.equity()),
            day_start_equity: self.day_start_equity,
        }
    }

    /// Books a fill: moves cash by the notional and the fee, updates the
    /// position and its average price, and the round trip. Returns the P&L
    /// the fill realised (before fees).
    pub(crate) fn apply_fill(&mut self, fill: &FillRecord) -> f64 {
        let signed = fill.side.sign() * fill.quantity;
        self.cash -= signed * fill.price + fill.fee;
        self.fees += fill.fee;
        let h = self.holding_mut(&fill.symbol);
        h.mark = if h.mark == 0.0 { fill.price } else { h.mark };
        let before = h.quantity;
        // The part that reduces the position realises P&L at the average price.
        let closing = if before * signed < 0.0 { signed.abs().min(before.abs()) } else { 0.0 };
        let realized = closing * (fill.price - h.average_price) * before.signum();
        let opening = fill.quantity - closing;
        let after = before + signed;
        if opening > 0.0 {
            // Adds to the position (or opens one, or flips after closing).
            let kept = if closing > 0.0 { 0.0 } else { before.abs() };
            h.average_price = (h.average_price * kept + fill.price * opening) / (kept + opening);
        }
        h.quantity = if after.abs() <= 1e-12 * fill.quantity.max(1.0) { 0.0 } else { after };
        if h.quantity == 0.0 {
            h.average_price = 0.0;
        }
        self.realized_pnl += realized;
        self.track_trade(fill, closing, opening, realized);
        realized
    }

    /// Follows the round trip `fill` belongs to; a trade ends when the
    /// position is flat.
    fn track_trade(&mut self, fill: &FillRecord, closing: f64, opening: f64, realized: f64) {
        let slot = self.slot(&fill.symbol).expect("holding exists");
        let next_trade_id = &mut self.next_trade_id;
        let trades = &mut self.ledger.trades;
        let h = &mut self.holdings[slot];
        let closing_fee = fill.fee * closing / fill.quantity;
        if let Some(t) = &mut h.trade {
            if closing > 0.0 {
                t.exit_quantity += closing;
                t.exit_notional += closing * fill.price;
                t.gross_pnl += realized;
                t.fees += closing_fee;
                t.last_exit = Some(fill.purpose);
            }
            if h.quantity == 0.0 || opening > 0.0 && closing > 0.0 {
                let t = h.trade.take().expect("checked");
                trades.push(finish_trade(*next_trade_id, &fill.symbol, t, fill.time, None));
                *next_trade_id += 1;
            }
        }
        if opening > 0.0 {
            let opening_fee = fill.fee - closing_fee;
            match &mut h.trade {
                Some(t) => {
                    t.entry_quantity += opening;
                    t.entry_notional += opening * fill.price;
                    t.fees += opening_fee;
                    t.max_quantity = t.max_quantity.max(h.quantity.abs());
                }
                None => {
                    h.trade = Some(OpenTrade {
                        side: if fill.side == OrderSide::Buy { Side::Long } else { Side::Short },
                        entry_time: fill.time,
                        entry_quantity: opening,
                        entry_notional: opening * fill.price,
                        exit_quantity: 0.0,
                        exit_notional: 0.0,
                        max_quantity: h.quantity.abs(),
                        gross_pnl: 0.0,
                        fees: opening_fee,
                        bars_held: 0,
                        last_exit: None,
                    })
                }
            }
        }
    }

    pub(crate) fn record_order(&mut self, order: OrderRecord) {
        self.ledger.orders.push(order);
    }

    pub(crate) fn record_fill(&mut self, fill: FillRecord) {
        self.ledger.fills.push(fill);
    }

    /// At the end of a run: every open round trip is reported as a trade
    /// closed at the mark (`end_of_data`), without touching the positions
    /// (the account stays as it is; only the report shows the open trades).
    pub fn report_open_trades(&mut self) {
        for h in &self.holdings {
            if let Some(t) = &h.trade {
                let mut t = t.clone();
                let open = h.quantity.abs();
                t.exit_quantity += open;
                t.exit_notional += open * h.mark;
                t.gross_pnl += h.unrealized_pnl();
                self.ledger.trades.push(finish_trade(self.next_trade_id, &h.symbol, t, self.time, Some("end_of_data")));
                self.next_trade_id += 1;
            }
        }
    }
}

fn finish_trade(id: u64, symbol: &str, t: OpenTrade, exit_time: i64, reason: Option<&str>) -> TradeRecord {
    let entry_price = t.entry_notional / t.entry_quantity;
    let exit_price = if t.exit_quantity > 0.0 { t.exit_notional / t.exit_quantity } else { entry_price };
    let net_pnl = t.gross_pnl - t.fees;
    TradeRecord {
        id,
        symbol: symbol.to_string(),
        side: t.side,
        entry_time: t.entry_time,
        entry_price,
        exit_time,
        exit_price,
        quantity: t.max_quantity,
        gross_pnl: t.gross_pnl,
        fees: t.fees,
        net_pnl,
        return_pct: net_pnl / t.entry_notional * 100.0,
        bars_held: t.bars_held,
        exit_reason: reason
            .map_or_else(|| t.last_exit.map_or("exit", OrderPurpose::as_str).to_string(), |r| r.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::records::Liquidity;

    fn fill(side: OrderSide, quantity: f64, price: f64, fee: f64, purpose: OrderPurpose) -> FillRecord {
        FillRecord {
            order_id: 1,
            symbol: "X".into(),
            time: 0,
            side,
            purpose,
            quantity,
            price,
            fee,
            liquidity: Liquidity::Taker,
            realized_pnl: 0.0,
        }
    }

    fn identity_holds(a: &Account) {
        let lhs = a.equity();
        let rhs = a.initial_capital() + a.realized_pnl() + a.unrealized_pnl() - a.fees();
        assert!((lhs - rhs).abs() < 1e-9, "{lhs} != {rhs}");
    }

    #[test]
    fn many_symbols_are_found_through_the_index() {
        let mut a = Account::new(1_000_000.0);
        let symbols: Vec<String> = (0..40).map(|i| format!("S{i}")).collect();
        for (i, s) in symbols.iter().enumerate() {
            a.mark(s, 10.0 + i as f64);
            if i % 3 == 0 {
                let mut f = fill(OrderSide::Buy, 1.0 + i as f64, 10.0 + i as f64, 0.0, OrderPurpose::Entry);
                f.symbol = s.as_str().into();
                a.apply_fill(&f);
            }
        }
        for (i, s) in symbols.iter().enumerate() {
            let expected = if i % 3 == 0 { 1.0 + i as f64 } else { 0.0 };
            assert_eq!(a.position(s), expected, "{s}");
            assert_eq!(a.holding(s).unwrap().mark, 10.0 + i as f64);
        }
        assert_eq!(a.position("nope"), 0.0);
        identity_holds(&a);
    }

    #[test]
    fn a_long_round_trip_with_fees() {
        let mut a = Account::new(1_000.0);
        a.apply_fill(&fill(OrderSide::Buy, 2.0, 100.0, 0.08, OrderPurpose::Entry));
        assert_eq!(a.cash(), 1_000.0 - 200.0 - 0.08);
        a.mark("X", 110.0);
        assert_eq!(a.unrealized_pnl(), 20.0);
        assert_eq!(a.equity(), 1_000.0 - 0.08 + 20.0);
        identity_holds(&a);
        let realized = a.apply_fill(&fill(OrderSide::Sell, 1.0, 110.0, 0.044, OrderPurpose::Exit));
        assert_eq!(realized, 10.0);
        identity_holds(&a);
        a.apply_fill(&fill(OrderSide::Sell, 1.0, 90.0, 0.036, OrderPurpose::StopLoss));
        identity_holds(&a);
        assert_eq!(a.position("X"), 0.0);
        assert_eq!(a.realized_pnl(), 0.0);
        let t = &a.ledger().trades[0];
        assert_eq!((t.side, t.quantity, t.entry_price, t.exit_price), (Side::Long, 2.0, 100.0, 100.0));
        assert!((t.fees - 0.16).abs() < 1e-12 && (t.net_pnl + 0.16).abs() < 1e-12);
        assert_eq!(t.exit_reason, "stop_loss");
        assert_eq!(t.bars_held, 1);
    }

    #[test]
    fn shorts_averaging_and_flips() {
        let mut a = Account::new(1_000.0);
        a.apply_fill(&fill(OrderSide::Sell, 1.0, 100.0, 0.0, OrderPurpose::Entry));
        a.apply_fill(&fill(OrderSide::Sell, 1.0, 110.0, 0.0, OrderPurpose::Entry));
        assert_eq!(a.holding("X").unwrap().average_price, 105.0);
        a.mark("X", 100.0);
        assert_eq!(a.unrealized_pnl(), 10.0);
        identity_holds(&a);
        // Buying 3 closes the 2 short (+10) and opens 1 long at 100.
        let realized = a.apply_fill(&fill(OrderSide::Buy, 3.0, 100.0, 0.3, OrderPurpose::Entry));
        assert_eq!(realized, 10.0);
        assert_eq!(a.position("X"), 1.0);
        assert_eq!(a.holding("X").unwrap().average_price, 100.0);
        identity_holds(&a);
        assert_eq!(a.ledger().trades.len(), 1);
        assert_eq!(a.ledger().trades[0].side, Side::Short);
        a.report_open_trades();
        assert_eq!(a.ledger().trades[1].exit_reason, "end_of_data");
    }

    #[test]
    fn days_roll_over_and_the_peak_follows_equity() {
        let mut a = Account::new(1_000.0);
        a.begin_step(0);
        a.apply_fill(&fill(OrderSide::Buy, 1.0, 100.0, 0.0, OrderPurpose::Entry));
        a.mark("X", 150.0);
        a.end_step();
        assert_eq!(a.snapshot().peak_equity, 1_050.0);
        a.begin_step(DAY_MS - 1);
        assert_eq!(a.snapshot().day_start_equity, 1_000.0);
        a.mark("X", 120.0);
        a.end_step();
        a.begin_step(DAY_MS);
        let s = a.snapshot();
        assert_eq!((s.day_start_equity, s.peak_equity, s.open_positions), (1_020.0, 1_050.0, 1));
        assert_eq!(a.ledger().equity.len(), 2);
    }
}

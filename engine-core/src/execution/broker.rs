//! [`SymbolBroker`]: one symbol's working orders, filled bar by bar against
//! an [`Account`] (which may be shared with other symbols).
//!
//! Orders sent while a bar is being decided on fill from the next bar on
//! (market orders at its open, unless `market_fill = "close"`). A position
//! opened with a stop and/or a target gets protective orders for its whole
//! quantity: a stop order and a limit order, one cancelling the other;
//! when a bar touches both, the tie rule decides (the stop by default).
//! When the position is flat again, what is left of them is cancelled.

use crate::execution::account::Account;
use crate::execution::config::{is_multiple, round_down_to_lot, ExecutionConfig, MarketFill, TieRule};
use crate::execution::fill_model::{fee, fill_price, is_marketable};
use crate::execution::records::{
    FillRecord, OrderId, OrderKind, OrderPurpose, OrderRecord, OrderSide, OrderStatus, TimeInForce,
};
use crate::market_data::{Bar, Symbol};
use crate::state_machine::Exposure;
use crate::strategy::{PositionView, Side};

/// An entry the runner asks for (already sized and approved by risk).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRequest {
    pub side: Side,
    pub quantity: f64,
    pub kind: OrderKind,
    pub time_in_force: TimeInForce,
    pub post_only: bool,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub reason: String,
}

/// An order refused when sent (also recorded as a rejected order).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("order {order_id} rejected: {reason}")]
pub struct Rejection {
    pub order_id: OrderId,
    pub reason: String,
}

/// What happened to the symbol's orders on a bar.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionEvent {
    Filled {
        order_id: OrderId,
        purpose: OrderPurpose,
        side: OrderSide,
        quantity: f64,
        price: f64,
        fee: f64,
        realized_pnl: f64,
        /// Signed position after the fill.
        position: f64,
    },
    /// Refused when it came to fill (e.g. funds at the fill price).
    Rejected { order_id: OrderId, purpose: OrderPurpose, reason: String },
    /// Ran out of time with `filled` of it done.
    Expired { order_id: OrderId, purpose: OrderPurpose, filled: f64, reason: String },
}

#[derive(Debug, Clone)]
struct Working {
    record: OrderRecord,
    /// A stop-limit whose trigger has traded.
    triggered: bool,
    /// A limit that was marketable when sent: fills as a taker.
    taker_limit: bool,
    /// Protective prices to put on the position this entry opens.
    stop: Option<f64>,
    target: Option<f64>,
}

impl Working {
    fn remaining(&self) -> f64 {
        self.record.quantity - self.record.filled_quantity
    }
}

/// How an update refusal says a stop or target is on the wrong side of the
/// price: refused whatever the account, so `validate` calls it a bug.
pub const WRONG_SIDE: &str = "on the wrong side of the last price";

/// One symbol's orders.
#[derive(Debug, Clone)]
pub struct SymbolBroker {
    symbol: Symbol,
    config: ExecutionConfig,
    /// Entries, strategy exits and flattening orders, in the order sent.
    working: Vec<Working>,
    stop: Option<Working>,
    target: Option<Working>,
    /// Fills of market orders filled when sent (`market_fill = "close"`),
    /// until the runner takes them.
    immediate: Vec<ExecutionEvent>,
    /// A bar with volume has been seen: the series has volume, so a bar
    /// of volume 0 is a minute without liquidity, capped like any other.
    volume_seen: bool,
}

impl SymbolBroker {
    pub fn new(symbol: &str, config: ExecutionConfig) -> SymbolBroker {
        SymbolBroker {
            symbol: symbol.into(),
            config,
            working: Vec::new(),
            stop: None,
            target: None,
            immediate: Vec::new(),
            volume_seen: false,
        }
    }

    pub fn config(&self) -> &ExecutionConfig {
        &self.config
    }

    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// Whether a position is open or an entry order works.
    pub fn exposure(&self, account: &Account) -> Exposure {
        Exposure { position_open: account.position(&self.symbol) != 0.0, entry_pending: self.entry_working() }
    }

    pub fn entry_working(&self) -> bool {
        self.working.iter().any(|w| w.record.purpose == OrderPurpose::Entry)
    }

    fn exit_working(&self) -> bool {
        self.working.iter().any(|w| matches!(w.record.purpose, OrderPurpose::Exit | OrderPurpose::Flatten))
    }

    /// The working orders, protective ones included.
    pub fn working_orders(&self) -> impl Iterator<Item = &OrderRecord> {
        self.working.iter().chain(&self.stop).chain(&self.target).map(|w| &w.record)
    }

    /// The strategy's view of the position at the last close.
    pub fn view(&self, account: &Account) -> PositionView {
        match account.holding(&self.symbol).filter(|h| h.quantity != 0.0) {
            None => PositionView::default(),
            Some(h) => PositionView {
                side: h.side(),
                quantity: h.quantity.abs(),
                entry_price: Some(h.average_price),
                stop: self.stop.as_ref().and_then(|w| trigger_of(w.record.kind)),
                target: self.target.as_ref().and_then(|w| limit_of(w.record.kind)),
                unrealized_pnl: h.unrealized_pnl(),
                bars_held: h.bars_held(),
            },
        }
    }

    /// A new working order record (GTC, not post-only).
    fn new_order(
        &self,
        account: &mut Account,
        time: i64,
        side: OrderSide,
        kind: OrderKind,
        purpose: OrderPurpose,
        reason: &str,
    ) -> OrderRecord {
        OrderRecord {
            id: account.next_order_id(),
            symbol: self.symbol.clone(),
            submitted: time,
            updated: time,
            side,
            kind,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            purpose,
            quantity: 0.0,
            filled_quantity: 0.0,
            average_price: None,
            fees: 0.0,
            status: OrderStatus::Working,
            reason: reason.into(),
        }
    }

    /// Records `record` as rejected and returns the rejection.
    fn reject(&self, account: &mut Account, mut record: OrderRecord, reason: String) -> Rejection {
        record.status = OrderStatus::Rejected;
        record.reason = reason.as_str().into();
        let order_id = record.id;
        account.record_order(record);
        Rejection { order_id, reason }
    }

    /// Sends an entry order, decided on `bar` (its close is the reference
    /// price for checks). Refused orders are recorded as rejected.
    pub fn submit_entry(
        &mut self,
        request: EntryRequest,
        bar: &Bar,
        account: &mut Account,
    ) -> Result<OrderId, Rejection> {
        let side = OrderSide::opening(request.side);
        let mut record =
            self.new_order(account, bar.open_time, side, request.kind, OrderPurpose::Entry, &request.reason);
        record.quantity = request.quantity;
        record.time_in_force = request.time_in_force;
        record.post_only = request.post_only;
        if self.entry_working() {
            return Err(self.reject(account, record, "an entry order is already working".into()));
        }
        if account.position(&self.symbol) != 0.0 {
            return Err(self.reject(account, record, "a position is already open".into()));
        }
        if let Err(reason) = self.check_quantity(request.quantity).and_then(|()| self.check_prices(&request)) {
            return Err(self.reject(account, record, reason));
        }
        let limit = match request.kind {
            OrderKind::Limit { price } => Some(price),
            _ => None,
        };
        let taker_limit = limit.is_some_and(|p| is_marketable(side, p, bar.close));
        if request.post_only {
            match limit {
                None => return Err(self.reject(account, record, "post-only applies to limit orders only".into())),
                Some(p) if taker_limit => {
                    let why = format!("post-only limit {side} at {p} would take liquidity (last price {})", bar.close);
                    return Err(self.reject(account, record, why));
                }
                Some(_) => {}
            }
        }
        let reference = match request.kind {
            OrderKind::Market => bar.close,
            OrderKind::Limit { price } => price,
            OrderKind::Stop { trigger } => trigger,
            OrderKind::StopLimit { limit, .. } => limit,
        };
        if let Err(reason) = self.check_funds(account, request.quantity, reference) {
            return Err(self.reject(account, record, reason));
        }
        let id = record.id;
        self.working.push(Working {
            record,
            triggered: false,
            taker_limit,
            stop: request.stop,
            target: request.target,
        });
        account.set_entry_working(&self.symbol, true);
        if request.kind == OrderKind::Market && self.config.market_fill == MarketFill::Close {
            self.fill_now(bar, account);
        }
        Ok(id)
    }

    /// Sends a market order closing `fraction` (0 < f ≤ 1) of the position.
    pub fn submit_exit(
        &mut self,
        fraction: f64,
        purpose: OrderPurpose,
        reason: &str,
        bar: &Bar,
        account: &mut Account,
    ) -> Result<OrderId, Rejection> {
        let held = account.position(&self.symbol);
        let side = if held > 0.0 { OrderSide::Sell } else { OrderSide::Buy };
        let whole = fraction >= 1.0;
        let mut quantity = if whole { held.abs() } else { held.abs() * fraction };
        if let (false, Some(lot)) = (whole, self.config.instrument.lot_size) {
            quantity = round_down_to_lot(quantity, lot);
        }
        let mut record = self.new_order(account, bar.open_time, side, OrderKind::Market, purpose, reason);
        record.quantity = quantity;
        if held == 0.0 {
            return Err(self.reject(account, record, "no position is open".into()));
        }
        if self.exit_working() {
            return Err(self.reject(account, record, "an exit order is already working".into()));
        }
        if !whole {
            if let Err(why) = self.check_quantity(quantity) {
                return Err(self.reject(account, record, format!("{} of the position: {why}", fraction)));
            }
        }
        let id = record.id;
        self.working.push(Working { record, triggered: false, taker_limit: false, stop: None, target: None });
        if self.config.market_fill == MarketFill::Close {
            self.fill_now(bar, account);
        }
        Ok(id)
    }

    /// Closes everything: cancels working entries and sends a market order
    /// for the whole position (if any).
    pub fn flatten(&mut self, reason: &str, bar: &Bar, account: &mut Account) -> Option<OrderId> {
        self.cancel_entries(reason, bar.open_time, account, OrderStatus::Cancelled);
        if account.position(&self.symbol) == 0.0 {
            return None;
        }
        // A strategy exit still working is replaced by the flattening order.
        let time = bar.open_time;
        self.working.retain_mut(|w| {
            if w.record.purpose == OrderPurpose::Exit {
                w.record.status = OrderStatus::Cancelled;
                w.record.updated = time;
                w.record.reason = format!("replaced by flatten: {reason}").into();
                account.record_order(w.record.clone());
                false
            } else {
                true
            }
        });
        self.submit_exit(1.0, OrderPurpose::Flatten, reason, bar, account).ok()
    }

    /// Moves the position's stop and/or target (placing them if missing).
    pub fn update_protection(
        &mut self,
        stop: Option<f64>,
        target: Option<f64>,
        time: i64,
        account: &mut Account,
    ) -> Result<(), String> {
        let held = account.position(&self.symbol);
        if held == 0.0 {
            return Err("no position is open".into());
        }
        let mark = account.holding(&self.symbol).map_or(0.0, |h| h.mark);
        let long = held > 0.0;
        for (name, price) in [("stop", stop), ("target", target)] {
            if let Some(p) = price {
                self.check_price(name, p)?;
            }
        }
        if let Some(s) = stop {
            if (long && s >= mark) || (!long && s <= mark) {
                let side = if long { "long" } else { "short" };
                return Err(format!(
                    "stop {s} is {WRONG_SIDE} {mark} for a {side} position (it would trigger at once)"
                ));
            }
        }
        if let Some(t) = target {
            if (long && t <= mark) || (!long && t >= mark) {
                let side = if long { "long" } else { "short" };
                return Err(format!("target {t} is {WRONG_SIDE} {mark} for a {side} position"));
            }
        }
        self.protect(stop, target, time, account);
        Ok(())
    }

    /// Places or moves the protective orders for the current position.
    fn protect(&mut self, stop: Option<f64>, target: Option<f64>, time: i64, account: &mut Account) {
        if let Some(trigger) = stop {
            self.place(OrderPurpose::StopLoss, OrderKind::Stop { trigger }, time, account);
        }
        if let Some(price) = target {
            self.place(OrderPurpose::TakeProfit, OrderKind::Limit { price }, time, account);
        }
    }

    /// Moves the protective order for `purpose` to `kind`, or places it.
    fn place(&mut self, purpose: OrderPurpose, kind: OrderKind, time: i64, account: &mut Account) {
        let slot = if purpose == OrderPurpose::StopLoss { &self.stop } else { &self.target };
        if slot.is_none() {
            let held = account.position(&self.symbol);
            let side = if held > 0.0 { OrderSide::Sell } else { OrderSide::Buy };
            let reason = if purpose == OrderPurpose::StopLoss { "protective stop" } else { "profit target" };
            let mut record = self.new_order(account, time, side, kind, purpose, reason);
            record.quantity = held.abs();
            let working = Working { record, triggered: false, taker_limit: false, stop: None, target: None };
            match purpose {
                OrderPurpose::StopLoss => self.stop = Some(working),
                _ => self.target = Some(working),
            }
            return;
        }
        let slot = if purpose == OrderPurpose::StopLoss { &mut self.stop } else { &mut self.target };
        if let Some(w) = slot {
            w.record.kind = kind;
            w.record.updated = time;
        }
    }

    /// Cancels working entry orders; true if there was one.
    pub fn cancel_entries(&mut self, reason: &str, time: i64, account: &mut Account, status: OrderStatus) -> bool {
        let before = self.working.len();
        self.working.retain_mut(|w| {
            if w.record.purpose != OrderPurpose::Entry {
                return true;
            }
            w.record.status = status;
            w.record.updated = time;
            w.record.reason = reason.into();
            account.record_order(w.record.clone());
            false
        });
        account.set_entry_working(&self.symbol, self.entry_working());
        self.working.len() != before
    }

    /// Fills what `bar` reaches: working orders sent before it, in the
    /// order sent, then the position's stop or target. Marks the position
    /// at the close.
    pub fn on_bar(&mut self, bar: &Bar, account: &mut Account) -> Vec<ExecutionEvent> {
        self.volume_seen |= bar.volume > 0.0;
        let mut events = Vec::new();
        let mut i = 0;
        while i < self.working.len() {
            if self.working[i].record.submitted >= bar.open_time {
                i += 1;
                continue;
            }
            let mut w = self.working.remove(i);
            let done = self.try_fill(&mut w, bar, account, &mut events);
            if done {
                account.record_order(w.record);
            } else {
                self.working.insert(i, w);
                i += 1;
            }
        }
        account.set_entry_working(&self.symbol, self.entry_working());
        self.protective_fills(bar, account, &mut events);
        let held = account.position(&self.symbol);
        if held != 0.0 {
            self.resize_protection(held.abs());
        }
        account.mark(&self.symbol, bar.close);
        events
    }

    /// Fills market orders sent on the bar being decided at its close
    /// (`market_fill = "close"`).
    fn fill_now(&mut self, bar: &Bar, account: &mut Account) {
        // Filled on the bar itself, every price at its close.
        let at_close = Bar { open: bar.close, high: bar.close, low: bar.close, ..bar.clone() };
        let mut events = Vec::new();
        if let Some(mut w) = self.working.pop() {
            if self.try_fill(&mut w, &at_close, account, &mut events) {
                account.record_order(w.record);
            } else {
                self.working.push(w);
            }
        }
        account.set_entry_working(&self.symbol, self.entry_working());
        self.immediate.extend(events);
    }

    /// Events of orders filled when they were sent (`market_fill =
    /// "close"`), in order.
    pub fn take_immediate(&mut self) -> Vec<ExecutionEvent> {
        std::mem::take(&mut self.immediate)
    }

    /// Tries to fill `w` on `bar`; true when the order is done (filled,
    /// rejected or expired).
    fn try_fill(
        &mut self,
        w: &mut Working,
        bar: &Bar,
        account: &mut Account,
        events: &mut Vec<ExecutionEvent>,
    ) -> bool {
        let purpose = w.record.purpose;
        let closing = purpose != OrderPurpose::Entry;
        let held = account.position(&self.symbol);
        if closing && held == 0.0 {
            w.record.status = OrderStatus::Cancelled;
            w.record.updated = bar.open_time;
            w.record.reason = "position already closed".into();
            return true;
        }
        let Some(fill) = fill_price(w.record.kind, w.record.side, bar, &mut w.triggered, w.taker_limit, &self.config)
        else {
            return self.expire_ioc(w, bar, events);
        };
        let mut quantity = w.remaining();
        if closing {
            quantity = quantity.min(held.abs());
        }
        quantity = self.volume_cap(quantity, bar);
        if quantity <= 0.0 {
            return self.expire_ioc(w, bar, events);
        }
        if purpose == OrderPurpose::Entry {
            if let Err(reason) = self.check_funds(account, quantity, fill.price) {
                w.record.status = OrderStatus::Rejected;
                w.record.updated = bar.open_time;
                w.record.reason = format!("at the fill price: {reason}").into();
                events.push(ExecutionEvent::Rejected {
                    order_id: w.record.id,
                    purpose,
                    reason: w.record.reason.to_string(),
                });
                return true;
            }
        }
        self.execute(w, quantity, fill.price, fill.liquidity, bar, account, events);
        if purpose == OrderPurpose::Entry {
            let position = account.position(&self.symbol);
            let (stop, target) = (w.stop, w.target);
            self.protect(stop, target, bar.open_time, account);
            self.resize_protection(position.abs());
        }
        if w.remaining() <= 1e-12 * w.record.quantity {
            w.record.status = OrderStatus::Filled;
            return true;
        }
        w.record.status = OrderStatus::PartiallyFilled;
        if closing && account.position(&self.symbol) == 0.0 {
            return true;
        }
        self.expire_ioc(w, bar, events)
    }

    /// An IOC order had its chance: what is left expires.
    fn expire_ioc(&self, w: &mut Working, bar: &Bar, events: &mut Vec<ExecutionEvent>) -> bool {
        if w.record.time_in_force != TimeInForce::Ioc {
            return false;
        }
        w.record.status = OrderStatus::Expired;
        w.record.updated = bar.open_time;
        w.record.reason = "IOC: the rest was cancelled".into();
        events.push(ExecutionEvent::Expired {
            order_id: w.record.id,
            purpose: w.record.purpose,
            filled: w.record.filled_quantity,
            reason: w.record.reason.to_string(),
        });
        true
    }

    /// The part of `quantity` the bar's volume allows. A series that has
    /// shown no volume yet (0 on every bar: the data has none) says nothing
    /// about liquidity, so it is not capped: capping at 0 would never fill.
    fn volume_cap(&self, quantity: f64, bar: &Bar) -> f64 {
        let capped = self.volume_seen || bar.volume > 0.0;
        let Some(fraction) = self.config.max_volume_fraction.filter(|_| capped) else {
            return quantity;
        };
        let cap = bar.volume * fraction;
        if quantity <= cap {
            return quantity;
        }
        match self.config.instrument.lot_size {
            Some(lot) => round_down_to_lot(cap, lot),
            None => cap,
        }
    }

    /// Books a fill of `quantity` at `price` for `w`.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        w: &mut Working,
        quantity: f64,
        price: f64,
        liquidity: crate::execution::records::Liquidity,
        bar: &Bar,
        account: &mut Account,
        events: &mut Vec<ExecutionEvent>,
    ) {
        let fee = fee(quantity * price, liquidity, &self.config);
        let mut record = FillRecord {
            order_id: w.record.id,
            symbol: self.symbol.clone(),
            time: bar.open_time,
            side: w.record.side,
            purpose: w.record.purpose,
            quantity,
            price,
            fee,
            liquidity,
            realized_pnl: 0.0,
        };
        let realized = account.apply_fill(&record);
        record.realized_pnl = realized;
        account.record_fill(record);
        let r = &mut w.record;
        let filled = r.filled_quantity + quantity;
        r.average_price =
            Some(r.average_price.map_or(price, |avg| (avg * r.filled_quantity + price * quantity) / filled));
        r.filled_quantity = filled;
        r.fees += fee;
        r.updated = bar.open_time;
        events.push(ExecutionEvent::Filled {
            order_id: r.id,
            purpose: r.purpose,
            side: r.side,
            quantity,
            price,
            fee,
            realized_pnl: realized,
            position: account.position(&self.symbol),
        });
    }

    /// The protective orders cover the whole position.
    fn resize_protection(&mut self, quantity: f64) {
        for w in [&mut self.stop, &mut self.target].into_iter().flatten() {
            w.record.quantity = w.record.filled_quantity + quantity;
        }
    }

    /// The position's stop or target, if the bar reaches one; afterwards,
    /// a flat position's leftovers are cancelled.
    fn protective_fills(&mut self, bar: &Bar, account: &mut Account, events: &mut Vec<ExecutionEvent>) {
        if account.position(&self.symbol) != 0.0 {
            let mut hits = [false; 2];
            for (hit, slot) in hits.iter_mut().zip([&mut self.stop, &mut self.target]) {
                if let Some(w) = slot {
                    let mut probe = w.triggered;
                    *hit = fill_price(w.record.kind, w.record.side, bar, &mut probe, false, &self.config).is_some();
                }
            }
            let order = match self.config.tie_rule {
                TieRule::StopFirst => [0, 1],
                TieRule::TargetFirst => [1, 0],
            };
            if let Some(&which) = order.iter().find(|&&k| hits[k]) {
                let slot = if which == 0 { &mut self.stop } else { &mut self.target };
                let mut w = slot.take().expect("hit implies present");
                let fill = fill_price(w.record.kind, w.record.side, bar, &mut w.triggered, false, &self.config)
                    .expect("hit above");
                let held = account.position(&self.symbol).abs();
                let quantity = self.volume_cap(w.remaining().min(held), bar);
                if quantity > 0.0 {
                    self.execute(&mut w, quantity, fill.price, fill.liquidity, bar, account, events);
                    w.record.status = if account.position(&self.symbol) == 0.0 {
                        OrderStatus::Filled
                    } else {
                        OrderStatus::PartiallyFilled
                    };
                }
                let slot = if which == 0 { &mut self.stop } else { &mut self.target };
                *slot = Some(w);
            }
        }
        if account.position(&self.symbol) == 0.0 {
            for slot in [&mut self.stop, &mut self.target] {
                if let Some(mut w) = slot.take() {
                    if !w.record.status.is_final() && w.record.filled_quantity == 0.0 {
                        w.record.status = OrderStatus::Cancelled;
                        w.record.reason = format!("{}: position closed", w.record.reason).into();
                    } else if !w.record.status.is_final() {
                        w.record.status = OrderStatus::Filled;
                    }
                    w.record.updated = bar.open_time;
                    account.record_order(w.record);
                }
            }
            let time = bar.open_time;
            self.working.retain_mut(|w| {
                if w.record.purpose == OrderPurpose::Entry {
                    return true;
                }
                w.record.status = OrderStatus::Cancelled;
                w.record.updated = time;
                w.record.reason = format!("{}: position already closed", w.record.reason).into();
                account.record_order(w.record.clone());
                false
            });
        }
    }

    /// At the end of a run: working orders go to the ledger as they are.
    pub fn finish(&mut self, account: &mut Account) {
        for w in self.working.drain(..).chain(self.stop.take()).chain(self.target.take()) {
            account.record_order(w.record);
        }
    }

    fn check_quantity(&self, quantity: f64) -> Result<(), String> {
        if !(quantity.is_finite() && quantity > 0.0) {
            return Err(format!("size {quantity} is not a positive finite number"));
        }
        let i = &self.config.instrument;
        if let Some(min) = i.min_quantity {
            if quantity < min {
                return Err(format!("size {quantity} is below the minimum {min}"));
            }
        }
        if let Some(lot) = i.lot_size {
            if !is_multiple(quantity, lot) {
                return Err(format!("size {quantity} is not a multiple of the lot size {lot}"));
            }
        }
        Ok(())
    }

    fn check_price(&self, name: &str, price: f64) -> Result<(), String> {
        if !(price.is_finite() && price > 0.0) {
            return Err(format!("invalid price: {name} {price} is not a positive finite number"));
        }
        if let Some(tick) = self.config.instrument.tick_size {
            if !is_multiple(price, tick) {
                return Err(format!("invalid price: {name} {price} is not a multiple of the tick size {tick}"));
            }
        }
        Ok(())
    }

    fn check_prices(&self, r: &EntryRequest) -> Result<(), String> {
        match r.kind {
            OrderKind::Market => {}
            OrderKind::Limit { price } => self.check_price("limit", price)?,
            OrderKind::Stop { trigger } => self.check_price("trigger", trigger)?,
            OrderKind::StopLimit { trigger, limit } => {
                self.check_price("trigger", trigger)?;
                self.check_price("limit", limit)?;
            }
        }
        for (name, price) in [("stop", r.stop), ("target", r.target)] {
            if let Some(p) = price {
                self.check_price(name, p)?;
            }
        }
        Ok(())
    }

    /// Whether opening `quantity` at `price` fits the account: gross
    /// exposure after the order (fee included) within equity × leverage.
    fn check_funds(&self, account: &Account, quantity: f64, price: f64) -> Result<(), String> {
        let notional = quantity * price;
        let needed = notional + fee(notional, crate::execution::records::Liquidity::Taker, &self.config);
        let equity = account.equity();
        let exposure = account.gross_exposure();
        let available = equity * self.config.leverage - exposure;
        if needed > available {
            return Err(format!(
                "insufficient funds: the order needs {needed:.2} ({quantity} × {price} plus the fee), {:.2} is available \
                 (equity {equity:.2} × leverage {} − exposure {exposure:.2})",
                available.max(0.0),
                self.config.leverage
            ));
        }
        Ok(())
    }
}

fn trigger_of(kind: OrderKind) -> Option<f64> {
    match kind {
        OrderKind::Stop { trigger } | OrderKind::StopLimit { trigger, .. } => Some(trigger),
        _ => None,
    }
}

fn limit_of(kind: OrderKind) -> Option<f64> {
    match kind {
        OrderKind::Limit { price } | OrderKind::StopLimit { limit: price, .. } => Some(price),
        _ => None,
    }
}

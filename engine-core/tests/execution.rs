//! Simulated execution through its public API: order types, the fill model
//! (next open, touch or gap, stop first, slippage, spread, fees, volume
//! cap), rejections with reasons, and the account's books.

use engine_core::execution::{
    Account, EntryRequest, ExecutionConfig, ExecutionEvent, Instrument, Liquidity, MarketFill, OrderKind, OrderPurpose,
    OrderStatus, Slippage, SymbolBroker, TieRule, TimeInForce,
};
use engine_core::market_data::Bar;
use engine_core::strategy::Side;

const MINUTE: i64 = 60_000;

fn bar(i: i64, open: f64, high: f64, low: f64, close: f64) -> Bar {
    Bar::new("X".into(), i * MINUTE, open, high, low, close, 1_000.0)
}

/// No slippage, no volume cap: prices are exactly the model's.
fn plain() -> ExecutionConfig {
    ExecutionConfig { slippage: Slippage::None, max_volume_fraction: None, ..ExecutionConfig::default() }
}

fn entry(side: Side, quantity: f64, kind: OrderKind) -> EntryRequest {
    EntryRequest {
        side,
        quantity,
        kind,
        time_in_force: TimeInForce::Gtc,
        post_only: false,
        stop: None,
        target: None,
        reason: "test".into(),
    }
}

struct Desk {
    broker: SymbolBroker,
    account: Account,
}

impl Desk {
    fn new(config: ExecutionConfig) -> Desk {
        Desk { account: Account::new(config.initial_capital), broker: SymbolBroker::new("X", config) }
    }

    fn step(&mut self, b: &Bar) -> Vec<ExecutionEvent> {
        self.account.begin_step(b.open_time);
        let events = self.broker.on_bar(b, &mut self.account);
        self.account.end_step();
        events
    }

    fn fills(&self) -> Vec<(f64, f64)> {
        self.account.ledger().fills.iter().map(|f| (f.quantity, f.price)).collect()
    }

    fn identity_holds(&self) {
        let a = &self.account;
        let lhs = a.equity();
        let rhs = a.initial_capital() + a.realized_pnl() + a.unrealized_pnl() - a.fees();
        assert!((lhs - rhs).abs() <= 1e-9 * lhs.abs().max(1.0), "equity {lhs} != {rhs}");
    }
}

#[test]
fn a_market_entry_fills_at_the_next_open_with_the_taker_fee() {
    let mut d = Desk::new(plain());
    let decided = bar(0, 100.0, 101.0, 99.0, 100.5);
    d.step(&decided);
    d.broker.submit_entry(entry(Side::Long, 2.0, OrderKind::Market), &decided, &mut d.account).unwrap();
    assert!(d.fills().is_empty(), "nothing fills on the bar the decision was made on");
    let events = d.step(&bar(1, 101.0, 102.0, 100.0, 101.5));
    assert!(matches!(events[0], ExecutionEvent::Filled { price, quantity, .. } if price == 101.0 && quantity == 2.0));
    let f = &d.account.ledger().fills[0];
    assert_eq!(f.liquidity, Liquidity::Taker);
    assert!((f.fee - 202.0 * 4.0 / 10_000.0).abs() < 1e-12, "4 bps of 202: {}", f.fee);
    assert_eq!(d.account.cash(), 10_000.0 - 202.0 - f.fee);
    assert_eq!(d.account.unrealized_pnl(), 1.0);
    d.identity_holds();
}

#[test]
fn market_fills_can_be_at_the_decision_close_by_configuration() {
    let mut d = Desk::new(ExecutionConfig { market_fill: MarketFill::Close, ..plain() });
    let decided = bar(0, 100.0, 101.0, 99.0, 100.5);
    d.step(&decided);
    d.broker.submit_entry(entry(Side::Short, 1.0, OrderKind::Market), &decided, &mut d.account).unwrap();
    let events = d.broker.take_immediate();
    assert!(matches!(events[0], ExecutionEvent::Filled { price, .. } if price == 100.5));
    assert_eq!(d.account.position("X"), -1.0);
}

#[test]
fn slippage_and_the_quoted_spread_go_against_the_taker() {
    let mut d = Desk::new(ExecutionConfig { slippage: Slippage::Bps { bps: 10.0 }, ..plain() });
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    d.broker.submit_entry(entry(Side::Long, 1.0, OrderKind::Market), &decided, &mut d.account).unwrap();
    let mut quoted = bar(1, 100.0, 101.0, 99.0, 100.0);
    quoted.bid = Some(99.9);
    quoted.ask = Some(100.1);
    d.step(&quoted);
    // Ask 100.1, then 10 bps of it.
    assert!((d.fills()[0].1 - 100.1 * 1.001).abs() < 1e-9, "{:?}", d.fills());
}

#[test]
fn resting_limits_fill_as_makers_when_touched_and_at_the_open_when_gapped() {
    let mut d = Desk::new(plain());
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    d.broker.submit_entry(entry(Side::Long, 1.0, OrderKind::Limit { price: 98.0 }), &decided, &mut d.account).unwrap();
    assert!(d.step(&bar(1, 100.0, 101.0, 98.5, 99.0)).is_empty(), "not touched");
    d.step(&bar(2, 99.0, 99.5, 97.5, 98.0));
    assert_eq!(d.fills(), vec![(1.0, 98.0)]);
    assert_eq!(d.account.ledger().fills[0].liquidity, Liquidity::Maker);

    let mut gap = Desk::new(plain());
    gap.step(&decided);
    gap.broker
        .submit_entry(entry(Side::Long, 1.0, OrderKind::Limit { price: 98.0 }), &decided, &mut gap.account)
        .unwrap();
    gap.step(&bar(1, 96.0, 97.0, 95.0, 96.5));
    assert_eq!(gap.fills(), vec![(1.0, 96.0)], "opened below the limit");
}

#[test]
fn stop_entries_trigger_on_a_breakout_and_stop_limits_need_their_limit() {
    let mut d = Desk::new(plain());
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    d.broker
        .submit_entry(entry(Side::Long, 1.0, OrderKind::Stop { trigger: 102.0 }), &decided, &mut d.account)
        .unwrap();
    assert!(d.step(&bar(1, 100.0, 101.5, 99.5, 101.0)).is_empty());
    d.step(&bar(2, 101.0, 103.0, 100.5, 102.5));
    assert_eq!(d.fills(), vec![(1.0, 102.0)]);

    let mut sl = Desk::new(plain());
    sl.step(&decided);
    let kind = OrderKind::StopLimit { trigger: 102.0, limit: 101.0 };
    sl.broker.submit_entry(entry(Side::Long, 1.0, kind), &decided, &mut sl.account).unwrap();
    assert!(sl.step(&bar(1, 100.0, 103.0, 101.5, 102.5)).is_empty(), "triggered, limit 101 not reached after");
    sl.step(&bar(2, 102.0, 102.5, 100.5, 101.0));
    assert_eq!(sl.fills(), vec![(1.0, 101.0)]);
}

#[test]
fn ioc_remainders_expire_and_gtc_ones_keep_working_under_the_volume_cap() {
    let config = ExecutionConfig { max_volume_fraction: Some(0.1), ..plain() };
    let mut d = Desk::new(config.clone());
    let decided = bar(0, 10.0, 10.1, 9.9, 10.0);
    d.step(&decided);
    // 300 units against a cap of 10 % of 1,000: 100 fill, 200 expire.
    let mut req = entry(Side::Long, 300.0, OrderKind::Market);
    req.time_in_force = TimeInForce::Ioc;
    d.broker.submit_entry(req, &decided, &mut d.account).unwrap();
    let events = d.step(&bar(1, 10.0, 10.1, 9.9, 10.0));
    assert_eq!(d.fills(), vec![(100.0, 10.0)]);
    assert!(matches!(events.last(), Some(ExecutionEvent::Expired { filled, .. }) if *filled == 100.0), "{events:?}");
    assert_eq!(d.account.ledger().orders[0].status, OrderStatus::Expired);
    assert_eq!(d.account.position("X"), 100.0);

    // 250 units against 100 per bar: 100, 100, 50 over three bars.
    let mut g = Desk::new(config);
    g.step(&decided);
    g.broker.submit_entry(entry(Side::Long, 25.0 * 10.0, OrderKind::Market), &decided, &mut g.account).unwrap();
    for i in 1..=4 {
        g.step(&bar(i, 10.0, 10.5, 9.5, 10.0));
    }
    assert_eq!(g.fills(), vec![(100.0, 10.0), (100.0, 10.0), (50.0, 10.0)]);
    assert_eq!(g.account.position("X"), 250.0);
    let order = &g.account.ledger().orders[0];
    assert_eq!((order.status, order.filled_quantity), (OrderStatus::Filled, 250.0));
    g.identity_holds();

    // A series without volume (the data has none) is not capped: capping
    // at 0 % of nothing would never fill.
    let mut z = Desk::new(ExecutionConfig { max_volume_fraction: Some(0.1), ..plain() });
    let silent = |i| Bar::new("X".into(), i * MINUTE, 10.0, 10.1, 9.9, 10.0, 0.0);
    z.step(&silent(0));
    z.broker.submit_entry(entry(Side::Long, 300.0, OrderKind::Market), &silent(0), &mut z.account).unwrap();
    z.step(&silent(1));
    assert_eq!(z.fills(), vec![(300.0, 10.0)]);
    // In a series with volume, a bar of volume 0 is a minute without
    // liquidity: nothing fills there, the rest waits for volume.
    let mut v = Desk::new(ExecutionConfig { max_volume_fraction: Some(0.1), ..plain() });
    v.step(&decided);
    v.broker.submit_entry(entry(Side::Long, 300.0, OrderKind::Market), &decided, &mut v.account).unwrap();
    v.step(&silent(1));
    assert_eq!(v.fills(), vec![]);
    v.step(&bar(2, 10.0, 10.1, 9.9, 10.0));
    assert_eq!(v.fills(), vec![(100.0, 10.0)]);
}

#[test]
fn an_ioc_limit_that_cannot_fill_on_its_first_bar_expires() {
    let mut d = Desk::new(plain());
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    let mut req = entry(Side::Long, 1.0, OrderKind::Limit { price: 95.0 });
    req.time_in_force = TimeInForce::Ioc;
    d.broker.submit_entry(req, &decided, &mut d.account).unwrap();
    let events = d.step(&bar(1, 100.0, 101.0, 99.0, 100.0));
    assert!(matches!(&events[..], [ExecutionEvent::Expired { filled, .. }] if *filled == 0.0), "{events:?}");
    assert!(!d.broker.entry_working());
    assert_eq!(d.account.ledger().orders[0].status, OrderStatus::Expired);
}

#[test]
fn rejections_say_why() {
    let config = ExecutionConfig {
        instrument: Instrument { min_quantity: Some(0.01), lot_size: Some(0.01), tick_size: Some(0.1) },
        ..plain()
    };
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    let cases: Vec<(EntryRequest, &str)> = vec![
        (entry(Side::Long, 0.001, OrderKind::Market), "size 0.001 is below the minimum 0.01"),
        (entry(Side::Long, 0.015, OrderKind::Market), "size 0.015 is not a multiple of the lot size 0.01"),
        (
            entry(Side::Long, 1.0, OrderKind::Limit { price: 99.95 }),
            "limit 99.95 is not a multiple of the tick size 0.1",
        ),
        (entry(Side::Long, 1.0, OrderKind::Limit { price: f64::NAN }), "invalid price: limit NaN"),
        (entry(Side::Long, 200.0, OrderKind::Market), "insufficient funds: the order needs 20008.00"),
        (
            EntryRequest { post_only: true, ..entry(Side::Long, 1.0, OrderKind::Limit { price: 100.5 }) },
            "post-only limit buy at 100.5 would take liquidity (last price 100)",
        ),
    ];
    for (req, expected) in cases {
        let mut d = Desk::new(config.clone());
        d.step(&decided);
        let err = d.broker.submit_entry(req, &decided, &mut d.account).unwrap_err();
        assert!(err.reason.contains(expected), "expected {expected:?} in {:?}", err.reason);
        let order = &d.account.ledger().orders[0];
        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(*order.reason, *err.reason);
        assert!(!d.broker.entry_working());
    }
}

#[test]
fn a_gap_beyond_the_funds_rejects_the_entry_at_the_fill() {
    let mut d = Desk::new(plain());
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    d.broker.submit_entry(entry(Side::Long, 99.0, OrderKind::Market), &decided, &mut d.account).unwrap();
    let events = d.step(&bar(1, 110.0, 111.0, 109.0, 110.0));
    assert!(
        matches!(&events[..], [ExecutionEvent::Rejected { reason, .. }] if reason.starts_with("at the fill price: insufficient funds")),
        "{events:?}"
    );
    assert_eq!(d.account.position("X"), 0.0);
}

/// A long with stop 95 and target 110, then a bar reaching both.
fn bracketed(tie_rule: TieRule) -> Desk {
    let mut d = Desk::new(ExecutionConfig { tie_rule, ..plain() });
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    let req = EntryRequest { stop: Some(95.0), target: Some(110.0), ..entry(Side::Long, 2.0, OrderKind::Market) };
    d.broker.submit_entry(req, &decided, &mut d.account).unwrap();
    d.step(&bar(1, 100.0, 101.0, 99.0, 100.0));
    assert_eq!(d.broker.view(&d.account).stop, Some(95.0));
    d.step(&bar(2, 100.0, 111.0, 94.0, 105.0));
    d
}

#[test]
fn a_bar_touching_stop_and_target_takes_the_stop_unless_configured_otherwise() {
    let d = bracketed(TieRule::StopFirst);
    assert_eq!(d.fills(), vec![(2.0, 100.0), (2.0, 95.0)]);
    assert_eq!(d.account.ledger().fills[1].purpose, OrderPurpose::StopLoss);
    let trade = &d.account.ledger().trades[0];
    assert_eq!((trade.exit_reason.as_str(), trade.gross_pnl), ("stop_loss", -10.0));
    // The target was cancelled with the position.
    let target = d.account.ledger().orders.iter().find(|o| o.purpose == OrderPurpose::TakeProfit).unwrap();
    assert_eq!(target.status, OrderStatus::Cancelled);
    d.identity_holds();

    let d = bracketed(TieRule::TargetFirst);
    assert_eq!(d.fills(), vec![(2.0, 100.0), (2.0, 110.0)]);
    assert_eq!(d.account.ledger().fills[1].liquidity, Liquidity::Maker);
}

#[test]
fn a_partial_exit_shrinks_the_protection_and_a_stop_gap_fills_at_the_open() {
    let mut d = Desk::new(plain());
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    let req = EntryRequest { stop: Some(95.0), ..entry(Side::Long, 4.0, OrderKind::Market) };
    d.broker.submit_entry(req, &decided, &mut d.account).unwrap();
    let b1 = bar(1, 100.0, 102.0, 99.0, 101.0);
    d.step(&b1);
    d.broker.submit_exit(0.5, OrderPurpose::Exit, "half", &b1, &mut d.account).unwrap();
    d.step(&bar(2, 102.0, 103.0, 101.0, 102.0));
    assert_eq!(d.account.position("X"), 2.0);
    d.broker.update_protection(Some(97.0), None, 2 * MINUTE, &mut d.account).unwrap();
    assert!(d
        .broker
        .update_protection(Some(103.0), None, 2 * MINUTE, &mut d.account)
        .unwrap_err()
        .contains("wrong side"));
    d.step(&bar(3, 96.0, 96.5, 90.0, 91.0));
    assert_eq!(d.fills(), vec![(4.0, 100.0), (2.0, 102.0), (2.0, 96.0)]);
    let stop = d.account.ledger().orders.iter().find(|o| o.purpose == OrderPurpose::StopLoss).unwrap();
    assert_eq!((stop.status, stop.quantity, stop.filled_quantity), (OrderStatus::Filled, 2.0, 2.0));
    assert_eq!(stop.kind, OrderKind::Stop { trigger: 97.0 });
    let trade = &d.account.ledger().trades[0];
    assert_eq!((trade.quantity, trade.entry_price, trade.exit_price), (4.0, 100.0, 99.0));
    d.identity_holds();
}

#[test]
fn flatten_cancels_entries_and_closes_at_the_next_open() {
    let mut d = Desk::new(plain());
    let decided = bar(0, 100.0, 101.0, 99.0, 100.0);
    d.step(&decided);
    d.broker.submit_entry(entry(Side::Short, 3.0, OrderKind::Market), &decided, &mut d.account).unwrap();
    let b1 = bar(1, 100.0, 101.0, 99.0, 100.0);
    d.step(&b1);
    d.broker.flatten("kill switch", &b1, &mut d.account);
    d.step(&bar(2, 98.0, 99.0, 97.0, 98.0));
    assert_eq!(d.account.position("X"), 0.0);
    let last = d.account.ledger().fills.last().unwrap();
    assert_eq!((last.purpose, last.price, last.realized_pnl), (OrderPurpose::Flatten, 98.0, 6.0));
    assert_eq!(d.account.ledger().trades[0].exit_reason, "flatten");
    d.identity_holds();
}

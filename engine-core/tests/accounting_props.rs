//! Property: whatever orders are sent and whatever the bars do, the
//! account's books stay exact: equity = initial capital + realised P&L +
//! unrealised P&L − fees, and cash, position and realised P&L agree with the
//! fills recorded in the ledger.

use engine_core::execution::{
    Account, EntryRequest, ExecutionConfig, Fees, OrderKind, OrderPurpose, OrderSide, Slippage, SymbolBroker,
    TimeInForce,
};
use engine_core::market_data::Bar;
use engine_core::strategy::Side;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    Nothing,
    Enter { long: bool, quantity: f64, kind: u8, offset: f64, ioc: bool, stop: Option<f64>, target: Option<f64> },
    Exit { fraction: f64 },
    Protect { stop: Option<f64>, target: Option<f64> },
    Flatten,
    Cancel,
}

fn action() -> impl Strategy<Value = Action> {
    let offset = -0.05..0.05f64;
    prop_oneof![
        3 => Just(Action::Nothing),
        3 => (any::<bool>(), 0.1..20.0f64, 0..4u8, offset.clone(), any::<bool>(),
              proptest::option::of(0.01..0.1f64), proptest::option::of(0.01..0.1f64))
            .prop_map(|(long, quantity, kind, offset, ioc, stop, target)| Action::Enter { long, quantity, kind, offset, ioc, stop, target }),
        1 => (0.05..=1.0f64).prop_map(|fraction| Action::Exit { fraction }),
        1 => (proptest::option::of(0.01..0.1f64), proptest::option::of(0.01..0.1f64))
            .prop_map(|(stop, target)| Action::Protect { stop, target }),
        1 => Just(Action::Flatten),
        1 => Just(Action::Cancel),
    ]
}

/// A bar from a random move, gap and range around the previous close.
fn bars() -> impl Strategy<Value = Vec<(f64, f64, f64, f64, f64)>> {
    proptest::collection::vec((-0.03..0.03f64, -0.02..0.02f64, 0.0..0.03f64, 0.0..0.03f64, 1.0..500.0f64), 10..60)
}

fn config() -> impl Strategy<Value = ExecutionConfig> {
    (0.0..10.0f64, 0.0..10.0f64, 0.0..20.0f64, proptest::option::of(0.05..1.0f64), 1.0..3.0f64).prop_map(
        |(maker_bps, taker_bps, slip, cap, leverage)| ExecutionConfig {
            fees: Fees { maker_bps, taker_bps },
            slippage: Slippage::Bps { bps: slip },
            max_volume_fraction: cap,
            leverage,
            initial_capital: 5_000.0,
            ..ExecutionConfig::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn books_stay_exact(config in config(), moves in bars(), actions in proptest::collection::vec(action(), 60)) {
        let mut broker = SymbolBroker::new("X", config.clone());
        let mut account = Account::new(config.initial_capital);
        let mut close = 100.0;
        for (i, ((drift, gap, up, down, volume), action)) in moves.iter().zip(&actions).enumerate() {
            let open = close * (1.0 + gap);
            let next_close = open * (1.0 + drift);
            let high = open.max(next_close) * (1.0 + up);
            let low = open.min(next_close) * (1.0 - down);
            close = next_close;
            let bar = Bar::new("X".into(), i as i64 * 60_000, open, high, low, close, *volume);
            account.begin_step(bar.open_time);
            broker.on_bar(&bar, &mut account);
            match action {
                Action::Nothing => {}
                Action::Enter { long, quantity, kind, offset, ioc, stop, target } => {
                    let side = if *long { Side::Long } else { Side::Short };
                    let sign = if *long { 1.0 } else { -1.0 };
                    let level = close * (1.0 + offset);
                    let kind = match kind {
                        0 => OrderKind::Market,
                        1 => OrderKind::Limit { price: level },
                        2 => OrderKind::Stop { trigger: level },
                        _ => OrderKind::StopLimit { trigger: level, limit: level * (1.0 + sign * 0.01) },
                    };
                    let request = EntryRequest {
                        side,
                        quantity: *quantity,
                        kind,
                        time_in_force: if *ioc { TimeInForce::Ioc } else { TimeInForce::Gtc },
                        post_only: false,
                        stop: stop.map(|s| close * (1.0 - sign * s)),
                        target: target.map(|t| close * (1.0 + sign * t)),
                        reason: String::new(),
                    };
                    let _ = broker.submit_entry(request, &bar, &mut account);
                }
                Action::Exit { fraction } => {
                    let _ = broker.submit_exit(*fraction, OrderPurpose::Exit, "", &bar, &mut account);
                }
                Action::Protect { stop, target } => {
                    let sign = account.position("X").signum();
                    let _ = broker.update_protection(
                        stop.map(|s| close * (1.0 - sign * s)),
                        target.map(|t| close * (1.0 + sign * t)),
                        bar.open_time,
                        &mut account,
                    );
                }
                Action::Flatten => {
                    broker.flatten("test", &bar, &mut account);
                }
                Action::Cancel => {
                    broker.cancel_entries("test", bar.open_time, &mut account, engine_core::execution::OrderStatus::Cancelled);
                }
            }
            account.end_step();

            // equity = initial + realised + unrealised − fees
            let equity = account.equity();
            let books = account.initial_capital() + account.realized_pnl() + account.unrealized_pnl() - account.fees();
            prop_assert!((equity - books).abs() <= 1e-7 * equity.abs().max(1.0), "equity {} != {}", equity, books);
            // Cash, position, fees and realised P&L agree with the fills.
            let fills = &account.ledger().fills;
            let signed = |f: &engine_core::execution::FillRecord| if f.side == OrderSide::Buy { f.quantity } else { -f.quantity };
            let cash = config.initial_capital - fills.iter().map(|f| signed(f) * f.price + f.fee).sum::<f64>();
            prop_assert!((cash - account.cash()).abs() <= 1e-7 * cash.abs().max(1.0), "cash {} != {}", account.cash(), cash);
            let position: f64 = fills.iter().map(signed).sum();
            prop_assert!((position - account.position("X")).abs() <= 1e-9 * position.abs().max(1.0));
            let fees: f64 = fills.iter().map(|f| f.fee).sum();
            prop_assert!((fees - account.fees()).abs() <= 1e-9 * fees.max(1.0));
            let realized: f64 = fills.iter().map(|f| f.realized_pnl).sum();
            prop_assert!((realized - account.realized_pnl()).abs() <= 1e-7 * realized.abs().max(1.0));
            // Exits never flip a position: every closing fill is at most what was held.
            prop_assert!(fills.iter().all(|f| f.quantity > 0.0 && f.price > 0.0 && f.fee >= 0.0));
        }
        // Closed trades add up to the realised P&L of closed round trips.
        let trades = &account.ledger().trades;
        let traded: f64 = trades.iter().map(|t| t.gross_pnl).sum();
        let open_realized = account.realized_pnl() - traded;
        prop_assert!(open_realized.abs() <= 1e-6 * account.realized_pnl().abs().max(1.0) || account.position("X") != 0.0,
            "realised {} vs trades {}", account.realized_pnl(), traded);
    }
}

//! The risk manager under random configurations, accounts and entries.
//!
//! Each case is a run of a few bars: per bar, maybe the kill switch is
//! engaged, then `on_account` and `approve_entry` with a random snapshot and
//! intent. Everything is checked against arithmetic written here, apart
//! from the code: every approval breaks no configured limit; every refusal
//! names a rule that really is broken; an entry that clearly breaks nothing
//! is approved; halts and their actions follow the documented rules.

use engine_core::execution::records::AccountSnapshot;
use engine_core::risk::{
    EntryIntent, KillSwitchConfig, RefusalCode, RiskAction, RiskConfig, RiskManager, Sizing, LOT_TOLERANCE,
};
use engine_core::strategy::Side;
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
/// 2024-01-01 00:00 UTC.
const T0: i64 = 1_704_067_200_000;

/// What refusal arithmetic may be off by: a limit "really is broken" when
/// it is broken by more than rounding noise would allow the other way.
const SLACK: f64 = 1e-9;

#[derive(Debug, Clone)]
struct Intent {
    symbol: String,
    side: Side,
    price: f64,
    stop: Option<f64>,
    requested_quantity: Option<f64>,
    lot_size: Option<f64>,
    fee_rate: f64,
}

impl Intent {
    fn as_entry(&self) -> EntryIntent<'_> {
        EntryIntent {
            symbol: &self.symbol,
            side: self.side,
            price: self.price,
            stop: self.stop,
            requested_quantity: self.requested_quantity,
            lot_size: self.lot_size,
            fee_rate: self.fee_rate,
        }
    }
}

#[derive(Debug, Clone)]
struct Step {
    /// Market time advance since the previous bar.
    advance: i64,
    engage_kill_switch: bool,
    account: AccountSnapshot,
    intent: Intent,
}

fn sizing() -> impl Strategy<Value = Sizing> {
    prop_oneof![
        (0.001..20.0f64).prop_map(|quantity| Sizing::FixedQuantity { quantity }),
        (10.0..50_000.0f64).prop_map(|notional| Sizing::FixedNotional { notional }),
        (0.5..=100.0f64).prop_map(|percent| Sizing::PercentEquity { percent }),
        (0.1..10.0f64).prop_map(|percent| Sizing::RiskPerTrade { percent }),
    ]
}

fn config() -> impl Strategy<Value = RiskConfig> {
    (
        sizing(),
        prop::option::of(10.0..60_000.0f64),
        prop::option::of(1.0..=100.0f64),
        prop::option::of(1usize..6),
        prop::option::of(0.0..25_000.0f64),
        prop::option::of(0.5..20.0f64),
        prop::option::of(1.0..50.0f64),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(sizing, notional, pct, open, reserve, daily, drawdown, flatten_on_halt, kill_flatten)| {
            RiskConfig {
                sizing,
                max_position_notional: notional,
                max_position_pct_equity: pct,
                max_open_positions: open,
                min_cash_reserve: reserve,
                daily_loss_limit_pct: daily,
                max_drawdown_pct: drawdown,
                flatten_on_halt,
                kill_switch: KillSwitchConfig { file: None, flatten: kill_flatten },
            }
        })
}

fn account() -> impl Strategy<Value = AccountSnapshot> {
    (
        prop_oneof![60 => -2_000.0..40_000.0f64, 1 => Just(f64::NAN), 1 => Just(0.0)],
        prop_oneof![60 => -2_000.0..40_000.0f64, 1 => Just(f64::INFINITY)],
        prop_oneof![Just(0.0), 0.0..0.2f64],
        -0.08..0.12f64,
        0usize..4,
    )
        .prop_map(|(equity, cash, above_peak, day_change, open_positions)| {
            let base = if equity.is_finite() { equity.max(1.0) } else { 10_000.0 };
            AccountSnapshot {
                time: 0, // set by the run
                initial_capital: 10_000.0,
                cash,
                equity,
                realized_pnl: 0.0,
                unrealized_pnl: 0.0,
                fees: 0.0,
                open_positions,
                gross_exposure: 0.0,
                peak_equity: base * (1.0 + above_peak),
                day_start_equity: base * (1.0 + day_change),
            }
        })
}

fn intent() -> impl Strategy<Value = Intent> {
    let price = prop_oneof![
        90 => (-1.0..4.0f64).prop_map(|e| 10f64.powf(e)),
        1 => Just(0.0),
        1 => Just(-5.0),
        1 => Just(f64::NAN),
    ];
    (
        price,
        prop_oneof![Just(Side::Long), Just(Side::Short)],
        // Stop distance as a fraction of price: negative is the wrong side.
        prop::option::of(prop_oneof![30 => 0.001..0.2f64, 1 => -0.05..0.0f64, 1 => Just(0.0), 1 => Just(f64::NAN)]),
        prop::option::weighted(
            0.4,
            prop_oneof![
                20 => 0.0..30.0f64,
                // Decimal quantities such as 0.3, which are not exact
                // multiples of 0.1 in binary floating point.
                20 => (1u32..3_000, 0i32..4).prop_map(|(k, d)| f64::from(k) / 10f64.powi(d)),
                1 => Just(0.0),
                1 => Just(-1.0),
            ],
        ),
        prop::option::of(prop_oneof![Just(0.001), Just(0.01), Just(0.1), Just(0.25), Just(1.0), Just(5.0)]),
        prop_oneof![30 => Just(0.0), 30 => Just(0.001), 15 => Just(0.0075), 1 => Just(-0.001), 1 => Just(f64::NAN)],
        prop_oneof![90 => Just("BTCUSDT".to_string()), 1 => Just(String::new())],
    )
        .prop_map(|(price, side, stop_distance, requested_quantity, lot_size, fee_rate, symbol)| {
            let stop = stop_distance.map(|d| match side {
                Side::Long => price * (1.0 - d),
                Side::Short => price * (1.0 + d),
            });
            Intent { symbol, side, price, stop, requested_quantity, lot_size, fee_rate }
        })
}

fn step() -> impl Strategy<Value = Step> {
    (prop_oneof![Just(0i64), 1i64..DAY / 2, DAY / 2..2 * DAY], prop::bool::weighted(0.02), account(), intent())
        .prop_map(|(advance, engage_kill_switch, account, intent)| Step {
            advance,
            engage_kill_switch,
            account,
            intent,
        })
}

/// A configuration, the first bar's time of day, the bars, and which
/// bar's entry (index modulo their number) has which limit pulled onto its
/// exact boundary (see [`on_boundary`]).
fn run() -> impl Strategy<Value = (RiskConfig, i64, Vec<Step>, usize, u8)> {
    (config(), 0..DAY, prop::collection::vec(step(), 1..6), 0usize..6, 0u8..4)
}

/// An intent risk can size and check, by the documented rules.
fn valid(intent: &Intent, account: &AccountSnapshot) -> bool {
    let price_ok = intent.price.is_finite() && intent.price > 0.0;
    let stop_ok = none_or(intent.stop, |s| {
        s.is_finite()
            && s > 0.0
            && match intent.side {
                Side::Long => s < intent.price,
                Side::Short => s > intent.price,
            }
    });
    !intent.symbol.is_empty()
        && price_ok
        && stop_ok
        && none_or(intent.requested_quantity, |q| q.is_finite() && q >= 0.0)
        && none_or(intent.lot_size, |l| l.is_finite() && l > 0.0)
        && intent.fee_rate.is_finite()
        && (0.0..1.0).contains(&intent.fee_rate)
        && account.equity.is_finite()
        && account.cash.is_finite()
}

/// `Option::is_none_or`, which is newer than the MSRV.
fn none_or(value: Option<f64>, check: impl FnOnce(f64) -> bool) -> bool {
    value.map_or(true, check)
}

/// The quantity the documented sizing gives, rounded down to the lot;
/// `None` when the mode needs a stop and there is none.
fn expected_quantity(config: &RiskConfig, intent: &Intent, equity: f64) -> Option<f64> {
    let raw = match (intent.requested_quantity, config.sizing) {
        (Some(q), _) => q,
        (None, Sizing::FixedQuantity { quantity }) => quantity,
        (None, Sizing::FixedNotional { notional }) => notional / intent.price,
        (None, Sizing::PercentEquity { percent }) => equity * percent / 100.0 / intent.price,
        (None, Sizing::RiskPerTrade { percent }) => equity * percent / 100.0 / (intent.price - intent.stop?).abs(),
    };
    Some(match intent.lot_size {
        Some(lot) if raw > 0.0 => (raw / lot * (1.0 + LOT_TOLERANCE)).floor() * lot,
        _ => raw,
    })
}

/// How far `value` is above `limit`, relative (> 0: above).
fn excess(value: f64, limit: f64) -> f64 {
    (value - limit) / value.abs().max(limit.abs()).max(1.0)
}

/// The limits an entry of `quantity` breaks by more than `threshold`
/// (relative): `-SLACK` for "broken, give or take rounding", `0.0` for
/// "broken at all", `SLACK` for "clearly broken".
fn broken_limits(
    config: &RiskConfig,
    account: &AccountSnapshot,
    intent: &Intent,
    quantity: f64,
    threshold: f64,
) -> Vec<RefusalCode> {
    let notional = quantity * intent.price;
    let fee = notional * intent.fee_rate;
    let mut broken = Vec::new();
    if config.max_open_positions.is_some_and(|max| account.open_positions >= max) {
        broken.push(RefusalCode::MaxOpenPositions);
    }
    if config.max_position_notional.is_some_and(|max| excess(notional, max) > threshold) {
        broken.push(RefusalCode::MaxPositionNotional);
    }
    if config.max_position_pct_equity.is_some_and(|pct| excess(notional, account.equity * pct / 100.0) > threshold) {
        broken.push(RefusalCode::MaxPositionPctEquity);
    }
    if config.min_cash_reserve.is_some_and(|reserve| excess(reserve, account.cash - notional - fee) > threshold) {
        broken.push(RefusalCode::MinCashReserve);
    }
    broken
}

/// Pulls limits onto the exact boundary of the entry, so that `<` versus
/// `<=` mistakes show: `which` 1 = notional, 2 = cash reserve, 3 = open
/// positions.
fn on_boundary(config: &mut RiskConfig, account: &AccountSnapshot, intent: &Intent, which: u8) {
    if !valid(intent, account) {
        return;
    }
    let Some(q) = expected_quantity(config, intent, account.equity) else { return };
    let notional = q * intent.price;
    if !(q > 0.0 && notional.is_finite()) {
        return;
    }
    match which {
        1 => config.max_position_notional = Some(notional),
        2 => config.min_cash_reserve = Some((account.cash - notional - notional * intent.fee_rate).max(0.0)),
        3 => config.max_open_positions = Some(account.open_positions.max(1)),
        _ => {}
    }
}

#[derive(Debug, Default)]
struct Halts {
    kill: bool,
    drawdown: bool,
    /// The UTC day a daily-loss halt holds for.
    daily: Option<i64>,
}

impl Halts {
    fn code(&self, today: i64) -> Option<RefusalCode> {
        if self.kill {
            Some(RefusalCode::KillSwitch)
        } else if self.drawdown {
            Some(RefusalCode::MaxDrawdown)
        } else if self.daily == Some(today) {
            Some(RefusalCode::DailyLossLimit)
        } else {
            None
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 25_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn risk_approvals_break_no_limit_and_refusals_name_a_broken_one((config, start, steps, pulled, which) in run()) {
        check_run(config, start, &steps, pulled, which)?;
    }
}

/// One run: see the top of the file.
fn check_run(
    mut config: RiskConfig,
    start: i64,
    steps: &[Step],
    pulled: usize,
    which: u8,
) -> Result<(), TestCaseError> {
    let pulled = &steps[pulled % steps.len()];
    on_boundary(&mut config, &pulled.account, &pulled.intent, which);
    prop_assert!(config.validate().is_ok(), "{:?}", config.validate());
    let mut m = RiskManager::new(config.clone());
    let handle = m.kill_switch_handle();
    let mut model = Halts::default();
    let mut time = T0 + start;
    for (i, step) in steps.iter().enumerate() {
        time += step.advance;
        let today = time.div_euclid(DAY);
        let account = AccountSnapshot { time, ..step.account.clone() };
        let intent = &step.intent;

        // Halts and their actions, by the documented rules.
        let mut new_halts = Vec::new();
        if step.engage_kill_switch && !model.kill {
            handle.engage(format!("bar {i}"));
            model.kill = true;
            new_halts.push((RefusalCode::KillSwitch, config.kill_switch.flatten));
        }
        if !model.drawdown {
            if let Some(pct) = config.max_drawdown_pct {
                if account.equity < account.peak_equity * (1.0 - pct / 100.0) {
                    model.drawdown = true;
                    new_halts.push((RefusalCode::MaxDrawdown, config.flatten_on_halt));
                }
            }
        }
        if model.daily.is_some_and(|day| today > day) {
            model.daily = None;
        }
        if model.daily.is_none() {
            if let Some(pct) = config.daily_loss_limit_pct {
                if account.equity < account.day_start_equity * (1.0 - pct / 100.0) {
                    model.daily = Some(today);
                    new_halts.push((RefusalCode::DailyLossLimit, config.flatten_on_halt));
                }
            }
        }
        let expected_actions: Vec<(&str, RefusalCode)> = new_halts
            .into_iter()
            .flat_map(|(code, flatten)| std::iter::once(("cancel", code)).chain(flatten.then_some(("flatten", code))))
            .collect();
        let actions: Vec<(&str, RefusalCode)> = m
            .on_account(&account)
            .iter()
            .map(|a| match a {
                RiskAction::CancelWorkingOrders { reason } => ("cancel", reason.code),
                RiskAction::Flatten { reason } => ("flatten", reason.code),
            })
            .collect();
        prop_assert_eq!(&actions, &expected_actions, "bar {}", i);
        let halt = model.code(today);
        prop_assert_eq!(m.halted().map(|r| r.code), halt, "bar {}", i);

        let before = m.refusals().clone();
        let decision = m.approve_entry(&intent.as_entry(), &account);
        let after = m.refusals().clone();
        let expected = if valid(intent, &account) { expected_quantity(&config, intent, account.equity) } else { None };

        match &decision {
            Ok(approved) => {
                prop_assert_eq!(&before, &after, "an approval counts nothing");
                prop_assert_eq!(halt, None, "approved while halted");
                prop_assert!(valid(intent, &account), "approved an invalid intent {:?} / {:?}", intent, account);
                let q = approved.quantity();
                prop_assert!(q > 0.0 && q.is_finite(), "quantity {}", q);
                if let Some(lot) = intent.lot_size {
                    let lots = q / lot;
                    prop_assert!(
                        (lots - lots.round()).abs() <= 1e-9 * lots.max(1.0),
                        "{} is not a multiple of {}",
                        q,
                        lot
                    );
                }
                let q_expected = expected.expect("a valid intent sizes");
                prop_assert!(
                    (q - q_expected).abs() <= 1e-9 * q_expected.abs(),
                    "quantity {} expected {}",
                    q,
                    q_expected
                );
                // Independent arithmetic on the approved quantity itself: exact.
                let notional = q * intent.price;
                prop_assert_eq!(approved.notional(), notional);
                let fee = notional * intent.fee_rate;
                if let Some(max) = config.max_position_notional {
                    prop_assert!(notional <= max, "notional {} > max {}", notional, max);
                }
                if let Some(pct) = config.max_position_pct_equity {
                    prop_assert!(
                        notional <= account.equity * pct / 100.0,
                        "notional {} > {} % of {}",
                        notional,
                        pct,
                        account.equity
                    );
                }
                if let Some(max) = config.max_open_positions {
                    prop_assert!(account.open_positions < max, "{} open, max {}", account.open_positions, max);
                }
                if let Some(reserve) = config.min_cash_reserve {
                    prop_assert!(
                        account.cash - notional - fee >= reserve,
                        "cash {} - {} - {} < {}",
                        account.cash,
                        notional,
                        fee,
                        reserve
                    );
                }
            }
            Err(refusal) => {
                let code = refusal.code;
                prop_assert_eq!(after.get(&code).copied().unwrap_or(0), before.get(&code).copied().unwrap_or(0) + 1);
                prop_assert_eq!(after.values().sum::<u64>(), before.values().sum::<u64>() + 1);
                prop_assert!(refusal.to_string().starts_with(code.as_str()), "{}", refusal);
                match (halt, code) {
                    (Some(halt), code) => prop_assert_eq!(code, halt, "refused while halted: {}", refusal),
                    (None, RefusalCode::KillSwitch | RefusalCode::MaxDrawdown | RefusalCode::DailyLossLimit) => {
                        prop_assert!(false, "halt refusal {} without a halt", refusal);
                    }
                    (None, RefusalCode::InvalidIntent) => {
                        let overflow = expected.is_some_and(|q| !(q * intent.price).is_finite());
                        prop_assert!(!valid(intent, &account) || overflow, "{} for a valid intent", refusal);
                    }
                    (None, RefusalCode::NoStop) => {
                        prop_assert!(valid(intent, &account) && expected.is_none(), "{}", refusal);
                    }
                    (None, RefusalCode::SizeTooSmall) => {
                        prop_assert!(
                            expected.is_some_and(|q| q <= 0.0),
                            "{} but expected quantity {:?}",
                            refusal,
                            expected
                        );
                    }
                    (None, RefusalCode::MaxOpenPositions) => {
                        let max = config.max_open_positions;
                        prop_assert!(
                            max.is_some_and(|max| account.open_positions >= max),
                            "{} with max {:?}",
                            refusal,
                            max
                        );
                    }
                    (None, limit) => {
                        let q = expected.expect("a sized intent");
                        let broken = broken_limits(&config, &account, intent, q, -SLACK);
                        prop_assert!(broken.contains(&limit), "{} but broken are {:?}", refusal, broken);
                    }
                }
            }
        }
        // Conversely: a valid entry that breaks nothing is approved. Without
        // a lot the quantity is the same float here and in risk, so "nothing"
        // is exact (an entry right on a limit passes); with a lot, risk's
        // decimal snapping may move it by an ulp: "clearly nothing".
        if let (None, Some(q)) = (halt, expected) {
            let threshold = if intent.lot_size.is_some() { SLACK } else { 0.0 };
            let nothing_broken = q > 0.0
                && (q * intent.price).is_finite()
                && broken_limits(&config, &account, intent, q, -threshold).is_empty();
            if nothing_broken {
                prop_assert!(decision.is_ok(), "refused {:?} with nothing broken", decision);
            }
        }
    }
    Ok(())
}

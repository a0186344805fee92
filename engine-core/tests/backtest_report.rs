//! Backtest results: metrics against hand-computed series, their edge
//! cases, the output files (exact numbers, atomic writes, errors naming the
//! path) and the HTML report (self-contained, escaped, small for a run of a
//! million bars).

use std::collections::BTreeMap;
use std::path::Path;

use engine_core::backtest::{
    compute_metrics, render_report, render_report_with, summary_table, synthetic_source, write_outputs, DataInfo,
    Metrics, OutputError, ReportLimits, RunOutputs, RunStatus, RunSummary, StrategyInfo,
};
use engine_core::execution::records::{
    EquityPoint, FillRecord, Liquidity, OrderKind, OrderPurpose, OrderRecord, OrderSide, OrderStatus, TimeInForce,
    TradeRecord,
};
use engine_core::strategy::Side;
use engine_core::tolerance::Tolerance;

const DAY: i64 = 86_400_000;
/// A quarter of a 365.25-day year: 91.3125 days.
const QUARTER: i64 = 7_889_400_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

const TOL: Tolerance = Tolerance::new(1e-9, 1e-12);

#[track_caller]
fn assert_close(actual: Option<f64>, expected: f64) {
    let a = actual.unwrap_or_else(|| panic!("expected {expected}, got None"));
    assert!(TOL.eq(a, expected), "expected {expected}, got {a}");
}

fn point(time: i64, equity: f64, gross_exposure: f64) -> EquityPoint {
    EquityPoint {
        time,
        cash: equity - gross_exposure,
        equity,
        realized_pnl: 0.0,
        unrealized_pnl: 0.0,
        fees: 0.0,
        gross_exposure,
    }
}

fn curve(times: &[i64], values: &[f64]) -> Vec<EquityPoint> {
    times.iter().zip(values).map(|(&t, &v)| point(t, v, 0.0)).collect()
}

fn trade(id: u64, symbol: &str, side: Side, entry: (i64, f64), exit: (i64, f64), net_pnl: f64) -> TradeRecord {
    TradeRecord {
        id,
        symbol: symbol.into(),
        side,
        entry_time: entry.0,
        entry_price: entry.1,
        exit_time: exit.0,
        exit_price: exit.1,
        quantity: 1.0,
        gross_pnl: net_pnl + 0.5,
        fees: 0.5,
        net_pnl,
        return_pct: net_pnl / entry.1 * 100.0,
        bars_held: ((exit.0 - entry.0) / 60_000) as u64,
        exit_reason: "exit".into(),
    }
}

fn trades_with_pnl(pnl: &[f64]) -> Vec<TradeRecord> {
    pnl.iter()
        .enumerate()
        .map(|(i, &p)| trade(i as u64 + 1, "BTCUSDT", Side::Long, (0, 100.0), (1, 100.0), p))
        .collect()
}

fn fill(time: i64, side: OrderSide, quantity: f64, price: f64, fee: f64) -> FillRecord {
    FillRecord {
        order_id: 1,
        symbol: "BTCUSDT".into(),
        time,
        side,
        purpose: OrderPurpose::Entry,
        quantity,
        price,
        fee,
        liquidity: Liquidity::Taker,
        realized_pnl: 0.0,
    }
}

fn order(id: u64, symbol: &str, kind: OrderKind, status: OrderStatus, reason: &str) -> OrderRecord {
    OrderRecord {
        id,
        symbol: symbol.into(),
        submitted: T0,
        updated: T0 + 60_000,
        side: OrderSide::Buy,
        kind,
        time_in_force: TimeInForce::Gtc,
        post_only: false,
        purpose: OrderPurpose::Entry,
        quantity: 1.5,
        filled_quantity: if status == OrderStatus::Filled { 1.5 } else { 0.0 },
        average_price: (status == OrderStatus::Filled).then_some(100.25),
        fees: 0.1,
        status,
        reason: reason.into(),
    }
}

fn summary(metrics: Metrics) -> RunSummary {
    RunSummary {
        engine_version: "0.1.0".into(),
        status: RunStatus::Completed,
        errors: Vec::new(),
        started_at: "2026-01-02T03:04:05Z".into(),
        finished_at: "2026-01-02T03:04:09Z".into(),
        metrics,
        config: serde_json::json!({"initial_capital": 1000.0, "fees": {"taker_bps": 5}}),
        strategies: vec![StrategyInfo {
            symbol: "BTCUSDT".into(),
            file: "lua-strategies/ema_cross.lua".into(),
            sha256: "ab".repeat(32),
            generation: 2,
        }],
        data: vec![
            DataInfo {
                symbol: "BTCUSDT".into(),
                source: "https://example.invalid/BTCUSDT-1m.csv".into(),
                sha256: Some("cd".repeat(32)),
                bars: 3,
            },
            DataInfo { symbol: "ETH<b>&".into(), source: synthetic_source(7, 3), sha256: None, bars: 3 },
        ],
        refusals: BTreeMap::from([("max_positions".to_string(), 3), ("daily_loss".to_string(), 1)]),
        counts: serde_json::json!({"bars": 6, "orders": 3, "fills": 2}),
    }
}

/// A small run whose numbers do not survive a two-decimal rounding.
struct SmallRun {
    summary: RunSummary,
    equity: Vec<EquityPoint>,
    trades: Vec<TradeRecord>,
    orders: Vec<OrderRecord>,
    prices: BTreeMap<String, Vec<(i64, f64)>>,
}

impl SmallRun {
    fn new() -> SmallRun {
        let mut equity = curve(&[T0, T0 + 60_000, T0 + 120_000], &[1000.0, 0.1 + 0.2 + 1000.0, 999.123456789012]);
        equity[1].gross_exposure = 1e-7;
        equity[2].cash = 1.0 / 3.0;
        let mut evil = trade(2, "ETH<b>&", Side::Short, (T0 + 60_000, 2000.5), (T0 + 120_000, 1999.75), -0.1);
        evil.exit_reason = "stop_loss \"quoted\", <i>".into();
        let trades =
            vec![trade(1, "BTCUSDT", Side::Long, (T0, 100.0), (T0 + 60_000, 100.3), 0.30000000000000004), evil];
        let orders = vec![
            order(1, "BTCUSDT", OrderKind::Market, OrderStatus::Filled, "ema cross"),
            order(2, "BTCUSDT", OrderKind::StopLimit { trigger: 99.5, limit: 99.25 }, OrderStatus::Cancelled, "a, b"),
            order(3, "ETH<b>&", OrderKind::Limit { price: 2000.5 }, OrderStatus::Rejected, "max_positions"),
        ];
        let prices = BTreeMap::from([
            ("BTCUSDT".to_string(), vec![(T0, 100.0), (T0 + 60_000, 100.5), (T0 + 120_000, 100.25)]),
            ("ETH<b>&".to_string(), vec![(T0, 2001.0), (T0 + 60_000, 2000.0), (T0 + 120_000, 1999.5)]),
        ]);
        let metrics = compute_metrics(1000.0, &equity, &trades, &[]);
        SmallRun { summary: summary(metrics), equity, trades, orders, prices }
    }

    fn outputs(&self) -> RunOutputs<'_> {
        RunOutputs {
            summary: &self.summary,
            equity: &self.equity,
            trades: &self.trades,
            orders: &self.orders,
            fills: &[],
            prices: &self.prices,
        }
    }
}

/// `compute_metrics` against hand-computed series, its edge cases, and
/// the terminal table. (Modules are named `backtest_*` so that
/// `cargo test -p engine-core --test backtest_report --lib backtest` runs
/// them with the library's unit tests.)
mod backtest_metrics {
    use super::*;

    /// Quarterly points, so a year is exactly four periods and CAGR equals
    /// the total return:
    ///
    /// equity  100 → 110 → 99 → 118.8 → 130.68 (initial capital 100)
    /// returns      +0.1  -0.1  +0.2    +0.1
    /// mean = 0.3 / 4 = 0.075
    /// deviations 0.025, -0.175, 0.125, 0.025; squares sum to
    ///   0.000625 + 0.030625 + 0.015625 + 0.000625 = 0.0475
    /// sample std = sqrt(0.0475 / 3) = 0.1258306
    /// periods per year = 365.25 d / 91.3125 d = 4, sqrt = 2
    /// annualised volatility = 0.1258306 × 2 = 25.16611 %
    /// Sharpe = 0.075 / 0.1258306 × 2 = 1.192079
    /// downside deviation = sqrt((-0.1)² / 4) = 0.05; Sortino = 0.075 / 0.05 × 2 = 3
    /// total return = 130.68 / 100 - 1 = 30.68 %; span 4 quarters = 1 year, so
    ///   CAGR = 30.68 %
    /// max drawdown: peak 110, trough 99: 11 / 110 = 10 %, from t1 until 118.8
    ///   at t3: 2 quarters = 15,778,800,000 ms
    /// Calmar = 30.68 / 10 = 3.068
    #[test]
    fn golden_quarterly_curve() {
        let times: Vec<i64> = (0..5).map(|k| T0 + k * QUARTER).collect();
        let mut equity = curve(&times, &[100.0, 110.0, 99.0, 118.8, 130.68]);
        equity[1].gross_exposure = 50.0;
        equity[2].gross_exposure = 40.0;
        let m = compute_metrics(100.0, &equity, &[], &[]);

        assert_eq!((m.start, m.end, m.points), (Some(T0), Some(T0 + 4 * QUARTER), 5));
        assert_eq!(m.final_equity, 130.68);
        assert_close(m.periods_per_year, 4.0);
        assert_close(m.total_return_pct, 30.68);
        assert_close(m.cagr_pct, 30.68);
        let std = (0.0475f64 / 3.0).sqrt();
        assert_close(m.annualized_volatility_pct, std * 2.0 * 100.0);
        assert_close(m.annualized_volatility_pct, 25.166114784235834);
        assert_close(m.sharpe, 0.075 / std * 2.0);
        assert_close(m.sharpe, 1.1920791213585396);
        assert_close(m.sortino, 3.0);
        assert_close(m.max_drawdown_pct, 10.0);
        assert_eq!(m.max_drawdown_duration_ms, Some(2 * QUARTER));
        assert_close(m.calmar, 3.068);
        assert_close(m.exposure_pct, 40.0); // 2 of 5 points hold a position
    }

    /// Daily points with a missing day, ending in an unrecovered drawdown:
    ///
    /// days    0    1    2   4    5    6      (spacings 1, 1, 2, 1, 1: median 1 day)
    /// equity  100  120  90  96   108  102
    /// returns      1/5  -1/4  1/15  1/8  -1/18
    /// mean = (72 - 90 + 24 + 45 - 20) / 360 / 5 = 31/1800 = 0.0172222
    /// sample variance = Σ(r - mean)² / 4 = 5029/162000 = 0.0310432, std 0.1761908
    /// periods per year = 365.25; sqrt = 19.11151
    /// Sharpe = 0.0172222 / 0.1761908 × 19.11151 = 1.868104
    /// volatility = 0.1761908 × 19.11151 × 100 = 336.7274 %
    /// downside = sqrt((1/16 + 1/324) / 5) = sqrt(17/1296) = sqrt(17)/36 = 0.1145307
    /// Sortino = 0.0172222 / 0.1145307 × 19.11151 = 2.873838
    /// total return 102/100 - 1 = 2 %; 6 days: CAGR = 1.02^(365.25/6) - 1 = 233.8378 %
    /// max drawdown: peak 120 (day 1), trough 90: 25 %; not recovered by day 6,
    ///   so it lasts 5 days
    /// Calmar = 233.8378 / 25 = 9.353510
    #[test]
    fn golden_daily_curve_with_a_gap_and_an_unrecovered_drawdown() {
        let times: Vec<i64> = [0, 1, 2, 4, 5, 6].iter().map(|d| T0 + d * DAY).collect();
        let equity = curve(&times, &[100.0, 120.0, 90.0, 96.0, 108.0, 102.0]);
        let m = compute_metrics(100.0, &equity, &[], &[]);

        let r = [1.0 / 5.0, -1.0 / 4.0, 1.0 / 15.0, 1.0 / 8.0, -1.0 / 18.0];
        let mean = 31.0 / 1800.0;
        assert!(TOL.eq(r.iter().sum::<f64>() / 5.0, mean));
        let std = (5029.0f64 / 162_000.0).sqrt();
        assert!(TOL.eq((r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 4.0).sqrt(), std));
        let k = 365.25f64.sqrt();

        assert_close(m.periods_per_year, 365.25);
        assert_close(m.total_return_pct, 2.0);
        assert_close(m.cagr_pct, (1.02f64.powf(365.25 / 6.0) - 1.0) * 100.0);
        assert_close(m.cagr_pct, 233.83775872585758);
        assert_close(m.sharpe, mean / std * k);
        assert_close(m.sharpe, 1.8681037425052123);
        assert_close(m.annualized_volatility_pct, 336.72737351464923);
        assert_close(m.sortino, mean / (17.0f64.sqrt() / 36.0) * k);
        assert_close(m.sortino, 2.8738383842560684);
        assert_close(m.max_drawdown_pct, 25.0);
        assert_eq!(m.max_drawdown_duration_ms, Some(5 * DAY));
        assert_close(m.calmar, 9.353510349034304);
    }

    /// net P&L  +30, -10, +20, -20, 0 (break-even: neither win nor loss)
    /// win rate 2/5 = 40 %; profit factor (30 + 20) / (10 + 20) = 5/3
    /// expectancy (30 - 10 + 20 - 20 + 0) / 5 = 4
    /// average win 25, average loss -15, largest win 30, largest loss -20
    /// fills: 2 × 100 + 2 × 110 + 1 × 50 (short sell, |notional|) = 470 notional,
    ///   fees 0.2 + 0.22 + 0.05 = 0.47; mean equity (1000 + 1100) / 2 = 1050,
    ///   turnover 470 / 1050 = 0.447619
    #[test]
    fn golden_trade_statistics_fees_and_turnover() {
        let equity = curve(&[T0, T0 + DAY], &[1000.0, 1100.0]);
        let trades = trades_with_pnl(&[30.0, -10.0, 20.0, -20.0, 0.0]);
        let fills = [
            fill(T0, OrderSide::Buy, 2.0, 100.0, 0.2),
            fill(T0, OrderSide::Sell, 2.0, 110.0, 0.22),
            fill(T0, OrderSide::Sell, -1.0, 50.0, 0.05),
        ];
        let m = compute_metrics(1000.0, &equity, &trades, &fills);
        assert_eq!((m.trades, m.wins, m.losses), (5, 2, 2));
        assert_close(m.win_rate_pct, 40.0);
        assert_close(m.profit_factor, 5.0 / 3.0);
        assert_close(m.expectancy, 4.0);
        assert_close(m.average_win, 25.0);
        assert_close(m.average_loss, -15.0);
        assert_close(m.largest_win, 30.0);
        assert_close(m.largest_loss, -20.0);
        assert!(TOL.eq(m.fees, 0.47), "{}", m.fees);
        assert_close(m.turnover, 470.0 / 1050.0);
        assert_close(m.exposure_pct, 0.0);
    }

    #[test]
    fn empty_equity() {
        let m = compute_metrics(10_000.0, &[], &[], &[]);
        assert_eq!((m.start, m.end, m.points, m.trades), (None, None, 0, 0));
        assert_eq!(m.final_equity, 10_000.0, "the account never moved");
        for (name, v) in undefined_curve_metrics(&m) {
            assert_eq!(v, None, "{name}");
        }
        assert_eq!(m.max_drawdown_duration_ms, None);
        assert_eq!(m.exposure_pct, None);
        assert_eq!(m.turnover, None);
        assert_eq!(m.fees, 0.0);
        assert_no_trade_statistics(&m);
    }

    fn undefined_curve_metrics(m: &Metrics) -> [(&'static str, Option<f64>); 8] {
        [
            ("total_return_pct", m.total_return_pct),
            ("cagr_pct", m.cagr_pct),
            ("periods_per_year", m.periods_per_year),
            ("annualized_volatility_pct", m.annualized_volatility_pct),
            ("sharpe", m.sharpe),
            ("sortino", m.sortino),
            ("calmar", m.calmar),
            ("max_drawdown_pct", m.max_drawdown_pct),
        ]
    }

    #[track_caller]
    fn assert_no_trade_statistics(m: &Metrics) {
        assert_eq!((m.trades, m.wins, m.losses), (0, 0, 0));
        assert_eq!(m.win_rate_pct, None);
        assert_eq!(m.profit_factor, None);
        assert_eq!(m.expectancy, None);
        assert_eq!((m.average_win, m.average_loss, m.largest_win, m.largest_loss), (None, None, None, None));
    }

    #[test]
    fn one_point() {
        // 100 → 105 on the only point: the total return is defined, nothing
        // that needs a second point or a span of a day is.
        let m = compute_metrics(100.0, &[point(T0, 105.0, 10.0)], &[], &[]);
        assert_close(m.total_return_pct, 5.0);
        assert_eq!(m.cagr_pct, None, "a span of 0 is under a day");
        assert_eq!(m.periods_per_year, None);
        assert_eq!(m.annualized_volatility_pct, None);
        assert_eq!((m.sharpe, m.sortino, m.calmar), (None, None, None));
        assert_eq!(m.max_drawdown_pct, Some(0.0));
        assert_eq!(m.max_drawdown_duration_ms, Some(0));
        assert_close(m.exposure_pct, 100.0);
        assert_close(m.turnover, 0.0);
    }

    #[test]
    fn flat_equity() {
        // Every return is 0: volatility 0, and the ratios that divide by it
        // (or by the drawdown, which is 0 too) are undefined.
        let times: Vec<i64> = (0..10).map(|k| T0 + k * DAY).collect();
        let m = compute_metrics(500.0, &curve(&times, &[500.0; 10]), &[], &[]);
        assert_eq!(m.total_return_pct, Some(0.0));
        assert_eq!(m.cagr_pct, Some(0.0));
        assert_eq!(m.annualized_volatility_pct, Some(0.0));
        assert_eq!((m.sharpe, m.sortino, m.calmar), (None, None, None));
        assert_eq!((m.max_drawdown_pct, m.max_drawdown_duration_ms), (Some(0.0), Some(0)));
        assert_no_trade_statistics(&m);
    }

    #[test]
    fn rising_curve_has_no_sortino_or_calmar() {
        // 100, 101, 103: no losing period and no drawdown.
        let m = compute_metrics(100.0, &curve(&[T0, T0 + DAY, T0 + 2 * DAY], &[100.0, 101.0, 103.0]), &[], &[]);
        assert!(m.sharpe.unwrap() > 0.0);
        assert_eq!((m.sortino, m.calmar), (None, None));
    }

    #[test]
    fn all_wins_and_all_losses() {
        let wins = compute_metrics(100.0, &[], &trades_with_pnl(&[1.0, 3.0]), &[]);
        assert_close(wins.win_rate_pct, 100.0);
        assert_eq!(wins.profit_factor, None, "no losses: undefined, not infinite");
        assert_close(wins.expectancy, 2.0);
        assert_close(wins.average_win, 2.0);
        assert_close(wins.largest_win, 3.0);
        assert_eq!((wins.average_loss, wins.largest_loss), (None, None));

        let losses = compute_metrics(100.0, &[], &trades_with_pnl(&[-1.0, -5.0]), &[]);
        assert_eq!(losses.win_rate_pct, Some(0.0));
        assert_eq!(losses.profit_factor, Some(0.0));
        assert_close(losses.expectancy, -3.0);
        assert_close(losses.average_loss, -3.0);
        assert_close(losses.largest_loss, -5.0);
        assert_eq!((losses.average_win, losses.largest_win), (None, None));
    }

    #[test]
    fn impossible_inputs_give_none_not_nan() {
        // No capital: no return can be expressed relative to it.
        let m = compute_metrics(0.0, &curve(&[T0, T0 + DAY], &[0.0, 10.0]), &[], &[]);
        assert_eq!((m.total_return_pct, m.cagr_pct), (None, None));
        assert_eq!(m.max_drawdown_pct, None, "a curve starting at 0 has no peak to fall from");
        // A total loss: the return after a zero equity is undefined, so are
        // the ratios built on returns; CAGR is -100 %.
        let m = compute_metrics(100.0, &curve(&[T0, T0 + DAY, T0 + 2 * DAY], &[100.0, 0.0, 5.0]), &[], &[]);
        assert_close(m.cagr_pct, -100.0); // 0.05^(365.25 / 2) - 1 rounds to -1
        assert_eq!((m.sharpe, m.sortino, m.annualized_volatility_pct), (None, None, None));
        assert_close(m.max_drawdown_pct, 100.0);
        // Duplicate timestamps: no spacing, no annualisation.
        let m = compute_metrics(100.0, &curve(&[T0, T0, T0], &[100.0, 101.0, 99.0]), &[], &[]);
        assert_eq!((m.periods_per_year, m.sharpe), (None, None));
        // Whatever happens, the JSON has no NaN or infinity in it.
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    }

    #[test]
    fn metrics_serialise_undefined_values_as_null_and_read_back() {
        let m = compute_metrics(100.0, &[], &[], &[]);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["sharpe"], serde_json::Value::Null);
        assert_eq!(json["profit_factor"], serde_json::Value::Null);
        assert_eq!(json["trades"], 0);
        let back: Metrics = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn summary_table_is_aligned_and_says_na() {
        let times: Vec<i64> = (0..5).map(|k| T0 + k * QUARTER).collect();
        let m = compute_metrics(100.0, &curve(&times, &[100.0, 110.0, 99.0, 118.8, 130.68]), &[], &[]);
        let table = summary_table(&m);
        eprintln!("{table}");
        let lines: Vec<&str> = table.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "every line as wide as the header");
        let row = |name: &str| *lines.iter().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}"));
        assert!(row("Sharpe ratio").ends_with(" 1.19"));
        assert!(row("Total return").ends_with(" 30.68 %"));
        assert!(row("Max drawdown ").ends_with(" 10.00 %"));
        assert!(row("Max drawdown duration").ends_with(" 182d 15h 00m"));
        assert!(row("Profit factor").ends_with(" n/a"), "no trades");
        assert!(row("Initial capital").ends_with(" 100.00"));
        assert!(row("Start").ends_with(" 2024-01-01 00:00 UTC"));
    }
}

/// `write_outputs`: every file, exact numbers, atomic replacement, errors
/// naming the path.
mod backtest_outputs {
    use super::*;

    fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let header = reader.headers().unwrap().iter().map(str::to_string).collect();
        let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
        (header, rows)
    }

    #[test]
    fn write_outputs_writes_every_file_with_exact_numbers() {
        let run = SmallRun::new();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("runs").join("first");
        let files = write_outputs(&dir, &run.outputs()).unwrap();
        assert_eq!(files.summary, dir.join("summary.json"));
        for path in files.all() {
            assert!(path.is_file(), "{}", path.display());
        }
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(
            names,
            ["equity.csv", "fills.csv", "orders.csv", "report.html", "summary.json", "trades.csv"],
            "no temp files"
        );

        // summary.json: pretty, and reads back to the same summary.
        let text = std::fs::read_to_string(&files.summary).unwrap();
        assert!(text.starts_with("{\n  \"engine_version\""), "{text}");
        let back: RunSummary = serde_json::from_str(&text).unwrap();
        assert_eq!(back, run.summary);
        assert_eq!(back.metrics.final_equity, 999.123456789012);

        // equity.csv: RFC 3339 and ms times, numbers that parse back to the same bits.
        let (header, rows) = read_csv(&files.equity);
        assert_eq!(
            header,
            [
                "time",
                "time_ms",
                "cash",
                "equity",
                "realized_pnl",
                "unrealized_pnl",
                "fees",
                "gross_exposure",
                "drawdown_pct"
            ]
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0], "2024-01-01T00:00:00.000Z");
        assert_eq!(rows[1][0], "2024-01-01T00:01:00.000Z");
        assert_eq!(rows[1][1], (T0 + 60_000).to_string());
        for (row, p) in rows.iter().zip(&run.equity) {
            let parse = |i: usize| row[i].parse::<f64>().unwrap();
            assert_eq!(
                [parse(2), parse(3), parse(7)].map(f64::to_bits),
                [p.cash, p.equity, p.gross_exposure].map(f64::to_bits),
                "{row:?}"
            );
        }
        assert_eq!(rows[1][3], "1000.3");
        assert_eq!(rows[1][7], "0.0000001");
        assert_eq!(rows[2][2], (1.0f64 / 3.0).to_string());
        assert_eq!(rows[0][8], "0");
        let dd: f64 = rows[2][8].parse().unwrap();
        assert!(TOL.eq(dd, (1000.3 - 999.123456789012) / 1000.3 * 100.0), "{dd}");

        // trades.csv: quoting of awkward text, exact P&L.
        let (header, rows) = read_csv(&files.trades);
        assert_eq!(header.len(), 16);
        assert_eq!(&header[..5], ["id", "symbol", "side", "entry_time", "entry_time_ms"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][12].parse::<f64>().unwrap(), 0.30000000000000004);
        assert_eq!(rows[0][12], "0.30000000000000004");
        assert_eq!((rows[1][1].as_str(), rows[1][2].as_str()), ("ETH<b>&", "short"));
        assert_eq!(rows[1][15], "stop_loss \"quoted\", <i>");
        assert_eq!(rows[1][5], "2000.5");

        // orders.csv: kinds spread over limit and trigger columns, empty cells for none.
        let (header, rows) = read_csv(&files.orders);
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][col("kind")], "market");
        assert_eq!((rows[0][col("limit_price")].as_str(), rows[0][col("trigger_price")].as_str()), ("", ""));
        assert_eq!(rows[0][col("average_price")], "100.25");
        assert_eq!(rows[1][col("kind")], "stop_limit");
        assert_eq!((rows[1][col("limit_price")].as_str(), rows[1][col("trigger_price")].as_str()), ("99.25", "99.5"));
        assert_eq!(rows[1][col("average_price")], "");
        assert_eq!(rows[1][col("reason")], "a, b");
        assert_eq!(rows[2][col("status")], "rejected");
        assert_eq!(rows[2][col("time_in_force")], "gtc");
        assert_eq!(rows[2][col("updated")], "2024-01-01T00:01:00.000Z");

        // Writing again replaces every file, still leaving nothing else behind.
        write_outputs(&dir, &run.outputs()).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 6);
    }

    #[test]
    fn output_errors_name_the_path() {
        let run = SmallRun::new();
        let root = tempfile::tempdir().unwrap();
        // The output "directory" is a file.
        let file = root.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let err = write_outputs(&file, &run.outputs()).unwrap_err();
        assert!(matches!(err, OutputError::CreateDir { .. }), "{err:?}");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
        // A complete earlier run, then a directory where its report was: the
        // rename fails, naming the file, and the old summary is gone, so the
        // directory does not claim a complete run.
        let dir = root.path().join("run");
        write_outputs(&dir, &run.outputs()).unwrap();
        std::fs::remove_file(dir.join("report.html")).unwrap();
        std::fs::create_dir_all(dir.join("report.html").join("inside")).unwrap();
        let err = write_outputs(&dir, &run.outputs()).unwrap_err();
        assert!(err.to_string().contains("report.html"), "{err}");
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "temporary file left: {names:?}");
        assert!(matches!(err, OutputError::Rename { .. }), "{err:?}");
        assert!(!dir.join("summary.json").exists(), "removed first, written last: only after all else succeeded");
    }
}

/// `report.html`: self-contained, escaped, complete, and small for a run
/// of a million points.
mod backtest_report_html {
    use super::*;

    /// Anything that would make a browser fetch something, or run something.
    #[track_caller]
    fn assert_self_contained(html: &str) {
        let lower = html.to_ascii_lowercase();
        for needle in ["http://", "https://", "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"]
        {
            assert!(!lower.contains(needle), "report contains {needle:?}");
        }
    }

    #[test]
    fn report_is_self_contained_escaped_and_complete() {
        let run = SmallRun::new();
        let html = render_report(&run.outputs());
        assert_self_contained(&html);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));

        // Title: symbols and period, escaped.
        let title = "Backtest: BTCUSDT, ETH&lt;b&gt;&amp;, 2024-01-01 00:00 UTC to 2024-01-01 00:02 UTC";
        assert!(html.contains(&format!("<title>{title}</title>")), "{}", &html[..400]);
        assert!(html.contains(&format!("<h1>{title}</h1>")));
        // Nothing from the run reaches the page unescaped.
        assert!(!html.contains("ETH<b>") && !html.contains("<i>") && !html.contains("\"quoted\""));
        assert!(html.contains("stop_loss &quot;quoted&quot;, &lt;i&gt;"));
        assert!(html.contains("https:&#47;&#47;example.invalid"), "a URL source is shown as text");

        // Metrics table, both charts of the curve, a price chart per symbol
        // with its markers, the trade table, the run section.
        assert!(html.contains("<table class=\"metrics\">") && html.contains("<th>Sharpe ratio</th>"));
        assert!(html.contains("aria-label=\"Equity curve\"") && html.contains("class=\"eq\" d=\"M"));
        assert!(html.contains("aria-label=\"Drawdown below the running peak\"") && html.contains("class=\"dd\" d=\"M"));
        assert!(html.contains("Time (UTC)") && html.contains(">% below peak</text>"));
        assert_eq!(html.matches("class=\"px\" d=\"M").count(), 2);
        assert!(html.contains("<h3>BTCUSDT <span class=\"sub\">1 trade</span></h3>"));
        assert!(html.contains("<path class=\"el\" d=\"M") && html.contains("<path class=\"es\" d=\"M"));
        assert_eq!(html.matches("<path class=\"ex\" d=\"M").count(), 2);
        assert!(html.contains("<title>#1 BTCUSDT long entry, 2024-01-01 00:00 UTC at 100.00</title>"));
        assert!(html.contains("<table class=\"trades\">"));
        assert_eq!(html.matches("<tr><td>").count() - count_in_run_section(&html), 2, "two trade rows");
        assert!(html.contains("3 orders: 1 cancelled, 1 filled, 1 rejected"));
        assert!(html.contains("<td>max_positions</td><td>3</td>"));
        assert!(html.contains("synthetic: seed=7,bars=3"));
        assert!(html.contains("<summary>Configuration</summary>"));
    }

    /// `<tr><td>` rows outside the trade table (strategies, data, refusals).
    fn count_in_run_section(html: &str) -> usize {
        let run = &html[html.find("<h2>Run</h2>").unwrap()..];
        run.matches("<tr><td>").count()
    }

    #[test]
    fn a_run_that_did_not_complete_says_so_in_its_report_and_summary() {
        let equity: Vec<EquityPoint> = Vec::new();
        let prices = BTreeMap::new();
        let completed = summary(compute_metrics(1000.0, &equity, &[], &[]));
        let render = |summary: &RunSummary| {
            render_report(&RunOutputs {
                summary,
                equity: &equity,
                trades: &[],
                orders: &[],
                fills: &[],
                prices: &prices,
            })
        };
        assert!(!render(&completed).contains("class=\"warning\""));
        let interrupted = RunSummary { status: RunStatus::Interrupted, ..completed.clone() };
        assert!(render(&interrupted).contains("Interrupted: the results cover the bars processed before the stop."));
        let failed = RunSummary {
            status: RunStatus::Failed,
            errors: vec!["BTCUSDT: stopped by a panic: <boom>".into()],
            ..completed
        };
        let html = render(&failed);
        assert!(html.contains("Failed: the results are partial") && html.contains("stopped by a panic: &lt;boom&gt;"));
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["status"], "failed");
        assert_eq!(json["errors"][0], "BTCUSDT: stopped by a panic: <boom>");
    }

    #[test]
    fn report_of_an_empty_run_says_so() {
        let equity: Vec<EquityPoint> = Vec::new();
        let prices = BTreeMap::new();
        let summary = RunSummary {
            data: Vec::new(),
            strategies: Vec::new(),
            refusals: BTreeMap::new(),
            config: serde_json::Value::Null,
            counts: serde_json::Value::Null,
            ..summary(compute_metrics(1000.0, &equity, &[], &[]))
        };
        let outputs =
            RunOutputs { summary: &summary, equity: &equity, trades: &[], orders: &[], fills: &[], prices: &prices };
        let html = render_report(&outputs);
        assert_self_contained(&html);
        assert!(html.contains("<title>Backtest</title>"));
        assert!(
            html.contains("No equity points") && html.contains("No trades.") && html.contains("Risk refused no order")
        );
        assert!(!html.contains("<svg"));
    }

    /// Coordinate pairs in the `d` attribute of every path of `class`.
    fn path_points(html: &str, class: &str) -> Vec<usize> {
        let marker = format!("<path class=\"{class}\" d=\"");
        html.match_indices(&marker)
            .map(|(i, _)| {
                let d = &html[i + marker.len()..];
                let d = &d[..d.find('"').unwrap()];
                d.matches(',').count()
            })
            .collect()
    }

    /// A run of a million one-minute bars and ten thousand trades: the report
    /// stays under 2 MB, every line is thinned to at most 2,000 points, the
    /// crash hidden at one minute survives the thinning, and the trade table
    /// stops at 1,000 rows. (Nothing is timed here: the machine is shared.)
    #[test]
    fn report_of_a_million_points_stays_small() {
        const N: usize = 1_000_000;
        const CRASH: usize = 654_321;
        let equity: Vec<EquityPoint> = (0..N)
            .map(|i| {
                let t = T0 + i as i64 * 60_000;
                let wave = 10_000.0 + 500.0 * (i as f64 / 20_000.0).sin() + i as f64 * 0.002;
                // One minute at 60 % of the curve: must not vanish in the chart.
                let equity = if i == CRASH { wave * 0.6 } else { wave };
                point(t, equity, if i % 3 == 0 { 0.0 } else { 1_000.0 })
            })
            .collect();
        let symbols = ["BTCUSDT", "ETHUSDT"];
        let prices: BTreeMap<String, Vec<(i64, f64)>> = symbols
            .iter()
            .enumerate()
            .map(|(s, name)| {
                let base = 100.0 * (s + 1) as f64;
                let closes =
                    (0..N).map(|i| (T0 + i as i64 * 60_000, base + (i as f64 / 3_000.0).sin() * base * 0.1)).collect();
                (name.to_string(), closes)
            })
            .collect();
        let trades: Vec<TradeRecord> = (0..10_000u64)
            .map(|k| {
                let symbol = symbols[(k % 2) as usize];
                let i = (k as usize * 97) % (N - 100);
                let closes = &prices[symbol];
                let side = if k % 3 == 0 { Side::Short } else { Side::Long };
                trade(k + 1, symbol, side, closes[i], closes[i + 60], if k % 2 == 0 { 5.0 } else { -4.0 })
            })
            .collect();
        let metrics = compute_metrics(10_000.0, &equity, &trades, &[]);
        assert!(metrics.max_drawdown_pct.unwrap() > 39.0);
        let summary = summary(metrics);
        let outputs = RunOutputs {
            summary: &summary,
            equity: &equity,
            trades: &trades,
            orders: &[],
            fills: &[],
            prices: &prices,
        };

        let html = render_report(&outputs);
        assert!(html.len() < 2_000_000, "{} bytes", html.len());
        eprintln!("report of {N} points and {} trades: {} bytes", trades.len(), html.len());
        assert_self_contained(&html);

        for class in ["eq", "dd", "px"] {
            let counts = path_points(&html, class);
            assert!(!counts.is_empty(), "{class}");
            assert!(counts.iter().all(|&c| (100..=2_002).contains(&c)), "{class}: {counts:?}");
        }
        // The crash is the lowest equity: the curve's lowest y (the largest
        // SVG coordinate) must be at the bottom of the plot area, and the
        // drawdown chart is labelled with the metric's value.
        let label = format!("max drawdown {:.2} %", summary.metrics.max_drawdown_pct.unwrap());
        assert!(html.contains(&label), "{label}");
        let start = "<path class=\"eq\" d=\"M";
        let eq = &html[html.find(start).unwrap() + start.len()..];
        let eq = &eq[..eq.find('"').unwrap()];
        let lowest = eq.split(' ').map(|p| p.split(',').nth(1).unwrap().parse::<f64>().unwrap()).fold(0.0, f64::max);
        assert!(lowest > 200.0, "the crash reaches the bottom of the chart: y = {lowest}");

        // 10,000 trades: merged markers, a capped table with a note.
        assert!(html.contains("Showing the first 1,000 of 10,000 trades; trades.csv has all of them."));
        let table = &html[html.find("<table class=\"trades\">").unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr><td>").count(), 1_000);
        assert!(!html.contains("<title>#"), "dense charts carry no per-marker tooltips");
        assert_eq!(path_points(&html, "el").len(), 2, "one merged path per symbol");

        // Smaller limits are honoured too.
        let limits = ReportLimits { chart_points: 200, trade_rows: 10, price_charts: 1, labelled_trades: 0 };
        let small = render_report_with(&outputs, &limits);
        assert!(path_points(&small, "px").len() == 1 && path_points(&small, "eq")[0] <= 200);
        assert!(small.contains("Price charts are shown for the first 1 of 2 symbols."));
    }
}

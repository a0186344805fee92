//! Performance metrics of a backtest, computed once from the records of a
//! finished run.
//!
//! Definitions and formulas are in `docs/metrics.md`; the choices that are
//! easy to get wrong are repeated on the fields. Any quantity that is not
//! defined for the run (no trades, a flat curve, a span too short to
//! annualise, a division by zero) is `None`, never NaN or infinity, so the
//! JSON, the terminal table and the report print "n/a" or `null` instead
//! of a number that means nothing.

use serde::{Deserialize, Serialize};

use super::drawdown::{curve_is_measurable, Drawdown};
use crate::execution::records::{EquityPoint, FillRecord, TradeRecord};

/// Milliseconds in a day.
pub const MS_PER_DAY: f64 = 86_400_000.0;

/// Milliseconds in a year of 365.25 calendar days. Crypto markets trade
/// 24/7, so a year is every day and every hour of it, not 252 sessions.
pub const MS_PER_YEAR: f64 = 365.25 * MS_PER_DAY;

/// What a run achieved. Percentages are percent (12.5 means 12.5 %);
/// money is in the account currency; times are epoch milliseconds (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Time of the first equity point.
    pub start: Option<i64>,
    /// Time of the last equity point.
    pub end: Option<i64>,
    /// Number of equity points (one per processed bar).
    pub points: usize,
    pub initial_capital: f64,
    /// Equity at the last point; the initial capital when there is none.
    pub final_equity: f64,
    /// `(final_equity / initial_capital - 1) × 100`.
    pub total_return_pct: Option<f64>,
    /// Compound annual growth rate from `start` to `end`; `None` when they
    /// are less than a day apart.
    pub cagr_pct: Option<f64>,
    /// Return periods per year: 365.25 days over the median spacing of
    /// the equity times.
    pub periods_per_year: Option<f64>,
    /// Sample standard deviation of the per-point returns, annualised.
    pub annualized_volatility_pct: Option<f64>,
    /// Mean over standard deviation of the per-point returns, annualised;
    /// risk-free rate 0.
    pub sharpe: Option<f64>,
    /// Mean return over the downside deviation (target 0, over all
    /// periods), annualised.
    pub sortino: Option<f64>,
    /// CAGR over the maximum drawdown (both in percent).
    pub calmar: Option<f64>,
    /// Worst fall from a running peak, in percent (positive).
    pub max_drawdown_pct: Option<f64>,
    /// Longest peak-to-recovery time, or peak to the last point when the
    /// curve had not recovered.
    pub max_drawdown_duration_ms: Option<i64>,
    /// Share of equity points with an open position (`gross_exposure > 0`),
    /// in percent.
    pub exposure_pct: Option<f64>,
    /// Round trips.
    pub trades: usize,
    /// Trades with `net_pnl > 0`.
    pub wins: usize,
    /// Trades with `net_pnl < 0` (break-even trades are neither).
    pub losses: usize,
    /// `wins / trades × 100`.
    pub win_rate_pct: Option<f64>,
    /// Gross profit of the winners over the gross loss of the losers (net
    /// P&L); `None` when there is no losing trade.
    pub profit_factor: Option<f64>,
    /// Mean net P&L per trade.
    pub expectancy: Option<f64>,
    /// Mean net P&L of the winners.
    pub average_win: Option<f64>,
    /// Mean net P&L of the losers (negative).
    pub average_loss: Option<f64>,
    /// Best net P&L of a winner.
    pub largest_win: Option<f64>,
    /// Worst net P&L of a loser (negative).
    pub largest_loss: Option<f64>,
    /// Sum of the fees of every fill.
    pub fees: f64,
    /// Sum of `|quantity × price|` over the fills, over the mean equity.
    pub turnover: Option<f64>,
}

/// The sum of `values`, 0 (not -0) when there are none: Rust's float sum
/// starts from -0.0, which summary.json would show as `-0.0`.
fn total(values: impl Iterator<Item = f64>) -> f64 {
    values.sum::<f64>() + 0.0
}

/// Computes the metrics of a run from its records.
///
/// `equity` must be in time order (as execution writes it); `trades` are
/// the round trips, including any closed as `end_of_data`; `fills` every
/// fill of the run.
pub fn compute_metrics(
    initial_capital: f64,
    equity: &[EquityPoint],
    trades: &[TradeRecord],
    fills: &[FillRecord],
) -> Metrics {
    let start = equity.first().map(|p| p.time);
    let end = equity.last().map(|p| p.time);
    let final_equity = equity.last().map_or(initial_capital, |p| p.equity);
    let capital_ok = initial_capital.is_finite() && initial_capital > 0.0;

    let total_return_pct =
        if capital_ok && !equity.is_empty() { finite((final_equity / initial_capital - 1.0) * 100.0) } else { None };
    let cagr_pct = match (start, end) {
        (Some(s), Some(e)) if capital_ok => cagr_pct(initial_capital, final_equity, e - s),
        _ => None,
    };

    let periods_per_year = periods_per_year(equity);
    let returns = simple_returns(equity);
    let stats = returns.as_deref().map(ReturnStats::of);
    let sqrt_ppy = periods_per_year.map(f64::sqrt);
    let annualized_volatility_pct = match (stats.and_then(|s| s.std), sqrt_ppy) {
        (Some(std), Some(k)) => finite(std * k * 100.0),
        _ => None,
    };
    let sharpe = match (stats, sqrt_ppy) {
        (Some(s), Some(k)) => s.std.filter(|&sd| sd > 0.0).and_then(|sd| finite(s.mean / sd * k)),
        _ => None,
    };
    let sortino = match (stats, sqrt_ppy) {
        (Some(s), Some(k)) => s.downside.filter(|&dd| dd > 0.0).and_then(|dd| finite(s.mean / dd * k)),
        _ => None,
    };

    let drawdown = Drawdown::of(equity);
    let max_drawdown_pct = drawdown.map(|d| d.max_pct);
    let calmar = match (cagr_pct, max_drawdown_pct) {
        (Some(c), Some(dd)) if dd > 0.0 => finite(c / dd),
        _ => None,
    };

    let exposure_pct = if equity.is_empty() {
        None
    } else {
        let exposed = equity.iter().filter(|p| p.gross_exposure > 0.0).count();
        Some(exposed as f64 / equity.len() as f64 * 100.0)
    };

    let t = TradeStats::of(trades);
    let fees = total(fills.iter().map(|f| f.fee));
    let notional = total(fills.iter().map(|f| (f.quantity * f.price).abs()));
    let mean_equity = mean(equity.iter().map(|p| p.equity));
    let turnover = mean_equity.filter(|&m| m > 0.0).and_then(|m| finite(notional / m));

    Metrics {
        start,
        end,
        points: equity.len(),
        initial_capital,
        final_equity,
        total_return_pct,
        cagr_pct,
        periods_per_year,
        annualized_volatility_pct,
        sharpe,
        sortino,
        calmar,
        max_drawdown_pct,
        max_drawdown_duration_ms: drawdown.map(|d| d.max_duration_ms),
        exposure_pct,
        trades: trades.len(),
        wins: t.wins,
        losses: t.losses,
        win_rate_pct: t.win_rate_pct,
        profit_factor: t.profit_factor,
        expectancy: t.expectancy,
        average_win: t.average_win,
        average_loss: t.average_loss,
        largest_win: t.largest_win,
        largest_loss: t.largest_loss,
        fees,
        turnover,
    }
}

/// `Some(x)` when `x` is a number (not NaN, not infinite).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        None
    } else {
        finite(sum / n as f64)
    }
}

/// `((final / initial)^(1 / years) - 1) × 100` over `span_ms`.
///
/// Below a day the exponent exceeds 365 and the result says nothing about
/// the strategy, so it is `None`. A final equity at or below zero lost
/// everything: -100 % (a rate below -100 % has no compounding meaning).
fn cagr_pct(initial: f64, final_equity: f64, span_ms: i64) -> Option<f64> {
    if (span_ms as f64) < MS_PER_DAY || !final_equity.is_finite() {
        return None;
    }
    let ratio = final_equity / initial;
    if ratio <= 0.0 {
        return Some(-100.0);
    }
    let years = span_ms as f64 / MS_PER_YEAR;
    finite((ratio.powf(1.0 / years) - 1.0) * 100.0)
}

/// 365.25 days over the median spacing of consecutive equity times. The
/// median, not the mean, so that gaps in the data (an exchange outage, a
/// weekend in a stock feed) do not change the bar interval it finds.
fn periods_per_year(equity: &[EquityPoint]) -> Option<f64> {
    if equity.len() < 2 {
        return None;
    }
    let mut gaps: Vec<i64> = equity.windows(2).map(|w| w[1].time - w[0].time).collect();
    let median = median_i64(&mut gaps)?;
    if median > 0.0 {
        finite(MS_PER_YEAR / median)
    } else {
        None
    }
}

/// The median (mean of the two middle values for an even count).
pub(crate) fn median_i64(values: &mut [i64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (below, &mut upper, _) = values.select_nth_unstable(mid);
    if n % 2 == 1 {
        Some(upper as f64)
    } else {
        let lower = *below.iter().max().expect("an even count above 0 has a lower half");
        Some((lower as f64 + upper as f64) / 2.0)
    }
}

/// `e[i] / e[i-1] - 1` for every point after the first; `None` when a
/// return is undefined: a non-finite value, or a previous equity at or
/// below zero (after a total loss there is nothing to return on).
fn simple_returns(equity: &[EquityPoint]) -> Option<Vec<f64>> {
    if !curve_is_measurable(equity) {
        return None;
    }
    equity.windows(2).map(|w| (w[0].equity > 0.0).then(|| w[1].equity / w[0].equity - 1.0)).collect()
}

/// Moments of the per-point returns, before annualisation.
#[derive(Debug, Clone, Copy)]
struct ReturnStats {
    mean: f64,
    /// Sample standard deviation (n - 1); needs two returns.
    std: Option<f64>,
    /// `sqrt(Σ min(r, 0)² / n)` over all n periods, target 0.
    downside: Option<f64>,
}

impl ReturnStats {
    fn of(returns: &[f64]) -> ReturnStats {
        let n = returns.len();
        let mean = if n == 0 { 0.0 } else { returns.iter().sum::<f64>() / n as f64 };
        let std = (n >= 2).then(|| {
            let ss: f64 = returns.iter().map(|r| (r - mean) * (r - mean)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        let downside = (n >= 1).then(|| {
            let ss: f64 = returns.iter().map(|&r| r.min(0.0) * r.min(0.0)).sum();
            (ss / n as f64).sqrt()
        });
        ReturnStats { mean, std, downside }
    }
}

/// The per-trade statistics, from net P&L.
struct TradeStats {
    wins: usize,
    losses: usize,
    win_rate_pct: Option<f64>,
    profit_factor: Option<f64>,
    expectancy: Option<f64>,
    average_win: Option<f64>,
    average_loss: Option<f64>,
    largest_win: Option<f64>,
    largest_loss: Option<f64>,
}

impl TradeStats {
    fn of(trades: &[TradeRecord]) -> TradeStats {
        let pnl = || trades.iter().map(|t| t.net_pnl);
        let wins: Vec<f64> = pnl().filter(|&p| p > 0.0).collect();
        let losses: Vec<f64> = pnl().filter(|&p| p < 0.0).collect();
        let gross_profit = total(wins.iter().copied());
        let gross_loss = total(losses.iter().copied());
        let n = trades.len();
        TradeStats {
            wins: wins.len(),
            losses: losses.len(),
            win_rate_pct: (n > 0).then(|| wins.len() as f64 / n as f64 * 100.0),
            profit_factor: if losses.is_empty() { None } else { finite(gross_profit / -gross_loss) },
            expectancy: mean(pnl()),
            average_win: mean(wins.iter().copied()),
            average_loss: mean(losses.iter().copied()),
            largest_win: wins.iter().copied().reduce(f64::max),
            largest_loss: losses.iter().copied().reduce(f64::min),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_fills_has_zero_fees_and_turnover_not_minus_zero() {
        let m = compute_metrics(1_000.0, &[], &[], &[]);
        assert!(m.fees == 0.0 && m.fees.is_sign_positive(), "{}", m.fees);
        assert_eq!(serde_json::to_string(&m.fees).unwrap(), "0.0");
        assert!(total(std::iter::empty()).is_sign_positive());
    }

    #[test]
    fn medians() {
        assert_eq!(median_i64(&mut []), None);
        assert_eq!(median_i64(&mut [7]), Some(7.0));
        assert_eq!(median_i64(&mut [5, 1, 3]), Some(3.0));
        assert_eq!(median_i64(&mut [4, 1, 3, 2]), Some(2.5));
        assert_eq!(median_i64(&mut [60_000, 60_000, 3_600_000, 60_000]), Some(60_000.0));
    }

    #[test]
    fn cagr_edges() {
        // Exactly one year: CAGR is the total return.
        let one_year = MS_PER_YEAR as i64;
        let c = cagr_pct(100.0, 150.0, one_year).unwrap();
        assert!((c - 50.0).abs() < 1e-9, "{c}");
        // Two years, ×1.21: 10 % a year.
        let c = cagr_pct(100.0, 121.0, 2 * one_year).unwrap();
        assert!((c - 10.0).abs() < 1e-9, "{c}");
        assert_eq!(cagr_pct(100.0, 150.0, 86_399_999), None, "under a day");
        assert!(cagr_pct(100.0, 150.0, 86_400_000).is_some(), "a day is enough");
        assert_eq!(cagr_pct(100.0, 0.0, one_year), Some(-100.0));
        assert_eq!(cagr_pct(100.0, -5.0, one_year), Some(-100.0));
        // A huge gain over a day overflows: None, not infinity.
        assert_eq!(cagr_pct(1.0, 1e300, 86_400_000), None);
    }

    #[test]
    fn return_stats_by_hand() {
        // r = [0.1, -0.1]: mean 0, sample variance (0.01 + 0.01) / 1 = 0.02,
        // downside sqrt(0.01 / 2).
        let s = ReturnStats::of(&[0.1, -0.1]);
        assert!(s.mean.abs() < 1e-15);
        assert!((s.std.unwrap() - 0.02f64.sqrt()).abs() < 1e-15);
        assert!((s.downside.unwrap() - 0.005f64.sqrt()).abs() < 1e-15);
        let one = ReturnStats::of(&[0.3]);
        assert_eq!(one.std, None);
        assert_eq!(one.downside, Some(0.0));
        assert_eq!(ReturnStats::of(&[]).downside, None);
    }
}

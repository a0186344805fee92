//! Drawdown: how far equity is below its running peak, and for how long.
//!
//! Shared by the metrics (the worst drawdown), `equity.csv` (a column per
//! point) and the underwater chart, so all three agree by construction.

use crate::execution::records::EquityPoint;

/// The worst drawdown of an equity curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawdown {
    /// Largest `(peak - equity) / peak`, in percent: positive, 0 when the
    /// curve never fell below a previous peak. Above 100 when equity went
    /// negative (a leveraged or short account can).
    pub max_pct: f64,
    /// Longest time from a peak to the first later point at or above it,
    /// or to the last point when the curve had not recovered by then.
    pub max_duration_ms: i64,
}

impl Drawdown {
    /// The worst drawdown of `equity`, or `None` when the curve has no
    /// peak to measure from (see `curve_is_measurable`).
    pub fn of(equity: &[EquityPoint]) -> Option<Drawdown> {
        if !curve_is_measurable(equity) {
            return None;
        }
        let mut peak = equity[0].equity;
        let mut peak_time = equity[0].time;
        let mut underwater = false;
        let mut max_pct = 0.0_f64;
        let mut max_duration_ms = 0_i64;
        for p in equity {
            if p.equity >= peak {
                // Recovered (or a new high): the drawdown that started at the
                // previous peak, if any, lasted until now.
                if underwater {
                    max_duration_ms = max_duration_ms.max(p.time - peak_time);
                    underwater = false;
                }
                peak = p.equity;
                peak_time = p.time;
            } else {
                underwater = true;
                max_pct = max_pct.max((peak - p.equity) / peak * 100.0);
            }
        }
        if underwater {
            let last = equity[equity.len() - 1].time;
            max_duration_ms = max_duration_ms.max(last - peak_time);
        }
        Some(Drawdown { max_pct, max_duration_ms })
    }
}

/// The drawdown at every point, in percent below the running peak (0 at a
/// peak), or `None` when the curve is not measurable.
pub fn drawdown_pct_series(equity: &[EquityPoint]) -> Option<Vec<f64>> {
    if !curve_is_measurable(equity) {
        return None;
    }
    let mut peak = equity[0].equity;
    Some(
        equity
            .iter()
            .map(|p| {
                peak = peak.max(p.equity);
                (peak - p.equity) / peak * 100.0
            })
            .collect(),
    )
}

/// A curve has drawdowns when it is not empty, every equity value is
/// finite and it starts above zero: the running peak is then positive
/// everywhere, so the percentage is always defined.
pub(crate) fn curve_is_measurable(equity: &[EquityPoint]) -> bool {
    match equity.first() {
        Some(first) => first.equity > 0.0 && equity.iter().all(|p| p.equity.is_finite()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[(i64, f64)]) -> Vec<EquityPoint> {
        values
            .iter()
            .map(|&(time, equity)| EquityPoint {
                time,
                cash: equity,
                equity,
                realized_pnl: 0.0,
                unrealized_pnl: 0.0,
                fees: 0.0,
                gross_exposure: 0.0,
            })
            .collect()
    }

    #[test]
    fn longest_drawdown_is_not_always_the_deepest() {
        // Peak 100 at t=0, down to 99 until t=10 (recovered at t=10: 10 ms,
        // 1 %), then peak 120 at t=11, down to 90 (25 %) and back at t=14
        // (3 ms).
        let c = curve(&[(0, 100.0), (5, 99.0), (10, 100.0), (11, 120.0), (12, 90.0), (14, 121.0)]);
        let d = Drawdown::of(&c).unwrap();
        assert_eq!(d.max_duration_ms, 10);
        assert!((d.max_pct - 25.0).abs() < 1e-12);
        let series = drawdown_pct_series(&c).unwrap();
        assert_eq!(series.len(), 6);
        assert_eq!(series[0], 0.0);
        assert!((series[1] - 1.0).abs() < 1e-12);
        assert_eq!(series[2], 0.0, "back at the peak is not a drawdown");
        assert!((series[4] - 25.0).abs() < 1e-12);
        assert_eq!(series[5], 0.0);
    }

    #[test]
    fn an_unrecovered_drawdown_lasts_until_the_last_point() {
        let c = curve(&[(0, 100.0), (1, 110.0), (3, 100.0), (7, 105.0)]);
        let d = Drawdown::of(&c).unwrap();
        assert_eq!(d.max_duration_ms, 6, "from the peak at t=1 to the end at t=7");
    }

    #[test]
    fn unmeasurable_curves() {
        assert!(Drawdown::of(&[]).is_none());
        assert!(Drawdown::of(&curve(&[(0, 0.0), (1, 1.0)])).is_none());
        assert!(Drawdown::of(&curve(&[(0, 1.0), (1, f64::NAN)])).is_none());
        assert!(drawdown_pct_series(&curve(&[(0, -1.0)])).is_none());
        // Equity below zero after a positive start is measurable: over 100 %.
        let d = Drawdown::of(&curve(&[(0, 100.0), (1, -50.0)])).unwrap();
        assert!((d.max_pct - 150.0).abs() < 1e-12);
    }
}

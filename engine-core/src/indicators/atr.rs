//! `atr(n)`: Wilder's average true range, seeded with the plain average of
//! the first `n` true ranges (bars 1..=n), as TA-Lib.

use super::catalog::{check_int, SpecError};
use super::rsi::Wilder;

/// True range `max(h - l, |h - c_prev|, |l - c_prev|)`.
#[inline(always)]
pub(crate) fn true_range(h: f64, l: f64, prev_close: f64) -> f64 {
    (h - l).max((h - prev_close).abs()).max((l - prev_close).abs())
}

/// Streaming ATR.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    n: f64,
    wilder: Wilder,
    /// Bars seen, saturating at `period + 1`.
    count: usize,
    prev_close: f64,
    /// Sum of true ranges while seeding; the ATR afterwards.
    value: f64,
    last: Option<f64>,
}

impl Atr {
    /// An ATR of period `period` (≥ 1).
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("atr", "period", period, 1)?;
        Ok(Atr {
            period,
            n: period as f64,
            wilder: Wilder::new(period),
            count: 0,
            prev_close: 0.0,
            value: 0.0,
            last: None,
        })
    }

    /// Feeds a bar's high, low and close; returns the ATR from bar `period` on.
    #[inline]
    pub fn next(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let prev = self.prev_close;
        self.prev_close = close;
        if self.count > self.period {
            self.value = self.wilder.step(self.value, true_range(high, low, prev));
            self.last = Some(self.value);
            return self.last;
        }
        if self.count > 0 {
            self.value += true_range(high, low, prev);
        }
        self.count += 1;
        if self.count == self.period + 1 {
            self.value /= self.n;
            self.last = Some(self.value);
        }
        self.last
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        self.count = 0;
        self.prev_close = 0.0;
        self.value = 0.0;
        self.last = None;
    }
}

super::single_output_indicator!(Atr, "atr", |s, bar| s.next(bar.high, bar.low, bar.close), warmup: |w| w.period);

/// ATR over `period` (≥ 1); NaN during the warm-up (`period` bars).
///
/// # Panics
/// If `period` is 0 or the slices differ in length.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 1, "atr: period must be >= 1");
    let len = close.len();
    assert!(high.len() == len && low.len() == len, "atr: input lengths differ");
    let mut out = vec![f64::NAN; len];
    if len <= period {
        return out;
    }
    let n = period as f64;
    let w = Wilder::new(period);
    let mut sum = 0.0;
    for i in 1..=period {
        sum += true_range(high[i], low[i], close[i - 1]);
    }
    let mut a = sum / n;
    out[period] = a;
    let tail = period + 1;
    let bars = high[tail..].iter().zip(&low[tail..]).zip(&close[period..len - 1]);
    for (o, ((&h, &l), &pc)) in out[tail..].iter_mut().zip(bars) {
        a = w.step(a, true_range(h, l, pc));
        *o = a;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn true_range_takes_the_gap() {
        assert_eq!(true_range(10.0, 9.0, 9.5), 1.0);
        assert_eq!(true_range(10.0, 9.0, 12.0), 3.0);
        assert_eq!(true_range(10.0, 9.0, 7.0), 3.0);
    }

    #[test]
    fn hand_computed() {
        let h = [10.0, 11.0, 12.0, 11.0];
        let l = [9.0, 10.0, 10.0, 8.0];
        let c = [9.5, 10.5, 11.0, 9.0];
        // TRs: bar1 max(1, 1.5, .5) = 1.5; bar2 max(2, 1.5, .5) = 2; bar3 max(3, 0, 3) = 3.
        let out = atr(&h, &l, &c, 2);
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(out[2], 1.75);
        assert_eq!(out[3], (1.75 * 1.0 + 3.0) / 2.0);
    }

    #[test]
    fn warmup_and_reset() {
        let mut a = Atr::new(2).unwrap();
        assert_eq!(Indicator::warmup(&a), 2);
        assert_eq!(a.next(10.0, 9.0, 9.5), None);
        assert_eq!(a.next(11.0, 10.0, 10.5), None);
        assert_eq!(a.next(12.0, 10.0, 11.0), Some(1.75));
        Indicator::reset(&mut a);
        assert!(!a.is_ready());
        assert_eq!(a.next(10.0, 9.0, 9.5), None);
    }

    #[test]
    fn rejects_zero_period() {
        assert!(Atr::new(0).is_err());
    }
}

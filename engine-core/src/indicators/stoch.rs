//! `stoch(k_period, k_smooth, d_period)`: slow stochastic oscillator. Fast
//! %K with TA-Lib's order of operations, then two running-sum SMAs.

use super::catalog::{check_int, SpecError};
use super::rolling_extreme::{RollingMax, RollingMin};
use super::sma::Sma;
use super::Indicator;
use crate::market_data::Bar;

/// One stochastic update's outputs; `d` appears `d_period - 1` bars after `k`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochValue {
    pub k: f64,
    pub d: Option<f64>,
}

/// Streaming slow stochastic.
#[derive(Debug, Clone)]
pub struct Stoch {
    k_period: usize,
    highest: RollingMax,
    lowest: RollingMin,
    k_sma: Sma,
    d_sma: Sma,
    last: Option<StochValue>,
}

impl Stoch {
    /// A stochastic; all periods ≥ 1.
    pub fn new(k_period: usize, k_smooth: usize, d_period: usize) -> Result<Self, SpecError> {
        check_int("stoch", "k_period", k_period, 1)?;
        check_int("stoch", "k_smooth", k_smooth, 1)?;
        check_int("stoch", "d_period", d_period, 1)?;
        Ok(Stoch {
            k_period,
            highest: RollingMax::new(k_period),
            lowest: RollingMin::new(k_period),
            k_sma: Sma::new(k_smooth)?,
            d_sma: Sma::new(d_period)?,
            last: None,
        })
    }

    /// Feeds a bar; returns `k` from bar `k_period + k_smooth - 2`, `d`
    /// from `k_period + k_smooth + d_period - 3`.
    #[inline]
    pub fn next(&mut self, high: f64, low: f64, close: f64) -> Option<StochValue> {
        let hh = self.highest.push(high);
        let ll = self.lowest.push(low);
        if !self.highest.is_full() {
            return None;
        }
        let fast_k = if hh == ll { 0.0 } else { (close - ll) / ((hh - ll) / 100.0) };
        let k = self.k_sma.next(fast_k)?;
        self.last = Some(StochValue { k, d: self.d_sma.next(k) });
        self.last
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        self.highest.clear();
        self.lowest.clear();
        self.k_sma.reset();
        self.d_sma.reset();
        self.last = None;
    }
}

impl Indicator for Stoch {
    fn update(&mut self, bar: &Bar) {
        self.next(bar.high, bar.low, bar.close);
    }
    fn is_ready(&self) -> bool {
        self.last.is_some_and(|v| v.d.is_some())
    }
    fn reset(&mut self) {
        Stoch::reset(self);
    }
    fn output(&self, index: usize) -> Option<f64> {
        let v = self.last?;
        match index {
            0 => Some(v.k),
            1 => v.d,
            _ => None,
        }
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["k", "d"]
    }
    fn warmup(&self) -> usize {
        self.k_period + self.k_sma.period() + self.d_sma.period() - 3
    }
}

/// The two stochastic series, NaN during their warm-ups.
#[derive(Debug, Clone, PartialEq)]
pub struct StochSeries {
    pub k: Vec<f64>,
    pub d: Vec<f64>,
}

/// Slow stochastic (parameters as [`Stoch::new`]).
///
/// # Panics
/// If a period is 0 or the slices differ in length.
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    k_period: usize,
    k_smooth: usize,
    d_period: usize,
) -> StochSeries {
    let mut s = Stoch::new(k_period, k_smooth, d_period).unwrap_or_else(|e| panic!("{e}"));
    let len = close.len();
    assert!(high.len() == len && low.len() == len, "stoch: input lengths differ");
    let mut out = StochSeries { k: vec![f64::NAN; len], d: vec![f64::NAN; len] };
    for i in 0..len {
        if let Some(v) = s.next(high[i], low[i], close[i]) {
            out.k[i] = v.k;
            out.d[i] = v.d.unwrap_or(f64::NAN);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_fast_k() {
        // k_smooth = d_period = 1: k is fast %K itself.
        let h = [10.0, 12.0, 11.0];
        let l = [8.0, 9.0, 10.0];
        let c = [9.0, 11.0, 10.5];
        let out = stoch(&h, &l, &c, 2, 1, 1);
        assert!(out.k[0].is_nan());
        assert_eq!(out.k[1], (11.0 - 8.0) / ((12.0 - 8.0) / 100.0));
        assert_eq!(out.k[2], (10.5 - 9.0) / ((12.0 - 9.0) / 100.0));
        assert_eq!(out.d[2], out.k[2]);
    }

    #[test]
    fn smoothing_and_warmups() {
        let h: Vec<f64> = (0..40).map(|i| 10.0 + (i as f64 * 0.7).sin()).collect();
        let l: Vec<f64> = h.iter().map(|x| x - 1.0).collect();
        let c: Vec<f64> = h.iter().zip(&l).map(|(a, b)| (a + b) / 2.0 + 0.1).collect();
        let fast = stoch(&h, &l, &c, 5, 1, 1).k;
        let out = stoch(&h, &l, &c, 5, 3, 2);
        assert_eq!(out.k.iter().position(|v| !v.is_nan()), Some(5 + 3 - 2));
        assert_eq!(out.d.iter().position(|v| !v.is_nan()), Some(5 + 3 + 2 - 3));
        assert_eq!(out.k[10], super::super::sma::sma(&fast[4..], 3)[10 - 4]);
        let mut s = Stoch::new(5, 3, 2).unwrap();
        assert_eq!(Indicator::warmup(&s), 7);
        for i in 0..10 {
            s.next(h[i], l[i], c[i]);
            assert_eq!(s.is_ready(), i >= 7);
        }
        Indicator::reset(&mut s);
        assert!(!s.is_ready());
    }

    #[test]
    fn flat_prices_give_0() {
        let out = stoch(&[5.0; 20], &[5.0; 20], &[5.0; 20], 14, 3, 3);
        assert!(out.d[18..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn rejects_zero_periods() {
        assert_eq!(
            Stoch::new(14, 0, 3).unwrap_err().to_string(),
            "stoch: parameter `k_smooth` must be a whole number >= 1, got 0"
        );
    }
}

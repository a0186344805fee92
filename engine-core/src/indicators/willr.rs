//! `willr(n)`: Williams %R, `(HH - c) / ((HH - LL) / -100)`, 0 when flat.

use super::catalog::{check_int, SpecError};
use super::rolling_extreme::{RollingMax, RollingMin};

/// Streaming Williams %R.
#[derive(Debug, Clone)]
pub struct WillR {
    period: usize,
    highest: RollingMax,
    lowest: RollingMin,
    last: Option<f64>,
}

impl WillR {
    /// A %R over `period` (≥ 1) bars.
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("willr", "period", period, 1)?;
        Ok(WillR { period, highest: RollingMax::new(period), lowest: RollingMin::new(period), last: None })
    }

    /// Feeds a bar; returns %R (−100 … 0) once `period` bars were seen.
    #[inline]
    pub fn next(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let hh = self.highest.push(high);
        let ll = self.lowest.push(low);
        if self.highest.is_full() {
            self.last = Some(if hh == ll { 0.0 } else { (hh - close) / ((hh - ll) / -100.0) });
        }
        self.last
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        self.highest.clear();
        self.lowest.clear();
        self.last = None;
    }
}

super::single_output_indicator!(WillR, "willr", |s, bar| s.next(bar.high, bar.low, bar.close), warmup: |w| w.period - 1);

/// Williams %R over `period` (≥ 1); NaN during the warm-up (`period - 1`).
///
/// # Panics
/// If `period` is 0 or the slices differ in length.
pub fn willr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
    let mut w = WillR::new(period).unwrap_or_else(|e| panic!("{e}"));
    let len = close.len();
    assert!(high.len() == len && low.len() == len, "willr: input lengths differ");
    (0..len).map(|i| w.next(high[i], low[i], close[i]).unwrap_or(f64::NAN)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn hand_computed() {
        let h = [10.0, 12.0, 11.0];
        let l = [8.0, 9.0, 10.0];
        let c = [9.0, 11.0, 10.5];
        let out = willr(&h, &l, &c, 2);
        assert!(out[0].is_nan());
        assert_eq!(out[1], (12.0 - 11.0) / ((12.0 - 8.0) / -100.0));
        assert_eq!(out[1], -25.0);
        assert_eq!(out[2], (12.0 - 10.5) / ((12.0 - 9.0) / -100.0));
    }

    #[test]
    fn flat_prices_give_0() {
        let out = willr(&[5.0; 10], &[5.0; 10], &[5.0; 10], 3);
        assert!(out[2..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn warmup_and_reset() {
        let mut w = WillR::new(3).unwrap();
        assert_eq!(Indicator::warmup(&w), 2);
        assert_eq!(w.next(2.0, 1.0, 1.5), None);
        assert_eq!(w.next(2.0, 1.0, 1.5), None);
        assert_eq!(w.next(2.0, 1.0, 2.0), Some(-0.0));
        Indicator::reset(&mut w);
        assert!(!w.is_ready());
        assert!(WillR::new(0).is_err());
    }
}

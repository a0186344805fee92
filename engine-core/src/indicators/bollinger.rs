//! `bollinger(n, k)`: SMA middle band ± `k` population standard deviations.

use super::catalog::{check_int, check_positive, SpecError};
use super::stddev::{sd_of_slices, StdDev};
use super::Indicator;
use crate::market_data::Bar;

/// One Bollinger update's outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BollingerValue {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

/// Streaming Bollinger Bands of the close.
#[derive(Debug, Clone)]
pub struct Bollinger {
    period: usize,
    k: f64,
    sd: StdDev,
    last: Option<BollingerValue>,
}

#[inline(always)]
fn bands(middle: f64, sd: f64, k: f64) -> BollingerValue {
    BollingerValue { upper: middle + k * sd, middle, lower: middle - k * sd }
}

impl Bollinger {
    /// Bands over `period` (≥ 1) values at `k` (> 0) deviations.
    pub fn new(period: usize, k: f64) -> Result<Self, SpecError> {
        check_int("bollinger", "period", period, 1)?;
        check_positive("bollinger", "k", k)?;
        Ok(Bollinger { period, k, sd: StdDev::with_period(period), last: None })
    }

    /// Feeds `x`; returns the bands once `period` values were seen.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<BollingerValue> {
        let (middle, sd) = self.sd.next_with_mean(x)?;
        self.last = Some(bands(middle, sd, self.k));
        self.last
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.sd.reset();
        self.last = None;
    }
}

impl Indicator for Bollinger {
    fn update(&mut self, bar: &Bar) {
        self.next(bar.close);
    }
    fn is_ready(&self) -> bool {
        self.last.is_some()
    }
    fn reset(&mut self) {
        Bollinger::reset(self);
    }
    fn output(&self, index: usize) -> Option<f64> {
        let v = self.last?;
        match index {
            0 => Some(v.upper),
            1 => Some(v.middle),
            2 => Some(v.lower),
            _ => None,
        }
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["upper", "middle", "lower"]
    }
    fn warmup(&self) -> usize {
        self.period - 1
    }
}

/// The three bands, NaN during the warm-up.
#[derive(Debug, Clone, PartialEq)]
pub struct BollingerSeries {
    pub upper: Vec<f64>,
    pub middle: Vec<f64>,
    pub lower: Vec<f64>,
}

/// Bollinger Bands of `x` over `period` (≥ 1) at `k` deviations.
///
/// # Panics
/// If `period` is 0.
pub fn bollinger(x: &[f64], period: usize, k: f64) -> BollingerSeries {
    assert!(period >= 1, "bollinger: period must be >= 1");
    let middle = super::sma::sma(x, period);
    let n = period as f64;
    let mut upper = vec![f64::NAN; x.len()];
    let mut lower = vec![f64::NAN; x.len()];
    for i in period.saturating_sub(1)..x.len() {
        let sd = sd_of_slices(&x[i + 1 - period..=i], &[], middle[i], n);
        let b = bands(middle[i], sd, k);
        upper[i] = b.upper;
        lower[i] = b.lower;
    }
    BollingerSeries { upper, middle, lower }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let out = bollinger(&xs, 8, 1.5);
        assert!(out.upper[6].is_nan() && out.middle[6].is_nan());
        assert_eq!((out.upper[7], out.middle[7], out.lower[7]), (8.0, 5.0, 2.0));
    }

    #[test]
    fn flat_prices_collapse_the_bands() {
        let mut b = Bollinger::new(20, 2.0).unwrap();
        for _ in 0..25 {
            b.next(46000.5);
        }
        assert_eq!(b.last, Some(BollingerValue { upper: 46000.5, middle: 46000.5, lower: 46000.5 }));
    }

    #[test]
    fn warmup_and_reset() {
        let mut b = Bollinger::new(3, 2.0).unwrap();
        assert_eq!(Indicator::warmup(&b), 2);
        assert_eq!(b.next(1.0), None);
        assert_eq!(b.next(2.0), None);
        assert!(b.next(3.0).is_some());
        assert!(b.is_ready());
        Indicator::reset(&mut b);
        assert!(!b.is_ready());
        assert_eq!(b.output(1), None);
    }

    #[test]
    fn rejects_non_positive_k() {
        assert_eq!(Bollinger::new(20, -1.0).unwrap_err().to_string(), "bollinger: parameter `k` must be > 0, got -1");
        assert!(Bollinger::new(20, 0.0).is_err());
        assert!(Bollinger::new(20, f64::NAN).is_err());
    }
}

//! `stddev(n)`: population standard deviation of the last `n` closes. The
//! mean comes from the SMA running sum; the squared deviations are summed
//! over the window oldest to newest every bar (O(n), but exact enough on
//! high-priced flat series where running sums of squares cancel out).

use super::catalog::{check_int, SpecError};
use super::ring::RingBuffer;
use super::sma::Sma;

/// `sqrt(Σ (x_j - mean)² / n)` over the window, oldest to newest.
#[inline]
pub(crate) fn window_sd(window: &RingBuffer, mean: f64, n: f64) -> f64 {
    let (a, b) = window.as_slices();
    sd_of_slices(a, b, mean, n)
}

/// Same as [`window_sd`] on a window given as two consecutive slices.
#[inline]
pub(crate) fn sd_of_slices(a: &[f64], b: &[f64], mean: f64, n: f64) -> f64 {
    let mut acc = 0.0;
    for &x in a.iter().chain(b) {
        let d = x - mean;
        acc += d * d;
    }
    (acc / n).sqrt()
}

/// Streaming standard deviation of the close; also Bollinger's core.
#[derive(Debug, Clone)]
pub struct StdDev {
    sma: Sma,
    n: f64,
    last: Option<f64>,
}

impl StdDev {
    /// A standard deviation over `period` (≥ 1) values.
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("stddev", "period", period, 1)?;
        Ok(Self::with_period(period))
    }

    pub(crate) fn with_period(period: usize) -> Self {
        let sma = Sma::new(period).expect("period checked by the caller");
        StdDev { sma, n: period as f64, last: None }
    }

    /// Feeds `x`; returns `(mean, sd)` once `period` values were seen.
    #[inline]
    pub fn next_with_mean(&mut self, x: f64) -> Option<(f64, f64)> {
        let mean = self.sma.next(x)?;
        let sd = window_sd(self.sma.window(), mean, self.n);
        self.last = Some(sd);
        Some((mean, sd))
    }

    /// Feeds `x`; returns the standard deviation once `period` values were seen.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<f64> {
        self.next_with_mean(x).map(|(_, sd)| sd)
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.sma.reset();
        self.last = None;
    }
}

super::single_output_indicator!(StdDev, "stddev", |s, bar| s.next(bar.close), warmup: |w| w.sma.period() - 1);

/// Population standard deviation of `x` over `period` (≥ 1); NaN during
/// the warm-up (`period - 1`).
///
/// # Panics
/// If `period` is 0.
pub fn stddev(x: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 1, "stddev: period must be >= 1");
    let means = super::sma::sma(x, period);
    let n = period as f64;
    let mut out = vec![f64::NAN; x.len()];
    for i in period.saturating_sub(1)..x.len() {
        out[i] = sd_of_slices(&x[i + 1 - period..=i], &[], means[i], n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn hand_computed() {
        // Window 2,4,4,4,5,5,7,9: mean 5, population sd 2.
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let out = stddev(&xs, 8);
        assert!(out[..7].iter().all(|v| v.is_nan()));
        assert_eq!(out[7], 2.0);
        let out = stddev(&[1.0, 3.0, 3.0], 2);
        assert_eq!(&out[1..], &[1.0, 0.0]);
    }

    #[test]
    fn flat_high_price_is_exactly_zero() {
        let out = stddev(&[46000.5; 40], 20);
        assert!(out[19..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn warmup_and_reset() {
        let mut s = StdDev::new(2).unwrap();
        assert_eq!(Indicator::warmup(&s), 1);
        assert_eq!(s.next(1.0), None);
        assert_eq!(s.next(3.0), Some(1.0));
        Indicator::reset(&mut s);
        assert!(!s.is_ready());
        assert_eq!(s.next(3.0), None);
    }

    #[test]
    fn rejects_zero_period() {
        assert!(StdDev::new(0).is_err());
    }
}

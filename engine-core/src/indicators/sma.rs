//! `sma(n)`: simple moving average with TA-Lib's running sum
//! (`T = S + x; value = T / n; S = T - x_oldest`).

use super::catalog::{check_int, SpecError};
use super::ring::RingBuffer;

/// Streaming simple moving average of the close.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    n: f64,
    /// Sum of the last `period - 1` inputs (all inputs while warming up).
    sum: f64,
    window: RingBuffer,
    last: Option<f64>,
}

impl Sma {
    /// An SMA over `period` (≥ 1) values.
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("sma", "period", period, 1)?;
        Ok(Sma { period, n: period as f64, sum: 0.0, window: RingBuffer::new(period), last: None })
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Feeds `x`; returns the average once `period` values were seen.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<f64> {
        let total = self.sum + x;
        self.window.push(x);
        if self.window.is_full() {
            // The oldest value in the window is x_{i-n+1}: it leaves after this bar.
            let oldest = self.window.oldest().unwrap_or(x);
            self.sum = total - oldest;
            self.last = Some(total / self.n);
        } else {
            self.sum = total;
        }
        self.last
    }

    /// The window of the last `period` inputs.
    pub(crate) fn window(&self) -> &RingBuffer {
        &self.window
    }

    /// The last value.
    pub fn last(&self) -> Option<f64> {
        self.last
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.sum = 0.0;
        self.window.clear();
        self.last = None;
    }
}

super::single_output_indicator!(Sma, "sma", |s, bar| s.next(bar.close), warmup: |w| w.period - 1);

/// SMA of `x` over `period` (≥ 1); NaN during the warm-up (`period - 1` values).
///
/// # Panics
/// If `period` is 0.
pub fn sma(x: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 1, "sma: period must be >= 1");
    let mut out = vec![f64::NAN; x.len()];
    if x.len() < period {
        return out;
    }
    let n = period as f64;
    let mut sum = 0.0;
    for &v in &x[..period - 1] {
        sum += v;
    }
    // Same operations as `Sma::next`: T = S + x, value = T / n, S = T - oldest.
    for ((o, &v), &oldest) in out[period - 1..].iter_mut().zip(&x[period - 1..]).zip(x) {
        let total = sum + v;
        *o = total / n;
        sum = total - oldest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn hand_computed() {
        let out = sma(&[1.0, 2.0, 3.0, 4.0, 5.0], 3);
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(&out[2..], &[2.0, 3.0, 4.0]);
        assert_eq!(sma(&[5.0, 7.0], 1), vec![5.0, 7.0]);
        assert!(sma(&[1.0, 2.0], 3).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn warmup_and_reset() {
        let mut s = Sma::new(4).unwrap();
        assert_eq!(Indicator::warmup(&s), 3);
        for (i, x) in [1.0, 2.0, 3.0, 4.0, 5.0].into_iter().enumerate() {
            let v = s.next(x);
            assert_eq!(v.is_some(), i >= 3);
        }
        assert_eq!(s.last(), Some(3.5));
        Indicator::reset(&mut s);
        assert!(!s.is_ready());
        assert_eq!(s.next(8.0), None);
    }

    #[test]
    fn rejects_zero_period() {
        assert_eq!(Sma::new(0).unwrap_err().to_string(), "sma: parameter `period` must be a whole number >= 1, got 0");
    }
}

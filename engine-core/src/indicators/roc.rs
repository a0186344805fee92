//! `roc(n)`: rate of change in percent, `(x_i / x_{i-n} - 1) * 100`.

use super::catalog::{check_int, SpecError};
use super::ring::RingBuffer;

#[inline(always)]
fn roc_value(x: f64, past: f64) -> f64 {
    if past == 0.0 {
        0.0
    } else {
        (x / past - 1.0) * 100.0
    }
}

/// Streaming ROC of the close.
#[derive(Debug, Clone)]
pub struct Roc {
    period: usize,
    /// The last `period + 1` inputs: the oldest is `x_{i-n}`.
    window: RingBuffer,
    last: Option<f64>,
}

impl Roc {
    /// A ROC over `period` (≥ 1) bars.
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("roc", "period", period, 1)?;
        Ok(Roc { period, window: RingBuffer::new(period + 1), last: None })
    }

    /// Feeds `x`; returns the ROC from input index `period` on.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        if self.window.is_full() {
            self.last = Some(roc_value(x, self.window.oldest().unwrap_or(x)));
        }
        self.last
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.window.clear();
        self.last = None;
    }
}

super::single_output_indicator!(Roc, "roc", |s, bar| s.next(bar.close), warmup: |w| w.period);

/// ROC of `x` over `period` (≥ 1); NaN during the warm-up (`period`).
///
/// # Panics
/// If `period` is 0.
pub fn roc(x: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 1, "roc: period must be >= 1");
    let mut out = vec![f64::NAN; x.len()];
    if x.len() <= period {
        return out;
    }
    for ((o, &v), &past) in out[period..].iter_mut().zip(&x[period..]).zip(x) {
        *o = roc_value(v, past);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn hand_computed() {
        let out = roc(&[10.0, 0.0, 12.5, 5.0], 2);
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(out[2], 25.0);
        assert_eq!(out[3], 0.0, "zero base gives 0");
    }

    #[test]
    fn warmup_and_reset() {
        let mut r = Roc::new(1).unwrap();
        assert_eq!(Indicator::warmup(&r), 1);
        assert_eq!(r.next(4.0), None);
        assert_eq!(r.next(5.0), Some(25.0));
        Indicator::reset(&mut r);
        assert!(!r.is_ready());
        assert_eq!(r.next(5.0), None);
    }

    #[test]
    fn rejects_zero_period() {
        assert!(Roc::new(0).is_err());
    }
}

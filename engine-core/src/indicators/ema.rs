//! `ema(n)`: exponential moving average, seeded with the SMA of the first
//! `n` inputs (TA-Lib), then `ema = ema * (1 - k) + x * k`, `k = 2 / (n + 1)`.

use super::catalog::{check_int, SpecError};
use super::Indicator;
use crate::market_data::Bar;

/// One EMA step, shared by streaming and batch code so both round alike.
/// `ema * (1 - k) + x * k` rather than TA-Lib's `(x - ema) * k + ema`: the
/// product `x * k` is off the critical path, leaving one multiply and one
/// add between consecutive values (the results differ only in the last bits).
#[inline(always)]
pub(crate) fn ema_step(x: f64, ema: f64, k: f64, keep: f64) -> f64 {
    ema * keep + x * k
}

/// Streaming EMA of the close (also the building block of MACD).
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    /// `1 - k`.
    keep: f64,
    /// Inputs seen, saturating at `period`.
    count: usize,
    /// Sum of the inputs while seeding; the EMA afterwards.
    value: f64,
    ready: bool,
}

impl Ema {
    /// An EMA of period `period` (≥ 1).
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("ema", "period", period, 1)?;
        Ok(Self::with_period(period))
    }

    /// Unchecked constructor for callers that validated `period` under
    /// their own name (MACD).
    pub(crate) fn with_period(period: usize) -> Self {
        let k = 2.0 / (period as f64 + 1.0);
        Ema { period, k, keep: 1.0 - k, count: 0, value: 0.0, ready: false }
    }

    /// Feeds `x`; returns the EMA from the `period`-th input on.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<f64> {
        if self.ready {
            self.value = ema_step(x, self.value, self.k, self.keep);
            return Some(self.value);
        }
        self.value += x;
        self.count += 1;
        if self.count == self.period {
            self.value /= self.period as f64;
            self.ready = true;
            Some(self.value)
        } else {
            None
        }
    }

    /// The last value.
    #[inline]
    pub fn last(&self) -> Option<f64> {
        self.ready.then_some(self.value)
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.count = 0;
        self.value = 0.0;
        self.ready = false;
    }
}

impl Indicator for Ema {
    fn update(&mut self, bar: &Bar) {
        self.next(bar.close);
    }
    fn is_ready(&self) -> bool {
        self.ready
    }
    fn reset(&mut self) {
        Ema::reset(self);
    }
    fn output(&self, index: usize) -> Option<f64> {
        if index == 0 {
            self.last()
        } else {
            None
        }
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["ema"]
    }
    fn warmup(&self) -> usize {
        self.period - 1
    }
}

/// EMA of `x` over `period` (≥ 1); NaN during the warm-up (`period - 1`).
///
/// # Panics
/// If `period` is 0.
pub fn ema(x: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 1, "ema: period must be >= 1");
    let mut out = vec![f64::NAN; x.len()];
    if x.len() < period {
        return out;
    }
    let k = 2.0 / (period as f64 + 1.0);
    let keep = 1.0 - k;
    let mut sum = 0.0;
    for &v in &x[..period] {
        sum += v;
    }
    let mut e = sum / period as f64;
    out[period - 1] = e;
    for (o, &v) in out[period..].iter_mut().zip(&x[period..]) {
        e = ema_step(v, e, k, keep);
        *o = e;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // k = 0.5; seed (1 + 2 + 3) / 3 = 2; then (6 - 2) * 0.5 + 2 = 4; (0 - 4) * 0.5 + 4 = 2.
        let out = ema(&[1.0, 2.0, 3.0, 6.0, 0.0], 3);
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(&out[2..], &[2.0, 4.0, 2.0]);
    }

    #[test]
    fn warmup_and_reset() {
        let mut e = Ema::new(3).unwrap();
        assert_eq!(Indicator::warmup(&e), 2);
        assert_eq!(e.next(1.0), None);
        assert_eq!(e.next(2.0), None);
        assert_eq!(e.next(3.0), Some(2.0));
        assert!(e.is_ready());
        Indicator::reset(&mut e);
        assert!(!e.is_ready());
        assert_eq!(e.next(4.0), None);
        assert_eq!(e.next(4.0), None);
        assert_eq!(e.next(4.0), Some(4.0));
    }

    #[test]
    fn rejects_zero_period() {
        assert!(Ema::new(0).is_err());
    }
}

//! `wma(n)`: linearly weighted moving average (weights 1..n, newest n) with
//! TA-Lib's O(1) scheme of a plain sum `sub` and a weighted sum `wsum`.

use super::catalog::{check_int, SpecError};
use super::ring::RingBuffer;

/// Streaming WMA of the close.
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    n: f64,
    divisor: f64,
    sub: f64,
    wsum: f64,
    window: RingBuffer,
    last: Option<f64>,
}

impl Wma {
    /// A WMA over `period` (≥ 1) values.
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("wma", "period", period, 1)?;
        Ok(Wma {
            period,
            n: period as f64,
            divisor: divisor(period),
            sub: 0.0,
            wsum: 0.0,
            window: RingBuffer::new(period),
            last: None,
        })
    }

    /// Feeds `x`; returns the average once `period` values were seen.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<f64> {
        let i = self.window.len();
        self.window.push(x);
        self.sub += x;
        if self.window.is_full() {
            self.wsum += x * self.n;
            self.last = Some(self.wsum / self.divisor);
            self.wsum -= self.sub;
            // x_{i-n+1}, the oldest of the window, leaves after this bar.
            self.sub -= self.window.oldest().unwrap_or(x);
        } else {
            self.wsum += x * (i + 1) as f64;
        }
        self.last
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.sub = 0.0;
        self.wsum = 0.0;
        self.window.clear();
        self.last = None;
    }
}

/// `n (n + 1) / 2`, computed in integers as TA-Lib does.
fn divisor(period: usize) -> f64 {
    (period * (period + 1) / 2) as f64
}

super::single_output_indicator!(Wma, "wma", |s, bar| s.next(bar.close), warmup: |w| w.period - 1);

/// WMA of `x` over `period` (≥ 1); NaN during the warm-up (`period - 1`).
///
/// # Panics
/// If `period` is 0.
pub fn wma(x: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 1, "wma: period must be >= 1");
    let mut out = vec![f64::NAN; x.len()];
    if x.len() < period {
        return out;
    }
    let n = period as f64;
    let d = divisor(period);
    let (mut sub, mut wsum) = (0.0, 0.0);
    for (i, &v) in x[..period - 1].iter().enumerate() {
        sub += v;
        wsum += v * (i + 1) as f64;
    }
    for ((o, &v), &oldest) in out[period - 1..].iter_mut().zip(&x[period - 1..]).zip(x) {
        sub += v;
        wsum += v * n;
        *o = wsum / d;
        wsum -= sub;
        sub -= oldest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn hand_computed() {
        // (1*1 + 2*2 + 3*3) / 6 = 14/6; (2 + 6 + 12) / 6 = 20/6; (3*1 + 4*2 + 0*3) / 6 = 11/6.
        let out = wma(&[1.0, 2.0, 3.0, 4.0, 0.0], 3);
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(&out[2..], &[14.0 / 6.0, 20.0 / 6.0, 11.0 / 6.0]);
    }

    #[test]
    fn warmup_and_reset() {
        let mut w = Wma::new(2).unwrap();
        assert_eq!(Indicator::warmup(&w), 1);
        assert_eq!(w.next(3.0), None);
        assert_eq!(w.next(6.0), Some(5.0));
        Indicator::reset(&mut w);
        assert!(!w.is_ready());
        assert_eq!(w.next(3.0), None);
        assert_eq!(w.next(3.0), Some(3.0));
    }

    #[test]
    fn rejects_zero_period() {
        assert!(Wma::new(0).is_err());
    }
}

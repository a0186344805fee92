//! `cci(n)`: commodity channel index of the typical price; the mean and the
//! mean deviation are recomputed over the window oldest to newest.

use super::catalog::{check_int, SpecError};
use super::ring::RingBuffer;
use super::vwap::typical;

/// Streaming CCI.
#[derive(Debug, Clone)]
pub struct Cci {
    period: usize,
    n: f64,
    window: RingBuffer,
    last: Option<f64>,
}

/// CCI of the newest typical price `tp` over the window `a` then `b`.
#[inline]
fn cci_value(a: &[f64], b: &[f64], tp: f64, n: f64) -> f64 {
    let mut sum = 0.0;
    for &x in a.iter().chain(b) {
        sum += x;
    }
    let mean = sum / n;
    let mut md = 0.0;
    for &x in a.iter().chain(b) {
        md += (x - mean).abs();
    }
    let dev = tp - mean;
    if dev == 0.0 || md == 0.0 {
        0.0
    } else {
        dev / (0.015 * (md / n))
    }
}

impl Cci {
    /// A CCI over `period` (≥ 2) bars.
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("cci", "period", period, 2)?;
        Ok(Cci { period, n: period as f64, window: RingBuffer::new(period), last: None })
    }

    /// Feeds a bar; returns the CCI once `period` bars were seen.
    #[inline]
    pub fn next(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let tp = typical(high, low, close);
        self.window.push(tp);
        if self.window.is_full() {
            let (a, b) = self.window.as_slices();
            self.last = Some(cci_value(a, b, tp, self.n));
        }
        self.last
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        self.window.clear();
        self.last = None;
    }
}

super::single_output_indicator!(Cci, "cci", |s, bar| s.next(bar.high, bar.low, bar.close), warmup: |w| w.period - 1);

/// CCI over `period` (≥ 2); NaN during the warm-up (`period - 1`).
///
/// # Panics
/// If `period` < 2 or the slices differ in length.
pub fn cci(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 2, "cci: period must be >= 2");
    let len = close.len();
    assert!(high.len() == len && low.len() == len, "cci: input lengths differ");
    let tp: Vec<f64> = (0..len).map(|i| typical(high[i], low[i], close[i])).collect();
    let n = period as f64;
    let mut out = vec![f64::NAN; len];
    for i in period.saturating_sub(1)..len {
        out[i] = cci_value(&tp[i + 1 - period..=i], &[], tp[i], n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn hand_computed() {
        // Typical prices 1, 2, 6 (h = l = c): mean 3, md = 2 + 1 + 3 = 6, md/n = 2.
        let p = [1.0, 2.0, 6.0];
        let out = cci(&p, &p, &p, 3);
        assert!(out[0].is_nan() && out[1].is_nan());
        assert_eq!(out[2], 3.0 / (0.015 * 2.0));
    }

    #[test]
    fn flat_prices_give_0() {
        let out = cci(&[5.0; 30], &[5.0; 30], &[5.0; 30], 20);
        assert!(out[19..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn warmup_and_reset() {
        let mut c = Cci::new(3).unwrap();
        assert_eq!(Indicator::warmup(&c), 2);
        assert_eq!(c.next(1.0, 1.0, 1.0), None);
        assert_eq!(c.next(2.0, 2.0, 2.0), None);
        assert_eq!(c.next(6.0, 6.0, 6.0), Some(100.0));
        Indicator::reset(&mut c);
        assert!(!c.is_ready());
        assert!(Cci::new(1).is_err());
    }
}

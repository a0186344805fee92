//! `rsi(n)`: Wilder's relative strength index, TA-Lib's seeding (plain
//! averages of the first `n` gains and losses), 50 on a market that never
//! moved.

use super::catalog::{check_int, SpecError};

/// Wilder smoothing `avg = avg * ((n - 1) / n) + x * (1 / n)`, shared by
/// RSI, ATR and ADX. The coefficients are computed once: a multiply-add per
/// step instead of TA-Lib's `(avg * (n - 1) + x) / n`, whose division sits
/// on the critical path (the results differ only in the last bits).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wilder {
    keep: f64,
    take: f64,
}

impl Wilder {
    pub(crate) fn new(period: usize) -> Self {
        let n = period as f64;
        Wilder { keep: (n - 1.0) / n, take: 1.0 / n }
    }

    #[inline(always)]
    pub(crate) fn step(self, avg: f64, x: f64) -> f64 {
        avg * self.keep + x * self.take
    }
}

/// `100 * (ag / (ag + al))`, or 50 when nothing moved.
#[inline(always)]
fn rsi_value(ag: f64, al: f64) -> f64 {
    let total = ag + al;
    if total == 0.0 {
        50.0
    } else {
        100.0 * (ag / total)
    }
}

/// Streaming RSI of the close.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    n: f64,
    wilder: Wilder,
    /// Inputs seen, saturating at `period + 1`.
    count: usize,
    prev: f64,
    /// Sums of gains and losses while seeding; Wilder averages afterwards.
    gain: f64,
    loss: f64,
    last: Option<f64>,
}

impl Rsi {
    /// An RSI of period `period` (≥ 2).
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("rsi", "period", period, 2)?;
        Ok(Rsi {
            period,
            n: period as f64,
            wilder: Wilder::new(period),
            count: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
            last: None,
        })
    }

    /// Feeds `x`; returns the RSI from the `period + 1`-th input on.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<f64> {
        let d = x - self.prev;
        self.prev = x;
        if self.count > self.period {
            let g = if d > 0.0 { d } else { 0.0 };
            let l = if d < 0.0 { -d } else { 0.0 };
            self.gain = self.wilder.step(self.gain, g);
            self.loss = self.wilder.step(self.loss, l);
            let v = rsi_value(self.gain, self.loss);
            self.last = Some(v);
            return self.last;
        }
        if self.count > 0 {
            if d > 0.0 {
                self.gain += d;
            } else if d < 0.0 {
                self.loss -= d;
            }
        }
        self.count += 1;
        if self.count == self.period + 1 {
            self.gain /= self.n;
            self.loss /= self.n;
            self.last = Some(rsi_value(self.gain, self.loss));
        }
        self.last
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.count = 0;
        self.prev = 0.0;
        self.gain = 0.0;
        self.loss = 0.0;
        self.last = None;
    }
}

super::single_output_indicator!(Rsi, "rsi", |s, bar| s.next(bar.close), warmup: |w| w.period);

/// RSI of `x` over `period` (≥ 2); NaN during the warm-up (`period` values).
///
/// # Panics
/// If `period` < 2.
pub fn rsi(x: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 2, "rsi: period must be >= 2");
    let mut out = vec![f64::NAN; x.len()];
    if x.len() <= period {
        return out;
    }
    let n = period as f64;
    let w = Wilder::new(period);
    let (mut gain, mut loss) = (0.0, 0.0);
    for w in x[..=period].windows(2) {
        let d = w[1] - w[0];
        if d > 0.0 {
            gain += d;
        } else if d < 0.0 {
            loss -= d;
        }
    }
    let (mut ag, mut al) = (gain / n, loss / n);
    out[period] = rsi_value(ag, al);
    for ((o, &v), &prev) in out[period + 1..].iter_mut().zip(&x[period + 1..]).zip(&x[period..]) {
        let d = v - prev;
        let g = if d > 0.0 { d } else { 0.0 };
        let l = if d < 0.0 { -d } else { 0.0 };
        ag = w.step(ag, g);
        al = w.step(al, l);
        *o = rsi_value(ag, al);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;

    #[test]
    fn hand_computed() {
        // Diffs +1, -2, +3 → seed ag = 4/3, al = 2/3 (n = 3) → 100 * ((4/3) / 2) ≈ 66.67.
        let out = rsi(&[10.0, 11.0, 9.0, 12.0, 12.0], 3);
        assert!(out[..3].iter().all(|v| v.is_nan()));
        assert_eq!(out[3], 100.0 * ((4.0 / 3.0) / (4.0 / 3.0 + 2.0 / 3.0)));
        // Then d = 0: ag = (1*2 + 0)/3, al = (2/3*2 + 0)/3.
        let (ag, al) = (((4.0 / 3.0) * 2.0 + 0.0) / 3.0, ((2.0 / 3.0) * 2.0 + 0.0) / 3.0);
        assert_eq!(out[4], 100.0 * (ag / (ag + al)));
    }

    #[test]
    fn flat_prices_give_50() {
        let out = rsi(&[5.0; 30], 14);
        assert!(out[14..].iter().all(|&v| v == 50.0));
        let mut r = Rsi::new(14).unwrap();
        let vals: Vec<_> = (0..30).map(|_| r.next(5.0)).collect();
        assert_eq!(vals[13], None);
        assert_eq!(vals[14], Some(50.0));
    }

    #[test]
    fn only_gains_give_100() {
        let xs: Vec<f64> = (0..20).map(|i| i as f64).collect();
        assert!(rsi(&xs, 5)[5..].iter().all(|&v| v == 100.0));
    }

    #[test]
    fn warmup_and_reset() {
        let mut r = Rsi::new(3).unwrap();
        assert_eq!(Indicator::warmup(&r), 3);
        let xs = [10.0, 11.0, 9.0, 12.0];
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(r.next(x).is_some(), i >= 3);
        }
        Indicator::reset(&mut r);
        assert!(!r.is_ready());
        for &x in &xs {
            r.next(x);
        }
        assert_eq!(r.value(), Some(100.0 * ((4.0 / 3.0) / (4.0 / 3.0 + 2.0 / 3.0))));
    }

    #[test]
    fn rejects_period_below_2() {
        assert_eq!(Rsi::new(1).unwrap_err().to_string(), "rsi: parameter `period` must be a whole number >= 2, got 1");
    }
}

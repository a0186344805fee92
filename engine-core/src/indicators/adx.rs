//! `adx(n)`: Wilder's average directional index with ±DI, exactly TA-Lib's
//! scheme (smoothing from the sum of `n - 1` values, DX averaged over
//! bars `n … 2n - 1` as the seed).

use super::atr::true_range;
use super::catalog::{check_int, SpecError};
use super::rsi::Wilder;
use super::Indicator;
use crate::market_data::Bar;

/// One ADX update's outputs; the DIs start at bar `n`, the ADX at `2n - 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdxValue {
    pub adx: Option<f64>,
    pub plus_di: f64,
    pub minus_di: f64,
}

/// Streaming ADX.
#[derive(Debug, Clone)]
pub struct Adx {
    period: usize,
    n: f64,
    wilder: Wilder,
    /// Bars seen, saturating at `2n`.
    count: usize,
    prev_high: f64,
    prev_low: f64,
    prev_close: f64,
    /// Smoothed +DM, −DM and true range.
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
    /// Sum of DX while seeding, the ADX afterwards.
    adx: f64,
    last: Option<AdxValue>,
}

impl Adx {
    /// An ADX of period `period` (≥ 2).
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("adx", "period", period, 2)?;
        Ok(Adx {
            period,
            n: period as f64,
            wilder: Wilder::new(period),
            count: 0,
            prev_high: 0.0,
            prev_low: 0.0,
            prev_close: 0.0,
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
            adx: 0.0,
            last: None,
        })
    }

    /// Feeds a bar; returns the DIs from bar `n` on, the ADX from `2n - 1`.
    #[inline]
    pub fn next(&mut self, high: f64, low: f64, close: f64) -> Option<AdxValue> {
        let i = self.count;
        let (ph, pl, pc) = (self.prev_high, self.prev_low, self.prev_close);
        self.prev_high = high;
        self.prev_low = low;
        self.prev_close = close;
        if i < 2 * self.period {
            self.count += 1;
        }
        if i == 0 {
            return None;
        }
        let up = high - ph;
        let down = pl - low;
        let (pdm, mdm) = if down > 0.0 && up < down {
            (0.0, down)
        } else if up > 0.0 && up > down {
            (up, 0.0)
        } else {
            (0.0, 0.0)
        };
        let tr = true_range(high, low, pc);
        if i < self.period {
            self.plus_dm += pdm;
            self.minus_dm += mdm;
            self.tr += tr;
            return None;
        }
        self.plus_dm = self.plus_dm - self.plus_dm / self.n + pdm;
        self.minus_dm = self.minus_dm - self.minus_dm / self.n + mdm;
        self.tr = self.tr - self.tr / self.n + tr;
        let (plus_di, minus_di, dx) = if self.tr != 0.0 {
            let plus_di = 100.0 * (self.plus_dm / self.tr);
            let minus_di = 100.0 * (self.minus_dm / self.tr);
            let sum = minus_di + plus_di;
            let dx = (sum != 0.0).then(|| 100.0 * ((minus_di - plus_di).abs() / sum));
            (plus_di, minus_di, dx)
        } else {
            (0.0, 0.0, None)
        };
        let adx = if i < 2 * self.period - 1 {
            if let Some(dx) = dx {
                self.adx += dx;
            }
            None
        } else if i == 2 * self.period - 1 {
            if let Some(dx) = dx {
                self.adx += dx;
            }
            self.adx /= self.n;
            Some(self.adx)
        } else {
            if let Some(dx) = dx {
                self.adx = self.wilder.step(self.adx, dx);
            }
            Some(self.adx)
        };
        self.last = Some(AdxValue { adx, plus_di, minus_di });
        self.last
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        *self = Adx::new(self.period).expect("period already validated");
    }
}

impl Indicator for Adx {
    fn update(&mut self, bar: &Bar) {
        self.next(bar.high, bar.low, bar.close);
    }
    fn is_ready(&self) -> bool {
        self.last.is_some_and(|v| v.adx.is_some())
    }
    fn reset(&mut self) {
        Adx::reset(self);
    }
    fn output(&self, index: usize) -> Option<f64> {
        let v = self.last?;
        match index {
            0 => v.adx,
            1 => Some(v.plus_di),
            2 => Some(v.minus_di),
            _ => None,
        }
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["adx", "plus_di", "minus_di"]
    }
    fn warmup(&self) -> usize {
        2 * self.period - 1
    }
}

/// The ADX series, NaN during their warm-ups.
#[derive(Debug, Clone, PartialEq)]
pub struct AdxSeries {
    pub adx: Vec<f64>,
    pub plus_di: Vec<f64>,
    pub minus_di: Vec<f64>,
}

/// ADX over `period` (≥ 2).
///
/// # Panics
/// If `period` < 2 or the slices differ in length.
pub fn adx(high: &[f64], low: &[f64], close: &[f64], period: usize) -> AdxSeries {
    let mut a = Adx::new(period).unwrap_or_else(|e| panic!("{e}"));
    let len = close.len();
    assert!(high.len() == len && low.len() == len, "adx: input lengths differ");
    let mut out = AdxSeries { adx: vec![f64::NAN; len], plus_di: vec![f64::NAN; len], minus_di: vec![f64::NAN; len] };
    for i in 0..len {
        if let Some(v) = a.next(high[i], low[i], close[i]) {
            out.adx[i] = v.adx.unwrap_or(f64::NAN);
            out.plus_di[i] = v.plus_di;
            out.minus_di[i] = v.minus_di;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_n2() {
        let h = [10.0, 11.0, 10.5, 12.0, 11.0];
        let l = [9.0, 9.5, 9.0, 10.0, 9.0];
        let c = [9.5, 10.5, 10.0, 11.5, 9.5];
        let out = adx(&h, &l, &c, 2);
        // Bar 1: up 1, down -0.5 → +DM 1; tr max(1.5, 1.5, 0) = 1.5. Sums P=1, M=0, T=1.5.
        // Bar 2: up -0.5, down 0.5 → −DM 0.5; tr max(1.5, 0, 1.5) = 1.5.
        let (p, m, t) = (1.0 - 1.0 / 2.0 + 0.0, 0.0 - 0.0 / 2.0 + 0.5, 1.5 - 1.5 / 2.0 + 1.5);
        let (pdi, mdi) = (100.0 * (p / t), 100.0 * (m / t));
        assert!(out.plus_di[1].is_nan());
        assert_eq!((out.plus_di[2], out.minus_di[2]), (pdi, mdi));
        let dx2 = 100.0 * ((mdi - pdi).abs() / (mdi + pdi));
        // Bar 3: up 1.5, down -1 → +DM 1.5; tr max(2, 2, 0) = 2.
        let (p, m, t) = (p - p / 2.0 + 1.5, m - m / 2.0 + 0.0, t - t / 2.0 + 2.0);
        let (pdi3, mdi3) = (100.0 * (p / t), 100.0 * (m / t));
        let dx3 = 100.0 * ((mdi3 - pdi3).abs() / (mdi3 + pdi3));
        assert!(out.adx[2].is_nan());
        assert_eq!(out.adx[3], (dx2 + dx3) / 2.0);
        // Bar 4: up -1, down 1 → −DM 1; tr max(2, 0.5, 2.5) = 2.5.
        let (p, m, t) = (p - p / 2.0 + 0.0, m - m / 2.0 + 1.0, t - t / 2.0 + 2.5);
        let (pdi4, mdi4) = (100.0 * (p / t), 100.0 * (m / t));
        let dx4 = 100.0 * ((mdi4 - pdi4).abs() / (mdi4 + pdi4));
        assert_eq!(out.adx[4], (out.adx[3] * 1.0 + dx4) / 2.0);
        assert_eq!(out.minus_di[4], mdi4);
    }

    #[test]
    fn flat_prices_have_zero_dis_and_no_adx_change() {
        let mut a = Adx::new(3).unwrap();
        for _ in 0..10 {
            a.next(5.0, 5.0, 5.0);
        }
        assert_eq!(a.output(1), Some(0.0));
        assert_eq!(a.output(2), Some(0.0));
        // No DX is ever defined, so the seed sum stays 0.
        assert_eq!(a.output(0), Some(0.0));
    }

    #[test]
    fn warmup_and_reset() {
        let mut a = Adx::new(3).unwrap();
        assert_eq!(Indicator::warmup(&a), 5);
        for i in 0..8 {
            let x = 10.0 + (i as f64 * 1.3).sin();
            a.next(x + 1.0, x - 1.0, x);
            assert_eq!(a.output(1).is_some(), i >= 3, "DI at {i}");
            assert_eq!(a.is_ready(), i >= 5, "ADX at {i}");
        }
        Indicator::reset(&mut a);
        assert!(!a.is_ready());
        assert_eq!(a.output(1), None);
        assert!(Adx::new(1).is_err());
    }
}

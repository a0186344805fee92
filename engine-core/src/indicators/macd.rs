//! `macd(fast, slow, signal)`: TA-Lib's MACD. The fast EMA is fed only from
//! close index `slow - fast` on, so its SMA seed ends, like the slow one's,
//! at index `slow - 1`.

use super::catalog::{check_int, SpecError};
use super::ema::Ema;
use super::Indicator;
use crate::market_data::Bar;

/// One MACD update's outputs; `signal` and `hist` appear `signal - 1` bars
/// after `line`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdValue {
    pub line: f64,
    pub signal: Option<f64>,
    pub hist: Option<f64>,
}

/// Streaming MACD of the close.
#[derive(Debug, Clone)]
pub struct Macd {
    fast_period: usize,
    slow_period: usize,
    signal_period: usize,
    fast: Ema,
    slow: Ema,
    signal: Ema,
    /// Inputs seen, saturating at `slow - fast` (when the fast EMA starts).
    count: usize,
    last: Option<MacdValue>,
}

impl Macd {
    /// A MACD; `fast` and `slow` are swapped when `fast > slow` (TA-Lib).
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, SpecError> {
        check_int("macd", "fast", fast, 1)?;
        check_int("macd", "slow", slow, 1)?;
        check_int("macd", "signal", signal, 1)?;
        let (fast, slow) = if fast > slow { (slow, fast) } else { (fast, slow) };
        Ok(Macd {
            fast_period: fast,
            slow_period: slow,
            signal_period: signal,
            fast: Ema::with_period(fast),
            slow: Ema::with_period(slow),
            signal: Ema::with_period(signal),
            count: 0,
            last: None,
        })
    }

    /// Feeds `x`; returns the line from index `slow - 1`, signal and
    /// histogram from `slow + signal - 2`.
    #[inline]
    pub fn next(&mut self, x: f64) -> Option<MacdValue> {
        let slow = self.slow.next(x);
        if self.count < self.slow_period - self.fast_period {
            self.count += 1;
            return None;
        }
        let fast = self.fast.next(x);
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return None;
        };
        let line = fast - slow;
        let signal = self.signal.next(line);
        let value = MacdValue { line, signal, hist: signal.map(|s| line - s) };
        self.last = Some(value);
        self.last
    }

    /// The last value.
    pub fn last(&self) -> Option<MacdValue> {
        self.last
    }

    /// Forgets all inputs.
    pub fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.signal.reset();
        self.count = 0;
        self.last = None;
    }
}

impl Indicator for Macd {
    fn update(&mut self, bar: &Bar) {
        self.next(bar.close);
    }
    fn is_ready(&self) -> bool {
        self.last.is_some_and(|v| v.signal.is_some())
    }
    fn reset(&mut self) {
        Macd::reset(self);
    }
    fn output(&self, index: usize) -> Option<f64> {
        let v = self.last?;
        match index {
            0 => Some(v.line),
            1 => v.signal,
            2 => v.hist,
            _ => None,
        }
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["line", "signal", "hist"]
    }
    fn warmup(&self) -> usize {
        self.slow_period + self.signal_period - 2
    }
}

/// The three MACD series, NaN during their warm-ups.
#[derive(Debug, Clone, PartialEq)]
pub struct MacdSeries {
    pub line: Vec<f64>,
    pub signal: Vec<f64>,
    pub hist: Vec<f64>,
}

/// MACD of `x` (parameters as [`Macd::new`]).
///
/// # Panics
/// If a period is 0.
pub fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> MacdSeries {
    let mut m = Macd::new(fast, slow, signal).unwrap_or_else(|e| panic!("{e}"));
    let mut out =
        MacdSeries { line: vec![f64::NAN; x.len()], signal: vec![f64::NAN; x.len()], hist: vec![f64::NAN; x.len()] };
    for (i, &v) in x.iter().enumerate() {
        if let Some(r) = m.next(v) {
            out.line[i] = r.line;
            out.signal[i] = r.signal.unwrap_or(f64::NAN);
            out.hist[i] = r.hist.unwrap_or(f64::NAN);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::ema::ema;

    #[test]
    fn hand_computed_alignment() {
        // fast 2, slow 3, signal 2: the fast EMA starts at index 1.
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0];
        let out = macd(&xs, 2, 3, 2);
        let slow = ema(&xs, 3);
        let fast = ema(&xs[1..], 2);
        assert!(out.line[..2].iter().all(|v| v.is_nan()));
        for i in 2..5 {
            assert_eq!(out.line[i], fast[i - 1] - slow[i]);
        }
        // Signal seed: mean of the first two line values, at index 3 = slow + signal - 2.
        assert!(out.signal[2].is_nan());
        let seed = (out.line[2] + out.line[3]) / 2.0;
        assert_eq!(out.signal[3], seed);
        assert_eq!(out.hist[3], out.line[3] - seed);
        assert_eq!(out.signal[4], (out.line[4] - seed) * (2.0 / 3.0) + seed);
    }

    #[test]
    fn swaps_fast_and_slow() {
        let xs: Vec<f64> = (0..60).map(|i| (i as f64 * 0.3).sin() + 10.0).collect();
        let a = macd(&xs, 26, 12, 9);
        let b = macd(&xs, 12, 26, 9);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn warmup_and_reset() {
        let mut m = Macd::new(12, 26, 9).unwrap();
        assert_eq!(Indicator::warmup(&m), 33);
        for i in 0..40 {
            m.next(100.0 + i as f64);
            assert_eq!(m.output(0).is_some(), i >= 25, "line at {i}");
            assert_eq!(m.output(1).is_some(), i >= 33, "signal at {i}");
            assert_eq!(m.is_ready(), i >= 33);
        }
        Indicator::reset(&mut m);
        assert!(!m.is_ready());
        assert_eq!(m.output(0), None);
    }

    #[test]
    fn rejects_zero_signal() {
        assert_eq!(
            Macd::new(12, 26, 0).unwrap_err().to_string(),
            "macd: parameter `signal` must be a whole number >= 1, got 0"
        );
    }
}

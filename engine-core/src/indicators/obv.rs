//! `obv`: on-balance volume, starting at the first bar's volume (TA-Lib).

use super::Indicator;
use crate::market_data::Bar;

/// Streaming on-balance volume.
#[derive(Debug, Clone, Default)]
pub struct Obv {
    prev_close: f64,
    value: f64,
    started: bool,
}

impl Obv {
    /// A new OBV (no parameters).
    pub fn new() -> Self {
        Obv::default()
    }

    /// Feeds a bar's close and volume; returns the OBV from the first bar on.
    #[inline]
    pub fn next(&mut self, close: f64, volume: f64) -> Option<f64> {
        if !self.started {
            self.started = true;
            self.value = volume;
        } else if close > self.prev_close {
            self.value += volume;
        } else if close < self.prev_close {
            self.value -= volume;
        }
        self.prev_close = close;
        Some(self.value)
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        *self = Obv::default();
    }
}

impl Indicator for Obv {
    fn update(&mut self, bar: &Bar) {
        self.next(bar.close, bar.volume);
    }
    fn is_ready(&self) -> bool {
        self.started
    }
    fn reset(&mut self) {
        Obv::reset(self);
    }
    fn output(&self, index: usize) -> Option<f64> {
        (index == 0 && self.started).then_some(self.value)
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["obv"]
    }
    fn warmup(&self) -> usize {
        0
    }
}

/// OBV of `close` and `volume`.
///
/// # Panics
/// If the slices differ in length.
pub fn obv(close: &[f64], volume: &[f64]) -> Vec<f64> {
    assert_eq!(close.len(), volume.len(), "obv: input lengths differ");
    let mut o = Obv::new();
    close.iter().zip(volume).map(|(&c, &v)| o.next(c, v).unwrap_or(f64::NAN)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        let out = obv(&[10.0, 11.0, 11.0, 9.0, 12.0], &[100.0, 20.0, 30.0, 40.0, 5.0]);
        assert_eq!(out, vec![100.0, 120.0, 120.0, 80.0, 85.0]);
    }

    #[test]
    fn warmup_and_reset() {
        let mut o = Obv::new();
        assert_eq!(Indicator::warmup(&o), 0);
        assert!(!o.is_ready());
        assert_eq!(o.next(1.0, 7.0), Some(7.0));
        assert!(o.is_ready());
        Indicator::reset(&mut o);
        assert!(!o.is_ready());
        assert_eq!(o.value(), None);
        assert_eq!(o.next(1.0, 3.0), Some(3.0));
    }
}

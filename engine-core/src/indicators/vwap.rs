//! `vwap(n)`: rolling volume-weighted average price of the typical price,
//! and `vwap_session(session_minutes, offset_minutes)`: VWAP anchored at
//! the start of each session.

use super::catalog::{check_int, SpecError};
use super::ring::RingBuffer;

/// Typical price `(h + l + c) / 3`, as [`Bar::typical_price`].
#[inline(always)]
pub(crate) fn typical(h: f64, l: f64, c: f64) -> f64 {
    (h + l + c) / 3.0
}

/// Streaming rolling VWAP over the last `period` bars.
#[derive(Debug, Clone)]
pub struct Vwap {
    period: usize,
    /// Typical price times volume of the last `period` bars.
    pv: RingBuffer,
    volume: RingBuffer,
    last: Option<f64>,
}

impl Vwap {
    /// A VWAP over `period` (≥ 1) bars.
    pub fn new(period: usize) -> Result<Self, SpecError> {
        check_int("vwap", "period", period, 1)?;
        Ok(Vwap { period, pv: RingBuffer::new(period), volume: RingBuffer::new(period), last: None })
    }

    /// Feeds a bar; returns `Σ tp·v / Σ v` over the window once it is full,
    /// `None` while the window's volume is 0.
    #[inline]
    pub fn next(&mut self, high: f64, low: f64, close: f64, volume: f64) -> Option<f64> {
        self.pv.push(typical(high, low, close) * volume);
        self.volume.push(volume);
        self.last = if self.pv.is_full() { window_vwap(&self.pv, &self.volume) } else { None };
        self.last
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        self.pv.clear();
        self.volume.clear();
        self.last = None;
    }
}

/// Both sums over the window oldest to newest (the doc's window statistic).
#[inline]
fn window_vwap(pv: &RingBuffer, volume: &RingBuffer) -> Option<f64> {
    let (a, b) = pv.as_slices();
    let mut spv = 0.0;
    for &x in a.iter().chain(b) {
        spv += x;
    }
    let (a, b) = volume.as_slices();
    let mut sv = 0.0;
    for &x in a.iter().chain(b) {
        sv += x;
    }
    (sv != 0.0).then(|| spv / sv)
}

super::single_output_indicator!(Vwap, "vwap", |s, bar| s.next(bar.high, bar.low, bar.close, bar.volume), warmup: |w| w.period - 1);

/// Rolling VWAP over `period` (≥ 1); NaN during the warm-up and while the
/// window's volume is 0.
///
/// # Panics
/// If `period` is 0 or the slices differ in length.
pub fn vwap(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], period: usize) -> Vec<f64> {
    let mut v = Vwap::new(period).unwrap_or_else(|e| panic!("{e}"));
    let len = close.len();
    assert!(high.len() == len && low.len() == len && volume.len() == len, "vwap: input lengths differ");
    (0..len).map(|i| v.next(high[i], low[i], close[i], volume[i]).unwrap_or(f64::NAN)).collect()
}

/// Streaming session-anchored VWAP.
#[derive(Debug, Clone)]
pub struct SessionVwap {
    session_minutes: u64,
    offset_minutes: u64,
    session_ms: i64,
    offset_ms: i64,
    session: Option<i64>,
    pv: f64,
    volume: f64,
    last: Option<f64>,
}

impl SessionVwap {
    /// Sessions of `session_minutes` (≥ 1) starting `offset_minutes` (≥ 0)
    /// after each multiple of the session length since the Unix epoch.
    pub fn new(session_minutes: u64, offset_minutes: u64) -> Result<Self, SpecError> {
        check_int("vwap_session", "session_minutes", session_minutes as usize, 1)?;
        Ok(SessionVwap {
            session_minutes,
            offset_minutes,
            session_ms: (session_minutes as i64).saturating_mul(60_000),
            offset_ms: (offset_minutes as i64).saturating_mul(60_000),
            session: None,
            pv: 0.0,
            volume: 0.0,
            last: None,
        })
    }

    /// The session parameters `(session_minutes, offset_minutes)`.
    pub fn params(&self) -> (u64, u64) {
        (self.session_minutes, self.offset_minutes)
    }

    /// Session number of a bar opening at `open_time` (ms): floor division,
    /// so times before 1970 fall in negative sessions.
    #[inline]
    pub fn session_of(&self, open_time: i64) -> i64 {
        open_time.saturating_sub(self.offset_ms).div_euclid(self.session_ms)
    }

    /// Feeds a bar; returns `pv / vol` since the session start, `None`
    /// while the session's volume is 0.
    #[inline]
    pub fn next(&mut self, open_time: i64, high: f64, low: f64, close: f64, volume: f64) -> Option<f64> {
        let session = self.session_of(open_time);
        if self.session != Some(session) {
            self.session = Some(session);
            self.pv = 0.0;
            self.volume = 0.0;
        }
        self.pv += typical(high, low, close) * volume;
        self.volume += volume;
        self.last = (self.volume != 0.0).then(|| self.pv / self.volume);
        self.last
    }

    /// Forgets all bars.
    pub fn reset(&mut self) {
        self.session = None;
        self.pv = 0.0;
        self.volume = 0.0;
        self.last = None;
    }
}

super::single_output_indicator!(SessionVwap, "vwap", |s, bar| s.next(bar.open_time, bar.high, bar.low, bar.close, bar.volume), warmup: |_w| 0);

/// Session-anchored VWAP; NaN while the session's volume is 0.
///
/// # Panics
/// If `session_minutes` is 0 or the slices differ in length.
pub fn vwap_session(
    time: &[i64],
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    session_minutes: u64,
    offset_minutes: u64,
) -> Vec<f64> {
    let mut v = SessionVwap::new(session_minutes, offset_minutes).unwrap_or_else(|e| panic!("{e}"));
    let len = close.len();
    assert!(
        time.len() == len && high.len() == len && low.len() == len && volume.len() == len,
        "vwap_session: input lengths differ"
    );
    (0..len).map(|i| v.next(time[i], high[i], low[i], close[i], volume[i]).unwrap_or(f64::NAN)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::Indicator;
    use crate::market_data::Bar;

    #[test]
    fn typical_matches_bar() {
        let bar = Bar::new("X".into(), 0, 1.0, 2.3, 0.7, 1.1, 5.0);
        assert_eq!(typical(bar.high, bar.low, bar.close).to_bits(), bar.typical_price().to_bits());
    }

    #[test]
    fn rolling_hand_computed() {
        // Typical prices 2, 4, 6 (h = l = c); volumes 1, 3, 0.
        let p = [2.0, 4.0, 6.0, 6.0];
        let v = [1.0, 3.0, 0.0, 0.0];
        let out = vwap(&p, &p, &p, &v, 2);
        assert!(out[0].is_nan());
        assert_eq!(out[1], (2.0 + 12.0) / 4.0);
        assert_eq!(out[2], 12.0 / 3.0);
        assert!(out[3].is_nan(), "zero window volume gives no value");
    }

    #[test]
    fn rolling_warmup_and_reset() {
        let mut v = Vwap::new(3).unwrap();
        assert_eq!(Indicator::warmup(&v), 2);
        assert_eq!(v.next(1.0, 1.0, 1.0, 1.0), None);
        assert_eq!(v.next(1.0, 1.0, 1.0, 1.0), None);
        assert_eq!(v.next(4.0, 4.0, 4.0, 2.0), Some(2.5));
        Indicator::reset(&mut v);
        assert!(!v.is_ready());
        assert!(Vwap::new(0).is_err());
    }

    #[test]
    fn session_restarts_and_floors_negative_times() {
        let mut s = SessionVwap::new(60, 0).unwrap();
        assert_eq!(s.session_of(-1), -1);
        assert_eq!(s.session_of(0), 0);
        assert_eq!(s.session_of(3_599_999), 0);
        assert_eq!(s.session_of(3_600_000), 1);
        assert_eq!(s.next(-60_000, 3.0, 3.0, 3.0, 0.0), None, "zero volume gives no value");
        assert_eq!(s.next(0, 2.0, 2.0, 2.0, 1.0), Some(2.0));
        assert_eq!(s.next(60_000, 5.0, 5.0, 5.0, 2.0), Some(12.0 / 3.0));
        assert_eq!(s.next(3_600_000, 7.0, 7.0, 7.0, 1.0), Some(7.0), "new session restarts");
        Indicator::reset(&mut s);
        assert!(!s.is_ready());
        let with_offset = SessionVwap::new(1440, 60).unwrap();
        assert_eq!(with_offset.session_of(3_599_999), -1);
        assert_eq!(with_offset.session_of(3_600_000), 0);
        assert!(SessionVwap::new(0, 0).is_err());
    }
}

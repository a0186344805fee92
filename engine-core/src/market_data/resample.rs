//! Resampling bars to a longer interval (1m → 15m, 1h, ...).
//!
//! Buckets are aligned to the epoch (UTC): a 1h bar opens on the hour. A
//! bucket's bar is emitted only once it is complete, when a bar of a later
//! bucket arrives or a bar's `close_time` reaches the bucket's end, so a
//! consumer never sees a bar that will still change (no look-ahead).

use super::Bar;

/// Streaming resampler: feed base bars in time order, get completed bars.
#[derive(Debug, Clone)]
pub struct BarResampler {
    interval_ms: i64,
    current: Option<Bar>,
    /// Open time of the next bucket, when `current` is `Some`.
    bucket_end: i64,
    /// Length of the base bars, when known: a bar reaching the bucket's end
    /// completes it even without a `close_time`.
    base_ms: Option<i64>,
}

impl BarResampler {
    /// # Panics
    /// If `interval_ms` is not positive.
    pub fn new(interval_ms: i64) -> Self {
        assert!(interval_ms > 0, "a resampling interval must be positive, got {interval_ms} ms");
        BarResampler { interval_ms, current: None, bucket_end: 0, base_ms: None }
    }

    /// Tells the resampler how long the base bars are, so that the last
    /// base bar of a bucket completes it even when bars carry no
    /// `close_time` (generic CSV files).
    pub fn with_base_interval(mut self, base_ms: i64) -> Self {
        self.base_ms = (base_ms > 0).then_some(base_ms);
        self
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Feeds a bar; `emit` receives every bucket it completes (none, one,
    /// or two: the previous bucket and, when the bar's `close_time` ends its
    /// own bucket, that one too). A bar older than the bucket being built is
    /// ignored (time runs forward).
    pub fn push(&mut self, bar: &Bar, mut emit: impl FnMut(Bar)) {
        let start = bar.open_time.div_euclid(self.interval_ms) * self.interval_ms;
        match &mut self.current {
            Some(current) if start == current.open_time => {
                current.high = current.high.max(bar.high);
                current.low = current.low.min(bar.low);
                current.close = bar.close;
                current.volume += bar.volume;
                current.bid = bar.bid;
                current.ask = bar.ask;
            }
            Some(current) if start < current.open_time => return,
            _ => {
                if let Some(done) = self.current.take() {
                    emit(done);
                }
                self.bucket_end = start.saturating_add(self.interval_ms);
                self.current = Some(Bar { open_time: start, close_time: Some(self.bucket_end - 1), ..bar.clone() });
            }
        }
        let ends = bar.close_time.map(|close| close.saturating_add(1)).or(self.base_ms.map(|b| bar.open_time + b));
        if ends.is_some_and(|end| end >= self.bucket_end) {
            if let Some(done) = self.current.take() {
                emit(done);
            }
        }
    }

    /// The bucket being built, not yet complete.
    pub fn pending(&self) -> Option<&Bar> {
        self.current.as_ref()
    }
}

/// The complete `interval_ms` bars of `bars` (a trailing partial bucket is
/// left out).
pub fn resample(bars: &[Bar], interval_ms: i64) -> Vec<Bar> {
    let mut resampler = BarResampler::new(interval_ms).with_base_interval(base_interval(bars).unwrap_or(0));
    let mut out = Vec::with_capacity(bars.len() / (interval_ms as usize).max(1) + 1);
    for bar in bars {
        resampler.push(bar, |done| out.push(done));
    }
    out
}

/// The base bar length of a series: the shortest step between open times.
pub fn base_interval(bars: &[Bar]) -> Option<i64> {
    bars.windows(2).map(|w| w[1].open_time - w[0].open_time).filter(|d| *d > 0).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(r: &mut BarResampler, bar: &Bar) -> Vec<Bar> {
        let mut out = Vec::new();
        r.push(bar, |b| out.push(b));
        out
    }

    fn minute(i: i64, close: f64, volume: f64) -> Bar {
        let mut bar = Bar::new("T".into(), i * 60_000, close, close + 1.0, close - 1.0, close, volume);
        bar.close_time = Some(i * 60_000 + 59_999);
        bar
    }

    #[test]
    fn aggregates_ohlcv_per_aligned_bucket() {
        let bars: Vec<Bar> = (0..45).map(|i| minute(i, 100.0 + i as f64, 1.0 + i as f64)).collect();
        let out = resample(&bars, 15 * 60_000);
        assert_eq!(out.len(), 3);
        for (k, bar) in out.iter().enumerate() {
            let first = 15 * k as i64;
            assert_eq!(bar.open_time, first * 60_000);
            assert_eq!(bar.close_time, Some((first + 15) * 60_000 - 1));
            assert_eq!(bar.open, 100.0 + first as f64);
            assert_eq!(bar.close, 100.0 + (first + 14) as f64);
            assert_eq!(bar.high, 100.0 + (first + 14) as f64 + 1.0);
            assert_eq!(bar.low, 100.0 + first as f64 - 1.0);
            assert_eq!(bar.volume, (first..first + 15).map(|i| 1.0 + i as f64).sum::<f64>());
            assert!(bar.validate().is_ok());
        }
    }

    #[test]
    fn emits_a_bucket_only_when_complete() {
        let mut r = BarResampler::new(3 * 60_000);
        assert!(push(&mut r, &minute(0, 1.0, 1.0)).is_empty());
        assert!(push(&mut r, &minute(1, 2.0, 1.0)).is_empty());
        let done = push(&mut r, &minute(2, 3.0, 1.0));
        assert_eq!(done.len(), 1, "the third minute closes the bucket");
        assert_eq!((done[0].open, done[0].close, done[0].volume), (1.0, 3.0, 3.0));
        // Without close times, a bucket completes when the next one starts.
        let mut r = BarResampler::new(3 * 60_000);
        let plain = |i: i64| Bar::new("T".into(), i * 60_000, 1.0, 1.0, 1.0, 1.0, 1.0);
        assert!(push(&mut r, &plain(0)).is_empty());
        assert!(push(&mut r, &plain(2)).is_empty());
        assert_eq!(push(&mut r, &plain(4)).iter().map(|b| b.volume).collect::<Vec<_>>(), vec![2.0]);
        // Knowing the base interval, the bucket's last minute completes it.
        let mut r = BarResampler::new(3 * 60_000).with_base_interval(60_000);
        assert!(push(&mut r, &plain(0)).is_empty());
        assert!(push(&mut r, &plain(1)).is_empty());
        assert_eq!(push(&mut r, &plain(2)).len(), 1);
        // Resampling to the base interval passes every bar straight through.
        let mut r = BarResampler::new(60_000);
        for i in 0..3 {
            assert_eq!(push(&mut r, &minute(i, 1.0, 1.0)).len(), 1);
        }
        // A trailing partial bucket is not emitted by the batch form.
        let bars: Vec<Bar> = (0..7).map(|i| minute(i, 1.0, 1.0)).collect();
        assert_eq!(resample(&bars, 3 * 60_000).len(), 2);
    }

    #[test]
    fn gaps_skip_buckets_and_old_bars_are_ignored() {
        let mut r = BarResampler::new(3 * 60_000);
        let plain = |i: i64| Bar::new("T".into(), i * 60_000, 1.0, 1.0, 1.0, 1.0, 1.0);
        push(&mut r, &plain(0));
        let done = push(&mut r, &plain(10));
        assert_eq!(done[0].open_time, 0);
        assert!(push(&mut r, &plain(1)).is_empty());
        assert_eq!(r.pending().unwrap().open_time, 9 * 60_000);
        assert_eq!(r.pending().unwrap().volume, 1.0);
    }
}

//! Pacing a replay: events released at N times the pace of their market
//! times, whatever N (a pace so slow that a wait would overflow a
//! `Duration` or an `Instant` waits at most [`MAX_WAIT`] per event instead
//! of panicking).

use std::time::{Duration, Instant};

/// The longest single wait between two events.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Releases events at `speed` times their market pace, measured from the
/// first one.
#[derive(Debug, Clone)]
pub struct ReplayPacer {
    speed: f64,
    /// Wall time and market time of the first event.
    anchor: Option<(Instant, i64)>,
}

impl ReplayPacer {
    /// `None` unless `speed` is finite and positive.
    pub fn new(speed: f64) -> Option<ReplayPacer> {
        (speed.is_finite() && speed > 0.0).then_some(ReplayPacer { speed, anchor: None })
    }

    /// How long to wait at wall time `now` before releasing the event at
    /// market time `time` (epoch ms); `None`: release it now. Events
    /// earlier than the first go at once.
    pub fn delay(&mut self, time: i64, now: Instant) -> Option<Duration> {
        let (start, first) = *self.anchor.get_or_insert((now, time));
        let market_secs = time.saturating_sub(first).max(0) as f64 / 1000.0;
        // Too far to represent is as good as "the longest wait".
        let offset = Duration::try_from_secs_f64(market_secs / self.speed).unwrap_or(Duration::MAX);
        let wait = match start.checked_add(offset) {
            Some(due) => due.saturating_duration_since(now),
            None => MAX_WAIT,
        };
        Some(wait.min(MAX_WAIT)).filter(|w| !w.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finite_positive_speeds_pace() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(ReplayPacer::new(speed).is_none(), "{speed}");
        }
        assert!(ReplayPacer::new(1e-300).is_some());
    }

    #[test]
    fn events_are_spaced_by_market_time_over_the_speed() {
        let start = Instant::now();
        let mut pacer = ReplayPacer::new(100.0).unwrap();
        assert_eq!(pacer.delay(60_000, start), None, "the first event goes at once");
        // One minute later in market time is 600 ms later at 100x.
        assert_eq!(pacer.delay(120_000, start), Some(Duration::from_millis(600)));
        assert_eq!(pacer.delay(120_000, start + Duration::from_millis(700)), None, "already late");
        assert_eq!(pacer.delay(0, start), None, "an earlier event goes at once");
    }

    #[test]
    fn extreme_speeds_never_panic() {
        let start = Instant::now();
        let mut crawl = ReplayPacer::new(1e-300).unwrap();
        crawl.delay(0, start);
        assert_eq!(crawl.delay(60_000, start), Some(MAX_WAIT));
        assert_eq!(crawl.delay(i64::MAX, start), Some(MAX_WAIT));
        let mut slow = ReplayPacer::new(1e-12).unwrap();
        slow.delay(i64::MIN, start);
        assert_eq!(slow.delay(i64::MAX, start), Some(MAX_WAIT));
        let mut fast = ReplayPacer::new(f64::MAX).unwrap();
        fast.delay(0, start);
        assert_eq!(fast.delay(i64::MAX, start), None);
    }
}

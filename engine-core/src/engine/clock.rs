//! Time, as the engine sees it. Nothing in strategy, state machine, risk or
//! execution reads the system time: they see the market time of the bar
//! they are given. The engine's own loop needs a clock for two things only:
//! pacing a replay (`--speed 100`) and stamping live status lines, and
//! both go through these types, so a test can run the live path on a fast
//! clock. The live clock is [`WallClock`]; the historical clock is
//! [`MarketClock`], the market time the run has reached.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock (live mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// The historical clock: the market time a run has reached (the open time
/// of the bars of its last step), advanced by the engine as it steps. It
/// tells how far a replay got in its own time (progress lines), whatever
/// its pace; `i64::MIN` before the first step.
#[derive(Debug, Clone)]
pub struct MarketClock(Arc<AtomicI64>);

impl Default for MarketClock {
    fn default() -> Self {
        MarketClock(Arc::new(AtomicI64::new(i64::MIN)))
    }
}

impl MarketClock {
    /// Moves the clock to `time`; it never goes back (several groups may
    /// advance one clock, each at its own pace).
    pub fn advance(&self, time: i64) {
        self.0.fetch_max(time, Ordering::Relaxed);
    }

    /// `None` before the first step.
    pub fn time(&self) -> Option<i64> {
        Some(self.now_ms()).filter(|&t| t != i64::MIN)
    }
}

impl Clock for MarketClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How a run takes its bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunMode {
    /// Bars as a live source delivers them.
    Live,
    /// Bars from history: as fast as possible (`speed: None`), or paced at
    /// `speed` times the pace of their timestamps.
    Historical { speed: Option<f64> },
}

impl Default for RunMode {
    fn default() -> Self {
        RunMode::Historical { speed: None }
    }
}

impl RunMode {
    pub fn speed(self) -> Option<f64> {
        match self {
            RunMode::Historical { speed } => speed,
            _ => None,
        }
    }

    pub fn is_live(self) -> bool {
        self == RunMode::Live
    }
}

/// Checks a pace (`--speed N`, `engine.speed`, a live source's `speed`):
/// `name: must be a finite number above 0, got …` otherwise.
pub fn check_speed(name: &str, speed: f64) -> Result<f64, String> {
    if speed.is_finite() && speed > 0.0 {
        Ok(speed)
    } else {
        Err(format!("{name}: must be a finite number above 0, got {speed}"))
    }
}

/// Paces a replay: bar `t` is released `(t − t₀) / speed` after the first
/// bar `t₀` was, by the wall clock. Used by the engine (`--speed`) and by
/// `trading-engine replay --speed`.
#[derive(Debug, Clone)]
pub struct Pacer {
    speed: Option<f64>,
    /// Wall time and market time of the first bar.
    anchor: Option<(Instant, i64)>,
}

impl Pacer {
    /// The longest single wait: a pace so slow that a bar's due time would
    /// overflow a `Duration` or an `Instant` (`--speed 1e-300`) waits this
    /// long per bar instead of panicking.
    pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

    /// No pacing unless `speed` is finite and positive.
    pub fn new(speed: Option<f64>) -> Pacer {
        Pacer { speed: speed.filter(|s| s.is_finite() && *s > 0.0), anchor: None }
    }

    /// Whether bars are paced at all.
    pub fn is_paced(&self) -> bool {
        self.speed.is_some()
    }

    /// How long to wait before releasing the bar at market time `time`.
    pub fn delay(&mut self, time: i64) -> Option<Duration> {
        self.delay_at(time, Instant::now())
    }

    /// [`Pacer::delay`] at wall time `now`; `None`: release it now. Bars
    /// earlier than the first go at once.
    pub fn delay_at(&mut self, time: i64, now: Instant) -> Option<Duration> {
        let speed = self.speed?;
        let (start, first) = *self.anchor.get_or_insert((now, time));
        let market_secs = time.saturating_sub(first).max(0) as f64 / 1000.0;
        // Too far to represent is as good as "the longest wait".
        let offset = Duration::try_from_secs_f64(market_secs / speed).unwrap_or(Duration::MAX);
        let wait = match start.checked_add(offset) {
            Some(due) => due.saturating_duration_since(now),
            None => Pacer::MAX_WAIT,
        };
        Some(wait.min(Pacer::MAX_WAIT)).filter(|w| !w.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pacer_spaces_bars_by_their_time_over_the_speed() {
        let mut unpaced = Pacer::new(None);
        assert_eq!(unpaced.delay(0), None);
        assert_eq!(unpaced.delay(1_000_000), None);
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(!Pacer::new(Some(speed)).is_paced(), "{speed}");
        }
        let start = Instant::now();
        let mut pacer = Pacer::new(Some(100.0));
        assert_eq!(pacer.delay_at(60_000, start), None, "the first bar goes at once");
        // One minute later in market time is 600 ms later at 100x.
        assert_eq!(pacer.delay_at(120_000, start), Some(Duration::from_millis(600)));
        assert_eq!(pacer.delay_at(120_000, start + Duration::from_millis(700)), None, "already late");
        assert_eq!(pacer.delay_at(0, start), None, "an earlier bar goes at once");
        assert!(WallClock.now_ms() > 1_700_000_000_000);
    }

    #[test]
    fn extreme_speeds_wait_at_most_a_day_and_never_panic() {
        let start = Instant::now();
        let mut crawl = Pacer::new(Some(1e-300));
        crawl.delay_at(0, start);
        assert_eq!(crawl.delay_at(60_000, start), Some(Pacer::MAX_WAIT));
        assert_eq!(crawl.delay_at(i64::MAX, start), Some(Pacer::MAX_WAIT));
        let mut slow = Pacer::new(Some(1e-12));
        slow.delay_at(i64::MIN, start);
        assert_eq!(slow.delay_at(i64::MAX, start), Some(Pacer::MAX_WAIT));
        let mut fast = Pacer::new(Some(f64::MAX));
        fast.delay_at(0, start);
        assert_eq!(fast.delay_at(i64::MAX, start), None);
    }

    #[test]
    fn the_market_clock_follows_the_latest_step_and_never_goes_back() {
        let clock = MarketClock::default();
        assert_eq!(clock.time(), None);
        clock.advance(120_000);
        let shared = clock.clone();
        shared.advance(60_000);
        assert_eq!(clock.time(), Some(120_000));
        shared.advance(180_000);
        assert_eq!(clock.now_ms(), 180_000);
    }
}

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

/// Paces a replay: bar `t` is released `(t − t₀) / speed` after the first
/// bar `t₀` was, by the wall clock.
#[derive(Debug, Clone)]
pub struct Pacer {
    speed: Option<f64>,
    anchor: Option<(Instant, i64)>,
}

impl Pacer {
    /// `None`: no pacing.
    pub fn new(speed: Option<f64>) -> Pacer {
        Pacer { speed: speed.filter(|s| s.is_finite() && *s > 0.0), anchor: None }
    }

    /// How long to wait before releasing the bar at market time `time`.
    /// A bar due beyond what an `Instant` can hold (a speed such as
    /// `1e-300`) waits [`Pacer::FOREVER`]: until the run is stopped.
    pub fn delay(&mut self, time: i64) -> Option<Duration> {
        let speed = self.speed?;
        let (start, t0) = *self.anchor.get_or_insert((Instant::now(), time));
        let offset = Duration::try_from_secs_f64(((time - t0).max(0) as f64 / 1000.0) / speed);
        let Some(due) = offset.ok().and_then(|offset| start.checked_add(offset)) else {
            return Some(Pacer::FOREVER);
        };
        due.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    /// The wait of a bar that is never due (tokio's timers cap it at about
    /// two years).
    pub const FOREVER: Duration = Duration::MAX;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pacer_spaces_bars_by_their_time_over_the_speed() {
        let mut unpaced = Pacer::new(None);
        assert_eq!(unpaced.delay(0), None);
        assert_eq!(unpaced.delay(1_000_000), None);
        let mut pacer = Pacer::new(Some(100.0));
        assert_eq!(pacer.delay(60_000), None, "the first bar goes at once");
        // One minute later in market time is 600 ms later at 100x.
        let d = pacer.delay(120_000).unwrap();
        assert!(d > Duration::from_millis(500) && d <= Duration::from_millis(600), "{d:?}");
        assert!(WallClock.now_ms() > 1_700_000_000_000);
    }

    #[test]
    fn a_bar_too_far_away_to_be_due_waits_forever_instead_of_panicking() {
        for speed in [1e-300, f64::MIN_POSITIVE] {
            let mut pacer = Pacer::new(Some(speed));
            assert_eq!(pacer.delay(0), None);
            assert_eq!(pacer.delay(60_000), Some(Pacer::FOREVER), "speed {speed}");
        }
        // Slow but representable: a minute of market time at 1e-9x.
        let mut pacer = Pacer::new(Some(1e-9));
        assert_eq!(pacer.delay(0), None);
        let d = pacer.delay(60_000).unwrap();
        assert!(d > Duration::from_secs(59_000_000_000) && d < Pacer::FOREVER, "{d:?}");
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

//! Live sources: bars that arrive as they happen.
//!
//! * [`PushedSource`]: bars pushed into a channel by whatever receives them
//!   (an exchange feed, a test replaying history in real time).
//! * [`LiveSyntheticSource`]: the synthetic market ticking in real time,
//!   for paper trading offline: each bar is released when its interval has
//!   passed on the clock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::synthetic::{generate, SyntheticConfig};
use super::{MarketDataSource, SourceError, SourceEvent};
use crate::engine::clock::Clock;
use crate::market_data::Bar;

/// Bars pushed by a sender; the source ends when every sender is dropped.
#[derive(Debug)]
pub struct PushedSource {
    name: String,
    receiver: mpsc::Receiver<Bar>,
}

impl PushedSource {
    /// A source and the sender that feeds it (`capacity` bars may wait).
    pub fn channel(name: impl Into<String>, capacity: usize) -> (mpsc::Sender<Bar>, PushedSource) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (sender, PushedSource { name: name.into(), receiver })
    }
}

#[async_trait]
impl MarketDataSource for PushedSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        Ok(match self.receiver.recv().await {
            Some(bar) => SourceEvent::Bar(bar),
            None => SourceEvent::EndOfData,
        })
    }

    fn is_live(&self) -> bool {
        true
    }
}

/// Bars generated in chunks of this many (each chunk continues from the
/// previous one's last close).
const CHUNK: usize = 1_000;

/// The synthetic market in real time: bar `n` opens at `start + n ×
/// interval` and is released once it has closed by `clock` (or `speed`
/// times sooner). The bars are those of [`generate`], chunk by chunk, each
/// chunk seeded from the configured seed and its number.
pub struct LiveSyntheticSource {
    name: String,
    config: SyntheticConfig,
    clock: Arc<dyn Clock>,
    /// Wall-clock milliseconds per bar (the interval unless sped up).
    tick_ms: i64,
    pending: VecDeque<Bar>,
    chunk: u64,
    last_close: f64,
    first_open: i64,
    first_wall: i64,
    released: i64,
    /// Bars still to give (`None`: until the engine stops).
    left: Option<usize>,
}

impl LiveSyntheticSource {
    /// Starts at the clock's current time, aligned down to the interval.
    /// `bars` limits the run (`config.bars` is ignored); `None` runs until
    /// the engine stops.
    pub fn new(config: SyntheticConfig, clock: Arc<dyn Clock>, bars: Option<usize>) -> LiveSyntheticSource {
        let interval = config.interval_ms.max(1);
        let now = clock.now_ms();
        LiveSyntheticSource {
            name: format!("{} live", config.name()),
            tick_ms: interval,
            last_close: config.start_price,
            config,
            clock,
            pending: VecDeque::new(),
            chunk: 0,
            first_open: now.div_euclid(interval) * interval,
            first_wall: now,
            released: 0,
            left: bars,
        }
    }

    /// Releases bars `speed` times faster than their interval (demos, tests).
    pub fn with_speed(mut self, speed: f64) -> Self {
        if speed.is_finite() && speed > 0.0 {
            self.tick_ms = ((self.config.interval_ms as f64 / speed).round() as i64).max(1);
        }
        self
    }

    fn refill(&mut self) {
        let config = SyntheticConfig {
            seed: self.config.seed.wrapping_add(self.chunk),
            bars: CHUNK,
            start_price: self.last_close,
            ..self.config.clone()
        };
        self.chunk += 1;
        self.pending.extend(generate(&config).bars);
    }
}

#[async_trait]
impl MarketDataSource for LiveSyntheticSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        if self.left == Some(0) {
            return Ok(SourceEvent::EndOfData);
        }
        if self.pending.is_empty() {
            self.refill();
        }
        let mut bar = self.pending.pop_front().expect("just refilled");
        bar.open_time = self.first_open + self.released * self.config.interval_ms.max(1);
        self.last_close = bar.close;
        self.released += 1;
        if let Some(left) = &mut self.left {
            *left -= 1;
        }
        let due = self.first_wall + self.released * self.tick_ms;
        let wait = due - self.clock.now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        Ok(SourceEvent::Bar(bar))
    }

    fn is_live(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::WallClock;

    #[tokio::test]
    async fn live_synthetic_bars_come_on_schedule_and_continue_across_chunks() {
        let config = SyntheticConfig { interval_ms: 1_000, ..SyntheticConfig::default() };
        let mut source = LiveSyntheticSource::new(config, Arc::new(WallClock), Some(1_002)).with_speed(1_000_000.0);
        let mut bars = Vec::new();
        while let SourceEvent::Bar(bar) = source.next_event().await.unwrap() {
            bars.push(bar);
        }
        assert_eq!(bars.len(), 1_002);
        for pair in bars.windows(2) {
            assert_eq!(pair[1].open_time - pair[0].open_time, 1_000);
            assert_eq!(pair[1].open, pair[0].close, "each bar opens at the previous close, chunks included");
        }
        assert_eq!(source.next_event().await.unwrap(), SourceEvent::EndOfData);
    }

    #[tokio::test]
    async fn pushed_bars_arrive_in_order_and_the_source_ends_with_its_senders() {
        let (sender, mut source) = PushedSource::channel("pushed", 4);
        let bars = generate(&SyntheticConfig { bars: 3, ..SyntheticConfig::default() }).bars;
        let feed = bars.clone();
        tokio::spawn(async move {
            for bar in feed {
                sender.send(bar).await.unwrap();
            }
        });
        for bar in &bars {
            assert_eq!(source.next_event().await.unwrap(), SourceEvent::Bar(bar.clone()));
        }
        assert_eq!(source.next_event().await.unwrap(), SourceEvent::EndOfData);
        assert!(source.is_live());
    }
}

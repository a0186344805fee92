//! Data sources: where bars come from.
//!
//! Live and historical sources implement the same async [`MarketDataSource`]
//! trait, so the runner does not know which one it drives.

pub mod live;
pub mod load;
pub mod synthetic;

pub use live::{LiveSyntheticSource, PushedSource};
pub use load::{
    detect_format, load_bytes, load_file, symbol_from_path, BadRowPolicy, DataFormat, LoadError, LoadOptions,
    LoadReport, LoadedSeries, RowIssue,
};
pub use synthetic::{generate, Regime, SyntheticConfig, SyntheticConfigError, SyntheticSeries};

use async_trait::async_trait;

use crate::market_data::Bar;

/// What a source yields next.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    Bar(Bar),
    /// The source has no more data (a historical file is exhausted, a live
    /// feed was shut down). Further calls keep returning `EndOfData`.
    EndOfData,
}

/// A failure of a source. A live source may recover after it; a historical
/// one reports it once, at the row where it happened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{source_name}: {message}")]
    Feed { source_name: String, message: String },
    /// A historical file could not be loaded (`file:line: message`).
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// A stream of bars, historical or live.
#[async_trait]
pub trait MarketDataSource: Send {
    /// A short name for logs and reports (`FILUSDT-1m-2023-08.csv`, `synthetic(seed=42)`).
    fn name(&self) -> &str;

    /// The next bar, or [`SourceEvent::EndOfData`].
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError>;

    /// The next event if the source has it at hand, without waiting: the
    /// fast path for sources holding their bars in memory (`None`: call
    /// [`MarketDataSource::next_event`]).
    fn next_ready(&mut self) -> Option<Result<SourceEvent, SourceError>> {
        None
    }

    /// Bars left, when the source knows (for progress and ETA).
    fn remaining(&self) -> Option<usize> {
        None
    }

    /// Whether bars come as they happen (a live feed) rather than from
    /// history.
    fn is_live(&self) -> bool {
        false
    }
}

/// A historical source over bars already in memory: what every loader and
/// the synthetic generator hand to the runner.
#[derive(Debug, Clone)]
pub struct HistoricalSource {
    name: String,
    bars: std::vec::IntoIter<Bar>,
}

impl HistoricalSource {
    pub fn new(name: impl Into<String>, bars: Vec<Bar>) -> Self {
        HistoricalSource { name: name.into(), bars: bars.into_iter() }
    }

    /// Bars not yet handed out.
    pub fn remaining(&self) -> usize {
        self.bars.len()
    }

    fn take(&mut self) -> SourceEvent {
        match self.bars.next() {
            Some(bar) => SourceEvent::Bar(bar),
            None => SourceEvent::EndOfData,
        }
    }
}

#[async_trait]
impl MarketDataSource for HistoricalSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        Ok(self.take())
    }

    fn next_ready(&mut self) -> Option<Result<SourceEvent, SourceError>> {
        Some(Ok(self.take()))
    }

    fn remaining(&self) -> Option<usize> {
        Some(self.bars.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_historical_source_yields_its_bars_then_end_of_data_for_good() {
        let series = generate(&SyntheticConfig { bars: 3, ..SyntheticConfig::default() });
        let mut source: Box<dyn MarketDataSource> = Box::new(HistoricalSource::new("synthetic", series.bars.clone()));
        assert_eq!(source.name(), "synthetic");
        for expected in &series.bars {
            assert_eq!(source.next_event().await.unwrap(), SourceEvent::Bar(expected.clone()));
        }
        for _ in 0..2 {
            assert_eq!(source.next_event().await.unwrap(), SourceEvent::EndOfData);
        }
    }
}

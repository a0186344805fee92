//! The boundary between the engine and a strategy: plain data in, plain
//! data out. The Lua host implements [`Strategy`]; a strategy can also be
//! written in Rust (the benchmarks compare the two).

use serde::{Deserialize, Serialize};

use super::action::{ActionError, Commitment, Management, Setup, Side};
use super::ctx::CtxValue;
use super::indicator_set::IndicatorSet;
use crate::market_data::{Bar, MarketDataWindow};
use crate::regime::RegimeState;

/// The market of one symbol at the current bar.
#[derive(Clone, Copy)]
pub struct MarketView<'a> {
    pub symbol: &'a str,
    /// The current bar, also the newest of `window`.
    pub bar: &'a Bar,
    pub window: &'a MarketDataWindow,
}

/// The strategy's position on its symbol, as execution reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PositionView {
    /// `None` when flat.
    pub side: Option<Side>,
    /// Absolute quantity.
    pub quantity: f64,
    pub entry_price: Option<f64>,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    /// At the current bar's close.
    pub unrealized_pnl: f64,
    /// Bars since the entry filled.
    pub bars_held: u64,
}

/// Which version of a strategy made a decision: the hash of its source and
/// how many times it was (re)loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StrategyVersion {
    /// SHA-256 of the source file, hex. Shared: every decision carries it.
    pub hash: std::sync::Arc<str>,
    /// 1 for the first load, +1 per successful reload.
    pub generation: u64,
}

impl StrategyVersion {
    /// A version for `source` at `generation`.
    pub fn of(source: &[u8], generation: u64) -> StrategyVersion {
        StrategyVersion { hash: crate::content_hash::sha256_hex(source).into(), generation }
    }

    /// The first 12 hex digits, for logs.
    pub fn short(&self) -> &str {
        &self.hash[..12.min(self.hash.len())]
    }
}

/// What a strategy callback sees.
pub struct StrategyInput<'a> {
    pub market: MarketView<'a>,
    pub indicators: &'a mut IndicatorSet,
    pub position: &'a PositionView,
    /// The regime detector's latest state, when the runner has one.
    pub regime: Option<&'a RegimeState>,
}

/// Why a strategy call gave no decision.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategyError {
    /// The strategy returned something malformed: refused and counted,
    /// the strategy keeps running.
    #[error("{file}: {source}")]
    BadAction {
        file: String,
        #[source]
        source: ActionError,
    },
    /// The script failed (error, budget, memory, timeout): the strategy is
    /// quarantined for the symbol until a reload succeeds.
    #[error("{0}")]
    Script(String),
}

impl StrategyError {
    /// True when the strategy must be quarantined.
    pub fn quarantines(&self) -> bool {
        matches!(self, StrategyError::Script(_))
    }
}

/// A trading strategy, called by the per-symbol state machine.
pub trait Strategy: Send {
    /// File or type name, for logs and records.
    fn name(&self) -> &str;

    fn version(&self) -> &StrategyVersion;

    /// Watch: a setup, or `None` to keep watching.
    fn detect_opportunity(&mut self, input: StrategyInput<'_>) -> Result<Option<Setup>, StrategyError>;

    /// CloseWatch: enter, cancel, or `None` to keep waiting.
    fn filter_commitment(&mut self, input: StrategyInput<'_>) -> Result<Option<Commitment>, StrategyError>;

    /// InTrade: exit (all or part), move stop/target, or `None`.
    fn manage_position(&mut self, input: StrategyInput<'_>) -> Result<Option<Management>, StrategyError>;

    /// Called before every bar: a strategy that watches its source reloads
    /// it here when it changed. `Some(Ok(version))` after a successful
    /// reload, `Some(Err(message))` when the new source was refused (the
    /// running version stays), `None` when nothing changed.
    fn poll_reload(&mut self) -> Option<Result<StrategyVersion, String>> {
        None
    }

    /// The strategy's own state as plain data (a Lua strategy's `ctx`), for
    /// the event log, taken after every step: the same `Arc` as last time
    /// while it has not changed. `None` when it has none to show.
    fn context(&mut self) -> Option<std::sync::Arc<CtxValue>> {
        None
    }
}

/// A boxed strategy is a strategy: the engine runs Lua and Rust strategies
/// side by side as `Box<dyn Strategy>`.
impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn version(&self) -> &StrategyVersion {
        (**self).version()
    }

    fn detect_opportunity(&mut self, input: StrategyInput<'_>) -> Result<Option<Setup>, StrategyError> {
        (**self).detect_opportunity(input)
    }

    fn filter_commitment(&mut self, input: StrategyInput<'_>) -> Result<Option<Commitment>, StrategyError> {
        (**self).filter_commitment(input)
    }

    fn manage_position(&mut self, input: StrategyInput<'_>) -> Result<Option<Management>, StrategyError> {
        (**self).manage_position(input)
    }

    fn poll_reload(&mut self) -> Option<Result<StrategyVersion, String>> {
        (**self).poll_reload()
    }

    fn context(&mut self) -> Option<std::sync::Arc<CtxValue>> {
        (**self).context()
    }
}

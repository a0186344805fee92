//! One runner step as the session log records it: the bar, the state
//! before, the transitions and their reasons, the strategy's decision and
//! the version that made it, risk's verdicts, the orders and fills of the
//! step, and the symbol's state after it.
//!
//! These are plain serde types without internally tagged enums, so the
//! same values encode compactly (postcard, in the log) and readably (JSON,
//! in `inspect-event` and exports).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::execution::{FillRecord, OrderRecord};
use crate::market_data::{Bar, Symbol};
use crate::runner::Decision;
use crate::state_machine::{SymbolState, Transition};
use crate::strategy::CtxValue;

/// A bar without its symbol (the step names it) or time (the step's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedBar {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub close_time: Option<i64>,
}

impl RecordedBar {
    pub fn of(bar: &Bar) -> RecordedBar {
        RecordedBar {
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
            bid: bar.bid,
            ask: bar.ask,
            close_time: bar.close_time,
        }
    }

    /// The bar again, for `symbol` at `time`.
    pub fn to_bar(&self, symbol: Symbol, time: i64) -> Bar {
        Bar {
            symbol,
            open_time: time,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            bid: self.bid,
            ask: self.ask,
            close_time: self.close_time,
        }
    }
}

/// What risk said during a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskRecord {
    /// An entry approved at this size.
    Approved { quantity: f64 },
    /// An entry refused (`code` such as `RISK_MAX_POSITIONS`).
    Refused { code: String, message: String },
    /// A halt or the kill switch acted on the symbol (cancel or flatten).
    Action { action: String, code: String, message: String },
}

/// The account's figures (the shared account's when symbols share one).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountFigures {
    pub cash: f64,
    pub equity: f64,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
    pub fees: f64,
}

/// The strategy's indicators: their names (`ema(20)`, `macd(12,26,9).hist`)
/// and, when values are recorded, each one's current value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IndicatorValues {
    /// Shared with the runner: cloned per step without copying the names.
    pub names: Arc<[String]>,
    /// Empty when indicators are recomputed on replay instead.
    pub values: Vec<Option<f64>>,
}

/// One symbol's state after a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolSnapshot {
    pub state: SymbolState,
    /// Signed quantity.
    pub position: f64,
    pub average_price: Option<f64>,
    pub unrealized_pnl: f64,
    /// Working orders: entries, the protective stop and target (shared
    /// between the steps that did not change them).
    pub working: Arc<[OrderRecord]>,
    /// Why the strategy is quarantined, if it is.
    pub quarantine: Option<String>,
    pub account: AccountFigures,
    /// The strategy's `ctx` (Lua strategies), shared between the steps
    /// that did not change it.
    pub ctx: Option<Arc<CtxValue>>,
    pub indicators: IndicatorValues,
}

impl Default for SymbolSnapshot {
    fn default() -> Self {
        SymbolSnapshot {
            state: SymbolState::Watch,
            position: 0.0,
            average_price: None,
            unrealized_pnl: 0.0,
            working: Arc::new([]),
            quarantine: None,
            account: AccountFigures::default(),
            ctx: None,
            indicators: IndicatorValues::default(),
        }
    }
}

/// One runner step, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub symbol: Symbol,
    /// The bar's open time, epoch milliseconds.
    pub time: i64,
    pub bar: RecordedBar,
    pub before: SymbolState,
    /// Including those of risk actions taken since the last step.
    pub transitions: Vec<Transition>,
    /// `None` when the strategy was not consulted (cadence, quarantine, an
    /// entry order working).
    pub decision: Option<Decision>,
    pub risk: Vec<RiskRecord>,
    /// Orders that reached a final state (filled, cancelled, rejected,
    /// expired) during the step.
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<FillRecord>,
    pub after: SymbolSnapshot,
}

impl StepRecord {
    /// An empty step of `symbol`, for a reader to decode steps into.
    pub fn blank(symbol: Symbol) -> StepRecord {
        StepRecord {
            symbol,
            time: 0,
            bar: RecordedBar {
                open: 0.0,
                high: 0.0,
                low: 0.0,
                close: 0.0,
                volume: 0.0,
                bid: None,
                ask: None,
                close_time: None,
            },
            before: SymbolState::Watch,
            transitions: Vec::new(),
            decision: None,
            risk: Vec::new(),
            orders: Vec::new(),
            fills: Vec::new(),
            after: SymbolSnapshot::default(),
        }
    }

    /// The bar of the step.
    pub fn to_bar(&self) -> Bar {
        self.bar.to_bar(self.symbol.clone(), self.time)
    }
}

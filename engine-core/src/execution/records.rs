//! Plain records of what execution did: orders, fills, round-trip trades,
//! and the account over time. Execution writes them; risk reads the
//! account snapshot, reports and the event log read the rest.

use std::sync::Arc;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize};

use crate::market_data::Symbol;
use crate::strategy::Side;

/// Identifies an order within one engine run (1, 2, 3, ... in submission
/// order, unique across symbols of one account).
pub type OrderId = u64;

/// Direction of an order (a long position is opened by a buy and closed by
/// a sell; a short one the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderSide {
    Buy,
    Sell,
}

impl OrderSide {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSide::Buy => "buy",
            OrderSide::Sell => "sell",
        }
    }

    /// +1 for a buy, -1 for a sell.
    pub fn sign(self) -> f64 {
        match self {
            OrderSide::Buy => 1.0,
            OrderSide::Sell => -1.0,
        }
    }

    /// The order that opens a position on `side`.
    pub fn opening(side: Side) -> OrderSide {
        match side {
            Side::Long => OrderSide::Buy,
            Side::Short => OrderSide::Sell,
        }
    }

    /// The order that closes a position on `side`.
    pub fn closing(side: Side) -> OrderSide {
        OrderSide::opening(side).opposite()
    }

    pub fn opposite(self) -> OrderSide {
        match self {
            OrderSide::Buy => OrderSide::Sell,
            OrderSide::Sell => OrderSide::Buy,
        }
    }
}

impl std::fmt::Display for OrderSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an order is priced. Externally tagged (`"market"`, `{"limit":
/// {"price": 1.5}}`) so that compact binary encodings (the event log) can
/// read it back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// At the next price available: the next bar's open.
    Market,
    /// At `price` or better.
    Limit { price: f64 },
    /// A market order once the price trades through `trigger`.
    Stop { trigger: f64 },
    /// A limit order at `limit` once the price trades through `trigger`.
    StopLimit { trigger: f64, limit: f64 },
}

impl OrderKind {
    pub fn name(&self) -> &'static str {
        match self {
            OrderKind::Market => "market",
            OrderKind::Limit { .. } => "limit",
            OrderKind::Stop { .. } => "stop",
            OrderKind::StopLimit { .. } => "stop_limit",
        }
    }
}

/// How long an order works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeInForce {
    /// Good till cancelled.
    #[default]
    Gtc,
    /// Immediate or cancel: whatever does not fill on the first bar it can
    /// fill on is cancelled.
    Ioc,
}

/// Why an order exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderPurpose {
    /// Opens a position.
    Entry,
    /// The strategy closes (part of) a position.
    Exit,
    /// The position's protective stop.
    StopLoss,
    /// The position's profit target.
    TakeProfit,
    /// Risk closes the position (kill switch, drawdown halt, quarantine).
    Flatten,
}

impl OrderPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderPurpose::Entry => "entry",
            OrderPurpose::Exit => "exit",
            OrderPurpose::StopLoss => "stop_loss",
            OrderPurpose::TakeProfit => "take_profit",
            OrderPurpose::Flatten => "flatten",
        }
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Working,
    PartiallyFilled,
    Filled,
    Cancelled,
    /// Ran out of time (IOC remainder, entry timeout).
    Expired,
    Rejected,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Working => "working",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Rejected => "rejected",
        }
    }

    /// No more fills can come.
    pub fn is_final(self) -> bool {
        !matches!(self, OrderStatus::Working | OrderStatus::PartiallyFilled)
    }
}

/// An order as it stands (its final state in reports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub id: OrderId,
    #[serde(deserialize_with = "shared_str")]
    pub symbol: Symbol,
    /// Market time it was submitted, epoch milliseconds.
    pub submitted: i64,
    /// Market time of its last change.
    pub updated: i64,
    pub side: OrderSide,
    pub kind: OrderKind,
    pub time_in_force: TimeInForce,
    pub post_only: bool,
    pub purpose: OrderPurpose,
    pub quantity: f64,
    pub filled_quantity: f64,
    /// Volume-weighted price of its fills.
    pub average_price: Option<f64>,
    pub fees: f64,
    pub status: OrderStatus,
    /// The strategy's reason, or why it was rejected, cancelled or expired.
    /// Shared, like the symbol: the working orders are copied into the
    /// event log's step whenever one changes, and a copy then counts two
    /// handles up instead of allocating two strings.
    #[serde(deserialize_with = "shared_str")]
    pub reason: Arc<str>,
}

/// Whether a fill added liquidity (maker fee) or took it (taker fee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Liquidity {
    Maker,
    Taker,
}

/// A shared string read in one allocation: serde's own `Arc<str>` reads a
/// `String` (through a `Box<str>`) and copies it into the `Arc`, two
/// allocations and a copy (replay reads the working orders whenever they
/// changed).
fn shared_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<str>, D::Error> {
    struct SharedStr;
    impl Visitor<'_> for SharedStr {
        type Value = Arc<str>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Arc<str>, E> {
            Ok(v.into())
        }
    }
    deserializer.deserialize_str(SharedStr)
}

/// One execution of (part of) an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillRecord {
    pub order_id: OrderId,
    #[serde(deserialize_with = "shared_str")]
    pub symbol: Symbol,
    /// Market time of the bar it filled on.
    pub time: i64,
    pub side: OrderSide,
    pub purpose: OrderPurpose,
    pub quantity: f64,
    /// Price after slippage and spread.
    pub price: f64,
    pub fee: f64,
    pub liquidity: Liquidity,
    /// P&L this fill realised (closing fills; 0 for opening ones), before fees.
    pub realized_pnl: f64,
}

/// A round trip: a position from its first entry fill until it is flat
/// again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeRecord {
    /// 1, 2, 3, ... per run.
    pub id: u64,
    pub symbol: String,
    pub side: Side,
    pub entry_time: i64,
    /// Average entry price.
    pub entry_price: f64,
    pub exit_time: i64,
    /// Average exit price.
    pub exit_price: f64,
    /// Largest quantity held.
    pub quantity: f64,
    /// P&L before fees.
    pub gross_pnl: f64,
    /// Entry and exit fees.
    pub fees: f64,
    /// `gross_pnl - fees`.
    pub net_pnl: f64,
    /// `net_pnl` over the entry notional (`entry_price * quantity`).
    pub return_pct: f64,
    pub bars_held: u64,
    /// What closed it: `exit`, `stop_loss`, `take_profit`, `flatten`, or
    /// `end_of_data` for a position still open when the run ended.
    pub exit_reason: String,
}

/// The account at one point in time (after a bar was processed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    pub time: i64,
    pub cash: f64,
    /// Cash plus the market value of every position at the bar's close.
    pub equity: f64,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
    /// Fees paid so far.
    pub fees: f64,
    /// Sum of |quantity × price| over open positions.
    pub gross_exposure: f64,
}

/// What risk sees of the account when it decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub time: i64,
    pub initial_capital: f64,
    pub cash: f64,
    pub equity: f64,
    pub realized_pnl: f64,
    pub unrealized_pnl: f64,
    pub fees: f64,
    /// Symbols with an open position (or an entry order working).
    pub open_positions: usize,
    /// Sum of |quantity × price| over open positions.
    pub gross_exposure: f64,
    /// Highest equity seen so far.
    pub peak_equity: f64,
    /// Equity at the start of the current UTC day.
    pub day_start_equity: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_strings_read_back_from_postcard_and_from_escaped_json() {
        let order = OrderRecord {
            id: 3,
            symbol: "BTCUSDT".into(),
            submitted: 1,
            updated: 2,
            side: OrderSide::Buy,
            kind: OrderKind::Limit { price: 10.5 },
            time_in_force: TimeInForce::Gtc,
            post_only: true,
            purpose: OrderPurpose::Entry,
            quantity: 1.0,
            filled_quantity: 0.0,
            average_price: None,
            fees: 0.0,
            status: OrderStatus::Working,
            reason: "a \"quoted\"\nreason ✓".into(),
        };
        let bytes = postcard::to_allocvec(&order).unwrap();
        assert_eq!(postcard::from_bytes::<OrderRecord>(&bytes).unwrap(), order);
        // JSON with escapes hands the visitor a string it unescaped, not
        // one borrowed from the input.
        let json = serde_json::to_string(&order).unwrap();
        assert!(json.contains(r#"\"quoted\"\n"#), "{json}");
        assert_eq!(serde_json::from_str::<OrderRecord>(&json).unwrap(), order);
        assert!(serde_json::from_str::<OrderRecord>(&json.replace(r#""BTCUSDT""#, "7")).is_err());
    }
}

//! Execution: the only writer of orders and fills.
//!
//! * [`SymbolBroker`] holds one symbol's working orders (market, limit,
//!   stop, stop-limit; GTC or IOC; post-only limits) and fills them against
//!   bars with the [`fill_model`]: next-open market fills, touch-or-gap
//!   limits and stops, stop-first when a bar reaches both a position's stop
//!   and its target, slippage, spread, maker/taker fees and a cap on the
//!   share of a bar's volume one order may take.
//! * [`Account`] keeps cash, positions (average entry), realised and
//!   unrealised P&L and fees exactly, and records orders, fills, round
//!   trips and the equity curve in its [`Ledger`]. It may be shared by the
//!   brokers of several symbols.
//! * Orders that cannot be accepted are rejected with a reason
//!   (insufficient funds, size below the minimum or off the lot size,
//!   invalid price) and recorded as such.

pub mod account;
pub mod broker;
pub mod config;
pub mod fill_model;
pub mod records;

pub use account::{Account, Holding, Ledger};
pub use broker::{EntryRequest, ExecutionEvent, Rejection, SymbolBroker};
pub use config::{ExecutionConfig, ExecutionMode, Fees, Instrument, MarketFill, Slippage, TieRule};
pub use records::{
    AccountSnapshot, EquityPoint, FillRecord, Liquidity, OrderId, OrderKind, OrderPurpose, OrderRecord, OrderSide,
    OrderStatus, TimeInForce, TradeRecord,
};

//! Strategies: the [`Strategy`] boundary, the actions a strategy returns,
//! the indicators it asks for, its plain-data context, and the Lua host
//! (`docs/lua-api.md`).

pub mod action;
pub mod ctx;
mod ema_crossover;
pub mod indicator_set;
mod interface;
pub mod lua_api;
mod lua_host;
pub mod reload;
pub mod sandbox;

pub use action::{
    parse_commitment, parse_management, parse_setup, ActionError, ActionKeys, Commitment, Entry, Management, Setup,
    Side,
};
pub use ctx::{CtxError, CtxKey, CtxValue};
pub use ema_crossover::{EmaCrossover, EmaCrossoverParams};
pub use indicator_set::{IndicatorRequestError, IndicatorSet, DEFAULT_HISTORY};
pub use interface::{MarketView, PositionView, Strategy, StrategyError, StrategyInput, StrategyVersion};
pub use lua_host::{LoadError, LuaStrategy, REQUIRED_FUNCTIONS};

//! The API a Lua strategy sees, in small `register` modules: `md` (market
//! data), `ind` (indicators and the regime), `position`, `params` and `log`,
//! all also reachable under one `engine` table (`docs/lua-api.md`).
//!
//! Per-call data the callbacks need (the window, the indicator set, the
//! regime) lives in one [`HostData`] shared by the host and the API
//! functions ([`SharedHost`]); the host swaps the runner's indicator set in
//! for the call and back out.

mod ind;
mod log;
mod md;
mod position;

use std::sync::Arc;

use mlua::{Lua, Table};
use parking_lot::Mutex;

use super::indicator_set::IndicatorSet;
use crate::market_data::{Bar, MarketDataWindow};
use crate::regime::RegimeState;

pub use position::{PositionFields, PositionTable};

/// What the API functions read during a call.
pub struct HostData {
    /// Symbol and strategy file, for log lines.
    pub symbol: String,
    pub strategy: String,
    /// The host's copy of the market window, newest bar last.
    pub window: MarketDataWindow,
    /// The runner's indicator set, swapped in for the duration of a call.
    pub indicators: IndicatorSet,
    pub regime: Option<RegimeState>,
    /// Log lines written by the strategy, by level (validate reports them).
    pub logged: [u64; 4],
}

impl HostData {
    /// Host data around `window` (the bars seen so far, if any).
    pub fn new(symbol: &str, strategy: &str, window: MarketDataWindow) -> Self {
        HostData {
            symbol: symbol.to_string(),
            strategy: strategy.to_string(),
            window,
            indicators: IndicatorSet::default(),
            regime: None,
            logged: [0; 4],
        }
    }

    /// Takes in the current bar unless it was already taken in.
    pub fn observe(&mut self, bar: &Bar) {
        if self.window.latest().map_or(true, |last| last.open_time < bar.open_time) {
            self.window.push(bar.clone());
        }
    }
}

/// The host data as the host and the API functions hold it. The API
/// functions lock it only while they run, inside a strategy call.
pub type SharedHost = Arc<Mutex<HostData>>;

/// The tables handed to callbacks and kept across calls.
pub struct ApiTables {
    pub engine: Table,
    pub md: Table,
    pub ind: Table,
    pub position: PositionTable,
}

/// Registers the whole API in `lua`, reading `host`: globals `engine`,
/// `log`, `params`, `position`, and the `md` and `ind` tables passed to the
/// callbacks. The state keeps a clone of `host` as its app data: the raw
/// indicator functions point at it.
pub fn register(lua: &Lua, params: Table, host: &SharedHost) -> mlua::Result<ApiTables> {
    lua.set_app_data(host.clone());
    let engine = lua.create_table()?;
    let md = md::register(lua, host)?;
    let ind = ind::register(lua, host)?;
    let position = position::register(lua)?;
    let log = log::register(lua, host)?;
    engine.raw_set("md", &md)?;
    engine.raw_set("ind", &ind)?;
    engine.raw_set("position", &position.table)?;
    engine.raw_set("log", &log)?;
    engine.raw_set("params", &params)?;
    let globals = lua.globals();
    globals.raw_set("engine", &engine)?;
    globals.raw_set("log", log)?;
    globals.raw_set("params", params)?;
    globals.raw_set("position", &position.table)?;
    Ok(ApiTables { engine, md, ind, position })
}

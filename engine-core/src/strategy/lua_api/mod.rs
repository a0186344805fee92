//! The API a Lua strategy sees, in small `register` modules: `md` (market
//! data), `ind` (indicators and the regime), `position`, `params` and `log`,
//! all also reachable under one `engine` table (`docs/lua-api.md`).
//!
//! Per-call data the callbacks need (the window, the indicator set, the
//! regime) lives in one [`HostData`] stored as the state's app data; the
//! host swaps the runner's indicator set in for the call and back out.

mod ind;
mod log;
mod md;
mod position;

use mlua::{Lua, Table};

use super::indicator_set::IndicatorSet;
use crate::market_data::{Bar, MarketDataWindow};
use crate::regime::RegimeState;

pub use position::PositionTable;

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

/// The tables handed to callbacks and kept across calls.
pub struct ApiTables {
    pub engine: Table,
    pub md: Table,
    pub ind: Table,
    pub position: PositionTable,
}

/// Registers the whole API in `lua` (whose app data must hold a
/// [`HostData`]): globals `engine`, `log`, `params`, `position`, and the
/// `md` and `ind` tables passed to the callbacks.
pub fn register(lua: &Lua, params: Table) -> mlua::Result<ApiTables> {
    let engine = lua.create_table()?;
    let md = md::register(lua)?;
    let ind = ind::register(lua)?;
    let position = position::register(lua)?;
    let log = log::register(lua)?;
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

/// The host data of `lua`, for API callbacks.
fn host(lua: &Lua) -> mlua::Result<mlua::AppDataRefMut<'_, HostData>> {
    lua.app_data_mut::<HostData>()
        .ok_or_else(|| mlua::Error::runtime("the strategy API is used outside a strategy call"))
}

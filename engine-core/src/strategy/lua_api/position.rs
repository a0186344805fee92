//! `position`: side (`"long"`, `"short"` or nil), quantity, entry price,
//! stop, target, unrealised P&L and bars held, as execution reports them.

use mlua::{Lua, String as LuaString, Table};

use crate::strategy::{PositionView, Side};

/// The `position` table. The host's dispatch writes its fields in the
/// metered call that runs the callback (a strategy may have put a
/// metatable on `position`, whose `__newindex` must stay metered), and only
/// on the bars where the position changed: see [`PositionTable::fields`].
pub struct PositionTable {
    pub table: Table,
    /// `"long"` and `"short"`, made once: mlua makes a new Lua string in a
    /// protected call for every `&str` it pushes into a memory-limited state.
    long: LuaString,
    short: LuaString,
}

/// A view's fields in the dispatch's order: side, quantity, entry price,
/// stop, target, unrealised P&L, bars held.
pub type PositionFields<'a> = (Option<&'a LuaString>, f64, Option<f64>, Option<f64>, Option<f64>, f64, u64);

impl PositionTable {
    pub fn fields(&self, view: &PositionView) -> PositionFields<'_> {
        (
            view.side.map(|side| match side {
                Side::Long => &self.long,
                Side::Short => &self.short,
            }),
            view.quantity,
            view.entry_price,
            view.stop,
            view.target,
            view.unrealized_pnl,
            view.bars_held,
        )
    }
}

pub(super) fn register(lua: &Lua) -> mlua::Result<PositionTable> {
    // The table starts flat: nil fields, zero quantity.
    let table = lua.create_table()?;
    table.raw_set("quantity", 0.0)?;
    table.raw_set("unrealized_pnl", 0.0)?;
    table.raw_set("bars_held", 0)?;
    let (long, short) = (lua.create_string(Side::Long.as_str())?, lua.create_string(Side::Short.as_str())?);
    Ok(PositionTable { table, long, short })
}

//! `position`: side (`"long"`, `"short"` or nil), quantity, entry price,
//! stop, target, unrealised P&L and bars held, as execution reports them.

use mlua::{Lua, Table};

use crate::strategy::PositionView;

pub(super) fn register(lua: &Lua) -> mlua::Result<Table> {
    let position = lua.create_table()?;
    update_position(&position, &PositionView::default())?;
    Ok(position)
}

/// Writes `view` into the persistent `position` table.
pub fn update_position(t: &Table, view: &PositionView) -> mlua::Result<()> {
    t.raw_set("side", view.side.map(|s| s.as_str()))?;
    t.raw_set("quantity", view.quantity)?;
    t.raw_set("entry_price", view.entry_price)?;
    t.raw_set("stop", view.stop)?;
    t.raw_set("target", view.target)?;
    t.raw_set("unrealized_pnl", view.unrealized_pnl)?;
    t.raw_set("bars_held", view.bars_held)
}

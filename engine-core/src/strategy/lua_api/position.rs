//! `position`: side (`"long"`, `"short"` or nil), quantity, entry price,
//! stop, target, unrealised P&L and bars held, as execution reports them.

use mlua::{Function, Lua, Table};

use crate::strategy::PositionView;

/// Writes the fields in one call into Lua rather than one per field.
const SET_POSITION: &str = r#"
return function(p, side, quantity, entry_price, stop, target, unrealized_pnl, bars_held)
  p.side, p.quantity, p.entry_price, p.stop = side, quantity, entry_price, stop
  p.target, p.unrealized_pnl, p.bars_held = target, unrealized_pnl, bars_held
end
"#;

/// The `position` table and the function that fills it.
pub struct PositionTable {
    pub table: Table,
    setter: Function,
}

impl PositionTable {
    /// Writes `view` into the table.
    pub fn update(&self, view: &PositionView) -> mlua::Result<()> {
        self.setter.call((
            &self.table,
            view.side.map(|s| s.as_str()),
            view.quantity,
            view.entry_price,
            view.stop,
            view.target,
            view.unrealized_pnl,
            view.bars_held,
        ))
    }
}

pub(super) fn register(lua: &Lua) -> mlua::Result<PositionTable> {
    // Trusted engine code, run outside the strategy's limits.
    let setter: Function = lua.load(SET_POSITION).set_name("=engine position").eval()?;
    let position = PositionTable { table: lua.create_table()?, setter };
    position.update(&PositionView::default())?;
    Ok(position)
}

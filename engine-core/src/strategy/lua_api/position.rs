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

/// The setter's arguments for a view: the table, then its fields.
pub type PositionArgs<'a> = (&'a Table, Option<&'static str>, f64, Option<f64>, Option<f64>, Option<f64>, f64, u64);

impl PositionTable {
    /// The function to call (through the sandbox: a strategy may have put
    /// a metatable on `position`, whose `__newindex` must stay metered)
    /// with [`PositionTable::args`].
    pub fn setter(&self) -> &Function {
        &self.setter
    }

    pub fn args(&self, view: &PositionView) -> PositionArgs<'_> {
        (
            &self.table,
            view.side.map(|s| s.as_str()),
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
    // Compiled here; always run through the sandbox's metered calls. The
    // table starts flat: nil fields, zero quantity.
    let setter: Function = lua.load(SET_POSITION).set_name("=engine position").eval()?;
    let table = lua.create_table()?;
    table.raw_set("quantity", 0.0)?;
    table.raw_set("unrealized_pnl", 0.0)?;
    table.raw_set("bars_held", 0)?;
    Ok(PositionTable { table, setter })
}

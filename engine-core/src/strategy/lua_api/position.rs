//! `position`: side (`"long"`, `"short"` or nil), quantity, entry price,
//! stop, target, unrealised P&L and bars held, as execution reports them.

use mlua::{Function, Lua, String as LuaString, Table};

use crate::strategy::{PositionView, Side};

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
    /// `"long"` and `"short"`, made once: mlua makes a new Lua string in a
    /// protected call for every `&str` it pushes into a memory-limited state.
    long: LuaString,
    short: LuaString,
}

/// The setter's arguments for a view: the table, then its fields.
pub type PositionArgs<'a> = (&'a Table, Option<&'a LuaString>, f64, Option<f64>, Option<f64>, Option<f64>, f64, u64);

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
    // Compiled here; always run through the sandbox's metered calls. The
    // table starts flat: nil fields, zero quantity.
    let setter: Function = lua.load(SET_POSITION).set_name("=engine position").eval()?;
    let table = lua.create_table()?;
    table.raw_set("quantity", 0.0)?;
    table.raw_set("unrealized_pnl", 0.0)?;
    table.raw_set("bars_held", 0)?;
    let (long, short) = (lua.create_string(Side::Long.as_str())?, lua.create_string(Side::Short.as_str())?);
    Ok(PositionTable { table, setter, long, short })
}

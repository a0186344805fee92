//! `md`: the current bar (`md.symbol`, `md.time`, `md.open` … `md.volume`,
//! `md.bid`, `md.ask`, written by the host's dispatch before each call) and
//! `md.history(n)`, the last `n` bars as arrays.

use mlua::{Lua, Table};

use super::SharedHost;
use crate::market_data::Bar;

/// Reads one number from a bar.
type BarField = fn(&Bar) -> f64;

pub(super) fn register(lua: &Lua, host: &SharedHost) -> mlua::Result<Table> {
    let md = lua.create_table()?;
    let host = host.clone();
    md.raw_set(
        "history",
        lua.create_function(move |lua, n: Option<i64>| {
            let host = host.lock();
            let have = host.window.len();
            let n = match n {
                None => have,
                Some(n) if n >= 1 => (n as usize).min(have),
                Some(n) => return Err(mlua::Error::runtime(format!("md.history({n}): n must be at least 1"))),
            };
            let columns: [(&str, BarField); 6] = [
                ("times", |b| b.open_time as f64),
                ("opens", |b| b.open),
                ("highs", |b| b.high),
                ("lows", |b| b.low),
                ("closes", |b| b.close),
                ("volumes", |b| b.volume),
            ];
            let out = lua.create_table_with_capacity(0, columns.len() + 1)?;
            let bars: Vec<&Bar> = host.window.iter().skip(have - n).collect();
            for (name, field) in columns {
                let column = lua.create_table_with_capacity(n, 0)?;
                for (i, bar) in bars.iter().enumerate() {
                    column.raw_seti(i + 1, field(bar))?;
                }
                out.raw_set(name, column)?;
            }
            out.raw_set("n", n)?;
            Ok(out)
        })?,
    )?;
    Ok(md)
}

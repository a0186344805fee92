//! `log.debug/info/warn/error(...)`: the arguments joined by spaces, logged
//! with the symbol and the strategy file.

use mlua::{Lua, Table, Value, Variadic};

use super::SharedHost;

pub(super) fn register(lua: &Lua, host: &SharedHost) -> mlua::Result<Table> {
    let log = lua.create_table()?;
    for (level, name) in ["debug", "info", "warn", "error"].into_iter().enumerate() {
        let host = host.clone();
        log.raw_set(
            name,
            lua.create_function(move |_, args: Variadic<Value>| {
                let text = args.iter().map(|v| v.to_string()).collect::<mlua::Result<Vec<_>>>()?.join(" ");
                let mut host = host.lock();
                host.logged[level] += 1;
                let (symbol, strategy) = (host.symbol.as_str(), host.strategy.as_str());
                match level {
                    0 => tracing::debug!(symbol, strategy, "{text}"),
                    1 => tracing::info!(symbol, strategy, "{text}"),
                    2 => tracing::warn!(symbol, strategy, "{text}"),
                    _ => tracing::error!(symbol, strategy, "{text}"),
                }
                Ok(())
            })?,
        )?;
    }
    Ok(log)
}

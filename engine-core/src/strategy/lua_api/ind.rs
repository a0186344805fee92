//! `ind`: every native indicator by name (`ind.ema(20)`,
//! `ind.macd(12, 26, 9).hist`, `ind.bollinger(20, 2).upper`), nil until
//! ready; `ind.ago(n)` gives the same functions `n` bars back (for
//! crossovers); `ind.regime()` gives the regime detector's state.

use mlua::{Lua, Table, Value};

use super::host;
use crate::indicators::catalog;
use crate::strategy::indicator_set::DEFAULT_HISTORY;

pub(super) fn register(lua: &Lua) -> mlua::Result<Table> {
    let ind = indicator_table(lua, 0)?;
    // `ind.ago(n)` tables are built once per `n` and cached.
    let cache = lua.create_table()?;
    ind.raw_set(
        "ago",
        lua.create_function(move |lua, n: i64| {
            if !(0..DEFAULT_HISTORY as i64).contains(&n) {
                return Err(mlua::Error::runtime(format!(
                    "ind.ago({n}): n must be between 0 and {}",
                    DEFAULT_HISTORY - 1
                )));
            }
            if let Value::Table(t) = cache.raw_get(n)? {
                return Ok(t);
            }
            let t = indicator_table(lua, n as usize)?;
            cache.raw_set(n, &t)?;
            Ok(t)
        })?,
    )?;
    ind.raw_set(
        "regime",
        lua.create_function(|lua, ()| {
            let host = host(lua)?;
            let Some(state) = &host.regime else {
                return Ok(Value::Nil);
            };
            let t = lua.create_table()?;
            t.raw_set("regime", state.regime.as_str())?;
            t.raw_set("confidence", state.confidence)?;
            t.raw_set("bias", state.bias)?;
            let p = lua.create_table()?;
            p.raw_set("bearish", state.probabilities.bearish)?;
            p.raw_set("ranging", state.probabilities.ranging)?;
            p.raw_set("bullish", state.probabilities.bullish)?;
            t.raw_set("probabilities", p)?;
            t.raw_set("observations", state.observations)?;
            Ok(Value::Table(t))
        })?,
    )?;
    Ok(ind)
}

/// One function per catalogue indicator, reading values `back` bars ago.
fn indicator_table(lua: &Lua, back: usize) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for info in catalog() {
        let name = info.name;
        let outputs = info.outputs;
        t.raw_set(
            name,
            lua.create_function(move |lua, args: (Option<f64>, Option<f64>, Option<f64>, Option<f64>)| {
                // Typed arguments: no allocation per call. Parameters end at
                // the first nil.
                let all = [args.0, args.1, args.2, args.3];
                let given = all.iter().take_while(|p| p.is_some()).count();
                let mut params = [0.0; 4];
                for (slot, p) in params.iter_mut().zip(&all[..given]) {
                    *slot = p.expect("counted as given");
                }
                let params = &params[..given];
                let mut guard = host(lua)?;
                let host = &mut *guard;
                let bad = |e: crate::strategy::IndicatorRequestError| mlua::Error::runtime(format!("ind.{name}: {e}"));
                if outputs.len() == 1 {
                    let v = host.indicators.value(name, params, 0, back, &host.window).map_err(bad)?;
                    return Ok(v.map_or(Value::Nil, Value::Number));
                }
                // Several outputs: a table, or nil until every one is ready.
                let mut values = [0.0; 4];
                for (o, slot) in values.iter_mut().enumerate().take(outputs.len()) {
                    match host.indicators.value(name, params, o, back, &host.window).map_err(bad)? {
                        Some(v) => *slot = v,
                        None => return Ok(Value::Nil),
                    }
                }
                drop(guard);
                let out = lua.create_table_with_capacity(0, outputs.len())?;
                for (o, key) in outputs.iter().enumerate() {
                    out.raw_set(*key, values[o])?;
                }
                Ok(Value::Table(out))
            })?,
        )?;
    }
    Ok(t)
}

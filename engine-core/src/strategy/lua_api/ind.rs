//! `ind`: every native indicator by name (`ind.ema(20)`,
//! `ind.macd(12, 26, 9).hist`, `ind.bollinger(20, 2).upper`), nil until
//! ready; `ind.ago(n)` gives the same functions `n` bars back (for
//! crossovers); `ind.regime()` gives the regime detector's state.
//!
//! A strategy calls these several times per bar, so the indicator
//! functions and `ago` are plain C functions over the raw Lua API (each a
//! closure over the host data, its catalogue entry and how many bars back
//! it reads), not mlua callbacks: this is most of the difference between a
//! Lua strategy and the same strategy in Rust.

use std::ffi::{c_int, c_void};
use std::panic::AssertUnwindSafe;

use mlua::{ffi, Lua, Table, Value};
use parking_lot::Mutex;

use super::{HostData, SharedHost};
use crate::indicators::{catalog, IndicatorInfo};
use crate::strategy::indicator_set::DEFAULT_HISTORY;

/// Most parameters an indicator function takes (the catalogue's most is 3).
const MAX_PARAMS: usize = 4;

pub(super) fn register(lua: &Lua, host: &SharedHost) -> mlua::Result<Table> {
    let host_ptr = std::sync::Arc::as_ptr(host) as *mut c_void;
    // SAFETY: builds tables and C closures on the stack; the closures keep
    // `host_ptr`, valid for the state's life (the state's app data holds an
    // `Arc` of the host, see `lua_host::build`).
    let ind: Table = unsafe {
        lua.exec_raw((), |state| {
            // Shared by every indicator table: `ind.nope` is an error.
            ffi::lua_createtable(state, 0, 2);
            ffi::lua_pushcfunction(state, unknown_indicator);
            ffi::lua_setfield(state, -2, c"__index".as_ptr());
            ffi::lua_pushboolean(state, 0);
            ffi::lua_setfield(state, -2, c"__metatable".as_ptr());
            let meta = ffi::lua_gettop(state);
            push_indicator_table(state, host_ptr, 0, meta);
            // ind.ago(n): upvalues host, the metatable, the cache by n.
            ffi::lua_pushlightuserdata(state, host_ptr);
            ffi::lua_pushvalue(state, meta);
            ffi::lua_createtable(state, 4, 0);
            ffi::lua_pushcclosure(state, ago, 3);
            ffi::lua_setfield(state, -2, c"ago".as_ptr());
            ffi::lua_remove(state, meta);
        })?
    };
    let regime_host = host.clone();
    ind.raw_set(
        "regime",
        lua.create_function(move |lua, ()| {
            let host = regime_host.lock();
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

/// Pushes a table with one C closure per catalogue indicator reading values
/// `back` bars ago, with the metatable at stack index `meta`.
unsafe fn push_indicator_table(state: *mut ffi::lua_State, host: *mut c_void, back: usize, meta: c_int) {
    let indicators = catalog();
    ffi::lua_createtable(state, 0, indicators.len() as c_int);
    for (index, info) in indicators.iter().enumerate() {
        push_str(state, info.name);
        ffi::lua_pushlightuserdata(state, host);
        ffi::lua_pushinteger(state, index as ffi::lua_Integer);
        ffi::lua_pushinteger(state, back as ffi::lua_Integer);
        ffi::lua_pushcclosure(state, indicator_value, 3);
        ffi::lua_rawset(state, -3);
    }
    ffi::lua_pushvalue(state, meta);
    ffi::lua_setmetatable(state, -2);
}

unsafe fn push_str(state: *mut ffi::lua_State, s: &str) {
    ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
}

/// Raises `message` at the position of the calling Lua code, like
/// `luaL_error` (the message is copied into Lua and dropped first: nothing
/// with a destructor may be alive when `lua_error` jumps out).
unsafe fn raise(state: *mut ffi::lua_State, message: String) -> ! {
    ffi::luaL_where(state, 1);
    push_str(state, &message);
    drop(message);
    ffi::lua_concat(state, 2);
    ffi::lua_error(state)
}

/// The Lua type name of argument `arg`.
unsafe fn type_name(state: *mut ffi::lua_State, arg: c_int) -> String {
    let name = ffi::lua_typename(state, ffi::lua_type(state, arg));
    std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
}

/// What an indicator call gives: nothing yet, one number, or every output.
enum Reading {
    NotReady,
    One(f64),
    All([f64; MAX_PARAMS], &'static [&'static str]),
}

/// `ind.NAME(p1, ...)`: upvalues are the host, the catalogue index and how
/// many bars back. Parameters end at the first nil.
unsafe extern "C-unwind" fn indicator_value(state: *mut ffi::lua_State) -> c_int {
    let info: &'static IndicatorInfo = &catalog()[ffi::lua_tointeger(state, ffi::lua_upvalueindex(2)) as usize];
    let back = ffi::lua_tointeger(state, ffi::lua_upvalueindex(3)) as usize;
    let given = ffi::lua_gettop(state);
    let mut params = [0.0; MAX_PARAMS];
    let mut count = 0;
    for arg in 1..=given {
        if ffi::lua_type(state, arg) == ffi::LUA_TNIL {
            break;
        }
        let mut is_number = 0;
        let value = ffi::lua_tonumberx(state, arg, &mut is_number);
        if is_number == 0 || ffi::lua_type(state, arg) != ffi::LUA_TNUMBER {
            raise(state, format!("ind.{}: parameter {arg} must be a number, got {}", info.name, type_name(state, arg)));
        }
        if count == MAX_PARAMS {
            raise(state, format!("ind.{}: at most {MAX_PARAMS} parameters, got {}", info.name, given));
        }
        params[count] = value;
        count += 1;
    }
    let host = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const Mutex<HostData>);
    let reading = std::panic::catch_unwind(AssertUnwindSafe(|| read(host, info, &params[..count], back)));
    match reading {
        Ok(Ok(Reading::NotReady)) => ffi::lua_pushnil(state),
        Ok(Ok(Reading::One(v))) => ffi::lua_pushnumber(state, v),
        Ok(Ok(Reading::All(values, names))) => {
            ffi::lua_createtable(state, 0, names.len() as c_int);
            for (name, value) in names.iter().zip(values) {
                push_str(state, name);
                ffi::lua_pushnumber(state, value);
                ffi::lua_rawset(state, -3);
            }
        }
        Ok(Err(message)) => raise(state, message),
        Err(_) => raise(state, format!("ind.{}: internal error", info.name)),
    }
    1
}

fn read(host: &Mutex<HostData>, info: &'static IndicatorInfo, params: &[f64], back: usize) -> Result<Reading, String> {
    let mut guard = host.lock();
    let host = &mut *guard;
    let bad = |e: crate::strategy::IndicatorRequestError| format!("ind.{}: {e}", info.name);
    let outputs = info.outputs;
    if outputs.len() == 1 {
        let v = host.indicators.value(info.name, params, 0, back, &host.window).map_err(bad)?;
        return Ok(v.map_or(Reading::NotReady, Reading::One));
    }
    // Several outputs: a table, or nil until every one is ready.
    let mut values = [0.0; MAX_PARAMS];
    for (o, slot) in values.iter_mut().enumerate().take(outputs.len()) {
        match host.indicators.value(info.name, params, o, back, &host.window).map_err(bad)? {
            Some(v) => *slot = v,
            None => return Ok(Reading::NotReady),
        }
    }
    Ok(Reading::All(values, outputs))
}

/// `ind.ago(n)`: the indicator functions `n` bars back, one table per `n`,
/// built on first use and cached (upvalues: host, metatable, cache).
unsafe extern "C-unwind" fn ago(state: *mut ffi::lua_State) -> c_int {
    let last = DEFAULT_HISTORY as ffi::lua_Integer - 1;
    let mut is_integer = 0;
    let n = ffi::lua_tointegerx(state, 1, &mut is_integer);
    if is_integer == 0 || ffi::lua_type(state, 1) != ffi::LUA_TNUMBER || !(0..=last).contains(&n) {
        let got = match ffi::lua_type(state, 1) {
            ffi::LUA_TNUMBER => {
                let v = ffi::lua_tonumberx(state, 1, std::ptr::null_mut());
                format!("{v}")
            }
            _ => type_name(state, 1),
        };
        raise(state, format!("ind.ago(n): n must be an integer between 0 and {last}, got {got}"));
    }
    if ffi::lua_rawgeti(state, ffi::lua_upvalueindex(3), n) != ffi::LUA_TNIL {
        return 1;
    }
    ffi::lua_pop(state, 1);
    push_indicator_table(
        state,
        ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)),
        n as usize,
        ffi::lua_upvalueindex(2),
    );
    ffi::lua_pushvalue(state, -1);
    ffi::lua_rawseti(state, ffi::lua_upvalueindex(3), n);
    1
}

/// `__index` of the indicator tables: a name that is not an indicator.
unsafe extern "C-unwind" fn unknown_indicator(state: *mut ffi::lua_State) -> c_int {
    let key = match ffi::lua_type(state, 2) {
        ffi::LUA_TSTRING => {
            let mut len = 0;
            let ptr = ffi::lua_tolstring(state, 2, &mut len);
            String::from_utf8_lossy(std::slice::from_raw_parts(ptr.cast::<u8>(), len)).into_owned()
        }
        _ => format!("[{}]", type_name(state, 2)),
    };
    let message = {
        let known: Vec<&str> = catalog().iter().map(|i| i.name).collect();
        format!("ind.{key}: unknown indicator (known: {}, ago, regime)", known.join(", "))
    };
    raise(state, message)
}

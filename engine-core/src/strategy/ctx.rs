//! Plain data that survives a hot reload: the strategy's `ctx` and its
//! setups. Numbers, strings, booleans and nested tables with string or
//! integer keys; a function, userdata, coroutine, cycle or float key is
//! refused with the path to it (`ctx.levels[3]`).

use std::cmp::Ordering;
use std::ffi::c_int;

use mlua::{ffi, Lua, Table, Value};
use serde::{Deserialize, Serialize};

/// A key of a plain-data table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CtxKey {
    Int(i64),
    Str(String),
}

/// A plain-data value; tables keep their entries sorted by key so that the
/// same content always gives the same value (and the same event bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CtxValue {
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Table(Vec<(CtxKey, CtxValue)>),
}

/// Why a value is not plain data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} {problem}")]
pub struct CtxError {
    pub path: String,
    pub problem: String,
}

/// Deeper nesting is refused (and stops runaway recursion).
const MAX_DEPTH: usize = 64;

impl CtxValue {
    /// An empty table.
    pub fn empty_table() -> CtxValue {
        CtxValue::Table(Vec::new())
    }

    /// Copies a Lua value out as plain data; `path` names it in errors.
    /// `nil` is only allowed inside tables (where it means absent), so a
    /// top-level `nil` gives an empty table.
    pub fn from_lua(value: &Value, path: &str) -> Result<CtxValue, CtxError> {
        let mut seen = Vec::new();
        match value {
            Value::Nil => Ok(CtxValue::empty_table()),
            v => convert(v, &mut Trail { root: path, keys: Vec::new(), dropped: None }, 0, &mut seen),
        }
    }

    /// Copies `table` out as plain data, as [`CtxValue::from_lua`] does,
    /// but first by a walk with the raw Lua API (no registry reference per
    /// key and value: about a sixth of the instructions), which the event
    /// log pays for whenever `ctx` changed. Anything that walk is in doubt
    /// about (a value plain data cannot hold, a metatable, a float key, a
    /// string that is not UTF-8, deep nesting or a cycle, a stack that
    /// cannot grow) is left to `from_lua`, which copies it or says what is
    /// wrong and where.
    pub fn from_lua_table(lua: &Lua, table: &Table, path: &str) -> Result<CtxValue, CtxError> {
        let copy = on_stack(lua, table, WALK_SLOTS, |state, at| unsafe { copy_table(state, at, 0) }).flatten();
        match copy {
            Some(entries) => Ok(CtxValue::Table(entries)),
            None => CtxValue::from_lua(&Value::Table(table.clone()), path),
        }
    }

    /// Copies what plain data `table` holds, leaving out every entry that is
    /// not (a function, a float key, a table with a metatable, ...) instead
    /// of refusing the whole table: the copy and why each entry was left
    /// out. Only `table` itself being in doubt (a metatable, say) is an
    /// error. For recording a `ctx` that [`CtxValue::from_lua_table`]
    /// refuses.
    pub fn from_lua_table_lenient(table: &Table, path: &str) -> Result<(CtxValue, Vec<CtxError>), CtxError> {
        let mut trail = Trail { root: path, keys: Vec::new(), dropped: Some(Vec::new()) };
        let copy = convert(&Value::Table(table.clone()), &mut trail, 0, &mut Vec::new())?;
        Ok((copy, trail.dropped.unwrap_or_default()))
    }

    /// A fresh Lua value holding a copy of this data.
    pub fn to_lua(&self, lua: &Lua) -> mlua::Result<Value> {
        Ok(match self {
            CtxValue::Bool(b) => Value::Boolean(*b),
            CtxValue::Int(i) => Value::Integer(*i),
            CtxValue::Num(n) => Value::Number(*n),
            CtxValue::Str(s) => Value::String(lua.create_string(s)?),
            CtxValue::Table(entries) => {
                let t = lua.create_table_with_capacity(0, entries.len())?;
                for (k, v) in entries {
                    let value = v.to_lua(lua)?;
                    match k {
                        CtxKey::Int(i) => t.raw_set(*i, value)?,
                        CtxKey::Str(s) => t.raw_set(s.as_str(), value)?,
                    }
                }
                Value::Table(t)
            }
        })
    }

    /// Plain data from JSON: objects become tables with string keys,
    /// arrays tables with keys 1, 2, ...; `null` is refused.
    pub fn from_json(value: &serde_json::Value, path: &str) -> Result<CtxValue, CtxError> {
        use serde_json::Value as J;
        Ok(match value {
            J::Bool(b) => CtxValue::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => CtxValue::Int(i),
                None => CtxValue::Num(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => CtxValue::Str(s.clone()),
            J::Array(items) => CtxValue::Table(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        Ok((CtxKey::Int(i as i64 + 1), CtxValue::from_json(v, &format!("{path}[{}]", i + 1))?))
                    })
                    .collect::<Result<_, CtxError>>()?,
            ),
            J::Object(map) => {
                let mut entries = map
                    .iter()
                    .map(|(k, v)| Ok((CtxKey::Str(k.clone()), CtxValue::from_json(v, &format!("{path}.{k}"))?)))
                    .collect::<Result<Vec<_>, CtxError>>()?;
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                CtxValue::Table(entries)
            }
            J::Null => {
                return Err(CtxError { path: path.to_string(), problem: "is null: leave it out instead".into() })
            }
        })
    }

    /// The value as plain JSON, for people and tools (exports,
    /// `inspect-event`); the log keeps its own encoding. A table whose keys
    /// are exactly 1, 2, ..., n (a Lua sequence) is an array; any other
    /// table an object, integer keys written as strings (`{"10": -3}`); an
    /// empty table `{}`. A NaN or infinite number is `null`, as JSON has none.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            CtxValue::Bool(b) => J::Bool(*b),
            CtxValue::Int(i) => J::from(*i),
            CtxValue::Num(n) => serde_json::Number::from_f64(*n).map_or(J::Null, J::Number),
            CtxValue::Str(s) => J::String(s.clone()),
            CtxValue::Table(entries) if is_sequence(entries) => {
                J::Array(entries.iter().map(|(_, v)| v.to_json()).collect())
            }
            CtxValue::Table(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            CtxKey::Int(i) => i.to_string(),
                            CtxKey::Str(s) => s.clone(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }

    /// The entry under a string key of a table.
    pub fn get(&self, key: &str) -> Option<&CtxValue> {
        match self {
            CtxValue::Table(entries) => entries.iter().find(|(k, _)| *k == CtxKey::Str(key.into())).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Whether sorted `entries` are keyed 1, 2, ..., n (n ≥ 1): a Lua sequence.
fn is_sequence(entries: &[(CtxKey, CtxValue)]) -> bool {
    !entries.is_empty() && entries.iter().zip(1..).all(|((k, _), i)| *k == CtxKey::Int(i))
}

/// Whether `table` still holds exactly `copy` (a value copied out of it
/// earlier by [`CtxValue::from_lua`]). Walked with the raw Lua API: no
/// registry references and no allocation, so that the event log can take
/// `ctx` after every step and copy it only when it changed. Anything in
/// doubt (a value plain data cannot hold, a metatable, a float key, a
/// stack that cannot grow) answers `false`, and the caller copies the
/// table afresh, with its full checks and error paths.
pub fn still_holds(lua: &Lua, table: &Table, copy: &CtxValue) -> bool {
    let CtxValue::Table(entries) = copy else { return false };
    on_stack(lua, table, WALK_SLOTS, |state, at| unsafe { table_matches(state, at, entries, 0) }).unwrap_or(false)
}

/// Runs `walk` on `table` pushed onto the Lua stack (its absolute index)
/// with `slots` more reserved above it, and leaves the stack as it found
/// it; `None` when the stack cannot grow. The one way into the raw walks
/// of plain-data tables (`ctx`, an action's fields).
pub(super) fn on_stack<R>(
    lua: &Lua,
    table: &Table,
    slots: c_int,
    walk: impl FnOnce(*mut ffi::lua_State, c_int) -> R,
) -> Option<R> {
    lua.exec_raw_lua(|raw| unsafe {
        let state = raw.state();
        if ffi::lua_checkstack(state, slots + 1) == 0 || raw.push(table).is_err() {
            return None;
        }
        let at = ffi::lua_gettop(state);
        let result = walk(state, at);
        ffi::lua_settop(state, at - 1);
        Some(result)
    })
}

/// A key as Lua holds it, compared with [`CtxKey`]'s order (integers
/// first, then strings byte by byte) to binary-search a copied table.
enum RawKey<'a> {
    Int(i64),
    Str(&'a [u8]),
}

fn compare_key(copied: &CtxKey, key: &RawKey<'_>) -> Ordering {
    match (copied, key) {
        (CtxKey::Int(a), RawKey::Int(b)) => a.cmp(b),
        (CtxKey::Int(_), RawKey::Str(_)) => Ordering::Less,
        (CtxKey::Str(_), RawKey::Int(_)) => Ordering::Greater,
        (CtxKey::Str(a), RawKey::Str(b)) => a.as_bytes().cmp(b),
    }
}

/// The bytes of the string at `index` (which must be a string, so that
/// `lua_tolstring` does not convert a number in place).
pub(super) unsafe fn string_at<'a>(state: *mut ffi::lua_State, index: c_int) -> &'a [u8] {
    let mut len = 0;
    let ptr = ffi::lua_tolstring(state, index, &mut len);
    std::slice::from_raw_parts(ptr as *const u8, len)
}

/// Stack slots a walk needs beside the table walked: a key and a value per
/// level of nesting, and one for a metatable looked at. Reserved once by
/// the walk's caller: checking at every table was a tenth of the cost of
/// comparing a small `ctx`.
const WALK_SLOTS: c_int = 3 * MAX_DEPTH as c_int + 1;

/// Walks the table at absolute stack `index`: `visit` gets each key and the
/// stack index of its value, and stops the walk by answering `false`.
/// `false` when it was stopped or the table is in doubt (nested too deep, a
/// metatable, a key neither an integer nor a string). The caller reserved
/// [`WALK_SLOTS`] on the stack. Leaves the stack as it found it.
unsafe fn walk_table(
    state: *mut ffi::lua_State,
    index: c_int,
    depth: usize,
    mut visit: impl FnMut(RawKey<'_>, c_int) -> bool,
) -> bool {
    if depth >= MAX_DEPTH {
        return false;
    }
    if ffi::lua_getmetatable(state, index) != 0 {
        ffi::lua_pop(state, 1);
        return false;
    }
    ffi::lua_pushnil(state);
    while ffi::lua_next(state, index) != 0 {
        let top = ffi::lua_gettop(state);
        let key = match ffi::lua_type(state, top - 1) {
            ffi::LUA_TNUMBER if ffi::lua_isinteger(state, top - 1) != 0 => {
                Some(RawKey::Int(ffi::lua_tointeger(state, top - 1)))
            }
            ffi::LUA_TSTRING => Some(RawKey::Str(string_at(state, top - 1))),
            _ => None,
        };
        if !key.is_some_and(|key| visit(key, top)) {
            ffi::lua_settop(state, top - 2);
            return false;
        }
        ffi::lua_pop(state, 1);
    }
    true
}

/// The table at absolute stack `index` against a copy's sorted entries.
unsafe fn table_matches(
    state: *mut ffi::lua_State,
    index: c_int,
    entries: &[(CtxKey, CtxValue)],
    depth: usize,
) -> bool {
    let mut count = 0;
    let all_match = walk_table(state, index, depth, |key, value| {
        count += 1;
        let copied = entries.binary_search_by(|(k, _)| compare_key(k, &key));
        copied.is_ok_and(|at| value_matches(state, value, &entries[at].1, depth))
    });
    all_match && count == entries.len()
}

/// The value at absolute stack `index` against its copy.
unsafe fn value_matches(state: *mut ffi::lua_State, index: c_int, copy: &CtxValue, depth: usize) -> bool {
    match (ffi::lua_type(state, index), copy) {
        (ffi::LUA_TBOOLEAN, CtxValue::Bool(b)) => (ffi::lua_toboolean(state, index) != 0) == *b,
        (ffi::LUA_TNUMBER, CtxValue::Int(i)) => {
            ffi::lua_isinteger(state, index) != 0 && ffi::lua_tointeger(state, index) == *i
        }
        (ffi::LUA_TNUMBER, CtxValue::Num(n)) => {
            ffi::lua_isinteger(state, index) == 0 && ffi::lua_tonumber(state, index).to_bits() == n.to_bits()
        }
        (ffi::LUA_TSTRING, CtxValue::Str(s)) => string_at(state, index) == s.as_bytes(),
        (ffi::LUA_TTABLE, CtxValue::Table(entries)) => table_matches(state, index, entries, depth + 1),
        _ => false,
    }
}

/// The table at absolute stack `index` copied out, its entries sorted by
/// key; `None` when anything is in doubt (see [`CtxValue::from_lua_table`]).
unsafe fn copy_table(state: *mut ffi::lua_State, index: c_int, depth: usize) -> Option<Vec<(CtxKey, CtxValue)>> {
    let mut entries = Vec::new();
    let whole = walk_table(state, index, depth, |key, value| {
        let key = match key {
            RawKey::Int(i) => CtxKey::Int(i),
            RawKey::Str(s) => match std::str::from_utf8(s) {
                Ok(s) => CtxKey::Str(s.to_owned()),
                Err(_) => return false,
            },
        };
        copy_value(state, value, depth).map(|value| entries.push((key, value))).is_some()
    });
    // Keys are unique, so an unstable sort gives the one order.
    whole.then(|| {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        entries
    })
}

/// The value at absolute stack `index` copied out; `None` when in doubt.
unsafe fn copy_value(state: *mut ffi::lua_State, index: c_int, depth: usize) -> Option<CtxValue> {
    match ffi::lua_type(state, index) {
        ffi::LUA_TBOOLEAN => Some(CtxValue::Bool(ffi::lua_toboolean(state, index) != 0)),
        ffi::LUA_TNUMBER if ffi::lua_isinteger(state, index) != 0 => {
            Some(CtxValue::Int(ffi::lua_tointeger(state, index)))
        }
        ffi::LUA_TNUMBER => Some(CtxValue::Num(ffi::lua_tonumber(state, index))),
        ffi::LUA_TSTRING => std::str::from_utf8(string_at(state, index)).ok().map(|s| CtxValue::Str(s.to_owned())),
        ffi::LUA_TTABLE => copy_table(state, index, depth + 1).map(CtxValue::Table),
        _ => None,
    }
}

/// Where a value sits (`ctx.levels[3]`): the keys down to it, rendered
/// only when something there is refused (every step's `ctx` is copied out
/// for the event log, so the common case must not format paths).
struct Trail<'a> {
    root: &'a str,
    keys: Vec<CtxKey>,
    /// Lenient copies only: the entries left out, and why.
    dropped: Option<Vec<CtxError>>,
}

impl Trail<'_> {
    fn render(&self) -> String {
        let mut path = self.root.to_string();
        for key in &self.keys {
            match key {
                CtxKey::Int(i) => path += &format!("[{i}]"),
                CtxKey::Str(s) => {
                    path.push('.');
                    path.push_str(s);
                }
            }
        }
        path
    }

    fn refuse<T>(&self, problem: String) -> Result<T, CtxError> {
        Err(CtxError { path: self.render(), problem })
    }

    /// An entry that cannot be kept: left out (a lenient copy) or refused.
    fn leave_out(&mut self, error: CtxError) -> Result<(), CtxError> {
        match &mut self.dropped {
            Some(dropped) => {
                dropped.push(error);
                Ok(())
            }
            None => Err(error),
        }
    }
}

fn convert(
    value: &Value,
    trail: &mut Trail<'_>,
    depth: usize,
    seen: &mut Vec<*const std::ffi::c_void>,
) -> Result<CtxValue, CtxError> {
    match value {
        Value::Boolean(b) => Ok(CtxValue::Bool(*b)),
        Value::Integer(i) => Ok(CtxValue::Int(*i)),
        Value::Number(n) => Ok(CtxValue::Num(*n)),
        Value::String(s) => match s.to_str() {
            Ok(s) => Ok(CtxValue::Str(s.to_string())),
            Err(_) => trail.refuse("is a string that is not UTF-8".into()),
        },
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return trail.refuse(format!("nests deeper than {MAX_DEPTH} tables"));
            }
            let ptr = t.to_pointer();
            if seen.contains(&ptr) {
                return trail.refuse("refers back to a table that contains it (a cycle)".into());
            }
            if t.metatable().is_some() {
                return trail.refuse("is a table with a metatable, not plain data".into());
            }
            seen.push(ptr);
            let entries = table_entries(t, trail, depth, seen);
            seen.pop();
            entries.map(CtxValue::Table)
        }
        other => {
            trail.refuse(format!("is a {}: only numbers, strings, booleans and tables can be kept", other.type_name()))
        }
    }
}

fn table_entries(
    t: &Table,
    trail: &mut Trail<'_>,
    depth: usize,
    seen: &mut Vec<*const std::ffi::c_void>,
) -> Result<Vec<(CtxKey, CtxValue)>, CtxError> {
    let mut entries = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.or_else(|e| trail.refuse(format!("cannot be read: {e}")))?;
        let key = match &k {
            Value::Integer(i) => CtxKey::Int(*i),
            Value::String(s) => match s.to_str() {
                Ok(s) => CtxKey::Str(s.to_string()),
                Err(_) => {
                    trail
                        .leave_out(CtxError { path: trail.render(), problem: "has a key that is not UTF-8".into() })?;
                    continue;
                }
            },
            other => {
                let problem = format!("has a {} key: only string and integer keys can be kept", other.type_name());
                trail.leave_out(CtxError { path: trail.render(), problem })?;
                continue;
            }
        };
        // The key goes down the trail and comes back: no copy of it.
        trail.keys.push(key);
        let value = convert(&v, trail, depth + 1, seen);
        let key = trail.keys.pop().expect("pushed above");
        match value {
            Ok(value) => entries.push((key, value)),
            Err(error) => trail.leave_out(error)?,
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_data_round_trips_in_key_order() {
        let lua = Lua::new();
        let v: Value = lua.load(r#"return {b = 1, a = {1.5, "x", true}, [10] = -3}"#).eval().unwrap();
        let ctx = CtxValue::from_lua(&v, "ctx").unwrap();
        let CtxValue::Table(entries) = &ctx else { panic!("a table") };
        let keys: Vec<&CtxKey> = entries.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![&CtxKey::Int(10), &CtxKey::Str("a".into()), &CtxKey::Str("b".into())]);
        let back = ctx.to_lua(&lua).unwrap();
        assert_eq!(CtxValue::from_lua(&back, "ctx").unwrap(), ctx);
        assert_eq!(ctx.get("b"), Some(&CtxValue::Int(1)));
    }

    #[test]
    fn a_copy_is_known_to_still_hold_until_the_table_changes() {
        let lua = Lua::new();
        let t: Table =
            lua.load(r#"return {b = 1, a = {1.5, "x", true, {deep = -0.0}}, [10] = -3, s = "é"}"#).eval().unwrap();
        let copy = CtxValue::from_lua(&Value::Table(t.clone()), "ctx").unwrap();
        assert!(still_holds(&lua, &t, &copy));
        lua.globals().set("t", &t).unwrap();
        // Each edit is undone before the next: only it can make the copy stale.
        let edits = [
            ("t.b = 2", "t.b = 1"),
            ("t.b = 1.0", "t.b = 1"),
            ("t.c = 0", "t.c = nil"),
            ("t.b = nil", "t.b = 1"),
            ("t.a[2] = 'y'", "t.a[2] = 'x'"),
            ("t.a[3] = false", "t.a[3] = true"),
            ("t.a[4].deep = 0.0", "t.a[4].deep = -0.0"),
            ("t.a[5] = 1", "t.a[5] = nil"),
            ("t[10] = '-3'", "t[10] = -3"),
            ("t[1.5] = 1", "t[1.5] = nil"),
            ("t.a = setmetatable(t.a, {})", "t.a = setmetatable(t.a, nil)"),
            ("t.f = print", "t.f = nil"),
            ("t.me = t", "t.me = nil"),
        ];
        for (edit, undo) in edits {
            lua.load(edit).exec().unwrap();
            assert!(!still_holds(&lua, &t, &copy), "{edit} went unnoticed");
            lua.load(undo).exec().unwrap();
            assert!(still_holds(&lua, &t, &copy), "{undo} did not restore the table");
        }
        assert!(!still_holds(&lua, &t, &CtxValue::Int(1)));
        let top = unsafe { lua.exec_raw_lua(|raw| ffi::lua_gettop(raw.state())) };
        assert_eq!(top, 0, "the walk leaves the stack as it found it");
    }

    #[test]
    fn a_lenient_copy_keeps_the_plain_data_and_says_what_it_left_out() {
        let lua = Lua::new();
        let t: Table = lua
            .load(
                r#"local t = {n = 1, f = print, deep = {ok = "x", co = coroutine.create(print), [1.5] = 2}}
                     t.deep.me = t; return t"#,
            )
            .eval()
            .unwrap();
        assert!(CtxValue::from_lua_table(&lua, &t, "ctx").is_err());
        let (copy, dropped) = CtxValue::from_lua_table_lenient(&t, "ctx").unwrap();
        let expected: Value = lua.load(r#"return {n = 1, deep = {ok = "x"}}"#).eval().unwrap();
        assert_eq!(copy, CtxValue::from_lua(&expected, "ctx").unwrap());
        let mut said: Vec<String> = dropped.iter().map(ToString::to_string).collect();
        said.sort();
        assert_eq!(
            said,
            [
                "ctx.deep has a number key: only string and integer keys can be kept",
                "ctx.deep.co is a thread: only numbers, strings, booleans and tables can be kept",
                "ctx.deep.me refers back to a table that contains it (a cycle)",
                "ctx.f is a function: only numbers, strings, booleans and tables can be kept",
            ]
        );
        // Only the table itself in doubt is an error.
        let guarded: Table = lua.load("return setmetatable({}, {})").eval().unwrap();
        assert!(CtxValue::from_lua_table_lenient(&guarded, "ctx").is_err());
    }

    #[test]
    fn json_params_become_plain_data() {
        let json: serde_json::Value =
            serde_json::from_str(r#"{"fast": 9, "k": 2.5, "tags": ["a"], "on": true}"#).unwrap();
        let v = CtxValue::from_json(&json, "params").unwrap();
        assert_eq!(v.get("fast"), Some(&CtxValue::Int(9)));
        assert_eq!(v.get("k"), Some(&CtxValue::Num(2.5)));
        assert_eq!(v.get("tags"), Some(&CtxValue::Table(vec![(CtxKey::Int(1), CtxValue::Str("a".into()))])));
        let err = CtxValue::from_json(&serde_json::json!({"x": [1, null]}), "params").unwrap_err();
        assert_eq!(err.to_string(), "params.x[2] is null: leave it out instead");
    }

    #[test]
    fn the_json_view_is_plain_json_with_sequences_as_arrays() {
        let lua = Lua::new();
        let v: Value = lua
            .load(r#"return {setup = {bars = 0, side = "long"}, levels = {1.5, 2}, sparse = {[2] = true}, [10] = -3, e = {}}"#)
            .eval()
            .unwrap();
        let json = CtxValue::from_lua(&v, "ctx").unwrap().to_json();
        assert_eq!(
            json,
            serde_json::json!({
                "10": -3,
                "e": {},
                "levels": [1.5, 2],
                "setup": {"bars": 0, "side": "long"},
                "sparse": {"2": true}
            })
        );
        assert_eq!(CtxValue::Num(f64::NAN).to_json(), serde_json::Value::Null);
        // The JSON view of JSON-born plain data gives that JSON back.
        let params = serde_json::json!({"fast": 9, "k": 2.5, "tags": ["a", "b"], "on": true});
        assert_eq!(CtxValue::from_json(&params, "params").unwrap().to_json(), params);
    }

    #[test]
    fn non_plain_data_is_refused_with_its_path() {
        let lua = Lua::new();
        let cases = [
            ("return {levels = {1, 2, function() end}}", "ctx.levels[3] is a function"),
            ("local t = {} t.me = t return t", "ctx.me refers back to a table that contains it"),
            ("return {[1.5] = 1}", "ctx has a number key"),
            ("return {co = coroutine.create(function() end)}", "ctx.co is a thread"),
            ("return {m = setmetatable({}, {})}", "ctx.m is a table with a metatable"),
        ];
        for (code, expected) in cases {
            let v: Value = lua.load(code).eval().unwrap();
            let err = CtxValue::from_lua(&v, "ctx").unwrap_err().to_string();
            assert!(err.starts_with(expected), "{code}: {err}");
        }
        let deep: Value =
            lua.load("local t = {} local c = t for i = 1, 100 do c.n = {} c = c.n end return t").eval().unwrap();
        assert!(CtxValue::from_lua(&deep, "ctx").unwrap_err().to_string().contains("nests deeper than 64"));
    }

    #[test]
    fn the_raw_copy_gives_what_the_checked_one_gives() {
        let lua = Lua::new();
        let plain = [
            "return {}",
            r#"return {setup = {side = "long", reason = "ema cross up"}}"#,
            r#"return {b = 1, a = {1.5, "x", true, {deep = -0.0, f = false}}, [10] = -3, [-2] = 2^53, s = "é", [3.0] = 1}"#,
            "local t = {} local c = t for i = 1, 63 do c.n = {} c = c.n end return t",
            "local shared = {1} return {x = shared, y = shared}",
        ];
        let in_doubt = [
            "return {levels = {1, 2, function() end}}",
            "local t = {} t.me = t return t",
            "return {[1.5] = 1}",
            "return {co = coroutine.create(function() end)}",
            "return {m = setmetatable({}, {})}",
            r#"return {s = "\xff"}"#,
            r#"return {["\xff"] = 1}"#,
            "local t = {} local c = t for i = 1, 64 do c.n = {} c = c.n end return t",
        ];
        for code in plain.iter().chain(&in_doubt) {
            let t: Table = lua.load(*code).eval().unwrap();
            let checked = CtxValue::from_lua(&Value::Table(t.clone()), "ctx");
            assert_eq!(CtxValue::from_lua_table(&lua, &t, "ctx"), checked, "{code}");
            assert_eq!(checked.is_ok(), plain.contains(code), "{code}: {checked:?}");
            let raw = unsafe {
                lua.exec_raw_lua(|raw| {
                    raw.push(&t).unwrap();
                    let copy = copy_table(raw.state(), 1, 0);
                    ffi::lua_settop(raw.state(), 0);
                    copy
                })
            };
            assert_eq!(raw.is_some(), plain.contains(code), "{code}: the raw walk alone copies plain data");
            let top = unsafe { lua.exec_raw_lua(|raw| ffi::lua_gettop(raw.state())) };
            assert_eq!(top, 0, "{code}: the walk leaves the stack as it found it");
        }
    }
}

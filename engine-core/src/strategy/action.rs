//! What a strategy may ask for, as plain data, and the checks that turn a
//! Lua table into it (a malformed action names the field and what was
//! expected).

use std::ffi::CStr;
use std::fmt;

use mlua::{ffi, Lua, Table, Value};
use serde::{Deserialize, Serialize};

use super::ctx::{on_stack, string_at, CtxValue};
use crate::execution::records::TimeInForce;

/// Direction of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Long,
    Short,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Long => "long",
            Side::Short => "short",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A setup found in Watch: free-form data the strategy keeps (in Lua it is
/// stored as `ctx.setup`), and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub data: CtxValue,
    pub reason: String,
}

/// An entry order request. The order type follows from the prices given:
/// none is a market order, `limit` a limit order, `trigger` a stop order
/// (enter once the price trades through it), both a stop-limit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub side: Side,
    /// Quantity; `None` lets risk size the position.
    pub size: Option<f64>,
    /// The position's protective stop and profit target.
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub limit: Option<f64>,
    pub trigger: Option<f64>,
    pub time_in_force: TimeInForce,
    /// A limit that must add liquidity (rejected if it would take it).
    pub post_only: bool,
    pub reason: String,
}

impl Entry {
    /// A market entry with nothing else set.
    pub fn market(side: Side, reason: &str) -> Entry {
        Entry {
            side,
            size: None,
            stop: None,
            target: None,
            limit: None,
            trigger: None,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            reason: reason.to_string(),
        }
    }
}

/// What `filter_commitment` decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Commitment {
    Enter(Entry),
    Cancel { reason: String },
}

/// What `manage_position` decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Management {
    /// Close `fraction` (0 < fraction ≤ 1) of the position.
    Exit { fraction: f64, reason: String },
    /// Move the stop and/or the target.
    Update { stop: Option<f64>, target: Option<f64>, reason: String },
}

/// A malformed action: which callback returned it, which field is wrong
/// and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{callback} returned a bad action: {field} {problem}")]
pub struct ActionError {
    pub callback: &'static str,
    pub field: String,
    pub problem: String,
}

/// A field an action table may have.
#[derive(Debug, Clone, Copy)]
enum Field {
    Action,
    Size,
    Stop,
    Target,
    Limit,
    Trigger,
    Tif,
    PostOnly,
    Reason,
    Fraction,
}

/// [`Field`]s' names, in their order.
const FIELDS: [&str; 10] =
    ["action", "size", "stop", "target", "limit", "trigger", "tif", "post_only", "reason", "fraction"];

impl Field {
    fn name(self) -> &'static str {
        FIELDS[self as usize]
    }
}

/// The field names as strings of one Lua state, made once per load: with a
/// memory limit set, mlua makes a new Lua string in a protected call for
/// every `&str` key it pushes, about 1,400 instructions each.
pub struct ActionKeys {
    keys: Box<[mlua::String]>,
    /// The state, for the walks with the raw Lua API.
    lua: Lua,
}

impl ActionKeys {
    pub fn new(lua: &Lua) -> mlua::Result<ActionKeys> {
        let keys = FIELDS.iter().map(|name| lua.create_string(name)).collect::<mlua::Result<_>>()?;
        Ok(ActionKeys { keys, lua: lua.clone() })
    }

    fn key(&self, field: Field) -> &mlua::String {
        &self.keys[field as usize]
    }
}

/// An action table's first key that is not one of its fields.
enum Stray {
    Name(String),
    /// A key that is not a string, by its type's name.
    Key(&'static str),
    Unreadable,
}

/// Reads the fields of one action table.
struct Fields<'a> {
    callback: &'static str,
    table: &'a Table,
    keys: &'a ActionKeys,
}

impl Fields<'_> {
    fn error(&self, field: &str, problem: impl Into<String>) -> ActionError {
        ActionError { callback: self.callback, field: field.to_string(), problem: problem.into() }
    }

    fn raw(&self, field: Field) -> Result<Value, ActionError> {
        self.table.raw_get(self.keys.key(field)).map_err(|e| self.error(field.name(), format!("cannot be read: {e}")))
    }

    /// An optional finite number, positive when `positive`.
    fn number(&self, field: Field, positive: bool) -> Result<Option<f64>, ActionError> {
        let v = match self.raw(field)? {
            Value::Nil => return Ok(None),
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            other => return Err(self.error(field.name(), format!("is a {}, expected a number", other.type_name()))),
        };
        if !v.is_finite() {
            return Err(self.error(field.name(), format!("is {v}, expected a finite number")));
        }
        if positive && v <= 0.0 {
            return Err(self.error(field.name(), format!("is {v}, expected a number above 0")));
        }
        Ok(Some(v))
    }

    fn boolean(&self, field: Field) -> Result<Option<bool>, ActionError> {
        match self.raw(field)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(self.error(field.name(), format!("is a {}, expected true or false", other.type_name()))),
        }
    }

    fn string(&self, field: Field) -> Result<Option<String>, ActionError> {
        match self.raw(field)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_string_lossy())),
            other => Err(self.error(field.name(), format!("is a {}, expected a string", other.type_name()))),
        }
    }

    fn reason(&self) -> Result<String, ActionError> {
        Ok(self.string(Field::Reason)?.unwrap_or_default())
    }

    /// Refuses fields outside `allowed` (a typo like `stp` would otherwise
    /// silently trade without a stop). Walked with the raw Lua API: mlua's
    /// `pairs` makes a registry reference per key and value, half of what
    /// checking an action cost.
    fn only(&self, allowed: &[&str]) -> Result<(), ActionError> {
        let stray = on_stack(&self.keys.lua, self.table, 2, |state, at| unsafe {
            let mut stray = None;
            ffi::lua_pushnil(state);
            while stray.is_none() && ffi::lua_next(state, at) != 0 {
                stray = match ffi::lua_type(state, -2) {
                    ffi::LUA_TSTRING => {
                        let name = string_at(state, -2);
                        let known = allowed.iter().any(|a| a.as_bytes() == name);
                        (!known).then(|| Stray::Name(String::from_utf8_lossy(name).into_owned()))
                    }
                    // As mlua names them: "integer" apart from "number".
                    ffi::LUA_TNUMBER if ffi::lua_isinteger(state, -2) != 0 => Some(Stray::Key("integer")),
                    other => Some(Stray::Key(CStr::from_ptr(ffi::lua_typename(state, other)).to_str().unwrap_or("?"))),
                };
                ffi::lua_pop(state, 1);
            }
            stray
        })
        .unwrap_or(Some(Stray::Unreadable));
        match stray {
            None => Ok(()),
            Some(Stray::Name(name)) => {
                Err(self.error(&name, format!("is not a field of this action (fields: {})", allowed.join(", "))))
            }
            Some(Stray::Key(type_name)) => Err(self.error(&format!("[{type_name}]"), "is not a field name")),
            Some(Stray::Unreadable) => Err(self.error("?", "cannot be read: no room on the Lua stack")),
        }
    }

    fn action(&self, allowed: &[&str]) -> Result<String, ActionError> {
        match self.string(Field::Action)? {
            Some(a) if allowed.contains(&a.as_str()) => Ok(a),
            Some(a) => Err(self.error("action", format!("is {a:?}, expected one of {}", allowed.join(", ")))),
            None => Err(self.error("action", format!("is missing, expected one of {}", allowed.join(", ")))),
        }
    }
}

fn table<'a>(callback: &'static str, value: &'a Value) -> Result<Option<&'a Table>, ActionError> {
    match value {
        Value::Nil => Ok(None),
        Value::Table(t) => Ok(Some(t)),
        other => Err(ActionError {
            callback,
            field: "return value".into(),
            problem: format!("is a {}, expected nil or a table", other.type_name()),
        }),
    }
}

/// `detect_opportunity`'s result: nil or a setup table (plain data).
pub fn parse_setup(value: &Value, keys: &ActionKeys) -> Result<Option<Setup>, ActionError> {
    let Some(t) = table("detect_opportunity", value)? else {
        return Ok(None);
    };
    let f = Fields { callback: "detect_opportunity", table: t, keys };
    let reason = f.reason()?;
    let data = CtxValue::from_lua_table(&keys.lua, t, "setup").map_err(|e| ActionError {
        callback: "detect_opportunity",
        field: e.path,
        problem: e.problem,
    })?;
    Ok(Some(Setup { data, reason }))
}

/// `filter_commitment`'s result: nil, `{action = "long" | "short", size,
/// stop, target, limit, reason}` or `{action = "cancel", reason}`.
pub fn parse_commitment(value: &Value, keys: &ActionKeys) -> Result<Option<Commitment>, ActionError> {
    let Some(t) = table("filter_commitment", value)? else {
        return Ok(None);
    };
    let f = Fields { callback: "filter_commitment", table: t, keys };
    let action = f.action(&["long", "short", "cancel"])?;
    if action == "cancel" {
        f.only(&["action", "reason"])?;
        return Ok(Some(Commitment::Cancel { reason: f.reason()? }));
    }
    f.only(&["action", "size", "stop", "target", "limit", "trigger", "tif", "post_only", "reason"])?;
    let side = if action == "long" { Side::Long } else { Side::Short };
    let time_in_force = match f.string(Field::Tif)?.as_deref() {
        None | Some("gtc") => TimeInForce::Gtc,
        Some("ioc") => TimeInForce::Ioc,
        Some(other) => return Err(f.error("tif", format!("is {other:?}, expected \"gtc\" or \"ioc\""))),
    };
    let entry = Entry {
        side,
        size: f.number(Field::Size, true)?,
        stop: f.number(Field::Stop, true)?,
        target: f.number(Field::Target, true)?,
        limit: f.number(Field::Limit, true)?,
        trigger: f.number(Field::Trigger, true)?,
        time_in_force,
        post_only: f.boolean(Field::PostOnly)?.unwrap_or(false),
        reason: f.reason()?,
    };
    if entry.post_only && entry.limit.is_none() {
        return Err(f.error("post_only", "needs a limit price: only limit orders can be post-only"));
    }
    check_entry_prices(&entry).map_err(|(field, problem)| f.error(field, problem))?;
    Ok(Some(Commitment::Enter(entry)))
}

/// A stop must sit on the losing side of the entry and a target on the
/// winning side, when the entry has a limit price to compare with.
fn check_entry_prices(e: &Entry) -> Result<(), (&'static str, String)> {
    if let (Some(stop), Some(target)) = (e.stop, e.target) {
        let ok = match e.side {
            Side::Long => stop < target,
            Side::Short => stop > target,
        };
        if !ok {
            return Err(("stop", format!("{stop} is on the wrong side of target {target} for a {} entry", e.side)));
        }
    }
    for (name, price) in [("limit", e.limit), ("trigger", e.trigger)] {
        let Some(price) = price else { continue };
        let wrong_stop = e.stop.filter(|&s| match e.side {
            Side::Long => s >= price,
            Side::Short => s <= price,
        });
        if let Some(s) = wrong_stop {
            return Err(("stop", format!("{s} is on the wrong side of {name} {price} for a {} entry", e.side)));
        }
    }
    Ok(())
}

/// `manage_position`'s result: nil, `{action = "exit", fraction, reason}`
/// (fraction defaults to 1: the whole position) or `{action = "update",
/// stop, target, reason}`.
pub fn parse_management(value: &Value, keys: &ActionKeys) -> Result<Option<Management>, ActionError> {
    let Some(t) = table("manage_position", value)? else {
        return Ok(None);
    };
    let f = Fields { callback: "manage_position", table: t, keys };
    match f.action(&["exit", "update"])?.as_str() {
        "exit" => {
            f.only(&["action", "fraction", "reason"])?;
            let fraction = f.number(Field::Fraction, true)?.unwrap_or(1.0);
            if fraction > 1.0 {
                return Err(f.error("fraction", format!("is {fraction}, expected a number in (0, 1]")));
            }
            Ok(Some(Management::Exit { fraction, reason: f.reason()? }))
        }
        _ => {
            f.only(&["action", "stop", "target", "reason"])?;
            let (stop, target) = (f.number(Field::Stop, true)?, f.number(Field::Target, true)?);
            if stop.is_none() && target.is_none() {
                return Err(f.error("stop", "and target are both missing: an update needs at least one"));
            }
            Ok(Some(Management::Update { stop, target, reason: f.reason()? }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(lua: &Lua, code: &str) -> Value {
        lua.load(code).eval().unwrap()
    }

    #[test]
    fn entries_cancels_exits_and_updates_parse() {
        let lua = Lua::new();
        let keys = ActionKeys::new(&lua).unwrap();
        let v = eval(&lua, r#"return {action = "long", size = 2, stop = 95, target = 110, reason = "cross"}"#);
        assert_eq!(
            parse_commitment(&v, &keys).unwrap(),
            Some(Commitment::Enter(Entry {
                size: Some(2.0),
                stop: Some(95.0),
                target: Some(110.0),
                ..Entry::market(Side::Long, "cross")
            }))
        );
        let v = eval(&lua, r#"return {action = "cancel", reason = "faded"}"#);
        assert_eq!(parse_commitment(&v, &keys).unwrap(), Some(Commitment::Cancel { reason: "faded".into() }));
        assert_eq!(parse_commitment(&Value::Nil, &keys).unwrap(), None);
        let v = eval(&lua, r#"return {action = "exit", fraction = 0.5}"#);
        assert_eq!(
            parse_management(&v, &keys).unwrap(),
            Some(Management::Exit { fraction: 0.5, reason: String::new() })
        );
        let v = eval(&lua, r#"return {action = "exit"}"#);
        assert_eq!(
            parse_management(&v, &keys).unwrap(),
            Some(Management::Exit { fraction: 1.0, reason: String::new() })
        );
        let v = eval(&lua, r#"return {action = "update", stop = 101.5}"#);
        assert_eq!(
            parse_management(&v, &keys).unwrap(),
            Some(Management::Update { stop: Some(101.5), target: None, reason: String::new() })
        );
        let v = eval(&lua, r#"return {level = 101.5, reason = "breakout", tags = {"a", "b"}}"#);
        let setup = parse_setup(&v, &keys).unwrap().unwrap();
        assert_eq!(setup.reason, "breakout");
    }

    #[test]
    fn malformed_actions_name_the_field() {
        let lua = Lua::new();
        let keys = ActionKeys::new(&lua).unwrap();
        let cases = [
            (
                r#"return {action = "buy"}"#,
                "filter_commitment returned a bad action: action is \"buy\", expected one of long, short, cancel",
            ),
            (r#"return {side = "long"}"#, "action is missing"),
            (r#"return {action = "long", size = -1}"#, "size is -1, expected a number above 0"),
            (r#"return {action = "long", size = 0/0}"#, "size is NaN, expected a finite number"),
            (r#"return {action = "long", size = "10"}"#, "size is a string, expected a number"),
            (r#"return {action = "long", stp = 90}"#, "stp is not a field of this action"),
            (r#"return {action = "long", [1] = 90}"#, "bad action: [integer] is not a field name"),
            (r#"return {action = "long", [1.5] = 90}"#, "bad action: [number] is not a field name"),
            (r#"return {action = "long", [true] = 90}"#, "bad action: [boolean] is not a field name"),
            (r#"return {action = "cancel", stop = 90}"#, "stop is not a field of this action (fields: action, reason)"),
            (
                r#"return {action = "long", stop = 110, target = 100}"#,
                "stop 110 is on the wrong side of target 100 for a long entry",
            ),
            (
                r#"return {action = "short", limit = 100, stop = 99}"#,
                "stop 99 is on the wrong side of limit 100 for a short entry",
            ),
            (r#"return 42"#, "return value is a integer, expected nil or a table"),
        ];
        for (code, expected) in cases {
            let err = parse_commitment(&eval(&lua, code), &keys).unwrap_err().to_string();
            assert!(err.contains(expected), "{code}: {err}");
        }
        let err = parse_management(&eval(&lua, r#"return {action = "exit", fraction = 2}"#), &keys).unwrap_err();
        assert_eq!(
            err.to_string(),
            "manage_position returned a bad action: fraction is 2, expected a number in (0, 1]"
        );
        let err = parse_management(&eval(&lua, r#"return {action = "update"}"#), &keys).unwrap_err();
        assert!(err.to_string().contains("needs at least one"), "{err}");
        let err = parse_setup(&eval(&lua, r#"return {f = function() end}"#), &keys).unwrap_err();
        assert!(err.to_string().contains("setup.f"), "{err}");
    }
}

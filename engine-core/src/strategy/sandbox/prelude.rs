//! The prelude: Lua code run once per state that trims the globals, wraps
//! library functions and protects the shared tables.

use super::*;

// ---------------------------------------------------------------------------
// The prelude: trims the globals, wraps library functions and protects the
// shared tables. Trusted code, run once before the hook is set; loaded from
// stripped bytecode so that its frames carry no line information (an error
// raised in it shows no position, like one raised in C). Its errors about
// arguments are raised at level 2 (3 from a helper), the strategy's line.
// ---------------------------------------------------------------------------

const PRELUDE: &str = r##"
local R, SORT_NATIVE_MAX, SORT_SMALL = ...
local G = _G
local type, select, error, next, tonumber, tostring = type, select, error, next, tonumber, tostring
local getmetatable, setmetatable, rawget, rawset, rawlen = getmetatable, setmetatable, rawget, rawset, rawlen
local pcall, xpcall = pcall, xpcall
local string, table, math, utf8 = string, table, math, utf8
local raw_concat, raw_sort, raw_insert, raw_remove = table.concat, table.sort, table.insert, table.remove
local raw_unpack = table.unpack
local tointeger, ult, maxinteger = math.tointeger, math.ult, math.maxinteger
local aborted, is_lua_function = R.aborted, R.is_lua_function

---------------------------------------------------------------- pcall/xpcall
-- Once the sandbox aborts a call (budget or deadline) its hook raises an
-- error every time it fires; a pcall must not swallow it.
local function pass(ok, ...)
  if not ok and aborted() then error((...), 0) end
  return ok, ...
end
local function safe_pcall(f, ...) return pass(pcall(f, ...)) end
-- A message handler runs before the stack unwinds; for the sandbox's own
-- error it would run with hooks off (Lua disables them while a hook runs,
-- and the error is raised from the hook), so it is skipped then.
local function safe_xpcall(f, msgh, ...)
  local function handler(e)
    if aborted() then return e end
    return msgh(e)
  end
  return pass(xpcall(f, handler, ...))
end

---------------------------------------------------------------- setmetatable
-- Finalizers run with hooks disabled (lgc.c, GCTM), outside any budget:
-- an object with __gc could loop forever during a collection. Lua marks an
-- object for finalization only if its metatable has __gc when set.
local function safe_setmetatable(t, mt)
  if type(t) ~= "table" then
    error("bad argument #1 to 'setmetatable' (table expected, got " .. type(t) .. ")", 2)
  end
  local tm = type(mt)
  if tm == "table" then
    if rawget(mt, "__gc") ~= nil then error("__gc metamethods are not allowed in the sandbox", 2) end
  elseif tm ~= "nil" then
    error("bad argument #2 to 'setmetatable' (nil or table expected)", 2)
  end
  return setmetatable(t, mt)
end

---------------------------------------------------------------- string
-- find, match, gmatch, gsub and rep are already the host's (see
-- `str_find_aux` and the functions after it). dump goes: bytecode could not
-- be loaded anyway (no `load`, text-only chunks).
string.dump = nil

---------------------------------------------------------------- table
local function checkint(v, i, fname)
  local n = tointeger(v)
  if n then return n end
  local msg = "number expected, got " .. type(v)
  if type(v) == "number" or (type(v) == "string" and tonumber(v)) then
    msg = "number has no integer representation"
  end
  error("bad argument #" .. i .. " to '" .. fname .. "' (" .. msg .. ")", 3)
end

local function checktab(t, i, fname)
  local tt = type(t)
  if tt ~= "table" and (tt == "string" or getmetatable(t) == nil) then
    error("bad argument #" .. i .. " to '" .. fname .. "' (table expected, got " .. tt .. ")", 3)
  end
end

local function getn(t)
  local n = tointeger(#t)
  if n == nil then error("object length is not an integer", 3) end
  return n
end

-- Appending (and removing the last element) runs no loop in C. With a
-- position, C shifts #t - pos elements, and #t of a sparse table or a
-- __len can be huge: that loop runs here, metered.
local function insert_at(t, ...)
  checktab(t, 1, "insert")
  local e = getn(t) + 1
  if select("#", ...) ~= 2 then error("wrong number of arguments to 'insert'", 2) end
  local pos, v = ...
  pos = checkint(pos, 2, "insert")
  if not ult(pos - 1, e) then error("bad argument #2 to 'insert' (position out of bounds)", 2) end
  for i = e, pos + 1, -1 do t[i] = t[i - 1] end
  t[pos] = v
end
table.insert = function(t, ...)
  if select("#", ...) == 1 then
    if type(t) ~= "table" then checktab(t, 1, "insert") end
    return raw_insert(t, ...)
  end
  return insert_at(t, ...)
end

local function remove_at(t, pos)
  checktab(t, 1, "remove")
  local size = getn(t)
  pos = checkint(pos, 2, "remove")
  if pos ~= size and ult(size, pos - 1) then
    error("bad argument #2 to 'remove' (position out of bounds)", 2)
  end
  local v = t[pos]
  while pos < size do t[pos] = t[pos + 1]; pos = pos + 1 end
  t[pos] = nil
  return v
end
table.remove = function(t, pos)
  if pos == nil then
    if type(t) ~= "table" then checktab(t, 1, "remove") end
    return raw_remove(t)
  end
  return remove_at(t, pos)
end

-- The C loop runs e - f + 1 times whatever the tables hold.
table.move = function(a1, f, e, t, a2)
  f = checkint(f, 2, "move")
  e = checkint(e, 3, "move")
  t = checkint(t, 4, "move")
  local dest = a2
  if dest == nil then dest = a1 end
  checktab(a1, 1, "move")
  checktab(dest, a2 == nil and 1 or 5, "move")
  if e >= f then
    if not (f > 0 or e < maxinteger + f) then error("bad argument #3 to 'move' (too many elements to move)", 2) end
    local n = e - f + 1
    if not (t <= maxinteger - n + 1) then error("bad argument #4 to 'move' (destination wrap around)", 2) end
    if t > e or t <= f or (a2 ~= nil and a1 ~= dest) then
      for i = 0, n - 1 do dest[t + i] = a1[f + i] end
    else
      for i = n - 1, 0, -1 do dest[t + i] = a1[f + i] end
    end
  end
  return dest
end

-- On a plain table every element C visits is a stored string or number,
-- so the C loop is bounded by the memory limit. With metamethods the
-- elements can be made up without limit: collect them here, metered.
local function concat_slow(t, sep, i, j)
  checktab(t, 1, "concat")
  local last = getn(t)
  if sep == nil then
    sep = ""
  elseif type(sep) ~= "string" and type(sep) ~= "number" then
    error("bad argument #2 to 'concat' (string expected, got " .. type(sep) .. ")", 2)
  end
  if i == nil then i = 1 else i = checkint(i, 3, "concat") end
  if j ~= nil then last = checkint(j, 4, "concat") end
  local parts, np = {}, 0
  for k = i, last do
    local v = t[k]
    local tv = type(v)
    if tv ~= "string" and tv ~= "number" then
      error("invalid value (" .. tv .. ") at index " .. k .. " in table for 'concat'", 2)
    end
    np = np + 1; parts[np] = v
  end
  return raw_concat(parts, sep, 1, np)
end
table.concat = function(t, sep, i, j)
  if type(t) == "table" and getmetatable(t) == nil then return raw_concat(t, sep, i, j) end
  return concat_slow(t, sep, i, j)
end

-- C reads up to a million elements (the stack's limit); through an __index
-- chain of tables each read can walk 2000 of them. With a metatable the
-- elements are read here, metered.
table.unpack = function(t, i, j)
  if type(t) == "table" and getmetatable(t) == nil then return raw_unpack(t, i, j) end
  if i == nil then i = 1 else i = checkint(i, 2, "unpack") end
  if j == nil then j = getn(t) else j = checkint(j, 3, "unpack") end
  local copy, n = {}, 0
  for k = i, j do
    n = n + 1
    copy[n] = t[k]
  end
  return raw_unpack(copy, 1, n)
end

-- C sorts without running Lua code only with no comparator (or a C one):
-- allowed for plain arrays up to SORT_NATIVE_MAX elements (any comparator
-- up to SORT_SMALL). Otherwise every comparison goes through a Lua
-- function, so the hook keeps counting.
local function lt(a, b) return a < b end
table.sort = function(t, comp)
  if comp ~= nil and type(comp) ~= "function" then
    error("bad argument #2 to 'sort' (function expected, got " .. type(comp) .. ")", 2)
  end
  if type(t) ~= "table" then
    checktab(t, 1, "sort")
  elseif getmetatable(t) == nil then
    local n = rawlen(t)
    if n <= SORT_SMALL or (comp == nil and n <= SORT_NATIVE_MAX) then return raw_sort(t, comp) end
  end
  if comp == nil then
    comp = lt
  elseif not is_lua_function(comp) then
    local c = comp
    comp = function(a, b) return c(a, b) end
  end
  return raw_sort(t, comp)
end

---------------------------------------------------------------- read-only tables
local function fieldname(k)
  if type(k) == "string" then return "'" .. k .. "'" end
  return "of type " .. type(k)
end

-- An empty proxy: reads go to the real table, writes fail, the metatable
-- is protected (getmetatable returns a description, setmetatable fails)
-- and pairs iterates the real table without handing it out.
local function readonly(name, real)
  local proxy = {}
  setmetatable(proxy, {
    __index = real,
    __newindex = function(_, k)
      error("attempt to modify read-only table '" .. name .. "' (field " .. fieldname(k) .. ")", 2)
    end,
    __pairs = function() return function(_, k) return next(real, k) end, proxy, nil end,
    __metatable = "read-only table '" .. name .. "'",
  })
  return proxy
end

local string_ro = readonly("string", string)

-- Method calls on strings ("x"):upper() keep using the real string table
-- through the metatable's __index; getmetatable("") returns a read-only
-- stand-in whose __index is the read-only string table.
rawset(getmetatable(""), "__metatable", readonly("string metatable", { __index = string_ro }))

---------------------------------------------------------------- GC tick
-- A finalizer that runs once per collection cycle and re-arms itself: lets
-- the host re-check the deadline and the hook interval when a call
-- allocates a lot between two hooks. (Finalizers run with hooks disabled;
-- this one is trusted and short. The sandbox refuses __gc for strategies.)
-- `switch.on` is cleared before the state is closed: lua_close runs every
-- finalizer, and mlua's callbacks must not run then.
-- The metatable (hence the finalizer and the Rust function it calls) is
-- kept reachable from the registry: if only the dying sentinel referenced
-- it, mlua's callback would be finalized in the same cycle.
local gc_tick, switch = R.gc_tick, R.gc_switch
local sentinel = {}
switch.mt = sentinel
sentinel.__gc = function()
  if switch.on then
    setmetatable({}, sentinel)
    gc_tick()
  end
end
setmetatable({}, sentinel)

---------------------------------------------------------------- globals
-- Allowed base functions. Everything else in _G is dropped:
--   load, loadstring  compile arbitrary text or bytecode, with any environment
--   dofile, loadfile  read files
--   require           loads modules, including C libraries (no package library either)
--   collectgarbage    can stop the collector (memory) or force long full collections
--   rawset            writes through the read-only tables' and _G's protection
--   print, warn       write to the engine's stdout/stderr
-- (os, io, debug, package and coroutine are never loaded: system access,
-- access to everything, module loading, and coroutines the host does not run.)
local builtins = {
  assert = assert, error = error, getmetatable = getmetatable, ipairs = ipairs, next = next,
  pairs = pairs, pcall = safe_pcall, rawequal = rawequal, rawget = rawget, rawlen = rawlen,
  select = select, setmetatable = safe_setmetatable, tonumber = tonumber, tostring = tostring,
  type = type, xpcall = safe_xpcall, _VERSION = _VERSION,
  string = string_ro, table = readonly("table", table), math = readonly("math", math),
  utf8 = readonly("utf8", utf8), _G = G,
}
for k in next, G do G[k] = nil end

-- The built-ins live behind _G's __index: a strategy defines new globals
-- freely but cannot replace a built-in (string = nil, pairs = f, ...).
setmetatable(G, {
  __index = builtins,
  __newindex = function(t, k, v)
    if builtins[k] ~= nil then
      error("cannot replace the built-in global '" .. tostring(k) .. "'", 2)
    end
    rawset(t, k, v)
  end,
  __metatable = "protected globals",
})
"##;

/// Installs the Rust helpers and runs the prelude.
pub(super) fn install_prelude(lua: &Lua, meter: &Arc<Meter>, file: &str) -> mlua::Result<(Function, Table)> {
    let helpers = lua.create_table()?;
    let gc_switch = lua.create_table()?;
    gc_switch.raw_set("on", true)?;
    lua.set_named_registry_value("engine_core.sandbox.gc_switch", &gc_switch)?;
    helpers.set("gc_switch", gc_switch.clone())?;
    let m = meter.clone();
    // Errors are dropped: a finalizer cannot report them anyway.
    helpers.set(
        "gc_tick",
        lua.create_function(move |lua, ()| {
            m.gc_tick(lua);
            Ok(())
        })?,
    )?;
    let m = meter.clone();
    helpers.set("aborted", lua.create_function(move |_, ()| Ok(m.aborting()))?)?;
    // The trampoline's message handler: records the innermost line of the
    // strategy file on the stack when an error is raised.
    let (m, chunk) = (meter.clone(), format!("@{file}"));
    let on_error = lua.create_function(move |lua, e: Value| {
        let line = (1..200)
            .map_while(|level| {
                lua.inspect_stack(level, |d| {
                    (d.source().source.as_deref() == Some(chunk.as_str())).then(|| d.current_line()).flatten()
                })
            })
            .find_map(|line| line);
        m.error_line.store(line.and_then(|l| u32::try_from(l).ok()).unwrap_or(0), Relaxed);
        Ok(e)
    })?;
    helpers.set("is_lua_function", lua.create_function(|_, f: Function| Ok(f.info().what != "C"))?)?;
    install_string_functions(lua)?;

    // Compile, strip the debug information, load the stripped bytecode.
    let bytecode = lua.load(PRELUDE).set_name("=[sandbox]").into_function()?.dump(true);
    let prelude = lua.load(bytecode).set_name("=[sandbox]").set_mode(ChunkMode::Binary).into_function()?;
    prelude.call::<()>((helpers, SORT_NATIVE_MAX, SORT_SMALL))?;
    // SAFETY: `exec_raw` passes `on_error` as argument 1 of a protected
    // call; it becomes the closure's upvalue and the closure its result.
    let trampoline =
        unsafe { lua.exec_raw::<Function>(on_error, |state| ffi::lua_pushcclosure(state, trampoline, 1))? };
    Ok((trampoline, gc_switch))
}

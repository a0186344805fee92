//! The strategy sandbox against hostile scripts: every escape is refused or
//! contained, the error names the strategy file (and line where Lua gives
//! one), and the state keeps working afterwards. Plus the string library's
//! Rust pattern matcher against stock Lua 5.4.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_core::strategy::sandbox::{Sandbox, SandboxError, SandboxLimits};
use mlua::{ChunkMode, Lua};

const FILE: &str = "hostile.lua";

fn sandbox() -> Sandbox {
    Sandbox::new(FILE, SandboxLimits::default()).unwrap()
}

fn sandbox_with(limits: SandboxLimits) -> Sandbox {
    Sandbox::new(FILE, limits).unwrap()
}

/// Loads `source`, expecting it to fail; checks the message names the file.
fn refused(sb: &Sandbox, source: &str) -> SandboxError {
    let err = sb.load(source).expect_err(source);
    assert!(err.to_string().starts_with(FILE), "message does not name the file: {err}");
    err
}

fn runtime(err: &SandboxError) -> (Option<u32>, &str) {
    match err {
        SandboxError::Runtime { file, line, message } => {
            assert_eq!(file, FILE);
            (*line, message.as_str())
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

/// The state still loads code, calls functions and uses the libraries.
fn still_works(sb: &Sandbox) {
    sb.load(
        r#"
        function still_works(a, b)
          local parts = {}
          for w in ("alpha beta"):gmatch("%a+") do table.insert(parts, w:upper()) end
          return ("%d:"):format(a + b) .. table.concat(parts, ",") .. string.rep("!", 2)
        end
        "#,
    )
    .unwrap();
    let f = sb.global_function("still_works").unwrap();
    assert_eq!(sb.call::<String>(&f, (1, 2)).unwrap(), "3:ALPHA,BETA!!");
}

fn call_global<R: mlua::FromLuaMulti>(sb: &Sandbox, name: &str) -> Result<R, SandboxError> {
    let f = sb.global_function(name).unwrap_or_else(|| panic!("no global function {name}"));
    sb.call(&f, ())
}

// ---------------------------------------------------------------- escapes

#[test]
fn os_execute_is_not_available() {
    let sb = sandbox();
    let err = refused(&sb, "\nos.execute('ls')");
    let (line, message) = runtime(&err);
    assert_eq!(line, Some(2));
    assert!(message.contains("global 'os'"), "{message}");
    assert_eq!(err.to_string(), "hostile.lua:2: attempt to index a nil value (global 'os')");
    still_works(&sb);
}

#[test]
fn io_open_is_not_available() {
    let sb = sandbox();
    let err = refused(&sb, "local f = io.open('/etc/passwd')\nreturn f:read('a')");
    let (line, message) = runtime(&err);
    assert_eq!(line, Some(1));
    assert!(message.contains("global 'io'"), "{message}");
    still_works(&sb);
}

#[test]
fn require_is_not_available() {
    let sb = sandbox();
    let err = refused(&sb, "local os = require('os')");
    let (line, message) = runtime(&err);
    assert_eq!(line, Some(1));
    assert!(message.contains("global 'require'"), "{message}");
    still_works(&sb);
}

#[test]
fn load_and_the_other_escapes_are_absent() {
    let sb = sandbox();
    let err = refused(&sb, "return load('return 1')()");
    assert!(runtime(&err).1.contains("global 'load'"), "{err}");
    // Every removed or never-loaded global, and string.dump.
    sb.load(
        r#"
        for _, name in ipairs({ "load", "loadstring", "dofile", "loadfile", "require", "collectgarbage",
                                "rawset", "print", "warn", "os", "io", "debug", "package", "coroutine",
                                "module", "setfenv", "getfenv", "unpack" }) do
          assert(_G[name] == nil, name .. " is reachable")
        end
        assert(string.dump == nil and ("x").dump == nil)
        "#,
    )
    .unwrap();
    let err = refused(&sb, "return string.dump(function() end)");
    assert!(runtime(&err).1.contains("field 'dump'"), "{err}");
    still_works(&sb);
}

#[test]
fn bytecode_is_refused() {
    // Bytecode made by a separate, unsandboxed state.
    let lua = Lua::new();
    let bytecode = lua.load("return 40 + 2").into_function().unwrap().dump(false);
    assert_eq!(lua.load(&bytecode).set_mode(ChunkMode::Binary).eval::<i64>().unwrap(), 42);

    let sb = sandbox();
    let err = sb.load(&bytecode).unwrap_err();
    assert!(matches!(err, SandboxError::Forbidden { ref file, .. } if file == FILE), "{err:?}");
    assert!(err.to_string().starts_with("hostile.lua: precompiled Lua bytecode is refused"), "{err}");
    // And from inside: no loader at all.
    refused(&sb, "return load(...)");
    still_works(&sb);
}

// ---------------------------------------------------------------- instruction budget

#[test]
fn infinite_loop_exhausts_the_budget() {
    let sb = sandbox();
    let start = Instant::now();
    let err = refused(&sb, "while true do end");
    assert_eq!(err, SandboxError::InstructionBudget { file: FILE.to_string(), limit: 1_000_000 });
    assert_eq!(err.to_string(), "hostile.lua: instruction budget exhausted (1000000 VM instructions per call)");
    assert!(start.elapsed() < Duration::from_secs(2));
    still_works(&sb);
}

#[test]
fn pcall_cannot_swallow_the_budget() {
    let sb = sandbox();
    for source in [
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        // A message handler that loops (Lua calls it with hooks off when
        // the error comes from a hook; the sandbox skips it then).
        "xpcall(function() while true do end end, function() while true do end end)",
        // Where Lua cannot yield: inside a comparator called by C.
        "table.sort({3, 2, 1, 5, 4, 6, 7, 8, 9, 10}, function(a, b)
           while true do pcall(function() while true do end end) end
         end)",
        // Inside a __tostring called by tostring, an error handler catching in a loop.
        "local t = setmetatable({}, { __tostring = function() while true do pcall(error, 'x') end end })
         return tostring(t)",
        // pcall-catching loop inside string.gsub's replacement function.
        "return ('aaaa'):gsub('a', function() while true do pcall(function() while true do end end) end end)",
    ] {
        let start = Instant::now();
        let err = refused(&sb, source);
        assert!(matches!(err, SandboxError::InstructionBudget { .. }), "{source}: {err:?}");
        assert!(start.elapsed() < Duration::from_secs(5), "{source}");
        still_works(&sb);
    }
}

#[test]
fn to_be_closed_variables_cannot_escape_the_budget() {
    let sb = sandbox();
    for source in [
        "local x <close> = setmetatable({}, { __close = function() while true do end end })
         while true do end",
        // The closing value of a generic for.
        "for _ in next, {}, nil, setmetatable({}, { __close = function() while true do end end }) do end
         while true do end",
        "local x <close> = setmetatable({}, { __close = function() while true do end end })
         error('first')",
    ] {
        let err = refused(&sb, source);
        assert!(matches!(err, SandboxError::InstructionBudget { .. }), "{source}: {err:?}");
        still_works(&sb);
    }
    // A __close that errors replaces the error, as in Lua.
    let err = refused(
        &sb,
        "local x <close> = setmetatable({}, { __close = function() error('in close') end })\nerror('first')",
    );
    assert_eq!(runtime(&err), (Some(1), "in close"));
    still_works(&sb);
}

#[test]
fn the_budget_is_per_call() {
    let limits = SandboxLimits { instructions: 100_000, ..SandboxLimits::default() };
    let sb = sandbox_with(limits);
    // About 3 instructions per iteration: 20,000 iterations fit, 200,000 do not.
    sb.load(
        "function small() local x = 0 for i = 1, 20000 do x = x + i end return x end
             function big() local x = 0 for i = 1, 200000 do x = x + i end return x end",
    )
    .unwrap();
    for _ in 0..10 {
        assert_eq!(call_global::<i64>(&sb, "small").unwrap(), 200_010_000);
    }
    assert!(matches!(call_global::<i64>(&sb, "big"), Err(SandboxError::InstructionBudget { limit: 100_000, .. })));
    assert_eq!(call_global::<i64>(&sb, "small").unwrap(), 200_010_000);
}

#[test]
fn table_functions_whose_c_loops_are_unbounded_are_metered() {
    let sb = sandbox();
    for source in [
        // e - f + 1 iterations whatever the tables hold.
        "return table.move({}, 1, math.maxinteger - 1, 1, {})",
        // #t from __len drives the shifting loops.
        "return table.insert(setmetatable({}, { __len = function() return 1e15 end }), 1, 'x')",
        "return table.remove(setmetatable({}, { __len = function() return 1e15 end }), 1)",
        // Elements made up by __index.
        "return table.concat(setmetatable({}, { __index = function() return '' end }), '', 1, 1e12)",
        // A million reads, each along an __index chain of 1999 tables (slow
        // enough that the deadline comes first).
        "local t = {} local cur = t
         for i = 1, 1999 do local nxt = {} setmetatable(cur, { __index = nxt }) cur = nxt end
         return table.unpack(t, 1, 999999)",
        // A C comparator on a large array goes through a Lua wrapper.
        "local t = {} for i = 1, 200000 do t[i] = i % 1000 end table.sort(t, rawequal)",
    ] {
        let start = Instant::now();
        let err = refused(&sb, source);
        assert!(
            matches!(err, SandboxError::InstructionBudget { .. } | SandboxError::Timeout { .. }),
            "{source}: {err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(2), "{source}");
        still_works(&sb);
    }
    // The ordinary uses behave as in Lua.
    sb.load(
        r#"
        local t = { 1, 2, 3 }
        table.insert(t, 4); table.insert(t, 1, 0)
        assert(table.concat(t, ",") == "0,1,2,3,4")
        assert(table.remove(t) == 4 and table.remove(t, 1) == 0 and table.concat(t, ",") == "1,2,3")
        assert(table.concat(table.move({ 1, 2, 3 }, 1, 3, 2), ",") == "1,1,2,3")
        local big = {} for i = 1, 30000 do big[i] = (i * 7919) % 30000 end
        table.sort(big) for i = 2, #big do assert(big[i - 1] <= big[i]) end
        local some = {} for i = 1, 3000 do some[i] = (i * 7919) % 3000 end
        table.sort(some, function(a, b) return a > b end) assert(some[1] == 2999)
        local objs = setmetatable({ 3, 1, 2 }, {}) table.sort(objs) assert(table.concat(objs) == "123")
        assert(table.unpack({ 1, 2, 3 }, 2) == 2 and table.pack(1, 2).n == 2)
        local proxy = setmetatable({}, { __index = { 10, 20, 30 }, __len = function() return 3 end })
        assert(select('#', table.unpack(proxy)) == 3 and select(2, table.unpack(proxy)) == 20)
        assert(select('#', table.unpack(proxy, 2, 5)) == 4)
        "#,
    )
    .unwrap();
}

// ---------------------------------------------------------------- memory

#[test]
fn memory_bomb_is_stopped_and_the_state_stays_usable() {
    let limits = SandboxLimits { memory_bytes: 16 << 20, instructions: 100_000_000, ..SandboxLimits::default() };
    let sb = sandbox_with(limits);
    let expected = SandboxError::Memory { file: FILE.to_string(), limit: 16 << 20 };
    for source in [
        "local t = {} while true do t[#t + 1] = string.rep('x', 1e6) end",
        "local t = {} while true do t[#t + 1] = ('x'):rep(1e5) .. #t end",
        "return string.rep('x', 1e10)",
        "local t = {} for i = 1, 1e9 do t[i] = i end",
        "local s = 'x' while true do s = s .. s end",
    ] {
        let err = refused(&sb, source);
        assert_eq!(err, expected, "{source}");
        assert_eq!(err.to_string(), "hostile.lua: memory limit exceeded (16777216 bytes per Lua state)");
        still_works(&sb);
    }
    // Memory kept in a global stays taken until the strategy drops it; the
    // state still works meanwhile.
    sb.load("hoard = {}").unwrap();
    let err = refused(&sb, "while true do hoard[#hoard + 1] = string.rep('x', 1e6) end");
    assert_eq!(err, expected);
    assert!(sb.lua().used_memory() > 12 << 20);
    still_works(&sb);
    sb.load("hoard = nil").unwrap();
    sb.lua().gc_collect().unwrap();
    assert!(sb.lua().used_memory() < 4 << 20, "{}", sb.lua().used_memory());
    still_works(&sb);
}

// ---------------------------------------------------------------- recursion

#[test]
fn deep_recursion_is_a_contained_runtime_error_with_a_line() {
    // Generous limits: this is about the recursion error, not the budget or
    // the clock (recursing to the overflow takes ~100 ms, more on a loaded
    // machine).
    let limits = SandboxLimits {
        instructions: 200_000_000,
        wall_clock: std::time::Duration::from_secs(20),
        ..SandboxLimits::default()
    };
    let sb = sandbox_with(limits);
    // Lua stack overflow.
    let err = refused(&sb, "local function f(n)\n  return 1 + f(n + 1)\nend\nreturn f(1)");
    let (line, message) = runtime(&err);
    assert_eq!(line, Some(2));
    assert!(message.contains("stack overflow"), "{message}");
    still_works(&sb);
    // C stack overflow, through metamethods and through pcall.
    for source in [
        "local t = setmetatable({}, {})\ngetmetatable(t).__index = function(t, k) return t[k] end\nreturn t.x",
        "local function f(a, b)\n  table.sort({ 2, 1 }, f)\n  return a < b\nend\ntable.sort({ 2, 1 }, f)",
        "local t = setmetatable({}, { __tostring = function(x) return tostring(x) end })\nreturn tostring(t)",
    ] {
        let err = refused(&sb, source);
        let (line, message) = runtime(&err);
        assert!(line.is_some(), "{source}: {err}");
        assert!(message.contains("stack overflow"), "{source}: {message}");
        still_works(&sb);
    }
}

// ---------------------------------------------------------------- shared tables

#[test]
fn library_tables_and_the_string_metatable_are_read_only() {
    let sb = sandbox();
    for (source, expected) in [
        ("getmetatable('').__index = function() return nil end", "read-only table 'string metatable'"),
        ("getmetatable('').__index.upper = nil", "read-only table 'string' (field 'upper')"),
        ("string.upper = nil", "attempt to modify read-only table 'string' (field 'upper')"),
        ("string.upper = function() return 'pwned' end", "read-only table 'string'"),
        ("function string.trim(s) return s end", "read-only table 'string' (field 'trim')"),
        ("setmetatable(string, {})", "cannot change a protected metatable"),
        ("setmetatable(getmetatable(''), {})", "cannot change a protected metatable"),
        ("rawset(string, 'upper', nil)", "global 'rawset'"),
        ("table.insert = nil", "read-only table 'table'"),
        ("math.floor = function() return 0 end", "read-only table 'math'"),
        ("utf8.char = nil", "read-only table 'utf8'"),
        ("string = {}", "cannot replace the built-in global 'string'"),
        ("_G.string = nil", "cannot replace the built-in global 'string'"),
        ("pairs = function() end", "cannot replace the built-in global 'pairs'"),
        ("setmetatable(_G, nil)", "cannot change a protected metatable"),
        ("setmetatable({}, { __gc = function() end })", "__gc metamethods are not allowed"),
    ] {
        let err = refused(&sb, source);
        let (line, message) = runtime(&err);
        assert_eq!(line, Some(1), "{source}: {err}");
        assert!(message.contains(expected), "{source}: {message}");
        still_works(&sb);
    }
    sb.load(
        r#"
        assert(("abc"):upper() == "ABC" and string.upper("a") == "A" and ("%d"):rep(2) == "%d%d")
        assert(type(getmetatable("")) == "table" and getmetatable("").__index == string)
        assert(getmetatable(string) == "read-only table 'string'")
        assert(getmetatable(_G) == "protected globals")
        local n = 0 for k, v in pairs(string) do assert(type(v) == "function") n = n + 1 end
        assert(n > 10)
        -- A strategy's own globals and tables are ordinary.
        counter = 1 counter = counter + 1 assert(counter == 2)
        local obj = setmetatable({}, { __index = { hello = function() return "hi" end } })
        assert(obj.hello() == "hi")
        "#,
    )
    .unwrap();
    still_works(&sb);
}

#[test]
fn sandboxes_share_nothing() {
    let a = sandbox();
    let b = sandbox();
    a.load("shared = 1 function mine() return 1 end").unwrap();
    assert!(b.global_function("mine").is_none());
    b.load("assert(shared == nil)").unwrap();
    // global_function returns the strategy's functions, not built-ins.
    assert!(a.global_function("mine").is_some());
    assert!(a.global_function("pairs").is_none());
    assert!(a.global_function("shared").is_none());
}

// ---------------------------------------------------------------- wall clock

/// A call stuck in one C function (a backtracking pattern with exponential
/// running time) is ended as Timeout, and other states on other threads
/// keep running meanwhile.
#[test]
fn pathological_pattern_times_out_without_stalling_other_states() {
    let limits = SandboxLimits {
        wall_clock: Duration::from_millis(100),
        instructions: u64::MAX / 2,
        ..SandboxLimits::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let other = {
        let (stop, calls) = (stop.clone(), calls.clone());
        std::thread::spawn(move || {
            // Its own wall-clock limit is not what is tested: a generous one
            // keeps a loaded machine (the test suite's other threads) from
            // timing out its short calls.
            let limits = SandboxLimits { wall_clock: Duration::from_secs(30), ..SandboxLimits::default() };
            let sb = Sandbox::new("other.lua", limits).unwrap();
            sb.load("function step(n) local x = 0 for i = 1, n do x = x + i end return x end").unwrap();
            let step = sb.global_function("step").unwrap();
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(sb.call::<i64>(&step, 100).unwrap(), 5050);
                calls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while calls.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }

    let sb = sandbox_with(limits);
    for source in [
        "return string.rep('a', 50000):find('.-.-.-.-.-b')",
        "return ('a'):rep(50000):match('(.-)(.-)(.-)(.-)b')",
        "for w in ('a'):rep(50000):gmatch('.-.-.-.-b') do end",
        "return ('a'):rep(50000):gsub('.-.-.-.-b', 'x')",
        "return ('a'):rep(50000):gsub('.-.-.-.-b', function() end)",
    ] {
        let before = calls.load(Ordering::Relaxed);
        let start = Instant::now();
        let err = refused(&sb, source);
        let elapsed = start.elapsed();
        let during = calls.load(Ordering::Relaxed) - before;
        assert_eq!(
            err,
            SandboxError::Timeout { file: FILE.to_string(), limit: Duration::from_millis(100) },
            "{source}"
        );
        assert_eq!(err.to_string(), "hostile.lua: wall-clock limit exceeded (100 ms per call)");
        assert!(elapsed >= Duration::from_millis(90) && elapsed < Duration::from_secs(2), "{source}: {elapsed:?}");
        assert!(during > 0, "{source}: the other state did not run meanwhile");
        still_works(&sb);
    }
    stop.store(true, Ordering::Relaxed);
    other.join().unwrap();
}

#[test]
fn lua_loops_and_big_string_loops_time_out() {
    let limits = SandboxLimits {
        wall_clock: Duration::from_millis(100),
        instructions: u64::MAX / 2,
        ..SandboxLimits::default()
    };
    let sb = sandbox_with(limits);
    for source in [
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        // Every instruction works on a 30 MB string: the hook interval
        // shrinks with the state's memory, and the GC tick notices the
        // growth between two hooks.
        "local s = string.rep('x', 3e7) while true do local t = s .. 'y' end",
        "local s = 'x' for i = 1, 24 do s = s .. s end local s2 = s:sub(2) .. 'x' while true do local t = s == s2 end",
        "local s = string.rep('x', 3e7) while true do local t = s:find('y', 1, true) end",
    ] {
        let start = Instant::now();
        let err = refused(&sb, source);
        let elapsed = start.elapsed();
        assert!(matches!(err, SandboxError::Timeout { .. }), "{source}: {err:?}");
        assert!(elapsed < Duration::from_secs(2), "{source}: {elapsed:?}");
        still_works(&sb);
    }
}

#[test]
fn string_rep_is_bounded() {
    let sb = sandbox();
    let start = Instant::now();
    sb.load(
        r#"
        assert(string.rep("", 1e18) == "" and string.rep("", 1e18, "") == "")
        assert(string.rep("ab", 3, ",") == "ab,ab,ab" and string.rep("x", 0) == "" and string.rep("x", -5) == "")
        assert(#string.rep("x", 2e7) == 2e7 and #string.rep("xyz", 1e6, "--") == 5e6 - 2)
        "#,
    )
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert!(matches!(refused(&sb, "return string.rep('ab', 4e7)"), SandboxError::Memory { .. }));
    assert!(matches!(
        refused(&sb, "return string.rep('x', 1, ('y'):rep(40e6)) .. string.rep('x', 3, ('y'):rep(30e6))"),
        SandboxError::Memory { .. }
    ));
    let err = refused(&sb, "return string.rep('x', math.maxinteger, 'y')");
    assert!(matches!(err, SandboxError::Runtime { .. } | SandboxError::Memory { .. }), "{err:?}");
    still_works(&sb);
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_name_the_file_and_the_line() {
    let sb = sandbox();
    let err = refused(&sb, "local x = 1\nlocal y = x +\n");
    match &err {
        SandboxError::Syntax { file, line, message } => {
            assert_eq!((file.as_str(), *line), (FILE, 3));
            assert!(message.contains("unexpected symbol near <eof>"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("hostile.lua:3: syntax error: unexpected symbol"), "{err}");
    // Lua's "syntax error near ..." is not said twice.
    let err = refused(&sb, "this is bad\n");
    assert_eq!(err.to_string(), "hostile.lua:1: syntax error near 'is'");

    let err = refused(&sb, "local t = {}\n\nerror('boom: ' .. #t)");
    assert_eq!(err.to_string(), "hostile.lua:3: boom: 0");
    // Raised in C with no position in the message: the line comes from the stack.
    let err = refused(&sb, "local t = { {} }\nlocal s = table.concat(t)\nreturn s");
    assert_eq!(runtime(&err), (Some(2), "invalid value (table) at index 1 in table for 'concat'"));
    let err = refused(&sb, "\nreturn ('x'):find('%')");
    assert_eq!(runtime(&err), (Some(2), "malformed pattern (ends with '%')"));
    let err = refused(&sb, "return ('x'):rep({})");
    assert_eq!(runtime(&err), (Some(1), "bad argument #1 to 'rep' (number expected, got table)"));
    let err = refused(&sb, "error({ code = 1 })");
    assert!(runtime(&err).1.starts_with("table: 0x"), "{err}");
    let err = refused(&sb, "error(setmetatable({}, { __tostring = function() return 'custom' end }))");
    assert_eq!(runtime(&err), (Some(1), "custom"));
    let err = refused(&sb, "error(setmetatable({}, { __tostring = function() while true do end end }))");
    assert!(matches!(err, SandboxError::InstructionBudget { .. }), "{err:?}");
    // A wrong result type is reported against the file too.
    sb.load("function s() return 'text' end").unwrap();
    let err = call_global::<f64>(&sb, "s").unwrap_err();
    assert!(err.to_string().starts_with("hostile.lua: "), "{err}");
    still_works(&sb);
}

#[test]
fn limits_deserialize_with_defaults_and_are_validated() {
    let l: SandboxLimits = serde_json::from_str("{}").unwrap();
    assert_eq!(l, SandboxLimits::default());
    assert_eq!(
        l,
        SandboxLimits { instructions: 1_000_000, memory_bytes: 64 << 20, wall_clock: Duration::from_millis(250) }
    );
    let l: SandboxLimits = serde_json::from_str(r#"{"instructions": 5000, "wall_clock_ms": 20}"#).unwrap();
    assert_eq!((l.instructions, l.memory_bytes, l.wall_clock), (5000, 64 << 20, Duration::from_millis(20)));
    let err = serde_json::from_str::<SandboxLimits>(r#"{"instructions": 1, "wall_clock": 5}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `wall_clock`"), "{err}");

    for limits in [
        SandboxLimits { instructions: 0, ..SandboxLimits::default() },
        SandboxLimits { memory_bytes: 1000, ..SandboxLimits::default() },
        SandboxLimits { wall_clock: Duration::ZERO, ..SandboxLimits::default() },
    ] {
        let err = Sandbox::new(FILE, limits).unwrap_err();
        assert!(matches!(err, SandboxError::Setup { .. }), "{err:?}");
        assert!(err.to_string().starts_with("hostile.lua: cannot set up the Lua sandbox: sandbox."), "{err}");
    }
    // Tiny budgets work too.
    let sb = sandbox_with(SandboxLimits { instructions: 10, ..SandboxLimits::default() });
    assert!(matches!(refused(&sb, "for i = 1, 100 do end"), SandboxError::InstructionBudget { limit: 10, .. }));
    sb.load("local x = 1").unwrap();
}

#[test]
fn sandbox_is_send() {
    fn send<T: Send>() {}
    send::<Sandbox>();
    send::<SandboxError>();
    let sb = sandbox();
    std::thread::spawn(move || still_works(&sb)).join().unwrap();
}

// ---------------------------------------------------------------- string library conformance

/// Serializes the results of `pcall(f)` the same way in both states.
const HARNESS: &str = r##"
function show(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[#out + 1] = math.type(v) or type(v) == "string" and string.format("%q", v) or tostring(v)
    if math.type(v) then out[#out] = out[#out] .. ":" .. tostring(v) end
  end
  return table.concat(out, " | ")
end
function run(src)
  local f = assert(load_case(src))
  return show(pcall(f))
end
"##;

/// The same expressions in the sandbox (Rust matcher) and in a stock Lua
/// 5.4 state (lstrlib.c) give the same results and the same errors.
fn compare(cases: &[String]) {
    let stock = Lua::new();
    stock
        .globals()
        .set(
            "load_case",
            stock.load("return function(s) return load(s, '@hostile.lua') end").eval::<mlua::Function>().unwrap(),
        )
        .unwrap();
    stock.load(HARNESS).exec().unwrap();
    let run_stock: mlua::Function = stock.globals().get("run").unwrap();

    let sb = sandbox();
    sb.load(HARNESS).unwrap();
    let run = sb.global_function("run").unwrap();
    // The sandbox has no `load`: each case is compiled by the host into a
    // function of the same chunk name and handed to `run`.
    sb.lua()
        .globals()
        .set(
            "load_case",
            sb.lua()
                .create_function(|lua, src: String| {
                    lua.load(src).set_name("@hostile.lua").set_mode(ChunkMode::Text).into_function()
                })
                .unwrap(),
        )
        .unwrap();
    for case in cases {
        let expected: String = run_stock.call(case.as_str()).unwrap();
        let got: String = sb.call(&run, case.as_str()).unwrap();
        assert_eq!(got, expected, "case: {case}");
    }
}

#[test]
fn string_patterns_match_stock_lua() {
    let cases: Vec<String> = [
        // find
        r#"return ("hello world"):find("o w")"#,
        r#"return ("hello world"):find("o", 6)"#,
        r#"return ("hello world"):find("l", -3)"#,
        r#"return ("hello world"):find("l", -100)"#,
        r#"return ("hello"):find("", 10)"#,
        r#"return ("hello"):find("", 6)"#,
        r#"return ("hello"):find("l+")"#,
        r#"return ("a.b"):find(".", 1, true)"#,
        r#"return ("a+b"):find("+", 1, true)"#,
        r#"return ("a+b"):find("a+b")"#,
        r#"return ("key = value"):find("(%w+)%s*=%s*(%w+)")"#,
        r#"return ("  x"):find("^%s*")"#,
        r#"return ("x^y"):find("^", 2)"#,
        r#"return ("abc"):find("b()")"#,
        r#"return ("abc"):find("$")"#,
        r#"return ("a$c"):find("$c")"#,
        r#"return ("f(a(b)c)d"):find("%b()")"#,
        r#"return ("THE (quick) fox"):find("%f[%a]%a+")"#,
        r#"return ("THE (quick) fox"):find("%f[%l]%a+")"#,
        r#"return ("hello"):find("(l)%1")"#,
        r#"return ("x = 'a' .. 'b'"):find("(['\"])(.-)%1")"#,
        r#"return ("abc\0def"):find("\0d")"#,
        r#"return ("abc\0def"):find("%z")"#,
        r#"return ("123abc"):find("%d*")"#,
        r#"return ("abc"):find("[a-")"#,
        r#"return ("a-b"):find("[a-]", 2)"#,
        r#"return ("a]b"):find("[]]")"#,
        r#"return ("a]b"):find("[^]]+")"#,
        r#"return ("x%y"):find("[%%]")"#,
        r#"return ("tab\there"):find("%s")"#,
        "return (\"v\\vx\"):find(\"%s\")",
        r#"return ("AbC"):find("%u%l%u")"#,
        r#"return ("a1_b2"):find("[%w_]+")"#,
        r#"return ("0x1F!"):find("%x+")"#,
        r#"return ("a,b;c"):find("%p")"#,
        r#"return ("\1\2a"):find("%c+")"#,
        r#"return ("a b"):find("%g+", 2)"#,
        r#"return ("abc"):find("%A")"#,
        r#"return ("abc"):find("b?c")"#,
        r#"return ("ac"):find("ab?c")"#,
        r#"return ("aaa"):find("a-b")"#,
        r#"return ("aaab"):find("a-b")"#,
        r#"return ("hello"):find(5)"#,
        r#"return (12345):find(34)"#,
        // match
        r#"return ("key=val"):match("(%w+)=(%w+)")"#,
        r#"return ("2024-01-15"):match("(%d+)-(%d+)-(%d+)")"#,
        r#"return ("hello"):match(".-(l+)(.*)")"#,
        r#"return ("hello"):match("()ll()")"#,
        r#"return ("hello"):match("^(h)")"#,
        r#"return ("hello"):match("^(e)")"#,
        r#"return ("hello"):match("xyz")"#,
        r#"return ("  trim me  "):match("^%s*(.-)%s*$")"#,
        r#"return ("[[x]]"):match("%[(%b[])%]")"#,
        r#"return ("hello"):match("", 3)"#,
        r#"return ("hello"):match("(h)(e)(l)(l)(o)")"#,
        // gmatch
        r#"local r = {} for k, v in ("a=1, b=2, c=3"):gmatch("(%w+)=(%w+)") do r[#r+1] = k .. v end return table.concat(r, ";")"#,
        r#"local r = {} for w in ("one two  three"):gmatch("%a+") do r[#r+1] = w end return table.concat(r, ";")"#,
        r#"local r = {} for w in ("abc"):gmatch("") do r[#r+1] = "[" .. w .. "]" end return table.concat(r)"#,
        r#"local r = {} for w in ("abc"):gmatch("x*") do r[#r+1] = "[" .. w .. "]" end return table.concat(r)"#,
        r#"local r = {} for a, b in ("abcd"):gmatch("()(.)") do r[#r+1] = a .. b end return table.concat(r, ",")"#,
        r#"local r = {} for w in ("^a^b"):gmatch("^.") do r[#r+1] = w end return table.concat(r, ",")"#,
        r#"local r = {} for w in ("abcdef"):gmatch("..", 3) do r[#r+1] = w end return table.concat(r, ",")"#,
        r#"local r = {} for w in ("abcdef"):gmatch(".", -2) do r[#r+1] = w end return table.concat(r, ",")"#,
        r#"local r = {} for w in ("abc"):gmatch(".", 10) do r[#r+1] = w end return #r"#,
        // gsub
        r#"return ("hello world"):gsub("o", "0")"#,
        r#"return ("hello world"):gsub("(%w+)", "<%1>")"#,
        r#"return ("hello world"):gsub("%w+", "%0 %0", 1)"#,
        r#"return ("hello"):gsub("", "-")"#,
        r#"return ("abc"):gsub("x*", "-")"#,
        r#"return ("abc"):gsub("^a", "A")"#,
        r#"return ("abc"):gsub("^b", "B")"#,
        r#"return ("a.b.c"):gsub("%.", "%%")"#,
        r#"return ("abc"):gsub("b", "%1")"#,
        r#"return ("abc"):gsub("(b)", "%2")"#,
        r#"return ("abc"):gsub("b", "%")"#,
        r#"return ("abc"):gsub("b", "%x")"#,
        r#"return ("abc"):gsub("()b", "%1")"#,
        r#"return ("$name and $other"):gsub("%$(%w+)", { name = "Lua", other = false })"#,
        r#"return ("$name"):gsub("%$(%w+)", { name = 42 })"#,
        r#"return ("$name"):gsub("%$(%w+)", { name = {} })"#,
        r#"return ("1 2 3"):gsub("%d", function(d) return d * 2 end)"#,
        r#"return ("1 2 3"):gsub("%d", function(d) if d == "2" then return nil end return "x" end)"#,
        r#"return ("abc"):gsub(".", { a = 1, b = true })"#,
        r#"return ("abc"):gsub("", function() return "." end)"#,
        r#"return ("abc"):gsub("^", function() return ">" end)"#,
        r#"return ("x = 1"):gsub("()(%s*)=", function(p, s) return p .. "[" .. s .. "]" end)"#,
        r#"return ("aaa"):gsub("a", "b", 2)"#,
        r#"return ("aaa"):gsub("a", "b", 0)"#,
        r#"return ("aaa"):gsub("a", "b", -1)"#,
        r#"return ("aaa"):gsub("a", "b", 2.0)"#,
        r#"return ("abc"):gsub("b", 7)"#,
        r#"return ("abc"):gsub("b", function() error("in repl") end)"#,
        // errors
        r#"return ("x"):find("%")"#,
        r#"return ("x"):find("[a")"#,
        r#"return ("x"):find("[a%")"#,
        r#"return ("x"):find("(x")"#,
        r#"return ("x"):find("x)")"#,
        r#"return ("x"):find("%1")"#,
        r#"return ("x"):find("(x)%2")"#,
        r#"return ("x"):find("%f")"#,
        r#"return ("x"):find("%b")"#,
        r#"return ("x"):find("%bx")"#,
        r#"return ("x"):match(string.rep("()", 33))"#,
        r#"return ("x"):match(string.rep("(", 300) .. "x" .. string.rep(")", 300))"#,
        r#"return ("x"):gsub("(", "")"#,
        r#"return ("x"):gsub("x", true)"#,
        r#"return string.find("x", {})"#,
        r#"return string.find(nil, "x")"#,
        r#"return string.find("x", "x", 1.5)"#,
        r#"return string.find("x", "x", "2")"#,
        r#"return string.gsub("x", "x", "y", "z")"#,
        r#"for w in string.gmatch("x", "%") do end"#,
        r#"return string.gmatch({}, "x")"#,
        // rep
        r#"return ("ab"):rep(3, "-")"#,
        r#"return ("ab"):rep(0, "-")"#,
        r#"return ("ab"):rep(1, "-")"#,
        r#"return (1.5):rep(2)"#,
        r#"return ("x"):rep(2.5)"#,
        r#"return ("x"):rep("3")"#,
        r#"return string.rep()"#,
        r#"return string.rep("x")"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    compare(&cases);
}

/// Random patterns over a small alphabet, against stock Lua.
#[test]
fn random_patterns_match_stock_lua() {
    const TOKENS: &[&str] = &[
        "a", "b", "c", ".", "%a", "%d", "%s", "[ab]", "[^a]", "[a-c]", "*", "+", "-", "?", "(", ")", "()", "%1",
        "%b()", "%f[%a]", "$", "^", "%", "[", "%]",
    ];
    const SUBJECTS: &[&str] = &["", "a", "abc", "aab(b)c ", "ba1 (a(b)) c2", "  cab  ", "aaaaab", "(()"];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut cases = Vec::new();
    for _ in 0..1500 {
        let len = 1 + next(6);
        let pattern: String = (0..len).map(|_| TOKENS[next(TOKENS.len())]).collect();
        let subject = SUBJECTS[next(SUBJECTS.len())];
        let pattern = format!("{pattern:?}");
        let subject = format!("{subject:?}");
        let init = next(5) as i64 - 2;
        cases.push(match next(5) {
            0 => format!("return string.find({subject}, {pattern}, {init})"),
            1 => format!("return string.match({subject}, {pattern})"),
            2 => format!("return string.gsub({subject}, {pattern}, '<%0>')"),
            3 => format!("return string.gsub({subject}, {pattern}, function(...) return select('#', ...) end)"),
            _ => format!("local r = {{}} for a, b in string.gmatch({subject}, {pattern}) do r[#r + 1] = tostring(a) .. tostring(b) end return table.concat(r, ',')"),
        });
    }
    compare(&cases);
}

/// The engine's per-bar call (`call_pushed`, arguments pushed onto the call
/// coroutine by hand) passes what it pushed, returns the first result, and
/// reports errors, budgets and memory exactly as `call` does, each time
/// leaving a state that keeps working.
#[test]
fn pushed_calls_take_their_arguments_and_fail_as_calls_do() {
    let sb = sandbox_with(SandboxLimits { instructions: 100_000, ..SandboxLimits::default() });
    sb.load(
        r##"
        function echo(i, x, missing, s, ...)
          return {i = i, int = math.type(i), x = x, missing = missing, s = s, rest = select("#", ...)}, "second"
        end
        function nothing() end
        function fails(x) if x > 1 then error("too big: " .. x) end end
        function fails_in_c() return ("x"):rep(-1, {}) end
        function loops() while true do pcall(function() while true do end end) end end
        "##,
    )
    .unwrap();
    let label = sb.lua().create_string("long").unwrap();
    let echo = sb.global_function("echo").unwrap();
    let value = sb
        .call_pushed(&echo, |args| {
            args.integer(7);
            args.number(2.5);
            args.option_number(None);
            args.option_string(Some(&label));
            args.option_number(Some(1.0));
            args.option_string(None);
        })
        .unwrap();
    let mlua::Value::Table(t) = value else { panic!("expected the first result, a table: {value:?}") };
    assert_eq!(t.get::<i64>("i").unwrap(), 7);
    assert_eq!(t.get::<String>("int").unwrap(), "integer");
    assert_eq!(t.get::<f64>("x").unwrap(), 2.5);
    assert!(t.get::<mlua::Value>("missing").unwrap().is_nil());
    assert_eq!(t.get::<String>("s").unwrap(), "long");
    assert_eq!(t.get::<i64>("rest").unwrap(), 2);

    let nothing = sb.global_function("nothing").unwrap();
    assert!(sb.call_pushed(&nothing, |_| {}).unwrap().is_nil());

    let fails = sb.global_function("fails").unwrap();
    assert!(sb.call_pushed(&fails, |args| args.number(1.0)).unwrap().is_nil());
    let err = sb.call_pushed(&fails, |args| args.number(2.0)).unwrap_err();
    assert_eq!(runtime(&err), (Some(6), "too big: 2.0"));
    let err = sb.call_pushed(&sb.global_function("fails_in_c").unwrap(), |_| {}).unwrap_err();
    let (line, message) = runtime(&err);
    assert_eq!(line, Some(7), "the strategy line of an error raised in C: {message}");

    let budget = sb.call_pushed(&sb.global_function("loops").unwrap(), |_| {}).unwrap_err();
    assert!(matches!(budget, SandboxError::InstructionBudget { limit: 100_000, .. }), "{budget:?}");
    let small = sandbox_with(SandboxLimits { memory_bytes: 4 << 20, ..SandboxLimits::default() });
    small.load("function bomb() local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1024) .. i end end").unwrap();
    let memory = small.call_pushed(&small.global_function("bomb").unwrap(), |_| {}).unwrap_err();
    assert!(matches!(memory, SandboxError::Memory { .. }), "{memory:?}");

    // More arguments than a pushed call takes: refused before anything runs.
    let err = sb.call_pushed(&echo, |args| (0..100).for_each(|i| args.integer(i))).unwrap_err();
    assert!(err.to_string().contains("too many arguments"), "{err}");
    still_works(&sb);
    still_works(&small);
}

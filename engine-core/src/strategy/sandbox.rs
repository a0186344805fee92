//! The sandboxed Lua 5.4 state every strategy instance runs in.
//!
//! A [`Sandbox`] owns one Lua state with only the safe parts of the standard
//! library (base without loaders, I/O and GC control; `string` without
//! `dump`; `table`; `math`; `utf8`), read-only library tables and a protected
//! string metatable, text-only chunks named after the strategy file, and
//! per-call limits that Lua code cannot catch or escape: an instruction
//! budget, a memory limit for the state and a wall-clock limit. The rules,
//! the limits and what happens on each violation are described for strategy
//! authors in `docs/lua-api.md` ("Sandbox").
//!
//! # How the limits are enforced
//!
//! * Every call (and the chunk run by [`Sandbox::load`]) runs as a coroutine
//!   (one reused [`Thread`] per state). A count hook fires every
//!   [`HOOK_INTERVAL`] VM instructions; once the call's instruction budget is
//!   spent or its deadline has passed, the hook returns [`VmState::Yield`].
//!   A yield from a hook is not an error, so `pcall` cannot catch it: the
//!   coroutine is suspended and [`Sandbox::call`] reports
//!   [`SandboxError::InstructionBudget`] or [`SandboxError::Timeout`].
//!   Where Lua cannot yield (inside a C boundary such as a `table.sort`
//!   comparator, a `__tostring` called by `tostring`, an error handler),
//!   the next hook raises an error instead; `pcall`/`xpcall` in the sandbox
//!   re-raise any error caught while the call is being aborted, so the error
//!   travels to the top.
//! * The memory limit is mlua's allocator limit ([`Lua::set_memory_limit`]):
//!   an allocation past it fails with a Lua memory error. The state stays
//!   consistent and usable afterwards.
//! * The wall-clock deadline is read from the monotonic clock by the hook and
//!   by the pattern matcher, at instruction granularity. Hooks do not run
//!   inside C functions, so the library functions whose running time is not
//!   bounded by their input are replaced: `string.find`/`match`/`gmatch`/
//!   `gsub` use a Rust port of Lua 5.4's matcher that checks the deadline
//!   every few thousand steps (a backtracking pattern can take exponential
//!   time), `string.rep` returns at once when it would repeat an empty string,
//!   `table.insert`/`remove` with a position and `table.move` run as Lua code
//!   (their C loops are bounded only by a length a `__len` or a sparse table
//!   can make arbitrarily large), and `table.concat`/`table.sort` take the C
//!   path only for plain tables where the work is bounded by the memory
//!   limit. Every remaining C function does work linear (sort: n log n, n at
//!   most [`SORT_NATIVE_MAX`]) in data that fits under the memory limit.
//!
//! There is no watchdog thread: a second thread could not interrupt a C call
//! either (Lua offers nothing for that), and it could not arm the hook
//! safely: mlua holds the state's lock for the whole `resume`, and calling
//! `lua_sethook` without it from another thread is a data race on the
//! running thread's hook fields and call-info list. Reading the clock in the
//! hook gives the same precision without the race. A call stuck in C blocks
//! only its own thread: every state has its own lock, nothing is shared
//! between sandboxes.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlua::{
    ChunkMode, FromLuaMulti, Function, HookTriggers, IntoLuaMulti, Lua, LuaOptions, MultiValue, StdLib, Table, Thread,
    ThreadStatus, Value, VmState,
};
use serde::Deserialize;

/// The count hook fires every this many VM instructions (or every
/// `instructions` if the budget is smaller). The budget is therefore
/// enforced in blocks of this size, and the deadline is checked at least
/// this often.
pub const HOOK_INTERVAL: u32 = 1000;

/// Largest array `table.sort` sorts without a comparator in C. Larger
/// arrays (and arrays with a metatable, and calls with a C comparator) are
/// sorted with a Lua comparator so that the hook keeps running.
pub const SORT_NATIVE_MAX: usize = 1 << 15;

/// Arrays up to this size are sorted in C whatever the comparator.
const SORT_SMALL: usize = 64;

/// Limits of one sandbox: per call (instructions, wall clock) and per state
/// (memory). Deserializes from a config section such as
/// `{ "instructions": 1000000, "memory_bytes": 67108864, "wall_clock_ms": 250 }`
/// (every field optional, unknown fields refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxLimits {
    /// VM instructions one call may execute.
    pub instructions: u64,
    /// Bytes the whole Lua state may allocate.
    pub memory_bytes: usize,
    /// Wall-clock time one call may take (`wall_clock_ms` in a config).
    #[serde(rename = "wall_clock_ms", deserialize_with = "deserialize_millis")]
    pub wall_clock: Duration,
}

fn deserialize_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

impl SandboxLimits {
    /// The defaults: 1,000,000 instructions and 250 ms per call, 64 MiB per state.
    pub const DEFAULT: SandboxLimits =
        SandboxLimits { instructions: 1_000_000, memory_bytes: 64 << 20, wall_clock: Duration::from_millis(250) };

    /// Smallest accepted memory limit: an empty sandbox needs about 100 KiB.
    pub const MIN_MEMORY_BYTES: usize = 1 << 20;

    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.instructions == 0 {
            return Err("sandbox.instructions must be at least 1".to_string());
        }
        if self.memory_bytes < Self::MIN_MEMORY_BYTES {
            return Err(format!(
                "sandbox.memory_bytes must be at least {} (1 MiB), got {}",
                Self::MIN_MEMORY_BYTES,
                self.memory_bytes
            ));
        }
        if self.wall_clock.is_zero() {
            return Err("sandbox.wall_clock_ms must be at least 1".to_string());
        }
        Ok(())
    }
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits::DEFAULT
    }
}

/// Why a sandboxed load or call failed. Every message names the strategy
/// file, and the line where Lua reports one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The chunk does not compile (`line` is 0 if Lua gave none).
    #[error("{file}:{line}: syntax error: {message}")]
    Syntax { file: String, line: u32, message: String },
    /// A Lua error: raised by the script, by a library function, or a stack
    /// overflow. `line` is where it was raised, if known.
    #[error("{}", runtime_message(file, *line, message))]
    Runtime { file: String, line: Option<u32>, message: String },
    /// The call executed its whole instruction budget.
    #[error("{file}: instruction budget exhausted ({limit} VM instructions per call)")]
    InstructionBudget { file: String, limit: u64 },
    /// The state reached its memory limit.
    #[error("{file}: memory limit exceeded ({limit} bytes per Lua state)")]
    Memory { file: String, limit: usize },
    /// The call ran past its wall-clock limit.
    #[error("{file}: wall-clock limit exceeded ({} ms per call)", limit.as_millis())]
    Timeout { file: String, limit: Duration },
    /// Refused before running: precompiled bytecode.
    #[error("{file}: {reason}")]
    Forbidden { file: String, reason: String },
    /// The sandbox could not be created (bad limits, file name, or the
    /// state could not be set up within its memory limit).
    #[error("{file}: cannot set up the Lua sandbox: {message}")]
    Setup { file: String, message: String },
}

fn runtime_message(file: &str, line: Option<u32>, message: &str) -> String {
    match line {
        Some(line) => format!("{file}:{line}: {message}"),
        None => format!("{file}: {message}"),
    }
}

const ABORT_NONE: u8 = 0;
const ABORT_BUDGET: u8 = 1;
const ABORT_TIMEOUT: u8 = 2;

/// Up to this much memory in the state the hook fires every
/// [`HOOK_INTERVAL`] instructions; above it, proportionally more often (see
/// [`Meter::interval_for`]).
const CHEAP_MEMORY: usize = 2 << 20;

/// The smallest interval the memory scaling goes down to.
const MIN_INTERVAL: u32 = 16;

/// Per-sandbox accounting of the running call, shared by the host side, the
/// hooks, the GC tick and the Rust library functions. Only the thread running
/// the call touches it while the call runs; the atomics (all `Relaxed`) make
/// it `Send + Sync` for mlua's `send` feature at the cost of plain loads.
///
/// The hook interval adapts to the state's memory: one VM instruction can
/// cost time proportional to the largest string (a concatenation, a
/// comparison, a library call on it), and such strings need memory. Up to
/// [`CHEAP_MEMORY`] the interval is [`HOOK_INTERVAL`]; above, it shrinks in
/// proportion, so that the time between two checks stays about the same.
/// The hook re-evaluates it each time it fires, and a GC tick (a finalizer
/// re-armed each collection cycle) re-evaluates it when memory grows between
/// hooks.
struct Meter {
    epoch: Instant,
    instructions: u64,
    max_interval: u32,
    wall_clock_ns: u64,
    active: AtomicBool,
    /// Instructions charged to the running call (an upper bound: the first
    /// hook of a call and a re-arm by the GC tick charge a whole interval).
    used: AtomicU64,
    /// The interval armed on the call coroutine.
    interval: AtomicU32,
    deadline_ns: AtomicU64,
    abort: AtomicU8,
    /// Line of the innermost strategy frame when the call's last error was
    /// raised (0: none), recorded by the trampoline's message handler for
    /// errors whose message carries no position (raised in C).
    error_line: AtomicU32,
}

impl Meter {
    fn new(limits: &SandboxLimits) -> Meter {
        let max_interval = u32::try_from(limits.instructions).unwrap_or(u32::MAX).min(HOOK_INTERVAL);
        Meter {
            epoch: Instant::now(),
            instructions: limits.instructions,
            max_interval,
            wall_clock_ns: u64::try_from(limits.wall_clock.as_nanos()).unwrap_or(u64::MAX),
            active: AtomicBool::new(false),
            used: AtomicU64::new(0),
            interval: AtomicU32::new(max_interval),
            deadline_ns: AtomicU64::new(u64::MAX),
            abort: AtomicU8::new(ABORT_NONE),
            error_line: AtomicU32::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn begin(&self) {
        self.used.store(0, Relaxed);
        self.abort.store(ABORT_NONE, Relaxed);
        self.error_line.store(0, Relaxed);
        self.deadline_ns.store(self.now_ns().saturating_add(self.wall_clock_ns), Relaxed);
        self.active.store(true, Relaxed);
    }

    fn end(&self) {
        self.active.store(false, Relaxed);
    }

    fn aborting(&self) -> bool {
        self.active.load(Relaxed) && self.abort.load(Relaxed) != ABORT_NONE
    }

    /// For long-running library code: whether the running call is past its
    /// deadline (and, if so, marks it timed out).
    fn deadline_passed(&self) -> bool {
        if !self.active.load(Relaxed) {
            return false;
        }
        if self.abort.load(Relaxed) != ABORT_NONE {
            return true;
        }
        if self.now_ns() >= self.deadline_ns.load(Relaxed) {
            self.abort.store(ABORT_TIMEOUT, Relaxed);
            return true;
        }
        false
    }

    /// The hook interval for a state using `memory` bytes, with `used`
    /// instructions of the budget spent: [`HOOK_INTERVAL`] up to
    /// [`CHEAP_MEMORY`], then `HOOK_INTERVAL * CHEAP_MEMORY / memory`
    /// rounded down to a power of two (at least [`MIN_INTERVAL`]); never past
    /// the end of the budget.
    fn interval_for(&self, memory: usize, used: u64) -> u32 {
        let mut interval = self.max_interval;
        if memory > CHEAP_MEMORY {
            let scaled = (u64::from(self.max_interval) * CHEAP_MEMORY as u64 / memory as u64) as u32;
            let pow2 = if scaled == 0 { 1 } else { 1 << (31 - scaled.leading_zeros()) };
            interval = interval.min(pow2.max(MIN_INTERVAL));
        }
        let left = self.instructions.saturating_sub(used).max(1);
        u32::try_from(left).map_or(interval, |left| interval.min(left))
    }

    /// Arms the hook on the running Lua thread (`lua.state()`), which must
    /// be the call coroutine.
    fn arm(self: &Arc<Self>, lua: &Lua, interval: u32) -> mlua::Result<()> {
        self.interval.store(interval, Relaxed);
        let meter = self.clone();
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(interval), move |lua, _| meter.on_hook(lua))
    }

    /// The count hook, on the call coroutine.
    fn on_hook(self: &Arc<Self>, lua: &Lua) -> mlua::Result<VmState> {
        if !self.active.load(Relaxed) {
            return Ok(VmState::Continue);
        }
        if self.abort.load(Relaxed) == ABORT_NONE {
            let interval = self.interval.load(Relaxed);
            let used = self.used.load(Relaxed).saturating_add(u64::from(interval));
            self.used.store(used, Relaxed);
            if used >= self.instructions {
                self.abort.store(ABORT_BUDGET, Relaxed);
            } else if self.now_ns() >= self.deadline_ns.load(Relaxed) {
                self.abort.store(ABORT_TIMEOUT, Relaxed);
            } else {
                let want = self.interval_for(lua.used_memory(), used);
                if want != interval {
                    self.arm(lua, want)?;
                }
                return Ok(VmState::Continue);
            }
        }
        // Raised again every time the hook fires until the call is over; the
        // sandbox's pcall/xpcall re-raise it (see the module docs).
        Err(mlua::Error::runtime("call aborted by the sandbox"))
    }

    /// Called by the GC sentinel's finalizer once per collection cycle (with
    /// hooks disabled). If the call coroutine is running, checks the
    /// deadline and shrinks the hook interval if memory grew; re-arming
    /// restarts the count, so the interval in progress is charged whole.
    fn gc_tick(self: &Arc<Self>, lua: &Lua, coroutine: usize) -> mlua::Result<()> {
        if std::env::var_os("SBDEBUG").is_some() {
            eprintln!(
                "gc_tick active={} cur={:x} co={:x} mem={} int={}",
                self.active.load(Relaxed),
                lua.current_thread().to_pointer() as usize,
                coroutine,
                lua.used_memory(),
                self.interval.load(Relaxed)
            );
        }
        if !self.active.load(Relaxed) || lua.current_thread().to_pointer() as usize != coroutine {
            return Ok(());
        }
        let current = self.interval.load(Relaxed);
        let want = if self.deadline_passed() {
            1
        } else {
            let used = self.used.load(Relaxed);
            self.interval_for(lua.used_memory(), used)
        };
        if want < current {
            self.used.store(self.used.load(Relaxed).saturating_add(u64::from(current)), Relaxed);
            self.arm(lua, want)?;
        }
        Ok(())
    }
}

/// One strategy's Lua state with its limits. See the module documentation.
///
/// `Send` but not `Sync`: a sandbox runs one call at a time, on the thread
/// that owns it (wrap it in a `Mutex` to share it).
pub struct Sandbox {
    lua: Lua,
    file: String,
    limits: SandboxLimits,
    meter: Arc<Meter>,
    /// The coroutine every call runs in, reset between calls.
    thread: Thread,
    /// The coroutine's body: calls the function under a protected call (see
    /// the prelude) so that an error never leaves the coroutine with
    /// to-be-closed variables still open.
    trampoline: Function,
    /// `on` while the GC tick may call into Rust (see the prelude).
    gc_switch: Table,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("file", &self.file).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Closing the state runs the GC sentinel's finalizer, which must not
        // call back into Rust then.
        let _ = self.gc_switch.raw_set("on", false);
    }
}

impl Sandbox {
    /// A fresh sandboxed state for the strategy file `file_name` (used as
    /// the chunk name, so errors read `file_name:LINE: message`).
    pub fn new(file_name: &str, limits: SandboxLimits) -> Result<Sandbox, SandboxError> {
        let setup = |message: String| SandboxError::Setup { file: file_name.to_string(), message };
        limits.validate().map_err(setup)?;
        if file_name.is_empty() || file_name.contains('\0') {
            return Err(setup("the file name must be non-empty and contain no NUL".to_string()));
        }
        let libs = StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::UTF8;
        let lua = Lua::new_with(libs, LuaOptions::new()).map_err(|e| setup(e.to_string()))?;
        lua.set_memory_limit(limits.memory_bytes).map_err(|e| setup(e.to_string()))?;

        let meter = Arc::new(Meter::new(&limits));
        let file = file_name.to_string();
        let (thread, trampoline, gc_switch) = (|| -> mlua::Result<(Thread, Function, Table)> {
            // Armed on the main thread first, so that the coroutine created
            // next inherits the hook; the main thread runs no Lua code during
            // a call and is unhooked again below.
            meter.arm(&lua, meter.max_interval)?;
            let placeholder = lua.load("").set_name("=[sandbox]").into_function()?;
            let thread = lua.create_thread(placeholder)?;
            lua.remove_hook();
            let (trampoline, gc_switch) = install_prelude(&lua, &meter, &file, &thread, limits.memory_bytes)?;
            Ok((thread, trampoline, gc_switch))
        })()
        .map_err(|e| setup(root_message(&e)))?;
        Ok(Sandbox { lua, file, limits, meter, thread, trampoline, gc_switch, _not_sync: PhantomData })
    }

    /// The Lua state, for registering the strategy API. Lua code the host
    /// runs directly (not through [`Sandbox::call`]) is not metered.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// The strategy file name given to [`Sandbox::new`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The limits given to [`Sandbox::new`].
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// Compiles `source` (Lua text; precompiled bytecode is refused) and runs
    /// the chunk once with the per-call limits, typically defining the
    /// strategy's global functions.
    pub fn load(&self, source: impl AsRef<[u8]>) -> Result<(), SandboxError> {
        let source = source.as_ref();
        // Lua treats a chunk starting with ESC as binary; `ChunkMode::Text`
        // below refuses it too, this only gives the clearer error.
        if source.first() == Some(&0x1b) {
            return Err(SandboxError::Forbidden {
                file: self.file.clone(),
                reason: "precompiled Lua bytecode is refused, load the source text".to_string(),
            });
        }
        let chunk = self
            .lua
            .load(source)
            .set_name(format!("@{}", self.file))
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| self.classify(e, 0))?;
        self.call(&chunk, ())
    }

    /// The global function `name` defined by the strategy (builtins such as
    /// `pairs` are not returned), if any.
    pub fn global_function(&self, name: &str) -> Option<Function> {
        match self.lua.globals().raw_get::<Value>(name) {
            Ok(Value::Function(f)) => Some(f),
            _ => None,
        }
    }

    /// Calls `function` with `args` under all the limits: a fresh instruction
    /// budget and deadline for this call, the state's memory limit.
    pub fn call<R: FromLuaMulti>(&self, function: &Function, args: impl IntoLuaMulti) -> Result<R, SandboxError> {
        if self.meter.active.load(Relaxed) {
            return Err(self.runtime(None, "Sandbox::call re-entered while a call is running".to_string()));
        }
        self.meter.begin();
        let mut outcome = match self.thread.reset(self.trampoline.clone()) {
            Ok(()) => self.thread.resume::<R>((function, args)),
            Err(e) => Err(e),
        };
        if self.thread.status() != ThreadStatus::Finished {
            // The trampoline re-raised an error after its protected call had
            // closed everything; the reset only rewinds the stack. If even
            // the reset failed, the next call resets again.
            let _ = self.thread.reset(self.trampoline.clone());
            if outcome.is_ok() {
                outcome = Err(mlua::Error::runtime("the call yielded, which strategies cannot do"));
            }
        }
        let abort = self.meter.abort.load(Relaxed);
        let error_line = self.meter.error_line.load(Relaxed);
        self.meter.end();
        match abort {
            ABORT_BUDGET => {
                Err(SandboxError::InstructionBudget { file: self.file.clone(), limit: self.limits.instructions })
            }
            ABORT_TIMEOUT => Err(SandboxError::Timeout { file: self.file.clone(), limit: self.limits.wall_clock }),
            _ => outcome.map_err(|e| self.classify(e, error_line)),
        }
    }

    fn runtime(&self, line: Option<u32>, message: String) -> SandboxError {
        SandboxError::Runtime { file: self.file.clone(), line, message }
    }

    /// Maps an mlua error to a [`SandboxError`] naming the file and line.
    /// `error_line` is the line recorded by the message handler (0: none),
    /// used when the message itself has no position.
    fn classify(&self, err: mlua::Error, error_line: u32) -> SandboxError {
        let error_line = (error_line > 0).then_some(error_line);
        let mut root = &err;
        let mut traceback = None;
        loop {
            match root {
                mlua::Error::CallbackError { cause, traceback: tb } => {
                    traceback.get_or_insert(tb.as_str());
                    root = cause;
                }
                mlua::Error::WithContext { cause, .. } => root = cause,
                _ => break,
            }
        }
        let memory = SandboxError::Memory { file: self.file.clone(), limit: self.limits.memory_bytes };
        let shown = chunk_id(&self.file);
        match root {
            mlua::Error::MemoryError(_) => memory,
            mlua::Error::SyntaxError { message, .. } => {
                let (line, message) = split_position(&shown, strip_traceback(message));
                SandboxError::Syntax { file: self.file.clone(), line: line.unwrap_or(0), message: message.to_string() }
            }
            mlua::Error::RuntimeError(full) => {
                let message = strip_traceback(full);
                let appended = &full[message.len()..];
                // Raised by lauxlib's buffers when an allocation fails.
                if message == "not enough memory" {
                    return memory;
                }
                // Errors raised in C (or in the prelude) carry no position:
                // take the innermost strategy line from the traceback mlua
                // appended, or from the callback's.
                let (line, message) = split_position(&shown, message);
                let line = line
                    .or(error_line)
                    .or_else(|| traceback_line(&shown, appended))
                    .or_else(|| traceback.and_then(|tb| traceback_line(&shown, tb)));
                self.runtime(line, message.to_string())
            }
            other => {
                let line = error_line.or_else(|| traceback.and_then(|tb| traceback_line(&shown, tb)));
                self.runtime(line, strip_traceback(&other.to_string()).to_string())
            }
        }
    }
}

/// The innermost message of an mlua error (for setup failures).
fn root_message(err: &mlua::Error) -> String {
    match err {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => root_message(cause),
        other => other.to_string(),
    }
}

/// What Lua shows for the chunk name `@file` in messages (`luaO_chunkid`,
/// `LUA_IDSIZE` 60): the name, or `...` and its last 56 bytes if longer.
fn chunk_id(file: &str) -> String {
    const IDSIZE: usize = 60;
    let bytes = file.as_bytes();
    if bytes.len() < IDSIZE {
        file.to_string()
    } else {
        let tail = &bytes[bytes.len() - (IDSIZE - 4)..];
        format!("...{}", String::from_utf8_lossy(tail))
    }
}

fn strip_traceback(message: &str) -> &str {
    match message.find("\nstack traceback:") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// Splits `shown:LINE: rest` into the line and the rest.
fn split_position<'a>(shown: &str, message: &'a str) -> (Option<u32>, &'a str) {
    if let Some(after) = message.strip_prefix(shown).and_then(|m| m.strip_prefix(':')) {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            if let (Ok(line), Some(rest)) = (after[..digits].parse(), after[digits..].strip_prefix(": ")) {
                return (Some(line), rest);
            }
        }
    }
    (None, message)
}

/// The first line of the strategy file in a Lua traceback.
fn traceback_line(shown: &str, traceback: &str) -> Option<u32> {
    traceback.lines().find_map(|l| {
        let after = l.trim_start().strip_prefix(shown)?.strip_prefix(':')?;
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        after[..digits].parse().ok()
    })
}

// ---------------------------------------------------------------------------
// The prelude: trims the globals, wraps the library functions and protects
// the shared tables. Trusted code, run once before the hook is set; loaded
// from stripped bytecode so that its frames carry no line information (an
// error raised in it shows no position, like one raised in C).
// ---------------------------------------------------------------------------

const PRELUDE: &str = r##"
local R, SORT_NATIVE_MAX, SORT_SMALL = ...
local G = _G
local type, select, error, next, tonumber, tostring = type, select, error, next, tonumber, tostring
local getmetatable, setmetatable, rawget, rawset, rawlen = getmetatable, setmetatable, rawget, rawset, rawlen
local pcall, xpcall = pcall, xpcall
local string, table, math, utf8 = string, table, math, utf8
local sub = string.sub
local raw_concat, raw_sort, raw_insert, raw_remove = table.concat, table.sort, table.insert, table.remove
local tointeger, ult, maxinteger = math.tointeger, math.ult, math.maxinteger
local aborted, is_lua_function = R.aborted, R.is_lua_function
local R_find, R_match, R_gmatch, R_gsub, R_scan, R_rep = R.find, R.match, R.gmatch, R.gsub, R.scan, R.rep

-- Results of a Rust helper: (true, ...) or (false, message). Always
-- tail-called, so level 2 is the strategy code that called the wrapper.
local function ret(ok, ...)
  if ok then return ... end
  error((...), 2)
end

---------------------------------------------------------------- pcall/xpcall
-- Once the sandbox aborts a call (budget or deadline) where Lua cannot
-- yield, it raises an error; a pcall must not swallow it.
local function pass(ok, ...)
  if not ok and aborted() then error((...), 0) end
  return ok, ...
end
local function safe_pcall(f, ...) return pass(pcall(f, ...)) end
local function safe_xpcall(f, msgh, ...) return pass(xpcall(f, msgh, ...)) end

---------------------------------------------------------------- setmetatable
-- Finalizers run with hooks disabled (lgc.c, GCTM), outside any budget:
-- an object with __gc could loop forever during a collection. Lua marks an
-- object for finalization only if its metatable has __gc when set.
local function safe_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not allowed in the sandbox", 2)
  end
  return setmetatable(t, mt)
end

---------------------------------------------------------------- string
string.find = function(...) return ret(R_find(...)) end
string.match = function(...) return ret(R_match(...)) end
string.gmatch = function(...)
  local ok, iter = R_gmatch(...)
  if not ok then error(iter, 2) end
  return function() return ret(iter()) end
end

local function gsub_value(repl, is_fn, ok, st, e, ...)
  if not ok then return false, st end
  if st == nil then return nil end
  if is_fn then return st, e, (repl(...)) end
  return st, e, repl[(...)]
end

-- Function and table replacements are called from Lua (so they stay
-- yieldable and metered); the Rust side only finds the matches.
string.gsub = function(...)
  local ok, subj, pat, max_n, anchor = R_gsub(...)
  if ok == true then return subj, pat end
  if not ok then error(subj, 2) end
  local repl = select(3, ...)
  local is_fn = type(repl) == "function"
  local parts, np, pos, last, n = {}, 0, 1, -1, 0
  while n < max_n do
    local st, e, v = gsub_value(repl, is_fn, R_scan(subj, pat, pos, last))
    if st == false then error(e, 2) end
    if st == nil then break end
    n = n + 1
    if st > pos then np = np + 1; parts[np] = sub(subj, pos, st - 1) end
    if not v then
      v = sub(subj, st, e)
    elseif type(v) ~= "string" and type(v) ~= "number" then
      error("invalid replacement value (a " .. type(v) .. ")", 2)
    end
    np = np + 1; parts[np] = v
    pos, last = e + 1, e
    if anchor then break end
  end
  np = np + 1; parts[np] = sub(subj, pos)
  return raw_concat(parts, "", 1, np), n
end

-- lstrlib's rep copies one repetition at a time: repeating a short string
-- to tens of megabytes takes a long time in one C call (and an empty string
-- with an empty separator loops n times without allocating). The Rust
-- version copies by doubling and refuses results over the memory limit.
string.rep = function(...) return ret(R_rep(...)) end

-- Bytecode could not be loaded anyway (no `load`, text-only chunks).
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
  if select("#", ...) == 1 then return raw_insert(t, ...) end
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
  if pos == nil then return raw_remove(t) end
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

-- C sorts without running Lua code only with no comparator (or a C one):
-- allowed for plain arrays up to SORT_NATIVE_MAX elements (any comparator
-- up to SORT_SMALL). Otherwise every comparison goes through a Lua
-- function, so the hook keeps counting.
local function lt(a, b) return a < b end
table.sort = function(t, comp)
  if type(t) == "table" and getmetatable(t) == nil then
    local n = rawlen(t)
    if n <= SORT_SMALL or (comp == nil and n <= SORT_NATIVE_MAX) then return raw_sort(t, comp) end
  end
  if comp == nil then
    comp = lt
  elseif type(comp) ~= "function" then
    error("bad argument #2 to 'sort' (function expected, got " .. type(comp) .. ")", 2)
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

---------------------------------------------------------------- trampoline
-- The body of the call coroutine. Errors are caught inside the coroutine,
-- so that pending to-be-closed variables are closed by the protected call
-- (metered, like any Lua code); the error is then re-raised from a frame
-- with nothing left to close. An error object that is a table is turned
-- into a string here, where its __tostring is metered.
local on_error = R.on_error
local function settle(ok, ...)
  if ok then return ... end
  local e = ...
  if type(e) == "table" then
    local fine, s = pcall(tostring, e)
    if fine and type(s) == "string" then e = s else e = "(error object is a table value)" end
  end
  error(e, 0)
end
return function(f, ...) return settle(xpcall(f, on_error, ...)) end
"##;

/// Installs the Rust helpers and runs the prelude.
fn install_prelude(
    lua: &Lua,
    meter: &Arc<Meter>,
    file: &str,
    coroutine: &Thread,
    memory_bytes: usize,
) -> mlua::Result<(Function, Table)> {
    let helpers = lua.create_table()?;
    let gc_switch = lua.create_table()?;
    gc_switch.raw_set("on", true)?;
    lua.set_named_registry_value("engine_core.sandbox.gc_switch", &gc_switch)?;
    helpers.set("gc_switch", gc_switch.clone())?;
    // The coroutine's identity (its lua_State address), not a handle to it.
    let (m, co) = (meter.clone(), coroutine.to_pointer() as usize);
    // Errors are dropped: a finalizer cannot report them anyway.
    helpers.set("gc_tick", lua.create_function(move |lua, ()| Ok(m.gc_tick(lua, co).is_ok()))?)?;
    let m = meter.clone();
    helpers.set("aborted", lua.create_function(move |_, ()| Ok(m.aborting()))?)?;
    // The trampoline's message handler: records the innermost line of the
    // strategy file on the stack when an error is raised.
    let (m, chunk) = (meter.clone(), format!("@{file}"));
    helpers.set(
        "on_error",
        lua.create_function(move |lua, e: Value| {
            let line = (1..200)
                .map_while(|level| {
                    lua.inspect_stack(level, |d| {
                        (d.source().source.as_deref() == Some(chunk.as_str())).then(|| d.current_line()).flatten()
                    })
                })
                .find_map(|line| line);
            m.error_line.store(line.and_then(|l| u32::try_from(l).ok()).unwrap_or(0), Relaxed);
            Ok(e)
        })?,
    )?;
    helpers.set("is_lua_function", lua.create_function(|_, f: Function| Ok(f.info().what != "C"))?)?;
    let ctx = LibCtx { meter: meter.clone(), max_bytes: memory_bytes };
    let c = ctx.clone();
    helpers.set(
        "find",
        lua.create_function(move |lua, args: MultiValue| finish(lua, str_find_aux(lua, &args, true, &c)))?,
    )?;
    let c = ctx.clone();
    helpers.set(
        "match",
        lua.create_function(move |lua, args: MultiValue| finish(lua, str_find_aux(lua, &args, false, &c)))?,
    )?;
    let c = ctx.clone();
    helpers
        .set("gmatch", lua.create_function(move |lua, args: MultiValue| finish(lua, str_gmatch(lua, &args, &c)))?)?;
    let c = ctx.clone();
    helpers.set("gsub", lua.create_function(move |lua, args: MultiValue| str_gsub(lua, &args, &c))?)?;
    let c = ctx.clone();
    helpers.set("rep", lua.create_function(move |lua, args: MultiValue| finish(lua, str_rep(lua, &args, &c)))?)?;
    let c = ctx;
    helpers.set("scan", lua.create_function(move |lua, args: MultiValue| finish(lua, str_scan(lua, &args, &c)))?)?;

    // Compile, strip the debug information, load the stripped bytecode.
    let bytecode = lua.load(PRELUDE).set_name("=[sandbox]").into_function()?.dump(true);
    let prelude = lua.load(bytecode).set_name("=[sandbox]").set_mode(ChunkMode::Binary).into_function()?;
    let trampoline = prelude.call::<Function>((helpers, SORT_NATIVE_MAX, SORT_SMALL))?;
    Ok((trampoline, gc_switch))
}

// ---------------------------------------------------------------------------
// string.find / match / gmatch / gsub on a Rust port of Lua 5.4's matcher
// (lstrlib.c), checking the call's deadline as it goes. Argument handling
// and results follow lstrlib.c; errors are returned as (false, message) and
// raised by the prelude wrappers at the caller's line.
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct LibCtx {
    meter: Arc<Meter>,
    /// No string built here may exceed the state's memory limit (checked
    /// before the bytes are copied into Lua, where the limit applies).
    max_bytes: usize,
}

enum Fail {
    /// A Lua error message, raised at the caller's line.
    Lua(String),
    /// The call's deadline passed while matching.
    Timeout,
    /// An mlua error (memory): propagated as is.
    Mlua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Mlua(e)
    }
}

impl From<pattern::MatchError> for Fail {
    fn from(e: pattern::MatchError) -> Fail {
        match e {
            pattern::MatchError::Pattern(msg) => Fail::Lua(msg),
            pattern::MatchError::Timeout => Fail::Timeout,
        }
    }
}

type LibResult<T> = Result<T, Fail>;

fn finish(lua: &Lua, result: LibResult<MultiValue>) -> mlua::Result<MultiValue> {
    match result {
        Ok(mut values) => {
            values.push_front(Value::Boolean(true));
            Ok(values)
        }
        Err(Fail::Lua(msg)) => {
            Ok(MultiValue::from_vec(vec![Value::Boolean(false), Value::String(lua.create_string(msg)?)]))
        }
        Err(Fail::Timeout) => Ok(MultiValue::from_vec(vec![
            Value::Boolean(false),
            Value::String(lua.create_string("wall-clock limit exceeded")?),
        ])),
        Err(Fail::Mlua(e)) => Err(e),
    }
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::LightUserData(_)) => "light userdata",
        Some(v) => v.type_name(),
    }
}

fn arg_error(i: usize, fname: &str, msg: &str) -> Fail {
    Fail::Lua(format!("bad argument #{} to '{fname}' ({msg})", i + 1))
}

/// `luaL_checklstring`: a string, or a number converted to one.
fn check_string(lua: &Lua, args: &MultiValue, i: usize, fname: &str) -> LibResult<mlua::String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => Ok(s),
            None => Err(arg_error(i, fname, "string expected, got number")),
        },
        other => Err(arg_error(i, fname, &format!("string expected, got {}", type_name(other)))),
    }
}

/// `luaL_optinteger`.
fn opt_integer(lua: &Lua, args: &MultiValue, i: usize, fname: &str, default: i64) -> LibResult<i64> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(default),
        Some(Value::Integer(n)) => Ok(*n),
        Some(v) => match lua.coerce_integer(v.clone())? {
            Some(n) => Ok(n),
            None => {
                if lua.coerce_number(v.clone())?.is_some() {
                    Err(arg_error(i, fname, "number has no integer representation"))
                } else {
                    Err(arg_error(i, fname, &format!("number expected, got {}", type_name(Some(v)))))
                }
            }
        },
    }
}

fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Nil) | Some(Value::Boolean(false)))
}

/// `posrelatI`: a 1-based start position, negative from the end, clipped to 1.
fn posrelat_i(pos: i64, len: usize) -> usize {
    if pos > 0 {
        usize::try_from(pos).unwrap_or(usize::MAX)
    } else if pos == 0 || pos.unsigned_abs() > len as u64 {
        1
    } else {
        len - pos.unsigned_abs() as usize + 1
    }
}

fn to_lua_int(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn capture_value<F: FnMut() -> bool>(
    lua: &Lua,
    ms: &pattern::MatchState<'_, F>,
    i: usize,
    s: usize,
    e: usize,
) -> LibResult<Value> {
    Ok(match ms.capture(i, s, e)? {
        pattern::Capture::Position(p) => to_lua_int(p + 1),
        pattern::Capture::Span(a, b) => Value::String(lua.create_string(&ms.src[a..b])?),
    })
}

/// `push_captures`: the captures, or the whole match `s..e` if there are
/// none and `whole` is set.
fn push_captures<F: FnMut() -> bool>(
    lua: &Lua,
    ms: &pattern::MatchState<'_, F>,
    whole: Option<(usize, usize)>,
    out: &mut MultiValue,
) -> LibResult<()> {
    let (s, e) = whole.unwrap_or((0, 0));
    let n = if ms.level == 0 && whole.is_some() { 1 } else { ms.level };
    for i in 0..n {
        out.push_back(capture_value(lua, ms, i, s, e)?);
    }
    Ok(())
}

const SPECIALS: &[u8] = b"^$*+?.([%-";

/// `str_find_aux`: `string.find` (`find`) and `string.match`.
fn str_find_aux(lua: &Lua, args: &MultiValue, find: bool, ctx: &LibCtx) -> LibResult<MultiValue> {
    let fname = if find { "find" } else { "match" };
    let s = check_string(lua, args, 0, fname)?;
    let p = check_string(lua, args, 1, fname)?;
    let (s, p) = (s.as_bytes(), p.as_bytes());
    let (s, p): (&[u8], &[u8]) = (&s, &p);
    let init = posrelat_i(opt_integer(lua, args, 2, fname, 1)?, s.len()) - 1;
    let mut out = MultiValue::new();
    if init > s.len() {
        out.push_back(Value::Nil);
        return Ok(out);
    }
    if find && (truthy(args.get(3)) || !p.iter().any(|c| SPECIALS.contains(c))) {
        // Plain search, linear time (memchr's two-way search, where
        // lstrlib's lmemfind is quadratic in the worst case).
        match memchr::memmem::find(&s[init..], p) {
            Some(at) => {
                out.push_back(to_lua_int(init + at + 1));
                out.push_back(to_lua_int(init + at + p.len()));
            }
            None => out.push_back(Value::Nil),
        }
        return Ok(out);
    }
    let (anchor, p) = match p.first() {
        Some(b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    let mut ms = pattern::MatchState::new(s, p, || ctx.meter.deadline_passed());
    let mut s1 = init;
    loop {
        ms.level = 0;
        if let Some(e) = ms.do_match(s1, 0)? {
            if find {
                out.push_back(to_lua_int(s1 + 1));
                out.push_back(to_lua_int(e));
                push_captures(lua, &ms, None, &mut out)?;
            } else {
                push_captures(lua, &ms, Some((s1, e)), &mut out)?;
            }
            return Ok(out);
        }
        if anchor || s1 >= s.len() {
            break;
        }
        s1 += 1;
    }
    out.push_back(Value::Nil);
    Ok(out)
}

/// `gmatch`: returns the iterator (a Rust function returning (true,
/// captures...), (true) at the end, or (false, message)).
fn str_gmatch(lua: &Lua, args: &MultiValue, ctx: &LibCtx) -> LibResult<MultiValue> {
    let subject = check_string(lua, args, 0, "gmatch")?;
    let pat = check_string(lua, args, 1, "gmatch")?;
    let len = subject.as_bytes().len();
    let init = posrelat_i(opt_integer(lua, args, 2, "gmatch", 1)?, len) - 1;
    let start = if init > len { len + 1 } else { init };
    let src = Cell::new(start);
    let last_match: Cell<Option<usize>> = Cell::new(None);
    let ctx = ctx.clone();
    let iter = lua.create_function(move |lua, ()| {
        let result = (|| -> LibResult<MultiValue> {
            let (s, p) = (subject.as_bytes(), pat.as_bytes());
            let (s, p): (&[u8], &[u8]) = (&s, &p);
            let mut ms = pattern::MatchState::new(s, p, || ctx.meter.deadline_passed());
            let mut out = MultiValue::new();
            let mut from = src.get();
            while from <= s.len() {
                ms.level = 0;
                if let Some(e) = ms.do_match(from, 0)? {
                    if Some(e) != last_match.get() {
                        src.set(e);
                        last_match.set(Some(e));
                        push_captures(lua, &ms, Some((from, e)), &mut out)?;
                        return Ok(out);
                    }
                }
                from += 1;
            }
            src.set(from);
            Ok(out)
        })();
        finish(lua, result)
    })?;
    Ok(MultiValue::from_vec(vec![Value::Function(iter)]))
}

/// `gsub`. With a string (or number) replacement it does everything and
/// returns (true, result, count). With a function or table replacement it
/// returns ("call", subject, pattern, max_n, anchored) and the prelude runs
/// the loop with `scan`. Errors: (false, message).
fn str_gsub(lua: &Lua, args: &MultiValue, ctx: &LibCtx) -> mlua::Result<MultiValue> {
    let result = (|| -> LibResult<MultiValue> {
        let subject = check_string(lua, args, 0, "gsub")?;
        let pat = check_string(lua, args, 1, "gsub")?;
        let src_len = subject.as_bytes().len();
        let repl = args.get(2);
        let max_n = opt_integer(lua, args, 3, "gsub", i64::try_from(src_len).unwrap_or(i64::MAX).saturating_add(1))?;
        let repl = match repl {
            Some(Value::String(r)) => r.clone(),
            Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
                Some(r) => r,
                None => return Err(arg_error(2, "gsub", "string/function/table expected, got number")),
            },
            Some(Value::Function(_) | Value::Table(_)) => {
                let anchored = pat.as_bytes().first() == Some(&b'^');
                return Ok(MultiValue::from_vec(vec![
                    Value::String(lua.create_string("call")?),
                    Value::String(subject),
                    Value::String(pat),
                    Value::Integer(max_n),
                    Value::Boolean(anchored),
                ]));
            }
            other => {
                return Err(arg_error(2, "gsub", &format!("string/function/table expected, got {}", type_name(other))))
            }
        };
        let (s, p, r) = (subject.as_bytes(), pat.as_bytes(), repl.as_bytes());
        let (s, p, r): (&[u8], &[u8], &[u8]) = (&s, &p, &r);
        let (anchor, p) = match p.first() {
            Some(b'^') => (true, &p[1..]),
            _ => (false, p),
        };
        let mut ms = pattern::MatchState::new(s, p, || ctx.meter.deadline_passed());
        let mut out: Vec<u8> = Vec::new();
        let mut src = 0usize;
        let mut last_match: Option<usize> = None;
        let mut n: i64 = 0;
        while n < max_n {
            ms.level = 0;
            match ms.do_match(src, 0)? {
                Some(e) if Some(e) != last_match => {
                    n += 1;
                    add_s(&ms, &mut out, src, e, r)?;
                    src = e;
                    last_match = Some(e);
                }
                _ if src < s.len() => {
                    out.push(s[src]);
                    src += 1;
                }
                _ => break,
            }
            if out.len() > ctx.max_bytes {
                return Err(Fail::Mlua(mlua::Error::MemoryError("gsub result exceeds the memory limit".into())));
            }
            if anchor {
                break;
            }
        }
        out.extend_from_slice(&s[src..]);
        if out.len() > ctx.max_bytes {
            return Err(Fail::Mlua(mlua::Error::MemoryError("gsub result exceeds the memory limit".into())));
        }
        Ok(MultiValue::from_vec(vec![Value::String(lua.create_string(&out)?), Value::Integer(n)]))
    })();
    finish(lua, result)
}

/// `add_s`: appends the replacement string `r` for the match `s..e`.
fn add_s<F: FnMut() -> bool>(
    ms: &pattern::MatchState<'_, F>,
    out: &mut Vec<u8>,
    s: usize,
    e: usize,
    r: &[u8],
) -> LibResult<()> {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'%', &r[i..]) {
        out.extend_from_slice(&r[i..i + off]);
        let p = i + off + 1;
        match r.get(p).copied().unwrap_or(0) {
            b'%' => out.push(b'%'),
            b'0' => out.extend_from_slice(&ms.src[s..e]),
            d @ b'1'..=b'9' => match ms.capture(usize::from(d - b'1'), s, e)? {
                pattern::Capture::Position(pos) => out.extend_from_slice((pos + 1).to_string().as_bytes()),
                pattern::Capture::Span(a, b) => out.extend_from_slice(&ms.src[a..b]),
            },
            _ => return Err(Fail::Lua("invalid use of '%' in replacement string".to_string())),
        }
        i = p + 1;
    }
    out.extend_from_slice(&r[i..]);
    Ok(())
}

/// `luaL_checkinteger`.
fn check_integer(lua: &Lua, args: &MultiValue, i: usize, fname: &str) -> LibResult<i64> {
    match args.get(i) {
        None | Some(Value::Nil) => {
            Err(arg_error(i, fname, &format!("number expected, got {}", type_name(args.get(i)))))
        }
        _ => opt_integer(lua, args, i, fname, 0),
    }
}

/// `string.rep`, copying by doubling. A result longer than the memory limit
/// is a memory error without trying (it could not be stored anyway).
fn str_rep(lua: &Lua, args: &MultiValue, ctx: &LibCtx) -> LibResult<MultiValue> {
    let s = check_string(lua, args, 0, "rep")?;
    let n = check_integer(lua, args, 1, "rep")?;
    let sep = match args.get(2) {
        None | Some(Value::Nil) => None,
        Some(_) => Some(check_string(lua, args, 2, "rep")?),
    };
    let (s, sep) = (s.as_bytes(), sep.as_ref().map(|sep| sep.as_bytes()));
    let (s, sep): (&[u8], &[u8]) = (&s, sep.as_deref().unwrap_or(b""));
    let mut out = MultiValue::new();
    let Ok(n) = usize::try_from(n) else {
        out.push_back(Value::String(lua.create_string("")?));
        return Ok(out);
    };
    let total = s.len().checked_mul(n).and_then(|t| t.checked_add(sep.len().checked_mul(n.saturating_sub(1))?));
    let Some(total) = total else { return Err(Fail::Lua("resulting string too large".to_string())) };
    if total > ctx.max_bytes {
        return Err(Fail::Mlua(mlua::Error::MemoryError(format!("string.rep result of {total} bytes"))));
    }
    let bytes = if total == 0 {
        Vec::new()
    } else if sep.is_empty() {
        s.repeat(n)
    } else {
        let mut unit = Vec::with_capacity(s.len() + sep.len());
        unit.extend_from_slice(s);
        unit.extend_from_slice(sep);
        let mut bytes = unit.repeat(n - 1);
        bytes.extend_from_slice(s);
        bytes
    };
    out.push_back(Value::String(lua.create_string(&bytes)?));
    Ok(out)
}

/// One step of `gsub` with a function or table replacement: from the
/// 1-based position `pos`, the first match (anchored if the pattern starts
/// with `^`) that does not end at `last` (the previous match's end).
/// Returns (true, start, end, captures or whole match...), (true) if none,
/// or (false, message).
fn str_scan(lua: &Lua, args: &MultiValue, ctx: &LibCtx) -> LibResult<MultiValue> {
    let subject = check_string(lua, args, 0, "gsub")?;
    let pat = check_string(lua, args, 1, "gsub")?;
    let (s, p) = (subject.as_bytes(), pat.as_bytes());
    let (s, p): (&[u8], &[u8]) = (&s, &p);
    let pos = usize::try_from(opt_integer(lua, args, 2, "gsub", 1)?.max(1) - 1).unwrap_or(usize::MAX);
    let last = usize::try_from(opt_integer(lua, args, 3, "gsub", -1)?).ok();
    let (anchor, p) = match p.first() {
        Some(b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    let mut ms = pattern::MatchState::new(s, p, || ctx.meter.deadline_passed());
    let mut out = MultiValue::new();
    let mut src = pos;
    while src <= s.len() {
        ms.level = 0;
        if let Some(e) = ms.do_match(src, 0)? {
            if Some(e) != last {
                out.push_back(to_lua_int(src + 1));
                out.push_back(to_lua_int(e));
                push_captures(lua, &ms, Some((src, e)), &mut out)?;
                return Ok(out);
            }
        }
        if anchor {
            break;
        }
        src += 1;
    }
    Ok(out)
}

mod pattern {
    //! Lua 5.4.8's pattern matcher (lstrlib.c, `match` and helpers) over
    //! byte slices, with a step counter that calls `timed_out` every
    //! `CHECK_EVERY` steps. Positions are 0-based byte offsets; a read past
    //! the end of the subject or pattern yields 0, as C's terminating NUL.

    const MAXCAPTURES: usize = 32;
    const MAXCCALLS: usize = 200;
    const CAP_UNFINISHED: isize = -1;
    const CAP_POSITION: isize = -2;
    const L_ESC: u8 = b'%';
    const CHECK_EVERY: u32 = 1 << 12;

    pub(super) enum MatchError {
        Pattern(String),
        Timeout,
    }

    fn err(msg: &str) -> MatchError {
        MatchError::Pattern(msg.to_string())
    }

    pub(super) enum Capture {
        /// A position capture `()`: the 0-based offset.
        Position(usize),
        /// A string capture: the byte range.
        Span(usize, usize),
    }

    type Res = Result<Option<usize>, MatchError>;

    pub(super) struct MatchState<'a, F> {
        pub(super) src: &'a [u8],
        pat: &'a [u8],
        depth: usize,
        pub(super) level: usize,
        capture: [(usize, isize); MAXCAPTURES],
        steps: u32,
        timed_out: F,
    }

    fn match_class(c: u8, cl: u8) -> bool {
        let res = match cl.to_ascii_lowercase() {
            b'a' => c.is_ascii_alphabetic(),
            b'c' => c.is_ascii_control(),
            b'd' => c.is_ascii_digit(),
            b'g' => c.is_ascii_graphic(),
            b'l' => c.is_ascii_lowercase(),
            b'p' => c.is_ascii_punctuation(),
            // C's isspace, which includes the vertical tab.
            b's' => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
            b'u' => c.is_ascii_uppercase(),
            b'w' => c.is_ascii_alphanumeric(),
            b'x' => c.is_ascii_hexdigit(),
            b'z' => c == 0,
            _ => return cl == c,
        };
        if cl.is_ascii_lowercase() {
            res
        } else {
            !res
        }
    }

    impl<'a, F: FnMut() -> bool> MatchState<'a, F> {
        pub(super) fn new(src: &'a [u8], pat: &'a [u8], timed_out: F) -> Self {
            MatchState { src, pat, depth: MAXCCALLS, level: 0, capture: [(0, 0); MAXCAPTURES], steps: 0, timed_out }
        }

        fn p(&self, i: usize) -> u8 {
            self.pat.get(i).copied().unwrap_or(0)
        }

        fn s(&self, i: usize) -> u8 {
            self.src.get(i).copied().unwrap_or(0)
        }

        fn step(&mut self) -> Result<(), MatchError> {
            self.steps = self.steps.wrapping_add(1);
            if self.steps % CHECK_EVERY == 0 && (self.timed_out)() {
                return Err(MatchError::Timeout);
            }
            Ok(())
        }

        /// `get_onecapture`: capture `i`, or the whole match `s..e` for
        /// `i == 0` when there are no captures.
        pub(super) fn capture(&self, i: usize, s: usize, e: usize) -> Result<Capture, MatchError> {
            if i >= self.level {
                if i != 0 {
                    return Err(MatchError::Pattern(format!("invalid capture index %{}", i + 1)));
                }
                return Ok(Capture::Span(s, e));
            }
            let (init, len) = self.capture[i];
            match len {
                CAP_UNFINISHED => Err(err("unfinished capture")),
                CAP_POSITION => Ok(Capture::Position(init)),
                len => Ok(Capture::Span(init, init + len as usize)),
            }
        }

        fn check_capture(&self, l: u8) -> Result<usize, MatchError> {
            let l = i32::from(l) - i32::from(b'1');
            if l < 0 || l as usize >= self.level || self.capture[l as usize].1 == CAP_UNFINISHED {
                return Err(MatchError::Pattern(format!("invalid capture index %{}", l + 1)));
            }
            Ok(l as usize)
        }

        fn capture_to_close(&self) -> Result<usize, MatchError> {
            (0..self.level)
                .rev()
                .find(|&l| self.capture[l].1 == CAP_UNFINISHED)
                .ok_or_else(|| err("invalid pattern capture"))
        }

        fn class_end(&self, mut p: usize) -> Result<usize, MatchError> {
            let c = self.p(p);
            p += 1;
            match c {
                L_ESC => {
                    if p >= self.pat.len() {
                        return Err(err("malformed pattern (ends with '%')"));
                    }
                    Ok(p + 1)
                }
                b'[' => {
                    if self.p(p) == b'^' {
                        p += 1;
                    }
                    loop {
                        if p >= self.pat.len() {
                            return Err(err("malformed pattern (missing ']')"));
                        }
                        let c = self.pat[p];
                        p += 1;
                        if c == L_ESC && p < self.pat.len() {
                            p += 1;
                        }
                        if self.p(p) == b']' {
                            break;
                        }
                    }
                    Ok(p + 1)
                }
                _ => Ok(p),
            }
        }

        /// `matchbracketclass`: `p` at the `[`, `ec` at the closing `]`.
        fn match_bracket_class(&self, c: u8, mut p: usize, ec: usize) -> bool {
            let mut sig = true;
            if self.p(p + 1) == b'^' {
                sig = false;
                p += 1;
            }
            loop {
                p += 1;
                if p >= ec {
                    return !sig;
                }
                if self.p(p) == L_ESC {
                    p += 1;
                    if match_class(c, self.p(p)) {
                        return sig;
                    }
                } else if self.p(p + 1) == b'-' && p + 2 < ec {
                    p += 2;
                    if self.p(p - 2) <= c && c <= self.p(p) {
                        return sig;
                    }
                } else if self.p(p) == c {
                    return sig;
                }
            }
        }

        fn single_match(&self, s: usize, p: usize, ep: usize) -> bool {
            if s >= self.src.len() {
                return false;
            }
            let c = self.src[s];
            match self.p(p) {
                b'.' => true,
                L_ESC => match_class(c, self.p(p + 1)),
                b'[' => self.match_bracket_class(c, p, ep - 1),
                pc => pc == c,
            }
        }

        fn match_balance(&mut self, s: usize, p: usize) -> Res {
            if p + 1 >= self.pat.len() {
                return Err(err("malformed pattern (missing arguments to '%b')"));
            }
            if self.s(s) != self.p(p) {
                return Ok(None);
            }
            let (b, e) = (self.p(p), self.p(p + 1));
            let mut cont = 1usize;
            let mut s = s + 1;
            while s < self.src.len() {
                self.step()?;
                let c = self.src[s];
                if c == e {
                    cont -= 1;
                    if cont == 0 {
                        return Ok(Some(s + 1));
                    }
                } else if c == b {
                    cont += 1;
                }
                s += 1;
            }
            Ok(None)
        }

        fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Res {
            let mut i = 0usize;
            while self.single_match(s + i, p, ep) {
                self.step()?;
                i += 1;
            }
            loop {
                if let Some(r) = self.do_match(s + i, ep + 1)? {
                    return Ok(Some(r));
                }
                if i == 0 {
                    return Ok(None);
                }
                i -= 1;
            }
        }

        fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> Res {
            loop {
                if let Some(r) = self.do_match(s, ep + 1)? {
                    return Ok(Some(r));
                }
                if self.single_match(s, p, ep) {
                    s += 1;
                } else {
                    return Ok(None);
                }
            }
        }

        fn start_capture(&mut self, s: usize, p: usize, what: isize) -> Res {
            let level = self.level;
            if level >= MAXCAPTURES {
                return Err(err("too many captures"));
            }
            self.capture[level] = (s, what);
            self.level = level + 1;
            let res = self.do_match(s, p)?;
            if res.is_none() {
                self.level -= 1;
            }
            Ok(res)
        }

        fn end_capture(&mut self, s: usize, p: usize) -> Res {
            let l = self.capture_to_close()?;
            self.capture[l].1 = (s - self.capture[l].0) as isize;
            let res = self.do_match(s, p)?;
            if res.is_none() {
                self.capture[l].1 = CAP_UNFINISHED;
            }
            Ok(res)
        }

        fn match_capture(&self, s: usize, l: u8) -> Res {
            let l = self.check_capture(l)?;
            let (init, len) = self.capture[l];
            let Ok(len) = usize::try_from(len) else { return Ok(None) };
            if self.src.len() - s >= len && self.src[init..init + len] == self.src[s..s + len] {
                Ok(Some(s + len))
            } else {
                Ok(None)
            }
        }

        /// `match`: the end of the match of `pat[p..]` at `s`, if any.
        pub(super) fn do_match(&mut self, s: usize, p: usize) -> Res {
            if self.depth == 0 {
                return Err(err("pattern too complex"));
            }
            self.depth -= 1;
            let res = self.match_inner(s, p);
            self.depth += 1;
            res
        }

        fn match_inner(&mut self, mut s: usize, mut p: usize) -> Res {
            loop {
                self.step()?;
                if p == self.pat.len() {
                    return Ok(Some(s));
                }
                match self.pat[p] {
                    b'(' => {
                        return if self.p(p + 1) == b')' {
                            self.start_capture(s, p + 2, CAP_POSITION)
                        } else {
                            self.start_capture(s, p + 1, CAP_UNFINISHED)
                        };
                    }
                    b')' => return self.end_capture(s, p + 1),
                    b'$' if p + 1 == self.pat.len() => return Ok((s == self.src.len()).then_some(s)),
                    L_ESC if self.p(p + 1) == b'b' => match self.match_balance(s, p + 2)? {
                        Some(next) => {
                            s = next;
                            p += 4;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    L_ESC if self.p(p + 1) == b'f' => {
                        p += 2;
                        if self.p(p) != b'[' {
                            return Err(err("missing '[' after '%f' in pattern"));
                        }
                        let ep = self.class_end(p)?;
                        let previous = if s == 0 { 0 } else { self.src[s - 1] };
                        if !self.match_bracket_class(previous, p, ep - 1)
                            && self.match_bracket_class(self.s(s), p, ep - 1)
                        {
                            p = ep;
                            continue;
                        }
                        return Ok(None);
                    }
                    L_ESC if self.p(p + 1).is_ascii_digit() => match self.match_capture(s, self.p(p + 1))? {
                        Some(next) => {
                            s = next;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    _ => {
                        let ep = self.class_end(p)?;
                        let suffix = self.p(ep);
                        if !self.single_match(s, p, ep) {
                            if matches!(suffix, b'*' | b'?' | b'-') {
                                p = ep + 1;
                                continue;
                            }
                            return Ok(None);
                        }
                        match suffix {
                            b'?' => {
                                if let Some(r) = self.do_match(s + 1, ep + 1)? {
                                    return Ok(Some(r));
                                }
                                p = ep + 1;
                            }
                            b'+' => return self.max_expand(s + 1, p, ep),
                            b'*' => return self.max_expand(s, p, ep),
                            b'-' => return self.min_expand(s, p, ep),
                            _ => {
                                s += 1;
                                p = ep;
                            }
                        }
                    }
                }
            }
        }
    }
}

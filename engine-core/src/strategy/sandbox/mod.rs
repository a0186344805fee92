//! The sandboxed Lua 5.4 state every strategy instance runs in.
//!
//! A [`Sandbox`] owns one Lua state with only the safe parts of the standard
//! library (base without loaders, I/O, output and GC control; `string`
//! without `dump`; `table`; `math`; `utf8`), read-only library tables, a
//! protected string metatable and protected built-in globals, text-only
//! chunks named after the strategy file, and per-call limits that Lua code
//! cannot catch or escape: an instruction budget, a memory limit for the
//! state and a wall-clock limit. The rules, the limits and what happens on
//! each violation are described for strategy authors in `docs/lua-api.md`
//! ("Sandbox"); this documents how they are enforced.
//!
//! # Instruction budget
//!
//! Every call (and the chunk run by [`Sandbox::load`]) runs on a coroutine
//! whose body is `trampoline`. A count hook (`count_hook`, a C hook set
//! with `lua_sethook`) fires every [`HOOK_INTERVAL`] VM instructions (more
//! often when the state holds a lot of memory, see below). Once the call's
//! budget is spent or its deadline has passed it raises an error, and raises
//! it again every time it fires until the call is over. `pcall` and `xpcall`
//! in the sandbox re-raise any error they catch while the call is being
//! aborted (and skip `xpcall`'s message handler then, which Lua would run
//! with hooks off), so `while true do pcall(function() while true do end
//! end) end` stops; the trampoline catches the error inside the coroutine and
//! [`Sandbox::call`] reports [`SandboxError::InstructionBudget`] or
//! [`SandboxError::Timeout`] from its own accounting, whatever error object
//! came out.
//!
//! Why an error and not a yield (`VmState::Yield`, which `pcall` cannot
//! catch at all): with mlua 0.11.6 a yield is unsound as soon as a
//! to-be-closed variable is pending (`local x <close>`, or the closing value
//! of a generic `for`). `Thread::resume` truncates the coroutine's stack with
//! `lua_settop` when it returns, and in Lua 5.4 that runs the pending
//! `__close` metamethods outside any protected call: an error there aborts
//! the process (reproduced: SIGABRT). For the same reason mlua's own hook API
//! is not used: a hook callback returning an error makes mlua truncate the
//! running function's stack inside the hook, where hooks are off, so a
//! looping `__close` runs forever (reproduced). The C hook raises a plain
//! error, the trampoline closes pending variables in its protected call
//! (metered), and a coroutine an error went through is replaced (Lua leaves
//! its `allowhook` off when a hook's error escapes it).
//!
//! # Memory
//!
//! mlua's allocator limit ([`Lua::set_memory_limit`]): an allocation past it
//! fails with a Lua memory error, reported as [`SandboxError::Memory`]. The
//! state stays consistent and usable; memory still referenced by the
//! strategy (a global) stays counted until it is dropped.
//!
//! # Wall clock
//!
//! The hook, the GC tick and the pattern matcher compare the (coarse)
//! monotonic clock with the call's deadline. Hooks do not run inside C
//! functions, so every library function whose running time is not bounded
//! by the size of its data is replaced or guarded:
//!
//! * `string.find`, `match`, `gmatch`, `gsub` are C functions written in
//!   Rust (`str_find_aux` and the functions after it) over a port of Lua
//!   5.4's matcher that checks the deadline every few thousand steps (a
//!   backtracking pattern such as `.-.-.-.-.-b` takes exponential time);
//!   same results and error messages as Lua's, plain `find` in linear time.
//! * `string.rep` copies by doubling and refuses results over the memory
//!   limit at once (Lua's copies one repetition at a time, and repeats an
//!   empty string `n` times without allocating).
//! * `table.insert`/`table.remove` with a position and `table.move` run as
//!   Lua code (their C loops run `#t` or `e - f` times, and a `__len` or a
//!   sparse table makes `#t` arbitrarily large); `table.concat`,
//!   `table.unpack` and `table.sort` stay in C only for plain tables, where
//!   each step reads a stored element (not a walk along an `__index` chain
//!   of up to 2000 tables), and `sort` only up to [`SORT_NATIVE_MAX`]
//!   elements or with a Lua comparator.
//! * `setmetatable` refuses `__gc`: finalizers run with hooks off.
//!
//! Every remaining C function and VM instruction does work linear (sort:
//! n log n) in data that fits under the memory limit. Such an instruction
//! can still cost milliseconds on a string of tens of megabytes, so the
//! hook interval shrinks in proportion to the state's memory above
//! `CHEAP_MEMORY` (2 MiB), re-evaluated by the hook and by a GC tick (a
//! finalizer re-armed every collection cycle, which sees memory grow
//! between two hooks). What remains is the length of one such call: at the
//! default 64 MiB, measured (release build) up to 90 ms for
//! `string.format("%q")` of 15 MB and 160 ms for a native sort of 32,768
//! strings sharing a 1 KB prefix; loops of 30 MB concatenations or
//! comparisons stop within 35 ms of a 100 ms deadline. The deadline is
//! enforced with that granularity; a smaller memory limit makes it finer.
//!
//! There is no watchdog thread. A second thread could not interrupt a C call
//! either (Lua offers nothing for that), and it could not arm the hook
//! safely: mlua holds the state's lock for the whole `resume`, and
//! `lua_sethook` from another thread, without that lock, races with the
//! running thread on its hook fields and walks its call-info list while it
//! changes. Reading the clock where the checks happen gives the same
//! precision without a race. A call stuck in C would block only its own
//! thread: every state has its own lock and nothing is shared between
//! sandboxes.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use mlua::{ffi, ChunkMode, FromLuaMulti, Function, IntoLuaMulti, Lua, LuaOptions, StdLib, Table, Thread, Value};
use serde::{Deserialize, Serialize};

/// The count hook fires every this many VM instructions (or every
/// `instructions` if the budget is smaller; more often when the state holds
/// more than 2 MiB). The deadline is checked at least this often, and the
/// budget is counted in blocks of this size (a call runs at most
/// `instructions` instructions, at least `instructions - HOOK_INTERVAL`).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxLimits {
    /// VM instructions one call may execute.
    pub instructions: u64,
    /// Bytes the whole Lua state may allocate.
    pub memory_bytes: usize,
    /// Wall-clock time one call may take (`wall_clock_ms` in a config).
    #[serde(rename = "wall_clock_ms", deserialize_with = "deserialize_millis", serialize_with = "serialize_millis")]
    pub wall_clock: Duration,
}

fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
    #[error("{file}:{line}: {}", syntax_message(message))]
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

/// Lua's own messages mostly start "syntax error near ..." already; the
/// others ("unexpected symbol near ...") get the words.
fn syntax_message(message: &str) -> String {
    if message.starts_with("syntax error") {
        message.to_string()
    } else {
        format!("syntax error: {message}")
    }
}

fn runtime_message(file: &str, line: Option<u32>, message: &str) -> String {
    match line {
        Some(line) => format!("{file}:{line}: {message}"),
        None => format!("{file}: {message}"),
    }
}

/// Monotonic time in nanoseconds. On Linux the coarse clock (about 5 ns a
/// read instead of about 30, resolution one scheduler tick, typically
/// 4 ms): it is read at every call and every hook, and the wall-clock limit
/// is meant in tens or hundreds of milliseconds.
#[cfg(target_os = "linux")]
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC_COARSE exists on
    // every Linux since 2.6.32.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn monotonic_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    u64::try_from(EPOCH.get_or_init(std::time::Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
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
    instructions: u64,
    /// The state's memory limit (`string.rep` refuses larger results).
    memory_bytes: usize,
    max_interval: u32,
    wall_clock_ns: u64,
    active: AtomicBool,
    /// Instructions charged to the running call (an upper bound: the first
    /// hook of a call and a re-arm by the GC tick charge a whole interval).
    used: AtomicU64,
    /// The interval armed on the call coroutine.
    interval: AtomicU32,
    /// The call coroutine.
    coroutine: AtomicPtr<ffi::lua_State>,
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
            instructions: limits.instructions,
            memory_bytes: limits.memory_bytes,
            max_interval,
            wall_clock_ns: u64::try_from(limits.wall_clock.as_nanos()).unwrap_or(u64::MAX),
            active: AtomicBool::new(false),
            used: AtomicU64::new(0),
            interval: AtomicU32::new(max_interval),
            coroutine: AtomicPtr::new(std::ptr::null_mut()),
            deadline_ns: AtomicU64::new(u64::MAX),
            abort: AtomicU8::new(ABORT_NONE),
            error_line: AtomicU32::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        monotonic_ns()
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

    /// Arms the count hook on `state` (the call coroutine).
    ///
    /// # Safety
    /// `state` must be a live thread of the sandbox's Lua state, on the
    /// thread that runs it.
    unsafe fn arm(&self, state: *mut ffi::lua_State, interval: u32) {
        self.interval.store(interval, Relaxed);
        ffi::lua_sethook(state, Some(count_hook), ffi::LUA_MASKCOUNT, interval.min(i32::MAX as u32) as c_int);
    }

    /// The count hook's decision: `true` to abort the call.
    ///
    /// # Safety
    /// Called by [`count_hook`] with the hooked thread.
    unsafe fn on_count(&self, state: *mut ffi::lua_State) -> bool {
        if !self.active.load(Relaxed) {
            return false;
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
                let kbytes = ffi::lua_gc(state, ffi::LUA_GCCOUNT).max(0) as usize;
                let want = self.interval_for(kbytes * 1024, used);
                if want != interval {
                    self.arm(state, want);
                }
                return false;
            }
        }
        // Raised again every time the hook fires until the call is over; the
        // sandbox's pcall/xpcall re-raise it (see the module docs).
        true
    }

    /// Called by the GC sentinel's finalizer once per collection cycle (with
    /// hooks disabled). If the call coroutine is running, checks the
    /// deadline and shrinks the hook interval if memory grew; re-arming
    /// restarts the count, so the interval in progress is charged whole.
    fn gc_tick(&self, lua: &Lua) {
        let coroutine = self.coroutine.load(Relaxed);
        if !self.active.load(Relaxed) || lua.current_thread().to_pointer() != coroutine as *const c_void {
            return;
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
            // SAFETY: `coroutine` is the running thread (checked above).
            unsafe { self.arm(coroutine, want) };
        }
    }
}

/// Registry key (its address) of the light userdata pointing to the state's
/// [`Meter`].
static METER_KEY: u8 = 0;

fn meter_key() -> *const c_void {
    &METER_KEY as *const u8 as *const c_void
}

/// The count hook, installed with `lua_sethook` on the call coroutine.
///
/// mlua's hooks are not used: when a hook callback returns an error, mlua
/// truncates the running Lua function's stack (`lua_settop`) before raising
/// it, which in Lua 5.4 runs pending `__close` metamethods inside the hook,
/// where hooks are off: `local x <close> = ...` with a looping `__close`
/// would run forever. This hook raises its error like any C hook, with the
/// stack untouched.
unsafe extern "C-unwind" fn count_hook(state: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
    ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, meter_key());
    let meter = ffi::lua_touserdata(state, -1) as *const Meter;
    ffi::lua_pop(state, 1);
    if meter.is_null() {
        return;
    }
    // SAFETY: the registry entry points into the `Arc<Meter>` that the Lua
    // state itself keeps alive (captured by the GC tick callback), and
    // `Sandbox::drop` clears it.
    let abort = std::panic::catch_unwind(AssertUnwindSafe(|| (*meter).on_count(state))).unwrap_or(true);
    if abort {
        // Nothing with a destructor is alive in this frame: `lua_error`
        // longjmps out of it.
        ffi::lua_pushstring(state, c"call aborted by the sandbox".as_ptr());
        ffi::lua_error(state);
    }
}

/// The body of the call coroutine, a C closure (upvalue 1: the message
/// handler that records the error line). Called with the function and its
/// arguments, it calls the function in protected mode, so that an error is
/// caught inside the coroutine, where pending to-be-closed variables are
/// closed by the protected call (metered, like any Lua code). mlua must
/// never see an error leave the coroutine with variables still open: it
/// truncates the coroutine's stack after `resume`, which in Lua 5.4 would
/// run their `__close` outside any protected call. The error is then raised
/// again from this frame, where nothing is left to close; an error object
/// that is a table is first turned into a string (its `__tostring` runs
/// here, metered, and in protected mode).
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state) - 1;
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    if ffi::lua_pcall(state, nargs, ffi::LUA_MULTRET, 1) == ffi::LUA_OK {
        return ffi::lua_gettop(state) - 1;
    }
    if ffi::lua_type(state, -1) == ffi::LUA_TTABLE {
        ffi::lua_pushcfunction(state, describe_error);
        ffi::lua_insert(state, -2);
        if ffi::lua_pcall(state, 1, 1, 0) != ffi::LUA_OK || ffi::lua_type(state, -1) != ffi::LUA_TSTRING {
            ffi::lua_pop(state, 1);
            ffi::lua_pushstring(state, c"(error object is a table value)".as_ptr());
        }
    }
    ffi::lua_error(state)
}

/// `tostring` of argument 1 (for [`trampoline`]).
unsafe extern "C-unwind" fn describe_error(state: *mut ffi::lua_State) -> c_int {
    ffi::luaL_tolstring(state, 1, std::ptr::null_mut());
    1
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
    /// The coroutine calls run in: reset between calls, replaced after an
    /// error.
    thread: RefCell<Thread>,
    /// The coroutine has to be replaced (an error went through it) and the
    /// replacement failed for lack of memory: retried before the next call.
    thread_spent: Cell<bool>,
    /// The coroutine's body, see [`trampoline`].
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
        // call back into Rust then; and the hook must not find the meter.
        let _ = self.gc_switch.raw_set("on", false);
        // SAFETY: plain registry write on the main thread.
        let _ = unsafe {
            self.lua.exec_raw::<()>((), |state| {
                ffi::lua_pushnil(state);
                ffi::lua_rawsetp(state, ffi::LUA_REGISTRYINDEX, meter_key());
            })
        };
    }
}

/// Installs the count hook on a new call coroutine and makes it the one the
/// meter follows.
fn hook_coroutine(lua: &Lua, meter: &Meter, thread: &Thread) -> mlua::Result<()> {
    let mut co: *mut ffi::lua_State = std::ptr::null_mut();
    // SAFETY: reads the thread's `lua_State` from the stack; the hook is set
    // from the thread that owns the state, before the coroutine runs.
    unsafe {
        lua.exec_raw::<()>(thread, |state| co = ffi::lua_tothread(state, -1))?;
        if co.is_null() {
            return Err(mlua::Error::runtime("not a thread"));
        }
        meter.arm(co, meter.interval.load(Relaxed));
    }
    meter.coroutine.store(co, Relaxed);
    Ok(())
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
            let (trampoline, gc_switch) = install_prelude(&lua, &meter, &file)?;
            // SAFETY: the pointer stays valid as long as the state: the GC
            // tick callback installed above holds an `Arc` of the meter.
            unsafe {
                let ptr = Arc::as_ptr(&meter) as *mut c_void;
                lua.exec_raw::<()>((), |state| {
                    ffi::lua_pushlightuserdata(state, ptr);
                    ffi::lua_rawsetp(state, ffi::LUA_REGISTRYINDEX, meter_key());
                })?;
            }
            let thread = lua.create_thread(trampoline.clone())?;
            hook_coroutine(&lua, &meter, &thread)?;
            Ok((thread, trampoline, gc_switch))
        })()
        .map_err(|e| setup(root_message(&e)))?;
        Ok(Sandbox {
            lua,
            file,
            limits,
            meter,
            thread: RefCell::new(thread),
            thread_spent: Cell::new(false),
            trampoline,
            gc_switch,
            _not_sync: PhantomData,
        })
    }

    /// The Lua state, for registering the strategy API. Lua code the host
    /// runs directly, not through [`Sandbox::call`], is not metered: that
    /// includes metamethods of values the strategy returns, so read returned
    /// tables with raw accessors (`Table::raw_get`). Host functions that call
    /// back into Lua must pass errors on, not swallow them (an aborted call
    /// raises an error at every hook until it is over).
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
        self.metered(|thread| {
            thread.reset(self.trampoline.clone())?;
            thread.resume::<R>((function, args))
        })
    }

    /// [`Sandbox::call`] for the engine's per-bar entry point: `push` puts
    /// the arguments (numbers and this state's strings) straight onto the
    /// call coroutine, and the first result comes back as a [`Value`]. This
    /// skips mlua's generic conversions of the arguments and results, about
    /// 900 instructions a call (`docs/performance.md`); limits, errors and
    /// their classification are the same as `call`'s.
    pub fn call_pushed(
        &self,
        function: &Function,
        push: impl FnOnce(&mut CallArgs<'_>),
    ) -> Result<Value, SandboxError> {
        self.metered(|thread| {
            // SAFETY: mlua's main state, not inside a call (`metered` refuses
            // re-entry); the coroutine is not running. mlua pushes its
            // references after reserving the slot.
            let outcome = self.lua.exec_raw_lua(|raw| unsafe {
                let main = raw.state();
                let push_string = |s: &mlua::String| ffi::lua_checkstack(main, 1) != 0 && raw.push(s).is_ok();
                if ffi::lua_checkstack(main, 2) == 0 {
                    return Err(raw_call::Failure::Setup("no stack space for a call"));
                }
                let base = ffi::lua_gettop(main);
                if raw.push(&self.trampoline).is_err() || raw.push(function).is_err() {
                    ffi::lua_settop(main, base);
                    return Err(raw_call::Failure::Setup("cannot push the function"));
                }
                raw_call::resume_pushed(main, thread.state(), &push_string, push).map(|()| raw.pop_value())
            });
            outcome.or_else(|failure| self.raise_failure(thread, failure))
        })
    }

    /// Runs `resume` on the call coroutine with a fresh budget and deadline,
    /// and maps what came out (see [`Sandbox::call`]).
    fn metered<T>(&self, resume: impl FnOnce(&Thread) -> mlua::Result<T>) -> Result<T, SandboxError> {
        if self.meter.active.load(Relaxed) {
            return Err(self.runtime(None, "Sandbox::call re-entered while a call is running".to_string()));
        }
        if self.thread_spent.get() {
            self.replace_thread()
                .map_err(|_| SandboxError::Memory { file: self.file.clone(), limit: self.limits.memory_bytes })?;
        }
        self.meter.begin();
        // Ends the call even if `resume` panics: a meter left active would
        // refuse every later call as re-entered.
        struct EndOnDrop<'a>(&'a Meter);
        impl Drop for EndOnDrop<'_> {
            fn drop(&mut self) {
                self.0.end();
            }
        }
        let _end = EndOnDrop(&self.meter);
        let thread = self.thread.borrow();
        let outcome = resume(&thread);
        drop(thread);
        // Nothing in the sandbox can yield (no coroutine library, hooks raise
        // errors), so `Ok` means the trampoline returned. After an error the
        // coroutine is replaced.
        if outcome.is_err() {
            self.thread_spent.set(true);
            let _ = self.replace_thread();
        }
        let abort = self.meter.abort.load(Relaxed);
        let error_line = self.meter.error_line.load(Relaxed);
        match abort {
            ABORT_BUDGET => {
                Err(SandboxError::InstructionBudget { file: self.file.clone(), limit: self.limits.instructions })
            }
            ABORT_TIMEOUT => Err(SandboxError::Timeout { file: self.file.clone(), limit: self.limits.wall_clock }),
            _ => outcome.map_err(|e| self.classify(e, error_line)),
        }
    }

    /// The mlua error of a failed [`raw_call::resume_pushed`], made as
    /// mlua's `Thread::resume` makes it: the error object left on top of the
    /// coroutine's stack, a message with the coroutine's traceback appended,
    /// or the error a Rust callback raised.
    fn raise_failure(&self, thread: &Thread, failure: raw_call::Failure) -> mlua::Result<Value> {
        let status = match failure {
            raw_call::Failure::Setup(message) => return Err(mlua::Error::runtime(message)),
            raw_call::Failure::Status(status) => status,
        };
        let co = thread.state();
        // SAFETY: the coroutine is not running; its top is the error object,
        // moved to the main state inside a protected call (a string
        // conversion and the traceback allocate).
        let error =
            unsafe { self.lua.exec_raw::<Value>((), |state| raw_call::error_with_traceback(state, co, status))? };
        Err(match error {
            Value::Error(error) => *error,
            Value::String(message) if status == ffi::LUA_ERRMEM => {
                mlua::Error::MemoryError(message.to_string_lossy().to_string())
            }
            Value::String(message) => mlua::Error::RuntimeError(message.to_string_lossy().to_string()),
            other => mlua::Error::RuntimeError(format!("error object is a {} value", other.type_name())),
        })
    }

    /// A fresh call coroutine (it inherits the hook).
    fn replace_thread(&self) -> mlua::Result<()> {
        let thread = match self.lua.create_thread(self.trampoline.clone()) {
            Ok(thread) => thread,
            Err(_) => {
                // Garbage from the failed call may still fill the state.
                self.lua.gc_collect()?;
                self.lua.create_thread(self.trampoline.clone())?
            }
        };
        hook_coroutine(&self.lua, &self.meter, &thread)?;
        *self.thread.borrow_mut() = thread;
        self.thread_spent.set(false);
        Ok(())
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

mod prelude;
mod raw_call;
mod strings;

use prelude::install_prelude;
pub use raw_call::CallArgs;
use strings::install_string_functions;

#[cfg(test)]
mod tests {
    use super::strings::posrelat_i;
    use super::*;

    #[test]
    fn chunk_ids_follow_lua() {
        assert_eq!(chunk_id("momentum.lua"), "momentum.lua");
        let long = format!("{}/strategy.lua", "d".repeat(70));
        let shown = chunk_id(&long);
        assert_eq!(shown.len(), 59);
        assert!(shown.starts_with("...") && long.ends_with(&shown[3..]));
        // Lua itself agrees.
        let lua = Lua::new();
        let msg = lua.load("error('x')").set_name(format!("@{long}")).exec().unwrap_err().to_string();
        assert!(msg.contains(&format!("{shown}:1: x")), "{msg}");
    }

    #[test]
    fn positions_are_split_off_messages() {
        assert_eq!(split_position("a.lua", "a.lua:12: boom: x"), (Some(12), "boom: x"));
        assert_eq!(split_position("a.lua", "a.lua: boom"), (None, "a.lua: boom"));
        assert_eq!(split_position("a.lua", "b.lua:3: boom"), (None, "b.lua:3: boom"));
        assert_eq!(split_position("a.lua", "boom"), (None, "boom"));
        assert_eq!(strip_traceback("a.lua:1: x\nstack traceback:\n\t[C]: in ?"), "a.lua:1: x");
        let tb = "stack traceback:\n\t[C]: in function 'error'\n\ta.lua:7: in function 'f'\n\ta.lua:9: in main chunk";
        assert_eq!(traceback_line("a.lua", tb), Some(7));
        assert_eq!(traceback_line("b.lua", tb), None);
    }

    #[test]
    fn the_hook_interval_shrinks_with_memory_and_meets_the_budget_exactly() {
        let meter = Meter::new(&SandboxLimits::default());
        assert_eq!(meter.interval_for(100_000, 0), HOOK_INTERVAL);
        assert_eq!(meter.interval_for(CHEAP_MEMORY, 0), HOOK_INTERVAL);
        assert_eq!(meter.interval_for(2 * CHEAP_MEMORY, 0), 256);
        assert_eq!(meter.interval_for(32 * CHEAP_MEMORY, 0), 16);
        assert_eq!(meter.interval_for(usize::MAX / 2, 0), MIN_INTERVAL);
        assert_eq!(meter.interval_for(100_000, 999_900), 100);
        assert_eq!(meter.interval_for(100_000, 1_000_000), 1);
        let small = Meter::new(&SandboxLimits { instructions: 10, ..SandboxLimits::default() });
        assert_eq!(small.interval_for(0, 0), 10);
    }

    #[test]
    fn start_positions_follow_lua() {
        assert_eq!(posrelat_i(1, 5), 1);
        assert_eq!(posrelat_i(9, 5), 9);
        assert_eq!(posrelat_i(0, 5), 1);
        assert_eq!(posrelat_i(-1, 5), 5);
        assert_eq!(posrelat_i(-5, 5), 1);
        assert_eq!(posrelat_i(-6, 5), 1);
        assert_eq!(posrelat_i(i64::MIN, 5), 1);
    }
}

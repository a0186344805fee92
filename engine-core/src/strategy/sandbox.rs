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
use serde::Deserialize;

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
        if self.meter.active.load(Relaxed) {
            return Err(self.runtime(None, "Sandbox::call re-entered while a call is running".to_string()));
        }
        if self.thread_spent.get() {
            self.replace_thread()
                .map_err(|_| SandboxError::Memory { file: self.file.clone(), limit: self.limits.memory_bytes })?;
        }
        self.meter.begin();
        let thread = self.thread.borrow();
        let outcome = match thread.reset(self.trampoline.clone()) {
            Ok(()) => thread.resume::<R>((function, args)),
            Err(e) => Err(e),
        };
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
        self.meter.end();
        match abort {
            ABORT_BUDGET => {
                Err(SandboxError::InstructionBudget { file: self.file.clone(), limit: self.limits.instructions })
            }
            ABORT_TIMEOUT => Err(SandboxError::Timeout { file: self.file.clone(), limit: self.limits.wall_clock }),
            _ => outcome.map_err(|e| self.classify(e, error_line)),
        }
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
fn install_prelude(lua: &Lua, meter: &Arc<Meter>, file: &str) -> mlua::Result<(Function, Table)> {
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

// ---------------------------------------------------------------------------
// string.find / match / gmatch / gsub / rep as C functions (Rust over the raw
// Lua API), ported from Lua 5.4.8's lstrlib.c: same arguments, results and
// error messages (raised at the caller's line, with lauxlib's argument
// errors), with three differences: the matcher checks the call's deadline
// every few thousand steps, a plain `find` uses a linear-time search, and
// `rep` copies by doubling and refuses results over the memory limit.
//
// Discipline for the raw API: Lua raises errors with longjmp, so no Rust
// value with a destructor may be alive when a Lua API function that can
// raise (argument checks, pushes, calls) runs. These functions hold only
// slices into Lua strings kept on the stack, integers and a `MatchState`
// (no destructor).
// ---------------------------------------------------------------------------

const SPECIALS: &[u8] = b"^$*+?.([%-";

/// `MAXSIZE` of lstrlib.c: string sizes must fit in an `int`.
const MAX_STRING_SIZE: usize = i32::MAX as usize;

/// The meter of the state running `state`, if the sandbox is alive.
unsafe fn state_meter(state: *mut ffi::lua_State) -> *const Meter {
    ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, meter_key());
    let meter = ffi::lua_touserdata(state, -1) as *const Meter;
    ffi::lua_pop(state, 1);
    meter
}

/// Whether the running call is past its deadline (false outside calls).
fn past_deadline(meter: *const Meter) -> bool {
    // SAFETY: see `count_hook`: the pointer is valid while the state lives.
    !meter.is_null() && unsafe { (*meter).deadline_passed() }
}

/// `luaL_checklstring` as a slice, valid while the argument stays on the
/// stack.
unsafe fn check_bytes<'a>(state: *mut ffi::lua_State, arg: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let ptr = ffi::luaL_checklstring(state, arg, &mut len);
    std::slice::from_raw_parts(ptr as *const u8, len)
}

unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr() as *const c_char, bytes.len());
}

fn lua_int(n: usize) -> ffi::lua_Integer {
    ffi::lua_Integer::try_from(n).unwrap_or(ffi::lua_Integer::MAX)
}

/// Raises `msg` with the position of the calling Lua code (`luaL_error`).
unsafe fn raise(state: *mut ffi::lua_State, msg: &'static CStr) -> ! {
    ffi::luaL_where(state, 1);
    ffi::lua_pushstring(state, msg.as_ptr());
    ffi::lua_concat(state, 2);
    ffi::lua_error(state)
}

unsafe fn raise_match(state: *mut ffi::lua_State, err: pattern::MatchError) -> ! {
    match err {
        pattern::MatchError::Pattern(msg) => raise(state, msg),
        pattern::MatchError::InvalidCapture(n) => {
            ffi::luaL_where(state, 1);
            ffi::lua_pushfstring(state, c"invalid capture index %%%d".as_ptr(), n as c_int);
            ffi::lua_concat(state, 2);
            ffi::lua_error(state)
        }
        pattern::MatchError::Timeout => raise(state, c"wall-clock limit exceeded"),
    }
}

/// `posrelatI`: a 1-based start position, negative from the end, clipped to 1.
fn posrelat_i(pos: ffi::lua_Integer, len: usize) -> usize {
    if pos > 0 {
        usize::try_from(pos).unwrap_or(usize::MAX)
    } else if pos == 0 || pos.unsigned_abs() > len as u64 {
        1
    } else {
        len - pos.unsigned_abs() as usize + 1
    }
}

/// `push_onecapture`.
unsafe fn push_capture<F: FnMut() -> bool>(
    state: *mut ffi::lua_State,
    ms: &pattern::MatchState<'_, F>,
    i: usize,
    s: usize,
    e: usize,
) {
    match ms.capture(i, s, e) {
        Ok(pattern::Capture::Position(p)) => ffi::lua_pushinteger(state, lua_int(p + 1)),
        Ok(pattern::Capture::Span(a, b)) => push_bytes(state, &ms.src[a..b]),
        Err(err) => raise_match(state, err),
    }
}

/// `push_captures`: the captures, or the whole match `s..e` if there are
/// none and `whole` is set. Returns how many values it pushed.
unsafe fn push_captures<F: FnMut() -> bool>(
    state: *mut ffi::lua_State,
    ms: &pattern::MatchState<'_, F>,
    whole: Option<(usize, usize)>,
) -> c_int {
    let (s, e) = whole.unwrap_or((0, 0));
    let n = if ms.level == 0 && whole.is_some() { 1 } else { ms.level };
    ffi::luaL_checkstack(state, n as c_int, c"too many captures".as_ptr());
    for i in 0..n {
        push_capture(state, ms, i, s, e);
    }
    n as c_int
}

/// `str_find_aux`: `string.find` (`find`) and `string.match`.
unsafe fn str_find_aux(state: *mut ffi::lua_State, find: bool) -> c_int {
    let s = check_bytes(state, 1);
    let p = check_bytes(state, 2);
    let init = posrelat_i(ffi::luaL_optinteger(state, 3, 1), s.len()) - 1;
    if init > s.len() {
        ffi::lua_pushnil(state);
        return 1;
    }
    if find && (ffi::lua_toboolean(state, 4) != 0 || !p.iter().any(|c| SPECIALS.contains(c))) {
        // Plain search in linear time (lstrlib's lmemfind is quadratic in
        // the worst case).
        if let Some(at) = memchr::memmem::find(&s[init..], p) {
            ffi::lua_pushinteger(state, lua_int(init + at + 1));
            ffi::lua_pushinteger(state, lua_int(init + at + p.len()));
            return 2;
        }
        ffi::lua_pushnil(state);
        return 1;
    }
    let meter = state_meter(state);
    let (anchor, p) = match p.first() {
        Some(b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    let mut ms = pattern::MatchState::new(s, p, || past_deadline(meter));
    let mut s1 = init;
    loop {
        ms.level = 0;
        match ms.do_match(s1, 0) {
            Ok(Some(e)) => {
                if find {
                    ffi::lua_pushinteger(state, lua_int(s1 + 1));
                    ffi::lua_pushinteger(state, lua_int(e));
                    return push_captures(state, &ms, None) + 2;
                }
                return push_captures(state, &ms, Some((s1, e)));
            }
            Ok(None) => {}
            Err(err) => raise_match(state, err),
        }
        if anchor || s1 >= s.len() {
            break;
        }
        s1 += 1;
    }
    ffi::lua_pushnil(state);
    1
}

unsafe extern "C-unwind" fn str_find(state: *mut ffi::lua_State) -> c_int {
    str_find_aux(state, true)
}

unsafe extern "C-unwind" fn str_match(state: *mut ffi::lua_State) -> c_int {
    str_find_aux(state, false)
}

/// State of a `gmatch` iterator (a full userdata, upvalue 3).
#[repr(C)]
struct GMatchState {
    src: usize,
    /// End of the last match, `usize::MAX` for none.
    last_match: usize,
}

unsafe extern "C-unwind" fn str_gmatch(state: *mut ffi::lua_State) -> c_int {
    let s = check_bytes(state, 1);
    check_bytes(state, 2);
    let init = posrelat_i(ffi::luaL_optinteger(state, 3, 1), s.len()) - 1;
    // The subject and the pattern stay alive as the closure's upvalues.
    ffi::lua_settop(state, 2);
    let gm = ffi::lua_newuserdatauv(state, std::mem::size_of::<GMatchState>(), 0) as *mut GMatchState;
    gm.write(GMatchState { src: init.min(s.len() + 1), last_match: usize::MAX });
    ffi::lua_pushcclosure(state, gmatch_aux, 3);
    1
}

unsafe extern "C-unwind" fn gmatch_aux(state: *mut ffi::lua_State) -> c_int {
    let mut len = 0usize;
    let ptr = ffi::lua_tolstring(state, ffi::lua_upvalueindex(1), &mut len);
    let s = std::slice::from_raw_parts(ptr as *const u8, len);
    let ptr = ffi::lua_tolstring(state, ffi::lua_upvalueindex(2), &mut len);
    let p = std::slice::from_raw_parts(ptr as *const u8, len);
    let gm = ffi::lua_touserdata(state, ffi::lua_upvalueindex(3)) as *mut GMatchState;
    let meter = state_meter(state);
    let mut ms = pattern::MatchState::new(s, p, || past_deadline(meter));
    let mut src = (*gm).src;
    while src <= s.len() {
        ms.level = 0;
        match ms.do_match(src, 0) {
            Ok(Some(e)) if e != (*gm).last_match => {
                (*gm).src = e;
                (*gm).last_match = e;
                return push_captures(state, &ms, Some((src, e)));
            }
            Ok(_) => {}
            Err(err) => raise_match(state, err),
        }
        src += 1;
    }
    0
}

/// `add_s`: appends the replacement string (argument 3) for the match `s..e`.
unsafe fn add_s<F: FnMut() -> bool>(
    state: *mut ffi::lua_State,
    ms: &pattern::MatchState<'_, F>,
    b: *mut ffi::luaL_Buffer,
    s: usize,
    e: usize,
) {
    let mut len = 0usize;
    let ptr = ffi::lua_tolstring(state, 3, &mut len);
    let news = std::slice::from_raw_parts(ptr as *const u8, len);
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'%', &news[i..]) {
        ffi::luaL_addlstring(b, news[i..].as_ptr() as *const c_char, off);
        let p = i + off + 1;
        match news.get(p).copied().unwrap_or(0) {
            b'%' => ffi::luaL_addchar(b, b'%' as c_char),
            b'0' => ffi::luaL_addlstring(b, ms.src[s..].as_ptr() as *const c_char, e - s),
            d @ b'1'..=b'9' => match ms.capture(usize::from(d - b'1'), s, e) {
                Ok(pattern::Capture::Position(pos)) => {
                    ffi::lua_pushinteger(state, lua_int(pos + 1));
                    ffi::luaL_addvalue(b);
                }
                Ok(pattern::Capture::Span(a, z)) => {
                    ffi::luaL_addlstring(b, ms.src[a..].as_ptr() as *const c_char, z - a)
                }
                Err(err) => raise_match(state, err),
            },
            _ => raise(state, c"invalid use of '%' in replacement string"),
        }
        i = p + 1;
    }
    ffi::luaL_addlstring(b, news[i..].as_ptr() as *const c_char, news.len() - i);
}

/// `add_value`: appends the replacement for the match `s..e`; whether the
/// subject changed.
unsafe fn add_value<F: FnMut() -> bool>(
    state: *mut ffi::lua_State,
    ms: &pattern::MatchState<'_, F>,
    b: *mut ffi::luaL_Buffer,
    s: usize,
    e: usize,
    tr: c_int,
) -> bool {
    match tr {
        ffi::LUA_TFUNCTION => {
            ffi::lua_pushvalue(state, 3);
            let n = push_captures(state, ms, Some((s, e)));
            ffi::lua_call(state, n, 1);
        }
        ffi::LUA_TTABLE => {
            push_capture(state, ms, 0, s, e);
            ffi::lua_gettable(state, 3);
        }
        _ => {
            add_s(state, ms, b, s, e);
            return true;
        }
    }
    if ffi::lua_toboolean(state, -1) == 0 {
        ffi::lua_pop(state, 1);
        ffi::luaL_addlstring(b, ms.src[s..].as_ptr() as *const c_char, e - s);
        false
    } else if ffi::lua_isstring(state, -1) == 0 {
        ffi::luaL_where(state, 1);
        ffi::lua_pushfstring(state, c"invalid replacement value (a %s)".as_ptr(), ffi::luaL_typename(state, -2));
        ffi::lua_concat(state, 2);
        ffi::lua_error(state)
    } else {
        ffi::luaL_addvalue(b);
        true
    }
}

unsafe extern "C-unwind" fn str_gsub(state: *mut ffi::lua_State) -> c_int {
    let src = check_bytes(state, 1);
    let p = check_bytes(state, 2);
    let tr = ffi::lua_type(state, 3);
    let max_s = ffi::luaL_optinteger(state, 4, lua_int(src.len()).saturating_add(1));
    if !matches!(tr, ffi::LUA_TNUMBER | ffi::LUA_TSTRING | ffi::LUA_TFUNCTION | ffi::LUA_TTABLE) {
        // luaL_typeerror(L, 3, "string/function/table")
        let got = if tr == ffi::LUA_TLIGHTUSERDATA { c"light userdata".as_ptr() } else { ffi::luaL_typename(state, 3) };
        let msg = ffi::lua_pushfstring(state, c"string/function/table expected, got %s".as_ptr(), got);
        ffi::luaL_argerror(state, 3, msg);
    }
    let mut buffer = std::mem::MaybeUninit::<ffi::luaL_Buffer>::uninit();
    let b = buffer.as_mut_ptr();
    ffi::luaL_buffinit(state, b);
    let (anchor, p) = match p.first() {
        Some(b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    let meter = state_meter(state);
    let mut ms = pattern::MatchState::new(src, p, || past_deadline(meter));
    let (mut s, mut last_match, mut n, mut changed) = (0usize, usize::MAX, 0 as ffi::lua_Integer, false);
    while n < max_s {
        ms.level = 0;
        match ms.do_match(s, 0) {
            Ok(Some(e)) if e != last_match => {
                n += 1;
                changed |= add_value(state, &ms, b, s, e, tr);
                s = e;
                last_match = e;
            }
            Ok(_) if s < src.len() => {
                ffi::luaL_addchar(b, src[s] as c_char);
                s += 1;
            }
            Ok(_) => break,
            Err(err) => raise_match(state, err),
        }
        if anchor {
            break;
        }
    }
    if changed {
        ffi::luaL_addlstring(b, src[s..].as_ptr() as *const c_char, src.len() - s);
        ffi::luaL_pushresult(b);
    } else {
        ffi::lua_pushvalue(state, 1);
    }
    ffi::lua_pushinteger(state, n);
    2
}

/// `string.rep`. lstrlib copies one repetition at a time (slow for short
/// strings repeated to tens of megabytes, and looping `n` times without
/// allocating for an empty string); this copies by doubling. A result over
/// the memory limit is refused at once as a memory error.
unsafe extern "C-unwind" fn str_rep(state: *mut ffi::lua_State) -> c_int {
    let s = check_bytes(state, 1);
    let n = ffi::luaL_checkinteger(state, 2);
    let sep: &[u8] = if ffi::lua_type(state, 3) <= 0 { b"" } else { check_bytes(state, 3) };
    let Ok(n) = usize::try_from(n) else {
        ffi::lua_pushstring(state, c"".as_ptr());
        return 1;
    };
    if n == 0 {
        ffi::lua_pushstring(state, c"".as_ptr());
        return 1;
    }
    let total = (s.len() as u128) * (n as u128) + (sep.len() as u128) * (n as u128 - 1);
    let meter = state_meter(state);
    if !meter.is_null() && total > (*meter).memory_bytes as u128 {
        // What lauxlib raises when an allocation fails.
        ffi::lua_pushstring(state, c"not enough memory".as_ptr());
        ffi::lua_error(state);
    }
    if total > MAX_STRING_SIZE as u128 {
        raise(state, c"resulting string too large");
    }
    let total = total as usize;
    let mut buffer = std::mem::MaybeUninit::<ffi::luaL_Buffer>::uninit();
    let b = buffer.as_mut_ptr();
    let out = ffi::luaL_buffinitsize(state, b, total) as *mut u8;
    // One unit (s, then sep if more follow), doubled up to n - 1 units, then
    // the last s.
    let unit = s.len() + sep.len();
    let body = unit * (n - 1);
    if body > 0 {
        std::ptr::copy_nonoverlapping(s.as_ptr(), out, s.len());
        std::ptr::copy_nonoverlapping(sep.as_ptr(), out.add(s.len()), sep.len());
        let mut done = unit;
        while done < body {
            let chunk = done.min(body - done);
            std::ptr::copy_nonoverlapping(out, out.add(done), chunk);
            done += chunk;
        }
    }
    std::ptr::copy_nonoverlapping(s.as_ptr(), out.add(body), s.len());
    ffi::luaL_pushresultsize(b, total);
    1
}

/// Replaces the pattern functions and `rep` of the real string table.
fn install_string_functions(lua: &Lua) -> mlua::Result<()> {
    let string: Table = lua.globals().get("string")?;
    let functions: [(&str, ffi::lua_CFunction); 5] =
        [("find", str_find), ("match", str_match), ("gmatch", str_gmatch), ("gsub", str_gsub), ("rep", str_rep)];
    for (name, func) in functions {
        // SAFETY: the functions follow the Lua C API conventions above.
        string.raw_set(name, unsafe { lua.create_c_function(func)? })?;
    }
    Ok(())
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

    use std::ffi::CStr;

    pub(super) enum MatchError {
        /// A malformed pattern, with lstrlib's message.
        Pattern(&'static CStr),
        /// "invalid capture index %N".
        InvalidCapture(i32),
        /// The call's deadline passed.
        Timeout,
    }

    fn err(msg: &'static CStr) -> MatchError {
        MatchError::Pattern(msg)
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
                    return Err(MatchError::InvalidCapture(i32::try_from(i + 1).unwrap_or(i32::MAX)));
                }
                return Ok(Capture::Span(s, e));
            }
            let (init, len) = self.capture[i];
            match len {
                CAP_UNFINISHED => Err(err(c"unfinished capture")),
                CAP_POSITION => Ok(Capture::Position(init)),
                len => Ok(Capture::Span(init, init + len as usize)),
            }
        }

        fn check_capture(&self, l: u8) -> Result<usize, MatchError> {
            let l = i32::from(l) - i32::from(b'1');
            if l < 0 || l as usize >= self.level || self.capture[l as usize].1 == CAP_UNFINISHED {
                return Err(MatchError::InvalidCapture(l + 1));
            }
            Ok(l as usize)
        }

        fn capture_to_close(&self) -> Result<usize, MatchError> {
            (0..self.level)
                .rev()
                .find(|&l| self.capture[l].1 == CAP_UNFINISHED)
                .ok_or_else(|| err(c"invalid pattern capture"))
        }

        fn class_end(&self, mut p: usize) -> Result<usize, MatchError> {
            let c = self.p(p);
            p += 1;
            match c {
                L_ESC => {
                    if p >= self.pat.len() {
                        return Err(err(c"malformed pattern (ends with '%')"));
                    }
                    Ok(p + 1)
                }
                b'[' => {
                    if self.p(p) == b'^' {
                        p += 1;
                    }
                    loop {
                        if p >= self.pat.len() {
                            return Err(err(c"malformed pattern (missing ']')"));
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
                return Err(err(c"malformed pattern (missing arguments to '%b')"));
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
                return Err(err(c"too many captures"));
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
                return Err(err(c"pattern too complex"));
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
                            return Err(err(c"missing '[' after '%f' in pattern"));
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

#[cfg(test)]
mod tests {
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

//! The per-bar call of [`super::Sandbox::call_pushed`]: the call coroutine
//! driven with the raw Lua API, arguments pushed straight onto it.
//!
//! `Thread::resume` converts every argument and result through mlua's
//! generic traits, with a stack check and a guard for each, about 900
//! instructions per call of the engine's dispatch (ten numbers in, one value
//! out). Here the numbers go onto the coroutine with `lua_push*`, and only
//! what needs mlua's references (the functions, a string, the result) goes
//! through mlua.

use std::os::raw::c_int;

use mlua::ffi;

/// Most arguments one pushed call takes: reserved on the coroutine once.
const MAX_ARGS: c_int = 24;

/// Why a pushed call failed.
pub(super) enum Failure {
    /// Nothing ran: the call could not be set up (no stack space, too many
    /// arguments, a reference mlua could not push).
    Setup(&'static str),
    /// `lua_resume` returned this status; the error object is on top of the
    /// coroutine's stack.
    Status(c_int),
}

/// The arguments of a [`super::Sandbox::call_pushed`], pushed in order.
pub struct CallArgs<'a> {
    co: *mut ffi::lua_State,
    main: *mut ffi::lua_State,
    pushed: c_int,
    failed: Option<&'static str>,
    /// Pushes a string of this state onto the main state (mlua holds it by
    /// reference).
    push_string: &'a dyn Fn(&mlua::String) -> bool,
}

impl CallArgs<'_> {
    fn room(&mut self) -> bool {
        if self.pushed >= MAX_ARGS {
            self.failed.get_or_insert("too many arguments for a pushed call");
        }
        self.failed.is_none()
    }

    pub fn integer(&mut self, n: i64) {
        if self.room() {
            // SAFETY: `resume_pushed` reserved `MAX_ARGS` slots on `co`.
            unsafe { ffi::lua_pushinteger(self.co, n) };
            self.pushed += 1;
        }
    }

    pub fn number(&mut self, x: f64) {
        if self.room() {
            // SAFETY: as in `integer`.
            unsafe { ffi::lua_pushnumber(self.co, x) };
            self.pushed += 1;
        }
    }

    pub fn nil(&mut self) {
        if self.room() {
            // SAFETY: as in `integer`.
            unsafe { ffi::lua_pushnil(self.co) };
            self.pushed += 1;
        }
    }

    /// `x`, or nil.
    pub fn option_number(&mut self, x: Option<f64>) {
        match x {
            Some(x) => self.number(x),
            None => self.nil(),
        }
    }

    /// A string of the sandbox's own state (one made at load, say), or nil.
    pub fn option_string(&mut self, s: Option<&mlua::String>) {
        let Some(s) = s else { return self.nil() };
        if self.room() {
            if (self.push_string)(s) {
                // SAFETY: the string is on top of the main state; `co` has room.
                unsafe { ffi::lua_xmove(self.main, self.co, 1) };
                self.pushed += 1;
            } else {
                self.failed = Some("cannot push a string argument");
            }
        }
    }
}

/// Resumes the call coroutine `co` with the trampoline and the function
/// (the two values on top of `main`, which this pops) and the arguments
/// `push` gives. On success the first result (or nil) is left on top of
/// `main` and `co` is left empty, ready for the next call; on failure `main`
/// is as it was before the two functions were pushed.
///
/// # Safety
///
/// `main` is the state's running thread (mlua's main state, not inside a
/// call), with the two functions on top; `co` is a coroutine of the same
/// state that is not running. Nothing here raises a Lua error outside
/// `lua_resume` (the stack is reserved first; pushes of numbers and nil do
/// not allocate), so this may run unprotected.
pub(super) unsafe fn resume_pushed(
    main: *mut ffi::lua_State,
    co: *mut ffi::lua_State,
    push_string: &dyn Fn(&mlua::String) -> bool,
    push: impl FnOnce(&mut CallArgs<'_>),
) -> Result<(), Failure> {
    let base = ffi::lua_gettop(main) - 2;
    let setup = |reason| {
        ffi::lua_settop(main, base);
        Err(Failure::Setup(reason))
    };
    // A coroutine that finished its last call, or a new one holding its
    // body: either starts afresh from an empty stack (nothing to close).
    if ffi::lua_status(co) != ffi::LUA_OK {
        return setup("the call coroutine is not resumable");
    }
    ffi::lua_settop(co, 0);
    if ffi::lua_checkstack(co, MAX_ARGS + 2) == 0 || ffi::lua_checkstack(main, 2) == 0 {
        return setup("no stack space for a call");
    }
    ffi::lua_xmove(main, co, 2);
    let mut args = CallArgs { co, main, pushed: 0, failed: None, push_string };
    push(&mut args);
    if let Some(reason) = args.failed {
        ffi::lua_settop(co, 0);
        return setup(reason);
    }
    let mut results: c_int = 0;
    // The function is the trampoline's first argument.
    let status = ffi::lua_resume(co, main, args.pushed + 1, &mut results);
    if status != ffi::LUA_OK {
        // A yield cannot happen (no coroutine library; hooks raise errors),
        // but would leave the coroutine suspended: treated as an error.
        return Err(Failure::Status(if status == ffi::LUA_YIELD { ffi::LUA_ERRRUN } else { status }));
    }
    if results == 0 {
        ffi::lua_pushnil(main);
    } else {
        // Keep the first result only; the body has returned, so nothing is
        // left to close below it.
        ffi::lua_settop(co, ffi::lua_gettop(co) - results + 1);
        ffi::lua_xmove(co, main, 1);
    }
    ffi::lua_settop(co, 0);
    Ok(())
}

/// Moves the error object of a failed resume from `co` onto `state` and, as
/// mlua's `Thread::resume` does, turns any error that is not a Rust
/// callback's (a userdata) into its message followed by the coroutine's
/// traceback (not for memory errors). Leaves exactly one value on `state`.
///
/// # Safety
///
/// Runs inside a protected call on `state` (`Lua::exec_raw`): the string
/// conversion and the traceback allocate.
pub(super) unsafe fn error_with_traceback(state: *mut ffi::lua_State, co: *mut ffi::lua_State, status: c_int) {
    if ffi::lua_gettop(co) == 0 {
        ffi::lua_pushstring(state, c"call failed without an error object".as_ptr());
        return;
    }
    ffi::lua_xmove(co, state, 1);
    if status == ffi::LUA_ERRMEM || ffi::lua_type(state, -1) == ffi::LUA_TUSERDATA {
        return;
    }
    let message = ffi::luaL_tolstring(state, -1, std::ptr::null_mut());
    if ffi::lua_checkstack(state, ffi::LUA_TRACEBACK_STACK) != 0 {
        ffi::luaL_traceback(state, co, message, 0);
        ffi::lua_replace(state, -3);
        ffi::lua_pop(state, 1);
    } else {
        ffi::lua_replace(state, -2);
    }
}

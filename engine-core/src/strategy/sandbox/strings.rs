//! `string.find`, `match`, `gmatch`, `gsub` and `rep` as C functions
//! ported from Lua 5.4.8, with the call's deadline checked as they run.

use super::*;

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
pub(super) fn posrelat_i(pos: ffi::lua_Integer, len: usize) -> usize {
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
pub(super) fn install_string_functions(lua: &Lua) -> mlua::Result<()> {
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

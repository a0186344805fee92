//! The Lua sandbox: the cost of one `Sandbox::call` of a trivial strategy
//! function against a plain mlua `Function::call` on an unrestricted state
//! (the difference is the per-call overhead: coroutine reset and resume,
//! trampoline, limits), and the instruction-hook overhead on a Lua loop.

use criterion::{criterion_group, criterion_main, Criterion};
use engine_core::strategy::sandbox::{Sandbox, SandboxLimits};
use mlua::{Function, Lua};

const SOURCE: &str = r#"
function add(a, b) return a + b end
function loop(n) local x = 0 for i = 1, n do x = x + i % 7 end return x end
"#;

fn call_overhead(c: &mut Criterion) {
    let sandbox = Sandbox::new("bench.lua", SandboxLimits::default()).unwrap();
    sandbox.load(SOURCE).unwrap();
    let add = sandbox.global_function("add").unwrap();

    let lua = Lua::new();
    lua.load(SOURCE).exec().unwrap();
    let raw_add: Function = lua.globals().get("add").unwrap();

    let mut group = c.benchmark_group("lua_call_trivial");
    group.bench_function("sandbox_call", |b| b.iter(|| sandbox.call::<i64>(&add, (1, 2)).unwrap()));
    group.bench_function("mlua_function_call", |b| b.iter(|| raw_add.call::<i64>((1, 2)).unwrap()));
    group.finish();
}

fn hook_overhead(c: &mut Criterion) {
    let limits = SandboxLimits { instructions: u64::MAX / 2, ..SandboxLimits::default() };
    let sandbox = Sandbox::new("bench.lua", limits).unwrap();
    sandbox.load(SOURCE).unwrap();
    let lp = sandbox.global_function("loop").unwrap();

    let lua = Lua::new();
    lua.load(SOURCE).exec().unwrap();
    let raw_loop: Function = lua.globals().get("loop").unwrap();

    // About 4 VM instructions per iteration.
    let mut group = c.benchmark_group("lua_loop_10000_iterations");
    group.bench_function("sandbox_call", |b| b.iter(|| sandbox.call::<i64>(&lp, 10_000).unwrap()));
    group.bench_function("mlua_function_call", |b| b.iter(|| raw_loop.call::<i64>(10_000).unwrap()));
    group.finish();
}

criterion_group!(benches, call_overhead, hook_overhead);
criterion_main!(benches);

//! Lua strategies: the sandboxed Lua host each strategy instance runs in (`docs/lua-api.md`).

pub mod sandbox;

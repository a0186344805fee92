//! [`LuaStrategy`]: a Lua file behind the [`Strategy`] trait. One sandboxed
//! state per instance; a reload compiles the new source in a fresh state
//! and swaps it in only on success, carrying `ctx` (as plain data) and the
//! market window over.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlua::{Function, Table, Value};
use parking_lot::Mutex;

use super::action::{parse_commitment, parse_management, parse_setup, ActionKeys, Commitment, Management, Setup};
use super::ctx::{still_holds, CtxError, CtxValue};
use super::interface::PositionView;
use super::interface::{Strategy, StrategyError, StrategyInput, StrategyVersion};
use super::lua_api::{self, ApiTables, HostData, PositionFields, SharedHost};
use super::reload::FileWatcher;
use super::sandbox::{CallArgs, Sandbox, SandboxError, SandboxLimits};
use crate::market_data::{Bar, MarketDataWindow};

/// The callbacks every strategy must define.
pub const REQUIRED_FUNCTIONS: [&str; 3] = ["detect_opportunity", "filter_commitment", "manage_position"];

/// Why a strategy cannot be loaded (or reloaded).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {message}")]
    Read { path: String, message: String },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("{file}: {function} is not defined (a strategy defines {})", REQUIRED_FUNCTIONS.join(", "))]
    MissingFunction { file: String, function: &'static str },
    #[error("{file}: {source}")]
    Ctx {
        file: String,
        #[source]
        source: CtxError,
    },
    #[error("{file}: setting up the strategy API: {message}")]
    Api { file: String, message: String },
}

/// Makes the per-bar entry point: it sets the bar's fields in `md`, drops
/// a stale setup, writes `position` when it changed, then calls callback
/// `index`, in one call into Lua per bar (the tables and callbacks are
/// upvalues, only numbers cross per bar).
const DISPATCH: &str = r#"
local callbacks, md, ctx, ind, position, symbol = ...
return function(index, time, open, high, low, close, volume, bid, ask,
                side, quantity, entry_price, stop, target, unrealized_pnl, bars_held)
  md.symbol, md.time, md.open, md.high, md.low, md.close = symbol, time, open, high, low, close
  md.volume, md.bid, md.ask = volume, bid, ask
  if index == 1 then ctx.setup = nil end
  -- The host passes the position only when it changed (quantity is never
  -- nil then), so that a bar in Watch pushes no more than the bar.
  if quantity ~= nil then
    position.side, position.quantity, position.entry_price, position.stop = side, quantity, entry_price, stop
    position.target, position.unrealized_pnl, position.bars_held = target, unrealized_pnl, bars_held
  end
  return callbacks[index](md, ctx, ind)
end
"#;

/// One loaded generation of the source.
struct Loaded {
    sandbox: Sandbox,
    host: SharedHost,
    tables: ApiTables,
    ctx: Table,
    dispatch: Function,
    /// The position last written to the `position` table.
    position: Option<PositionView>,
    /// Action field names, and `"setup"`, as this state's strings.
    keys: ActionKeys,
    setup_key: mlua::String,
}

/// A Lua strategy for one symbol.
pub struct LuaStrategy {
    path: PathBuf,
    file: String,
    symbol: String,
    params: CtxValue,
    limits: SandboxLimits,
    loaded: Loaded,
    version: StrategyVersion,
    watcher: Option<FileWatcher>,
    /// `ctx` as last copied out for the event log, shared with the records
    /// that carry it until the strategy changes it.
    ctx_copy: Option<Arc<CtxValue>>,
    /// What made the last copy of `ctx` leave something out (warned once).
    ctx_refused: Option<String>,
    /// Hash of the last source a reload refused: the same text is not
    /// compiled and reported again until it changes.
    refused: Option<Arc<str>>,
}

impl LuaStrategy {
    /// Loads the strategy at `path` for `symbol`, with `params` (a plain
    /// table) and the sandbox `limits`; `window` bars are kept for
    /// `md.history` and indicator warm-up.
    pub fn load(
        path: &Path,
        symbol: &str,
        params: CtxValue,
        limits: SandboxLimits,
        window: usize,
    ) -> Result<LuaStrategy, LoadError> {
        let source = std::fs::read(path)
            .map_err(|e| LoadError::Read { path: path.display().to_string(), message: e.to_string() })?;
        let file = path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned());
        let loaded = build(&file, &source, symbol, &params, &limits, None, MarketDataWindow::new(window.max(1)))?;
        Ok(LuaStrategy {
            path: path.to_path_buf(),
            file,
            symbol: symbol.to_string(),
            params,
            limits,
            loaded,
            version: StrategyVersion::of(&source, 1),
            watcher: None,
            ctx_copy: None,
            ctx_refused: None,
            refused: None,
        })
    }

    /// Watches the file from now on: [`Strategy::poll_reload`] reloads it
    /// once an edit has been quiet for `debounce`.
    pub fn watch(&mut self, debounce: Duration) -> notify::Result<()> {
        self.watcher = Some(FileWatcher::new(&self.path, debounce)?);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Compiles `source` in a fresh state and swaps it in on success,
    /// keeping `ctx` and the market window; on failure nothing changes.
    pub fn reload_from(&mut self, source: &[u8]) -> Result<StrategyVersion, LoadError> {
        let ctx = self.ctx()?;
        let window = self.host_window();
        let loaded = build(&self.file, source, &self.symbol, &self.params, &self.limits, Some(ctx), window)?;
        self.loaded = loaded;
        self.version = StrategyVersion::of(source, self.version.generation + 1);
        Ok(self.version.clone())
    }

    /// Re-reads the file and reloads it if its content changed; `None`
    /// when it is the running version or the text last refused.
    pub fn reload(&mut self) -> Option<Result<StrategyVersion, LoadError>> {
        let source = match std::fs::read(&self.path) {
            Ok(s) => s,
            Err(e) => {
                return Some(Err(LoadError::Read { path: self.path.display().to_string(), message: e.to_string() }))
            }
        };
        let hash = StrategyVersion::of(&source, 0).hash;
        if hash == self.version.hash {
            // Back to the running text: a later return of the refused one
            // is an edit again.
            self.refused = None;
            return None;
        }
        if self.refused.as_ref() == Some(&hash) {
            return None;
        }
        let reloaded = self.reload_from(&source);
        self.refused = reloaded.is_err().then_some(hash);
        Some(reloaded)
    }

    /// `ctx` as plain data.
    pub fn ctx(&self) -> Result<CtxValue, LoadError> {
        CtxValue::from_lua_table(self.loaded.sandbox.lua(), &self.loaded.ctx, "ctx")
            .map_err(|source| LoadError::Ctx { file: self.file.clone(), source })
    }

    /// What `ctx` holds that is plain data, when it also holds something
    /// else (a function, say): the record keeps the rest, and a warning
    /// names what was left out, once for each new problem.
    fn plain_part_of_ctx(&mut self) -> Option<CtxValue> {
        let (copy, problem) = match CtxValue::from_lua_table_lenient(&self.loaded.ctx, "ctx") {
            Ok((copy, dropped)) => {
                let more = match dropped.len() {
                    0 | 1 => String::new(),
                    n => format!(" (and {} more entries)", n - 1),
                };
                (Some(copy), dropped.first().map(|e| format!("{e}{more}")))
            }
            Err(e) => (None, Some(e.to_string())),
        };
        if problem.is_some() && problem != self.ctx_refused {
            tracing::warn!(
                symbol = self.symbol,
                "{}: {}; the event log records ctx without it, and a reload is refused until it is gone",
                self.file,
                problem.as_deref().unwrap_or_default()
            );
        }
        self.ctx_refused = problem;
        copy
    }

    /// Log lines the strategy wrote, by level (debug, info, warn, error).
    pub fn logged(&self) -> [u64; 4] {
        self.loaded.host.lock().logged
    }

    fn host_window(&self) -> MarketDataWindow {
        self.loaded.host.lock().window.clone()
    }

    /// Calls callback `index` of [`REQUIRED_FUNCTIONS`] with `(md, ctx, ind)`.
    fn invoke(&mut self, index: usize, input: StrategyInput<'_>) -> Result<Value, StrategyError> {
        let loaded = &mut self.loaded;
        {
            let mut host = loaded.host.lock();
            host.observe(input.market.bar);
            std::mem::swap(&mut host.indicators, input.indicators);
            host.regime = input.regime.cloned();
        }
        // The position table changes only with the position: written in
        // the same call as the bar, on the bars where it changed.
        let result = if loaded.position.as_ref() != Some(input.position) {
            loaded.position = Some(input.position.clone());
            dispatch(loaded, index, input.market.bar, Some(loaded.tables.position.fields(input.position)))
        } else {
            dispatch(loaded, index, input.market.bar, None)
        };
        std::mem::swap(&mut loaded.host.lock().indicators, input.indicators);
        result
    }

    fn bad_action(&self, source: super::action::ActionError) -> StrategyError {
        StrategyError::BadAction { file: self.file.clone(), source }
    }
}

/// Runs callback `index` (0: `detect_opportunity`, which starts without a
/// setup) through the dispatch on `bar`, with the position's fields when
/// they changed (`PositionTable::fields`).
fn dispatch(
    loaded: &Loaded,
    index: usize,
    bar: &Bar,
    position: Option<PositionFields<'_>>,
) -> Result<Value, StrategyError> {
    let push = |args: &mut CallArgs<'_>| {
        args.integer(index as i64 + 1);
        args.integer(bar.open_time);
        for x in [bar.open, bar.high, bar.low, bar.close, bar.volume] {
            args.number(x);
        }
        args.option_number(bar.bid);
        args.option_number(bar.ask);
        if let Some((side, quantity, entry_price, stop, target, unrealized_pnl, bars_held)) = position {
            args.option_string(side);
            args.number(quantity);
            for x in [entry_price, stop, target] {
                args.option_number(x);
            }
            args.number(unrealized_pnl);
            args.integer(i64::try_from(bars_held).unwrap_or(i64::MAX));
        }
    };
    loaded.sandbox.call_pushed(&loaded.dispatch, push).map_err(|e| StrategyError::Script(e.to_string()))
}

/// Builds a sandboxed state running `source`, with the API registered,
/// the required callbacks found, `ctx` restored and `init(params)` run.
fn build(
    file: &str,
    source: &[u8],
    symbol: &str,
    params: &CtxValue,
    limits: &SandboxLimits,
    ctx: Option<CtxValue>,
    window: MarketDataWindow,
) -> Result<Loaded, LoadError> {
    let sandbox = Sandbox::new(file, *limits)?;
    let lua = sandbox.lua();
    let api = |e: mlua::Error| LoadError::Api { file: file.to_string(), message: e.to_string() };
    let host: SharedHost = Arc::new(Mutex::new(HostData::new(symbol, file, window)));
    let params_table = match params.to_lua(lua).map_err(api)? {
        Value::Table(t) => t,
        _ => lua.create_table().map_err(api)?,
    };
    let tables = lua_api::register(lua, params_table.clone(), &host).map_err(api)?;
    sandbox.load(source)?;
    let mut callbacks = Vec::with_capacity(REQUIRED_FUNCTIONS.len());
    for function in REQUIRED_FUNCTIONS {
        let f = sandbox
            .global_function(function)
            .ok_or_else(|| LoadError::MissingFunction { file: file.to_string(), function })?;
        callbacks.push(f);
    }
    let ctx = match ctx {
        Some(saved) => match saved.to_lua(lua).map_err(api)? {
            Value::Table(t) => t,
            _ => lua.create_table().map_err(api)?,
        },
        None => lua.create_table().map_err(api)?,
    };
    if let Some(init) = sandbox.global_function("init") {
        sandbox.call::<()>(&init, params_table)?;
    }
    // Trusted engine code, compiled and run outside the strategy's limits.
    let dispatch: Function = lua
        .load(DISPATCH)
        .set_name("=engine dispatch")
        .call((
            lua.create_sequence_from(callbacks).map_err(api)?,
            &tables.md,
            &ctx,
            &tables.ind,
            &tables.position.table,
            symbol,
        ))
        .map_err(api)?;
    let keys = ActionKeys::new(lua).map_err(api)?;
    let setup_key = lua.create_string("setup").map_err(api)?;
    Ok(Loaded { sandbox, host, tables, ctx, dispatch, position: None, keys, setup_key })
}

impl Strategy for LuaStrategy {
    fn name(&self) -> &str {
        &self.file
    }

    fn version(&self) -> &StrategyVersion {
        &self.version
    }

    fn detect_opportunity(&mut self, input: StrategyInput<'_>) -> Result<Option<Setup>, StrategyError> {
        let value = self.invoke(0, input)?;
        let setup = parse_setup(&value, &self.loaded.keys).map_err(|e| self.bad_action(e))?;
        if setup.is_some() {
            // The setup stays in ctx until the symbol is back in Watch.
            self.loaded
                .ctx
                .raw_set(&self.loaded.setup_key, value)
                .map_err(|e| StrategyError::Script(format!("{}: {e}", self.file)))?;
        }
        Ok(setup)
    }

    fn filter_commitment(&mut self, input: StrategyInput<'_>) -> Result<Option<Commitment>, StrategyError> {
        let value = self.invoke(1, input)?;
        parse_commitment(&value, &self.loaded.keys).map_err(|e| self.bad_action(e))
    }

    fn manage_position(&mut self, input: StrategyInput<'_>) -> Result<Option<Management>, StrategyError> {
        let value = self.invoke(2, input)?;
        parse_management(&value, &self.loaded.keys).map_err(|e| self.bad_action(e))
    }

    fn poll_reload(&mut self) -> Option<Result<StrategyVersion, String>> {
        if !self.watcher.as_mut()?.changed() {
            return None;
        }
        self.reload().map(|r| r.map_err(|e| e.to_string()))
    }

    fn context(&mut self) -> Option<Arc<CtxValue>> {
        if let Some(copy) = &self.ctx_copy {
            if still_holds(self.loaded.sandbox.lua(), &self.loaded.ctx, copy) {
                return Some(copy.clone());
            }
        }
        // While `ctx` holds something it cannot keep, the strict copy would
        // only fail again: go straight to the plain part.
        self.ctx_copy = match self.ctx_refused.is_none().then(|| self.ctx().ok()).flatten() {
            Some(copy) => Some(Arc::new(copy)),
            None => self.plain_part_of_ctx().map(Arc::new),
        };
        self.ctx_copy.clone()
    }
}

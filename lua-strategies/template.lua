-- template.lua: every callback a strategy can define, with what it gets
-- and what it may return. Copy this file to start a strategy.
--
-- The engine calls the functions below on every bar of one symbol,
-- according to the symbol's state (docs/lua-api.md):
--
--   Watch       detect_opportunity(md, ctx, ind)  -> nil or a setup table
--   CloseWatch  filter_commitment(md, ctx, ind)   -> nil, an entry or a cancel
--   InTrade     manage_position(md, ctx, ind)     -> nil, an exit or an update
--
-- md        the current bar: md.symbol, md.time (epoch ms), md.open, md.high,
--           md.low, md.close, md.volume, md.bid, md.ask (nil without quotes);
--           md.history(n): the last n bars as arrays {times, opens, highs,
--           lows, closes, volumes, n}, oldest first.
-- ctx       a table that is yours: it persists across bars and across hot
--           reloads. Plain data only (numbers, strings, booleans, tables).
--           ctx.setup holds the setup detect_opportunity returned, until
--           the symbol is back in Watch.
-- ind       indicators by name: ind.ema(20), ind.rsi(14), ind.atr(14),
--           ind.macd(12, 26, 9).hist, ind.bollinger(20, 2).upper, ...;
--           nil until warmed up. ind.ago(1).ema(20) is the value one bar
--           back. ind.regime() is {regime, probabilities, confidence, bias}
--           when the runner has a regime detector, else nil.
-- position  side ("long", "short" or nil), quantity, entry_price, stop,
--           target, unrealized_pnl, bars_held.
-- params    this strategy's parameters from the config.
-- log       log.debug / log.info / log.warn / log.error(...), tagged with
--           the symbol and the strategy.
--
-- The sandbox has no os, io, require or load; every call has an
-- instruction budget, a memory limit and a time limit.

-- Optional: runs once per load (and again after each hot reload), with the
-- parameters. Good for reading params into locals.
function init(p)
  threshold = p.threshold or 0
end

-- Watch: return nil to keep watching, or a table describing the setup.
-- Any plain-data fields may go in it; `reason` is recorded.
function detect_opportunity(md, ctx, ind)
  return nil
  -- return {side = "long", level = md.high, reason = "why"}
end

-- CloseWatch: return nil to keep waiting, an entry, or a cancel.
--   {action = "long" | "short", size = 1, stop = 95.0, target = 110.0,
--    limit = 100.0, reason = "..."}   (size, stop, target, limit optional;
--                                      no limit = market order)
--   {action = "cancel", reason = "..."}
function filter_commitment(md, ctx, ind)
  return {action = "cancel", reason = "template does not trade"}
end

-- InTrade: return nil to hold, an exit, or a stop/target update.
--   {action = "exit", fraction = 0.5, reason = "..."}   (fraction defaults to 1)
--   {action = "update", stop = 101.0, target = 120.0, reason = "..."}
-- Stops and targets are watched by the engine: when the market hits one,
-- the position is closed without asking.
function manage_position(md, ctx, ind)
  return nil
end

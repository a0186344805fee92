-- rsi_mean_reversion.lua: fade stretched moves back toward the mean.
--
-- Watch:      RSI below `oversold` (long setup) or above `overbought`
--             (short setup), with price outside the Bollinger band.
-- CloseWatch: enter once RSI turns back (rises from oversold, falls from
--             overbought); cancel if the setup is more than `patience`
--             bars old.
-- InTrade:    exit at the middle band, or after `max_bars` bars.
--
-- params: rsi (14), oversold (30), overbought (70), band (20), k (2),
--         patience (5), max_bars (60), stop_pct (1.5)

local p

function init(params_in)
  p = {
    rsi = params_in.rsi or 14,
    oversold = params_in.oversold or 30,
    overbought = params_in.overbought or 70,
    band = params_in.band or 20,
    k = params_in.k or 2,
    patience = params_in.patience or 5,
    max_bars = params_in.max_bars or 60,
    stop_pct = params_in.stop_pct or 1.5,
  }
end

function detect_opportunity(md, ctx, ind)
  local rsi, bb = ind.rsi(p.rsi), ind.bollinger(p.band, p.k)
  if not (rsi and bb) then return nil end
  if rsi < p.oversold and md.close < bb.lower then
    return {side = "long", since = md.time, bars = 0, reason = "oversold below the band"}
  end
  if rsi > p.overbought and md.close > bb.upper then
    return {side = "short", since = md.time, bars = 0, reason = "overbought above the band"}
  end
end

function filter_commitment(md, ctx, ind)
  ctx.setup.bars = ctx.setup.bars + 1
  if ctx.setup.bars > p.patience then return {action = "cancel", reason = "no turn in time"} end
  local now, before = ind.rsi(p.rsi), ind.ago(1).rsi(p.rsi)
  if not (now and before) then return nil end
  local side = ctx.setup.side
  if (side == "long" and now > before) or (side == "short" and now < before) then
    local sign = side == "long" and 1 or -1
    return {action = side, stop = md.close * (1 - sign * p.stop_pct / 100), reason = "rsi turned"}
  end
end

function manage_position(md, ctx, ind)
  local bb = ind.bollinger(p.band, p.k)
  if position.bars_held >= p.max_bars then return {action = "exit", reason = "time stop"} end
  if not bb then return nil end
  if position.side == "long" and md.close >= bb.middle then return {action = "exit", reason = "back to the mean"} end
  if position.side == "short" and md.close <= bb.middle then return {action = "exit", reason = "back to the mean"} end
end

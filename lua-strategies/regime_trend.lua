-- regime_trend.lua: trend following that trades only in the regime it is
-- meant for, as the regime detector sees it (docs/regime.md).
--
-- Watch:      the regime is bullish (or bearish) with a bias beyond
--             `min_bias`, and price pulls back to the fast EMA.
-- CloseWatch: enter in the trend's direction when the bar closes back
--             beyond the EMA; cancel if the regime changes.
-- InTrade:    exit when the regime turns against the trade or its bias
--             fades below `exit_bias`; stop in ATRs.
--
-- params: ema (20), min_bias (0.6), exit_bias (0.2), atr (14), stop_atr (2.5)

local ema, min_bias, exit_bias, atr_period, stop_atr

function init(p)
  ema = p.ema or 20
  min_bias = p.min_bias or 0.6
  exit_bias = p.exit_bias or 0.2
  atr_period = p.atr or 14
  stop_atr = p.stop_atr or 2.5
end

local function trend(ind)
  local r = ind.regime()
  if not r then return nil end
  if r.regime == "bullish" and r.bias >= min_bias then return "long", r end
  if r.regime == "bearish" and -r.bias >= min_bias then return "short", r end
  return nil, r
end

function detect_opportunity(md, ctx, ind)
  local side = trend(ind)
  local e = ind.ema(ema)
  if not (side and e) then return nil end
  if (side == "long" and md.low <= e) or (side == "short" and md.high >= e) then
    return {side = side, reason = "pullback to the ema in a " .. side .. " regime"}
  end
end

function filter_commitment(md, ctx, ind)
  local side = trend(ind)
  if side ~= ctx.setup.side then return {action = "cancel", reason = "regime changed"} end
  local e, atr = ind.ema(ema), ind.atr(atr_period)
  if not (e and atr) then return nil end
  if (side == "long" and md.close > e) or (side == "short" and md.close < e) then
    local sign = side == "long" and 1 or -1
    return {action = side, stop = md.close - sign * stop_atr * atr, reason = "resumed the trend"}
  end
end

function manage_position(md, ctx, ind)
  local r = ind.regime()
  if not r then return nil end
  local sign = position.side == "long" and 1 or -1
  if sign * r.bias < exit_bias then
    return {action = "exit", reason = string.format("regime %s, bias %.2f", r.regime, r.bias)}
  end
end

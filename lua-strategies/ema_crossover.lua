-- ema_crossover.lua: trend following on a moving-average cross.
--
-- Watch:      the fast EMA crosses the slow one (up: long, down: short).
-- CloseWatch: enter on the next bar if the cross still holds, with a stop
--             and a target set in ATRs from the close; cancel if it failed.
-- InTrade:    exit when the EMAs cross back; trail the stop to break-even
--             once the trade is one ATR in profit.
--
-- params: fast (9), slow (21), atr (14), stop_atr (2), target_atr (4)

local fast, slow, atr_period, stop_atr, target_atr

function init(p)
  fast = p.fast or 9
  slow = p.slow or 21
  atr_period = p.atr or 14
  stop_atr = p.stop_atr or 2
  target_atr = p.target_atr or 4
end

local function spread(ind, back)
  local at = back == 0 and ind or ind.ago(back)
  local f, s = at.ema(fast), at.ema(slow)
  if f and s then return f - s end
end

function detect_opportunity(md, ctx, ind)
  local now, before = spread(ind, 0), spread(ind, 1)
  if not (now and before) then return nil end
  if before <= 0 and now > 0 then return {side = "long", reason = "ema cross up"} end
  if before >= 0 and now < 0 then return {side = "short", reason = "ema cross down"} end
end

function filter_commitment(md, ctx, ind)
  local side, now, atr = ctx.setup.side, spread(ind, 0), ind.atr(atr_period)
  if not (now and atr) then return nil end
  if (side == "long" and now <= 0) or (side == "short" and now >= 0) then
    return {action = "cancel", reason = "cross failed"}
  end
  local sign = side == "long" and 1 or -1
  return {
    action = side,
    stop = md.close - sign * stop_atr * atr,
    target = md.close + sign * target_atr * atr,
    reason = "cross held",
  }
end

function manage_position(md, ctx, ind)
  local now, atr = spread(ind, 0), ind.atr(atr_period)
  if not (now and atr) then return nil end
  local sign = position.side == "long" and 1 or -1
  if sign * now < 0 then return {action = "exit", reason = "crossed back"} end
  local gain = sign * (md.close - position.entry_price)
  if position.stop and gain > atr and sign * (position.stop - position.entry_price) < 0 then
    return {action = "update", stop = position.entry_price, reason = "break-even"}
  end
end

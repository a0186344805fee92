-- range_breakout.lua: trade a break out of a quiet range, confirmed by
-- volume.
--
-- Watch:      the last `lookback` bars form a range narrower than
--             `max_range_pct` of price; remember its high and low.
-- CloseWatch: enter long on a close above the high (short below the low)
--             when that bar's volume is at least `volume_factor` times the
--             average; stop on the other side of the range, target one
--             range height beyond the break. Cancel after `patience` bars.
-- InTrade:    hold; the engine's stop and target do the rest. Exit if
--             price falls back inside the range.
--
-- params: lookback (30), max_range_pct (1.0), volume_factor (1.5),
--         patience (20)

local lookback, max_range_pct, volume_factor, patience

function init(p)
  lookback = p.lookback or 30
  max_range_pct = p.max_range_pct or 1.0
  volume_factor = p.volume_factor or 1.5
  patience = p.patience or 20
end

function detect_opportunity(md, ctx, ind)
  local h = md.history(lookback + 1)
  if h.n < lookback + 1 then return nil end
  -- The range of the bars before this one.
  local high, low = -math.huge, math.huge
  for i = 1, lookback do
    high = math.max(high, h.highs[i])
    low = math.min(low, h.lows[i])
  end
  if (high - low) / md.close * 100 <= max_range_pct then
    return {high = high, low = low, bars = 0, reason = string.format("range %.4g-%.4g", low, high)}
  end
end

function filter_commitment(md, ctx, ind)
  local s = ctx.setup
  s.bars = s.bars + 1
  if s.bars > patience then return {action = "cancel", reason = "no breakout"} end
  -- Average volume of the 20 bars before this one.
  local h = md.history(21)
  if h.n < 2 then return nil end
  local total = 0
  for i = 1, h.n - 1 do total = total + h.volumes[i] end
  if md.volume < volume_factor * total / (h.n - 1) then return nil end
  local height = s.high - s.low
  if md.close > s.high then
    return {action = "long", stop = s.low, target = md.close + height, reason = "breakout up on volume"}
  end
  if md.close < s.low then
    return {action = "short", stop = s.high, target = md.close - height, reason = "breakout down on volume"}
  end
end

function manage_position(md, ctx, ind)
  local s = ctx.setup
  if s and md.close < s.high and md.close > s.low then
    return {action = "exit", reason = "back inside the range"}
  end
end

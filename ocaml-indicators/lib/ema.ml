let compute ~period close =
  if period < 1 then invalid_arg "ema: period must be >= 1";
  Building_blocks.ema_from ~first:0 period close

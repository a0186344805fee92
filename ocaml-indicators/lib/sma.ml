let compute ~period close =
  if period < 1 then invalid_arg "sma: period must be >= 1";
  Building_blocks.running_sum_average ~first:0 period close

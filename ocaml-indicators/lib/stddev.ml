let compute ~period close =
  if period < 1 then invalid_arg "stddev: period must be >= 1";
  let means = Building_blocks.running_sum_average ~first:0 period close in
  Array.mapi
    (fun i m ->
      Option.map
        (fun mean ->
          Building_blocks.window_population_sd close ~last:i period mean)
        m)
    means

type t = {
  upper : float option array;
  middle : float option array;
  lower : float option array;
}

let compute ~period ~k close =
  if period < 1 then invalid_arg "bollinger: period must be >= 1";
  if not (Float.is_finite k && k > 0.0) then
    invalid_arg "bollinger: k must be > 0";
  let middle = Building_blocks.running_sum_average ~first:0 period close in
  let len = Array.length close in
  let upper = Array.make len None and lower = Array.make len None in
  Array.iteri
    (fun i m ->
      match m with
      | None -> ()
      | Some mean ->
          let sd =
            Building_blocks.window_population_sd close ~last:i period mean
          in
          upper.(i) <- Some (mean +. (k *. sd));
          lower.(i) <- Some (mean -. (k *. sd)))
    middle;
  { upper; middle; lower }

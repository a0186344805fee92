type t = { k : float option array; d : float option array }

let compute ~k_period ~k_smooth ~d_period ~high ~low ~close =
  if k_period < 1 || k_smooth < 1 || d_period < 1 then
    invalid_arg "stoch: periods must be >= 1";
  Input_check.same_length "stoch" [ high; low; close ];
  let len = Array.length close in
  let fastk = Array.make len 0.0 in
  for i = k_period - 1 to len - 1 do
    let hh = Building_blocks.highest high ~last:i k_period in
    let ll = Building_blocks.lowest low ~last:i k_period in
    fastk.(i) <-
      (if hh = ll then 0.0 else (close.(i) -. ll) /. ((hh -. ll) /. 100.0))
  done;
  let k = Building_blocks.running_sum_average ~first:(k_period - 1) k_smooth fastk in
  let k_first = k_period + k_smooth - 2 in
  let d =
    Building_blocks.running_sum_average ~first:k_first d_period
      (Building_blocks.dense k)
  in
  { k; d }

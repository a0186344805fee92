type t = {
  line : float option array;
  signal : float option array;
  hist : float option array;
}

let combine f a b =
  Array.map2
    (fun x y -> match (x, y) with Some x, Some y -> Some (f x y) | _ -> None)
    a b

let compute ~fast ~slow ~signal close =
  if fast < 1 || slow < 1 || signal < 1 then
    invalid_arg "macd: periods must be >= 1";
  (* TA-Lib swaps the periods rather than refusing them. *)
  let fast, slow = if fast > slow then (slow, fast) else (fast, slow) in
  let slow_ema = Building_blocks.ema_from ~first:0 slow close in
  let fast_ema = Building_blocks.ema_from ~first:(slow - fast) fast close in
  let line = combine ( -. ) fast_ema slow_ema in
  let signal_line =
    Building_blocks.ema_from ~first:(slow - 1) signal
      (Building_blocks.dense line)
  in
  let hist = combine ( -. ) line signal_line in
  { line; signal = signal_line; hist }

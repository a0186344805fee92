let running_sum_average ~first n x =
  let len = Array.length x in
  let out = Array.make len None in
  let divisor = float_of_int n in
  (* S holds the sum of the last n - 1 inputs. *)
  let s = ref 0.0 in
  for i = max first 0 to len - 1 do
    let t = !s +. x.(i) in
    if i - first >= n - 1 then begin
      out.(i) <- Some (t /. divisor);
      s := t -. x.(i - n + 1)
    end
    else s := t
  done;
  out

let ema_from ~first n x =
  let len = Array.length x in
  let out = Array.make len None in
  let k = 2.0 /. (float_of_int n +. 1.0) in
  let keep = 1.0 -. k in
  let seed_index = first + n - 1 in
  if first >= 0 && seed_index < len then begin
    let sum = ref 0.0 in
    for i = first to seed_index do
      sum := !sum +. x.(i)
    done;
    let ema = ref (!sum /. float_of_int n) in
    out.(seed_index) <- Some !ema;
    for i = seed_index + 1 to len - 1 do
      ema := (!ema *. keep) +. (x.(i) *. k);
      out.(i) <- Some !ema
    done
  end;
  out

let window_population_sd x ~last n mean =
  let acc = ref 0.0 in
  for j = last - n + 1 to last do
    let d = x.(j) -. mean in
    acc := !acc +. (d *. d)
  done;
  sqrt (!acc /. float_of_int n)

let highest x ~last n =
  let m = ref x.(last - n + 1) in
  for j = last - n + 2 to last do
    if x.(j) > !m then m := x.(j)
  done;
  !m

let lowest x ~last n =
  let m = ref x.(last - n + 1) in
  for j = last - n + 2 to last do
    if x.(j) < !m then m := x.(j)
  done;
  !m

let true_range ~high ~low ~close i =
  let h = high.(i) and l = low.(i) and prev_close = close.(i - 1) in
  let range = h -. l in
  let up = Float.abs (h -. prev_close) in
  let down = Float.abs (l -. prev_close) in
  let m = if up > range then up else range in
  if down > m then down else m

let typical_price ~high ~low ~close = (high +. low +. close) /. 3.0

let dense a = Array.map (function Some v -> v | None -> 0.0) a

type wilder = { keep : float; take : float }

let wilder n =
  let nf = float_of_int n in
  { keep = (nf -. 1.0) /. nf; take = 1.0 /. nf }

let wilder_step w avg x = (avg *. w.keep) +. (x *. w.take)

let value ag al =
  let total = ag +. al in
  if total = 0.0 then 50.0 else 100.0 *. (ag /. total)

let compute ~period close =
  if period < 2 then invalid_arg "rsi: period must be >= 2";
  let n = period in
  let nf = float_of_int n and w = Building_blocks.wilder n in
  let len = Array.length close in
  let out = Array.make len None in
  let gain = ref 0.0 and loss = ref 0.0 in
  let ag = ref 0.0 and al = ref 0.0 in
  for i = 1 to len - 1 do
    let d = close.(i) -. close.(i - 1) in
    if i <= n then begin
      if d > 0.0 then gain := !gain +. d;
      if d < 0.0 then loss := !loss +. -.d;
      if i = n then begin
        ag := !gain /. nf;
        al := !loss /. nf;
        out.(i) <- Some (value !ag !al)
      end
    end
    else begin
      let g = if d > 0.0 then d else 0.0 in
      let l = if -.d > 0.0 then -.d else 0.0 in
      ag := Building_blocks.wilder_step w !ag g;
      al := Building_blocks.wilder_step w !al l;
      out.(i) <- Some (value !ag !al)
    end
  done;
  out

let compute ~period ~high ~low ~close =
  if period < 1 then invalid_arg "atr: period must be >= 1";
  Input_check.same_length "atr" [ high; low; close ];
  let n = period in
  let nf = float_of_int n and w = Building_blocks.wilder n in
  let len = Array.length close in
  let out = Array.make len None in
  let sum = ref 0.0 and atr = ref 0.0 in
  for i = 1 to len - 1 do
    let tr = Building_blocks.true_range ~high ~low ~close i in
    if i < n then sum := !sum +. tr
    else if i = n then begin
      sum := !sum +. tr;
      atr := !sum /. nf;
      out.(i) <- Some !atr
    end
    else begin
      atr := Building_blocks.wilder_step w !atr tr;
      out.(i) <- Some !atr
    end
  done;
  out

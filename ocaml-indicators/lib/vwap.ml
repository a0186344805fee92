let compute ~period ~high ~low ~close ~volume =
  if period < 1 then invalid_arg "vwap: period must be >= 1";
  Input_check.same_length "vwap" [ high; low; close; volume ];
  let len = Array.length close in
  let typical =
    Array.init len (fun i ->
        Building_blocks.typical_price ~high:high.(i) ~low:low.(i)
          ~close:close.(i))
  in
  let out = Array.make len None in
  for i = period - 1 to len - 1 do
    let pv = ref 0.0 and vol = ref 0.0 in
    for j = i - period + 1 to i do
      pv := !pv +. (typical.(j) *. volume.(j));
      vol := !vol +. volume.(j)
    done;
    if !vol <> 0.0 then out.(i) <- Some (!pv /. !vol)
  done;
  out

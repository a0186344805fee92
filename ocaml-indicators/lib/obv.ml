let compute ~close ~volume =
  Input_check.same_length "obv" [ close; volume ];
  let len = Array.length close in
  let out = Array.make len None in
  let obv = ref 0.0 in
  for i = 0 to len - 1 do
    if i = 0 then obv := volume.(0)
    else if close.(i) > close.(i - 1) then obv := !obv +. volume.(i)
    else if close.(i) < close.(i - 1) then obv := !obv -. volume.(i);
    out.(i) <- Some !obv
  done;
  out

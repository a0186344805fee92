let compute ~period close =
  if period < 1 then invalid_arg "roc: period must be >= 1";
  let len = Array.length close in
  let out = Array.make len None in
  for i = period to len - 1 do
    let previous = close.(i - period) in
    out.(i) <-
      Some (if previous = 0.0 then 0.0 else ((close.(i) /. previous) -. 1.0) *. 100.0)
  done;
  out

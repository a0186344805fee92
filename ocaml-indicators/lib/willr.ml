let compute ~period ~high ~low ~close =
  if period < 1 then invalid_arg "willr: period must be >= 1";
  Input_check.same_length "willr" [ high; low; close ];
  let len = Array.length close in
  let out = Array.make len None in
  for i = period - 1 to len - 1 do
    let hh = Building_blocks.highest high ~last:i period in
    let ll = Building_blocks.lowest low ~last:i period in
    out.(i) <-
      Some (if hh = ll then 0.0 else (hh -. close.(i)) /. ((hh -. ll) /. -100.0))
  done;
  out

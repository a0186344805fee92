let compute ~period ~high ~low ~close =
  if period < 2 then invalid_arg "cci: period must be >= 2";
  Input_check.same_length "cci" [ high; low; close ];
  let n = period in
  let nf = float_of_int n in
  let len = Array.length close in
  let typical =
    Array.init len (fun i ->
        Building_blocks.typical_price ~high:high.(i) ~low:low.(i)
          ~close:close.(i))
  in
  let out = Array.make len None in
  for i = n - 1 to len - 1 do
    let sum = ref 0.0 in
    for j = i - n + 1 to i do
      sum := !sum +. typical.(j)
    done;
    let mean = !sum /. nf in
    let md = ref 0.0 in
    for j = i - n + 1 to i do
      md := !md +. Float.abs (typical.(j) -. mean)
    done;
    let deviation = typical.(i) -. mean in
    out.(i) <-
      Some
        (if deviation = 0.0 || !md = 0.0 then 0.0
        else deviation /. (0.015 *. (!md /. nf)))
  done;
  out

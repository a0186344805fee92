let compute ~period close =
  if period < 1 then invalid_arg "wma: period must be >= 1";
  let n = period in
  let len = Array.length close in
  let out = Array.make len None in
  let weight_n = float_of_int n in
  (* n (n + 1) / 2 computed in floats: exact for any n that can be reached. *)
  let divisor = float_of_int n *. (float_of_int n +. 1.0) /. 2.0 in
  let sub = ref 0.0 and wsum = ref 0.0 in
  for i = 0 to len - 1 do
    let x = close.(i) in
    if i < n - 1 then begin
      sub := !sub +. x;
      wsum := !wsum +. (x *. float_of_int (i + 1))
    end
    else begin
      sub := !sub +. x;
      wsum := !wsum +. (x *. weight_n);
      out.(i) <- Some (!wsum /. divisor);
      wsum := !wsum -. !sub;
      sub := !sub -. close.(i - n + 1)
    end
  done;
  out

type t = {
  adx : float option array;
  plus_di : float option array;
  minus_di : float option array;
}

let compute ~period ~high ~low ~close =
  if period < 2 then invalid_arg "adx: period must be >= 2";
  Input_check.same_length "adx" [ high; low; close ];
  let n = period in
  let nf = float_of_int n and w = Building_blocks.wilder n in
  let len = Array.length close in
  let adx_out = Array.make len None in
  let plus_out = Array.make len None and minus_out = Array.make len None in
  (* Smoothed +DM, -DM and true range. *)
  let p = ref 0.0 and m = ref 0.0 and t = ref 0.0 in
  let sum_dx = ref 0.0 and adx = ref 0.0 in
  for i = 1 to len - 1 do
    let up = high.(i) -. high.(i - 1) in
    let down = low.(i - 1) -. low.(i) in
    let plus_dm, minus_dm =
      if down > 0.0 && up < down then (0.0, down)
      else if up > 0.0 && up > down then (up, 0.0)
      else (0.0, 0.0)
    in
    let tr = Building_blocks.true_range ~high ~low ~close i in
    if i < n then begin
      p := !p +. plus_dm;
      m := !m +. minus_dm;
      t := !t +. tr
    end
    else begin
      p := !p -. (!p /. nf) +. plus_dm;
      m := !m -. (!m /. nf) +. minus_dm;
      t := !t -. (!t /. nf) +. tr;
      let plus_di, minus_di =
        if !t <> 0.0 then (100.0 *. (!p /. !t), 100.0 *. (!m /. !t))
        else (0.0, 0.0)
      in
      plus_out.(i) <- Some plus_di;
      minus_out.(i) <- Some minus_di;
      let di_sum = minus_di +. plus_di in
      let dx =
        if !t <> 0.0 && di_sum <> 0.0 then
          Some (100.0 *. (Float.abs (minus_di -. plus_di) /. di_sum))
        else None
      in
      if i <= (2 * n) - 1 then begin
        (match dx with Some dx -> sum_dx := !sum_dx +. dx | None -> ());
        if i = (2 * n) - 1 then begin
          adx := !sum_dx /. nf;
          adx_out.(i) <- Some !adx
        end
      end
      else begin
        (match dx with
        | Some dx -> adx := Building_blocks.wilder_step w !adx dx
        | None -> ());
        adx_out.(i) <- Some !adx
      end
    end
  done;
  { adx = adx_out; plus_di = plus_out; minus_di = minus_out }

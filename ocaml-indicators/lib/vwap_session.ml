let floor_div a b =
  let q = a / b in
  if a mod b <> 0 && (a < 0) <> (b < 0) then q - 1 else q

let session_of ~session_minutes ~offset_minutes time_ms =
  floor_div (time_ms - (offset_minutes * 60000)) (session_minutes * 60000)

let compute ~session_minutes ~offset_minutes ~time ~high ~low ~close ~volume =
  if session_minutes < 1 then
    invalid_arg "vwap_session: session_minutes must be >= 1";
  if offset_minutes < 0 then
    invalid_arg "vwap_session: offset_minutes must be >= 0";
  Input_check.same_length "vwap_session" [ time; high; low; close; volume ];
  let len = Array.length close in
  let out = Array.make len None in
  let pv = ref 0.0 and vol = ref 0.0 in
  let current_session = ref None in
  for i = 0 to len - 1 do
    if not (Float.is_finite time.(i)) then
      invalid_arg "vwap_session: time must be finite";
    let session =
      session_of ~session_minutes ~offset_minutes
        (int_of_float (Float.floor time.(i)))
    in
    if !current_session <> Some session then begin
      current_session := Some session;
      pv := 0.0;
      vol := 0.0
    end;
    let tp =
      Building_blocks.typical_price ~high:high.(i) ~low:low.(i)
        ~close:close.(i)
    in
    pv := !pv +. (tp *. volume.(i));
    vol := !vol +. volume.(i);
    if !vol <> 0.0 then out.(i) <- Some (!pv /. !vol)
  done;
  out

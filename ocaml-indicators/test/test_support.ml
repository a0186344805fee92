(* $TRADING_ENGINE_SHARED/refvectors, or shared/refvectors in a parent of
   the working directory (the clone sits beside shared/). *)
let refvectors_dir () =
  match Sys.getenv_opt "TRADING_ENGINE_SHARED" with
  | Some shared when shared <> "" ->
      let dir = Filename.concat shared "refvectors" in
      if Sys.file_exists dir && Sys.is_directory dir then dir
      else failwith ("TRADING_ENGINE_SHARED is set but " ^ dir ^ " is not a directory")
  | _ ->
  let rec up dir depth =
    let candidate = Filename.concat (Filename.concat dir "shared") "refvectors" in
    if Sys.file_exists candidate && Sys.is_directory candidate then candidate
    else
      let parent = Filename.dirname dir in
      if parent = dir || depth > 20 then
        failwith
          ("cannot find shared/refvectors in any parent of " ^ Sys.getcwd ()
         ^ " (clone beside shared/, or set TRADING_ENGINE_SHARED)")
      else up parent (depth + 1)
  in
  up (Sys.getcwd ()) 0

let read_file path =
  let ic = open_in_bin path in
  let text = really_input_string ic (in_channel_length ic) in
  close_in ic;
  let bom = "\xEF\xBB\xBF" in
  if String.length text >= 3 && String.sub text 0 3 = bom then
    String.sub text 3 (String.length text - 3)
  else text

let read_csv path =
  read_file path |> String.split_on_char '\n'
  |> List.map (fun line ->
         let line =
           if String.length line > 0 && line.[String.length line - 1] = '\r'
           then String.sub line 0 (String.length line - 1)
           else line
         in
         line)
  |> List.filter (fun line -> String.trim line <> "")
  |> List.map (String.split_on_char ',')

let column rows name =
  match rows with
  | [] -> failwith "empty CSV"
  | header :: data ->
      let rec index i = function
        | [] -> failwith ("no column " ^ name)
        | h :: rest -> if String.trim h = name then i else index (i + 1) rest
      in
      let k = index 0 header in
      Array.of_list (List.map (fun row -> float_of_string (List.nth row k)) data)

let json_file path = Yojson.Safe.from_string (read_file path)

let number_opt (json : Yojson.Safe.t) =
  match json with
  | `Null -> None
  | `Int i -> Some (float_of_int i)
  | `Intlit s -> Some (float_of_string s)
  | `Float f -> Some f
  | _ -> failwith "expected a number or null"

(* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
   days_from_civil). *)
let days_from_civil y m d =
  let y = if m <= 2 then y - 1 else y in
  let era = (if y >= 0 then y else y - 399) / 400 in
  let yoe = y - (era * 400) in
  let mp = (m + 9) mod 12 in
  let doy = (((153 * mp) + 2) / 5) + d - 1 in
  let doe = (yoe * 365) + (yoe / 4) - (yoe / 100) + doy in
  (era * 146097) + doe - 719468

let epoch_ms_of_date text =
  Scanf.sscanf text "%4d-%2d-%2d" (fun y m d ->
      float_of_int (days_from_civil y m d) *. 86_400_000.0)

let failures = ref 0

let check_series ~name ~tolerance ?(values_from = 0) ~expected actual =
  let problems = ref [] in
  let add p = problems := p :: !problems in
  if Array.length expected <> Array.length actual then
    add
      (Printf.sprintf "length %d, expected %d" (Array.length actual)
         (Array.length expected))
  else begin
    let worst = ref 0.0 in
    Array.iteri
      (fun i e ->
        match (e, actual.(i)) with
        | None, None -> ()
        | Some e, Some a ->
            if i >= values_from then begin
              let diff = Float.abs (a -. e) in
              let scaled = diff /. Float.max 1.0 (Float.abs e) in
              if scaled > !worst then worst := scaled;
              if not (scaled <= tolerance) then
                add (Printf.sprintf "[%d] got %.17g, expected %.17g" i a e)
            end
        | None, Some a -> add (Printf.sprintf "[%d] got %.17g, expected null" i a)
        | Some e, None -> add (Printf.sprintf "[%d] got null, expected %.17g" i e))
      expected;
    Printf.printf "%-45s max scaled diff %.3g (tolerance %g)\n" name !worst
      tolerance
  end;
  match List.rev !problems with
  | [] -> ()
  | problems ->
      incr failures;
      Printf.printf "FAIL %s: %d mismatches\n" name (List.length problems);
      List.iteri (fun i p -> if i < 10 then Printf.printf "    %s\n" p) problems

let finish name =
  if !failures > 0 then begin
    Printf.printf "%s: %d check(s) FAILED\n" name !failures;
    exit 1
  end
  else Printf.printf "%s: all checks passed\n" name

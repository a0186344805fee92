(* The request handler of the sidecar, exercised in-process on good and bad
   lines (docs/sidecar-protocol.md). *)

open Indicators

let respond line =
  match Protocol.handle_line line with
  | Some text ->
      assert (not (String.contains text '\n'));
      Yojson.Safe.from_string text
  | None -> failwith ("no response to " ^ line)

let member = Yojson.Safe.Util.member

let expect_error ~id ~code line =
  let response = respond line in
  let got_code = member "error" response |> member "code" in
  if member "id" response <> id || got_code <> `String code then begin
    Printf.printf "FAIL %s\n  expected id %s, code %s\n  got %s\n" line
      (Yojson.Safe.to_string id) code (Yojson.Safe.to_string response);
    exit 1
  end;
  Printf.printf "ok %-16s %s\n" code
    (if String.length line > 70 then String.sub line 0 70 ^ "…" else line)

let result line =
  let response = respond line in
  match member "result" response with
  | `Null -> failwith ("no result: " ^ Yojson.Safe.to_string response)
  | r -> r

let output line name =
  result line |> member "outputs" |> member name |> Yojson.Safe.Util.to_list
  |> List.map (function
       | `Null -> None
       | `Float f -> Some f
       | `Int i -> Some (float_of_int i)
       | _ -> failwith "output is not a number")

let compute ?(id = "1") indicator params inputs =
  Printf.sprintf
    {|{"id": %s, "method": "compute", "params": {"indicator": "%s", "params": %s, "inputs": %s}}|}
    id indicator params inputs

let () =
  (* Framing errors. *)
  expect_error ~id:`Null ~code:"parse_error" "{not json";
  expect_error ~id:`Null ~code:"parse_error" "[1, 2, 3]";
  expect_error ~id:`Null ~code:"parse_error" {|{"id": 1, "method": "ping"} trailing|};
  expect_error ~id:`Null ~code:"parse_error" (String.make 100_000 '[');
  expect_error ~id:`Null ~code:"invalid_request" {|{"method": "ping"}|};
  expect_error ~id:`Null ~code:"invalid_request" {|{"id": 1.5, "method": "ping"}|};
  expect_error ~id:`Null ~code:"invalid_request" {|{"id": null, "method": "ping"}|};
  expect_error ~id:(`Int 7) ~code:"invalid_request" {|{"id": 7}|};
  expect_error ~id:(`Int 7) ~code:"invalid_request" {|{"id": 7, "method": 3}|};
  expect_error ~id:(`String "abc") ~code:"unknown_method" {|{"id": "abc", "method": "explode"}|};
  assert (Protocol.handle_line "" = None);
  assert (Protocol.handle_line "   \r" = None);
  (* Indicator and parameter errors. *)
  let close = {|{"close": [1, 2, 3, 4, 5.5]}|} in
  expect_error ~id:(`Int 2) ~code:"unknown_indicator" (compute ~id:"2" "zigzag" "[]" close);
  expect_error ~id:(`Int 3) ~code:"bad_params" (compute ~id:"3" "ema" "[0]" close);
  expect_error ~id:(`Int 4) ~code:"bad_params" (compute ~id:"4" "ema" "[2.5]" close);
  expect_error ~id:(`Int 5) ~code:"bad_params" (compute ~id:"5" "ema" {|["3"]|} close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "ema" "[3, 4]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "ema" "[-3]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "ema" "3" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "ema" "[1e300]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "rsi" "[1]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "adx" "[1]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "cci" "[1]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "bollinger" "[20, 0]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "bollinger" "[20, -1.5]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "macd" "[12, 0, 9]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "obv" "[1]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "vwap_session" "[0]" close);
  expect_error ~id:(`Int 6) ~code:"bad_params" (compute ~id:"6" "vwap_session" "[1440, -1]" close);
  let message =
    respond (compute "ema" "[0]" close) |> member "error" |> member "message"
  in
  assert (message = `String "ema: parameter period must be a whole number >= 1, got 0");
  (* Input errors. *)
  expect_error ~id:(`Int 8) ~code:"bad_inputs"
    (compute ~id:"8" "atr" "[2]" {|{"high": [1, 2, 3], "low": [1, 2], "close": [1, 2, 3]}|});
  expect_error ~id:(`Int 8) ~code:"bad_inputs"
    (compute ~id:"8" "atr" "[2]" {|{"high": [1, 2, 3], "close": [1, 2, 3]}|});
  expect_error ~id:(`Int 8) ~code:"bad_inputs" (compute ~id:"8" "ema" "[2]" {|{"close": [1, "2"]}|});
  expect_error ~id:(`Int 8) ~code:"bad_inputs" (compute ~id:"8" "ema" "[2]" {|{"close": [1, null]}|});
  expect_error ~id:(`Int 8) ~code:"bad_inputs" (compute ~id:"8" "ema" "[2]" {|{"close": 5}|});
  expect_error ~id:(`Int 8) ~code:"bad_inputs" (compute ~id:"8" "ema" "[2]" {|[1, 2]|});
  expect_error ~id:(`Int 8) ~code:"bad_inputs" (compute ~id:"8" "ema" "[2]" {|{"close": [1, NaN]}|});
  (* ping and list. *)
  let pong = result {|{"id": 1, "method": "ping"}|} in
  assert (member "pong" pong = `Bool true);
  assert (member "version" pong = `String Protocol.version);
  let listed = result {|{"id": 1, "method": "list"}|} |> member "indicators" |> Yojson.Safe.Util.to_list in
  let names = List.map (fun i -> member "name" i |> Yojson.Safe.Util.to_string) listed in
  assert (
    names
    = [ "sma"; "ema"; "wma"; "rsi"; "macd"; "bollinger"; "atr"; "vwap"; "vwap_session";
        "stoch"; "adx"; "obv"; "cci"; "willr"; "roc"; "stddev" ]);
  let macd = List.nth listed 4 in
  assert (member "params" macd = `List [ `String "fast"; `String "slow"; `String "signal" ]);
  assert (member "outputs" macd = `List [ `String "line"; `String "signal"; `String "hist" ]);
  print_endline "ok ping, list (16 indicators)";
  (* compute: ema(3) of 1, 2, 3, 4, 5.5 = seed 2, then (x - ema) / 2 + ema. *)
  assert (output (compute "ema" "[3]" close) "ema" = [ None; None; Some 2.0; Some 3.0; Some 4.25 ]);
  (* Integers (and big integer literals) are numbers too; id strings echo. *)
  let r = respond (compute ~id:{|"x-1"|} "sma" "[1.0]" {|{"close": [3600, 123456789012345678901234567890]}|}) in
  assert (member "id" r = `String "x-1");
  assert (
    output (compute "sma" "[1.0]" {|{"close": [3600, 123456789012345678901234567890]}|}) "sma"
    = [ Some 3600.0; Some 1.2345678901234568e29 ]);
  (* Missing or empty params mean the defaults; a shorter list is filled. *)
  let closes20 = Printf.sprintf {|{"close": [%s]}|} (String.concat "," (List.init 20 string_of_int)) in
  let sma_default = output (compute "sma" "[]" closes20) "sma" in
  assert (List.nth sma_default 19 = Some 9.5 && List.nth sma_default 18 = None);
  let no_params = {|{"id": 9, "method": "compute", "params": {"indicator": "sma", "inputs": |} ^ closes20 ^ "}}" in
  assert (output no_params "sma" = sma_default);
  let bb = output (compute "bollinger" "[20]" closes20) "upper" in
  assert (List.nth bb 19 <> None);
  (* Extra inputs are ignored. *)
  assert (output (compute "ema" "[3]" {|{"close": [1, 2, 3, 4, 5.5], "volume": [1]}|}) "ema"
          = [ None; None; Some 2.0; Some 3.0; Some 4.25 ]);
  print_endline "ok compute values";
  (* Floats read back to the same double. *)
  let awkward = [ 0.1; 1.0 /. 3.0; 2.0 /. 3.0; 1e-300; 4.9e-324; 123456789.123456789;
                  1.7976931348623157e308; -0.30000000000000004; 46000.5; 2.8e-5 ] in
  let inputs = Printf.sprintf {|{"close": [%s]}|}
      (String.concat "," (List.map (Printf.sprintf "%.17g") awkward)) in
  assert (output (compute "sma" "[1]" inputs) "sma" = List.map Option.some awkward);
  print_endline "ok floats round-trip";
  (* A big request: 200,000 bars of 5 arrays on one line. *)
  let bars = 200_000 in
  let buffer = Buffer.create (bars * 5 * 12) in
  let add_array name f =
    Buffer.add_string buffer (Printf.sprintf {|"%s": [|} name);
    for i = 0 to bars - 1 do
      if i > 0 then Buffer.add_char buffer ',';
      Buffer.add_string buffer (f i)
    done;
    Buffer.add_char buffer ']'
  in
  Buffer.add_string buffer
    {|{"id": 10, "method": "compute", "params": {"indicator": "vwap_session", "params": [60], "inputs": {|};
  add_array "time" (fun i -> string_of_int (1_700_000_000_000 + (i * 60_000)));
  Buffer.add_char buffer ',';
  add_array "high" (fun i -> Printf.sprintf "%.2f" (101.0 +. sin (float_of_int i)));
  Buffer.add_char buffer ',';
  add_array "low" (fun i -> Printf.sprintf "%.2f" (99.0 +. sin (float_of_int i)));
  Buffer.add_char buffer ',';
  add_array "close" (fun i -> Printf.sprintf "%.2f" (100.0 +. sin (float_of_int i)));
  Buffer.add_char buffer ',';
  add_array "volume" (fun i -> string_of_int (1 + (i mod 7)));
  Buffer.add_string buffer "}}}";
  let big = output (Buffer.contents buffer) "vwap" in
  assert (List.length big = bars);
  assert (List.for_all (fun v -> v <> None) big);
  print_endline "ok 200,000 bars x 5 arrays";
  (* The f64le encoding: exact doubles in, exact doubles out, NaN = missing. *)
  let closes = [| 1.0; 2.0; 4.0; 1.0 /. 3.0; 1e-300 |] in
  let encoded = F64_base64.encode closes in
  assert (Array.for_all2 (fun a b -> Int64.equal (Int64.bits_of_float a) (Int64.bits_of_float b))
            closes (F64_base64.decode encoded));
  assert (F64_base64.encode [||] = "" && F64_base64.decode "" = [||]);
  (* 8 bytes need padding: one double is 12 base64 characters ending in '='. *)
  assert (String.length (F64_base64.encode [| 1.5 |]) = 12);
  let line =
    Printf.sprintf
      {|{"id": 11, "method": "compute", "params": {"indicator": "sma", "params": [2], "encoding": "f64le", "inputs": {"close": {"f64le": "%s"}}}}|}
      encoded
  in
  let sma =
    result line |> member "outputs" |> member "sma" |> member "f64le" |> Yojson.Safe.Util.to_string
    |> F64_base64.decode
  in
  assert (Float.is_nan sma.(0));
  assert (sma.(1) = 1.5 && sma.(2) = 3.0);
  (* Bit for bit what the JSON encoding gives. *)
  let via_json =
    output (compute ~id:"11" "sma" "[2]" {|{"close": [1.0, 2.0, 4.0, 0.33333333333333331, 1e-300]}|}) "sma"
  in
  assert (List.nth via_json 4 = Some sma.(4));
  expect_error ~id:(`Int 12) ~code:"bad_inputs"
    {|{"id": 12, "method": "compute", "params": {"indicator": "sma", "inputs": {"close": {"f64le": "AAA*"}}}}|};
  expect_error ~id:(`Int 13) ~code:"bad_inputs"
    {|{"id": 13, "method": "compute", "params": {"indicator": "sma", "inputs": {"close": {"f64le": "AAAA"}}}}|};
  expect_error ~id:(`Int 14) ~code:"invalid_request"
    {|{"id": 14, "method": "compute", "params": {"indicator": "sma", "encoding": "xml", "inputs": {"close": [1]}}}|};
  print_endline "ok f64le encoding";
  print_endline "protocol_test: all checks passed"

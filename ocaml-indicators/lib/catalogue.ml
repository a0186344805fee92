type param_kind = Whole of { minimum : int } | Positive_real

type param_spec = { param_name : string; default : float; kind : param_kind }

type spec = {
  name : string;
  params : param_spec list;
  inputs : string list;
  outputs : string list;
}

let period ?(minimum = 1) default =
  { param_name = "period"; default; kind = Whole { minimum } }

let whole ?(minimum = 1) param_name default =
  { param_name; default; kind = Whole { minimum } }

let hlc = [ "high"; "low"; "close" ]

let all =
  [
    { name = "sma"; params = [ period 20. ]; inputs = [ "close" ]; outputs = [ "sma" ] };
    { name = "ema"; params = [ period 20. ]; inputs = [ "close" ]; outputs = [ "ema" ] };
    { name = "wma"; params = [ period 20. ]; inputs = [ "close" ]; outputs = [ "wma" ] };
    {
      name = "rsi";
      params = [ period ~minimum:2 14. ];
      inputs = [ "close" ];
      outputs = [ "rsi" ];
    };
    {
      name = "macd";
      params = [ whole "fast" 12.; whole "slow" 26.; whole "signal" 9. ];
      inputs = [ "close" ];
      outputs = [ "line"; "signal"; "hist" ];
    };
    {
      name = "bollinger";
      params = [ period 20.; { param_name = "k"; default = 2.0; kind = Positive_real } ];
      inputs = [ "close" ];
      outputs = [ "upper"; "middle"; "lower" ];
    };
    { name = "atr"; params = [ period 14. ]; inputs = hlc; outputs = [ "atr" ] };
    {
      name = "vwap";
      params = [ period 20. ];
      inputs = hlc @ [ "volume" ];
      outputs = [ "vwap" ];
    };
    {
      name = "vwap_session";
      params =
        [ whole "session_minutes" 1440.; whole ~minimum:0 "offset_minutes" 0. ];
      inputs = [ "time" ] @ hlc @ [ "volume" ];
      outputs = [ "vwap" ];
    };
    {
      name = "stoch";
      params = [ whole "k_period" 14.; whole "k_smooth" 3.; whole "d_period" 3. ];
      inputs = hlc;
      outputs = [ "k"; "d" ];
    };
    {
      name = "adx";
      params = [ period ~minimum:2 14. ];
      inputs = hlc;
      outputs = [ "adx"; "plus_di"; "minus_di" ];
    };
    { name = "obv"; params = []; inputs = [ "close"; "volume" ]; outputs = [ "obv" ] };
    { name = "cci"; params = [ period ~minimum:2 20. ]; inputs = hlc; outputs = [ "cci" ] };
    { name = "willr"; params = [ period 14. ]; inputs = hlc; outputs = [ "willr" ] };
    { name = "roc"; params = [ period 10. ]; inputs = [ "close" ]; outputs = [ "roc" ] };
    { name = "stddev"; params = [ period 20. ]; inputs = [ "close" ]; outputs = [ "stddev" ] };
  ]

let find name = List.find_opt (fun spec -> spec.name = name) all

let max_whole = 2147483647

let format_number x =
  if Float.is_integer x && Float.abs x < 1e15 then Printf.sprintf "%.0f" x
  else
    let short = Printf.sprintf "%.15g" x in
    if float_of_string short = x then short
    else
      let medium = Printf.sprintf "%.16g" x in
      if float_of_string medium = x then medium else Printf.sprintf "%.17g" x

let check_param spec_name (p : param_spec) value =
  let fail requirement =
    Error
      (Printf.sprintf "%s: parameter %s must be %s, got %s" spec_name
         p.param_name requirement (format_number value))
  in
  match p.kind with
  | Whole { minimum } ->
      let requirement =
        Printf.sprintf "a whole number >= %d" minimum
      in
      if not (Float.is_integer value) then fail requirement
      else if value < float_of_int minimum then fail requirement
      else if value > float_of_int max_whole then
        fail (Printf.sprintf "%s and <= %d" requirement max_whole)
      else Ok value
  | Positive_real ->
      if Float.is_finite value && value > 0.0 then Ok value
      else fail "a real number > 0"

let validate_params spec given =
  let expected = List.length spec.params in
  let count = List.length given in
  if count > expected then
    Error
      (Printf.sprintf "%s: takes %d parameter%s (%s), got %d" spec.name
         expected
         (if expected = 1 then "" else "s")
         (String.concat ", " (List.map (fun p -> p.param_name) spec.params))
         count)
  else
    let rec go specs values acc =
      match (specs, values) with
      | [], _ -> Ok (List.rev acc)
      | p :: specs, [] -> go specs [] (p.default :: acc)
      | p :: specs, v :: values -> (
          match check_param spec.name p v with
          | Ok v -> go specs values (v :: acc)
          | Error _ as e -> e)
    in
    go spec.params given []

let run spec params input =
  let int_param i = int_of_float (List.nth params i) in
  let close () = input "close" in
  let hlc () = (input "high", input "low", input "close") in
  match spec.name with
  | "sma" -> [ ("sma", Sma.compute ~period:(int_param 0) (close ())) ]
  | "ema" -> [ ("ema", Ema.compute ~period:(int_param 0) (close ())) ]
  | "wma" -> [ ("wma", Wma.compute ~period:(int_param 0) (close ())) ]
  | "rsi" -> [ ("rsi", Rsi.compute ~period:(int_param 0) (close ())) ]
  | "macd" ->
      let m =
        Macd.compute ~fast:(int_param 0) ~slow:(int_param 1)
          ~signal:(int_param 2) (close ())
      in
      [ ("line", m.line); ("signal", m.signal); ("hist", m.hist) ]
  | "bollinger" ->
      let b =
        Bollinger.compute ~period:(int_param 0) ~k:(List.nth params 1) (close ())
      in
      [ ("upper", b.upper); ("middle", b.middle); ("lower", b.lower) ]
  | "atr" ->
      let high, low, close = hlc () in
      [ ("atr", Atr.compute ~period:(int_param 0) ~high ~low ~close) ]
  | "vwap" ->
      let high, low, close = hlc () in
      [
        ( "vwap",
          Vwap.compute ~period:(int_param 0) ~high ~low ~close
            ~volume:(input "volume") );
      ]
  | "vwap_session" ->
      let high, low, close = hlc () in
      [
        ( "vwap",
          Vwap_session.compute ~session_minutes:(int_param 0)
            ~offset_minutes:(int_param 1) ~time:(input "time") ~high ~low
            ~close ~volume:(input "volume") );
      ]
  | "stoch" ->
      let high, low, close = hlc () in
      let s =
        Stoch.compute ~k_period:(int_param 0) ~k_smooth:(int_param 1)
          ~d_period:(int_param 2) ~high ~low ~close
      in
      [ ("k", s.k); ("d", s.d) ]
  | "adx" ->
      let high, low, close = hlc () in
      let a = Adx.compute ~period:(int_param 0) ~high ~low ~close in
      [ ("adx", a.adx); ("plus_di", a.plus_di); ("minus_di", a.minus_di) ]
  | "obv" -> [ ("obv", Obv.compute ~close:(close ()) ~volume:(input "volume")) ]
  | "cci" ->
      let high, low, close = hlc () in
      [ ("cci", Cci.compute ~period:(int_param 0) ~high ~low ~close) ]
  | "willr" ->
      let high, low, close = hlc () in
      [ ("willr", Willr.compute ~period:(int_param 0) ~high ~low ~close) ]
  | "roc" -> [ ("roc", Roc.compute ~period:(int_param 0) (close ())) ]
  | "stddev" -> [ ("stddev", Stddev.compute ~period:(int_param 0) (close ())) ]
  | other -> invalid_arg ("catalogue: no implementation for " ^ other)

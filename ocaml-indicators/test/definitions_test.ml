(* Hand-computed values and the special cases of docs/indicators.md
   (zero handling, warm-ups, swaps), on tiny series. *)

open Indicators

let some_list l = Array.of_list (List.map (fun x -> Some x) l)
let nones k = Array.make k None

let expect name expected actual =
  if expected <> actual then begin
    let show a =
      String.concat ", "
        (Array.to_list
           (Array.map (function None -> "None" | Some x -> Printf.sprintf "%.17g" x) a))
    in
    Printf.printf "FAIL %s\n  expected [%s]\n  got      [%s]\n" name (show expected)
      (show actual);
    exit 1
  end
  else Printf.printf "ok %s\n" name

let () =
  let x = [| 1.0; 2.0; 3.0; 4.0; 5.5 |] in
  expect "sma(2) running sum" (Array.append (nones 1) (some_list [ 1.5; 2.5; 3.5; 4.75 ]))
    (Sma.compute ~period:2 x);
  expect "ema(3): seed 2, then k = 1/2"
    (Array.append (nones 2) (some_list [ 2.0; 3.0; 4.25 ]))
    (Ema.compute ~period:3 x);
  expect "wma(2) O(1) scheme"
    (Array.append (nones 1) (some_list [ 5.0 /. 3.0; 8.0 /. 3.0; 11.0 /. 3.0; 15.0 /. 3.0 ]))
    (Wma.compute ~period:2 x);
  expect "ema longer than series is all None" (nones 5) (Ema.compute ~period:6 x);
  expect "empty input" [||] (Sma.compute ~period:3 [||]);
  (* rsi(2) of 1,2,1,1: gains 1, losses 1 over bars 1..2 -> 50; then d = 0:
     ag = al = 0.25 -> 50. *)
  expect "rsi(2) hand" (Array.append (nones 2) (some_list [ 50.0; 50.0 ]))
    (Rsi.compute ~period:2 [| 1.0; 2.0; 1.0; 1.0 |]);
  expect "rsi on a flat market is 50" (Array.append (nones 3) (some_list [ 50.0; 50.0 ]))
    (Rsi.compute ~period:3 (Array.make 5 7.0));
  expect "rsi(2) all gains is 100" (Array.append (nones 2) (some_list [ 100.0 ]))
    (Rsi.compute ~period:2 [| 1.0; 2.0; 3.0 |]);
  let closes = Array.init 60 (fun i -> 100.0 +. sin (float_of_int i)) in
  let a = Macd.compute ~fast:26 ~slow:12 ~signal:9 closes in
  let b = Macd.compute ~fast:12 ~slow:26 ~signal:9 closes in
  assert (a = b);
  print_endline "ok macd swaps fast > slow";
  assert (b.line.(24) = None && b.line.(25) <> None);
  assert (b.signal.(32) = None && b.signal.(33) <> None && b.hist.(33) <> None);
  print_endline "ok macd warm-ups";
  (* The fast EMA is fed from index slow - fast: with fast = slow - 1 = 2 and
     closes 1,2,4: fast seed (2+4)/2 = 3, slow seed 7/3. *)
  let m = Macd.compute ~fast:2 ~slow:3 ~signal:1 [| 1.0; 2.0; 4.0 |] in
  expect "macd fast EMA aligned with slow" [| None; None; Some (3.0 -. (7.0 /. 3.0)) |] m.line;
  let bb = Bollinger.compute ~period:2 ~k:2.0 [| 1.0; 3.0; 3.0 |] in
  expect "bollinger upper" [| None; Some 4.0; Some 3.0 |] bb.upper;
  expect "bollinger lower" [| None; Some 0.0; Some 3.0 |] bb.lower;
  expect "stddev(2)" [| None; Some 1.0; Some 0.0 |] (Stddev.compute ~period:2 [| 1.0; 3.0; 3.0 |]);
  let high = [| 10.0; 12.0; 11.0; 13.0 |]
  and low = [| 8.0; 9.0; 9.5; 10.0 |]
  and close = [| 9.0; 11.0; 10.0; 12.0 |] in
  (* tr: 3, 1.5, 3; atr(2) at 2 = 2.25, at 3 = (2.25 + 3) / 2 = 2.625 *)
  expect "atr(2) hand" [| None; None; Some 2.25; Some 2.625 |]
    (Atr.compute ~period:2 ~high ~low ~close);
  (* fastk(2): bar1 (11-8)/(4/100)=75, bar2 (10-9)/(3/100), bar3 (12-9.5)/(3.5/100) *)
  let s = Stoch.compute ~k_period:2 ~k_smooth:1 ~d_period:2 ~high ~low ~close in
  expect "stoch fastk" [| None; Some (3.0 /. (4.0 /. 100.0)); Some (1.0 /. (3.0 /. 100.0));
                           Some (2.5 /. (3.5 /. 100.0)) |] s.k;
  expect "stoch flat is 0" [| None; Some 0.0 |]
    (Stoch.compute ~k_period:2 ~k_smooth:1 ~d_period:1 ~high:[| 1.0; 1.0 |]
       ~low:[| 1.0; 1.0 |] ~close:[| 1.0; 1.0 |]).k;
  expect "willr(2) hand" [| None; Some ((12.0 -. 11.0) /. ((12.0 -. 8.0) /. -100.0));
                             Some ((12.0 -. 10.0) /. ((12.0 -. 9.0) /. -100.0));
                             Some ((13.0 -. 12.0) /. ((13.0 -. 9.5) /. -100.0)) |]
    (Willr.compute ~period:2 ~high ~low ~close);
  expect "willr flat is 0" [| Some 0.0 |]
    (Willr.compute ~period:1 ~high:[| 2.0 |] ~low:[| 2.0 |] ~close:[| 2.0 |]);
  expect "cci flat is 0" [| None; Some 0.0; Some 0.0 |]
    (Cci.compute ~period:2 ~high:(Array.make 3 5.0) ~low:(Array.make 3 4.0)
       ~close:(Array.make 3 4.5));
  (* tp 3 and 6: mean 4.5, md 3, cci = 1.5 / (0.015 * 1.5) *)
  expect "cci(2) hand" [| None; Some (1.5 /. (0.015 *. (3.0 /. 2.0))) |]
    (Cci.compute ~period:2 ~high:[| 3.0; 6.0 |] ~low:[| 3.0; 6.0 |] ~close:[| 3.0; 6.0 |]);
  expect "roc(1) with zero base is 0" [| None; Some 0.0; Some 100.0 |]
    (Roc.compute ~period:1 [| 0.0; 2.0; 4.0 |]);
  expect "obv starts at volume[0]" (some_list [ 5.0; 12.0; 12.0; 9.0 ])
    (Obv.compute ~close:[| 1.0; 2.0; 2.0; 1.0 |] ~volume:[| 5.0; 7.0; 1.0; 3.0 |]);
  expect "vwap empty while window volume is 0" [| None; None; Some 2.0 |]
    (Vwap.compute ~period:2 ~high:(Array.make 3 2.0) ~low:(Array.make 3 2.0)
       ~close:(Array.make 3 2.0) ~volume:[| 0.0; 0.0; 1.0 |]);
  assert (Vwap_session.session_of ~session_minutes:1440 ~offset_minutes:0 (-1) = -1);
  assert (Vwap_session.session_of ~session_minutes:1440 ~offset_minutes:0 0 = 0);
  assert (Vwap_session.session_of ~session_minutes:60 ~offset_minutes:30 (30 * 60000) = 0);
  assert (Vwap_session.session_of ~session_minutes:60 ~offset_minutes:30 (30 * 60000 - 1) = -1);
  print_endline "ok vwap_session floor division";
  let hour = 3_600_000.0 in
  (* sessions of 2 hours: bars at -1h (session -1), 0h and 1h (session 0), 2h (1) *)
  expect "vwap_session restarts at a session change"
    [| Some 1.0; Some 2.0; Some ((2.0 *. 1.0 +. 4.0 *. 3.0) /. 4.0); None |]
    (Vwap_session.compute ~session_minutes:120 ~offset_minutes:0
       ~time:[| -.hour; 0.0; hour; 2.0 *. hour |]
       ~high:[| 1.0; 2.0; 4.0; 5.0 |] ~low:[| 1.0; 2.0; 4.0; 5.0 |]
       ~close:[| 1.0; 2.0; 4.0; 5.0 |] ~volume:[| 1.0; 1.0; 3.0; 0.0 |]);
  let a = Adx.compute ~period:2 ~high ~low ~close in
  assert (a.plus_di.(1) = None && a.plus_di.(2) <> None);
  assert (a.adx.(2) = None && a.adx.(3) <> None);
  (* bar1: up 2, down -1 -> +DM 2, tr 3; bar2: up -1, down -0.5 -> none, tr 1.5;
     P = 2 - 1 + 0 = 1, T = 3 - 1.5 + 1.5 = 3 -> +DI 100/3, -DI 0, dx 100;
     bar3: up 2, down -0.5 -> +DM 2, tr 3: P = 1 - 0.5 + 2 = 2.5,
     T = 3 - 1.5 + 3 = 4.5, M = 0 -> dx 100; adx = (100 + 100) / 2. *)
  expect "adx(2) plus_di hand" [| None; None; Some (100.0 *. (1.0 /. 3.0)); Some (100.0 *. (2.5 /. 4.5)) |]
    a.plus_di;
  expect "adx(2) adx hand" [| None; None; None; Some 100.0 |] a.adx;
  print_endline "definitions_test: all checks passed"

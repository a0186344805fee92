(* The Gaussian HMM (docs/regime.md): hand-checkable cases, brute force over
   all paths on a tiny model, EM properties on data sampled here from a known
   model, long series, and the sidecar methods (docs/sidecar-protocol.md). *)

open Indicators

let close ?(rel = 1e-12) a b = Float.abs (a -. b) <= rel *. Float.max 1.0 (Float.abs b)

let check name cond =
  if not cond then begin
    Printf.printf "FAIL %s\n" name;
    exit 1
  end;
  Printf.printf "ok %s\n" name

(* ---- a reproducible PRNG (not Random: its sequence is not ours to fix) ---- *)

(* 64-bit LCG (Knuth's MMIX constants); the top 53 bits give a uniform in
   (0, 1). *)
let lcg seed =
  let state = ref seed in
  fun () ->
    state := Int64.add (Int64.mul !state 6364136223846793005L) 1442695040888963407L;
    (Int64.to_float (Int64.shift_right_logical !state 11) +. 0.5) /. 9007199254740992.0

(* Box-Muller; the second value of each pair is dropped for simplicity. *)
let gaussian uniform () =
  let u1 = uniform () and u2 = uniform () in
  sqrt (-2.0 *. log u1) *. cos (2.0 *. Float.pi *. u2)

let pick uniform probs =
  let u = uniform () in
  let n = Array.length probs in
  let rec go i acc =
    (* Tail-recursive over states, not over time. *)
    if i = n - 1 then i else if u < acc +. probs.(i) then i else go (i + 1) (acc +. probs.(i))
  in
  go 0 0.0

(* Samples T observations and their hidden states from a model. *)
let sample (m : Hmm.model) ~seed tt =
  let uniform = lcg seed in
  let normal = gaussian uniform in
  let states = Array.make tt 0 in
  let obs =
    Array.init tt (fun t ->
        let s = if t = 0 then pick uniform m.start else pick uniform m.trans.(states.(t - 1)) in
        states.(t) <- s;
        Array.mapi (fun d mu -> mu +. (sqrt m.vars.(s).(d) *. normal ())) m.means.(s))
  in
  (obs, states)

let raises_invalid f =
  match f () with
  | _ -> None
  | exception Invalid_argument message -> Some message

(* ---- hand-checkable cases ------------------------------------------------ *)

let one_state () =
  let m : Hmm.model =
    { start = [| 1.0 |]; trans = [| [| 1.0 |] |]; means = [| [| 0.5; -2.0 |] |];
      vars = [| [| 2.0; 0.25 |] |] }
  in
  let obs, _ = sample m ~seed:1L 50 in
  let f = Hmm.forward m obs in
  check "N=1: alpha all exactly 1" (Array.for_all (Array.for_all (fun a -> a = 1.0)) f.alpha);
  (* Independently: sum of univariate normal log-densities. *)
  let expected = ref 0.0 in
  Array.iter
    (fun x ->
      Array.iteri
        (fun d xd ->
          let mu = m.means.(0).(d) and v = m.vars.(0).(d) in
          expected :=
            !expected -. (0.5 *. log (2.0 *. Float.pi)) -. (0.5 *. log v)
            -. ((xd -. mu) ** 2.0 /. (2.0 *. v)))
        x)
    obs;
  check "N=1: loglik = sum of Gaussian log-densities" (close ~rel:1e-12 f.loglik !expected);
  check "N=1: loglik function agrees" (Hmm.loglik m obs = f.loglik);
  check "N=1: beta all 1" (Array.for_all (Array.for_all (fun b -> b = 1.0)) (Hmm.backward m obs))

let separated : Hmm.model =
  {
    start = [| 0.5; 0.5 |];
    trans = [| [| 0.9; 0.1 |]; [| 0.2; 0.8 |] |];
    means = [| [| 0.0 |]; [| 10.0 |] |];
    vars = [| [| 1.0 |]; [| 1.0 |] |];
  }

let two_states () =
  let obs = Array.map (fun x -> [| x |]) [| 0.1; -0.3; 9.7; 10.4; 10.1; 0.2; -0.5; 11.0 |] in
  check "viterbi follows well-separated means"
    (Hmm.viterbi separated obs = [| 0; 0; 1; 1; 1; 0; 0; 1 |]);
  let beta = Hmm.backward separated obs in
  check "backward: last row all 1" (beta.(Array.length beta - 1) = [| 1.0; 1.0 |]);
  let gamma = Hmm.posteriors separated obs in
  check "gamma rows sum to 1 within 1e-12"
    (Array.for_all (fun row -> Float.abs (row.(0) +. row.(1) -. 1.0) <= 1e-12) gamma);
  check "gamma picks the obvious state"
    (Array.for_all2 (fun row s -> row.(s) > 0.99) gamma [| 0; 0; 1; 1; 1; 0; 0; 1 |]);
  let f = Hmm.forward separated obs in
  check "alpha rows sum to 1"
    (Array.for_all (fun row -> Float.abs (row.(0) +. row.(1) -. 1.0) <= 1e-15) f.alpha);
  check "max_log is the row max of log_emissions"
    (Array.for_all2 (fun m row -> m = Float.max row.(0) row.(1)) f.max_log
       (Hmm.log_emissions separated obs))

(* All N^T paths of a tiny model: likelihood, state marginals, best path. *)
let brute_force () =
  let m : Hmm.model =
    {
      start = [| 0.6; 0.3; 0.1 |];
      trans = [| [| 0.7; 0.2; 0.1 |]; [| 0.3; 0.4; 0.3 |]; [| 0.25; 0.25; 0.5 |] |];
      means = [| [| 0.0; 1.0 |]; [| 1.0; 0.0 |]; [| 2.0; 2.0 |] |];
      vars = [| [| 1.0; 0.5 |]; [| 0.7; 1.2 |]; [| 2.0; 1.0 |] |];
    }
  in
  let obs = [| [| 0.3; 0.8 |]; [| 1.5; 0.2 |]; [| 2.2; 1.9 |]; [| 0.9; 0.4 |] |] in
  let n = 3 and tt = 4 in
  let density s x =
    let p = ref 1.0 in
    Array.iteri
      (fun d xd ->
        let v = m.vars.(s).(d) in
        p := !p *. exp (-.((xd -. m.means.(s).(d)) ** 2.0) /. (2.0 *. v)) /. sqrt (2.0 *. Float.pi *. v))
      x;
    !p
  in
  let total = ref 0.0 and marg = Array.make_matrix tt n 0.0 and pairs = Array.make_matrix n n 0.0 in
  let best = ref (-1.0) and best_path = ref [||] in
  for code = 0 to (n * n * n * n) - 1 do
    let path = Array.init tt (fun t -> code / int_of_float (3.0 ** float_of_int t) mod 3) in
    let p = ref (m.start.(path.(0)) *. density path.(0) obs.(0)) in
    for t = 1 to tt - 1 do
      p := !p *. m.trans.(path.(t - 1)).(path.(t)) *. density path.(t) obs.(t)
    done;
    total := !total +. !p;
    Array.iteri (fun t s -> marg.(t).(s) <- marg.(t).(s) +. !p) path;
    for t = 1 to tt - 1 do
      pairs.(path.(t - 1)).(path.(t)) <- pairs.(path.(t - 1)).(path.(t)) +. !p
    done;
    if !p > !best then begin
      best := !p;
      best_path := path
    end
  done;
  check "brute force: loglik" (close ~rel:1e-12 (Hmm.loglik m obs) (log !total));
  let gamma = Hmm.posteriors m obs in
  check "brute force: posteriors"
    (Array.for_all2 (Array.for_all2 (fun g p -> Float.abs (g -. (p /. !total)) <= 1e-12)) gamma marg);
  check "brute force: viterbi" (Hmm.viterbi m obs = !best_path);
  (* EM re-estimates from expected counts: transitions from pairs of
     consecutive states, means from state marginals. *)
  let next, ll = Hmm.em_step ~floor:1e-6 m obs in
  check "brute force: em_step reports the input loglik" (close ll (log !total));
  let near a b = Float.abs (a -. b) <= 1e-12 in
  check "brute force: em_step start" (Array.for_all2 (fun s p -> near s (p /. !total)) next.start marg.(0));
  check "brute force: em_step trans"
    (Array.for_all2
       (fun row counts ->
         let out = Array.fold_left ( +. ) 0.0 counts in
         Array.for_all2 (fun p c -> near p (c /. out)) row counts)
       next.trans pairs);
  check "brute force: em_step means and vars"
    (List.for_all
       (fun i ->
         let w = ref 0.0 and mx = ref 0.0 and my = ref 0.0 in
         Array.iteri (fun t x -> let g = marg.(t).(i) /. !total in
                       w := !w +. g; mx := !mx +. (g *. x.(0)); my := !my +. (g *. x.(1))) obs;
         let mx = !mx /. !w and my = !my /. !w in
         let vx = ref 0.0 in
         Array.iteri (fun t x -> vx := !vx +. (marg.(t).(i) /. !total *. ((x.(0) -. mx) ** 2.0))) obs;
         near next.means.(i).(0) mx && near next.means.(i).(1) my && near next.vars.(i).(0) (!vx /. !w))
       [ 0; 1; 2 ]);
  (* Filtered alpha at t = 0 by hand: start * density, normalised. *)
  let a0 = Array.init n (fun s -> m.start.(s) *. density s obs.(0)) in
  let c0 = a0.(0) +. a0.(1) +. a0.(2) in
  check "brute force: alpha at t = 0"
    (Array.for_all2 (fun a e -> Float.abs (a -. (e /. c0)) <= 1e-12) (Hmm.forward m obs).alpha.(0) a0)

let ties_and_zeros () =
  (* Two identical states: every delta ties, so the path is all 0. *)
  let twins : Hmm.model =
    { start = [| 0.5; 0.5 |]; trans = [| [| 0.5; 0.5 |]; [| 0.5; 0.5 |] |];
      means = [| [| 1.0 |]; [| 1.0 |] |]; vars = [| [| 1.0 |]; [| 1.0 |] |] }
  in
  check "viterbi ties go to the lowest state"
    (Hmm.viterbi twins [| [| 0.0 |]; [| 3.0 |]; [| -1.0 |] |] = [| 0; 0; 0 |]);
  (* Forbidden transitions (ln 0 = -inf) are never taken. *)
  let absorbing : Hmm.model =
    { separated with start = [| 1.0; 0.0 |]; trans = [| [| 0.5; 0.5 |]; [| 0.0; 1.0 |] |] }
  in
  check "viterbi respects zero transitions"
    (Hmm.viterbi absorbing [| [| 10.0 |]; [| 10.0 |]; [| 0.0 |]; [| 10.0 |] |] = [| 0; 1; 1; 1 |]);
  (* An observation the model cannot produce: an exception, not -inf. *)
  let stuck : Hmm.model =
    { start = [| 1.0; 0.0 |]; trans = [| [| 1.0; 0.0 |]; [| 0.0; 1.0 |] |];
      means = [| [| 0.0 |]; [| 1000.0 |] |]; vars = [| [| 1e-4 |]; [| 1.0 |] |] }
  in
  let zero f = match f () with _ -> false | exception Hmm.Zero_likelihood t -> t = 1 in
  let obs = [| [| 0.0 |]; [| 1000.0 |] |] in
  check "zero likelihood: forward raises" (zero (fun () -> Hmm.loglik stuck obs));
  (* In log space the same path is merely very unlikely (about -5e9). *)
  check "zero likelihood: viterbi still finds the only path" (Hmm.viterbi stuck obs = [| 0; 0 |]);
  (* (x - mu)^2 overflows: -inf log-density in every state. *)
  let huge = [| [| 0.0 |]; [| 1e200 |] |] in
  check "overflowing density: viterbi raises" (zero (fun () -> Hmm.viterbi separated huge));
  check "overflowing density: forward raises" (zero (fun () -> Hmm.forward separated huge));
  check "zero likelihood: em_step raises" (zero (fun () -> Hmm.em_step ~floor:1e-6 stuck obs))

let validation () =
  let obs = [| [| 1.0 |] |] in
  let m = separated in
  let expect name f fragment =
    match raises_invalid f with
    | Some message ->
        let found =
          let lm = String.length message and lf = String.length fragment in
          let rec scan k = k + lf <= lm && (String.sub message k lf = fragment || scan (k + 1)) in
          scan 0
        in
        if not found then Printf.printf "message %S lacks %S\n" message fragment;
        check name found
    | None -> check name false
  in
  expect "rejects trans row not summing to 1"
    (fun () -> Hmm.loglik { m with trans = [| [| 0.9; 0.1 |]; [| 0.2; 0.7 |] |] } obs)
    "model.trans row 1 sums to 0.9, expected 1";
  expect "rejects negative start" (fun () -> Hmm.loglik { m with start = [| 1.5; -0.5 |] } obs)
    "model.start[1] is negative";
  expect "rejects zero variance" (fun () -> Hmm.loglik { m with vars = [| [| 1.0 |]; [| 0.0 |] |] } obs)
    "model.vars[1][0]";
  expect "rejects NaN mean" (fun () -> Hmm.loglik { m with means = [| [| 1.0 |]; [| Float.nan |] |] } obs)
    "model.means[1][0] is not finite";
  expect "rejects ragged means" (fun () -> Hmm.loglik { m with means = [| [| 1.0 |]; [| 1.0; 2.0 |] |] } obs)
    "model.means row 1 has 2 values, expected 1";
  expect "rejects wrong trans shape" (fun () -> Hmm.loglik { m with trans = [| [| 1.0 |] |] } obs)
    "model.trans has 1 rows, expected 2";
  expect "rejects N = 0"
    (fun () -> Hmm.loglik { start = [||]; trans = [||]; means = [||]; vars = [||] } obs)
    "at least one state";
  expect "rejects D = 0"
    (fun () -> Hmm.loglik { m with means = [| [||]; [||] |]; vars = [| [||]; [||] |] } [| [||] |])
    "at least one feature";
  expect "rejects T = 0" (fun () -> Hmm.viterbi m [||]) "observations are empty";
  expect "rejects short observation row" (fun () -> Hmm.loglik m [| [| 1.0 |]; [||] |])
    "observations row 1 has 0 values, expected 1";
  expect "rejects infinite observation" (fun () -> Hmm.backward m [| [| Float.infinity |] |])
    "observations[0][0] is not finite";
  expect "rejects floor 0" (fun () -> Hmm.em_step ~floor:0.0 m obs) "floor must be finite and > 0"

(* ---- EM on sampled data -------------------------------------------------- *)

let true_model : Hmm.model =
  {
    start = [| 0.2; 0.5; 0.3 |];
    trans = [| [| 0.95; 0.04; 0.01 |]; [| 0.03; 0.94; 0.03 |]; [| 0.02; 0.03; 0.95 |] |];
    means = [| [| 1.0; 0.5 |]; [| 0.0; -0.2 |]; [| -1.0; 0.6 |] |];
    vars = [| [| 0.3; 0.5 |]; [| 0.2; 0.4 |]; [| 0.4; 0.6 |] |];
  }

let stochastic row = Array.for_all (fun p -> p >= 0.0) row && Float.abs (Array.fold_left ( +. ) 0.0 row -. 1.0) <= 1e-9

let em () =
  let obs, _ = sample true_model ~seed:42L 5000 in
  let init : Hmm.model =
    {
      start = [| 1.0 /. 3.0; 1.0 /. 3.0; 1.0 /. 3.0 |];
      trans = Array.init 3 (fun i -> Array.init 3 (fun j -> if i = j then 0.8 else 0.1));
      means = [| [| 0.5; 0.0 |]; [| 0.1; 0.1 |]; [| -0.5; 0.2 |] |];
      vars = Array.make_matrix 3 2 1.0;
    }
  in
  let floor = 1e-3 in
  let model = ref init and previous = ref Float.neg_infinity in
  let monotone = ref true and valid = ref true in
  for _ = 1 to 30 do
    let next, ll = Hmm.em_step ~floor !model obs in
    if not (Float.is_finite ll && ll >= !previous -. (1e-9 *. Float.abs ll)) then begin
      Printf.printf "loglik went from %.17g to %.17g\n" !previous ll;
      monotone := false
    end;
    if not (stochastic next.start && Array.for_all stochastic next.trans
            && Array.for_all (Array.for_all (fun v -> v >= floor)) next.vars) then valid := false;
    previous := ll;
    model := next
  done;
  check "EM: loglik never decreases over 30 iterations" !monotone;
  check "EM: start and trans stay stochastic, vars >= floor" !valid;
  check "EM: final model valid for the next step" (Hmm.validate_model !model = ());
  check "EM: fitted loglik beats the initial one" (Hmm.loglik !model obs > Hmm.loglik init obs +. 100.0);
  let err = ref 0.0 in
  Array.iteri
    (fun i row -> Array.iteri (fun d mu -> err := Float.max !err (Float.abs (mu -. true_model.means.(i).(d)))) row)
    !model.means;
  Printf.printf "   largest mean error after 30 iterations: %.4f\n" !err;
  check "EM: fitted means within 0.1 of the true ones" (!err < 0.1);
  (* The variance floor binds: constant data collapses the variance. *)
  let flat = Array.make 20 [| 3.0 |] in
  let one : Hmm.model = { start = [| 1.0 |]; trans = [| [| 1.0 |] |]; means = [| [| 0.0 |] |]; vars = [| [| 1.0 |] |] } in
  let fitted, _ = Hmm.em_step ~floor:1e-6 one flat in
  check "EM: constant data gives mean 3 and the floor as variance"
    (fitted.means.(0).(0) = 3.0 && fitted.vars.(0).(0) = 1e-6);
  (* T = 1: no transition has weight, so trans stays as it was. *)
  let single, _ = Hmm.em_step ~floor:1e-6 separated [| [| 10.0 |] |] in
  check "EM: T = 1 keeps trans" (single.trans = separated.trans);
  (* A state with no weight at all keeps its means and variances. *)
  let dead : Hmm.model =
    { separated with start = [| 1.0; 0.0 |]; trans = [| [| 1.0; 0.0 |]; [| 0.5; 0.5 |] |] }
  in
  let kept, _ = Hmm.em_step ~floor:1e-6 dead [| [| 0.1 |]; [| 0.2 |] |] in
  check "EM: unweighted state keeps its parameters"
    (kept.means.(1) = [| 10.0 |] && kept.vars.(1) = [| 1.0 |] && kept.trans.(1) = [| 0.5; 0.5 |])

let long_series () =
  let obs, states = sample true_model ~seed:7L 100_000 in
  let ll = Hmm.loglik true_model obs in
  check "100,000 observations: finite loglik" (Float.is_finite ll && ll < 0.0);
  let _, ll_em = Hmm.em_step ~floor:1e-6 true_model obs in
  check "100,000 observations: em_step reports the same loglik" (ll_em = ll);
  let path = Hmm.viterbi true_model obs in
  let agree = ref 0 in
  Array.iteri (fun t s -> if s = states.(t) then incr agree) path;
  let share = float_of_int !agree /. 100_000.0 in
  Printf.printf "   viterbi recovers %.1f%% of the true states\n" (100.0 *. share);
  check "100,000 observations: viterbi mostly recovers the true states" (share > 0.8)

(* ---- the sidecar methods ------------------------------------------------- *)

let respond line =
  match Protocol.handle_line line with
  | Some text ->
      assert (not (String.contains text '\n'));
      Yojson.Safe.from_string text
  | None -> failwith ("no response to " ^ line)

let member = Yojson.Safe.Util.member

let result line =
  match member "result" (respond line) with
  | `Null -> failwith ("no result: " ^ Yojson.Safe.to_string (respond line))
  | r -> r

let expect_error ~code ?fragment line =
  let response = respond line in
  let error = member "error" response in
  let message = match member "message" error with `String m -> m | _ -> "" in
  let has fragment =
    let lm = String.length message and lf = String.length fragment in
    let rec scan k = k + lf <= lm && (String.sub message k lf = fragment || scan (k + 1)) in
    scan 0
  in
  let ok =
    member "id" response = `Int 5 && member "code" error = `String code
    && match fragment with None -> true | Some f -> has f
  in
  if not ok then Printf.printf "got %s\n" (Yojson.Safe.to_string response);
  check (Printf.sprintf "%s: %s" code (String.sub message 0 (min 70 (String.length message)))) ok

let floats json = Array.of_list (List.map Yojson.Safe.Util.to_number (Yojson.Safe.Util.to_list json))
let rows json = Array.of_list (List.map floats (Yojson.Safe.Util.to_list json))

let json_of_model (m : Hmm.model) =
  let vector a = `List (Array.to_list (Array.map (fun x -> `Float x) a)) in
  let matrix a = `List (Array.to_list (Array.map vector a)) in
  Yojson.Safe.to_string
    (`Assoc [ ("start", vector m.start); ("trans", matrix m.trans); ("means", matrix m.means); ("vars", matrix m.vars) ])

let request ?(extra = "") meth model obs =
  Printf.sprintf {|{"id": 5, "method": "%s", "params": {"model": %s, "observations": %s%s}}|} meth model obs extra

let model_of_json json : Hmm.model =
  { start = floats (member "start" json); trans = rows (member "trans" json);
    means = rows (member "means" json); vars = rows (member "vars" json) }

let protocol () =
  let model = json_of_model true_model in
  let data, _ = sample true_model ~seed:3L 200 in
  let obs_json =
    Yojson.Safe.to_string
      (`List (Array.to_list (Array.map (fun r -> `List (Array.to_list (Array.map (fun x -> `Float x) r))) data)))
  in
  let obs_f64 = Printf.sprintf {|{"f64le": "%s", "dims": 2}|} (F64_base64.encode (Array.concat (Array.to_list data))) in
  (* Each method: the library's values exactly (floats round-trip). *)
  let f = Hmm.forward true_model data in
  let r = result (request "hmm_forward" model obs_json) in
  check "hmm_forward: alpha and loglik exact"
    (rows (member "alpha" r) = f.alpha && Yojson.Safe.Util.to_number (member "loglik" r) = f.loglik);
  check "hmm_forward: f64le observations give the same result" (result (request "hmm_forward" model obs_f64) = r);
  check "hmm_backward: beta exact"
    (rows (member "beta" (result (request "hmm_backward" model obs_f64))) = Hmm.backward true_model data);
  let path = member "path" (result (request "hmm_viterbi" model obs_json)) in
  check "hmm_viterbi: path exact"
    (Array.of_list (List.map Yojson.Safe.Util.to_int (Yojson.Safe.Util.to_list path)) = Hmm.viterbi true_model data);
  check "hmm_loglik: exact"
    (member "loglik" (result (request "hmm_loglik" model obs_json)) = `Float f.loglik);
  let expected, ll = Hmm.em_step ~floor:Hmm.default_floor true_model data in
  let r = result (request "hmm_em_step" model obs_json) in
  check "hmm_em_step: model and input loglik exact (default floor)"
    (model_of_json (member "model" r) = expected && member "loglik" r = `Float ll);
  (* Iterating through the protocol is iterating in the library. *)
  let r2 = result (request "hmm_em_step" (Yojson.Safe.to_string (member "model" r)) obs_f64) in
  check "hmm_em_step: second step from the returned model"
    (model_of_json (member "model" r2) = fst (Hmm.em_step ~floor:1e-6 expected data));
  let tiny = {|[[0.0], [0.0], [0.0]]|} in
  let one = {|{"start": [1], "trans": [[1]], "means": [[0]], "vars": [[1]]}|} in
  let floored = result (request ~extra:{|, "floor": 0.5|} "hmm_em_step" one tiny) in
  check "hmm_em_step: floor applies" (member "vars" (member "model" floored) = `List [ `List [ `Float 0.5 ] ]);
  (* Bad requests. *)
  let two = {|{"start": [0.5, 0.5], "trans": [[0.9, 0.1], [0.2, 0.8]], "means": [[0], [10]], "vars": [[1], [1]]}|} in
  let obs = {|[[0.1], [9.9]]|} in
  expect_error ~code:"bad_params" ~fragment:"hmm_em_step: model.trans row 1 sums to 0.9, expected 1"
    (request "hmm_em_step" {|{"start": [0.5, 0.5], "trans": [[0.9, 0.1], [0.2, 0.7]], "means": [[0], [10]], "vars": [[1], [1]]}|} obs);
  expect_error ~code:"bad_params" ~fragment:"model.trans has 1 rows, expected 2"
    (request "hmm_forward" {|{"start": [0.5, 0.5], "trans": [[1, 0]], "means": [[0], [10]], "vars": [[1], [1]]}|} obs);
  expect_error ~code:"bad_params" ~fragment:"model.vars row 1 has 2 values, expected 1"
    (request "hmm_backward" {|{"start": [0.5, 0.5], "trans": [[1, 0], [0, 1]], "means": [[0], [10]], "vars": [[1], [1, 2]]}|} obs);
  expect_error ~code:"bad_params" ~fragment:"model.vars[0][0] must be finite and > 0"
    (request "hmm_loglik" {|{"start": [1], "trans": [[1]], "means": [[0]], "vars": [[-1]]}|} obs);
  expect_error ~code:"bad_params" ~fragment:"model.means[1][0] must be a number, got a string"
    (request "hmm_viterbi" {|{"start": [0.5, 0.5], "trans": [[1, 0], [0, 1]], "means": [[0], ["a"]], "vars": [[1], [1]]}|} obs);
  expect_error ~code:"bad_params" ~fragment:"model.vars missing"
    (request "hmm_viterbi" {|{"start": [1], "trans": [[1]], "means": [[0]]}|} obs);
  expect_error ~code:"bad_params" ~fragment:"params.model missing"
    {|{"id": 5, "method": "hmm_loglik", "params": {"observations": [[1]]}}|};
  expect_error ~code:"bad_params" ~fragment:"floor must be finite and > 0"
    (request ~extra:{|, "floor": 0|} "hmm_em_step" two obs);
  expect_error ~code:"bad_params" ~fragment:"floor must be a number"
    (request ~extra:{|, "floor": "big"|} "hmm_em_step" two obs);
  expect_error ~code:"invalid_request" ~fragment:"hmm_forward: params missing"
    {|{"id": 5, "method": "hmm_forward"}|};
  expect_error ~code:"bad_inputs" ~fragment:"observations row 1 has 2 values, expected 1"
    (request "hmm_forward" two {|[[0.1], [9.9, 1]]|});
  expect_error ~code:"bad_inputs" ~fragment:"observations[1][0] must be a number, got a string"
    (request "hmm_forward" two {|[[0.1], ["x"]]|});
  expect_error ~code:"bad_inputs" ~fragment:"observations[0] must be an array of numbers, got a number"
    (request "hmm_forward" two {|[0.1, 9.9]|});
  expect_error ~code:"bad_inputs" ~fragment:"observations[0][0] is not finite"
    (request "hmm_forward" two {|[[NaN]]|});
  expect_error ~code:"bad_inputs" ~fragment:"observations are empty" (request "hmm_viterbi" two "[]");
  expect_error ~code:"bad_inputs" ~fragment:"params.observations missing"
    (Printf.sprintf {|{"id": 5, "method": "hmm_loglik", "params": {"model": %s}}|} two);
  expect_error ~code:"bad_inputs" ~fragment:"holds 3 doubles, not a multiple of dims = 2"
    (request "hmm_loglik" model (Printf.sprintf {|{"f64le": "%s", "dims": 2}|} (F64_base64.encode [| 1.0; 2.0; 3.0 |])));
  expect_error ~code:"bad_inputs" ~fragment:"observations row 0 has 2 values, expected 1"
    (request "hmm_loglik" two (Printf.sprintf {|{"f64le": "%s", "dims": 2}|} (F64_base64.encode [| 1.0; 2.0 |])));
  expect_error ~code:"bad_inputs" ~fragment:"observations.f64le"
    (request "hmm_loglik" two {|{"f64le": "AAAA", "dims": 1}|});
  expect_error ~code:"bad_inputs" ~fragment:"observations.dims must be >= 1"
    (request "hmm_loglik" two {|{"f64le": "", "dims": 0}|});
  expect_error ~code:"bad_inputs" ~fragment:"\"dims\""
    (request "hmm_loglik" two (Printf.sprintf {|{"f64le": "%s"}|} (F64_base64.encode [| 1.0 |])));
  (* Impossible observation: an error, never -infinity in the output. *)
  let stuck = {|{"start": [1, 0], "trans": [[1, 0], [0, 1]], "means": [[0], [1000]], "vars": [[1e-4], [1]]}|} in
  List.iter
    (fun meth ->
      expect_error ~code:"bad_inputs" ~fragment:"observation 1 has likelihood 0"
        (request meth stuck {|[[0], [1000]]|}))
    [ "hmm_forward"; "hmm_backward"; "hmm_em_step"; "hmm_loglik" ];
  expect_error ~code:"bad_inputs" ~fragment:"likelihood 0" (request "hmm_viterbi" two {|[[0], [1e200]]|});
  expect_error ~code:"unknown_method" ~fragment:"hmm_em_step, hmm_loglik" {|{"id": 5, "method": "hmm_fit"}|}

let () =
  one_state ();
  two_states ();
  brute_force ();
  ties_and_zeros ();
  validation ();
  em ();
  long_series ();
  protocol ();
  print_endline "hmm_test: all checks passed"

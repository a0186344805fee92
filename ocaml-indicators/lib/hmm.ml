(* Gaussian HMM, docs/regime.md. Every sum below runs in the order the
   document gives and starts from 0.0, and every product is evaluated left to
   right as written there: the Rust implementation does the same, and the two
   are compared to 1e-9 relative after each EM iteration. *)

type model = {
  start : float array;
  trans : float array array;
  means : float array array;
  vars : float array array;
}

type observations = float array array

exception Zero_likelihood of int

let invalid fmt = Printf.ksprintf invalid_arg fmt

(* ---- validation ---------------------------------------------------------- *)

let check_finite name a =
  Array.iteri
    (fun k x -> if not (Float.is_finite x) then invalid "%s[%d] is not finite (%g)" name k x)
    a

(* Sums in index order, like every other sum here. *)
let sum a =
  let s = ref 0.0 in
  Array.iter (fun x -> s := !s +. x) a;
  !s

let check_distribution name a =
  check_finite name a;
  Array.iteri (fun k x -> if x < 0.0 then invalid "%s[%d] is negative (%g)" name k x) a;
  let s = sum a in
  if Float.abs (s -. 1.0) > 1e-6 then invalid "%s sums to %.12g, expected 1" name s

let check_matrix name a ~rows ~cols =
  if Array.length a <> rows then
    invalid "model.%s has %d rows, expected %d (one per state)" name (Array.length a) rows;
  Array.iteri
    (fun i row ->
      if Array.length row <> cols then
        invalid "model.%s row %d has %d values, expected %d" name i (Array.length row) cols)
    a

let validate_model m =
  let n = Array.length m.start in
  if n < 1 then invalid "model.start is empty: a model needs at least one state";
  check_matrix "trans" m.trans ~rows:n ~cols:n;
  if Array.length m.means <> n then
    invalid "model.means has %d rows, expected %d (one per state)" (Array.length m.means) n;
  let d = Array.length m.means.(0) in
  if d < 1 then invalid "model.means row 0 is empty: a model needs at least one feature";
  check_matrix "means" m.means ~rows:n ~cols:d;
  check_matrix "vars" m.vars ~rows:n ~cols:d;
  check_distribution "model.start" m.start;
  Array.iteri
    (fun i row ->
      let name = Printf.sprintf "model.trans row %d" i in
      check_finite name row;
      Array.iteri (fun j x -> if x < 0.0 then invalid "%s[%d] is negative (%g)" name j x) row;
      let s = sum row in
      if Float.abs (s -. 1.0) > 1e-6 then invalid "%s sums to %.12g, expected 1" name s)
    m.trans;
  Array.iteri (fun i row -> check_finite (Printf.sprintf "model.means[%d]" i) row) m.means;
  Array.iteri
    (fun i row ->
      Array.iteri
        (fun d v ->
          if not (Float.is_finite v && v > 0.0) then
            invalid "model.vars[%d][%d] must be finite and > 0, got %g" i d v)
        row)
    m.vars

let validate_observations ~dims obs =
  if Array.length obs < 1 then invalid "observations are empty: need at least one";
  Array.iteri
    (fun t row ->
      if Array.length row <> dims then
        invalid "observations row %d has %d values, expected %d (the model's features)" t
          (Array.length row) dims;
      check_finite (Printf.sprintf "observations[%d]" t) row)
    obs

let validate m obs =
  validate_model m;
  validate_observations ~dims:(Array.length m.means.(0)) obs

(* ---- passes on validated arguments ---------------------------------------- *)

let two_pi = 2.0 *. Float.pi

let log_emissions_unchecked m obs =
  let n = Array.length m.start in
  (* Per model, as docs/regime.md states: ln(2 pi v) and 1 / v. *)
  let lnorm = Array.map (Array.map (fun v -> log (two_pi *. v))) m.vars
  and ivar = Array.map (Array.map (fun v -> 1.0 /. v)) m.vars in
  Array.map
    (fun x ->
      Array.init n (fun j ->
          let mu = m.means.(j) and ln = lnorm.(j) and iv = ivar.(j) in
          let acc = ref 0.0 in
          for d = 0 to Array.length x - 1 do
            let diff = x.(d) -. mu.(d) in
            acc := !acc +. (ln.(d) +. (diff *. diff *. iv.(d)))
          done;
          -0.5 *. !acc))
    obs

type forward = {
  alpha : float array array;
  scale : float array;
  max_log : float array;
  loglik : float;
}

(* b[t][j] = exp(log_b[t][j] - m_t): the emissions scaled so that the largest
   is exactly 1, which keeps a[t] away from underflow. *)
let scaled_emissions log_b max_log =
  Array.mapi (fun t row -> Array.map (fun l -> exp (l -. max_log.(t))) row) log_b

let row_max row =
  let best = ref row.(0) in
  for j = 1 to Array.length row - 1 do
    if row.(j) > !best then best := row.(j)
  done;
  !best

(* Returns the forward result and the scaled emissions, which the backward
   pass and EM reuse rather than recompute. *)
let forward_unchecked m log_b =
  let tt = Array.length log_b and n = Array.length m.start in
  let max_log = Array.map row_max log_b in
  Array.iteri (fun t mt -> if mt = Float.neg_infinity then raise (Zero_likelihood t)) max_log;
  let b = scaled_emissions log_b max_log in
  let alpha = Array.make_matrix tt n 0.0 and scale = Array.make tt 0.0 in
  for t = 0 to tt - 1 do
    let a = alpha.(t) in
    if t = 0 then for j = 0 to n - 1 do a.(j) <- m.start.(j) *. b.(0).(j) done
    else begin
      let prev = alpha.(t - 1) in
      for j = 0 to n - 1 do
        let s = ref 0.0 in
        for i = 0 to n - 1 do
          s := !s +. (prev.(i) *. m.trans.(i).(j))
        done;
        a.(j) <- !s *. b.(t).(j)
      done
    end;
    let c = sum a in
    if not (c > 0.0) then raise (Zero_likelihood t);
    let inv_c = 1.0 /. c in
    for j = 0 to n - 1 do a.(j) <- a.(j) *. inv_c done;
    scale.(t) <- c
  done;
  (* LL = sum of (ln c_t + m_t), docs/regime.md: the c_t are multiplied
     together and the product's log taken only when it would drop below
     1e-270. *)
  let max_sum = ref 0.0 and log_sum = ref 0.0 and product = ref 1.0 in
  for t = 0 to tt - 1 do
    max_sum := !max_sum +. max_log.(t);
    let q = !product *. scale.(t) in
    if q < 1e-270 then begin
      log_sum := !log_sum +. log !product;
      product := scale.(t)
    end
    else product := q
  done;
  let ll = !log_sum +. log !product +. !max_sum in
  if not (Float.is_finite ll) then raise (Zero_likelihood (tt - 1));
  ({ alpha; scale; max_log; loglik = ll }, b)

(* [each t bb] sees bb[j] = b[t+1][j] * beta[t+1][j] for every t < T, from the
   last t down, so that EM can sum xi in the same pass. *)
let backward_with m b (f : forward) each =
  let tt = Array.length b and n = Array.length m.start in
  let beta = Array.make_matrix tt n 1.0 in
  for t = tt - 2 downto 0 do
    let next = beta.(t + 1) and bn = b.(t + 1) and inv_c = 1.0 /. f.scale.(t + 1) in
    let bb = Array.init n (fun j -> bn.(j) *. next.(j)) in
    for i = 0 to n - 1 do
      let tr = m.trans.(i) in
      let s = ref 0.0 in
      for j = 0 to n - 1 do
        s := !s +. (tr.(j) *. bb.(j))
      done;
      beta.(t).(i) <- !s *. inv_c
    done;
    each t bb inv_c
  done;
  beta

let backward_unchecked m b f = backward_with m b f (fun _ _ _ -> ())

let gamma_of (f : forward) beta = Array.map2 (Array.map2 ( *. )) f.alpha beta

(* ---- public functions ---------------------------------------------------- *)

let log_emissions m obs =
  validate m obs;
  log_emissions_unchecked m obs

let run_forward m obs =
  validate m obs;
  forward_unchecked m (log_emissions_unchecked m obs)

let forward m obs = fst (run_forward m obs)

let loglik m obs = (forward m obs).loglik

let backward m obs =
  let f, b = run_forward m obs in
  backward_unchecked m b f

let posteriors m obs =
  let f, b = run_forward m obs in
  gamma_of f (backward_unchecked m b f)

let default_floor = 1e-6

let em_step ~floor m obs =
  if not (Float.is_finite floor && floor > 0.0) then
    invalid "floor must be finite and > 0, got %g" floor;
  let f, b = run_forward m obs in
  let n = Array.length m.start in
  (* Transitions: numerators are sums of xi[t][i][j] over t from the last t
     down, as the backward pass produces them. *)
  let num = Array.make_matrix n n 0.0 in
  let beta =
    backward_with m b f (fun t bb inv_c ->
        let a = f.alpha.(t) in
        for i = 0 to n - 1 do
          let row = num.(i) and tr = m.trans.(i) and ai = a.(i) *. inv_c in
          for j = 0 to n - 1 do
            row.(j) <- row.(j) +. (ai *. tr.(j) *. bb.(j))
          done
        done)
  in
  let gamma = gamma_of f beta in
  let tt = Array.length obs and dims = Array.length m.means.(0) in
  let trans =
    Array.mapi
      (fun i row ->
        let den = sum row in
        (* No weight leaving state i (e.g. T = 1): keep its row. *)
        if den = 0.0 then Array.copy m.trans.(i) else Array.map (fun x -> x /. den) row)
      num
  in
  (* Weights and means: one pass over t, each accumulator summed in t order. *)
  let w = Array.make n 0.0 and mean_num = Array.make_matrix n dims 0.0 in
  for t = 0 to tt - 1 do
    let g = gamma.(t) and x = obs.(t) in
    for i = 0 to n - 1 do
      w.(i) <- w.(i) +. g.(i);
      let row = mean_num.(i) in
      for d = 0 to dims - 1 do
        row.(d) <- row.(d) +. (g.(i) *. x.(d))
      done
    done
  done;
  let means =
    Array.mapi
      (fun i row -> if w.(i) = 0.0 then Array.copy m.means.(i) else Array.map (fun s -> s /. w.(i)) row)
      mean_num
  in
  (* Variances around the new means, hence a second pass. *)
  let var_num = Array.make_matrix n dims 0.0 in
  for t = 0 to tt - 1 do
    let g = gamma.(t) and x = obs.(t) in
    for i = 0 to n - 1 do
      let row = var_num.(i) and mu = means.(i) in
      for d = 0 to dims - 1 do
        let diff = x.(d) -. mu.(d) in
        row.(d) <- row.(d) +. (g.(i) *. (diff *. diff))
      done
    done
  done;
  let vars =
    Array.mapi
      (fun i row ->
        if w.(i) = 0.0 then Array.copy m.vars.(i)
        else
          Array.map
            (fun s ->
              let v = s /. w.(i) in
              if v < floor then floor else v)
            row)
      var_num
  in
  ({ start = Array.copy gamma.(0); trans; means; vars }, f.loglik)

let viterbi m obs =
  validate m obs;
  let log_b = log_emissions_unchecked m obs in
  let tt = Array.length obs and n = Array.length m.start in
  (* log 0.0 = neg_infinity, so forbidden transitions never win. *)
  let log_trans = Array.map (Array.map log) m.trans in
  let delta = ref (Array.mapi (fun j s -> log s +. log_b.(0).(j)) m.start) in
  let back = Array.make_matrix tt n 0 in
  for t = 1 to tt - 1 do
    let prev = !delta in
    delta :=
      Array.init n (fun j ->
          (* Strictly greater only: ties go to the lowest i. *)
          let best = ref (prev.(0) +. log_trans.(0).(j)) and arg = ref 0 in
          for i = 1 to n - 1 do
            let v = prev.(i) +. log_trans.(i).(j) in
            if v > !best then begin
              best := v;
              arg := i
            end
          done;
          back.(t).(j) <- !arg;
          !best +. log_b.(t).(j))
  done;
  let last = !delta in
  let final = ref 0 in
  for j = 1 to n - 1 do
    if last.(j) > last.(!final) then final := j
  done;
  if last.(!final) = Float.neg_infinity then raise (Zero_likelihood (tt - 1));
  let path = Array.make tt !final in
  for t = tt - 1 downto 1 do
    path.(t - 1) <- back.(t).(path.(t))
  done;
  path

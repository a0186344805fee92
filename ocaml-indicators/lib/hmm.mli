(** Gaussian hidden Markov model with diagonal covariance, following
    [docs/regime.md] operation by operation (same formulas, same summation
    order), so that results agree with the Rust implementation
    ([engine-core/src/regime/]) to 1e-9 relative and Viterbi paths are
    identical.

    Indices are 0-based: state [i] in [0, N), feature [d] in [0, D),
    observation [t] in [0, T). No function recurses over [t], so [T] can be
    in the hundreds of thousands. *)

type model = {
  start : float array;  (** [start.(i)]: probability of starting in state [i]. *)
  trans : float array array;  (** [trans.(i).(j)]: probability of moving from [i] to [j]. *)
  means : float array array;  (** [means.(i).(d)]: mean of feature [d] in state [i]. *)
  vars : float array array;  (** [vars.(i).(d)]: variance of feature [d] in state [i]. *)
}
(** [N] states and [D] features per observation. *)

type observations = float array array
(** [T] rows of [D] features. *)

exception Zero_likelihood of int
(** [Zero_likelihood t]: the model gives observation [t] (given the ones
    before it) a likelihood of zero, or one too small for a double, so the
    log-likelihood would be [-infinity]. Raised instead of returning
    non-finite values. *)

val validate_model : model -> unit
(** Checks [N >= 1], [D >= 1], consistent shapes ([start]: N, [trans]:
    N x N, [means] and [vars]: N x D), all values finite, [start] and every
    [trans] row non-negative and summing to 1 within 1e-6, [vars > 0].
    @raise Invalid_argument with a message naming the field, e.g.
    ["model.trans row 2 sums to 0.9, expected 1"]. *)

val validate_observations : dims:int -> observations -> unit
(** Checks [T >= 1] and that every row has [dims] finite values.
    @raise Invalid_argument with a message naming the row. *)

(** Every function below validates its model and observations first
    (raising [Invalid_argument] as above). *)

val log_emissions : model -> observations -> float array array
(** [log_b.(t).(j)], T x N: the log-density of observation [t] in state [j],
    [-0.5 * sum_d (ln (2 pi v) + (x - mu)^2 * (1 / v))], as docs/regime.md
    evaluates it. *)

type forward = {
  alpha : float array array;
      (** T x N filtered probabilities [P(state at t | x_0 .. x_t)]. *)
  scale : float array;  (** [c_t], the sum of the unnormalised [a.(t)]. *)
  max_log : float array;  (** [m_t = max_j log_b.(t).(j)]. *)
  loglik : float;  (** [sum_t (ln c_t + m_t)]. *)
}

val forward : model -> observations -> forward
(** The scaled forward pass.
    @raise Zero_likelihood when some [c_t] is 0. *)

val backward : model -> observations -> float array array
(** The scaled backward pass, [beta], T x N (last row all 1). Runs the
    forward pass for its scale factors.
    @raise Zero_likelihood as [forward]. *)

val posteriors : model -> observations -> float array array
(** [gamma.(t).(i) = alpha.(t).(i) * beta.(t).(i)], T x N; each row sums to
    1 up to rounding (not renormalised).
    @raise Zero_likelihood as [forward]. *)

val loglik : model -> observations -> float
(** The log-likelihood of the observations (the forward pass's).
    @raise Zero_likelihood as [forward]. *)

val default_floor : float
(** The default variance floor of [em_step]: [1e-6]. *)

val em_step : floor:float -> model -> observations -> model * float
(** One Baum-Welch step: the re-estimated model and the log-likelihood of
    the model given (not of the new one). New variances are at least
    [floor]; a state without weight keeps its previous means and variances,
    a transition row without weight keeps its previous row.
    @raise Invalid_argument unless [floor] is finite and [> 0].
    @raise Zero_likelihood as [forward]. *)

val viterbi : model -> observations -> int array
(** The most likely state path (computed in log space; ties go to the
    lowest state index).
    @raise Zero_likelihood [(T - 1)] when every path has probability 0. *)

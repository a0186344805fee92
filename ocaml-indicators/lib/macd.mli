(** [macd(fast, slow, signal)]: moving average convergence/divergence,
    TA-Lib aligned. If [fast > slow] the two are swapped. The slow EMA runs
    over all closes; the fast EMA is fed only the closes from index
    [slow - fast] on, so both first have a value at [slow - 1]. The signal
    line is the EMA of the line values from [slow - 1] on. *)

type t = {
  line : float option array;  (** fast EMA − slow EMA, from [slow − 1] *)
  signal : float option array;  (** EMA of [line], from [slow + signal − 2] *)
  hist : float option array;  (** [line − signal], from [slow + signal − 2] *)
}

val compute : fast:int -> slow:int -> signal:int -> float array -> t
(** [compute ~fast ~slow ~signal close]. Raises [Invalid_argument] if a
    period is [< 1]. *)

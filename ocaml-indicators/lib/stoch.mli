(** [stoch(k_period, k_smooth, d_period)]: slow stochastic oscillator.
    [fastk = (c - LL) / ((HH - LL) / 100)] (TA-Lib's order of operations), or
    0 when [HH = LL], from bar [k_period - 1]; [k] is the running-sum SMA of
    [fastk] over [k_smooth]; [d] the running-sum SMA of [k] over [d_period].
    Warm-up: k [k_period + k_smooth - 2], d [k_period + k_smooth + d_period - 3]. *)

type t = { k : float option array; d : float option array }

val compute :
  k_period:int -> k_smooth:int -> d_period:int -> high:float array ->
  low:float array -> close:float array -> t
(** Raises [Invalid_argument] if a period is [< 1] or the lengths differ. *)

(** [ema(n)]: exponential moving average with [k = 2 / (n + 1)], seeded at
    index [n - 1] with the SMA of the first [n] closes. Warm-up [n - 1]. *)

val compute : period:int -> float array -> float option array
(** [compute ~period close]. Raises [Invalid_argument] if [period < 1]. *)

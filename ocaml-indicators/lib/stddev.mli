(** [stddev(n)]: population standard deviation of the last [n] closes,
    exactly as Bollinger's [sd]: the mean from the running-sum SMA, then
    [sqrt (Σ (x_j - mean)² / n)] oldest to newest. Warm-up [n - 1]. *)

val compute : period:int -> float array -> float option array
(** [compute ~period close]. Raises [Invalid_argument] if [period < 1]. *)

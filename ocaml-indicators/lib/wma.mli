(** [wma(n)]: linearly weighted moving average (weights [1 … n], the newest
    close weighted [n], divisor [n (n + 1) / 2]) with TA-Lib's O(1) scheme of
    a plain sum [sub] and a weighted sum [wsum]. Warm-up [n - 1]. *)

val compute : period:int -> float array -> float option array
(** [compute ~period close]. Raises [Invalid_argument] if [period < 1]. *)

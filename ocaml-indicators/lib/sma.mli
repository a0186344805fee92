(** [sma(n)]: simple moving average, TA-Lib's running-sum scheme
    ([T = S + x; value = T / n; S = T - oldest]). Warm-up [n - 1]. *)

val compute : period:int -> float array -> float option array
(** [compute ~period close]. Raises [Invalid_argument] if [period < 1]. *)

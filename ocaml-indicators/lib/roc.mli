(** [roc(n)]: rate of change in percent, [(x_i / x_{i-n} - 1) * 100], or 0
    when [x_{i-n} = 0]. Warm-up [n]. *)

val compute : period:int -> float array -> float option array
(** [compute ~period close]. Raises [Invalid_argument] if [period < 1]. *)

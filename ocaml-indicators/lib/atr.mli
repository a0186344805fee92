(** [atr(n)]: Wilder's average true range. At bar [n] the plain average of
    [tr_1 … tr_n] (summed in order); afterwards Wilder smoothing
    [atr = (atr * (n - 1) + tr) / n]. Warm-up [n]. *)

val compute :
  period:int -> high:float array -> low:float array -> close:float array ->
  float option array
(** Raises [Invalid_argument] if [period < 1] or the lengths differ. *)

(** [willr(n)]: Williams %R over the last [n] bars:
    [(HH - c) / ((HH - LL) / -100)], or 0 when [HH = LL]. Range −100 … 0.
    Warm-up [n - 1]. *)

val compute :
  period:int -> high:float array -> low:float array -> close:float array ->
  float option array
(** Raises [Invalid_argument] if [period < 1] or the lengths differ. *)

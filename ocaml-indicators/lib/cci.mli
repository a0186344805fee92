(** [cci(n)]: commodity channel index over the last [n] typical prices,
    oldest to newest: [mean = Σ tp / n], [md = Σ |tp_j - mean|],
    [cci = (tp_i - mean) / (0.015 * (md / n))], or 0 when [tp_i - mean = 0]
    or [md = 0]. Warm-up [n - 1]. *)

val compute :
  period:int -> high:float array -> low:float array -> close:float array ->
  float option array
(** Raises [Invalid_argument] if [period < 2] or the lengths differ. *)

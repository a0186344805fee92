(** [vwap(n)]: rolling volume-weighted average price over the last [n]
    bars: [Σ tp_j v_j / Σ v_j] with [tp = (h + l + c) / 3], both sums taken
    over the window from the oldest to the newest bar every bar (no running
    sums, so no drift). [None] while the window's volume is 0.
    Warm-up [n - 1]. *)

val compute :
  period:int -> high:float array -> low:float array -> close:float array ->
  volume:float array -> float option array
(** Raises [Invalid_argument] if [period < 1] or the lengths differ. *)

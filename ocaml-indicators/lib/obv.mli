(** [obv]: on-balance volume. [obv_0 = v_0] (TA-Lib); then [obv += v] on an
    up close, [obv -= v] on a down close, unchanged otherwise. Warm-up 0. *)

val compute : close:float array -> volume:float array -> float option array
(** Raises [Invalid_argument] if the lengths differ. *)

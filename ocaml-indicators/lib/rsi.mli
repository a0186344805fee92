(** [rsi(n)]: Wilder's relative strength index. Gains and losses of bars
    [1 … n] are summed and averaged at bar [n]; afterwards Wilder smoothing
    [avg = (avg * (n - 1) + x) / n]. Value [100 * (ag / (ag + al))], or 50 when
    [ag + al = 0] (a flat market; TA-Lib would say 0). Warm-up [n]. *)

val compute : period:int -> float array -> float option array
(** [compute ~period close]. Raises [Invalid_argument] if [period < 2]. *)

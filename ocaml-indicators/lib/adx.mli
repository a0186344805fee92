(** [adx(n)]: Wilder's average directional index with TA-Lib's smoothing,
    which starts from the plain sums of bars [1 … n - 1] and continues with
    [P = P - P / n + dm]. [plus_di = 100 * (P / T)], [minus_di = 100 * (M / T)]
    (both 0 when [T = 0]) from bar [n];
    [dx = 100 * (|minus_di - plus_di| / (minus_di + plus_di))] when defined;
    [adx] is the average of the defined [dx] of bars [n … 2n - 1] (divided by
    [n]) at [2n - 1], then Wilder smoothing with each defined [dx].
    Warm-up: adx [2n - 1], DIs [n]. *)

type t = {
  adx : float option array;
  plus_di : float option array;
  minus_di : float option array;
}

val compute :
  period:int -> high:float array -> low:float array -> close:float array -> t
(** Raises [Invalid_argument] if [period < 2] or the lengths differ. *)

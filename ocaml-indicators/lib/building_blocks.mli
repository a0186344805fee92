(** Shared building blocks of docs/indicators.md ("Shared building blocks").

    Every function works on plain [float array]s and returns a
    [float option array] of the same length, [None] where the value does not
    exist yet. The order of floating-point operations follows the document
    exactly, because the Rust engine computes the same values independently
    and compares them with ours. *)

val running_sum_average : first:int -> int -> float array -> float option array
(** [running_sum_average ~first n x] is TA-Lib's running-sum SMA of period
    [n] over the elements of [x] from index [first] on (earlier elements are
    ignored): keep [S], the sum of the last [n - 1] inputs; at bar [i],
    [T = S + x.(i)]; once [n] inputs have been seen the value is [T / n] and
    [S = T - x.(i - n + 1)], otherwise [S = T]. The first value is at
    [first + n - 1]. *)

val ema_from : first:int -> int -> float array -> float option array
(** [ema_from ~first n x] is the EMA of period [n] over the elements of [x]
    from index [first] on, with [k = 2 / (n + 1)]: seeded at [first + n - 1]
    with the sum of the first [n] inputs (added in order) divided by [n], then
    [ema = ema * keep + x * k] with [keep = 1 - k]. *)

val window_population_sd : float array -> last:int -> int -> float -> float
(** [window_population_sd x ~last n mean] is
    [sqrt (Σ (x.(j) - mean)² / n)] for [j] from [last - n + 1] to [last],
    summed from the oldest to the newest element. *)

val highest : float array -> last:int -> int -> float
(** [highest x ~last n] is the maximum of the [n] elements of [x] ending at
    index [last] (inclusive). *)

val lowest : float array -> last:int -> int -> float
(** [lowest x ~last n] is the minimum of the [n] elements of [x] ending at
    index [last] (inclusive). *)

val true_range : high:float array -> low:float array -> close:float array -> int -> float
(** [true_range ~high ~low ~close i] for [i >= 1] is
    [max (h - l) (max |h - c_{i-1}| |l - c_{i-1}|)]. Bar 0 has none. *)

val typical_price : high:float -> low:float -> close:float -> float
(** [(h + l + c) / 3], added left to right. *)

val dense : float option array -> float array
(** [dense a] replaces [None] by [0.0]; used to feed an output whose defined
    part starts at a known index into {!running_sum_average} or
    {!ema_from} with [~first] set to that index. *)

type wilder
(** The coefficients of Wilder smoothing for one period. *)

val wilder : int -> wilder
(** [wilder n] has [keep = (n - 1) / n] and [take = 1 / n], computed once. *)

val wilder_step : wilder -> float -> float -> float
(** [wilder_step w avg x] is [avg * keep + x * take]: Wilder's
    [(avg * (n - 1) + x) / n] with one multiply and one add on the path from
    one value to the next, exactly as the Rust engine evaluates it. *)

(** [bollinger(n, k)]: Bollinger Bands. [middle] is the running-sum SMA;
    [sd] the population standard deviation around it, recomputed over the
    window oldest to newest every bar; [upper = middle + k * sd],
    [lower = middle - k * sd]. Warm-up [n - 1]. *)

type t = {
  upper : float option array;
  middle : float option array;
  lower : float option array;
}

val compute : period:int -> k:float -> float array -> t
(** [compute ~period ~k close]. Raises [Invalid_argument] if [period < 1]
    or [k] is not a finite number [> 0]. *)

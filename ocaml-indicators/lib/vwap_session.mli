(** [vwap_session(session_minutes, offset_minutes)]: session-anchored VWAP.
    The session of a bar is
    [floor ((open_time_ms - offset_minutes * 60000) / (session_minutes * 60000))]
    (floor division, also before 1970); when it changes both sums restart.
    [pv += tp * v; vol += v; value = pv / vol], [None] while [vol = 0].
    Warm-up 0. The default (1440, 0) gives UTC calendar days. *)

val session_of : session_minutes:int -> offset_minutes:int -> int -> int
(** [session_of ~session_minutes ~offset_minutes time_ms] is the session
    number of a bar opening at [time_ms] (floor division). *)

val compute :
  session_minutes:int -> offset_minutes:int -> time:float array ->
  high:float array -> low:float array -> close:float array ->
  volume:float array -> float option array
(** [time] holds open times in epoch milliseconds (whole numbers; a
    fractional time is floored to the millisecond). Raises [Invalid_argument]
    if [session_minutes < 1], [offset_minutes < 0], the lengths differ or a
    time is not finite. *)

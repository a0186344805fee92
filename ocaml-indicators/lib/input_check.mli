(** Defensive checks shared by the indicator functions. The sidecar
    validates its inputs before calling them; these checks only turn a
    programming error into a clear [Invalid_argument]. *)

val same_length : string -> float array list -> unit
(** [same_length name arrays] raises [Invalid_argument] naming the
    indicator [name] unless all [arrays] have the same length. *)

(** Arrays of doubles as base64 text of their little-endian IEEE 754 bytes
    (standard alphabet, with [=] padding).

    This is the sidecar's fast, exact encoding for large series: a double
    printed in decimal and read back costs far more than copying its eight
    bytes, and base64 keeps the payload inside a JSON string. *)

val encode : float array -> string
(** [encode a] is the base64 text of the [8 * Array.length a] bytes of [a]. *)

val decode : string -> float array
(** [decode s] is the array encoded by [s].
    @raise Invalid_argument with a message saying what is wrong when [s] is
    not base64 or does not hold a whole number of doubles. *)

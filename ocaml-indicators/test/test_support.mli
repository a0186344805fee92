(** Helpers shared by the test executables: locating the shared reference
    vectors, reading CSV and JSON, and comparing series. *)

val refvectors_dir : unit -> string
(** The [shared/refvectors] directory, found by walking up from the current
    directory (dune runs tests in [_build/default/test]). Fails loudly when
    it cannot be found. *)

val read_csv : string -> string list list
(** Rows of a CSV file (no quoting), header included; a UTF-8 BOM and CR
    line endings are removed, blank lines skipped. *)

val column : string list list -> string -> float array
(** [column rows name] is the column called [name] (header in the first row)
    as floats. *)

val json_file : string -> Yojson.Safe.t
(** Parses a JSON file (a UTF-8 BOM is skipped). *)

val number_opt : Yojson.Safe.t -> float option
(** A JSON number as a float, [None] for [null]. Fails on anything else. *)

val epoch_ms_of_date : string -> float
(** ["2017-01-03"] (optionally followed by ["T…"]) as epoch milliseconds at
    00:00 UTC. *)

val check_series :
  name:string -> tolerance:float -> ?values_from:int ->
  expected:float option array -> float option array -> unit
(** [check_series ~name ~tolerance ~values_from ~expected actual] asserts
    that [actual] has a value exactly where [expected] has one (over the whole
    length) and that, from index [values_from] (default 0) on,
    [|actual - expected| <= tolerance * max 1 |expected|]. Prints the
    largest difference seen; raises [Failure] listing the first mismatches. *)

val failures : int ref
(** Number of failed checks so far (each [check_series] failure increments
    it and prints the details; the test exits 1 at the end if non-zero). *)

val finish : string -> unit
(** Prints a summary; exits 1 if any check failed. *)

(** The indicator catalogue: the table of docs/indicators.md (names,
    parameters with defaults, kinds and minimums, inputs, outputs), parameter
    validation, and running an indicator by name. *)

(** What values a parameter accepts. *)
type param_kind =
  | Whole of { minimum : int }
      (** a whole number [>= minimum] (and at most {!max_whole}); a JSON real
          such as [14.0] is accepted, [2.5] is not *)
  | Positive_real  (** a finite real number [> 0] *)

type param_spec = {
  param_name : string;
  default : float;
  kind : param_kind;
}

type spec = {
  name : string;
  params : param_spec list;  (** in the order of the table *)
  inputs : string list;  (** among [time], [high], [low], [close], [volume] *)
  outputs : string list;
}

val all : spec list
(** All 16 indicators, in the order of the table of docs/indicators.md. *)

val find : string -> spec option
(** [find name] is the indicator called [name], if any. *)

val max_whole : int
(** The largest whole parameter accepted (2^31 - 1): larger periods could
    only give empty outputs, and a bound keeps [session_minutes * 60000] and
    similar products far from integer overflow. *)

val validate_params : spec -> float list -> (float list, string) result
(** [validate_params spec given] checks the given parameter values (in table
    order) and fills missing trailing ones with their defaults. [Error msg]
    names the indicator and the parameter, e.g.
    ["ema: parameter period must be a whole number >= 1, got 0"]. *)

val format_number : float -> string
(** Shortest text that reads back to the same float, without a trailing
    [.0] for whole numbers (["2"], ["2.5"], ["0.1"]). Used in messages. *)

val run : spec -> float list -> (string -> float array) -> (string * float option array) list
(** [run spec params input] computes the indicator with already validated
    [params] (see {!validate_params}); [input name] gives the input array
    called [name] (all of the same length). The result lists the outputs in
    [spec.outputs] order. *)

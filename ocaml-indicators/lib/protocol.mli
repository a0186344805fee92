(** The sidecar's JSON-lines protocol (docs/sidecar-protocol.md): one
    request line in, one response line out. Kept in the library so that it
    can be tested without spawning the executable. *)

val version : string
(** The sidecar version reported by [ping]. *)

(** The documented error codes. *)
type error_code =
  | Parse_error
  | Invalid_request
  | Unknown_method
  | Unknown_indicator
  | Bad_params
  | Bad_inputs
  | Internal

val string_of_error_code : error_code -> string
(** ["parse_error"], ["invalid_request"], … as written on the wire. *)

val handle_line : string -> string option
(** [handle_line line] is the response to one request line, printed as one
    line of JSON (without the newline), or [None] for a blank line, which
    gets no response. Never raises: any exception while handling becomes an
    [internal] error response. Floats read back to the same double;
    non-finite ones are never printed (outputs map them to [null]). *)

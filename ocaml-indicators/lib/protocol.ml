let version = "0.1.0"

type error_code =
  | Parse_error
  | Invalid_request
  | Unknown_method
  | Unknown_indicator
  | Bad_params
  | Bad_inputs
  | Internal

let string_of_error_code = function
  | Parse_error -> "parse_error"
  | Invalid_request -> "invalid_request"
  | Unknown_method -> "unknown_method"
  | Unknown_indicator -> "unknown_indicator"
  | Bad_params -> "bad_params"
  | Bad_inputs -> "bad_inputs"
  | Internal -> "internal"

(* A request fails with one of these; caught in [handle_request]. *)
exception Request_error of error_code * string

let fail code message = raise (Request_error (code, message))

(* A response: JSON, except that base64 payloads are kept apart from it.
   They never need escaping, so the writer copies them whole instead of
   inspecting every character, and they are most of a large response. *)
type response =
  | Json of Yojson.Safe.t
  | Object of (string * response) list
  | Base64 of string

let error_json id code message : Yojson.Safe.t =
  `Assoc
      [
        ("id", id);
        ( "error",
          `Assoc
            [
              ("code", `String (string_of_error_code code));
              ("message", `String message);
            ] );
      ]

let error_response id code message = Json (error_json id code message)

let result_response id result = Object [ ("id", Json id); ("result", result) ]

let number_of_json (json : Yojson.Safe.t) =
  match json with
  | `Int i -> Some (float_of_int i)
  | `Intlit s -> float_of_string_opt s
  | `Float f -> Some f
  | _ -> None

let describe (json : Yojson.Safe.t) =
  match json with
  | `Null -> "null"
  | `Bool _ -> "a boolean"
  | `String _ -> "a string"
  | `List _ | `Tuple _ -> "an array"
  | `Assoc _ -> "an object"
  | `Int _ | `Intlit _ | `Float _ -> "a number"
  | `Variant _ -> "a variant"

(* ---- list ---------------------------------------------------------------- *)

let strings l = `List (List.map (fun s -> `String s) l)

let list_result () : Yojson.Safe.t =
  let describe_spec (spec : Catalogue.spec) =
    `Assoc
      [
        ("name", `String spec.name);
        ( "params",
          strings
            (List.map
               (fun (p : Catalogue.param_spec) -> p.param_name)
               spec.params) );
        ("inputs", strings spec.inputs);
        ("outputs", strings spec.outputs);
      ]
  in
  `Assoc [ ("indicators", `List (List.map describe_spec Catalogue.all)) ]

(* ---- compute ------------------------------------------------------------- *)

let field name (fields : (string * Yojson.Safe.t) list) = List.assoc_opt name fields

let read_params (spec : Catalogue.spec) (json : Yojson.Safe.t option) =
  let given =
    match json with
    | None | Some `Null -> []
    | Some (`List values) ->
        List.mapi
          (fun index value ->
            match number_of_json value with
            | Some x -> x
            | None ->
                let name =
                  match List.nth_opt spec.params index with
                  | Some p -> "parameter " ^ p.param_name
                  | None -> Printf.sprintf "parameter %d" (index + 1)
                in
                fail Bad_params
                  (Printf.sprintf "%s: %s must be a number, got %s" spec.name
                     name (describe value)))
          values
    | Some other ->
        fail Bad_params
          (Printf.sprintf "%s: params must be an array of numbers, got %s"
             spec.name (describe other))
  in
  match Catalogue.validate_params spec given with
  | Ok params -> params
  | Error message -> fail Bad_params message

(* Converts a JSON array of numbers without non-tail recursion: the arrays
   can hold hundreds of thousands of values. *)
let read_number_array indicator name (json : Yojson.Safe.t) =
  match json with
  | `List values ->
      let values = Array.of_list values in
      Array.map
        (fun value ->
          match number_of_json value with
          | Some x when Float.is_finite x -> x
          | _ ->
              fail Bad_inputs
                (Printf.sprintf "%s: input %s must be an array of finite numbers, found %s"
                   indicator name (describe value)))
        values
  | `Assoc [ ("f64le", `String text) ] ->
      let values =
        try F64_base64.decode text
        with Invalid_argument message ->
          fail Bad_inputs (Printf.sprintf "%s: input %s: %s" indicator name message)
      in
      Array.iteri
        (fun i x ->
          if not (Float.is_finite x) then
            fail Bad_inputs
              (Printf.sprintf "%s: input %s holds a non-finite value at index %d" indicator
                 name i))
        values;
      values
  | other ->
      fail Bad_inputs
        (Printf.sprintf
           "%s: input %s must be an array of numbers or {\"f64le\": base64}, got %s"
           indicator name (describe other))

let read_inputs (spec : Catalogue.spec) (json : Yojson.Safe.t option) =
  let fields =
    match json with
    | Some (`Assoc fields) -> fields
    | None -> fail Bad_inputs (spec.name ^ ": inputs missing")
    | Some other ->
        fail Bad_inputs
          (Printf.sprintf "%s: inputs must be an object, got %s" spec.name
             (describe other))
  in
  let arrays =
    List.map
      (fun name ->
        match field name fields with
        | Some json -> (name, read_number_array spec.name name json)
        | None ->
            fail Bad_inputs
              (Printf.sprintf "%s: input %s missing (needs %s)" spec.name name
                 (String.concat ", " spec.inputs)))
      spec.inputs
  in
  (match arrays with
  | [] -> ()
  | (first_name, first) :: rest ->
      List.iter
        (fun (name, a) ->
          if Array.length a <> Array.length first then
            fail Bad_inputs
              (Printf.sprintf
                 "%s: inputs of unequal lengths: %s has %d values, %s has %d"
                 spec.name first_name (Array.length first) name
                 (Array.length a)))
        rest);
  arrays

let json_of_output values : Yojson.Safe.t =
  (* Array.to_list is tail-recursive; non-finite values become null. *)
  `List
    (Array.to_list
       (Array.map
          (function
            | Some x when Float.is_finite x -> `Float x
            | Some _ | None -> `Null)
          values))

(* The f64le encoding marks a missing value with NaN, which no indicator
   output ever is (non-finite outputs are missing values too). *)
let f64le_of_output values =
  let dense =
    Array.map (function Some x when Float.is_finite x -> x | Some _ | None -> Float.nan) values
  in
  Object [ ("f64le", Base64 (F64_base64.encode dense)) ]

type encoding = Json_numbers | F64le

let read_encoding (json : Yojson.Safe.t option) =
  match json with
  | None | Some (`String "json") -> Json_numbers
  | Some (`String "f64le") -> F64le
  | Some other ->
      fail Invalid_request
        ("compute: params.encoding must be \"json\" or \"f64le\", got " ^ describe other)

let compute_result (params : Yojson.Safe.t option) =
  let fields =
    match params with
    | Some (`Assoc fields) -> fields
    | None -> fail Invalid_request "compute: params missing"
    | Some other ->
        fail Invalid_request
          ("compute: params must be an object, got " ^ describe other)
  in
  let name =
    match field "indicator" fields with
    | Some (`String name) -> name
    | None -> fail Invalid_request "compute: params.indicator missing"
    | Some other ->
        fail Invalid_request
          ("compute: params.indicator must be a string, got " ^ describe other)
  in
  let spec =
    match Catalogue.find name with
    | Some spec -> spec
    | None ->
        fail Unknown_indicator
          (Printf.sprintf "unknown indicator %S (known: %s)" name
             (String.concat ", "
                (List.map
                   (fun (s : Catalogue.spec) -> s.name)
                   Catalogue.all)))
  in
  let encode =
    match read_encoding (field "encoding" fields) with
    | Json_numbers -> fun values -> Json (json_of_output values)
    | F64le -> f64le_of_output
  in
  let param_values = read_params spec (field "params" fields) in
  let inputs = read_inputs spec (field "inputs" fields) in
  let outputs =
    try Catalogue.run spec param_values (fun name -> List.assoc name inputs)
    with Invalid_argument message | Failure message ->
      fail Internal (Printf.sprintf "%s: %s" spec.name message)
  in
  Object [ ("outputs", Object (List.map (fun (name, values) -> (name, encode values)) outputs)) ]

(* ---- hmm_* --------------------------------------------------------------- *)

(* The model is a parameter (bad_params); the observations are the inputs
   (bad_inputs), as with [compute]. *)

let hmm_fields method_name (params : Yojson.Safe.t option) =
  match params with
  | Some (`Assoc fields) -> fields
  | None -> fail Invalid_request (method_name ^ ": params missing")
  | Some other ->
      fail Invalid_request
        (Printf.sprintf "%s: params must be an object, got %s" method_name (describe other))

(* Arrays converted with Array.of_list and Array.map: no non-tail recursion
   over hundreds of thousands of rows. *)
let read_vector code method_name name (json : Yojson.Safe.t) =
  match json with
  | `List values ->
      Array.mapi
        (fun k value ->
          match number_of_json value with
          | Some x -> x
          | None ->
              fail code
                (Printf.sprintf "%s: %s[%d] must be a number, got %s" method_name name k
                   (describe value)))
        (Array.of_list values)
  | other ->
      fail code
        (Printf.sprintf "%s: %s must be an array of numbers, got %s" method_name name
           (describe other))

let read_matrix code method_name name (json : Yojson.Safe.t) =
  match json with
  | `List rows ->
      Array.mapi
        (fun i row -> read_vector code method_name (Printf.sprintf "%s[%d]" name i) row)
        (Array.of_list rows)
  | other ->
      fail code
        (Printf.sprintf "%s: %s must be an array of arrays of numbers, got %s" method_name
           name (describe other))

let read_model method_name fields : Hmm.model =
  let model =
    match field "model" fields with
    | Some (`Assoc model) -> model
    | None -> fail Bad_params (method_name ^ ": params.model missing")
    | Some other ->
        fail Bad_params
          (Printf.sprintf "%s: params.model must be an object, got %s" method_name
             (describe other))
  in
  let part name =
    match field name model with
    | Some json -> json
    | None -> fail Bad_params (Printf.sprintf "%s: model.%s missing" method_name name)
  in
  let m : Hmm.model =
    {
      start = read_vector Bad_params method_name "model.start" (part "start");
      trans = read_matrix Bad_params method_name "model.trans" (part "trans");
      means = read_matrix Bad_params method_name "model.means" (part "means");
      vars = read_matrix Bad_params method_name "model.vars" (part "vars");
    }
  in
  (try Hmm.validate_model m
   with Invalid_argument message -> fail Bad_params (method_name ^ ": " ^ message));
  m

let read_observations method_name fields ~dims : Hmm.observations =
  let obs =
    match field "observations" fields with
    | None -> fail Bad_inputs (method_name ^ ": params.observations missing")
    | Some (`List _ as rows) -> read_matrix Bad_inputs method_name "observations" rows
    | Some (`Assoc encoded) -> (
        match (field "f64le" encoded, field "dims" encoded) with
        | Some (`String text), Some (`Int width) ->
            if width < 1 then
              fail Bad_inputs
                (Printf.sprintf "%s: observations.dims must be >= 1, got %d" method_name width);
            let values =
              try F64_base64.decode text
              with Invalid_argument message ->
                fail Bad_inputs
                  (Printf.sprintf "%s: observations.f64le: %s" method_name message)
            in
            let count = Array.length values in
            if count mod width <> 0 then
              fail Bad_inputs
                (Printf.sprintf
                   "%s: observations.f64le holds %d doubles, not a multiple of dims = %d"
                   method_name count width);
            Array.init (count / width) (fun t -> Array.sub values (t * width) width)
        | _ ->
            fail Bad_inputs
              (method_name
             ^ ": observations must be {\"f64le\": <base64 string>, \"dims\": <integer>}"))
    | Some other ->
        fail Bad_inputs
          (Printf.sprintf
             "%s: observations must be an array of arrays of numbers or {\"f64le\", \"dims\"}, got %s"
             method_name (describe other))
  in
  (try Hmm.validate_observations ~dims obs
   with Invalid_argument message -> fail Bad_inputs (method_name ^ ": " ^ message));
  obs

(* Every float printed must be finite: these can only fail on a numeric
   overflow, which is reported rather than printed as invalid JSON. *)
let finite_json method_name name x : Yojson.Safe.t =
  if Float.is_finite x then `Float x
  else fail Bad_inputs (Printf.sprintf "%s: %s is not finite (%g)" method_name name x)

let vector_json method_name name a : Yojson.Safe.t =
  `List (Array.to_list (Array.map (finite_json method_name name) a))

let matrix_json method_name name a : Yojson.Safe.t =
  `List (Array.to_list (Array.map (vector_json method_name name) a))

let model_json method_name (m : Hmm.model) : Yojson.Safe.t =
  `Assoc
    [
      ("start", vector_json method_name "model.start" m.start);
      ("trans", matrix_json method_name "model.trans" m.trans);
      ("means", matrix_json method_name "model.means" m.means);
      ("vars", matrix_json method_name "model.vars" m.vars);
    ]

let read_floor method_name fields =
  match field "floor" fields with
  | None | Some `Null -> Hmm.default_floor
  | Some json -> (
      match number_of_json json with
      | Some x when Float.is_finite x && x > 0.0 -> x
      | Some x ->
          fail Bad_params (Printf.sprintf "%s: floor must be finite and > 0, got %g" method_name x)
      | None ->
          fail Bad_params
            (Printf.sprintf "%s: floor must be a number, got %s" method_name (describe json)))

let hmm_result method_name (params : Yojson.Safe.t option) =
  let fields = hmm_fields method_name params in
  let model = read_model method_name fields in
  let obs = read_observations method_name fields ~dims:(Array.length model.means.(0)) in
  let loglik_json x = finite_json method_name "loglik" x in
  try
    Json
      (match method_name with
      | "hmm_forward" ->
          let f = Hmm.forward model obs in
          `Assoc [ ("alpha", matrix_json method_name "alpha" f.alpha); ("loglik", loglik_json f.loglik) ]
      | "hmm_backward" -> `Assoc [ ("beta", matrix_json method_name "beta" (Hmm.backward model obs)) ]
      | "hmm_viterbi" ->
          `Assoc [ ("path", `List (Array.to_list (Array.map (fun s -> `Int s) (Hmm.viterbi model obs)))) ]
      | "hmm_em_step" ->
          let next, ll = Hmm.em_step ~floor:(read_floor method_name fields) model obs in
          `Assoc [ ("model", model_json method_name next); ("loglik", loglik_json ll) ]
      | "hmm_loglik" -> `Assoc [ ("loglik", loglik_json (Hmm.loglik model obs)) ]
      | other -> fail Internal ("hmm_result called for " ^ other))
  with
  | Hmm.Zero_likelihood t ->
      fail Bad_inputs
        (Printf.sprintf
           "%s: observation %d has likelihood 0 under the model (impossible, or too unlikely \
            for a double): the log-likelihood would be -infinity"
           method_name t)
  | Invalid_argument message -> fail Bad_params (method_name ^ ": " ^ message)

(* ---- dispatch ------------------------------------------------------------ *)

let is_blank line = String.trim line = ""

let read_id fields : Yojson.Safe.t =
  match field "id" fields with
  | Some ((`Int _ | `Intlit _ | `String _) as id) -> id
  | None -> fail Invalid_request "id missing"
  | Some other ->
      fail Invalid_request
        ("id must be an integer or a string, got " ^ describe other)

let handle_request line =
  (* The id is remembered as soon as it is known, so that every later error
     can echo it. *)
  let id = ref `Null in
  try
    let json =
      try Yojson.Safe.from_string line with
      | Yojson.Json_error message -> fail Parse_error ("not JSON: " ^ message)
      | Stack_overflow -> fail Parse_error "not JSON: nested too deeply"
      | e -> fail Parse_error ("not JSON: " ^ Printexc.to_string e)
    in
    let fields =
      match json with
      | `Assoc fields -> fields
      | other -> fail Parse_error ("request must be a JSON object, got " ^ describe other)
    in
    id := read_id fields;
    let method_name =
      match field "method" fields with
      | Some (`String m) -> m
      | None -> fail Invalid_request "method missing"
      | Some other -> fail Invalid_request ("method must be a string, got " ^ describe other)
    in
    let result =
      match method_name with
      | "ping" -> Json (`Assoc [ ("pong", `Bool true); ("version", `String version) ])
      | "list" -> Json (list_result ())
      | "compute" -> compute_result (field "params" fields)
      | ("hmm_forward" | "hmm_backward" | "hmm_viterbi" | "hmm_em_step" | "hmm_loglik") as m ->
          hmm_result m (field "params" fields)
      | other ->
          fail Unknown_method
            (Printf.sprintf
               "unknown method %S (known: ping, list, compute, hmm_forward, hmm_backward, \
                hmm_viterbi, hmm_em_step, hmm_loglik)"
               other)
    in
    result_response !id result
  with
  | Request_error (code, message) -> error_response !id code message
  | Stack_overflow -> error_response !id Internal "stack overflow"
  | Out_of_memory -> error_response !id Internal "out of memory"
  | e -> error_response !id Internal ("exception: " ^ Printexc.to_string e)

let handle_response line = if is_blank line then None else Some (handle_request line)

let rec write_response buf = function
  | Json json -> Yojson.Safe.to_buffer ~std:true buf json
  | Base64 text ->
      Buffer.add_char buf '"';
      Buffer.add_string buf text;
      Buffer.add_char buf '"'
  | Object fields ->
      Buffer.add_char buf '{';
      List.iteri
        (fun i (key, value) ->
          if i > 0 then Buffer.add_char buf ',';
          Yojson.Safe.write_string buf key;
          Buffer.add_char buf ':';
          write_response buf value)
        fields;
      Buffer.add_char buf '}'

let response_to_string response =
  let buf = Buffer.create 4096 in
  try
    write_response buf response;
    Buffer.contents buf
  with e ->
    (* Cannot happen for the responses built here (non-finite floats are
       mapped to null), but a response must always come out. *)
    Yojson.Safe.to_string ~std:true
      (error_json `Null Internal ("cannot print response: " ^ Printexc.to_string e))

let handle_line line = Option.map response_to_string (handle_response line)

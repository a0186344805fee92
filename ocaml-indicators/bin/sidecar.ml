(* The OCaml sidecar: answers the JSON-lines requests of
   docs/sidecar-protocol.md on stdin/stdout.

   sidecar.exe --server   answer each line as it is read, flush each answer
   sidecar.exe            read all of stdin, then answer every line, exit 0 *)

let usage () =
  prerr_endline "usage: sidecar.exe [--server]";
  exit 2

(* If the reader of stdout has gone away there is nobody to answer: leave
   quietly instead of dying of SIGPIPE or an uncaught Sys_error. Closing
   stdout first discards its buffer, so that the flushes run at exit (ours,
   and Format's, which Yojson links in) have nothing left to fail on. *)
let leave_quietly () =
  close_out_noerr stdout;
  exit 0

let write_response response =
  try
    print_string response;
    print_char '\n'
  with Sys_error _ -> leave_quietly ()

let flush_stdout () = try flush stdout with Sys_error _ -> leave_quietly ()

let answer line =
  match Indicators.Protocol.handle_line line with
  | Some response -> write_response response
  | None -> ()

let read_line_opt () = try Some (input_line stdin) with End_of_file -> None

let run_server () =
  let rec loop () =
    match read_line_opt () with
    | None -> ()
    | Some line ->
        answer line;
        flush_stdout ();
        loop ()
  in
  loop ()

let run_one_shot () =
  let lines = ref [] in
  let rec read_all () =
    match read_line_opt () with
    | None -> ()
    | Some line ->
        lines := line :: !lines;
        read_all ()
  in
  read_all ();
  List.iter answer (List.rev !lines);
  flush_stdout ()

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  set_binary_mode_out stdout true;
  set_binary_mode_in stdin true;
  let server =
    match Array.to_list Sys.argv with
    | [ _ ] -> false
    | [ _; "--server" ] -> true
    | _ -> usage ()
  in
  if server then run_server () else run_one_shot ();
  exit 0

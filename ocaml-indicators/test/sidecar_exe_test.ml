(* Runs the built sidecar executable, in one-shot and in server mode, and
   checks that every request line gets its response, in order. *)

let sidecar = Filename.concat (Filename.concat ".." "bin") "sidecar.exe"

let requests =
  [
    {|{"id": 1, "method": "ping"}|};
    "this is not json";
    "";
    {|{"id": 3, "method": "compute", "params": {"indicator": "ema", "params": [3], "inputs": {"close": [1, 2, 3, 4, 5.5]}}}|};
  ]

(* Writes [input] to the child's stdin, closes it, and reads all of its
   stdout (input is small, so writing first cannot deadlock). *)
let run args input =
  let child_stdout, child_stdin =
    Unix.open_process_args sidecar (Array.of_list (sidecar :: args))
  in
  output_string child_stdin input;
  close_out child_stdin;
  let rec read_lines acc =
    match input_line child_stdout with
    | line -> read_lines (line :: acc)
    | exception End_of_file -> List.rev acc
  in
  let lines = read_lines [] in
  let status = Unix.close_process (child_stdout, child_stdin) in
  (lines, status)

let check_responses mode (lines, status) =
  assert (status = Unix.WEXITED 0);
  match List.map Yojson.Safe.from_string lines with
  | [ first; second; third ] ->
      let open Yojson.Safe.Util in
      assert (member "id" first = `Int 1);
      assert (member "result" first |> member "pong" = `Bool true);
      assert (member "id" second = `Null);
      assert (member "error" second |> member "code" = `String "parse_error");
      assert (member "id" third = `Int 3);
      assert (
        member "result" third |> member "outputs" |> member "ema"
        = `List [ `Null; `Null; `Float 2.0; `Float 3.0; `Float 4.25 ]);
      Printf.printf "ok %s: three responses in order\n" mode
  | other ->
      Printf.printf "FAIL %s: %d response lines:\n%s\n" mode (List.length other)
        (String.concat "\n" lines);
      exit 1

(* With its stdout closed by the reader, the sidecar must leave quietly with
   status 0, not die of SIGPIPE or an uncaught exception. *)
let closed_stdout_exits_quietly mode_args =
  let out_read, out_write = Unix.pipe () in
  let in_read, in_write = Unix.pipe () in
  let err_read, err_write = Unix.pipe () in
  Unix.close out_read;
  (* Our ends must not leak into the child, or it never sees EOF on stdin. *)
  Unix.set_close_on_exec in_write;
  Unix.set_close_on_exec err_read;
  let pid =
    Unix.create_process sidecar (Array.of_list (sidecar :: mode_args)) in_read
      out_write err_write
  in
  List.iter Unix.close [ in_read; out_write; err_write ];
  let to_child = Unix.out_channel_of_descr in_write in
  (try
     for _ = 1 to 2000 do
       output_string to_child "{\"id\": 1, \"method\": \"list\"}\n"
     done;
     close_out to_child
   with Sys_error _ -> close_out_noerr to_child);
  let _, status = Unix.waitpid [] pid in
  let err = Unix.in_channel_of_descr err_read in
  let stderr_text = try input_line err with End_of_file -> "" in
  close_in err;
  if status <> Unix.WEXITED 0 || stderr_text <> "" then begin
    Printf.printf "FAIL closed stdout (%s): stderr %S\n" (String.concat " " mode_args)
      stderr_text;
    exit 1
  end;
  Printf.printf "ok closed stdout (%s): exit 0, silent\n" (String.concat " " mode_args)

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  let input = String.concat "\n" requests ^ "\n" in
  check_responses "one-shot" (run [] input);
  check_responses "server" (run [ "--server" ] input);
  (* A last line without a newline is still a request. *)
  let lines, status = run [] {|{"id": 5, "method": "ping"}|} in
  assert (status = Unix.WEXITED 0 && List.length lines = 1);
  (* Empty input: no output, exit 0. *)
  let lines, status = run [ "--server" ] "" in
  assert (status = Unix.WEXITED 0 && lines = []);
  (* A bad command-line argument is refused. *)
  let _, status = run [ "--bogus" ] "" in
  assert (status <> Unix.WEXITED 0);
  closed_stdout_exits_quietly [ "--server" ];
  closed_stdout_exits_quietly [];
  print_endline "sidecar_exe_test: all checks passed"

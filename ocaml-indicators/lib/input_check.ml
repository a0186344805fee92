let same_length name arrays =
  match arrays with
  | [] -> ()
  | first :: rest ->
      let len = Array.length first in
      if List.exists (fun a -> Array.length a <> len) rest then
        invalid_arg (name ^ ": inputs have different lengths")

let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

(* Value of each byte as a base64 digit, or -1. *)
let digit_values =
  let table = Array.make 256 (-1) in
  String.iteri (fun i c -> table.(Char.code c) <- i) alphabet;
  table

let encode_bytes (bytes : Bytes.t) =
  let len = Bytes.length bytes in
  let out = Bytes.create (4 * ((len + 2) / 3)) in
  let put i c = Bytes.unsafe_set out i (String.unsafe_get alphabet c) in
  let byte i = Char.code (Bytes.unsafe_get bytes i) in
  let whole = len / 3 * 3 in
  let src = ref 0 and dst = ref 0 in
  (* The hot loop is written out by hand: without flambda, local closures
     are calls, not inlined code. *)
  while !src < whole do
    let i = !src and o = !dst in
    let n =
      (Char.code (Bytes.unsafe_get bytes i) lsl 16)
      lor (Char.code (Bytes.unsafe_get bytes (i + 1)) lsl 8)
      lor Char.code (Bytes.unsafe_get bytes (i + 2))
    in
    Bytes.unsafe_set out o (String.unsafe_get alphabet ((n lsr 18) land 63));
    Bytes.unsafe_set out (o + 1) (String.unsafe_get alphabet ((n lsr 12) land 63));
    Bytes.unsafe_set out (o + 2) (String.unsafe_get alphabet ((n lsr 6) land 63));
    Bytes.unsafe_set out (o + 3) (String.unsafe_get alphabet (n land 63));
    src := i + 3;
    dst := o + 4
  done;
  if whole < len then begin
    let b1 = if whole + 1 < len then byte (whole + 1) else 0 in
    let n = (byte whole lsl 16) lor (b1 lsl 8) in
    put !dst ((n lsr 18) land 63);
    put (!dst + 1) ((n lsr 12) land 63);
    if whole + 1 < len then put (!dst + 2) ((n lsr 6) land 63)
    else Bytes.set out (!dst + 2) '=';
    Bytes.set out (!dst + 3) '='
  end;
  Bytes.unsafe_to_string out

let encode (a : float array) =
  let bytes = Bytes.create (8 * Array.length a) in
  Array.iteri (fun i x -> Bytes.set_int64_le bytes (8 * i) (Int64.bits_of_float x)) a;
  encode_bytes bytes

let decode_bytes (s : string) =
  let len = String.length s in
  if len mod 4 <> 0 then
    invalid_arg (Printf.sprintf "base64 text of %d characters is not a multiple of 4" len);
  let padding =
    if len >= 1 && s.[len - 1] = '=' then if len >= 2 && s.[len - 2] = '=' then 2 else 1
    else 0
  in
  let out = Bytes.create ((len / 4 * 3) - padding) in
  let bad i =
    invalid_arg (Printf.sprintf "invalid base64 character %C at offset %d" s.[i] i)
  in
  let full = if padding > 0 then len - 4 else len in
  let src = ref 0 and dst = ref 0 in
  while !src < full do
    let i = !src in
    (* Written out by hand, as in [encode_bytes]. *)
    let n =
      (Array.unsafe_get digit_values (Char.code (String.unsafe_get s i)) lsl 18)
      lor (Array.unsafe_get digit_values (Char.code (String.unsafe_get s (i + 1))) lsl 12)
      lor (Array.unsafe_get digit_values (Char.code (String.unsafe_get s (i + 2))) lsl 6)
      lor Array.unsafe_get digit_values (Char.code (String.unsafe_get s (i + 3)))
    in
    if n < 0 then begin
      (* Find the offending character for the message. *)
      for i = !src to !src + 3 do
        if digit_values.(Char.code s.[i]) < 0 then bad i
      done
    end;
    Bytes.unsafe_set out !dst (Char.unsafe_chr ((n lsr 16) land 255));
    Bytes.unsafe_set out (!dst + 1) (Char.unsafe_chr ((n lsr 8) land 255));
    Bytes.unsafe_set out (!dst + 2) (Char.unsafe_chr (n land 255));
    src := !src + 4;
    dst := !dst + 3
  done;
  if padding > 0 then begin
    let digit i = match s.[i] with '=' when i >= len - padding -> 0 | _ -> let v = digit_values.(Char.code s.[i]) in if v < 0 then bad i else v in
    let n = (digit full lsl 18) lor (digit (full + 1) lsl 12) lor (digit (full + 2) lsl 6) lor digit (full + 3) in
    Bytes.set out !dst (Char.unsafe_chr ((n lsr 16) land 255));
    if padding = 1 then Bytes.set out (!dst + 1) (Char.unsafe_chr ((n lsr 8) land 255))
  end;
  out

let decode (s : string) =
  let bytes = decode_bytes s in
  let n = Bytes.length bytes in
  if n mod 8 <> 0 then
    invalid_arg (Printf.sprintf "%d bytes are not a whole number of doubles" n);
  Array.init (n / 8) (fun i -> Int64.float_of_bits (Bytes.get_int64_le bytes (8 * i)))

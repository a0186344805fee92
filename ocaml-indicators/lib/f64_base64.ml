let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

(* Value of each byte as a base64 digit, or -1. *)
let digit_values =
  let table = Array.make 256 (-1) in
  String.iteri (fun i c -> table.(Char.code c) <- i) alphabet;
  table

let encode_bytes (bytes : Bytes.t) =
  let len = Bytes.length bytes in
  let out = Bytes.create (4 * ((len + 2) / 3)) in
  let put i c = Bytes.unsafe_set out i alphabet.[c] in
  let rec loop src dst =
    if src + 3 <= len then begin
      let n =
        (Char.code (Bytes.get bytes src) lsl 16)
        lor (Char.code (Bytes.get bytes (src + 1)) lsl 8)
        lor Char.code (Bytes.get bytes (src + 2))
      in
      put dst ((n lsr 18) land 63);
      put (dst + 1) ((n lsr 12) land 63);
      put (dst + 2) ((n lsr 6) land 63);
      put (dst + 3) (n land 63);
      loop (src + 3) (dst + 4)
    end
    else if src < len then begin
      let b0 = Char.code (Bytes.get bytes src) in
      let b1 = if src + 1 < len then Char.code (Bytes.get bytes (src + 1)) else 0 in
      let n = (b0 lsl 16) lor (b1 lsl 8) in
      put dst ((n lsr 18) land 63);
      put (dst + 1) ((n lsr 12) land 63);
      if src + 1 < len then put (dst + 2) ((n lsr 6) land 63)
      else Bytes.set out (dst + 2) '=';
      Bytes.set out (dst + 3) '='
    end
  in
  loop 0 0;
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
  let digit i =
    let c = s.[i] in
    let v = digit_values.(Char.code c) in
    if v < 0 then
      if c = '=' && i >= len - padding then 0
      else invalid_arg (Printf.sprintf "invalid base64 character %C at offset %d" c i)
    else v
  in
  let out_len = Bytes.length out in
  let rec loop src dst =
    if src < len then begin
      let n =
        (digit src lsl 18) lor (digit (src + 1) lsl 12) lor (digit (src + 2) lsl 6)
        lor digit (src + 3)
      in
      Bytes.set out dst (Char.unsafe_chr ((n lsr 16) land 255));
      if dst + 1 < out_len then Bytes.set out (dst + 1) (Char.unsafe_chr ((n lsr 8) land 255));
      if dst + 2 < out_len then Bytes.set out (dst + 2) (Char.unsafe_chr (n land 255));
      loop (src + 4) (dst + 3)
    end
  in
  loop 0 0;
  out

let decode (s : string) =
  let bytes = decode_bytes s in
  let n = Bytes.length bytes in
  if n mod 8 <> 0 then
    invalid_arg (Printf.sprintf "%d bytes are not a whole number of doubles" n);
  Array.init (n / 8) (fun i -> Int64.float_of_bits (Bytes.get_int64_le bytes (8 * i)))

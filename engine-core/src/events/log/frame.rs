//! Encoding and checking of one record frame (see the format in `mod.rs`).
//! Pure functions over byte slices, so the writer, the reader and recovery
//! agree by construction on what a valid record is.

use super::error::CorruptReason;

/// Magic and format version at the start of every log file.
pub const FILE_MAGIC: &[u8; 8] = b"TELOG\0\0\x01";
pub const FILE_HEADER_LEN: u64 = FILE_MAGIC.len() as u64;
/// `len u32, flags u8, seq u64, time i64, header_crc u32, payload_crc u32`.
pub const RECORD_HEADER_LEN: usize = 29;
/// The bytes `header_crc` covers: everything before it.
const HEADER_CRC_SPAN: usize = 21;
/// Largest payload, before or after compression. Keeps a damaged length
/// from making a reader allocate gigabytes, and bounds a torn record.
pub const MAX_RECORD_LEN: usize = 64 * 1024 * 1024;
/// Flag bit 0: payload is lz4_flex block format with a prepended u32 size.
pub const FLAG_LZ4: u8 = 1;
const KNOWN_FLAGS: u8 = FLAG_LZ4;

/// A decoded record header whose own crc, flags and length were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Stored payload length (compressed length when `FLAG_LZ4` is set).
    pub len: u32,
    pub flags: u8,
    pub seq: u64,
    pub time: i64,
    pub payload_crc: u32,
}

impl FrameHeader {
    pub fn compressed(&self) -> bool {
        self.flags & FLAG_LZ4 != 0
    }

    /// Bytes the whole record occupies in the file.
    pub fn frame_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.len)
    }
}

pub fn encode_header(len: u32, flags: u8, seq: u64, time: i64, payload_crc: u32) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4] = flags;
    h[5..13].copy_from_slice(&seq.to_le_bytes());
    h[13..21].copy_from_slice(&time.to_le_bytes());
    let header_crc = crc32fast::hash(&h[..HEADER_CRC_SPAN]);
    h[21..25].copy_from_slice(&header_crc.to_le_bytes());
    h[25..29].copy_from_slice(&payload_crc.to_le_bytes());
    h
}

/// Checks the header crc first: until it matches, no other field can be
/// believed (a flipped length bit must not read as "payload past EOF").
pub fn decode_header(h: &[u8; RECORD_HEADER_LEN]) -> Result<FrameHeader, CorruptReason> {
    let stored = u32_at(h, 21);
    let computed = crc32fast::hash(&h[..HEADER_CRC_SPAN]);
    if stored != computed {
        return Err(CorruptReason::HeaderCrc { stored, computed });
    }
    let header = header_fields(h);
    if header.flags & !KNOWN_FLAGS != 0 {
        return Err(CorruptReason::BadFlags(header.flags));
    }
    if header.len as usize > MAX_RECORD_LEN {
        return Err(CorruptReason::TooLarge { len: u64::from(header.len) });
    }
    if header.seq == u64::MAX {
        return Err(CorruptReason::SeqOverflow);
    }
    Ok(header)
}

/// The fields of a header, unchecked: for one that [`decode_header`]
/// accepted before (a read-ahead thread's).
pub fn header_fields(h: &[u8; RECORD_HEADER_LEN]) -> FrameHeader {
    let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
    FrameHeader { len: u32_at(h, 0), flags: h[4], seq: u64_at(5), time: u64_at(13) as i64, payload_crc: u32_at(h, 25) }
}

pub fn check_seq(header: &FrameHeader, expected: Option<u64>) -> Result<(), CorruptReason> {
    match expected {
        Some(expected) if header.seq != expected => Err(CorruptReason::SeqGap { expected, found: header.seq }),
        _ => Ok(()),
    }
}

pub fn check_payload_crc(header: &FrameHeader, stored: &[u8]) -> Result<(), CorruptReason> {
    let computed = crc32fast::hash(stored);
    if computed != header.payload_crc {
        return Err(CorruptReason::PayloadCrc { stored: header.payload_crc, computed });
    }
    Ok(())
}

/// Compresses `payload` into `scratch` (size-prepended lz4 block, the
/// layout of `lz4_flex::compress_prepend_size`) and returns the compressed
/// length, or `None` when compression would not make it smaller (then the
/// record is stored raw). `scratch` keeps its capacity across calls.
pub fn compress_into(payload: &[u8], scratch: &mut Vec<u8>) -> Option<usize> {
    let max = 4 + lz4_flex::block::get_maximum_output_size(payload.len());
    if scratch.len() < max {
        scratch.resize(max, 0);
    }
    scratch[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    // Cannot fail: the output has the documented maximum size.
    let n = lz4_flex::block::compress_into(payload, &mut scratch[4..]).ok()?;
    let total = 4 + n;
    (total < payload.len()).then_some(total)
}

/// Decompresses a size-prepended lz4 block into `out` (resized to the
/// announced size, which must be exactly what comes out).
pub fn decompress_into(stored: &[u8], out: &mut Vec<u8>) -> Result<(), CorruptReason> {
    let Some(size) = stored.get(..4) else {
        return Err(CorruptReason::Decompress(format!("{} bytes, too short for the size prefix", stored.len())));
    };
    let size = u32::from_le_bytes(size.try_into().expect("4 bytes")) as usize;
    if size > MAX_RECORD_LEN {
        return Err(CorruptReason::TooLarge { len: size as u64 });
    }
    out.clear();
    out.resize(size, 0);
    match lz4_flex::block::decompress_into(&stored[4..], out) {
        Ok(n) if n == size => Ok(()),
        Ok(n) => Err(CorruptReason::Decompress(format!("announced {size} bytes, got {n}"))),
        Err(e) => Err(CorruptReason::Decompress(e.to_string())),
    }
}

fn u32_at(h: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_every_bit_flip_is_caught() {
        let h = encode_header(150, FLAG_LZ4, 42, -7, 0xdead_beef);
        let d = decode_header(&h).unwrap();
        assert_eq!(d, FrameHeader { len: 150, flags: FLAG_LZ4, seq: 42, time: -7, payload_crc: 0xdead_beef });
        for byte in 0..25 {
            for bit in 0..8 {
                let mut bad = h;
                bad[byte] ^= 1 << bit;
                assert!(
                    matches!(decode_header(&bad), Err(CorruptReason::HeaderCrc { .. })),
                    "flip of byte {byte} bit {bit} not caught"
                );
            }
        }
    }

    #[test]
    fn unknown_flags_and_oversize_are_refused_even_with_a_valid_crc() {
        let h = encode_header(1, 0b10, 1, 1, 0);
        assert_eq!(decode_header(&h), Err(CorruptReason::BadFlags(0b10)));
        let h = encode_header(MAX_RECORD_LEN as u32 + 1, 0, 1, 1, 0);
        assert!(matches!(decode_header(&h), Err(CorruptReason::TooLarge { .. })));
        let h = encode_header(MAX_RECORD_LEN as u32, 0, 1, 1, 0);
        assert!(decode_header(&h).is_ok());
        let h = encode_header(1, 0, u64::MAX, 1, 0);
        assert_eq!(decode_header(&h), Err(CorruptReason::SeqOverflow));
        let h = encode_header(1, 0, u64::MAX - 1, 1, 0);
        assert!(decode_header(&h).is_ok());
    }

    #[test]
    fn compression_matches_lz4_flex_prepend_size_layout() {
        let payload: Vec<u8> = (0..2000u32).map(|i| (i % 7) as u8).collect();
        let mut scratch = Vec::new();
        let n = compress_into(&payload, &mut scratch).expect("compressible");
        assert!(n < payload.len());
        assert_eq!(lz4_flex::decompress_size_prepended(&scratch[..n]).unwrap(), payload);
        let mut out = vec![9; 3];
        decompress_into(&scratch[..n], &mut out).unwrap();
        assert_eq!(out, payload);
        // And the other way round: what lz4_flex writes, we read.
        decompress_into(&lz4_flex::compress_prepend_size(&payload), &mut out).unwrap();
        assert_eq!(out, payload);
    }

    #[test]
    fn incompressible_payloads_are_left_raw() {
        let payload: Vec<u8> = (0..64u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert_eq!(compress_into(&payload, &mut Vec::new()), None);
        assert_eq!(compress_into(&[], &mut Vec::new()), None);
    }

    #[test]
    fn bad_lz4_is_reported_not_panicked() {
        let mut out = Vec::new();
        assert!(decompress_into(&[1, 2], &mut out).is_err());
        assert!(decompress_into(&[10, 0, 0, 0, 0xff, 0xff], &mut out).is_err());
        let mut good = Vec::new();
        let n = compress_into(&[5u8; 100], &mut good).unwrap();
        let mut wrong_size = good[..n].to_vec();
        wrong_size[0] = 99; // announces 99 bytes, holds 100
        assert!(decompress_into(&wrong_size, &mut out).is_err());
        wrong_size[0] = 101;
        assert!(decompress_into(&wrong_size, &mut out).is_err());
    }
}

//! Byte-level helpers for the Binance fast path: word-at-a-time (SWAR)
//! searches for commas and newlines, and an exact decimal parser.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that is zero, with no false positives
/// (the carry-free form of the classic has-zero-byte trick).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !(((x & !HIGHS) + !HIGHS) | x) & HIGHS
}

/// Newlines in `bytes`, eight bytes at a time.
pub(crate) fn count_newlines(bytes: &[u8]) -> usize {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder().iter().filter(|&&b| b == b'\n').count();
    words
        .map(|w| {
            let word = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            zero_bytes(word ^ (ONES * b'\n' as u64)).count_ones() as usize
        })
        .sum::<usize>()
        + tail
}

/// Commas from `from` up to the next newline, and the newline's index (or
/// the end of the text), eight bytes at a time.
#[inline]
pub(crate) fn commas_to_newline(bytes: &[u8], from: usize) -> (u32, usize) {
    let mut commas = 0;
    let mut q = from;
    while q + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[q..q + 8].try_into().expect("8 bytes"));
        let newlines = zero_bytes(word ^ (ONES * b'\n' as u64));
        let comma_bits = zero_bytes(word ^ (ONES * b',' as u64));
        if newlines != 0 {
            let bit = newlines.trailing_zeros();
            // Commas in bytes before the newline have lower high bits.
            commas += (comma_bits & ((1u64 << bit) - 1)).count_ones();
            return (commas, q + (bit / 8) as usize);
        }
        commas += comma_bits.count_ones();
        q += 8;
    }
    for (at, &b) in bytes.iter().enumerate().skip(q) {
        match b {
            b'\n' => return (commas, at),
            b',' => commas += 1,
            _ => {}
        }
    }
    (commas, bytes.len())
}

/// The index of the next newline at or after `from`, or the end of the text.
pub(crate) fn find_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| from + i)
}

/// Powers of ten exactly representable as f64.
pub(crate) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Plain decimals (`-12.3400`) whose digits fit in 53 bits, and at most 22
/// fractional digits. Then both the digits and the power of ten are exact
/// f64 values and one IEEE division is correctly rounded, so the result is
/// bit-identical to `str::parse::<f64>` (Clinger's fast path). Anything
/// else returns `None` for the general parser.
#[inline]
pub(crate) fn parse_decimal(bytes: &[u8]) -> Option<f64> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0;
    let mut fraction: Option<usize> = None;
    for &b in digits {
        if b == b'.' {
            if fraction.is_some() {
                return None;
            }
            fraction = Some(0);
            continue;
        }
        let d = b.wrapping_sub(b'0');
        if d > 9 || count == 19 {
            return None;
        }
        mantissa = mantissa * 10 + d as u64;
        count += 1;
        if let Some(f) = fraction.as_mut() {
            *f += 1;
        }
    }
    let scale = fraction.unwrap_or(0);
    if count == 0 || mantissa > (1 << 53) || scale >= POW10.len() {
        return None;
    }
    let value = mantissa as f64 / POW10[scale];
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_decimals_match_std_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..200_000 {
            let digits = rng.gen_range(1..=17);
            let mantissa: u64 = rng.gen_range(0..10u64.pow(digits));
            let scale = rng.gen_range(0..=digits as usize);
            let mut text = format!("{mantissa:0width$}", width = digits as usize);
            text.insert(text.len() - scale, '.');
            if rng.gen_bool(0.1) {
                text.insert(0, '-');
            }
            if let Some(fast) = parse_decimal(text.as_bytes()) {
                assert_eq!(fast.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
            }
        }
        for text in ["4.255", "25259.1", "0", "60685.22000000", "1.", ".5", "0.00002853"] {
            assert_eq!(parse_decimal(text.as_bytes()), Some(text.parse::<f64>().unwrap()), "{text}");
        }
        for text in ["", "-", ".", "1.2.3", "1e5", "abc", " 1", "12345678901234567890"] {
            assert_eq!(parse_decimal(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn counts_newlines() {
        let text = "a\nbb\n\nccccccccccccccc\nd\n\n\n\nxyz";
        assert_eq!(count_newlines(text.as_bytes()), text.matches('\n').count());
        assert_eq!(count_newlines(b""), 0);
    }

    #[test]
    fn zero_bytes_marks_exactly_the_zero_bytes() {
        for word in [0u64, u64::MAX, 0x0100_FF00_0180_0001, 0x8000_0000_0000_0080, 0x0001_0203_0405_0607] {
            let expected = (0..8).filter(|k| (word >> (8 * k)) & 0xFF == 0).fold(0u64, |m, k| m | (0x80 << (8 * k)));
            assert_eq!(zero_bytes(word), expected, "{word:#018x}");
        }
    }
}

//! Content hashes: SHA-256 identifies what a run used (a strategy's source,
//! its version; a data file, in `summary.json`), BLAKE3 what a session
//! recorded (every record, in the manifest).

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex digits of `bytes` (a finished digest).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes gathered before they are hashed: BLAKE3 hashes 1 KiB chunks side
/// by side (SIMD) only when it is given many at once.
const SLAB: usize = 64 * 1024;

/// BLAKE3 of a stream that arrives in small pieces (a session's records,
/// a few hundred bytes each), fed to the hasher in 64 KiB slabs. The
/// digest is that of the pieces laid end to end, however they were cut.
///
/// Why not SHA-256 here: it runs one block after another, and over every
/// record of a backtest it was a third of the log writer's time, time
/// taken from the engine's thread on a machine whose cores share a host
/// core (see `docs/performance.md`).
pub struct StreamHash {
    hasher: blake3::Hasher,
    slab: Vec<u8>,
}

impl Default for StreamHash {
    fn default() -> Self {
        StreamHash { hasher: blake3::Hasher::new(), slab: Vec::with_capacity(SLAB) }
    }
}

impl StreamHash {
    pub fn update(&mut self, piece: &[u8]) {
        if self.slab.len() + piece.len() > SLAB {
            self.hasher.update(&self.slab);
            self.slab.clear();
            if piece.len() >= SLAB {
                self.hasher.update(piece);
                return;
            }
        }
        self.slab.extend_from_slice(piece);
    }

    /// The digest of everything fed so far, as 64 lowercase hex digits.
    pub fn finish_hex(mut self) -> String {
        self.hasher.update(&self.slab);
        self.hasher.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_known_digest() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_stream_hashes_as_its_pieces_laid_end_to_end() {
        // BLAKE3's published digest of the empty input.
        assert_eq!(
            StreamHash::default().finish_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        let bytes: Vec<u8> = (0..3 * SLAB + 777).map(|i| (i * 31 % 251) as u8).collect();
        let whole = blake3::hash(&bytes).to_hex().to_string();
        // Small pieces across the slab boundaries, a piece larger than a
        // slab, and a piece that fills a slab exactly.
        for cuts in [vec![1, 7, 377, 1000], vec![SLAB + 3, 5], vec![SLAB, 1], vec![SLAB - 1, 2, SLAB]] {
            let mut stream = StreamHash::default();
            let (mut at, mut i) = (0, 0);
            while at < bytes.len() {
                let end = (at + cuts[i % cuts.len()]).min(bytes.len());
                stream.update(&bytes[at..end]);
                (at, i) = (end, i + 1);
            }
            assert_eq!(stream.finish_hex(), whole, "cut in pieces of {cuts:?}");
        }
    }
}

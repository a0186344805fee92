//! What can go wrong with a record log. Every variant that concerns a file
//! names it, so the message alone says where to look; corruption also gives
//! the byte offset of the record that failed, so it can be inspected with a
//! hex dump.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a record (or the file holding it) is not what the writer wrote.
///
/// Each of these means the bytes changed after they were written (or were
/// never written by this code): a reader stops at the record and never
/// guesses past it, because nothing after a damaged record can be trusted to
/// be framed where it appears to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorruptReason {
    /// The crc32 of the first 21 header bytes does not match `header_crc`.
    HeaderCrc { stored: u32, computed: u32 },
    /// The crc32 of the stored payload does not match `payload_crc`.
    PayloadCrc { stored: u32, computed: u32 },
    /// Bits other than bit 0 are set in the flags byte.
    BadFlags(u8),
    /// The seq is not the previous one plus 1.
    SeqGap { expected: u64, found: u64 },
    /// Seq `u64::MAX`, which no writer accepts (there would be no next seq).
    SeqOverflow,
    /// The header claims a payload bigger than [`super::MAX_RECORD_LEN`]
    /// (stored, or once decompressed).
    TooLarge { len: u64 },
    /// The payload is flagged lz4 but does not decompress to the size it
    /// announces.
    Decompress(String),
    /// A record runs past the end of the region the reader found valid when
    /// it opened the file: the file changed underneath the reader.
    PastValidEnd { valid_end: u64 },
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptReason::HeaderCrc { stored, computed } => {
                write!(f, "header crc mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            CorruptReason::PayloadCrc { stored, computed } => {
                write!(f, "payload crc mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            CorruptReason::BadFlags(flags) => write!(f, "unknown flag bits in {flags:#04x}"),
            CorruptReason::SeqGap { expected, found } => write!(f, "seq {found} where {expected} was expected"),
            CorruptReason::SeqOverflow => write!(f, "seq {} is reserved", u64::MAX),
            CorruptReason::TooLarge { len } => write!(f, "payload length {len} exceeds the 64 MiB maximum"),
            CorruptReason::Decompress(msg) => write!(f, "lz4 payload does not decompress: {msg}"),
            CorruptReason::PastValidEnd { valid_end } => {
                write!(f, "record runs past the valid end {valid_end} found at open (file changed?)")
            }
        }
    }
}

/// The end of a log was cut off in the middle of a record (or of the file
/// header): what a crash during a write leaves behind. Not an error: the
/// records before it are intact, and [`super::recover`] cuts the tail off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the incomplete record (or file header, then 0)
    /// starts; also the length of the valid part of the file.
    pub offset: u64,
    /// How many bytes of it were present (file length minus `offset`).
    pub bytes: u64,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torn tail: {} byte(s) of an incomplete record at offset {}", self.bytes, self.offset)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Any I/O failure; `op` says what was being done.
    #[error("event log {}: {op}: {source}", path.display())]
    Io { path: PathBuf, op: &'static str, source: io::Error },
    /// `create` refuses to overwrite: a log is evidence, not scratch space.
    #[error("event log {} already exists", path.display())]
    AlreadyExists { path: PathBuf },
    /// The first 8 bytes are not the log magic and version.
    #[error(
        "{} is not an event log: expected header b\"{}\", found b\"{}\"",
        path.display(), escape(expected), escape(found)
    )]
    BadHeader { path: PathBuf, expected: &'static [u8], found: Vec<u8> },
    #[error("event log {}: corrupt record at byte offset {offset}: {reason}", path.display())]
    Corrupt { path: PathBuf, offset: u64, reason: CorruptReason },
    /// Refused by the writer: seqs must go up by exactly one.
    #[error("event log {}: seq {found} refused, the next seq must be {expected}", path.display())]
    NonConsecutiveSeq { path: PathBuf, expected: u64, found: u64 },
    /// Refused by the writer: seq `u64::MAX` would leave no next seq.
    #[error("event log {}: seq {} is reserved", path.display(), u64::MAX)]
    SeqOverflow { path: PathBuf },
    /// Refused by the writer: payload over [`super::MAX_RECORD_LEN`].
    #[error("event log {}: payload of {len} bytes exceeds the maximum of {max}", path.display())]
    RecordTooLarge { path: PathBuf, len: usize, max: usize },
    /// An earlier write, flush or sync failed; nothing more is written so
    /// that no record can follow one that may be missing.
    #[error("event log {}: refused, an earlier I/O error left the writer unusable", path.display())]
    Poisoned { path: PathBuf },
    #[error("event log {}: invalid writer options: {reason}", path.display())]
    InvalidOptions { path: PathBuf, reason: &'static str },
    #[error("seq {seq} is not in the log (it holds {first}..={last})")]
    SeqOutOfRange { seq: u64, first: u64, last: u64 },
    /// A seek into a log with no records.
    #[error("event log {} holds no records", path.display())]
    EmptyLog { path: PathBuf },
    /// `seek_time` needs non-decreasing times for its binary search.
    #[error("event log {}: times are not non-decreasing, so it cannot be searched by time", path.display())]
    TimesNotMonotonic { path: PathBuf },
}

fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

impl LogError {
    pub(crate) fn io(path: &std::path::Path, op: &'static str, source: io::Error) -> Self {
        LogError::Io { path: path.to_path_buf(), op, source }
    }

    /// A copy of a `Corrupt` error (the type as a whole is not `Clone`
    /// because of `io::Error`); other variants give `None`.
    pub fn clone_corrupt(&self) -> Option<LogError> {
        match self {
            LogError::Corrupt { path, offset, reason } => {
                Some(LogError::Corrupt { path: path.clone(), offset: *offset, reason: reason.clone() })
            }
            _ => None,
        }
    }

    /// Offset of the damaged record, for `Corrupt`.
    pub fn corrupt_offset(&self) -> Option<u64> {
        match self {
            LogError::Corrupt { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

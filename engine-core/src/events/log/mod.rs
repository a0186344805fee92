//! The on-disk record log behind session event logs: an append-only file of
//! checksummed records, plus a sparse index file beside it for seeks. The
//! layer is generic: payloads are opaque bytes (the caller encodes events,
//! e.g. with postcard), each with a caller-given `seq` and `time`.
//!
//! - [`LogWriter`] appends (`create`, `open_append`, `append`, `sync`,
//!   `finish`); [`WriterOptions`] picks compression, [`Durability`] and the
//!   index spacing, and deserializes from a TOML table.
//! - [`LogReader`] replays (`next_into`, `next_lent`, `records`) and seeks
//!   (`seek_seq`, `seek_time`), reporting a torn tail and corruption. A long
//!   sequential read is checked ahead on a second thread (`ahead.rs`).
//! - [`recover`] cuts a torn tail off before a log is appended to again.
//!
//! # Log file format (version 1)
//!
//! All integers little-endian.
//!
//! ```text
//! file   := header record*
//! header := "TELOG" 0x00 0x00 0x01                 8 bytes: magic, then format version 1
//! record := len:u32 flags:u8 seq:u64 time:i64      the first 21 header bytes
//!           header_crc:u32                         crc32 (crc32fast) of those 21 bytes
//!           payload_crc:u32                        crc32 of the `len` stored payload bytes
//!           payload:[u8; len]                      29 header bytes + len in all
//! ```
//!
//! - `flags` bit 0: the payload is compressed, in lz4_flex block format with
//!   the uncompressed size prepended as a u32 (`lz4_flex::compress_prepend_size`).
//!   The writer sets it only when compression made the payload smaller.
//!   Other bits must be 0.
//! - `len` is the stored (possibly compressed) length; it and the
//!   uncompressed length are at most [`MAX_RECORD_LEN`] (64 MiB).
//! - `seq` goes up by exactly 1 from record to record, from whatever the
//!   first record has. `time` is recorded as given; it need not be
//!   monotonic, but only a log whose times never decrease can be searched
//!   by time.
//!
//! Every byte of a record is covered by a checksum: header bytes by
//! `header_crc` (and the crc fields by their own comparison), payload bytes
//! by `payload_crc`.
//!
//! # Torn tail versus corruption
//!
//! Reading from the start, each record is either good, or the scan stops:
//!
//! - **Torn tail** (what a crash in the middle of an append leaves): fewer
//!   than 29 bytes left after the last good record, or a header whose
//!   `header_crc` checks out but whose payload runs past the end of the file;
//!   also a file shorter than its 8-byte header whose bytes are the start of
//!   it (an empty log). Not an error: the records before it are all there,
//!   readers report it ([`LogReader::torn_tail`], and a `tracing` warning),
//!   and [`recover`] truncates the file to the last good record.
//! - **Corruption** (bytes that changed after they were written, or were
//!   never written by this code): a complete header with a bad `header_crc`
//!   (even as the very last bytes of the file: a cut cannot produce one), a
//!   payload with a bad `payload_crc`, unknown flag bits, a seq that is not
//!   the previous + 1 (or is `u64::MAX`, reserved), a length over 64 MiB, or
//!   an lz4 payload that does not decompress to its announced size. Readers yield the records before it,
//!   then [`LogError::Corrupt`] with the byte offset of the record's start,
//!   and never guess past it; [`recover`] refuses to touch the file.
//!
//! A file whose first 8 bytes are not the header is not a log
//! ([`LogError::BadHeader`]).
//!
//! # Index file format (version 1)
//!
//! Beside the log at [`index_path`] (the log's path + `.idx`):
//!
//! ```text
//! index  := "TELOGIX" 0x01                         8 bytes: magic, then format version 1
//!           index_every:u32                        one entry per this many records
//!           flags:u8                               bit 0: all times so far non-decreasing
//!           0x00 0x00 0x00                         reserved
//!           entry*
//! entry  := seq:u64 time:i64 offset:u64            24 bytes; offset of the record in the log
//! ```
//!
//! Entry k is for record `first_seq + k × index_every` (so the first entry
//! is the first record, at offset 8). The writer appends entries through
//! its own buffer, hands them to the OS whenever it syncs the log, and
//! fsyncs the index at finish; the monotonic flag is cleared in place as
//! soon as a time goes backwards.
//!
//! The index is a cache, never trusted blindly: on open, each entry must
//! point, within the file, at an intact record header with the entry's seq
//! and time. The longest prefix of entries that passes is used; the rest
//! (a missing, truncated, stale, or foreign index) is rebuilt in memory by
//! scanning record headers only (seeking over payloads), which
//! [`LogReader::index_status`] reports. A seek then costs a binary search
//! plus at most `index_every` record headers.

mod ahead;
mod error;
mod frame;
mod index;
mod options;
mod reader;
mod recover;
mod scan;
mod writer;

pub use error::{CorruptReason, LogError, TornTail};
pub use frame::{FILE_MAGIC, MAX_RECORD_LEN, RECORD_HEADER_LEN};
pub use index::{index_path, IndexEntry, INDEX_MAGIC};
pub use options::{Compression, Durability, WriterOptions, DEFAULT_INDEX_EVERY};
pub use reader::{IndexStatus, LogReader, Record, RecordHeader, Records};
pub use recover::recover;
pub use writer::{LogSummary, LogWriter};

//! Read-ahead for long sequential reads: a second thread reads the file,
//! walks the record headers and checks every crc and the seq chain, and
//! hands over chunks of whole records it vouches for. Replaying a session
//! then decodes on one core while the other does what was a third of
//! replay's time (the kernel's copy of the file and the crcs).
//!
//! The thread only ever vouches. At anything it cannot vouch for (the valid
//! end, a damaged record, an I/O error) it stops sending, and the reader
//! goes on by itself from that offset, so that errors, their offsets and
//! torn tails come from the one place that decides them (`scan.rs`).

use std::fs::File;
use std::io;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread;

use super::frame::{check_payload_crc, check_seq, decode_header, header_fields, FrameHeader, RECORD_HEADER_LEN};

/// Bytes read per chunk (a chunk grows to hold a larger record whole).
const CHUNK: usize = 1024 * 1024;
/// Chunks checked and waiting: enough to ride out an uneven decode.
const QUEUED: usize = 2;

/// The reading side's end of a read-ahead thread. Dropping it stops the
/// thread (its next send fails).
pub(crate) struct ReadAhead {
    chunks: Receiver<Chunk>,
    /// Spent chunks go back to the thread to be filled again.
    spent: SyncSender<Vec<u8>>,
    chunk: Chunk,
    /// Where the next record starts in `chunk.bytes`.
    at: usize,
}

/// Whole records, every one checked, as they lie in the file.
struct Chunk {
    /// File offset of `bytes[0]`.
    offset: u64,
    bytes: Vec<u8>,
}

impl ReadAhead {
    /// Starts vouching for the records from `from` (which must be a record
    /// start whose seq is `expect`, if known) up to `limit`.
    pub fn start(file: &File, from: u64, limit: u64, expect: Option<u64>) -> io::Result<ReadAhead> {
        let file = file.try_clone()?;
        let (sender, chunks) = sync_channel(QUEUED);
        let (spent, recycled) = sync_channel(QUEUED + 2);
        thread::Builder::new()
            .name("event-log-read-ahead".into())
            .spawn(move || vouch(&file, from, limit, expect, &sender, &recycled))?;
        Ok(ReadAhead { chunks, spent, chunk: Chunk { offset: from, bytes: Vec::new() }, at: 0 })
    }

    /// Whether the thread vouched for a record starting at `pos` (waiting
    /// for it if need be). `false` once it stopped: the caller reads on by
    /// itself from `pos`.
    pub fn has_record_at(&mut self, pos: u64) -> bool {
        if self.at == self.chunk.bytes.len() {
            let Ok(next) = self.chunks.recv() else { return false };
            let spent = std::mem::replace(&mut self.chunk, next);
            // A full queue only means the thread has buffers enough.
            let _ = self.spent.try_send(spent.bytes);
            self.at = 0;
        }
        self.chunk.offset + self.at as u64 == pos
    }

    /// The record [`Self::has_record_at`] found, with its stored payload;
    /// the next one's turn comes after.
    pub fn take(&mut self) -> (u64, FrameHeader, &[u8]) {
        let offset = self.chunk.offset + self.at as u64;
        let start = self.at + RECORD_HEADER_LEN;
        let header = header_fields(self.chunk.bytes[self.at..start].try_into().expect("a whole header"));
        let end = start + header.len as usize;
        self.at = end;
        (offset, header, &self.chunk.bytes[start..end])
    }
}

/// The thread: reads chunk after chunk and sends the checked records of
/// each, until `limit`, a record it cannot vouch for, or a closed channel.
fn vouch(
    file: &File,
    mut from: u64,
    limit: u64,
    mut expect: Option<u64>,
    sender: &SyncSender<Chunk>,
    recycled: &Receiver<Vec<u8>>,
) {
    // `buf[..filled]` holds the file from `from` on: checked records, then
    // the start of one not yet whole. Buffers keep their length when
    // recycled, so that reading into them needs no zeroing.
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0;
    loop {
        let read_from = from + filled as u64;
        let n = ((buf.len() - filled) as u64).min(limit.saturating_sub(read_from)) as usize;
        if n == 0 || read_exact_at(file, &mut buf[filled..filled + n], read_from).is_err() {
            return;
        }
        filled += n;
        let (checked, next_len) = check_records(&buf[..filled], &mut expect);
        if checked > 0 {
            let mut next = match recycled.try_recv() {
                // Only the part cut off when it was sent needs zeroing.
                Ok(mut v) => {
                    v.resize(v.capacity(), 0);
                    v
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => vec![0u8; CHUNK],
            };
            let rest = filled - checked;
            if next.len() < rest {
                next.resize(rest, 0);
            }
            next[..rest].copy_from_slice(&buf[checked..filled]);
            buf.truncate(checked);
            let chunk = Chunk { offset: from, bytes: std::mem::replace(&mut buf, next) };
            if sender.send(chunk).is_err() {
                return;
            }
            (from, filled) = (from + checked as u64, rest);
        }
        match next_len {
            // Damage, or bytes that are not a record: the reader finds out which.
            None => return,
            Some(len) if len > buf.len() => buf.resize(len.max(CHUNK), 0),
            Some(_) => {}
        }
    }
}

/// Checks the whole records at the start of `buf`: how many bytes they
/// take, and the length of the first record not whole in `buf` (at least a
/// header when even that is cut), or `None` at one that fails a check.
fn check_records(buf: &[u8], expect: &mut Option<u64>) -> (usize, Option<usize>) {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        let Some(h) = rest.first_chunk::<RECORD_HEADER_LEN>() else {
            return (at, Some(RECORD_HEADER_LEN));
        };
        let Ok(header) = decode_header(h) else { return (at, None) };
        if check_seq(&header, *expect).is_err() {
            return (at, None);
        }
        let len = header.frame_len() as usize;
        let Some(payload) = rest.get(RECORD_HEADER_LEN..len) else { return (at, Some(len)) };
        if check_payload_crc(&header, payload).is_err() {
            return (at, None);
        }
        *expect = Some(header.seq + 1);
        at += len;
    }
}

/// Positioned reads leave the file's shared cursor to the reader's own
/// buffered stream (the engine is built for Unix: the recorder's lock is
/// an `flock`).
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(test)]
mod tests {
    use super::super::frame::encode_header;
    use super::*;

    fn record(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut r = encode_header(payload.len() as u32, 0, seq, seq as i64 * 10, crc32fast::hash(payload)).to_vec();
        r.extend_from_slice(payload);
        r
    }

    #[test]
    fn checking_stops_before_a_cut_record_and_at_a_bad_one() {
        let (a, b) = (record(5, b"alpha"), record(6, &[7u8; 300]));
        let both = [a.clone(), b.clone()].concat();
        assert_eq!(check_records(&both, &mut Some(5)), (both.len(), Some(RECORD_HEADER_LEN)));
        let mut expect = Some(5);
        assert_eq!(check_records(&both[..a.len() + 40], &mut expect), (a.len(), Some(b.len())));
        assert_eq!(expect, Some(6), "the chain continues at the cut record");
        assert_eq!(check_records(&both[..a.len() + 3], &mut Some(5)), (a.len(), Some(RECORD_HEADER_LEN)));
        assert_eq!(check_records(&both, &mut Some(4)), (0, None), "a seq gap");
        let mut damaged = both.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(check_records(&damaged, &mut Some(5)), (a.len(), None), "a payload crc");
    }
}

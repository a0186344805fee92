//! Reading a log: open (find the valid end, load or rebuild the index),
//! sequential replay, and seeks by seq or time.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::ahead::ReadAhead;
use super::error::{CorruptReason, LogError, TornTail};
use super::frame::{decompress_into, FrameHeader, FILE_HEADER_LEN};
use super::index::{index_path, read_index_file, validate_entries, IndexEntry};
use super::options::DEFAULT_INDEX_EVERY;
use super::scan::{read_file_header, scan, FileHeader, Next, RecordStream, ScanState, Stop, StreamError};

/// One record, payload decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub time: i64,
    /// Byte offset of the record's frame in the log file.
    pub offset: u64,
    pub payload: Vec<u8>,
}

/// What [`LogReader::next_into`] returns beside the payload it filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub seq: u64,
    pub time: i64,
    pub offset: u64,
    /// Bytes the payload takes in the file (compressed size if compressed).
    pub stored_len: u32,
    pub compressed: bool,
}

/// What became of the index file when the log was opened. Only `Valid`
/// means the file was used as is; in every other case the reader built the
/// missing part in memory by scanning record headers (the file on disk is
/// left alone: a reader never writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStatus {
    /// Every entry matched the log and nothing was missing.
    Valid,
    /// No index file.
    Missing,
    /// The first `kept` entries were good; the rest were rebuilt. `reason`
    /// says why the rest was not used (e.g. the index is from a shorter or
    /// longer version of the log).
    Repaired { kept: usize, reason: String },
    /// The index file could not be used at all.
    Rebuilt { reason: String },
}

/// Records read one after another before a read-ahead thread takes over
/// the reading and checking: a seek that reads a few costs no thread.
const READ_AHEAD_AFTER: u32 = 64;

/// A log opened for reading. `open` finds where the valid records end
/// (reporting a torn tail, and corruption its header scan ran into), and an
/// index for seeks; records are then read sequentially from the current
/// position, which `seek_seq`, `seek_time` and `rewind` move.
///
/// Open scans only the record headers after the last trustworthy index
/// entry, so damage in the middle of an indexed log is found when iteration
/// (or a seek) reaches it: iteration checks every header and payload crc
/// and the seq chain, yields the records before the damage, then one
/// `Corrupt` error, then nothing.
pub struct LogReader {
    path: PathBuf,
    stream: RecordStream,
    valid_end: u64,
    torn: Option<TornTail>,
    /// Corruption at `valid_end`, found by open's scan.
    corruption: Option<LogError>,
    /// Iteration hit corruption: it yields nothing more.
    failed: bool,
    every: u32,
    entries: Vec<IndexEntry>,
    monotonic: bool,
    first: Option<(u64, i64)>,
    last: Option<(u64, i64)>,
    index_status: IndexStatus,
    /// Reading and checking ahead, on a long sequential read.
    ahead: Option<ReadAhead>,
    /// Records read in a row since the last move, to start `ahead`.
    in_a_row: u32,
}

impl LogReader {
    pub fn open(path: impl AsRef<Path>) -> Result<LogReader, LogError> {
        Self::open_inner(path.as_ref())
    }

    fn open_inner(path: &Path) -> Result<LogReader, LogError> {
        let io = |op: &'static str| move |e: std::io::Error| LogError::io(path, op, e);
        let mut file = File::open(path).map_err(io("opening"))?;
        let file_len = file.metadata().map_err(io("reading metadata"))?.len();
        if let FileHeader::Torn(t) = read_file_header(path, &mut file, file_len)? {
            tracing::warn!(path = %path.display(), bytes = t.bytes, "event log: file header is torn, log is empty");
            let stream = RecordStream::new(file, file_len).map_err(io("seeking"))?;
            return Ok(LogReader {
                path: path.to_path_buf(),
                stream,
                valid_end: 0,
                torn: Some(t),
                corruption: None,
                failed: false,
                every: DEFAULT_INDEX_EVERY,
                entries: Vec::new(),
                monotonic: true,
                first: None,
                last: None,
                index_status: IndexStatus::Missing,
                ahead: None,
                in_a_row: 0,
            });
        }

        // Take the longest prefix of the index that the log confirms.
        let idx_path = index_path(path);
        let (mut st, index_status) = match read_index_file(&idx_path) {
            Ok(None) => (ScanState::new(DEFAULT_INDEX_EVERY), IndexStatus::Missing),
            Err(reason) => (ScanState::new(DEFAULT_INDEX_EVERY), IndexStatus::Rebuilt { reason }),
            Ok(Some(index)) => {
                let (kept, why) =
                    validate_entries(&file, file_len, index.every, &index.entries).map_err(io("reading the index"))?;
                let mut st = ScanState::new(index.every);
                st.entries = index.entries;
                st.entries.truncate(kept);
                let status = match why {
                    None => IndexStatus::Valid,
                    Some(reason) if kept == 0 => IndexStatus::Rebuilt { reason },
                    Some(reason) => IndexStatus::Repaired { kept, reason },
                };
                // The flag covers the records its writer wrote; entries
                // out of time order mean it is not to be believed.
                st.monotonic = index.monotonic && st.entries.windows(2).all(|w| w[0].time <= w[1].time);
                (st, status)
            }
        };
        let start = st.entries.last().copied();
        st.first = st.entries.first().map(|e| (e.seq, e.time));
        let mut stream = RecordStream::new(file, start.map_or(FILE_HEADER_LEN, |e| e.offset)).map_err(io("seeking"))?;
        stream.expect = start.map(|e| e.seq);
        let kept = st.entries.len();
        let stop = scan(&mut stream, file_len, &mut st, false).map_err(io("scanning record headers"))?;
        let valid_end = stream.pos;

        let mut index_status = index_status;
        if index_status == IndexStatus::Valid && st.entries.len() > kept {
            index_status = IndexStatus::Repaired {
                kept,
                reason: format!("the log has {} more indexed records than the index", st.entries.len() - kept),
            };
        }
        if index_status != IndexStatus::Valid {
            tracing::info!(path = %idx_path.display(), status = ?index_status, "event log index rebuilt in memory");
        }

        let (torn, corruption) = match stop {
            Stop::Clean => (None, None),
            Stop::Torn(t) => {
                tracing::warn!(path = %path.display(), offset = t.offset, bytes = t.bytes, "event log has a torn tail");
                (Some(t), None)
            }
            Stop::Corrupt { offset, reason } => {
                tracing::error!(path = %path.display(), offset, %reason, "event log is corrupt");
                (None, Some(LogError::Corrupt { path: path.to_path_buf(), offset, reason }))
            }
        };
        stream.goto(FILE_HEADER_LEN, None).map_err(io("seeking"))?;
        Ok(LogReader {
            path: path.to_path_buf(),
            stream,
            valid_end,
            torn,
            corruption,
            failed: false,
            every: st.every,
            monotonic: st.monotonic,
            first: st.first,
            last: st.last,
            entries: st.entries,
            index_status,
            ahead: None,
            in_a_row: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The incomplete record (or file header) cut off at the end, if any.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn
    }

    /// Corruption that open's header scan stopped at (always a `Corrupt`),
    /// located at `valid_bytes()`. `None` does not prove the log sound:
    /// payloads and the headers an index let open skip are checked when
    /// read.
    pub fn corruption(&self) -> Option<&LogError> {
        self.corruption.as_ref()
    }

    pub fn index_status(&self) -> &IndexStatus {
        &self.index_status
    }

    pub fn index_every(&self) -> u32 {
        self.every
    }

    /// Were all record times non-decreasing (what `seek_time` needs)?
    pub fn times_monotonic(&self) -> bool {
        self.monotonic
    }

    /// Length of the file up to the end of the last record open found
    /// intact (a torn tail or corrupt record starts here).
    pub fn valid_bytes(&self) -> u64 {
        self.valid_end
    }

    /// Records in the valid part, from the seq range (seqs are consecutive).
    pub fn len_records(&self) -> u64 {
        match (self.first, self.last) {
            (Some((f, _)), Some((l, _))) => l - f + 1,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub fn first_seq(&self) -> Option<u64> {
        self.first.map(|(s, _)| s)
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.last.map(|(s, _)| s)
    }

    pub fn first_time(&self) -> Option<i64> {
        self.first.map(|(_, t)| t)
    }

    pub fn last_time(&self) -> Option<i64> {
        self.last.map(|(_, t)| t)
    }

    /// The index entries (from the file, or rebuilt), e.g. for inspection.
    pub fn index_entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Back to the first record (also clears a failed iteration, which
    /// will then fail again at the same record).
    pub fn rewind(&mut self) -> Result<(), LogError> {
        self.failed = false;
        self.goto(FILE_HEADER_LEN, None)
    }

    /// Reads the next record's payload into `payload` (reusing its
    /// allocation). `Ok(None)` at the end of the valid records; a torn tail
    /// is not an error (see `torn_tail`). After an error it returns
    /// `Ok(None)` until a seek or rewind.
    pub fn next_into(&mut self, payload: &mut Vec<u8>) -> Result<Option<RecordHeader>, LogError> {
        if self.read_ahead_has_next() {
            // Compressed records are decompressed apart and copied: this
            // copying variant is not the replay path (`next_lent` is).
            let mut spare = Vec::new();
            let (header, stored) = self.next_ahead(&mut spare)?;
            payload.clear();
            payload.extend_from_slice(stored);
            return Ok(Some(header));
        }
        let Some(found) = self.next_header()? else { return Ok(None) };
        match self.stream.read_payload(&found.frame, payload) {
            Ok(()) => {
                self.in_a_row += 1;
                Ok(Some(found.record_header()))
            }
            Err(e) => Err(self.failure(found.offset, e)),
        }
    }

    /// As [`Self::next_into`], but the payload is lent: straight from the
    /// read buffer when it lies there whole and uncompressed (no copy),
    /// else from `spare`. The way to read a log record after record.
    pub fn next_lent<'s>(&'s mut self, spare: &'s mut Vec<u8>) -> Result<Option<(RecordHeader, &'s [u8])>, LogError> {
        if self.read_ahead_has_next() {
            return self.next_ahead(spare).map(Some);
        }
        let Some(found) = self.next_header()? else { return Ok(None) };
        self.in_a_row += 1;
        match self.stream.payload(&found.frame, spare) {
            Ok(payload) => Ok(Some((found.record_header(), payload))),
            // `failure` would borrow all of `self`, which the lent payload
            // still holds here; these are the fields it sets and reads.
            Err(e) => {
                self.failed = true;
                Err(stream_error(&self.path, found.offset, e, "reading a record"))
            }
        }
    }

    /// Whether the read-ahead thread vouched for the next record; starts
    /// the thread after [`READ_AHEAD_AFTER`] records read in a row, and
    /// lets it go once it stopped (the reader then reads on by itself and
    /// finds why).
    fn read_ahead_has_next(&mut self) -> bool {
        if self.failed || self.stream.pos >= self.valid_end {
            return false;
        }
        if self.ahead.is_none() && self.in_a_row >= READ_AHEAD_AFTER {
            self.in_a_row = 0;
            let (file, pos, expect) = (self.stream.file(), self.stream.pos, self.stream.expect);
            // Without a thread the reader does the same work itself.
            self.ahead = ReadAhead::start(file, pos, self.valid_end, expect)
                .inspect_err(|e| tracing::debug!(error = %e, "event log read-ahead not started"))
                .ok();
        }
        let Some(ahead) = &mut self.ahead else { return false };
        if ahead.has_record_at(self.stream.pos) {
            return true;
        }
        self.ahead = None;
        false
    }

    /// The record [`Self::read_ahead_has_next`] found: its payload lent
    /// from the thread's chunk, or decompressed into `spare`.
    fn next_ahead<'s>(&'s mut self, spare: &'s mut Vec<u8>) -> Result<(RecordHeader, &'s [u8]), LogError> {
        let (offset, frame, stored) = self.ahead.as_mut().expect("read-ahead has the next record").take();
        let payload = match frame.compressed() {
            false => stored,
            true => match decompress_into(stored, spare) {
                Ok(()) => spare.as_slice(),
                Err(reason) => {
                    // As `failure`, which would borrow all of `self`.
                    self.failed = true;
                    return Err(stream_error(&self.path, offset, StreamError::Corrupt(reason), "reading a record"));
                }
            },
        };
        self.stream.passed(&frame);
        Ok((Found { frame, offset }.record_header(), payload))
    }

    /// The next record's checked header, its payload not read yet.
    fn next_header(&mut self) -> Result<Option<Found>, LogError> {
        if self.failed {
            return Ok(None);
        }
        let offset = self.stream.pos;
        if offset >= self.valid_end {
            return match &self.corruption {
                Some(c) if offset == self.valid_end => {
                    self.failed = true;
                    Err(c.clone_corrupt().expect("stored corruption is Corrupt"))
                }
                _ => Ok(None),
            };
        }
        match self.stream.read_header(self.valid_end) {
            Ok(Next::Header(frame)) => Ok(Some(Found { frame, offset })),
            Ok(Next::End) => Ok(None),
            Ok(Next::Torn(_)) => {
                let e = StreamError::Corrupt(CorruptReason::PastValidEnd { valid_end: self.valid_end });
                Err(self.failure(offset, e))
            }
            Err(e) => Err(self.failure(offset, e)),
        }
    }

    /// Iteration stops at its first error, which names the record's offset.
    fn failure(&mut self, offset: u64, e: StreamError) -> LogError {
        self.failed = true;
        self.stream_error(offset, e, "reading a record")
    }

    /// Iterator over the records from the current position.
    pub fn records(&mut self) -> Records<'_> {
        Records { reader: self }
    }

    /// Positions at record `seq`: jumps to the index entry at or before it,
    /// then steps over at most `index_every - 1` record headers.
    pub fn seek_seq(&mut self, seq: u64) -> Result<(), LogError> {
        let (Some((first, _)), Some((last, _))) = (self.first, self.last) else {
            return Err(LogError::EmptyLog { path: self.path.clone() });
        };
        if seq < first || seq > last {
            return Err(LogError::SeqOutOfRange { seq, first, last });
        }
        // Entries sit at exactly first + k × every, so no search is needed.
        let k = ((seq - first) / u64::from(self.every)) as usize;
        let entry = self.entries[k];
        self.failed = false;
        self.goto_entry(entry)?;
        while self.stream.pos < self.valid_end {
            let h = self.step_header()?;
            if h.seq == seq {
                return self.goto(self.stream.pos, Some(seq));
            }
            self.stream.skip_payload(&h).map_err(|e| LogError::io(&self.path, "seeking", e))?;
        }
        // Unreachable for a sound log: the scan at open saw `last`.
        Err(LogError::SeqOutOfRange { seq, first, last })
    }

    /// Positions at the first record with time ≥ `time` and returns its
    /// seq, or positions at the end (iteration yields nothing) and returns
    /// `None` when every record is earlier. Binary search over the index,
    /// then at most `index_every` record headers. Refused with
    /// `TimesNotMonotonic` when the times are not non-decreasing, where
    /// such a search would silently give wrong answers.
    pub fn seek_time(&mut self, time: i64) -> Result<Option<u64>, LogError> {
        if !self.monotonic {
            return Err(LogError::TimesNotMonotonic { path: self.path.clone() });
        }
        self.failed = false;
        if self.entries.is_empty() {
            self.goto(self.valid_end, None)?;
            return Ok(None);
        }
        // Entries before `k` are earlier than `time`; the target is after
        // entry k-1 and at or before entry k.
        let k = self.entries.partition_point(|e| e.time < time);
        let entry = self.entries[k.saturating_sub(1)];
        self.goto_entry(entry)?;
        while self.stream.pos < self.valid_end {
            let h = self.step_header()?;
            if h.time >= time {
                self.goto(self.stream.pos, Some(h.seq))?;
                return Ok(Some(h.seq));
            }
            self.stream.skip_payload(&h).map_err(|e| LogError::io(&self.path, "seeking", e))?;
        }
        let expect = self.last.map(|(s, _)| s + 1);
        self.goto(self.valid_end, expect)?;
        Ok(None)
    }

    fn goto_entry(&mut self, entry: IndexEntry) -> Result<(), LogError> {
        self.goto(entry.offset, Some(entry.seq))
    }

    fn goto(&mut self, pos: u64, expect: Option<u64>) -> Result<(), LogError> {
        (self.ahead, self.in_a_row) = (None, 0);
        self.stream.goto(pos, expect).map_err(|e| LogError::io(&self.path, "seeking", e))
    }

    /// Reads the header at the stream position during a seek, as strictly
    /// as iteration would.
    fn step_header(&mut self) -> Result<FrameHeader, LogError> {
        let offset = self.stream.pos;
        match self.stream.read_header(self.valid_end) {
            Ok(Next::Header(h)) => Ok(h),
            Ok(Next::End) | Ok(Next::Torn(_)) => Err(self.stream_error(
                offset,
                StreamError::Corrupt(CorruptReason::PastValidEnd { valid_end: self.valid_end }),
                "seeking",
            )),
            Err(e) => Err(self.stream_error(offset, e, "seeking")),
        }
    }

    fn stream_error(&self, offset: u64, e: StreamError, op: &'static str) -> LogError {
        stream_error(&self.path, offset, e, op)
    }
}

fn stream_error(path: &Path, offset: u64, e: StreamError, op: &'static str) -> LogError {
    match e {
        StreamError::Io(e) => LogError::io(path, op, e),
        StreamError::Corrupt(reason) => LogError::Corrupt { path: path.to_path_buf(), offset, reason },
    }
}

/// A record's header found at `offset`.
struct Found {
    frame: FrameHeader,
    offset: u64,
}

impl Found {
    fn record_header(&self) -> RecordHeader {
        RecordHeader {
            seq: self.frame.seq,
            time: self.frame.time,
            offset: self.offset,
            stored_len: self.frame.len,
            compressed: self.frame.compressed(),
        }
    }
}

/// Records from a reader's position on; see [`LogReader::next_into`].
pub struct Records<'a> {
    reader: &'a mut LogReader,
}

impl Iterator for Records<'_> {
    type Item = Result<Record, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut payload = Vec::new();
        match self.reader.next_into(&mut payload) {
            Ok(Some(h)) => Some(Ok(Record { seq: h.seq, time: h.time, offset: h.offset, payload })),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

//! Walking the records of a log from some offset: the one place that
//! decides, record by record, between "fine", "torn tail" and "corrupt".
//! The reader's open (header only), its iteration (with payloads) and
//! `recover` (with payloads) all go through here.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::{CorruptReason, LogError, TornTail};
use super::frame::{
    check_payload_crc, check_seq, decode_header, decompress_into, FrameHeader, FILE_HEADER_LEN, FILE_MAGIC,
    RECORD_HEADER_LEN,
};
use super::index::IndexEntry;

/// Big enough that sequential replay costs few syscalls.
pub(crate) const READ_BUFFER: usize = 1024 * 1024;

/// The file header of an open log file, checked.
pub(crate) enum FileHeader {
    Valid,
    /// Shorter than a header, but what is there is the start of one: the
    /// file was cut while being created. An empty log.
    Torn(TornTail),
}

pub(crate) fn read_file_header(path: &Path, file: &mut File, file_len: u64) -> Result<FileHeader, LogError> {
    let mut got = [0u8; FILE_HEADER_LEN as usize];
    let n = file_len.min(FILE_HEADER_LEN) as usize;
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut got[..n]))
        .map_err(|e| LogError::io(path, "reading the file header", e))?;
    if got[..n] != FILE_MAGIC[..n] {
        return Err(LogError::BadHeader { path: path.to_path_buf(), expected: FILE_MAGIC, found: got[..n].to_vec() });
    }
    if n < FILE_HEADER_LEN as usize {
        return Ok(FileHeader::Torn(TornTail { offset: 0, bytes: file_len }));
    }
    Ok(FileHeader::Valid)
}

/// What `read_header` found at the current position.
pub(crate) enum Next {
    /// Nothing left before the limit: a clean end.
    End,
    /// An intact header (crc, flags, length and seq checked), with its
    /// payload entirely before the limit.
    Header(FrameHeader),
    /// Fewer bytes than a header left, or an intact header whose payload
    /// runs past the limit.
    Torn(TornTail),
}

pub(crate) enum StreamError {
    Io(io::Error),
    /// The record at the stream's `pos` is damaged.
    Corrupt(CorruptReason),
}

impl From<io::Error> for StreamError {
    fn from(e: io::Error) -> Self {
        StreamError::Io(e)
    }
}

/// A buffered cursor over the records of a log. `pos` is the start of the
/// next record; it only moves past a record once that record was accepted,
/// so after an error it is the offset of the bad record.
pub(crate) struct RecordStream {
    inner: BufReader<File>,
    /// Where `inner` is, to turn absolute moves into buffer-keeping relative
    /// ones; `UNKNOWN` after a failed read.
    inner_pos: u64,
    pub pos: u64,
    /// Seq the next record must have; `None` before the first record read.
    pub expect: Option<u64>,
    /// Holds compressed payloads between read and decompression.
    scratch: Vec<u8>,
    /// Bytes of a payload lent out of `inner`'s buffer ([`Self::payload`]),
    /// consumed before `inner` is next used; `inner_pos` counts them already.
    lent: usize,
}

impl RecordStream {
    pub fn new(mut file: File, pos: u64) -> io::Result<Self> {
        file.seek(SeekFrom::Start(pos))?;
        Ok(RecordStream {
            inner: BufReader::with_capacity(READ_BUFFER, file),
            inner_pos: pos,
            pos,
            expect: None,
            scratch: Vec::new(),
            lent: 0,
        })
    }

    /// Consumes the payload last lent out of the buffer.
    fn settle(&mut self) {
        self.inner.consume(std::mem::take(&mut self.lent));
    }

    /// Positions at a record start known to hold `expect` (or anything, for `None`).
    pub fn goto(&mut self, pos: u64, expect: Option<u64>) -> io::Result<()> {
        self.settle();
        let delta = i64::try_from(pos as i128 - self.inner_pos as i128);
        let moved = match delta {
            Ok(d) if self.inner_pos != UNKNOWN => self.inner.seek_relative(d),
            _ => self.inner.seek(SeekFrom::Start(pos)).map(|_| ()),
        };
        if let Err(e) = moved {
            self.inner_pos = UNKNOWN;
            return Err(e);
        }
        self.inner_pos = pos;
        self.pos = pos;
        self.expect = expect;
        Ok(())
    }

    /// Reads and checks the header at `pos`; bytes at or past `limit` are
    /// treated as absent. Leaves `pos` at the record start.
    pub fn read_header(&mut self, limit: u64) -> Result<Next, StreamError> {
        let remaining = limit.saturating_sub(self.pos);
        if remaining == 0 {
            return Ok(Next::End);
        }
        if remaining < RECORD_HEADER_LEN as u64 {
            return Ok(Next::Torn(TornTail { offset: self.pos, bytes: remaining }));
        }
        if self.inner_pos != self.pos {
            // After a header was read but its record not consumed (a seek
            // stopping on it) or a failed payload read.
            self.goto(self.pos, self.expect)?;
        }
        self.settle();
        let mut h = [0u8; RECORD_HEADER_LEN];
        read_tracked(&mut self.inner, &mut self.inner_pos, &mut h)?;
        let header = decode_header(&h).map_err(StreamError::Corrupt)?;
        check_seq(&header, self.expect).map_err(StreamError::Corrupt)?;
        if header.frame_len() > remaining {
            return Ok(Next::Torn(TornTail { offset: self.pos, bytes: remaining }));
        }
        Ok(Next::Header(header))
    }

    /// Moves past the payload of the header just read, without reading it.
    pub fn skip_payload(&mut self, header: &FrameHeader) -> io::Result<()> {
        self.settle();
        if let Err(e) = self.inner.seek_relative(i64::from(header.len)) {
            self.inner_pos = UNKNOWN;
            return Err(e);
        }
        self.accept(header);
        Ok(())
    }

    /// Reads, checks and (if compressed) decompresses the payload of the
    /// header just read into `out`. No allocation once `out` and the scratch
    /// buffer have grown to the largest record.
    pub fn read_payload(&mut self, header: &FrameHeader, out: &mut Vec<u8>) -> Result<(), StreamError> {
        self.settle();
        let len = header.len as usize;
        if header.compressed() {
            self.scratch.clear();
            self.scratch.resize(len, 0);
            read_tracked(&mut self.inner, &mut self.inner_pos, &mut self.scratch)?;
            check_payload_crc(header, &self.scratch).map_err(StreamError::Corrupt)?;
            decompress_into(&self.scratch, out).map_err(StreamError::Corrupt)?;
        } else {
            out.clear();
            out.resize(len, 0);
            read_tracked(&mut self.inner, &mut self.inner_pos, out)?;
            check_payload_crc(header, out).map_err(StreamError::Corrupt)?;
        }
        self.accept(header);
        Ok(())
    }

    /// As [`Self::read_payload`], but an uncompressed payload that is
    /// whole in the read buffer is checked and lent from there, not copied;
    /// `spare` holds any other.
    pub fn payload<'s>(&'s mut self, header: &FrameHeader, spare: &'s mut Vec<u8>) -> Result<&'s [u8], StreamError> {
        self.settle();
        let len = header.len as usize;
        if header.compressed() || self.inner.buffer().len() < len {
            self.read_payload(header, spare)?;
            return Ok(spare);
        }
        check_payload_crc(header, &self.inner.buffer()[..len]).map_err(StreamError::Corrupt)?;
        self.lent = len;
        self.accept(header);
        Ok(&self.inner.buffer()[..len])
    }

    /// The file, for a read-ahead thread's positioned reads.
    pub fn file(&self) -> &File {
        self.inner.get_ref()
    }

    /// Moves past a record read elsewhere (by a read-ahead thread) at
    /// `pos`; the buffer is re-aimed when next used.
    pub fn passed(&mut self, header: &FrameHeader) {
        self.settle();
        self.accept(header);
        self.inner_pos = UNKNOWN;
    }

    fn accept(&mut self, header: &FrameHeader) {
        self.pos += header.frame_len();
        self.inner_pos = self.pos;
        self.expect = Some(header.seq + 1);
    }
}

const UNKNOWN: u64 = u64::MAX;

/// `read_exact` that keeps `inner_pos` true: how much a failed `read_exact`
/// consumed is unspecified, so the position becomes unknown.
fn read_tracked(inner: &mut BufReader<File>, inner_pos: &mut u64, buf: &mut [u8]) -> io::Result<()> {
    match inner.read_exact(buf) {
        Ok(()) => {
            *inner_pos += buf.len() as u64;
            Ok(())
        }
        Err(e) => {
            *inner_pos = UNKNOWN;
            Err(e)
        }
    }
}

/// How a scan ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stop {
    Clean,
    Torn(TornTail),
    Corrupt { offset: u64, reason: CorruptReason },
}

/// What a scan learned about the records it passed, added to what was
/// known before it started (when it resumes from an index entry).
pub(crate) struct ScanState {
    pub every: u32,
    pub entries: Vec<IndexEntry>,
    /// `(seq, time)` of the first record of the log.
    pub first: Option<(u64, i64)>,
    pub last: Option<(u64, i64)>,
    pub monotonic: bool,
}

impl ScanState {
    pub fn new(every: u32) -> Self {
        ScanState { every, entries: Vec::new(), first: None, last: None, monotonic: true }
    }

    pub fn records(&self) -> u64 {
        match (self.first, self.last) {
            (Some((f, _)), Some((l, _))) => l - f + 1,
            _ => 0,
        }
    }
}

/// Walks records from the stream's position up to `limit` (the file
/// length), adding an index entry for every `every`-th record, until the
/// end, a torn tail or corruption. With `payloads` it reads and checks every
/// payload; without, it seeks over them. On return the stream's `pos` is the
/// end of the last good record.
pub(crate) fn scan(stream: &mut RecordStream, limit: u64, st: &mut ScanState, payloads: bool) -> io::Result<Stop> {
    let mut buf = Vec::new();
    loop {
        let offset = stream.pos;
        let header = match stream.read_header(limit) {
            Ok(Next::End) => return Ok(Stop::Clean),
            Ok(Next::Torn(t)) => return Ok(Stop::Torn(t)),
            Ok(Next::Header(h)) => h,
            Err(StreamError::Io(e)) => return Err(e),
            Err(StreamError::Corrupt(reason)) => return Ok(Stop::Corrupt { offset, reason }),
        };
        if payloads {
            match stream.read_payload(&header, &mut buf) {
                Ok(()) => {}
                Err(StreamError::Io(e)) => return Err(e),
                Err(StreamError::Corrupt(reason)) => return Ok(Stop::Corrupt { offset, reason }),
            }
        } else {
            stream.skip_payload(&header)?;
        }
        let (first_seq, _) = *st.first.get_or_insert((header.seq, header.time));
        if let Some((_, last_time)) = st.last {
            if header.time < last_time {
                st.monotonic = false;
            }
        }
        st.last = Some((header.seq, header.time));
        let is_new = st.entries.last().map_or(true, |e| e.seq < header.seq);
        if is_new && (header.seq - first_seq) % u64::from(st.every) == 0 {
            st.entries.push(IndexEntry { seq: header.seq, time: header.time, offset });
        }
    }
}

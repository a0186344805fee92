//! Appending records to a log, with the index alongside.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::LogError;
use super::frame::{compress_into, encode_header, FILE_HEADER_LEN, FILE_MAGIC, FLAG_LZ4, MAX_RECORD_LEN};
use super::index::{index_path, IndexEntry, IndexWriter};
use super::options::{Compression, Durability, WriterOptions};
use super::recover::recover_inner;

const WRITE_BUFFER: usize = 64 * 1024;

/// What a finished log holds (all of it, including records from before an
/// `open_append`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSummary {
    pub records: u64,
    /// File length.
    pub bytes: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
}

/// Appends records to a log file and keeps its index file up to date.
///
/// Any I/O error is returned and poisons the writer: every later call is
/// refused with `Poisoned`, so no record can follow one that may be
/// missing. Dropping without `finish` flushes what is buffered, best
/// effort; that is always a prefix of the record stream, so at worst it
/// leaves a torn tail for [`super::recover`].
pub struct LogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    index: IndexWriter,
    options: WriterOptions,
    /// Compression output, reused across records.
    scratch: Vec<u8>,
    /// Seq the next record must have; `None` until the first record of an
    /// empty log fixes it.
    next_seq: Option<u64>,
    /// File length: offset of the next record.
    offset: u64,
    first: Option<(u64, i64)>,
    last_time: Option<i64>,
    monotonic: bool,
    /// Records to append before the next one that gets an index entry.
    until_index: u32,
    unsynced: u32,
    last_sync: Instant,
    poisoned: bool,
    finished: bool,
}

impl LogWriter {
    /// Creates a new log (refusing an existing file) and its index (an old
    /// index file at that path is overwritten: it cannot describe this log).
    pub fn create(path: impl AsRef<Path>, options: WriterOptions) -> Result<LogWriter, LogError> {
        let path = path.as_ref();
        check_options(path, &options)?;
        let file = match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(LogError::AlreadyExists { path: path.to_path_buf() })
            }
            Err(e) => return Err(LogError::io(path, "creating", e)),
        };
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
        out.write_all(FILE_MAGIC).map_err(|e| LogError::io(path, "writing the file header", e))?;
        sync_parent_dir(path).map_err(|e| LogError::io(path, "syncing the directory", e))?;
        let index = IndexWriter::create(&index_path(path), options.index_every, true, &[])
            .map_err(|e| LogError::io(path, "creating the index", e))?;
        Ok(Self::with_parts(path, out, index, options, FILE_HEADER_LEN))
    }

    /// Reopens an existing log to add records: runs [`super::recover`]
    /// (cutting a torn tail, refusing corruption; reads the whole log),
    /// rewrites the index from what it read, and continues after the last
    /// record, whose seq + 1 is then the only seq `append` accepts.
    pub fn open_append(path: impl AsRef<Path>, options: WriterOptions) -> Result<LogWriter, LogError> {
        let path = path.as_ref();
        check_options(path, &options)?;
        let rec = recover_inner(path, options.index_every)?;
        let io = |op: &'static str| move |e: io::Error| LogError::io(path, op, e);
        let mut file = OpenOptions::new().write(true).open(path).map_err(io("opening for append"))?;
        file.seek(SeekFrom::Start(rec.end)).map_err(io("seeking to the end"))?;
        let st = &rec.state;
        let index = IndexWriter::create(&index_path(path), options.index_every, st.monotonic, &st.entries)
            .map_err(io("rewriting the index"))?;
        let out = BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut w = Self::with_parts(path, out, index, options, rec.end);
        w.first = st.first;
        w.next_seq = st.last.map(|(s, _)| s + 1);
        w.last_time = st.last.map(|(_, t)| t);
        w.monotonic = st.monotonic;
        let every = u64::from(options.index_every);
        w.until_index = ((every - st.records() % every) % every) as u32;
        Ok(w)
    }

    fn with_parts(path: &Path, out: BufWriter<File>, index: IndexWriter, options: WriterOptions, offset: u64) -> Self {
        LogWriter {
            path: path.to_path_buf(),
            out,
            index,
            options,
            scratch: Vec::new(),
            next_seq: None,
            offset,
            first: None,
            last_time: None,
            monotonic: true,
            until_index: 0,
            unsynced: 0,
            last_sync: Instant::now(),
            poisoned: false,
            finished: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq the next `append` must carry (`None`: the log is empty and
    /// any seq may start it).
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    /// Records in the log, including those from before an `open_append`.
    pub fn records(&self) -> u64 {
        match (self.first, self.next_seq) {
            (Some((first, _)), Some(next)) => next - first,
            _ => 0,
        }
    }

    /// Bytes appended so far, counting what is still buffered.
    pub fn bytes(&self) -> u64 {
        self.offset
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Appends a record and returns its byte offset. `seq` must be the
    /// previous seq + 1 (any seq for the first record); a refused seq or
    /// size writes nothing and does not poison the writer.
    pub fn append(&mut self, seq: u64, time: i64, payload: &[u8]) -> Result<u64, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned { path: self.path.clone() });
        }
        if let Some(expected) = self.next_seq {
            if seq != expected {
                return Err(LogError::NonConsecutiveSeq { path: self.path.clone(), expected, found: seq });
            }
        }
        if seq == u64::MAX {
            return Err(LogError::SeqOverflow { path: self.path.clone() });
        }
        if payload.len() > MAX_RECORD_LEN {
            return Err(LogError::RecordTooLarge { path: self.path.clone(), len: payload.len(), max: MAX_RECORD_LEN });
        }
        let offset = self.offset;
        let compressed = match self.options.compression {
            Compression::Lz4 => compress_into(payload, &mut self.scratch),
            Compression::None => None,
        };
        let (flags, stored) = match compressed {
            Some(n) => (FLAG_LZ4, &self.scratch[..n]),
            None => (0, payload),
        };
        let header = encode_header(stored.len() as u32, flags, seq, time, crc32fast::hash(stored));
        let written = self.out.write_all(&header).and_then(|()| self.out.write_all(stored));
        let frame_len = (header.len() + stored.len()) as u64;
        if let Err(e) = written {
            return Err(self.poison("writing a record", e));
        }
        self.offset += frame_len;
        self.next_seq = Some(seq + 1);
        if self.first.is_none() {
            self.first = Some((seq, time));
        }
        if self.last_time.is_some_and(|last| time < last) && self.monotonic {
            self.monotonic = false;
            if let Err(e) = self.index.mark_not_monotonic() {
                return Err(self.poison("writing the index", e));
            }
        }
        self.last_time = Some(time);
        if self.until_index == 0 {
            self.until_index = self.options.index_every - 1;
            if let Err(e) = self.index.push(IndexEntry { seq, time, offset }) {
                return Err(self.poison("writing the index", e));
            }
        } else {
            self.until_index -= 1;
        }
        self.after_append()?;
        Ok(offset)
    }

    fn after_append(&mut self) -> Result<(), LogError> {
        match self.options.durability {
            Durability::Buffered => Ok(()),
            Durability::FlushEach => self.out.flush().map_err(|e| self.poison("flushing", e)),
            Durability::FsyncEach => self.sync_now(),
            Durability::FsyncEvery { records, millis } => {
                self.unsynced += 1;
                let by_count = records != 0 && self.unsynced >= records;
                // Checked only when the count has not decided: one clock read per record.
                if by_count || (millis != 0 && self.last_sync.elapsed() >= Duration::from_millis(millis)) {
                    self.sync_now()
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Hands everything buffered (log and index) to the OS.
    pub fn flush(&mut self) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned { path: self.path.clone() });
        }
        if let Err(e) = self.out.flush() {
            return Err(self.poison("flushing", e));
        }
        self.index.flush().map_err(|e| self.poison("flushing the index", e))
    }

    /// Flushes and `sync_data`s the log (and flushes the index), whatever
    /// the durability mode: e.g. on a timer in a quiet live session.
    pub fn sync(&mut self) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned { path: self.path.clone() });
        }
        self.sync_now()
    }

    fn sync_now(&mut self) -> Result<(), LogError> {
        if let Err(e) = self.out.flush().and_then(|()| self.out.get_ref().sync_data()) {
            return Err(self.poison("syncing", e));
        }
        // The index is a cache that open can rebuild: handed to the OS
        // here, fsynced only at finish.
        if let Err(e) = self.index.flush() {
            return Err(self.poison("flushing the index", e));
        }
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Flushes and fsyncs the log and the index, and says what the log holds.
    pub fn finish(mut self) -> Result<LogSummary, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned { path: self.path.clone() });
        }
        if let Err(e) = self.out.flush().and_then(|()| self.out.get_ref().sync_all()) {
            return Err(self.poison("syncing at finish", e));
        }
        if let Err(e) = self.index.sync() {
            return Err(self.poison("syncing the index", e));
        }
        self.finished = true;
        let last_seq = self.next_seq.map(|s| s - 1);
        Ok(LogSummary {
            records: self.records(),
            bytes: self.offset,
            first_seq: self.first.map(|(s, _)| s),
            last_seq,
            first_time: self.first.map(|(_, t)| t),
            last_time: self.last_time,
        })
    }

    fn poison(&mut self, op: &'static str, e: io::Error) -> LogError {
        self.poisoned = true;
        tracing::error!(path = %self.path.display(), op, error = %e, "event log write failed, writer poisoned");
        LogError::io(&self.path, op, e)
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if !self.finished && !self.poisoned {
            // Best effort: errors cannot be reported from drop, and the
            // buffers would be flushed by their own drops anyway.
            let _ = self.out.flush();
            let _ = self.index.flush();
        }
    }
}

fn check_options(path: &Path, options: &WriterOptions) -> Result<(), LogError> {
    if options.index_every == 0 {
        return Err(LogError::InvalidOptions { path: path.to_path_buf(), reason: "index_every must be at least 1" });
    }
    Ok(())
}

/// Makes the new file's directory entry durable, so a synced log cannot
/// vanish with its name after a power cut.
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(durability: Durability) -> WriterOptions {
        WriterOptions { durability, ..WriterOptions::default() }
    }

    /// A real I/O error: /dev/full fails every write with ENOSPC.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_io_error_poisons_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let full = OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let index = IndexWriter::create(&dir.path().join("x.idx"), 256, true, &[]).unwrap();
        let out = BufWriter::with_capacity(WRITE_BUFFER, full);
        let mut w = LogWriter::with_parts(Path::new("/dev/full"), out, index, options(Durability::FlushEach), 8);
        let err = w.append(1, 10, b"payload").unwrap_err();
        assert!(matches!(err, LogError::Io { ref source, .. } if source.raw_os_error() == Some(28)), "{err}");
        assert!(w.is_poisoned());
        assert!(matches!(w.append(2, 11, b"next"), Err(LogError::Poisoned { .. })));
        assert!(matches!(w.append(1, 10, b"retry"), Err(LogError::Poisoned { .. })));
        assert!(matches!(w.flush(), Err(LogError::Poisoned { .. })));
        assert!(matches!(w.sync(), Err(LogError::Poisoned { .. })));
        assert!(matches!(w.finish(), Err(LogError::Poisoned { .. })));
    }

    /// Buffered: the error surfaces when the buffer spills, then poisons.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_buffered_io_error_surfaces_when_the_buffer_spills() {
        let dir = tempfile::tempdir().unwrap();
        let full = OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let index = IndexWriter::create(&dir.path().join("x.idx"), 256, true, &[]).unwrap();
        let out = BufWriter::with_capacity(WRITE_BUFFER, full);
        let mut w = LogWriter::with_parts(Path::new("/dev/full"), out, index, options(Durability::Buffered), 8);
        let payload = [7u8; 1000];
        let mut failed_at = None;
        for seq in 0..200u64 {
            if w.append(seq, 0, &payload).is_err() {
                failed_at = Some(seq);
                break;
            }
        }
        let failed_at = failed_at.expect("the 64 KiB buffer must spill within 200 KB");
        assert!(failed_at > 10, "buffered appends succeed until the spill");
        assert!(matches!(w.append(failed_at + 1, 0, &payload), Err(LogError::Poisoned { .. })));
    }

    #[test]
    fn fsync_every_syncs_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::create(&path, options(Durability::FsyncEvery { records: 3, millis: 0 })).unwrap();
        for seq in 0..5 {
            w.append(seq, 0, b"x").unwrap();
            assert_eq!(w.unsynced, ((seq + 1) % 3) as u32);
        }
        let mut w2 =
            LogWriter::create(dir.path().join("log2"), options(Durability::FsyncEvery { records: 0, millis: 1 }))
                .unwrap();
        w2.append(0, 0, b"x").unwrap();
        std::thread::sleep(Duration::from_millis(3));
        w2.append(1, 0, b"x").unwrap();
        assert_eq!(w2.unsynced, 0, "the elapsed time triggered a sync");
        // FlushEach: the record is in the file before finish.
        let mut w3 = LogWriter::create(dir.path().join("log3"), options(Durability::FlushEach)).unwrap();
        w3.append(0, 0, b"abc").unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("log3")).unwrap().len(), 8 + 29 + 3);
    }

    #[test]
    fn index_every_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let o = WriterOptions { index_every: 0, ..WriterOptions::default() };
        assert!(matches!(LogWriter::create(dir.path().join("l"), o), Err(LogError::InvalidOptions { .. })));
    }
}

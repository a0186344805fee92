//! The sparse index file beside a log (see the format in `mod.rs`): how it
//! is written as the log grows, read back, and checked against the log.
//!
//! The index is only a cache of positions: it can always be rebuilt from
//! the log, so it carries no checksum of its own. Instead every entry is
//! checked against the record header it points at before it is believed.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::frame::{decode_header, FILE_HEADER_LEN, RECORD_HEADER_LEN};

pub const INDEX_MAGIC: &[u8; 8] = b"TELOGIX\x01";
/// Magic (8), `index_every` u32, flags u8, 3 reserved zero bytes.
pub const INDEX_HEADER_LEN: usize = 16;
const FLAGS_POS: u64 = 12;
/// Flag bit 0: every record's time was ≥ the previous one's.
const FLAG_TIMES_MONOTONIC: u8 = 1;
/// `seq u64, time i64, offset u64`.
pub const INDEX_ENTRY_LEN: usize = 24;

/// Where record `seq` (with time `time`) starts in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub seq: u64,
    pub time: i64,
    pub offset: u64,
}

impl IndexEntry {
    fn encode(&self) -> [u8; INDEX_ENTRY_LEN] {
        let mut b = [0u8; INDEX_ENTRY_LEN];
        b[0..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..16].copy_from_slice(&self.time.to_le_bytes());
        b[16..24].copy_from_slice(&self.offset.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> IndexEntry {
        IndexEntry {
            seq: u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")),
            time: i64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
            offset: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
        }
    }
}

/// The index path for a log: the log's path with `.idx` appended
/// (`session.telog` → `session.telog.idx`).
pub fn index_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".idx");
    PathBuf::from(s)
}

/// An index file as read from disk, not yet checked against the log.
pub(crate) struct IndexFile {
    pub every: u32,
    pub monotonic: bool,
    pub entries: Vec<IndexEntry>,
}

/// `Ok(None)` when there is no index file; `Err(reason)` when there is one
/// but it cannot be used at all. A trailing partial entry (a write cut by a
/// crash) is ignored.
pub(crate) fn read_index_file(path: &Path) -> Result<Option<IndexFile>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    if bytes.len() < INDEX_HEADER_LEN || &bytes[..8] != INDEX_MAGIC {
        return Err("bad header".to_string());
    }
    let every = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let flags = bytes[12];
    if every == 0 || flags & !FLAG_TIMES_MONOTONIC != 0 || bytes[13..16] != [0, 0, 0] {
        return Err("bad header fields".to_string());
    }
    let entries = bytes[INDEX_HEADER_LEN..].chunks_exact(INDEX_ENTRY_LEN).map(IndexEntry::decode).collect();
    Ok(Some(IndexFile { every, monotonic: flags & FLAG_TIMES_MONOTONIC != 0, entries }))
}

/// How many leading entries are true of the log in `file` (of `file_len`
/// bytes), and why the next one is not (if any). An entry is true when it
/// has the seq its position implies, and the record header at its offset
/// is intact, carries its seq and time, and its payload ends within the
/// file. Reads one header per entry.
pub(crate) fn validate_entries(
    file: &File,
    file_len: u64,
    every: u32,
    entries: &[IndexEntry],
) -> io::Result<(usize, Option<String>)> {
    let mut file = file;
    let mut h = [0u8; RECORD_HEADER_LEN];
    for (k, e) in entries.iter().enumerate() {
        let why = if k == 0 && e.offset != FILE_HEADER_LEN {
            Some(format!("first entry at offset {} instead of {FILE_HEADER_LEN}", e.offset))
        } else if k > 0
            && Some(e.seq) != (k as u64).checked_mul(u64::from(every)).and_then(|d| entries[0].seq.checked_add(d))
        {
            Some(format!("entry {k} has seq {}, not first + {k} × {every}", e.seq))
        } else if k > 0 && e.offset <= entries[k - 1].offset {
            Some(format!("entry {k} offset {} does not increase", e.offset))
        } else if e.offset.checked_add(RECORD_HEADER_LEN as u64).map_or(true, |end| end > file_len) {
            Some(format!("entry {k} offset {} is past the end of the log", e.offset))
        } else {
            file.seek(SeekFrom::Start(e.offset))?;
            file.read_exact(&mut h)?;
            match decode_header(&h) {
                Err(reason) => Some(format!("entry {k} points at a bad record header ({reason})")),
                Ok(r) if r.seq != e.seq || r.time != e.time => Some(format!(
                    "entry {k} says seq {} time {} but the record has seq {} time {}",
                    e.seq, e.time, r.seq, r.time
                )),
                Ok(r) if e.offset + r.frame_len() > file_len => Some(format!("entry {k} record is cut off")),
                Ok(_) => None,
            }
        };
        if why.is_some() {
            return Ok((k, why));
        }
    }
    Ok((entries.len(), None))
}

/// Writes the index as the log grows, through its own buffer. The owner
/// flushes it whenever it syncs the log, and syncs it at finish.
pub(crate) struct IndexWriter {
    out: BufWriter<File>,
    monotonic: bool,
}

impl IndexWriter {
    /// Creates (or truncates) the index file and writes the header and the
    /// entries already known, e.g. of the log being appended to.
    pub fn create(path: &Path, every: u32, monotonic: bool, existing: &[IndexEntry]) -> io::Result<Self> {
        let file = File::create(path)?;
        let mut out = BufWriter::with_capacity(16 * 1024, file);
        let mut header = [0u8; INDEX_HEADER_LEN];
        header[..8].copy_from_slice(INDEX_MAGIC);
        header[8..12].copy_from_slice(&every.to_le_bytes());
        header[12] = if monotonic { FLAG_TIMES_MONOTONIC } else { 0 };
        out.write_all(&header)?;
        for e in existing {
            out.write_all(&e.encode())?;
        }
        out.flush()?;
        Ok(IndexWriter { out, monotonic })
    }

    pub fn push(&mut self, entry: IndexEntry) -> io::Result<()> {
        self.out.write_all(&entry.encode())
    }

    /// Clears the monotonic flag in the file at once (it happens at most
    /// once per log): written before any later entry, so an index that
    /// holds an entry past the offending record also holds the cleared flag.
    pub fn mark_not_monotonic(&mut self) -> io::Result<()> {
        if !self.monotonic {
            return Ok(());
        }
        self.monotonic = false;
        self.out.seek(SeekFrom::Start(FLAGS_POS))?;
        self.out.write_all(&[0])?;
        self.out.seek(SeekFrom::End(0))?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_path_appends_idx() {
        assert_eq!(index_path(Path::new("/a/b/run.telog")), PathBuf::from("/a/b/run.telog.idx"));
        assert_eq!(index_path(Path::new("log")), PathBuf::from("log.idx"));
    }

    #[test]
    fn written_index_reads_back_and_partial_entries_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.idx");
        let e = |seq| IndexEntry { seq, time: seq as i64 * 10, offset: 8 + seq * 100 };
        let mut w = IndexWriter::create(&p, 4, true, &[e(0)]).unwrap();
        w.push(e(4)).unwrap();
        w.mark_not_monotonic().unwrap();
        w.push(e(8)).unwrap();
        w.sync().unwrap();
        drop(w);
        let f = read_index_file(&p).unwrap().unwrap();
        assert_eq!((f.every, f.monotonic), (4, false));
        assert_eq!(f.entries, vec![e(0), e(4), e(8)]);

        let mut bytes = std::fs::read(&p).unwrap();
        bytes.truncate(bytes.len() - 5);
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read_index_file(&p).unwrap().unwrap().entries, vec![e(0), e(4)]);

        bytes[0] = b'X';
        std::fs::write(&p, &bytes).unwrap();
        assert!(read_index_file(&p).is_err());
        assert!(read_index_file(&dir.path().join("none.idx")).unwrap().is_none());
    }
}

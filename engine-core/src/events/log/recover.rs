//! Making a log appendable again after a crash: cut a torn tail off, refuse
//! anything that looks like damage rather than an interrupted write.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::error::{LogError, TornTail};
use super::frame::{FILE_HEADER_LEN, FILE_MAGIC};
use super::options::DEFAULT_INDEX_EVERY;
use super::scan::{read_file_header, scan, FileHeader, RecordStream, ScanState, Stop};

/// Checks every record of the log at `path` (header, payload crc, seq chain,
/// decompression) and, when the tail is torn, truncates the file to the end
/// of the last good record and fsyncs it; a file cut inside its 8-byte
/// header is reset to an empty log. Returns the tail that was cut, `None`
/// when the log was already clean.
///
/// Corruption anywhere, even in the last record, is refused with
/// `LogError::Corrupt` and the file is left untouched: a damaged record is
/// not what an interrupted append leaves, and cutting there could throw
/// away good records after it. Reads the whole file, so it is meant for
/// reopening after a crash, not for every read.
///
/// The index file is left as is: readers ignore entries past the end, and
/// `LogWriter::open_append` rewrites it.
pub fn recover(path: impl AsRef<Path>) -> Result<Option<TornTail>, LogError> {
    recover_inner(path.as_ref(), DEFAULT_INDEX_EVERY).map(|r| r.torn)
}

pub(crate) struct Recovered {
    pub torn: Option<TornTail>,
    /// All records of the (now clean) log, with index entries every `every`.
    pub state: ScanState,
    /// File length after recovery: where the next record goes.
    pub end: u64,
}

pub(crate) fn recover_inner(path: &Path, every: u32) -> Result<Recovered, LogError> {
    let io = |op: &'static str| move |e: std::io::Error| LogError::io(path, op, e);
    let mut file = File::open(path).map_err(io("opening"))?;
    let file_len = file.metadata().map_err(io("reading metadata"))?.len();
    if let FileHeader::Torn(torn) = read_file_header(path, &mut file, file_len)? {
        tracing::warn!(path = %path.display(), bytes = torn.bytes, "event log: torn file header, resetting to an empty log");
        let mut w = OpenOptions::new().write(true).open(path).map_err(io("opening for recovery"))?;
        w.set_len(0)
            .and_then(|_| w.seek(SeekFrom::Start(0)))
            .and_then(|_| w.write_all(FILE_MAGIC))
            .and_then(|_| w.sync_all())
            .map_err(io("rewriting the file header"))?;
        return Ok(Recovered { torn: Some(torn), state: ScanState::new(every), end: FILE_HEADER_LEN });
    }

    let mut stream = RecordStream::new(file, FILE_HEADER_LEN).map_err(io("seeking"))?;
    let mut state = ScanState::new(every);
    let stop = scan(&mut stream, file_len, &mut state, true).map_err(io("reading records"))?;
    let end = stream.pos;
    let torn = match stop {
        Stop::Clean => None,
        Stop::Corrupt { offset, reason } => {
            tracing::error!(path = %path.display(), offset, %reason, "event log is corrupt, not recovering");
            return Err(LogError::Corrupt { path: path.to_path_buf(), offset, reason });
        }
        Stop::Torn(torn) => {
            tracing::warn!(
                path = %path.display(), offset = torn.offset, bytes = torn.bytes,
                "event log has a torn tail, truncating it"
            );
            let w = OpenOptions::new().write(true).open(path).map_err(io("opening for recovery"))?;
            w.set_len(end).and_then(|_| w.sync_all()).map_err(io("truncating the torn tail"))?;
            Some(torn)
        }
    };
    Ok(Recovered { torn, state, end })
}

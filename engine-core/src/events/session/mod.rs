//! Sessions: one directory per recorded run under a sessions directory,
//! `{dir}/{session_id}/`, holding `manifest.json` (what ran: config,
//! strategy hashes, data sources, engine version, start and end) and
//! `events.log` (every runner step, see [`super::log`] for the framing and
//! [`super::codec`] for the records).
//!
//! [`SessionRecorder`] writes a session while the engine runs;
//! [`SessionReader`] reads one back for replay, inspection, comparison and
//! export.

mod manifest;
mod reader;
mod recorder;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub use manifest::{Manifest, SessionStatus};
pub use reader::{SessionEvent, SessionReader};
pub use recorder::{RecorderOptions, RecordingFailed, SessionRecorder, StepSender};

use super::codec::CodecError;
use super::log::{LogError, LogReader};

/// The log file of a session directory.
pub const EVENTS_FILE: &str = "events.log";
/// The manifest file of a session directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Whether indicator values go into the log or are recomputed from the
/// recorded bars when a session is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorRecording {
    #[default]
    Record,
    Recompute,
}

/// Why a session cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session {id} in {dir} (`trading-engine sessions --dir {dir}` lists them)")]
    NotFound { id: String, dir: String },
    #[error("session {id} already exists in {dir}")]
    Exists { id: String, dir: String },
    /// The cause is in the message and not a `source` too: printed with
    /// its chain (`{:#}`), it would appear twice.
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("{path}: record {seq} at byte {offset}: {source}")]
    Record {
        path: String,
        seq: u64,
        offset: u64,
        #[source]
        source: CodecError,
    },
    #[error("sequence {seq} is out of range: session {id} has records {first} to {last}")]
    SeqOutOfRange { id: String, seq: u64, first: u64, last: u64 },
}

impl SessionError {
    fn io(path: &Path, source: std::io::Error) -> SessionError {
        SessionError::Io { path: path.display().to_string(), cause: source }
    }
}

/// The directory of session `id` under `dir`.
pub fn session_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join(id)
}

/// A new session id: UTC start time, a name (the config's), and the
/// process id, e.g. `20261122-101500-backtest-4821`.
pub fn new_session_id(started_ms: i64, name: &str) -> String {
    let time = chrono::DateTime::from_timestamp_millis(started_ms)
        .map(|t| t.format("%Y%m%d-%H%M%S").to_string())
        .unwrap_or_else(|| "0".into());
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("{time}-{name}-{}", std::process::id())
}

/// A session id and its manifest (or why it could not be read).
pub type ListedSession = (String, Result<Manifest, SessionError>);

/// Every session under `dir` with its manifest (unreadable ones with the
/// error), newest first.
pub fn list_sessions(dir: &Path) -> Result<Vec<ListedSession>, SessionError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SessionError::io(dir, e))?;
    let mut sessions = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SessionError::io(dir, e))?;
        let path = entry.path();
        if !path.join(MANIFEST_FILE).exists() {
            continue;
        }
        let id = entry.file_name().to_string_lossy().into_owned();
        sessions.push((id, Manifest::read(&path)));
    }
    sessions.sort_by(|a, b| {
        let started = |m: &Result<Manifest, SessionError>| m.as_ref().ok().map(|m| m.started_at.clone());
        started(&b.1).cmp(&started(&a.1)).then_with(|| b.0.cmp(&a.0))
    });
    Ok(sessions)
}

/// Whether a session's writer is still at work: the recorder holds an
/// exclusive `flock` on the session's log from its creation until the
/// manifest says how the session ended, and the system releases it when the
/// process dies, however it dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// A process holds the log's lock.
    Alive,
    /// No process holds it.
    Gone,
    /// The lock cannot be tried (no log, a file system without locks).
    Unknown,
}

/// Whether the writer of the session in `session_dir` is still at work.
pub fn writer_of(session_dir: &Path) -> Writer {
    let Ok(file) = std::fs::File::open(session_dir.join(EVENTS_FILE)) else { return Writer::Unknown };
    // SAFETY: flock on a descriptor we own; closing the file releases a
    // lock taken here.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
        return Writer::Gone;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EWOULDBLOCK) => Writer::Alive,
        _ => Writer::Unknown,
    }
}

/// How a session stands now: what its manifest says, except that a session
/// still marked running whose writer is gone crashed (the process died
/// without ending it: a SIGKILL, a power cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Recorded(SessionStatus),
    Crashed,
}

impl Standing {
    /// The standing of the session in `session_dir` with `manifest`.
    pub fn of(session_dir: &Path, manifest: &Manifest) -> Standing {
        match manifest.status {
            // The session may have ended since `manifest` was read: the
            // manifest is written before the lock is let go.
            SessionStatus::Running if writer_of(session_dir) == Writer::Gone => {
                match Manifest::read(session_dir).map(|m| m.status) {
                    Ok(SessionStatus::Running) | Err(_) => Standing::Crashed,
                    Ok(status) => Standing::Recorded(status),
                }
            }
            status => Standing::Recorded(status),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Recorded(status) => status.as_str(),
            Standing::Crashed => "crashed",
        }
    }
}

impl std::fmt::Display for Standing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Records in the session's log: the manifest's count once the session has
/// ended, else what the log holds now (from its index, then the record
/// headers after the last indexed one; a torn tail not counted).
pub fn records_in(session_dir: &Path, manifest: &Manifest) -> Result<u64, SessionError> {
    if manifest.status != SessionStatus::Running {
        return Ok(manifest.records);
    }
    Ok(LogReader::open(session_dir.join(EVENTS_FILE))?.len_records())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(dir: &Path, id: &str) -> SessionRecorder {
        let manifest = Manifest::new(id, "backtest", "2026-01-01T00:00:00.000Z");
        SessionRecorder::create(dir, manifest, RecorderOptions::default()).unwrap()
    }

    #[test]
    fn a_session_whose_recorder_died_without_ending_it_crashed() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = start(dir.path(), "killed");
        let session = recorder.dir().to_path_buf();
        let manifest = Manifest::read(&session).unwrap();
        assert_eq!(writer_of(&session), Writer::Alive);
        assert_eq!(Standing::of(&session, &manifest), Standing::Recorded(SessionStatus::Running));
        // Gone without `finish`, as a SIGKILL leaves it: the manifest still says running.
        drop(recorder);
        assert_eq!(Standing::of(&session, &manifest).to_string(), "crashed");
        assert_eq!(records_in(&session, &manifest).unwrap(), 0);

        let recorder = start(dir.path(), "ended");
        let session = recorder.dir().to_path_buf();
        let ended = recorder.finish(SessionStatus::Completed, None, "2026-01-01T00:01:00.000Z".into());
        assert_eq!(writer_of(&session), Writer::Gone);
        assert_eq!(Standing::of(&session, &ended).to_string(), "completed");
        assert_eq!(writer_of(&dir.path().join("no-such-session")), Writer::Unknown);
    }
}

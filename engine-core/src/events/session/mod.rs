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

use std::path::{Path, PathBuf};

pub use manifest::{Manifest, SessionStatus};
pub use reader::{SessionEvent, SessionReader};
pub use recorder::{RecorderOptions, RecordingFailed, SessionRecorder, StepSender};

use super::codec::CodecError;
use super::log::LogError;

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
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
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
        SessionError::Io { path: path.display().to_string(), source }
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

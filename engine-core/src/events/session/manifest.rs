//! `manifest.json`: what a session ran and how it ended. Written when the
//! session starts (status `running`) and rewritten, atomically, when it
//! ends.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{IndicatorRecording, SessionError, MANIFEST_FILE};
use crate::backtest::{DataInfo, StrategyInfo};
use crate::events::codec::{Storage, RECORD_FORMAT};

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Still running, or the process died (the log's torn tail, if any, is
    /// cut off when it is read).
    Running,
    /// The data ended.
    Completed,
    /// Stopped by Ctrl-C or SIGTERM after the step in progress.
    Interrupted,
    /// A runner or the log failed.
    Failed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Completed => "completed",
            SessionStatus::Interrupted => "interrupted",
            SessionStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a session ran, and what its log holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub session_id: String,
    pub engine_version: String,
    /// `backtest`, `paper` or `live`.
    pub kind: String,
    /// RFC 3339, wall clock.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: SessionStatus,
    pub error: Option<String>,
    /// The records' payload format ([`RECORD_FORMAT`]); 1 for sessions
    /// written before the format was named.
    #[serde(default = "first_record_format")]
    pub record_format: u32,
    pub storage: Storage,
    /// A snapshot of every symbol's state at every multiple of this sequence number.
    pub snapshot_every: u64,
    pub indicators: IndicatorRecording,
    /// `none` or `lz4`.
    pub compression: String,
    /// The config as run.
    pub config: serde_json::Value,
    pub strategies: Vec<StrategyInfo>,
    pub data: Vec<DataInfo>,
    /// Records in the log (steps and snapshots), and the last sequence number.
    pub records: u64,
    pub last_seq: u64,
    /// Market time of the first and last records.
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
    /// BLAKE3 over every record's sequence number, time and payload: equal
    /// for two runs that recorded the same events. (Sessions recorded
    /// before 2026-11-23 have an `events_sha256` instead, which is ignored.)
    pub events_blake3: Option<String>,
}

fn first_record_format() -> u32 {
    1
}

impl Manifest {
    /// The manifest of a session starting now: `kind` is `backtest`,
    /// `paper` or `live`, `started_at` RFC 3339. The recorder fills in the
    /// storage settings; the config, strategies and data are the caller's
    /// to add.
    pub fn new(session_id: &str, kind: &str, started_at: &str) -> Manifest {
        Manifest {
            session_id: session_id.to_string(),
            engine_version: env!("CARGO_PKG_VERSION").to_string(),
            kind: kind.to_string(),
            started_at: started_at.to_string(),
            finished_at: None,
            status: SessionStatus::Running,
            error: None,
            record_format: RECORD_FORMAT,
            storage: Storage::Full,
            snapshot_every: 0,
            indicators: IndicatorRecording::Record,
            compression: String::new(),
            config: serde_json::Value::Null,
            strategies: Vec::new(),
            data: Vec::new(),
            records: 0,
            last_seq: 0,
            first_time: None,
            last_time: None,
            events_blake3: None,
        }
    }

    /// Reads `{session dir}/manifest.json`.
    pub fn read(session_dir: &Path) -> Result<Manifest, SessionError> {
        let path = session_dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| SessionError::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| SessionError::Manifest { path: path.display().to_string(), message: e.to_string() })
    }

    /// Writes `{session dir}/manifest.json` atomically (a temporary file
    /// renamed over it), so a reader never sees half of one.
    pub fn write(&self, session_dir: &Path) -> Result<(), SessionError> {
        let path = session_dir.join(MANIFEST_FILE);
        let io = |e: std::io::Error| SessionError::io(&path, e);
        let mut file = crate::backtest::temp_file_in(session_dir, ".manifest.").map_err(io)?;
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        file.write_all(text.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

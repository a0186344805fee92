//! The sections of a configuration file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::{check_speed, AccountMode};
use crate::events::codec::Storage;
use crate::events::log::{Compression, Durability};
use crate::events::session::IndicatorRecording;
use crate::market_data::parse_interval;
use crate::runner::RunnerConfig;

/// What kind of run this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineMode {
    /// Historical data, simulated execution (`trading-engine backtest`).
    #[default]
    Backtest,
    /// Live data, simulated execution (`trading-engine run`).
    Paper,
    /// Live data, orders to the exchange (`execution.mode = "live"`).
    Live,
}

impl EngineMode {
    /// The mode as written in the file: `backtest`, `paper`, `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineMode::Backtest => "backtest",
            EngineMode::Paper => "paper",
            EngineMode::Live => "live",
        }
    }
}

impl std::fmt::Display for EngineMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `source.interval` accepts: exactly what [`parse_interval`] reads.
pub(super) const INTERVAL_FORMS: &str =
    "a whole number above 0 followed by ms, s, m, h, d or w (250ms, 1s, 5m, 4h, 1d, 1w) or by nothing for \
     milliseconds (90000)";

/// `[engine]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    pub mode: EngineMode,
    pub accounts: AccountMode,
    /// Replay pace for historical runs (100 = 100× real time); unset: as
    /// fast as possible.
    pub speed: Option<f64>,
    /// First and last bar time to take (`2024-01-31`, RFC 3339 or epoch ms).
    pub from: Option<String>,
    pub to: Option<String>,
    /// Where results go (`results/<config name>` when unset).
    pub output: Option<PathBuf>,
    /// Directory a `run` locks, so two runs cannot trade the same state.
    pub state_dir: Option<PathBuf>,
    /// Seconds between status lines of a `run`.
    pub status_interval_s: f64,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            mode: EngineMode::Backtest,
            accounts: AccountMode::Shared,
            speed: None,
            from: None,
            to: None,
            output: None,
            state_dir: None,
            status_interval_s: 5.0,
        }
    }
}

impl EngineSection {
    pub(super) fn validate(&self) -> Result<(), String> {
        if let Some(speed) = self.speed {
            check_speed("engine.speed", speed)?;
        }
        // Zero or less would print status lines as fast as the reporter
        // wakes up (or never: a negative duration), not "every N seconds".
        let status = self.status_interval_s;
        if !(status.is_finite() && status > 0.0) {
            return Err(format!("engine.status_interval_s: must be a finite number of seconds above 0, got {status}"));
        }
        Ok(())
    }
}

/// `[[runners]]`: one symbol and its strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerSection {
    pub symbol: String,
    /// The strategy file (relative to the config file).
    pub strategy: PathBuf,
    /// Passed to the strategy as `params` (plain data).
    #[serde(default)]
    pub params: toml::Table,
    pub source: SourceSection,
    /// Cadence, timeouts, window, quarantine policy.
    #[serde(default)]
    pub runner: RunnerConfig,
    /// Trains a regime detector for `ind.regime()` on the first bars.
    #[serde(default)]
    pub regime: Option<RegimeSection>,
}

impl RunnerSection {
    pub(super) fn validate(&self, key: &str) -> Result<(), String> {
        match &self.source {
            SourceSection::Synthetic { bars, interval, .. } | SourceSection::LiveSynthetic { interval, bars, .. } => {
                if !parse_interval(interval).is_some_and(|ms| ms > 0) {
                    return Err(format!(
                        "{key}.source.interval: {interval:?} is not an interval: expected {INTERVAL_FORMS}"
                    ));
                }
                if *bars == Some(0) {
                    return Err(format!("{key}.source.bars: must be at least 1"));
                }
            }
            SourceSection::File { path, .. } => {
                if path.as_os_str().is_empty() {
                    return Err(format!("{key}.source.path: must be the path of a bar file, got an empty string"));
                }
                if !path.is_file() {
                    return Err(format!("{key}.source.path: {} does not exist or is not a file", path.display()));
                }
            }
        }
        if let Some(speed) = self.source.speed() {
            check_speed(&format!("{key}.source.speed"), speed)?;
        }
        self.runner.cadence.validate().map_err(|e| format!("{key}.runner.{e}"))?;
        if self.runner.window == 0 {
            return Err(format!("{key}.runner.window: must be at least 1 bar"));
        }
        if let Some(r) = &self.regime {
            if r.train_bars < 500 {
                return Err(format!("{key}.regime.train_bars: at least 500 bars are needed, got {}", r.train_bars));
            }
        }
        Ok(())
    }
}

/// `[runners.source]`: where the bars come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSection {
    /// Generated by the engine (offline, reproducible from the seed).
    Synthetic {
        #[serde(default = "default_seed")]
        seed: u64,
        /// Number of bars (20,000 by default).
        #[serde(default)]
        bars: Option<usize>,
        #[serde(default = "default_interval")]
        interval: String,
        #[serde(default)]
        start_price: Option<f64>,
    },
    /// A bar file: Binance klines CSV, OHLCV CSV or JSON rows.
    File {
        path: PathBuf,
        /// `binance`, `csv` or `json`; detected when unset.
        #[serde(default)]
        format: Option<String>,
        /// Drop rows that fail to parse or validate (reported) instead of
        /// refusing the file.
        #[serde(default)]
        skip_bad_rows: bool,
    },
    /// The synthetic market ticking in real time (paper trading offline).
    LiveSynthetic {
        #[serde(default = "default_seed")]
        seed: u64,
        #[serde(default = "default_interval")]
        interval: String,
        /// Bars released `speed` times faster than their interval.
        #[serde(default)]
        speed: Option<f64>,
        /// Stop after this many bars (unset: until Ctrl-C).
        #[serde(default)]
        bars: Option<usize>,
    },
}

fn default_seed() -> u64 {
    42
}

fn default_interval() -> String {
    "1m".into()
}

impl SourceSection {
    pub fn is_live(&self) -> bool {
        matches!(self, SourceSection::LiveSynthetic { .. })
    }

    /// The `type` as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSection::Synthetic { .. } => "synthetic",
            SourceSection::File { .. } => "file",
            SourceSection::LiveSynthetic { .. } => "live_synthetic",
        }
    }

    fn speed(&self) -> Option<f64> {
        match self {
            SourceSection::LiveSynthetic { speed, .. } => *speed,
            _ => None,
        }
    }
}

/// `[runners.regime]`: a detector trained on the first `train_bars` bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimeSection {
    pub train_bars: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

/// `[events]`: the session event log (docs/events.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Record the session; unset: on for `run`, off for `backtest`
    /// (`backtest --record` turns it on).
    pub record: Option<bool>,
    /// The sessions directory (relative to the config file); each session
    /// goes to `{dir}/{session id}/`. Unset: `sessions` in the working
    /// directory.
    pub dir: Option<PathBuf>,
    /// `full`: every event carries the symbol's whole state; `delta`: only
    /// what changed, with a snapshot every `snapshot_every` records.
    pub storage: Storage,
    pub snapshot_every: u64,
    /// `record` indicator values, or `recompute` them from the bars on replay.
    pub indicators: IndicatorRecording,
    /// `none` or `lz4` (per record).
    pub compression: Compression,
    /// When records reach the disk (docs/events.md, "Durability"). Unset:
    /// `buffered` for a backtest, `fsync_every` 1,000 records or 200 ms for
    /// `run`.
    pub durability: Option<Durability>,
}

impl EventsSection {
    /// The sessions directory: `dir`, or `sessions` in the working directory.
    pub fn sessions_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| PathBuf::from("sessions"))
    }
}

impl Default for EventsSection {
    fn default() -> Self {
        EventsSection {
            record: None,
            dir: None,
            storage: Storage::Full,
            snapshot_every: 10_000,
            indicators: IndicatorRecording::Record,
            compression: Compression::None,
            durability: None,
        }
    }
}

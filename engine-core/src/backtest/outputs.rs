//! The files a backtest leaves in its output directory.
//!
//! `summary.json` (what ran, on what, with which result), `equity.csv`,
//! `trades.csv`, `orders.csv` and `report.html`. Each appears whole or not
//! at all (see `atomic.rs`), so a reader polling the directory, or a run
//! killed half-way, never sees a truncated file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::{sync_dir, write_atomic};
use super::csv_out::{write_equity, write_fills, write_orders, write_trades};
pub use super::error::OutputError;
use super::metrics::Metrics;
use super::report::render_report;
use crate::execution::records::{EquityPoint, FillRecord, OrderRecord, TradeRecord};

/// A strategy that ran, as loaded last (a hot reload bumps `generation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyInfo {
    pub symbol: String,
    /// The strategy file as given by the user (or a name for a built-in
    /// Rust strategy).
    pub file: String,
    /// SHA-256 of the source, hex.
    pub sha256: String,
    /// 1 for the first load, +1 per successful reload.
    pub generation: u64,
}

/// Where a symbol's bars came from, so a run can be reproduced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataInfo {
    pub symbol: String,
    /// A file path, or [`synthetic_source`] for generated data.
    pub source: String,
    /// SHA-256 of the file, hex; `None` for synthetic data (the seed and
    /// bar count identify it).
    pub sha256: Option<String>,
    pub bars: u64,
}

/// The `source` of synthetic data: `synthetic: seed=42,bars=10000`.
pub fn synthetic_source(seed: u64, bars: u64) -> String {
    format!("synthetic: seed={seed},bars={bars}")
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every runner went through its data.
    Completed,
    /// Stopped early (Ctrl-C, SIGTERM): the outputs cover the bars
    /// processed so far.
    Interrupted,
    /// A runner stopped early on an error, or the event log failed and
    /// halted trading (see `errors`): results are partial or missing.
    Failed,
}

/// Everything `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// `engine-core`'s version (or the CLI's, with a git describe).
    pub engine_version: String,
    pub status: RunStatus,
    /// Why runners stopped early, or the event log failed (empty unless
    /// `status` is `failed`).
    pub errors: Vec<String>,
    /// Wall-clock start and end of the run, RFC 3339, given by the caller
    /// (the library reads no clock, so outputs are reproducible in tests).
    pub started_at: String,
    pub finished_at: String,
    pub metrics: Metrics,
    /// The effective configuration, as the CLI resolved it.
    pub config: serde_json::Value,
    pub strategies: Vec<StrategyInfo>,
    pub data: Vec<DataInfo>,
    /// Orders risk refused, by reason code.
    pub refusals: BTreeMap<String, u64>,
    /// Event counts (bars, signals, orders, fills...) as the caller keeps
    /// them.
    pub counts: serde_json::Value,
}

/// What [`write_outputs`] writes from.
#[derive(Debug, Clone, Copy)]
pub struct RunOutputs<'a> {
    pub summary: &'a RunSummary,
    pub equity: &'a [EquityPoint],
    pub trades: &'a [TradeRecord],
    pub orders: &'a [OrderRecord],
    /// Every fill, for checking trades by hand.
    pub fills: &'a [FillRecord],
    /// Closes per symbol, `(time ms, close)` in time order, for the price
    /// charts of the report.
    pub prices: &'a BTreeMap<String, Vec<(i64, f64)>>,
}

/// The paths [`write_outputs`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFiles {
    pub summary: PathBuf,
    pub equity: PathBuf,
    pub trades: PathBuf,
    pub orders: PathBuf,
    pub fills: PathBuf,
    pub report: PathBuf,
}

impl WrittenFiles {
    fn in_dir(dir: &Path) -> WrittenFiles {
        WrittenFiles {
            summary: dir.join("summary.json"),
            equity: dir.join("equity.csv"),
            trades: dir.join("trades.csv"),
            orders: dir.join("orders.csv"),
            fills: dir.join("fills.csv"),
            report: dir.join("report.html"),
        }
    }

    /// All six, in the order they are written.
    pub fn all(&self) -> [&Path; 6] {
        [&self.equity, &self.trades, &self.orders, &self.fills, &self.report, &self.summary]
    }
}

/// Writes the six output files into `dir`, creating it if missing. Files
/// already there are replaced, each atomically. A previous `summary.json`
/// is removed first and the new one written last, so a `summary.json` in
/// the directory always means the other five files belong to its run and
/// are complete.
pub fn write_outputs(dir: &Path, outputs: &RunOutputs) -> Result<WrittenFiles, OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError::CreateDir { path: dir.to_path_buf(), source })?;
    let files = WrittenFiles::in_dir(dir);
    match std::fs::remove_file(&files.summary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(OutputError::Write { path: files.summary.clone(), source: e })
        }
        _ => {}
    }

    write_atomic(&files.equity, |w| write_equity(w, &files.equity, outputs.equity))?;
    write_atomic(&files.trades, |w| write_trades(w, &files.trades, outputs.trades))?;
    write_atomic(&files.orders, |w| write_orders(w, &files.orders, outputs.orders))?;
    write_atomic(&files.fills, |w| write_fills(w, &files.fills, outputs.fills))?;
    write_atomic(&files.report, |w| {
        use std::io::Write;
        let html = render_report(outputs);
        w.write_all(html.as_bytes()).map_err(|source| OutputError::Write { path: files.report.clone(), source })
    })?;
    write_atomic(&files.summary, |w| {
        use std::io::Write;
        serde_json::to_writer_pretty(&mut *w, outputs.summary)
            .map_err(|source| OutputError::Json { path: files.summary.clone(), source })?;
        w.write_all(b"\n").map_err(|source| OutputError::Write { path: files.summary.clone(), source })
    })?;
    sync_dir(dir);
    Ok(files)
}

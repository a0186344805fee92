//! Backtest results: performance metrics, the files a run leaves behind and
//! a self-contained HTML report.
//!
//! Everything here reads the plain records execution wrote
//! ([`crate::execution::records`]) after the run; nothing feeds back into
//! the engine. [`compute_metrics`] turns the equity curve, trades and fills
//! into [`Metrics`] (formulas in `docs/metrics.md`); [`write_outputs`]
//! writes `summary.json`, the CSV files and `report.html` into a run
//! directory, each file renamed into place whole; [`summary_table`] is the
//! terminal version of the metrics.

mod atomic;
mod csv_out;
mod drawdown;
mod error;
pub(crate) mod format;
mod metrics;
mod outputs;
mod report;
mod table;

pub use atomic::temp_file_in;
pub use drawdown::{drawdown_pct_series, Drawdown};
pub use format::rfc3339_ms;
pub use metrics::{compute_metrics, Metrics, MS_PER_DAY, MS_PER_YEAR};
pub use outputs::{
    synthetic_source, write_outputs, DataInfo, OutputError, RunOutputs, RunStatus, RunSummary, StrategyInfo,
    WrittenFiles,
};
pub use report::{render_report, render_report_with, ReportLimits};
pub use table::summary_table;

//! Which engine modes, execution modes and sources go together
//! (docs/config.md, "Modes"):
//!
//! | `engine.mode` | `execution.mode` | sources                    |
//! |---------------|------------------|----------------------------|
//! | `backtest`    | `simulated`      | historical: `synthetic`, `file` |
//! | `paper`       | `simulated`      | live: `live_synthetic`     |
//! | `live`        | `live`           | a live exchange feed (none yet) |
//!
//! Live execution sends real orders, so it needs a live market with an
//! exchange behind it. `live_synthetic` is live but simulated: there is
//! nobody to send real orders to, and accepting it would run a simulation
//! that calls itself live. The engine has no exchange source yet, so every
//! `live` configuration is refused.

use super::sections::{EngineMode, SourceSection};
use super::Config;
use crate::execution::ExecutionMode;

impl Config {
    /// Refuses an engine mode, execution mode and sources that do not go
    /// together, naming the keys (and the environment variables that set
    /// them).
    pub(super) fn check_modes(&self) -> Result<(), String> {
        self.check_execution_mode()?;
        for (i, runner) in self.runners.iter().enumerate() {
            self.check_source(&format!("runners[{i}]"), &runner.source)?;
        }
        Ok(())
    }

    /// `engine.mode` and `execution.mode` agree: real orders exactly in `live`.
    /// Each message starts with the key at fault, which the loader
    /// attributes to its environment variable if one set it; other keys
    /// named say so themselves.
    fn check_execution_mode(&self) -> Result<(), String> {
        match (self.engine.mode, self.execution.mode) {
            (EngineMode::Backtest, ExecutionMode::Live) => Err(format!(
                "execution.mode = \"live\" cannot run a backtest ({}): expected execution.mode = \"simulated\"",
                self.engine_mode()
            )),
            (EngineMode::Paper, ExecutionMode::Live) => Err(format!(
                "execution.mode = \"live\" sends real orders, but {} simulates them: expected execution.mode = \
                 \"simulated\" (real orders are engine.mode = \"live\")",
                self.engine_mode()
            )),
            (EngineMode::Live, ExecutionMode::Simulated) => Err(format!(
                "engine.mode = \"live\" sends real orders, but {} simulates them: expected execution.mode = \
                 \"live\" (simulated orders on live data are engine.mode = \"paper\")",
                self.execution_mode()
            )),
            (EngineMode::Backtest | EngineMode::Paper, ExecutionMode::Simulated)
            | (EngineMode::Live, ExecutionMode::Live) => Ok(()),
        }
    }

    /// The source of runner `key` suits the engine mode (which, checked
    /// first, agrees with the execution mode).
    fn check_source(&self, key: &str, source: &SourceSection) -> Result<(), String> {
        let kind = source.kind();
        match (self.engine.mode, source) {
            (EngineMode::Backtest, SourceSection::Synthetic { .. } | SourceSection::File { .. })
            | (EngineMode::Paper, SourceSection::LiveSynthetic { .. }) => Ok(()),
            (EngineMode::Backtest, SourceSection::LiveSynthetic { .. }) => Err(format!(
                "{key}.source: a backtest needs historical data, but this source is live ({kind}): expected type = \
                 \"synthetic\" or \"file\", or engine.mode = \"paper\"{}",
                self.engine_mode_origin()
            )),
            (EngineMode::Paper, SourceSection::Synthetic { .. } | SourceSection::File { .. }) => Err(format!(
                "{key}.source.type = \"{kind}\" is historical data, but {} trades live data: expected type = \
                 \"live_synthetic\" (historical data is for engine.mode = \"backtest\")",
                self.engine_mode()
            )),
            // Led by execution.mode, like the other refusals of live execution.
            (EngineMode::Live, SourceSection::Synthetic { .. } | SourceSection::File { .. }) => Err(format!(
                "execution.mode = \"live\" sends real orders and needs live market data, but {key}.source is \
                 historical ({kind})"
            )),
            (EngineMode::Live, SourceSection::LiveSynthetic { .. }) => Err(format!(
                "{key}.source.type = \"{kind}\" is a simulated market with no exchange to take the real orders of \
                 {}: expected a live exchange source, which this engine does not have yet (for simulated orders \
                 on live_synthetic: engine.mode = \"paper\", execution.mode = \"simulated\")",
                self.execution_mode()
            )),
        }
    }

    /// `engine.mode = "paper"`, with the environment variable that set it.
    fn engine_mode(&self) -> String {
        self.setting("engine.mode", self.engine.mode.as_str())
    }

    /// `execution.mode = "live"`, with the environment variable that set it.
    fn execution_mode(&self) -> String {
        self.setting("execution.mode", execution_mode_name(self.execution.mode))
    }

    /// ` (engine.mode = "backtest" set by ...)` when a variable set the mode.
    fn engine_mode_origin(&self) -> String {
        match self.origin("engine.mode") {
            Some(variable) => format!(" (engine.mode = \"{}\" set by {variable})", self.engine.mode),
            None => String::new(),
        }
    }

    fn setting(&self, key: &str, value: &str) -> String {
        format!("{key} = \"{value}\"{}", self.set_by(key))
    }

    /// ` (set by TRADING_ENGINE__...)` when an environment variable set `key`.
    pub fn set_by(&self, key: &str) -> String {
        self.origin(key).map(|variable| format!(" (set by {variable})")).unwrap_or_default()
    }
}

fn execution_mode_name(mode: ExecutionMode) -> &'static str {
    match mode {
        ExecutionMode::Simulated => "simulated",
        ExecutionMode::Live => "live",
    }
}

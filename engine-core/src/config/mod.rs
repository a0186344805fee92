//! The TOML configuration of a run (`docs/config.md`): the engine, its
//! runners (symbol, strategy file and parameters, data source, bar
//! interval), execution, risk, the sandbox and event recording.
//!
//! Loading reads the file, applies environment overrides
//! (`TRADING_ENGINE__SECTION__KEY=value`, see [`ENV_PREFIX`]), then
//! deserializes with unknown keys refused; every error names the file, the
//! key path and, when it can, the line. [`Config::validate`] then refuses
//! impossible combinations (live execution on historical data, a missing
//! strategy file, ...). Secrets are never read from the file: API keys come
//! from environment variables only ([`API_KEY_ENV`]).

mod env;
mod locate;
mod modes;
mod paths;
mod sections;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use env::{apply_overrides, Override, ENV_PREFIX};
pub use sections::{EngineMode, EngineSection, EventsSection, RegimeSection, RunnerSection, SourceSection};

use crate::execution::ExecutionConfig;
use crate::risk::RiskConfig;
use crate::strategy::sandbox::SandboxLimits;
use env::Relation;

/// Environment variables holding exchange credentials (never in a file).
pub const API_KEY_ENV: &str = "TRADING_ENGINE_API_KEY";
pub const API_SECRET_ENV: &str = "TRADING_ENGINE_API_SECRET";

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub runners: Vec<RunnerSection>,
    #[serde(default)]
    pub execution: ExecutionConfig,
    #[serde(default)]
    pub risk: RiskConfig,
    #[serde(default)]
    pub sandbox: SandboxLimits,
    #[serde(default)]
    pub events: EventsSection,
    /// The environment overrides applied at load, so that errors about
    /// the keys they set name them.
    #[serde(skip)]
    pub overrides: Vec<Override>,
}

/// Why a configuration cannot be used. The message names the file and the
/// key (and line) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl Config {
    /// Reads `path`, applies the environment's overrides and checks it.
    /// Relative paths inside (strategies, data files, output) are taken
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse(&text, &path.display().to_string(), &paths::config_dir(path), std::env::vars())
    }

    /// Parses `text` (named `file` in errors), with `vars` as the
    /// environment. Every path in it is made absolute and normalised:
    /// relative ones are taken against `base`, itself taken against the
    /// working directory when relative (an empty `base` is the working
    /// directory).
    pub fn parse(
        text: &str,
        file: &str,
        base: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let error = |message: String| ConfigError { file: file.to_string(), message };
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| error(toml_message(text, &e)))?;
        let overrides = apply_overrides(&mut table, vars).map_err(error)?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| error(deserialize_message(text, &overrides, e)))?;
        config.overrides = overrides;
        config.resolve_paths(base);
        config.validate().map_err(|message| {
            // Validation messages start with the key at fault.
            let origin = attribution(&config.overrides, leading_key(&message));
            error(format!("{message}{origin}"))
        })?;
        Ok(config)
    }

    /// The environment variable that set `key` (spelled as in errors:
    /// `engine.mode`, `runners[0].source`), or a table holding it.
    pub fn origin(&self, key: &str) -> Option<&str> {
        setter(&self.overrides, key).map(|o| o.variable.as_str())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| *p = paths::resolve(p, base);
        for r in &mut self.runners {
            resolve(&mut r.strategy);
            if let SourceSection::File { path, .. } = &mut r.source {
                resolve(path);
            }
        }
        let optional = [
            &mut self.engine.output,
            &mut self.engine.state_dir,
            &mut self.events.dir,
            &mut self.risk.kill_switch.file,
        ];
        for p in optional.into_iter().flatten() {
            resolve(p);
        }
    }

    /// Refuses impossible or incomplete configurations, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.runners.is_empty() {
            return Err("runners: at least one [[runners]] entry is needed".into());
        }
        if self.events.snapshot_every < 2 {
            return Err(format!("events.snapshot_every: must be at least 2, got {}", self.events.snapshot_every));
        }
        self.check_modes()?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in self.runners.iter().enumerate() {
            let key = format!("runners[{i}]");
            if r.symbol.trim().is_empty() {
                return Err(format!("{key}.symbol: must not be empty"));
            }
            if !seen.insert(r.symbol.as_str()) {
                return Err(format!("{key}.symbol: {} appears twice (one runner per symbol)", r.symbol));
            }
            if r.strategy.as_os_str().is_empty() {
                return Err(format!("{key}.strategy: must be the path of a Lua file, got an empty string"));
            }
            if !r.strategy.is_file() {
                return Err(format!("{key}.strategy: {} does not exist or is not a file", r.strategy.display()));
            }
            r.validate(&key)?;
        }
        self.engine.validate()?;
        for (name, value) in [("engine.from", &self.engine.from), ("engine.to", &self.engine.to)] {
            if let Some(text) = value {
                parse_time(text).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        if let (Some(from), Some(to)) = self.period() {
            if from > to {
                return Err(format!(
                    "engine.from ({}) is after engine.to ({}): no bar can be in that period",
                    self.engine.from.as_deref().unwrap_or_default(),
                    self.engine.to.as_deref().unwrap_or_default()
                ));
            }
        }
        let directories = [
            ("engine.output", &self.engine.output),
            ("engine.state_dir", &self.engine.state_dir),
            ("events.dir", &self.events.dir),
        ];
        for (name, dir) in directories {
            if dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
                return Err(format!(
                    "{name}: must be a directory path, got an empty string (leave it out for the default)"
                ));
            }
        }
        self.execution.validate()?;
        self.risk.validate()?;
        self.sandbox.validate().map_err(|e| format!("sandbox: {e}"))?;
        Ok(())
    }

    /// `engine.from` and `engine.to` as epoch milliseconds.
    pub fn period(&self) -> (Option<i64>, Option<i64>) {
        let time = |t: &Option<String>| t.as_deref().and_then(|t| parse_time(t).ok());
        (time(&self.engine.from), time(&self.engine.to))
    }
}

/// A time as `2024-01-31`, `2024-01-31T12:00:00Z` (RFC 3339) or epoch
/// milliseconds (always: a session's times before 1973 must read as they
/// were printed, so the magnitude rule of data files does not apply).
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis());
    }
    Err(format!("{text:?} is not a time (expected 2024-01-31, 2024-01-31T12:00:00Z or epoch milliseconds)"))
}

/// A TOML syntax error as `line N: message`.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().to_string();
    match e.span() {
        Some(span) => format!("line {}: {message}", locate::line_of(text, span.start)),
        None => message,
    }
}

/// A deserialization error as `key: message`, then where the value at
/// fault came from: the line of the key in the file, or the environment
/// variable that set it.
fn deserialize_message(text: &str, overrides: &[Override], e: serde_path_to_error::Error<toml::de::Error>) -> String {
    let key = e.path().to_string();
    // A value from the environment has no line; the file's line for the key
    // would point at the value it replaced.
    let line = match setter(overrides, &key) {
        Some(_) => None,
        None => locate::line_of_path(text, e.path()),
    };
    let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
    // toml appends "in `a.b`" on a second line: the path says it.
    let inner = e.into_inner().to_string();
    let inner = inner.lines().next().unwrap_or("").trim();
    format!("{key}: {inner}{at}{}", attribution(overrides, &key))
}

/// ` (engine.mode set by TRADING_ENGINE__ENGINE__MODE)` when an environment
/// override set `key`, ` (after environment override ...)` when overrides
/// set keys inside it, empty otherwise.
fn attribution(overrides: &[Override], key: &str) -> String {
    if let Some(o) = setter(overrides, key) {
        return format!(" ({} set by {})", o.key, o.variable);
    }
    let inside: Vec<&str> = overrides
        .iter()
        .filter(|o| o.relation_to(key) == Some(Relation::Inside))
        .map(|o| o.variable.as_str())
        .collect();
    match inside.as_slice() {
        [] => String::new(),
        [one] => format!(" (after environment override {one})"),
        many => format!(" (after environment overrides {})", many.join(", ")),
    }
}

/// The override that set `key` or a table holding it. Overrides are
/// applied in order: the last one to set it won.
fn setter<'a>(overrides: &'a [Override], key: &str) -> Option<&'a Override> {
    overrides.iter().rev().find(|o| o.relation_to(key) == Some(Relation::SetIt))
}

/// The key a validation message starts with: `engine.speed` in
/// `engine.speed: must be ...`, `risk.max_drawdown_pct` in
/// `risk.max_drawdown_pct must be ...`.
fn leading_key(message: &str) -> &str {
    message.split([':', ' ']).next().unwrap_or("")
}

#[cfg(test)]
mod tests;

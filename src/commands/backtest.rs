//! `trading-engine backtest`: a historical run of a config (the embedded
//! default when none is given) or of one strategy on one data file.

use std::path::{Path, PathBuf};

use engine_core::config::{Config, ConfigError, EngineMode};
use engine_core::sources::symbol_from_path;

use super::session::{execute, SessionOptions};
use super::BadInput;

/// The default backtest, built in: synthetic data, `ema_crossover.lua`.
const DEFAULT_CONFIG: &str = include_str!("../../config/backtest.toml");

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The run's config (TOML, docs/config.md); without it, the built-in
    /// default (config/backtest.toml) or the shorthand below.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Replay at N times real time (unset: as fast as possible).
    #[arg(long, value_name = "N")]
    speed: Option<f64>,
    /// First bar time: 2024-01-31, 2024-01-31T12:00:00Z or epoch ms.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Last bar time.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Where summary.json, trades.csv, orders.csv, equity.csv and
    /// report.html go (default: results/<config name>).
    #[arg(long, short, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Shorthand without a config: the strategy file...
    #[arg(long, value_name = "FILE.lua", conflicts_with = "config", requires = "data")]
    strategy: Option<PathBuf>,
    /// ...the data file (Binance klines, OHLCV CSV or JSON rows)...
    #[arg(long, value_name = "FILE", conflicts_with = "config", requires = "strategy")]
    data: Option<PathBuf>,
    /// ...and its symbol (default: from the file name).
    #[arg(long, value_name = "SYMBOL", requires = "data")]
    symbol: Option<String>,
    /// Start with the kill switch engaged (no entries).
    #[arg(long)]
    kill_switch: bool,
    /// Record the session's event log (events.dir, default `sessions/`;
    /// docs/events.md). Also `record = true` in the config's [events].
    #[arg(long)]
    record: bool,
}

pub fn run(args: BacktestArgs) -> anyhow::Result<u8> {
    let (mut config, name) = load(&args)?;
    if config.engine.mode != EngineMode::Backtest {
        return Err(BadInput(format!(
            "{name}: engine.mode is {:?}: a backtest needs mode = \"backtest\" (use `trading-engine run`)",
            config.engine.mode
        ))
        .into());
    }
    let override_error = |e: String| BadInput(format!("{name}: {e}"));
    if let Some(speed) = args.speed {
        config.engine.speed = Some(speed);
    }
    if args.from.is_some() {
        config.engine.from = args.from.clone();
    }
    if args.to.is_some() {
        config.engine.to = args.to.clone();
    }
    config.validate().map_err(override_error)?;
    let output = args.output.clone().or_else(|| config.engine.output.clone()).unwrap_or_else(|| {
        PathBuf::from("results")
            .join(Path::new(&name).file_stem().map_or("backtest".into(), |s| s.to_string_lossy().into_owned()))
    });
    let record = args.record || config.events.record.unwrap_or(false);
    execute(
        config,
        SessionOptions {
            hot_reload: false,
            kill_switch: args.kill_switch,
            output,
            config_name: name,
            record,
            bars: None,
        },
    )
}

/// The config: a file, the shorthand, or the built-in default.
fn load(args: &BacktestArgs) -> anyhow::Result<(Config, String)> {
    let bad = |e: ConfigError| BadInput(e.to_string());
    if let Some(path) = &args.config {
        return Ok((Config::load(path).map_err(bad)?, path.display().to_string()));
    }
    if let (Some(strategy), Some(data)) = (&args.strategy, &args.data) {
        let symbol = match &args.symbol {
            Some(s) => s.clone(),
            None => symbol_from_path(data),
        };
        let text = format!(
            "[[runners]]\nsymbol = {}\nstrategy = {}\nsource = {{ type = \"file\", path = {} }}\n",
            toml_string(&symbol),
            toml_string(&strategy.display().to_string()),
            toml_string(&data.display().to_string())
        );
        let name = format!("{}-{}", file_stem(strategy), symbol);
        return Ok((Config::parse(&text, "command line", Path::new(""), std::env::vars()).map_err(bad)?, name));
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let config =
        Config::parse(DEFAULT_CONFIG, "built-in config/backtest.toml", &base, std::env::vars()).map_err(bad)?;
    Ok((config, "backtest.toml".into()))
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| "strategy".into(), |s| s.to_string_lossy().into_owned())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

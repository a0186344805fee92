//! `trading-engine backtest`: a historical run of a config (the embedded
//! default when none is given) or of one strategy on one data file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine_core::backtest::temp_file_in;
use engine_core::config::{parse_time, Config, ConfigError, EngineMode};
use engine_core::engine::check_speed;
use engine_core::sources::{symbol_from_path, DataFormat};

use super::session::{execute, SessionOptions};
use super::BadInput;

/// The default backtest, built in: synthetic data, `ema_crossover.lua`.
const DEFAULT_CONFIG: &str = include_str!("../../config/backtest.toml");
/// The default's strategy, where `DEFAULT_CONFIG` finds it from `config/`.
const DEFAULT_STRATEGY: (&str, &str) =
    ("lua-strategies/ema_crossover.lua", include_str!("../../lua-strategies/ema_crossover.lua"));

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The run's config (TOML, docs/config.md); without it, the built-in
    /// default (config/backtest.toml) or the shorthand below.
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Replay at N times real time (unset: as fast as possible).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    speed: Option<f64>,
    /// First bar time: 2024-01-31, 2024-01-31T12:00:00Z or epoch ms.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Last bar time.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Where summary.json, trades.csv, orders.csv, fills.csv, equity.csv
    /// and report.html go (default: results/<config name>).
    #[arg(long, short, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Shorthand without a config: the strategy file...
    #[arg(long, value_name = "FILE.lua", conflicts_with = "config", requires = "data")]
    strategy: Option<PathBuf>,
    /// ...the data file (Binance klines, OHLCV CSV or JSON rows)...
    #[arg(long, value_name = "FILE", conflicts_with = "config", requires = "strategy")]
    data: Option<PathBuf>,
    /// ...its format, instead of detecting it: binance, csv or json...
    #[arg(long, value_name = "FORMAT", requires = "data")]
    data_format: Option<DataFormat>,
    /// ...whether to skip its bad rows (reported) instead of refusing it...
    #[arg(long, requires = "data")]
    skip_bad_rows: bool,
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
    check_flags(&args)?;
    let (mut config, name) = load(&args)?;
    if config.engine.mode != EngineMode::Backtest {
        let set_by = config.set_by("engine.mode");
        return Err(BadInput(format!(
            "{name}: engine.mode is \"{}\"{set_by}: a backtest needs mode = \"backtest\" (use `trading-engine run`)",
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

/// The flags that override the config, checked on their own so that an
/// error names the flag, not the config it would have gone into.
fn check_flags(args: &BacktestArgs) -> Result<(), BadInput> {
    if let Some(speed) = args.speed {
        check_speed("--speed", speed).map_err(BadInput)?;
    }
    let time = |flag: &str, text: &Option<String>| match text {
        Some(text) => parse_time(text).map(Some).map_err(|e| BadInput(format!("{flag}: {e}"))),
        None => Ok(None),
    };
    if let (Some(from), Some(to)) = (time("--from", &args.from)?, time("--to", &args.to)?) {
        if from > to {
            return Err(BadInput(format!(
                "--from {} is after --to {}: no bar can be in that period",
                args.from.as_deref().unwrap_or_default(),
                args.to.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
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
        let mut options = args.data_format.map(|f| format!(", format = {}", toml_string(&f.to_string())));
        if args.skip_bad_rows {
            options.get_or_insert_with(String::new).push_str(", skip_bad_rows = true");
        }
        let text = format!(
            "[[runners]]\nsymbol = {}\nstrategy = {}\nsource = {{ type = \"file\", path = {}{} }}\n",
            toml_string(&symbol),
            toml_string(&strategy.display().to_string()),
            toml_string(&data.display().to_string()),
            options.unwrap_or_default()
        );
        let name = format!("{}-{}", file_stem(strategy), symbol);
        return Ok((Config::parse(&text, "command line", Path::new(""), std::env::vars()).map_err(bad)?, name));
    }
    let base = builtin_base(Path::new(env!("CARGO_MANIFEST_DIR")), &builtin_cache())?;
    let config =
        Config::parse(DEFAULT_CONFIG, "built-in config/backtest.toml", &base, std::env::vars()).map_err(bad)?;
    Ok((config, "backtest.toml".into()))
}

/// The directory the built-in config's paths start from: `config/` of the
/// source tree the binary was built from while its strategy is there (an
/// edit to it shows in the default run), else `config/` next to a copy of
/// the built-in strategy unpacked under `cache`, so that an installed
/// binary runs its default anywhere.
fn builtin_base(checkout: &Path, cache: &Path) -> anyhow::Result<PathBuf> {
    let (relative, source) = DEFAULT_STRATEGY;
    if checkout.join(relative).is_file() {
        return Ok(checkout.join("config"));
    }
    let unpacked = cache.join(relative);
    if std::fs::read(&unpacked).ok().as_deref() != Some(source.as_bytes()) {
        let dir = unpacked.parent().expect("a file under a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Written aside and renamed: a concurrent run never reads half a file.
        let writing = || format!("writing {}", unpacked.display());
        let mut temp = temp_file_in(dir, ".ema_crossover.lua.").with_context(writing)?;
        temp.write_all(source.as_bytes()).with_context(writing)?;
        temp.persist(&unpacked).with_context(writing)?;
    }
    let base = cache.join("config");
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    Ok(base)
}

/// Where the built-in strategy is unpacked: the user's cache directory
/// (`$XDG_CACHE_HOME`, else `~/.cache`), per engine version.
fn builtin_cache() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("trading-engine").join(env!("CARGO_PKG_VERSION")).join("built-in")
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| "strategy".into(), |s| s.to_string_lossy().into_owned())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_default_runs_away_from_its_source_tree() {
        let cache = tempfile::tempdir().unwrap();
        let gone = cache.path().join("no-such-checkout");
        let base = builtin_base(&gone, cache.path()).unwrap();
        let config = Config::parse(DEFAULT_CONFIG, "built-in config/backtest.toml", &base, std::iter::empty())
            .expect("the built-in config loads on the unpacked strategy");
        let strategy = std::fs::read_to_string(&config.runners[0].strategy).unwrap();
        assert_eq!(strategy, DEFAULT_STRATEGY.1);
        // Unpacked once; a damaged copy is replaced.
        std::fs::write(cache.path().join(DEFAULT_STRATEGY.0), "garbage").unwrap();
        builtin_base(&gone, cache.path()).unwrap();
        assert_eq!(std::fs::read_to_string(cache.path().join(DEFAULT_STRATEGY.0)).unwrap(), DEFAULT_STRATEGY.1);
    }

    #[test]
    fn the_built_in_default_reads_the_source_tree_when_it_is_there() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(builtin_base(checkout, cache.path()).unwrap(), checkout.join("config"));
        assert!(!cache.path().join(DEFAULT_STRATEGY.0).exists());
    }
}

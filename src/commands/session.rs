//! What `backtest` and `run` share: building the engine from a config,
//! running it with progress or status lines and signal handling, and
//! writing the results.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use engine_core::backtest::{
    compute_metrics, rfc3339_ms, summary_table, synthetic_source, write_outputs, DataInfo, RunOutputs, RunStatus,
    RunSummary, StrategyInfo,
};
use engine_core::config::{Config, EngineMode, RunnerSection, SourceSection};
use engine_core::content_hash::sha256_hex;
use engine_core::engine::{
    Clock, EngineConfig, EngineReport, Progress, Recording, RunMode, RunnerSpec, TradingEngine, WallClock,
};
use engine_core::events::log::{Durability, WriterOptions};
use engine_core::events::session::{new_session_id, Manifest, RecorderOptions, SessionRecorder, SessionStatus};
use engine_core::market_data::{parse_interval, Bar};
use engine_core::regime::{DetectorConfig, RegimeDetector};
use engine_core::sources::{
    generate, load_bytes, BadRowPolicy, DataFormat, HistoricalSource, LiveSyntheticSource, LoadOptions,
    MarketDataSource, SyntheticConfig,
};
use engine_core::strategy::{CtxValue, LuaStrategy, Strategy};

use super::BadInput;

/// How a session runs beyond what the config says.
#[derive(Debug, Default, Clone)]
pub struct SessionOptions {
    /// Watch strategy files and reload them on change.
    pub hot_reload: bool,
    /// Engage the kill switch at start.
    pub kill_switch: bool,
    /// Print a summary and write outputs here.
    pub output: PathBuf,
    /// The config as the user gave it, for summary.json.
    pub config_name: String,
    /// Record the session into `events.dir` (docs/events.md).
    pub record: bool,
    /// Bars to run on instead of the runners' sources, by symbol (a
    /// what-if replay of a recorded session).
    pub bars: Option<BTreeMap<String, Vec<Bar>>>,
}

/// What the CLI built for a runner, for the summary.
struct Prepared {
    spec: RunnerSpec,
    strategy: StrategyInfo,
    data: DataInfo,
}

/// Runs `config` to the end of its data or Ctrl-C, prints the summary and
/// writes the outputs. Returns the exit code.
pub fn execute(config: Config, options: SessionOptions) -> anyhow::Result<u8> {
    check_output_dir(&options.output)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(execute_async(config, options))
}

/// Checks, before anything runs, that the output directory can be written:
/// it is a writable directory, or the nearest part of its path that exists
/// is one (where it will be created). An unusable path (an existing file, a
/// read-only place) is refused at once rather than after the whole run.
fn check_output_dir(dir: &Path) -> Result<(), BadInput> {
    let refused = |why: String| BadInput(format!("output directory {}: {why}", dir.display()));
    let existing = dir.ancestors().find(|p| p.as_os_str().is_empty() || p.exists()).unwrap_or(dir);
    let existing = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
    if !existing.is_dir() {
        return Err(refused(format!("{} is not a directory", existing.display())));
    }
    tempfile::tempfile_in(existing)
        .map(drop)
        .map_err(|e| refused(format!("cannot write in {}: {e}", existing.display())))
}

async fn execute_async(config: Config, options: SessionOptions) -> anyhow::Result<u8> {
    let started = WallClock.now_ms();
    let live = config.engine.mode != EngineMode::Backtest;
    let mut prepared = Vec::with_capacity(config.runners.len());
    for (i, runner) in config.runners.iter().enumerate() {
        let recorded = options.bars.as_ref().map(|bars| bars.get(&runner.symbol).cloned().unwrap_or_default());
        let runner = prepare(&config, runner, i, options.hot_reload, recorded);
        prepared.push(runner.with_context(|| options.config_name.clone())?);
    }
    let mode = if live { RunMode::Live } else { RunMode::Historical { speed: config.engine.speed } };
    let mut engine = TradingEngine::new(EngineConfig {
        mode,
        accounts: config.engine.accounts,
        execution: config.execution.clone(),
        risk: config.risk.clone(),
        // Decisions live in the session log, not in memory.
        recording: Recording { events: false, ..Recording::default() },
    });
    let (mut strategies, mut data) = (Vec::new(), Vec::new());
    for p in prepared {
        strategies.push(p.strategy);
        data.push(p.data);
        engine.add_runner(p.spec);
    }
    let mut recorder = match options.record {
        true => Some(start_recording(&config, &options, live, started, &strategies, &data)?),
        false => None,
    };
    if let Some(recorder) = &mut recorder {
        engine.record_to(recorder);
    }
    let kill_switch = engine.kill_switch();
    if options.kill_switch {
        kill_switch.engage("--kill-switch given on the command line");
    }
    let shutdown = engine.shutdown_token();
    let progress = engine.progress();
    let signals = tokio::spawn(watch_signals(shutdown.clone(), kill_switch));
    let reporter = tokio::spawn(report_progress(progress.clone(), live, config.engine.status_interval_s));
    let report = engine.run().await;
    signals.abort();
    reporter.abort();
    let _ = reporter.await;
    let finished = WallClock.now_ms();
    finish_progress_line(&progress, live, Duration::from_millis((finished - started).max(0) as u64));

    // Strategy versions at the end (a reload may have changed them).
    for runner in &report.runners {
        if let Some(info) = strategies.iter_mut().find(|s| s.symbol == runner.symbol) {
            info.sha256 = runner.version.hash.to_string();
            info.generation = runner.version.generation;
        }
    }
    // The session ends before the results are written: a failure there
    // must not leave the manifest saying `running`.
    let (status, errors) = run_status(&report);
    let manifest = recorder.map(|recorder| {
        let status = match status {
            RunStatus::Completed => SessionStatus::Completed,
            RunStatus::Interrupted => SessionStatus::Interrupted,
            RunStatus::Failed => SessionStatus::Failed,
        };
        let error = report.log_error.as_deref().map(log_failure);
        recorder.finish(status, error, rfc3339_ms(WallClock.now_ms()).unwrap_or_default())
    });
    if let Some(m) = &manifest {
        let dir = config.events.sessions_dir();
        println!("session: {} ({} records, {}) in {}", m.session_id, m.records, m.status, dir.display());
    }
    let ended = RunEnd { status, errors, started, finished };
    let code = summarize(&config, &options, &report, strategies, data, ended)?;
    if let Some(e) = manifest.and_then(|m| m.error) {
        eprintln!("error: {e}");
        return Ok(crate::exit::FAILURE);
    }
    Ok(code)
}

/// Creates the session directory and its manifest; the engine records
/// into it.
fn start_recording(
    config: &Config,
    options: &SessionOptions,
    live: bool,
    started: i64,
    strategies: &[StrategyInfo],
    data: &[DataInfo],
) -> anyhow::Result<SessionRecorder> {
    let events = &config.events;
    let dir = events.sessions_dir();
    let name = std::path::Path::new(&options.config_name)
        .file_stem()
        .map_or_else(|| "session".into(), |s| s.to_string_lossy().into_owned());
    let kind = match config.engine.mode {
        EngineMode::Backtest => "backtest",
        EngineMode::Paper => "paper",
        EngineMode::Live => "live",
    };
    let mut manifest = Manifest::new(&new_session_id(started, &name), kind, &rfc3339_ms(started).unwrap_or_default());
    manifest.config = serde_json::to_value(config).context("recording the config")?;
    manifest.strategies = strategies.to_vec();
    manifest.data = data.to_vec();
    let durability = events.durability.unwrap_or(if live { Durability::default() } else { Durability::Buffered });
    let options = RecorderOptions {
        storage: events.storage,
        snapshot_every: events.snapshot_every,
        indicators: events.indicators,
        writer: WriterOptions { compression: events.compression, durability, ..WriterOptions::default() },
        ..RecorderOptions::default()
    };
    SessionRecorder::create(&dir, manifest, options)
        .with_context(|| format!("recording the session in {}", dir.display()))
}

/// Loads the strategy and the data of runner `index`.
fn prepare(
    config: &Config,
    runner: &RunnerSection,
    index: usize,
    hot_reload: bool,
    recorded: Option<Vec<Bar>>,
) -> anyhow::Result<Prepared> {
    let key = format!("runners[{index}]");
    let params_json = serde_json::to_value(&runner.params).context("reading the strategy parameters")?;
    let params = CtxValue::from_json(&params_json, "params").map_err(|e| BadInput(format!("{key}.params: {e}")))?;
    let mut strategy =
        LuaStrategy::load(&runner.strategy, &runner.symbol, params, config.sandbox, runner.runner.window)
            .map_err(|e| BadInput(format!("{key}.strategy: {e}")))?;
    if hot_reload {
        strategy
            .watch(Duration::from_millis(200))
            .with_context(|| format!("watching {}", runner.strategy.display()))?;
    }
    let version = strategy.version().clone();
    let strategy_info = StrategyInfo {
        symbol: runner.symbol.clone(),
        file: runner.strategy.display().to_string(),
        sha256: version.hash.to_string(),
        generation: version.generation,
    };
    let (from, to) = config.period();
    // A period that selects none of the data is a mistake worth stopping
    // for: the run would report an empty backtest as a result.
    let in_period = |bars: Vec<Bar>| -> anyhow::Result<Vec<Bar>> {
        let span = bars.first().map(|b| b.open_time).zip(bars.last().map(|b| b.open_time));
        let kept: Vec<Bar> = bars
            .into_iter()
            .filter(|b| from.map_or(true, |f| b.open_time >= f) && to.map_or(true, |t| b.open_time <= t))
            .collect();
        match span {
            Some((first, last)) if kept.is_empty() => Err(BadInput(format!(
                "{key}: the period {} (engine.from/to, or --from/--to) selects none of its bars, which run from {} to {}",
                match (from.and_then(rfc3339_ms), to.and_then(rfc3339_ms)) {
                    (Some(from), Some(to)) => format!("from {from} to {to}"),
                    (Some(from), None) => format!("from {from}"),
                    (None, Some(to)) => format!("up to {to}"),
                    (None, None) => "given".to_string(),
                },
                rfc3339_ms(first).unwrap_or_default(),
                rfc3339_ms(last).unwrap_or_default(),
            ))
            .into()),
            _ => Ok(kept),
        }
    };
    let (source, data, mut history): (Option<Box<dyn MarketDataSource>>, DataInfo, Vec<Bar>) = match &runner.source {
        _ if recorded.is_some() => {
            let bars = in_period(recorded.unwrap_or_default())?;
            let info = DataInfo {
                symbol: runner.symbol.clone(),
                source: "recorded session".into(),
                sha256: None,
                bars: bars.len() as u64,
            };
            (None, info, bars)
        }
        SourceSection::Synthetic { seed, bars, interval, start_price } => {
            let count = bars.unwrap_or(20_000);
            let synthetic = SyntheticConfig {
                symbol: runner.symbol.clone(),
                seed: *seed,
                bars: count,
                interval_ms: parse_interval(interval).unwrap_or(60_000),
                start_price: start_price.unwrap_or(100.0),
                ..SyntheticConfig::default()
            };
            let bars = in_period(generate(&synthetic).bars)?;
            let info = DataInfo {
                symbol: runner.symbol.clone(),
                source: synthetic_source(*seed, count as u64),
                sha256: None,
                bars: bars.len() as u64,
            };
            (None, info, bars)
        }
        SourceSection::File { path, format, skip_bad_rows } => {
            let format = match format {
                Some(f) => Some(f.parse::<DataFormat>().map_err(|e| BadInput(format!("{key}.source.format: {e}")))?),
                None => None,
            };
            let bad_rows = if *skip_bad_rows { BadRowPolicy::Skip } else { BadRowPolicy::Fail };
            let options = LoadOptions { format, bad_rows, symbol: Some(runner.symbol.clone()) };
            // Read once: hashed for the summary, then parsed.
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let loaded = load_bytes(path, &bytes, &options)?;
            if !loaded.report.skipped.is_empty() {
                eprintln!("warning: {key}.source: {}", loaded.report);
            }
            for note in &loaded.report.notes {
                eprintln!("note: {key}.source ({}): {note}", path.display());
            }
            let bars = in_period(loaded.bars)?;
            let info = DataInfo {
                symbol: runner.symbol.clone(),
                source: path.display().to_string(),
                sha256: Some(sha256_hex(&bytes)),
                bars: bars.len() as u64,
            };
            (None, info, bars)
        }
        SourceSection::LiveSynthetic { seed, interval, speed, bars } => {
            let synthetic = SyntheticConfig {
                symbol: runner.symbol.clone(),
                seed: *seed,
                interval_ms: parse_interval(interval).unwrap_or(60_000),
                ..SyntheticConfig::default()
            };
            let mut source = LiveSyntheticSource::new(synthetic, Arc::new(WallClock), *bars);
            if let Some(speed) = speed {
                source = source.with_speed(*speed);
            }
            let info = DataInfo {
                symbol: runner.symbol.clone(),
                source: format!("live synthetic: seed={seed},interval={interval}"),
                sha256: None,
                bars: 0,
            };
            (Some(Box::new(source)), info, Vec::new())
        }
    };
    let regime = match &runner.regime {
        None => None,
        Some(r) => {
            if source.is_some() {
                return Err(
                    BadInput(format!("{key}.regime: training needs historical data; this source is live")).into()
                );
            }
            if history.len() < r.train_bars + 1 {
                return Err(BadInput(format!(
                    "{key}.regime.train_bars: {} bars to train on, but the data has {}",
                    r.train_bars,
                    history.len()
                ))
                .into());
            }
            // The training bars are not traded: no look-ahead.
            let rest = history.split_off(r.train_bars);
            let mut detector = RegimeDetector::new(DetectorConfig { seed: r.seed, ..DetectorConfig::default() })
                .map_err(|e| BadInput(format!("{key}.regime: {e}")))?;
            detector.train(&history).map_err(|e| BadInput(format!("{key}.regime: {e}")))?;
            history = rest;
            Some(detector)
        }
    };
    let source = source.unwrap_or_else(|| Box::new(HistoricalSource::new(data.source.clone(), history)));
    let spec = RunnerSpec {
        symbol: runner.symbol.clone(),
        strategy: Box::new(strategy),
        source,
        config: runner.runner.clone(),
        regime,
    };
    Ok(Prepared { spec, strategy: strategy_info, data })
}

/// Ctrl-C or SIGTERM: stop after the step in progress (a second one exits
/// at once). SIGUSR1: the kill switch.
async fn watch_signals(shutdown: tokio_util::sync::CancellationToken, kill_switch: engine_core::risk::KillSwitch) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut usr1)) = (signal(SignalKind::terminate()), signal(SignalKind::user_defined1())) else {
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = usr1.recv() => {
                eprintln!("kill switch engaged by SIGUSR1");
                kill_switch.engage("SIGUSR1 received");
                continue;
            }
        }
        if shutdown.is_cancelled() {
            eprintln!("second interrupt: exiting without writing results");
            std::process::exit(130);
        }
        eprintln!("stopping: finishing the step in progress, then writing the results (interrupt again to abort)");
        shutdown.cancel();
    }
}

/// A progress bar on a terminal, plain lines otherwise (backtests); status
/// lines per runner (live runs).
async fn report_progress(progress: Arc<Progress>, live: bool, status_interval_s: f64) {
    let start = Instant::now();
    if live {
        let every = Duration::from_secs_f64(status_interval_s.max(0.2));
        loop {
            tokio::time::sleep(every).await;
            for s in progress.statuses() {
                eprintln!(
                    "status {} {}: {} position {} unrealised {:.2} equity {:.2} bars {}{}",
                    rfc3339_ms(s.last_time).unwrap_or_default(),
                    s.symbol,
                    s.state,
                    s.position,
                    s.unrealized_pnl,
                    s.equity,
                    s.bars,
                    if s.quarantined { " QUARANTINED" } else { "" }
                );
            }
        }
    }
    if std::io::stderr().is_terminal() {
        let total = progress.total().unwrap_or(0);
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {pos}/{len} bars, {per_sec}, ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        loop {
            bar.set_position(progress.bars());
            if let Some(t) = progress.clock.time().and_then(rfc3339_ms) {
                bar.set_message(format!("at {t}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        eprintln!("{}", progress_line(&progress, start.elapsed()));
    }
}

fn progress_line(progress: &Progress, elapsed: Duration) -> String {
    let done = progress.bars();
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let at = progress.clock.time().and_then(rfc3339_ms).map(|t| format!(", at {t}")).unwrap_or_default();
    match progress.total() {
        Some(total) => {
            let left = total.saturating_sub(done) as f64 / rate.max(1e-9);
            format!(
                "progress: {:.0}% ({done}/{total} bars, {rate:.0} bars/s, ETA {left:.0} s{at})",
                done as f64 * 100.0 / total as f64
            )
        }
        None => format!("progress: {done} bars, {rate:.0} bars/s{at}"),
    }
}

/// Ends the progress bar's line (drawn on stderr), or prints the last
/// plain progress line.
fn finish_progress_line(progress: &Progress, live: bool, elapsed: Duration) {
    if live {
        return;
    }
    if std::io::stderr().is_terminal() {
        eprintln!();
    } else {
        eprintln!("{}", progress_line(progress, elapsed));
    }
}

/// How and when the run ended, for the summary.
struct RunEnd {
    status: RunStatus,
    /// Why runners stopped early, or the event log failed.
    errors: Vec<String>,
    started: i64,
    finished: i64,
}

fn log_failure(error: &str) -> String {
    format!("event log failed: {error}; trading halted")
}

/// How the run ended, and why runners stopped early.
fn run_status(report: &EngineReport) -> (RunStatus, Vec<String>) {
    let mut errors: Vec<String> =
        report.runners.iter().filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.symbol))).collect();
    errors.extend(report.lost_runners.iter().cloned());
    errors.extend(report.log_error.as_deref().map(log_failure));
    let status = match (errors.is_empty(), report.interrupted) {
        (false, _) => RunStatus::Failed,
        (true, true) => RunStatus::Interrupted,
        (true, false) => RunStatus::Completed,
    };
    (status, errors)
}

/// Prints the summary and writes the outputs.
fn summarize(
    config: &Config,
    options: &SessionOptions,
    report: &EngineReport,
    strategies: Vec<StrategyInfo>,
    data: Vec<DataInfo>,
    ended: RunEnd,
) -> anyhow::Result<u8> {
    let ledger = report.combined_ledger();
    let metrics = compute_metrics(report.initial_capital(), &ledger.equity, &ledger.trades, &ledger.fills);
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    for a in &report.accounts {
        for (code, n) in &a.refusals {
            *refusals.entry(code.clone()).or_default() += n;
        }
    }
    let counts: serde_json::Value = report
        .runners
        .iter()
        .map(|r| {
            let c = &r.counts;
            (
                r.symbol.clone(),
                serde_json::json!({
                    "bars": c.bars, "strategy_calls": c.calls, "bad_actions": c.bad_actions,
                    "script_failures": c.script_failures, "execution_refusals": c.refusals,
                    "risk_refusals": c.risk_refusals, "reloads": c.reloads, "failed_reloads": c.failed_reloads,
                    "final_state": r.state.to_string(), "quarantine": r.quarantine, "error": r.error,
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let mut config_json = serde_json::to_value(config).context("recording the config")?;
    if let Some(obj) = config_json.as_object_mut() {
        obj.insert("name".into(), options.config_name.clone().into());
    }
    let summary = RunSummary {
        engine_version: env!("CARGO_PKG_VERSION").to_string(),
        status: ended.status,
        errors: ended.errors,
        started_at: rfc3339_ms(ended.started).unwrap_or_default(),
        finished_at: rfc3339_ms(ended.finished).unwrap_or_default(),
        metrics: metrics.clone(),
        config: config_json,
        strategies,
        data,
        refusals,
        counts,
    };
    println!("{}", summary_table(&metrics));
    for r in &report.runners {
        let c = &r.counts;
        let mut line = format!("{}: {} bars, {} calls", r.symbol, c.bars, c.calls);
        for (n, what) in [
            (c.bad_actions, "bad actions"),
            (c.script_failures, "script failures"),
            (c.risk_refusals, "entries refused by risk"),
            (c.refusals, "orders refused by execution"),
            (c.failed_reloads, "reloads refused"),
        ] {
            if n > 0 {
                line += &format!(", {n} {what}");
            }
        }
        line += &format!(", final state {}", r.state);
        if let Some(q) = &r.quarantine {
            line += &format!(", quarantined: {q}");
        }
        if let Some(e) = &r.error {
            line += &format!(", {e}");
        }
        println!("{line}");
    }
    for a in &report.accounts {
        if let Some(h) = &a.halted {
            println!("account {}: halted by risk: {h}", a.symbols.join(","));
        }
    }
    for lost in &report.lost_runners {
        println!("{lost}");
    }
    if report.interrupted {
        println!("interrupted: results cover the bars processed so far");
    }
    let outputs = RunOutputs {
        summary: &summary,
        equity: &ledger.equity,
        trades: &ledger.trades,
        orders: &ledger.orders,
        fills: &ledger.fills,
        prices: &report.prices,
    };
    write_outputs(&options.output, &outputs)
        .with_context(|| format!("writing the results to {}", options.output.display()))?;
    println!("results: {}", options.output.display());
    Ok(if report.failed() { crate::exit::FAILURE } else { 0 })
}

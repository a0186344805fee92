//! `trading-engine indicators`: list and compute indicators, natively, in the
//! OCaml sidecar, or both with a cross-check.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use engine_core::indicators::{catalog, IndicatorSpec};
use engine_core::market_data::Bar;
use engine_core::sidecar::verify::{CheckStatus, ColumnCheck};
use engine_core::sidecar::{self, Sidecar, SidecarConfig};
use engine_core::tolerance::Tolerance;

use crate::data_args::DataArgs;
use crate::exit;
use crate::output::Sink;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, arg_required_else_help = true)]
pub struct IndicatorsArgs {
    /// List the indicators: name, parameters with defaults, outputs, description.
    #[arg(long)]
    list: bool,

    #[command(subcommand)]
    command: Option<IndicatorsCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum IndicatorsCommand {
    /// Compute indicators over bars: one row per bar, one column per output.
    Compute(ComputeArgs),
}

#[derive(Debug, clap::Args)]
struct ComputeArgs {
    #[command(flatten)]
    data: DataArgs,

    /// An indicator as NAME[:PARAMS], e.g. `ema:20`, `macd:12,26,9`, `obv`; repeatable.
    #[arg(long = "indicator", short = 'i', value_name = "SPEC", required_unless_present = "all")]
    indicators: Vec<IndicatorSpec>,

    /// Every indicator with its default parameters (after any --indicator).
    #[arg(long)]
    all: bool,

    /// Where the values are computed; `both` cross-checks native against OCaml.
    #[arg(long, value_enum, default_value_t = Backend::Native)]
    backend: Backend,

    /// Output format of the values.
    #[arg(long, value_enum, default_value_t = OutputFormat::Csv)]
    format: OutputFormat,

    /// Write the values to FILE instead of stdout (the file appears whole or not at all).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,

    /// The OCaml sidecar executable [default: $TRADING_ENGINE_SIDECAR, else the dune build output].
    #[arg(long, value_name = "PATH")]
    sidecar: Option<PathBuf>,

    /// Seconds one sidecar request may take before the sidecar is restarted (0.001 to 86400).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_timeout)]
    sidecar_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    Native,
    Ocaml,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Csv,
    Json,
}

pub fn run(args: IndicatorsArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(IndicatorsCommand::Compute(compute)) => run_compute(compute),
        None if args.list => {
            print_list()?;
            Ok(0)
        }
        None => bail!("nothing to do: use --list or `compute`"),
    }
}

fn print_list() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<13} {:<44} {:<23} description", "name", "parameters (defaults)", "outputs")?;
    for info in catalog() {
        let params = info.params.iter().map(|p| format!("{}={}", p.name, p.default)).collect::<Vec<_>>().join(", ");
        let params = if params.is_empty() { "-".to_string() } else { params };
        writeln!(out, "{:<13} {:<44} {:<23} {}", info.name, params, info.outputs.join(", "), info.description)?;
    }
    Ok(())
}

/// The values of one indicator: one column per output.
struct Computed {
    spec: IndicatorSpec,
    columns: Vec<Vec<Option<f64>>>,
}

fn run_compute(args: ComputeArgs) -> anyhow::Result<u8> {
    let mut specs = args.indicators.clone();
    if args.all {
        for info in catalog() {
            specs.push(IndicatorSpec::new(info.name, &[]).expect("defaults are valid"));
        }
    }
    let loaded = args.data.load()?;
    let bars = loaded.bars;
    tracing::info!(bars = bars.len(), indicators = specs.len(), backend = ?args.backend, "computing indicators on {}", loaded.origin);

    let (values, exit_code) = match args.backend {
        Backend::Native => (compute_native(&specs, &bars), 0),
        Backend::Ocaml => {
            let runtime = runtime()?;
            let mut sidecar =
                runtime.block_on(Sidecar::start(sidecar_config(&args)?)).context("starting the OCaml sidecar")?;
            let mut values = Vec::with_capacity(specs.len());
            for spec in &specs {
                let columns = runtime
                    .block_on(sidecar::compute(&mut sidecar, spec, &bars))
                    .with_context(|| format!("computing {} in the OCaml sidecar", spec.label()))?;
                values.push(Computed { spec: spec.clone(), columns });
            }
            runtime.block_on(sidecar.shutdown());
            (values, 0)
        }
        Backend::Both => {
            let native = compute_native(&specs, &bars);
            let checks = cross_check(&native, &bars, sidecar_config(&args)?)?;
            let code = report_checks(&checks)?;
            (native, code)
        }
    };

    let mut sink = Sink::open(args.output.as_deref())?;
    match args.format {
        OutputFormat::Csv => write_csv(&mut sink, &bars, &values),
        OutputFormat::Json => write_json(&mut sink, &bars, &values),
    }
    .or_else(ignore_broken_pipe)
    .context("writing the values")?;
    sink.finish()?;
    Ok(exit_code)
}

fn ignore_broken_pipe(err: std::io::Error) -> std::io::Result<()> {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(err)
    }
}

fn compute_native(specs: &[IndicatorSpec], bars: &[Bar]) -> Vec<Computed> {
    specs.iter().map(|spec| Computed { spec: spec.clone(), columns: spec.compute(bars) }).collect()
}

/// A request timeout in seconds: at least a millisecond (less could never be
/// met), at most a day.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&seconds) {
        return Err(format!("{seconds} s is outside 0.001 to 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

fn sidecar_config(args: &ComputeArgs) -> anyhow::Result<SidecarConfig> {
    let mut config = match &args.sidecar {
        Some(path) => SidecarConfig::new(path),
        None => SidecarConfig::default(),
    };
    config.request_timeout = args.sidecar_timeout;
    Ok(config)
}

/// Computes every indicator again in the sidecar and compares each column.
/// A failed request leaves its columns unverified; the run goes on.
fn cross_check(native: &[Computed], bars: &[Bar], config: SidecarConfig) -> anyhow::Result<Vec<ColumnCheck>> {
    let runtime = runtime()?;
    let mut sidecar = Sidecar::lazy(config);
    let mut checks = Vec::new();
    for computed in native {
        let names = computed.spec.columns();
        match runtime.block_on(sidecar::compute(&mut sidecar, &computed.spec, bars)) {
            Ok(ocaml) => {
                for ((name, ours), theirs) in names.into_iter().zip(&computed.columns).zip(&ocaml) {
                    checks.push(ColumnCheck::compare(name, ours, theirs, Tolerance::CROSS_CHECK));
                }
            }
            Err(err) => {
                tracing::warn!("{}: cross-check not done: {err}", computed.spec.label());
                checks.extend(names.into_iter().map(|name| ColumnCheck::unverified(name, err.to_string())));
            }
        }
    }
    if sidecar.restarts() > 0 {
        tracing::warn!(restarts = sidecar.restarts(), "the sidecar was restarted during the run");
    }
    runtime.block_on(sidecar.shutdown());
    Ok(checks)
}

/// Prints the cross-check table on stderr and picks the exit code.
fn report_checks(checks: &[ColumnCheck]) -> anyhow::Result<u8> {
    let tol = Tolerance::CROSS_CHECK;
    let mut err = std::io::stderr().lock();
    writeln!(err, "cross-check native vs OCaml (tolerance: relative {:e}, absolute {:e})", tol.rel, tol.abs)?;
    writeln!(
        err,
        "{:<32} {:<10} {:>9} {:>14} {:>14} {:>10}",
        "column", "status", "compared", "max_abs_diff", "max_rel_diff", "worst_bar"
    )?;
    let (mut passed, mut failed, mut unverified) = (0, 0, 0);
    for check in checks {
        let status = match &check.status {
            CheckStatus::Passed => {
                passed += 1;
                "passed"
            }
            CheckStatus::Failed => {
                failed += 1;
                "FAILED"
            }
            CheckStatus::Unverified(_) => {
                unverified += 1;
                "UNVERIFIED"
            }
        };
        let worst = check.worst_index.map_or("-".to_string(), |i| i.to_string());
        writeln!(
            err,
            "{:<32} {:<10} {:>9} {:>14.3e} {:>14.3e} {:>10}",
            check.column, status, check.compared, check.max_abs_diff, check.max_rel_diff, worst
        )?;
        if check.presence_mismatches > 0 {
            writeln!(err, "    {} bars have a value on one side only", check.presence_mismatches)?;
        }
        if let CheckStatus::Unverified(why) = &check.status {
            writeln!(err, "    {why}")?;
        }
    }
    writeln!(err, "summary: {passed} passed, {failed} failed, {unverified} unverified")?;
    Ok(if failed > 0 {
        exit::MISMATCH
    } else if unverified > 0 {
        exit::UNVERIFIED
    } else {
        0
    })
}

fn write_csv(out: &mut impl Write, bars: &[Bar], values: &[Computed]) -> std::io::Result<()> {
    out.write_all(b"open_time")?;
    for computed in values {
        for name in computed.spec.columns() {
            write!(out, ",{name}")?;
        }
    }
    out.write_all(b"\n")?;
    for (i, bar) in bars.iter().enumerate() {
        write!(out, "{}", bar.open_time)?;
        for column in values.iter().flat_map(|c| &c.columns) {
            match column[i] {
                // `Display` for f64 prints the shortest digits that read back
                // exactly. A non-finite value (an overflow) is no value, as in JSON.
                Some(v) if v.is_finite() => write!(out, ",{v}")?,
                _ => out.write_all(b",")?,
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn write_json(out: &mut impl Write, bars: &[Bar], values: &[Computed]) -> std::io::Result<()> {
    let keys: Vec<String> = values
        .iter()
        .flat_map(|c| c.spec.columns())
        .map(|name| serde_json::to_string(&name).expect("a string serialises"))
        .collect();
    out.write_all(b"[")?;
    for (i, bar) in bars.iter().enumerate() {
        let sep = if i == 0 { "\n" } else { ",\n" };
        write!(out, "{sep}{{\"open_time\":{}", bar.open_time)?;
        for (key, column) in keys.iter().zip(values.iter().flat_map(|c| &c.columns)) {
            match column[i] {
                Some(v) if v.is_finite() => write!(out, ",{key}:{v}")?,
                _ => write!(out, ",{key}:null")?,
            }
        }
        out.write_all(b"}")?;
    }
    out.write_all(b"\n]\n")
}

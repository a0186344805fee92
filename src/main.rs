//! `trading-engine`: the command-line interface of the engine.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod data_args;
mod logging;
mod output;

/// A scriptable trading engine: Lua strategies on a per-symbol state machine,
/// native indicators cross-verified by an OCaml sidecar, regime detection,
/// backtests and paper trading.
#[derive(Debug, Parser)]
#[command(name = "trading-engine", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v: debug, -vv: trace); RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = logging::LogFormat::Text, global = true)]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// List the native indicators or compute them over bars.
    Indicators(commands::indicators::IndicatorsArgs),
    /// Inspect data files and generate the engine's own synthetic data.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Market regimes (bearish, ranging, bullish) from a Gaussian HMM: fit a model, detect bar by bar.
    #[command(subcommand)]
    Regime(commands::regime::RegimeCommand),
    /// Backtest a strategy: a config (the built-in default without one), or
    /// --strategy and --data. Prints a summary, writes summary.json,
    /// trades.csv, orders.csv, fills.csv, equity.csv and report.html.
    Backtest(commands::backtest::BacktestArgs),
    /// Paper trading on live data from a config until Ctrl-C (live mode waits for an exchange source): status lines,
    /// strategies reloaded when edited, results written on the way out.
    Run(commands::run::RunArgs),
    /// Replay a recorded session event by event (its state rebuilt from the
    /// log), or what-if: another strategy or other parameters on its bars.
    Replay(commands::replay::ReplayArgs),
    /// Pretty-print one event of a session with the state diff against the
    /// symbol's previous event.
    InspectEvent(commands::inspect::InspectArgs),
    /// Compare two sessions: the first divergence and the differences in
    /// trades and P&L. Exits 0 when they recorded the same steps (whatever the storage), 1 when not, 2 on an error.
    Compare(commands::inspect::CompareArgs),
    /// List the recorded sessions with their manifest summary.
    Sessions(commands::sessions::SessionsArgs),
    /// Export a session's events as JSON lines or CSV.
    Export(commands::sessions::ExportArgs),
    /// Check a Lua strategy: syntax, required functions, sandbox violations,
    /// then a run on synthetic bars reporting its transitions and any bad
    /// action. Exits 0 only when clean.
    Validate(commands::validate::ValidateArgs),
}

/// Exit codes beyond 0 (success) and 2 (usage error or bad input, as clap uses).
pub mod exit {
    /// Something failed: an unreadable file, a sidecar that could not run.
    pub const FAILURE: u8 = 1;
    /// Bad arguments or bad input data.
    pub const BAD_INPUT: u8 = 2;
    /// A cross-check could not be done for some columns: not a pass.
    pub const UNVERIFIED: u8 = 3;
    /// A cross-check found values that differ beyond the tolerance.
    pub const MISMATCH: u8 = 4;
}

fn main() -> ExitCode {
    // A file grown past RLIMIT_FSIZE must be a write error the engine
    // reports (the event log halts trading), not a signal that kills it.
    // SAFETY: setting signal dispositions, before any thread starts.
    // A closed pipe (`replay ... | head`) ends the output quietly, as for
    // any Unix filter, instead of a panic in `println!`.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.log_format);
    let result = match cli.command {
        Commands::Indicators(args) => commands::indicators::run(args),
        Commands::Data(command) => commands::data::run(command),
        Commands::Regime(command) => commands::regime::run(command),
        Commands::Validate(args) => commands::validate::run(args),
        Commands::Backtest(args) => commands::backtest::run(args),
        Commands::Run(args) => commands::run::run(args),
        Commands::Replay(args) => commands::replay::run(args),
        Commands::InspectEvent(args) => commands::inspect::inspect(args),
        Commands::Compare(args) => commands::inspect::run_compare(args),
        Commands::Sessions(args) => commands::sessions::list(args),
        Commands::Export(args) => commands::sessions::export(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {}", error_line(&err));
            ExitCode::from(commands::exit_code_of(&err))
        }
    }
}

/// The error and its causes on one line, as `{:#}` prints them, except
/// that a cause whose text already ends the line is not repeated (errors
/// of `engine-core` often say their cause in their own message).
fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if line != text && !line.ends_with(&format!(": {text}")) {
            line = format!("{line}: {text}");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_says_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::AlreadyExists, "File exists (os error 17)");
        #[derive(Debug, thiserror::Error)]
        #[error("creating the output directory out: {source}")]
        struct Creating {
            source: std::io::Error,
        }
        let err = anyhow::Error::new(Creating { source: io() }).context("writing the results");
        assert_eq!(
            error_line(&err),
            "writing the results: creating the output directory out: File exists (os error 17)"
        );
        let err = anyhow::Error::new(io()).context("reading config");
        assert_eq!(error_line(&err), "reading config: File exists (os error 17)");
        // Only a whole cause is taken as said already, not a word ending the line.
        let err = anyhow::anyhow!("found").context("the strategy was not found");
        assert_eq!(error_line(&err), "the strategy was not found: found");
    }
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}

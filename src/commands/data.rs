//! `trading-engine data`: check a data file, generate synthetic data.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use engine_core::market_data::Bar;
use engine_core::sources::{generate, load_file, BadRowPolicy, DataFormat, LoadOptions, SyntheticConfig};

use crate::output::Sink;

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Load a bar file and report what was found: format, bars, interval,
    /// gaps, bad rows. Exits 2 with `file:line: reason` on bad data.
    Check {
        /// The bar file.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Read it as this format instead of detecting it: binance, csv or json.
        #[arg(long, value_name = "FORMAT")]
        data_format: Option<DataFormat>,
        /// Skip bad rows and list them instead of stopping at the first.
        #[arg(long)]
        skip_bad_rows: bool,
    },
    /// Write the engine's synthetic bars (regime-switching random walk) to a file.
    Generate {
        /// Synthetic data settings: `seed=42,bars=10000,interval=1m,symbol=SYNTH` (any subset).
        #[arg(long, value_name = "SPEC", default_value = "")]
        synthetic: SyntheticConfig,
        /// Output file [default: stdout].
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// File format: binance (12-column kline CSV), csv (OHLCV with header) or json (rows).
        #[arg(long, value_name = "FORMAT", default_value = "binance")]
        format: DataFormat,
        /// Add a column with the planted regime of each bar (csv format only).
        #[arg(long)]
        with_regimes: bool,
    },
}

pub fn run(command: DataCommand) -> anyhow::Result<u8> {
    match command {
        DataCommand::Check { data, data_format, skip_bad_rows } => {
            let options = LoadOptions {
                format: data_format,
                bad_rows: if skip_bad_rows { BadRowPolicy::Skip } else { BadRowPolicy::Fail },
                symbol: None,
            };
            let loaded = load_file(&data, &options).context("checking market data")?;
            println!("{}", loaded.report);
            Ok(0)
        }
        DataCommand::Generate { synthetic, output, format, with_regimes } => {
            if with_regimes && format != DataFormat::GenericCsv {
                anyhow::bail!("--with-regimes needs --format csv");
            }
            let series = generate(&synthetic);
            let mut sink = Sink::open(output.as_deref())?;
            let regimes = with_regimes.then_some(&series.regimes[..]);
            write_bars(&mut sink, &series.bars, format, regimes).context("writing synthetic bars")?;
            sink.finish()?;
            Ok(0)
        }
    }
}

fn write_bars(
    out: &mut impl Write,
    bars: &[Bar],
    format: DataFormat,
    regimes: Option<&[engine_core::sources::Regime]>,
) -> std::io::Result<()> {
    match format {
        DataFormat::BinanceKlines => {
            writeln!(
                out,
                "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
            )?;
            for b in bars {
                let close_time = b.close_time.unwrap_or(b.open_time);
                // The synthetic source models no trades or taker flow: those
                // columns are written as 0; the quote volume is volume × typical price.
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},0,0,0,0",
                    b.open_time,
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume,
                    close_time,
                    b.volume * b.typical_price()
                )?;
            }
        }
        DataFormat::GenericCsv => {
            write!(out, "timestamp,open,high,low,close,volume")?;
            writeln!(out, "{}", if regimes.is_some() { ",regime" } else { "" })?;
            for (i, b) in bars.iter().enumerate() {
                write!(out, "{},{},{},{},{},{}", b.open_time, b.open, b.high, b.low, b.close, b.volume)?;
                match regimes {
                    Some(r) => writeln!(out, ",{}", r[i])?,
                    None => writeln!(out)?,
                }
            }
        }
        DataFormat::JsonRows => {
            out.write_all(b"[")?;
            for (i, b) in bars.iter().enumerate() {
                let sep = if i == 0 { "\n" } else { ",\n" };
                write!(out, "{sep}[{},{},{},{},{},{}]", b.open_time, b.open, b.high, b.low, b.close, b.volume)?;
            }
            out.write_all(b"\n]\n")?;
        }
    }
    Ok(())
}

//! The data-source arguments shared by every command that reads bars.

use std::path::PathBuf;

use anyhow::Context;
use engine_core::market_data::Bar;
use engine_core::sources::{generate, load_file, BadRowPolicy, DataFormat, LoadOptions, SyntheticConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Historical bar file: Binance kline CSV, OHLCV CSV or JSON rows (format detected).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,

    /// Read --data as this format instead of detecting it: binance, csv or json.
    #[arg(long, value_name = "FORMAT", requires = "data")]
    pub data_format: Option<DataFormat>,

    /// Skip bad rows (reporting how many and which) instead of failing on the first.
    #[arg(long, requires = "data")]
    pub skip_bad_rows: bool,

    /// Symbol of the loaded bars [default: from the file name].
    #[arg(long, requires = "data")]
    pub symbol: Option<String>,

    /// The engine's own synthetic data, used when no --data is given:
    /// `seed=42,bars=10000,interval=1m,symbol=SYNTH` (any subset).
    #[arg(long, value_name = "SPEC", conflicts_with = "data")]
    pub synthetic: Option<SyntheticConfig>,
}

/// Bars and a one-line description of where they came from.
pub struct LoadedBars {
    pub bars: Vec<Bar>,
    pub origin: String,
}

impl DataArgs {
    pub fn load(&self) -> anyhow::Result<LoadedBars> {
        match &self.data {
            Some(path) => {
                let options = LoadOptions {
                    format: self.data_format,
                    bad_rows: if self.skip_bad_rows { BadRowPolicy::Skip } else { BadRowPolicy::Fail },
                    symbol: self.symbol.clone(),
                };
                let loaded = load_file(path, &options).context("loading market data")?;
                tracing::info!("{}", loaded.report);
                Ok(LoadedBars { bars: loaded.bars, origin: path.display().to_string() })
            }
            None => {
                let config = self.synthetic.clone().unwrap_or_default();
                let series = generate(&config);
                let origin =
                    format!("synthetic(seed={}, bars={}, interval={}ms)", config.seed, config.bars, config.interval_ms);
                tracing::info!(bars = series.bars.len(), "generated {origin}");
                Ok(LoadedBars { bars: series.bars, origin })
            }
        }
    }
}

//! `trading-engine regime`: fit a regime model, detect regimes bar by bar.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine_core::regime::{
    extract, fit_best, kmeans_starts, map_states, BestFit, DetectorConfig, FeatureConfig, Fit, FitOptions, GaussianHmm,
    HmmParamsFile, Init, MarketRegime, MultiTimeframeDetector, RegimeDetector, RegimeState, Timeframe, Training,
    FEATURE_NAMES,
};
use serde_json::json;

use super::BadInput;
use crate::data_args::DataArgs;
use crate::output::Sink;

#[derive(Debug, clap::Subcommand)]
pub enum RegimeCommand {
    /// Fit a Gaussian HMM to bars (features extracted and z-scored) or to a
    /// ready feature matrix; print the model, the log-likelihood per EM
    /// iteration and the bars in each regime.
    Fit(FitArgs),
    /// Classify every bar online (filtered probabilities, no look-ahead)
    /// with a saved model, or with one trained on the same bars first.
    Detect(DetectArgs),
}

/// How to train (shared by `fit` and `detect` without `--model`).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Hidden states of the HMM.
    #[arg(long, default_value_t = 3)]
    states: usize,
    /// Seed of the first k-means start.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// k-means starts tried (seeds seed, seed+1, ...); the best log-likelihood is kept.
    #[arg(long, default_value_t = 4)]
    restarts: usize,
    /// Maximum EM iterations.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Stop when an iteration gains less log-likelihood than this.
    #[arg(long, default_value_t = 1e-4)]
    tol: f64,
    /// Lowest variance of a feature in a state.
    #[arg(long, default_value_t = 1e-3)]
    var_floor: f64,
    /// Multiply every feature period by K (K=5 on 1m bars suits regimes lasting hours).
    #[arg(long, value_name = "K", default_value_t = 1)]
    period_scale: usize,
    /// Fewest feature rows a training accepts.
    #[arg(long, default_value_t = 500)]
    min_samples: usize,
}

impl TrainArgs {
    fn config(&self) -> anyhow::Result<DetectorConfig> {
        if self.period_scale == 0 {
            return Err(BadInput("--period-scale must be at least 1".into()).into());
        }
        let config = DetectorConfig {
            features: FeatureConfig::default().scaled(self.period_scale),
            states: self.states,
            min_samples: self.min_samples,
            max_iterations: self.iterations,
            tolerance: self.tol,
            var_floor: self.var_floor,
            seed: self.seed,
            restarts: self.restarts,
            ..DetectorConfig::default()
        };
        config.validate().map_err(|e| BadInput(e.to_string()))?;
        Ok(config)
    }
}

#[derive(Debug, clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A ready feature matrix instead of bars: CSV with a header, one row
    /// per sample, one column per feature; used as is (not z-scored).
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["data", "synthetic", "save"])]
    features: Option<PathBuf>,
    #[command(flatten)]
    train: TrainArgs,
    /// Start EM from these parameters (JSON: start, trans, means, vars;
    /// a `model` object inside a fit or snapshot file is taken too).
    #[arg(long, value_name = "PARAMS.json")]
    init: Option<PathBuf>,
    /// Print the result as one JSON document.
    #[arg(long)]
    json: bool,
    /// Save the trained detector (model, feature periods, normalisation) for `regime detect --model`.
    #[arg(long, value_name = "MODEL.json")]
    save: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RowFormat {
    Csv,
    /// One JSON object per line (JSON Lines), written as bars are classified.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A model saved by `regime fit --save`; without it a model is trained
    /// on the same bars first (in sample).
    #[arg(long, value_name = "MODEL.json")]
    model: Option<PathBuf>,
    /// Blend detectors on these intervals, resampled from the bars, with
    /// these weights: `1m:0.5,15m:0.3,1h:0.2`.
    #[arg(long, value_name = "LIST", conflicts_with = "model")]
    timeframes: Option<String>,
    #[command(flatten)]
    train: TrainArgs,
    /// Row format.
    #[arg(long, value_enum, default_value_t = RowFormat::Csv)]
    format: RowFormat,
    /// Output file, written whole or not at all [default: stdout].
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(command: RegimeCommand) -> anyhow::Result<u8> {
    match command {
        RegimeCommand::Fit(args) => run_fit(args),
        RegimeCommand::Detect(args) => run_detect(args),
    }
}

fn read_init(path: &Path) -> anyhow::Result<Init> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bad = |e: String| BadInput(format!("{}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let params = match value.get("model") {
        Some(model) => model.clone(),
        None => value,
    };
    let file: HmmParamsFile = serde_json::from_value(params).map_err(|e| bad(e.to_string()))?;
    let model = file.to_model().map_err(|e| bad(e.to_string()))?;
    Ok(Init::Params(Box::new(model.params().clone())))
}

fn run_fit(args: FitArgs) -> anyhow::Result<u8> {
    let config = args.train.config()?;
    let init = args.init.as_deref().map(read_init).transpose()?;
    let report = match &args.features {
        Some(path) => fit_matrix(path, &config, init)?,
        None => fit_bars(&args.data, &config, init, args.save.as_deref())?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json()).expect("a report serialises"));
    } else {
        print!("{}", report.to_text());
    }
    Ok(0)
}

/// What `regime fit` prints.
struct FitReport {
    origin: String,
    rows: usize,
    /// Bars before the first feature row (None for a feature matrix).
    warmup: Option<usize>,
    columns: Vec<String>,
    normalizer: Option<(Vec<f64>, Vec<f64>)>,
    start_logliks: Vec<f64>,
    best_start: usize,
    fit: Fit,
    /// The regime of each state, when a column says which way prices trend.
    state_regimes: Option<Vec<MarketRegime>>,
    /// Rows in each state on the Viterbi path.
    rows_per_state: Vec<usize>,
}

fn fit_bars(
    data: &DataArgs,
    config: &DetectorConfig,
    init: Option<Init>,
    save: Option<&Path>,
) -> anyhow::Result<FitReport> {
    let loaded = data.load()?;
    let mut detector = RegimeDetector::new(config.clone())?;
    let training = match init {
        Some(init) => detector.train_from(&loaded.bars, init),
        None => detector.train(&loaded.bars),
    }
    .map_err(|e| BadInput(format!("training on {}: {e}", loaded.origin)))?;
    let model = detector.model().expect("trained");
    let features = extract(&loaded.bars, config.features)?;
    let path = model.hmm.viterbi(model.normalize(&features).view())?;
    if let Some(save) = save {
        let mut sink = Sink::open(Some(save))?;
        writeln!(sink, "{}", detector.to_json()?).with_context(|| format!("writing {}", save.display()))?;
        sink.finish()?;
        tracing::info!("model saved to {}", save.display());
    }
    let Training { fit, start_logliks, best_start, samples, first_feature_bar } = training;
    Ok(FitReport {
        origin: format!("{} ({} bars)", loaded.origin, loaded.bars.len()),
        rows: samples,
        warmup: Some(first_feature_bar),
        columns: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        normalizer: Some((model.normalizer.mean.clone(), model.normalizer.std.clone())),
        start_logliks,
        best_start,
        rows_per_state: count_states(&path, config.states),
        state_regimes: Some(model.state_regimes.clone()),
        fit,
    })
}

fn fit_matrix(path: &Path, config: &DetectorConfig, init: Option<Init>) -> anyhow::Result<FitReport> {
    let (columns, x) = read_feature_matrix(path)?;
    let starts = match init {
        Some(init) => vec![init],
        None => kmeans_starts(config.seed, config.restarts),
    };
    let options = FitOptions {
        states: config.states,
        init: Init::KMeans { seed: config.seed },
        max_iterations: config.max_iterations,
        tolerance: config.tolerance,
        var_floor: config.var_floor,
    };
    let BestFit { fit, start_logliks, best_start } =
        fit_best(x.view(), &options, starts).map_err(|e| BadInput(format!("fitting {}: {e}", path.display())))?;
    if fit.model.n_features() != columns.len() {
        return Err(BadInput(format!(
            "{}: the initial model has {} features, the file has {} columns",
            path.display(),
            fit.model.n_features(),
            columns.len()
        ))
        .into());
    }
    let states = fit.model.viterbi(x.view())?;
    let state_regimes = columns.iter().position(|c| c == "ema_spread_pct").map(|col| map_states(&fit.model, col));
    Ok(FitReport {
        origin: path.display().to_string(),
        rows: x.nrows(),
        warmup: None,
        columns,
        normalizer: None,
        start_logliks,
        best_start,
        rows_per_state: count_states(&states, fit.model.n_states()),
        state_regimes,
        fit,
    })
}

fn count_states(path: &[usize], states: usize) -> Vec<usize> {
    let mut counts = vec![0; states];
    for &s in path {
        counts[s] += 1;
    }
    counts
}

/// A numeric CSV with a header; errors name the file, line and column.
fn read_feature_matrix(path: &Path) -> anyhow::Result<(Vec<String>, ndarray::Array2<f64>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let bad = |m: String| anyhow::Error::from(BadInput(format!("{}: {m}", path.display())));
    let columns: Vec<String> = reader.headers().map_err(|e| bad(e.to_string()))?.iter().map(str::to_string).collect();
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        return Err(bad("no header: the first line must name the feature columns".into()));
    }
    let mut values = Vec::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        for (k, field) in record.iter().enumerate() {
            let v: f64 = field.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
                bad(format!("line {line}: column {:?} is {field:?}, expected a finite number", columns[k]))
            })?;
            values.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(bad("no rows after the header".into()));
    }
    let x = ndarray::Array2::from_shape_vec((rows, columns.len()), values).expect("rows checked by the csv reader");
    Ok((columns, x))
}

impl FitReport {
    fn model(&self) -> &GaussianHmm {
        &self.fit.model
    }

    fn regime_counts(&self) -> Option<[usize; 3]> {
        let regimes = self.state_regimes.as_ref()?;
        let mut counts = [0; 3];
        for (state, n) in self.rows_per_state.iter().enumerate() {
            counts[MarketRegime::ALL.iter().position(|r| *r == regimes[state]).expect("a regime")] += n;
        }
        Some(counts)
    }

    fn to_json(&self) -> serde_json::Value {
        let params = HmmParamsFile::from(self.model().params());
        let iterations = self.fit.loglik_history.len() - 1;
        json!({
            "source": self.origin,
            "samples": self.rows,
            "warmup_bars": self.warmup,
            "features": self.columns,
            "normalizer": self.normalizer.as_ref().map(|(mean, std)| json!({"mean": mean, "std": std})),
            "starts": self.start_logliks,
            "best_start": self.best_start,
            "iterations": iterations,
            "converged": self.fit.converged,
            "loglik_history": &self.fit.loglik_history[..iterations],
            "loglik": self.fit.loglik(),
            "model": params,
            "state_regimes": self.state_regimes,
            "samples_per_state": self.rows_per_state,
            "samples_per_regime": self.regime_counts().map(|c| json!({"bearish": c[0], "ranging": c[1], "bullish": c[2]})),
        })
    }

    fn to_text(&self) -> String {
        let mut s = String::new();
        let p = self.model().params();
        let iterations = self.fit.loglik_history.len() - 1;
        let _ = writeln!(s, "source: {}", self.origin);
        match self.warmup {
            Some(w) => {
                let _ = writeln!(s, "samples: {} feature rows (the first {w} bars warm the indicators up)", self.rows);
            }
            None => {
                let _ = writeln!(s, "samples: {} rows", self.rows);
            }
        }
        let _ = writeln!(s, "features: {}", self.columns.join(", "));
        if let Some((mean, std)) = &self.normalizer {
            let _ = writeln!(s, "z-score mean: {}", floats(mean));
            let _ = writeln!(s, "z-score std:  {}", floats(std));
        }
        if self.start_logliks.len() > 1 {
            let _ = writeln!(s, "starts (final log-likelihood): {}", floats(&self.start_logliks));
            let _ = writeln!(s, "kept start: {}", self.best_start + 1);
        }
        let _ = writeln!(s, "log-likelihood per iteration (of the model the iteration started from):");
        for (k, ll) in self.fit.loglik_history[..iterations].iter().enumerate() {
            let _ = writeln!(s, "  {:>4}  {ll:.6}", k + 1);
        }
        let status = if self.fit.converged { "converged" } else { "stopped at the iteration cap" };
        let _ = writeln!(s, "final log-likelihood: {:.6} ({status} after {iterations} iterations)", self.fit.loglik());
        let _ = writeln!(s, "start probabilities: {}", floats(&p.start.to_vec()));
        let _ = writeln!(s, "transition matrix:");
        for row in p.trans.rows() {
            let _ = writeln!(s, "  {}", floats(&row.to_vec()));
        }
        let _ = writeln!(s, "states ({}):", self.columns.join(", "));
        for i in 0..self.model().n_states() {
            let regime = self.state_regimes.as_ref().map_or(String::new(), |r| format!(" {:<8}", r[i].as_str()));
            let _ = writeln!(s, "  state {i}{regime} samples {:>8}", self.rows_per_state[i]);
            let _ = writeln!(s, "    means     {}", floats(&p.means.row(i).to_vec()));
            let _ = writeln!(s, "    variances {}", floats(&p.vars.row(i).to_vec()));
        }
        if let Some(counts) = self.regime_counts() {
            let total = counts.iter().sum::<usize>().max(1) as f64;
            let _ = write!(s, "samples per regime (most likely path):");
            for (r, c) in MarketRegime::ALL.iter().zip(counts) {
                let _ = write!(s, "  {r} {c} ({:.1}%)", 100.0 * c as f64 / total);
            }
            s.push('\n');
        }
        s
    }
}

fn floats(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.6}")).collect::<Vec<_>>().join("  ")
}

fn run_detect(args: DetectArgs) -> anyhow::Result<u8> {
    let loaded = args.data.load()?;
    let mut classifier = match (&args.model, &args.timeframes) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let detector =
                RegimeDetector::from_json(&text).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
            Classifier::Single(Box::new(detector))
        }
        (None, Some(list)) => {
            let timeframes = Timeframe::parse_list(list).map_err(|e| BadInput(format!("--timeframes: {e}")))?;
            let config = args.train.config()?;
            let mut consensus =
                MultiTimeframeDetector::new(&timeframes, config).map_err(|e| BadInput(e.to_string()))?;
            consensus.train(&loaded.bars).map_err(|e| BadInput(format!("training on {}: {e}", loaded.origin)))?;
            consensus.restart();
            Classifier::Consensus(Box::new(consensus))
        }
        (None, None) => {
            let mut detector = RegimeDetector::new(args.train.config()?)?;
            detector.train(&loaded.bars).map_err(|e| BadInput(format!("training on {}: {e}", loaded.origin)))?;
            detector.restart();
            Classifier::Single(Box::new(detector))
        }
    };
    let mut sink = Sink::open(args.output.as_deref())?;
    if args.format == RowFormat::Csv {
        writeln!(sink, "open_time,close,regime,confidence,bias,p_bearish,p_ranging,p_bullish,observations")?;
    }
    let mut skipped = 0usize;
    for bar in &loaded.bars {
        let state = match classifier.push(bar) {
            Ok(state) => state,
            Err(e) => {
                // Loaders already refuse such bars; a detector error here
                // is reported and the bar gets an empty row.
                tracing::warn!("bar at {}: {e:#}", bar.open_time);
                skipped += 1;
                None
            }
        };
        write_row(&mut sink, args.format, bar.open_time, bar.close, state.as_ref())?;
    }
    sink.finish()?;
    if skipped > 0 {
        tracing::warn!("{skipped} bars could not be classified");
    }
    Ok(0)
}

/// One detector or a multi-timeframe consensus, fed bar by bar.
enum Classifier {
    Single(Box<RegimeDetector>),
    Consensus(Box<MultiTimeframeDetector>),
}

impl Classifier {
    fn push(&mut self, bar: &engine_core::market_data::Bar) -> anyhow::Result<Option<RegimeState>> {
        Ok(match self {
            Classifier::Single(d) => d.push(bar)?.cloned(),
            Classifier::Consensus(c) => c.update(std::slice::from_ref(bar))?.map(|s| s.blended),
        })
    }
}

fn write_row(
    out: &mut impl Write,
    format: RowFormat,
    time: i64,
    close: f64,
    state: Option<&RegimeState>,
) -> anyhow::Result<()> {
    match (format, state) {
        (RowFormat::Csv, Some(s)) => writeln!(
            out,
            "{time},{close},{},{:?},{:?},{:?},{:?},{:?},{}",
            s.regime,
            s.confidence,
            s.bias,
            s.probabilities.bearish,
            s.probabilities.ranging,
            s.probabilities.bullish,
            s.observations
        )?,
        (RowFormat::Csv, None) => writeln!(out, "{time},{close},warmup,,,,,,0")?,
        (RowFormat::Json, Some(s)) => writeln!(
            out,
            "{}",
            json!({"open_time": time, "close": close, "regime": s.regime, "confidence": s.confidence, "bias": s.bias,
                   "probabilities": s.probabilities, "observations": s.observations})
        )?,
        (RowFormat::Json, None) => {
            writeln!(out, "{}", json!({"open_time": time, "close": close, "regime": "warmup", "observations": 0}))?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_matrix_errors_name_the_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, "a,b\n1,2\n3,x\n").unwrap();
        let err = read_feature_matrix(&path).unwrap_err().to_string();
        assert!(err.ends_with("f.csv: line 3: column \"b\" is \"x\", expected a finite number"), "{err}");
        std::fs::write(&path, "a,b\n1,2\n3\n").unwrap();
        assert!(read_feature_matrix(&path).unwrap_err().to_string().contains("found record with 1 field"));
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(read_feature_matrix(&path).unwrap_err().to_string().contains("no rows"));
        std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
        let (cols, x) = read_feature_matrix(&path).unwrap();
        assert_eq!(cols, vec!["a", "b"]);
        assert_eq!(x, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    }
}

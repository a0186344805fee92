//! [`RegimeDetector`]: features → z-scores → Gaussian HMM → bearish,
//! ranging or bullish, filtered online bar by bar (`docs/regime.md`).

use std::fmt;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::features::{FeatureConfig, FeatureError, FeatureExtractor, FeatureMatrix, Normalizer};
use super::features::{EMA_SPREAD, FEATURE_NAMES, N_FEATURES};
use super::fit::{Fit, FitOptions, Init};
use super::hmm::{GaussianHmm, HmmError};
use super::params_file::HmmParamsFile;
use super::restarts::{fit_best, kmeans_starts, BestFit};
use crate::market_data::Bar;

/// What the market is doing, as traders name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketRegime {
    Bearish,
    Ranging,
    Bullish,
}

impl MarketRegime {
    pub const ALL: [MarketRegime; 3] = [MarketRegime::Bearish, MarketRegime::Ranging, MarketRegime::Bullish];

    pub fn as_str(self) -> &'static str {
        match self {
            MarketRegime::Bearish => "bearish",
            MarketRegime::Ranging => "ranging",
            MarketRegime::Bullish => "bullish",
        }
    }
}

impl fmt::Display for MarketRegime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Probability of each regime; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RegimeProbabilities {
    pub bearish: f64,
    pub ranging: f64,
    pub bullish: f64,
}

impl RegimeProbabilities {
    pub fn get(&self, regime: MarketRegime) -> f64 {
        match regime {
            MarketRegime::Bearish => self.bearish,
            MarketRegime::Ranging => self.ranging,
            MarketRegime::Bullish => self.bullish,
        }
    }

    fn add(&mut self, regime: MarketRegime, p: f64) {
        match regime {
            MarketRegime::Bearish => self.bearish += p,
            MarketRegime::Ranging => self.ranging += p,
            MarketRegime::Bullish => self.bullish += p,
        }
    }

    /// The most probable regime (ties: ranging, then bullish, then bearish:
    /// when in doubt, call the market ranging).
    pub fn most_likely(&self) -> MarketRegime {
        let mut best = MarketRegime::Ranging;
        for r in [MarketRegime::Bullish, MarketRegime::Bearish] {
            if self.get(r) > self.get(best) {
                best = r;
            }
        }
        best
    }
}

/// The detector's view after the latest bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeState {
    pub regime: MarketRegime,
    pub probabilities: RegimeProbabilities,
    /// Probability of each HMM state, in model order.
    pub state_probabilities: Vec<f64>,
    /// Probability of the chosen regime.
    pub confidence: f64,
    /// `P(bullish) − P(bearish)`, in [-1, 1].
    pub bias: f64,
    /// Open time of the last bar taken in, epoch milliseconds.
    pub last_update: i64,
    /// Observations (bars with features) the filter has taken in.
    pub observations: u64,
}

impl RegimeState {
    /// A state from regime probabilities (the regime, confidence and bias
    /// follow from them).
    pub fn from_probabilities(
        probabilities: RegimeProbabilities,
        state_probabilities: Vec<f64>,
        last_update: i64,
        observations: u64,
    ) -> RegimeState {
        let regime = probabilities.most_likely();
        RegimeState {
            regime,
            confidence: probabilities.get(regime),
            bias: probabilities.bullish - probabilities.bearish,
            probabilities,
            state_probabilities,
            last_update,
            observations,
        }
    }
}

/// How a detector extracts features and trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    pub features: FeatureConfig,
    /// Hidden states of the HMM.
    pub states: usize,
    /// Training refuses fewer feature rows than this.
    pub min_samples: usize,
    pub max_iterations: usize,
    /// EM stops when the log-likelihood gains less than this.
    pub tolerance: f64,
    /// Lowest variance of a (z-scored) feature in a state.
    pub var_floor: f64,
    /// Seed of the first k-means initialisation.
    pub seed: u64,
    /// k-means starts tried by [`RegimeDetector::train`] (seeds `seed`,
    /// `seed + 1`, ...); the fit with the highest log-likelihood is kept,
    /// since one start can settle in a poor local optimum.
    pub restarts: usize,
    /// Market time after the last training bar from which
    /// [`RegimeDetector::needs_retrain`] says yes, in milliseconds.
    pub retrain_interval_ms: i64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            features: FeatureConfig::default(),
            states: 3,
            min_samples: 500,
            max_iterations: 200,
            tolerance: 1e-4,
            var_floor: 1e-3,
            seed: 42,
            restarts: 4,
            retrain_interval_ms: 7 * 86_400_000,
        }
    }
}

impl DetectorConfig {
    pub fn validate(&self) -> Result<(), RegimeError> {
        let bad = |m: String| Err(RegimeError::Config(m));
        if self.states == 0 {
            return bad("states must be at least 1".into());
        }
        if self.min_samples < self.states {
            return bad(format!("min_samples {} is below the {} states", self.min_samples, self.states));
        }
        if self.restarts == 0 {
            return bad("restarts must be at least 1".into());
        }
        if self.max_iterations == 0 {
            return bad("max_iterations must be at least 1".into());
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return bad(format!("tolerance {} is not a finite number ≥ 0", self.tolerance));
        }
        if !(self.var_floor.is_finite() && self.var_floor > 0.0) {
            return bad(format!("var_floor {} is not a positive finite number", self.var_floor));
        }
        if self.retrain_interval_ms <= 0 {
            return bad(format!("retrain_interval_ms {} is not positive", self.retrain_interval_ms));
        }
        FeatureExtractor::new(self.features)?;
        Ok(())
    }
}

/// Why the detector cannot train, update or restore.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegimeError {
    #[error("regime detector config: {0}")]
    Config(String),
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(
        "{samples} feature rows are too few to train on (at least {min} are needed; add bars or lower min_samples)"
    )]
    TooFewSamples { samples: usize, min: usize },
    #[error(transparent)]
    Hmm(#[from] HmmError),
    #[error("the regime detector has no model yet: train it or restore a snapshot")]
    NotTrained,
    #[error("regime model snapshot: {0}")]
    Snapshot(String),
    #[error("{interval} bars: {source}")]
    Timeframe { interval: String, source: Box<RegimeError> },
}

/// How a training went.
#[derive(Debug, Clone)]
pub struct Training {
    /// The kept fit: its log-likelihood history and convergence.
    pub fit: Fit,
    /// Final log-likelihood of each start, in order.
    pub start_logliks: Vec<f64>,
    /// Index of the kept start.
    pub best_start: usize,
    /// Feature rows trained on.
    pub samples: usize,
    /// Index of the first bar with features (the warm-up length).
    pub first_feature_bar: usize,
}

/// A trained model: normalisation, HMM and the regime of each state.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedModel {
    pub normalizer: Normalizer,
    pub hmm: GaussianHmm,
    /// `state_regimes[i]`: the regime HMM state `i` stands for.
    pub state_regimes: Vec<MarketRegime>,
    /// Open time of the last training bar.
    pub trained_until: i64,
    pub training_samples: usize,
}

impl TrainedModel {
    /// Z-scored features as a T × D matrix.
    pub fn normalize(&self, features: &FeatureMatrix) -> ndarray::Array2<f64> {
        let mut x = features.to_array();
        for mut row in x.rows_mut() {
            for (k, v) in row.iter_mut().enumerate() {
                *v = (*v - self.normalizer.mean[k]) / self.normalizer.std[k];
            }
        }
        x
    }

    /// The regime of each feature row on the most likely (Viterbi) path.
    pub fn decode(&self, features: &FeatureMatrix) -> Result<Vec<MarketRegime>, RegimeError> {
        if features.rows.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.hmm.viterbi(self.normalize(features).view())?;
        Ok(path.into_iter().map(|s| self.state_regimes[s]).collect())
    }
}

/// States ordered by their mean of feature `column` (the detector uses the
/// EMA spread): the lowest is bearish, the highest bullish, any between
/// ranging (a single state: ranging).
///
/// # Panics
/// If `column` is not a feature of `hmm`.
pub fn map_states(hmm: &GaussianHmm, column: usize) -> Vec<MarketRegime> {
    let n = hmm.n_states();
    let spread = hmm.params().means.column(column).to_vec();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| spread[a].total_cmp(&spread[b]));
    let mut regimes = vec![MarketRegime::Ranging; n];
    if n > 1 {
        regimes[order[0]] = MarketRegime::Bearish;
        regimes[order[n - 1]] = MarketRegime::Bullish;
    }
    regimes
}

/// Snapshot format name and version written to JSON.
pub const SNAPSHOT_FORMAT: &str = "trading-engine regime model";
pub const SNAPSHOT_VERSION: u32 = 1;

/// A trained detector as JSON: everything needed to classify new bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSnapshot {
    pub format: String,
    pub version: u32,
    pub config: DetectorConfig,
    pub features: Vec<String>,
    pub normalizer: Normalizer,
    pub model: HmmParamsFile,
    pub state_regimes: Vec<MarketRegime>,
    pub trained_until: i64,
    pub training_samples: usize,
}

/// Online regime detection for one symbol on one bar interval.
#[derive(Debug, Clone)]
pub struct RegimeDetector {
    config: DetectorConfig,
    model: Option<TrainedModel>,
    extractor: FeatureExtractor,
    /// Filtered state probabilities; empty before the first observation.
    filtered: Vec<f64>,
    last_bar: Option<i64>,
    observations: u64,
    latest: Option<RegimeState>,
}

impl RegimeDetector {
    pub fn new(config: DetectorConfig) -> Result<Self, RegimeError> {
        config.validate()?;
        let extractor = FeatureExtractor::new(config.features)?;
        Ok(RegimeDetector {
            config,
            model: None,
            extractor,
            filtered: Vec::new(),
            last_bar: None,
            observations: 0,
            latest: None,
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    pub fn model(&self) -> Option<&TrainedModel> {
        self.model.as_ref()
    }

    /// The state after the latest bar, once the filter has an observation.
    pub fn state(&self) -> Option<&RegimeState> {
        self.latest.as_ref()
    }

    /// Trains on `bars` from `restarts` seeded k-means starts, keeping the
    /// best fit.
    pub fn train(&mut self, bars: &[Bar]) -> Result<Training, RegimeError> {
        self.train_best_of(bars, kmeans_starts(self.config.seed, self.config.restarts))
    }

    /// Trains on `bars` from `init` alone (e.g. explicit parameters, to
    /// reproduce a fit).
    pub fn train_from(&mut self, bars: &[Bar], init: Init) -> Result<Training, RegimeError> {
        self.train_best_of(bars, vec![init])
    }

    /// Refuses fewer than `min_samples` feature rows; fits from each start
    /// and keeps the highest log-likelihood (the first on ties). On success
    /// the filter has taken in every training bar, so updates continue from
    /// the end of `bars`; on failure the detector is unchanged.
    fn train_best_of(&mut self, bars: &[Bar], inits: Vec<Init>) -> Result<Training, RegimeError> {
        let mut extractor = FeatureExtractor::new(self.config.features)?;
        let mut rows = Vec::with_capacity(bars.len());
        for bar in bars {
            if let Some(row) = extractor.update(bar)? {
                rows.push(row);
            }
        }
        if rows.len() < self.config.min_samples {
            return Err(RegimeError::TooFewSamples { samples: rows.len(), min: self.config.min_samples });
        }
        let normalizer = Normalizer::fit(&rows);
        let x = ndarray::Array2::from_shape_fn((rows.len(), N_FEATURES), |(t, k)| {
            (rows[t][k] - normalizer.mean[k]) / normalizer.std[k]
        });
        let options = FitOptions {
            states: self.config.states,
            init: Init::KMeans { seed: self.config.seed },
            max_iterations: self.config.max_iterations,
            tolerance: self.config.tolerance,
            var_floor: self.config.var_floor,
        };
        let BestFit { fit: fitted, start_logliks, best_start } = fit_best(x.view(), &options, inits)?;
        if fitted.model.n_states() != self.config.states || fitted.model.n_features() != N_FEATURES {
            return Err(RegimeError::Config(format!(
                "the initial model has {} states over {} features, the detector wants {} over {N_FEATURES}",
                fitted.model.n_states(),
                fitted.model.n_features(),
                self.config.states
            )));
        }
        let forward = fitted.model.forward(x.view())?;
        let last = bars.last().expect("min_samples ≥ 1 rows means bars were given");
        let model = TrainedModel {
            state_regimes: map_states(&fitted.model, EMA_SPREAD),
            normalizer,
            hmm: fitted.model.clone(),
            trained_until: last.open_time,
            training_samples: rows.len(),
        };
        self.filtered = forward.alpha.row(forward.alpha.nrows() - 1).to_vec();
        self.extractor = extractor;
        self.last_bar = Some(last.open_time);
        self.observations = rows.len() as u64;
        self.latest = Some(self.state_from_filter(&model, last.open_time));
        self.model = Some(model);
        Ok(Training {
            fit: fitted,
            start_logliks,
            best_start,
            samples: rows.len(),
            first_feature_bar: bars.len() - rows.len(),
        })
    }

    /// Takes in the bars of `window` newer than the last bar seen (a
    /// sliding window costs one step per new bar) and returns the state, or
    /// `None` while the features warm up. A bad bar is reported and
    /// skipped: the bars before it are kept and the next update goes on
    /// after it.
    pub fn update(&mut self, window: &[Bar]) -> Result<Option<&RegimeState>, RegimeError> {
        for bar in window {
            if self.last_bar.is_some_and(|last| bar.open_time <= last) {
                continue;
            }
            self.push(bar)?;
        }
        Ok(self.latest.as_ref())
    }

    /// Takes in one bar (which must be newer than the last one: older bars
    /// are ignored).
    pub fn push(&mut self, bar: &Bar) -> Result<Option<&RegimeState>, RegimeError> {
        let model = self.model.as_ref().ok_or(RegimeError::NotTrained)?;
        if self.last_bar.is_some_and(|last| bar.open_time <= last) {
            return Ok(self.latest.as_ref());
        }
        self.last_bar = Some(bar.open_time);
        let Some(row) = self.extractor.update(bar)? else {
            return Ok(self.latest.as_ref());
        };
        let z = model.normalizer.apply(&row);
        let view = ArrayView2::from_shape((1, N_FEATURES), &z).expect("one row of N_FEATURES");
        let log_b = model.hmm.log_emissions(view)?;
        let log_b = log_b.row(0);
        let m = log_b.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let params = model.hmm.params();
        let n = model.hmm.n_states();
        let prior: Vec<f64> = if self.filtered.is_empty() {
            params.start.to_vec()
        } else {
            (0..n).map(|j| (0..n).map(|i| self.filtered[i] * params.trans[[i, j]]).sum()).collect()
        };
        let mut next: Vec<f64> = prior.iter().zip(log_b).map(|(p, l)| p * (l - m).exp()).collect();
        let mut total: f64 = next.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            // Only states the chain cannot reach explain this bar: keep the
            // prediction alone rather than divide by zero.
            next = prior;
            total = next.iter().sum();
        }
        next.iter_mut().for_each(|p| *p /= total);
        self.filtered = next;
        self.observations += 1;
        let state = self.state_from_filter(model, bar.open_time);
        self.latest = Some(state);
        Ok(self.latest.as_ref())
    }

    fn state_from_filter(&self, model: &TrainedModel, time: i64) -> RegimeState {
        let mut probabilities = RegimeProbabilities::default();
        for (p, regime) in self.filtered.iter().zip(&model.state_regimes) {
            probabilities.add(*regime, *p);
        }
        RegimeState::from_probabilities(probabilities, self.filtered.clone(), time, self.observations)
    }

    /// Forgets the bars taken in (features, filter, counters) but keeps the
    /// model, e.g. to classify another series from its start.
    pub fn restart(&mut self) {
        self.extractor = FeatureExtractor::new(self.config.features).expect("validated in new");
        self.filtered.clear();
        self.last_bar = None;
        self.observations = 0;
        self.latest = None;
    }

    /// True without a model, or once the market time of the last bar is
    /// `retrain_interval_ms` or more past the last training bar.
    pub fn needs_retrain(&self) -> bool {
        match (&self.model, self.last_bar) {
            (None, _) => true,
            (Some(model), Some(last)) => last.saturating_sub(model.trained_until) >= self.config.retrain_interval_ms,
            (Some(_), None) => false,
        }
    }

    /// The trained model as a snapshot.
    pub fn snapshot(&self) -> Result<DetectorSnapshot, RegimeError> {
        let model = self.model.as_ref().ok_or(RegimeError::NotTrained)?;
        Ok(DetectorSnapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            config: self.config.clone(),
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            normalizer: model.normalizer.clone(),
            model: HmmParamsFile::from(model.hmm.params()),
            state_regimes: model.state_regimes.clone(),
            trained_until: model.trained_until,
            training_samples: model.training_samples,
        })
    }

    /// The snapshot as pretty JSON (floats round-trip exactly).
    pub fn to_json(&self) -> Result<String, RegimeError> {
        let snapshot = self.snapshot()?;
        Ok(serde_json::to_string_pretty(&snapshot).expect("a snapshot always serializes"))
    }

    /// A detector from a snapshot, ready to take bars (its filter starts
    /// afresh and warms up its features again).
    pub fn restore(snapshot: DetectorSnapshot) -> Result<Self, RegimeError> {
        let bad = |m: String| Err(RegimeError::Snapshot(m));
        if snapshot.format != SNAPSHOT_FORMAT {
            return bad(format!("format is {:?}, expected {SNAPSHOT_FORMAT:?}", snapshot.format));
        }
        if snapshot.version != SNAPSHOT_VERSION {
            return bad(format!(
                "version {} is not supported (this engine reads {SNAPSHOT_VERSION})",
                snapshot.version
            ));
        }
        if snapshot.features != FEATURE_NAMES {
            return bad(format!("features are {:?}, this engine computes {FEATURE_NAMES:?}", snapshot.features));
        }
        snapshot.normalizer.validate(N_FEATURES).map_err(RegimeError::Snapshot)?;
        let hmm = snapshot.model.to_model().map_err(|e| RegimeError::Snapshot(e.to_string()))?;
        if hmm.n_states() != snapshot.config.states || hmm.n_features() != N_FEATURES {
            return bad(format!(
                "the model has {} states over {} features, the config says {} states over {N_FEATURES}",
                hmm.n_states(),
                hmm.n_features(),
                snapshot.config.states
            ));
        }
        if snapshot.state_regimes.len() != hmm.n_states() {
            return bad(format!("{} state regimes for {} states", snapshot.state_regimes.len(), hmm.n_states()));
        }
        let mut detector = RegimeDetector::new(snapshot.config)?;
        detector.model = Some(TrainedModel {
            normalizer: snapshot.normalizer,
            hmm,
            state_regimes: snapshot.state_regimes,
            trained_until: snapshot.trained_until,
            training_samples: snapshot.training_samples,
        });
        Ok(detector)
    }

    /// [`RegimeDetector::restore`] from JSON text; errors give the line and
    /// column.
    pub fn from_json(text: &str) -> Result<Self, RegimeError> {
        let snapshot: DetectorSnapshot =
            serde_json::from_str(text).map_err(|e| RegimeError::Snapshot(e.to_string()))?;
        Self::restore(snapshot)
    }
}

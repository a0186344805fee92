//! Market regimes: features over bars, a Gaussian hidden Markov model, a
//! detector that names the regime bar by bar, and a consensus across bar
//! intervals (`docs/regime.md`).

mod consensus;
mod detector;
mod features;
mod fit;
mod hmm;
mod params_file;
mod restarts;

pub use consensus::{ConsensusState, MultiTimeframeDetector, Timeframe, TimeframeState};
pub use detector::{
    map_states, DetectorConfig, DetectorSnapshot, MarketRegime, RegimeDetector, RegimeError, RegimeProbabilities,
    RegimeState, TrainedModel, Training, SNAPSHOT_FORMAT, SNAPSHOT_VERSION,
};
pub use features::{
    extract, FeatureConfig, FeatureError, FeatureExtractor, FeatureMatrix, FeatureRow, Normalizer, EMA_SPREAD,
    FEATURE_NAMES, N_FEATURES,
};
pub use fit::{fit, Fit, FitOptions, Init};
pub use hmm::{EmWorkspace, Forward, GaussianHmm, HmmError, HmmParams};
pub use params_file::HmmParamsFile;
pub use restarts::{fit_best, kmeans_starts, BestFit};

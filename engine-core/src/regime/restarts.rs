//! Fitting from several starts: EM finds a local optimum, so a model is
//! fitted from a few seeded starts and the best log-likelihood kept.

use ndarray::ArrayView2;

use super::fit::{fit, Fit, FitOptions, Init};
use super::hmm::HmmError;

/// The kept fit and how every start ended.
#[derive(Debug, Clone)]
pub struct BestFit {
    pub fit: Fit,
    /// Final log-likelihood of each start, in order.
    pub start_logliks: Vec<f64>,
    /// Index of the kept start.
    pub best_start: usize,
}

/// k-means starts seeded `seed`, `seed + 1`, ... (`count` of them).
pub fn kmeans_starts(seed: u64, count: usize) -> Vec<Init> {
    (0..count as u64).map(|k| Init::KMeans { seed: seed.wrapping_add(k) }).collect()
}

/// Fits from each of `starts` (replacing `options.init`) and keeps the
/// highest final log-likelihood, the first on ties.
pub fn fit_best(obs: ArrayView2<f64>, options: &FitOptions, starts: Vec<Init>) -> Result<BestFit, HmmError> {
    let mut best: Option<Fit> = None;
    let mut start_logliks = Vec::with_capacity(starts.len());
    let mut best_start = 0;
    for (k, init) in starts.into_iter().enumerate() {
        let candidate = fit(obs, &FitOptions { init, ..options.clone() })?;
        start_logliks.push(candidate.loglik());
        if best.as_ref().map_or(true, |b| candidate.loglik() > b.loglik()) {
            best = Some(candidate);
            best_start = k;
        }
    }
    let fit = best.ok_or_else(|| HmmError::BadModel("no start to fit from".into()))?;
    Ok(BestFit { fit, start_logliks, best_start })
}

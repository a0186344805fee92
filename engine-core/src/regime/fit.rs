//! Fitting a [`GaussianHmm`] by Baum-Welch from a seeded start.

use ndarray::{Array1, Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::hmm::{EmWorkspace, GaussianHmm, HmmError, HmmParams};

/// Where EM starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// k-means++ seeded with this seed, then Lloyd iterations: the cluster
    /// means and variances start the states; start probabilities uniform,
    /// transitions sticky (0.9 to stay).
    KMeans { seed: u64 },
    /// Exactly these parameters, so that a fit can be reproduced.
    Params(Box<HmmParams>),
}

/// How to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    pub states: usize,
    pub init: Init,
    /// Stop after this many EM iterations.
    pub max_iterations: usize,
    /// Stop when the log-likelihood improves by less than this (absolute).
    pub tolerance: f64,
    /// Lowest variance a state may get.
    pub var_floor: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { states: 3, init: Init::KMeans { seed: 42 }, max_iterations: 100, tolerance: 1e-4, var_floor: 1e-6 }
    }
}

/// A fitted model and how the fit went.
#[derive(Debug, Clone)]
pub struct Fit {
    pub model: GaussianHmm,
    /// Log-likelihood of the model before each iteration, then of the final model.
    pub loglik_history: Vec<f64>,
    pub converged: bool,
}

impl Fit {
    pub fn loglik(&self) -> f64 {
        *self.loglik_history.last().expect("a fit records at least one log-likelihood")
    }
}

/// Fits an HMM to `obs` (T × D) with Baum-Welch.
pub fn fit(obs: ArrayView2<f64>, options: &FitOptions) -> Result<Fit, HmmError> {
    if options.states == 0 {
        return Err(HmmError::BadModel("at least one state is needed".into()));
    }
    if obs.nrows() < options.states {
        return Err(HmmError::BadObservations(format!(
            "{} observations cannot fit {} states",
            obs.nrows(),
            options.states
        )));
    }
    let mut model = match &options.init {
        Init::Params(params) => GaussianHmm::new((**params).clone())?,
        Init::KMeans { seed } => GaussianHmm::new(kmeans_init(obs, options.states, *seed, options.var_floor))?,
    };
    let mut history = Vec::new();
    let mut converged = false;
    // One set of scratch buffers for every iteration.
    let mut workspace = EmWorkspace::new();
    for _ in 0..options.max_iterations {
        let (next, loglik) = model.em_step_with(obs, options.var_floor, &mut workspace)?;
        let improved = history.last().map(|prev: &f64| loglik - prev);
        history.push(loglik);
        model = next;
        if improved.is_some_and(|gain| gain.abs() < options.tolerance) {
            converged = true;
            break;
        }
    }
    history.push(model.loglik_with(obs, &mut workspace)?);
    Ok(Fit { model, loglik_history: history, converged })
}

/// k-means++ centres, 25 Lloyd iterations, then per-cluster means and
/// variances (floored); states ordered by their first feature's mean so that
/// the same data always numbers its states the same way.
fn kmeans_init(obs: ArrayView2<f64>, k: usize, seed: u64, var_floor: f64) -> HmmParams {
    let (t_len, d) = obs.dim();
    let mut rng = StdRng::seed_from_u64(seed);
    let dist2 = |a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>| -> f64 {
        a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum()
    };
    let mut centres = Array2::<f64>::zeros((k, d));
    centres.row_mut(0).assign(&obs.row(rng.gen_range(0..t_len)));
    let mut nearest = vec![f64::INFINITY; t_len];
    for c in 1..k {
        for (t, near) in nearest.iter_mut().enumerate() {
            *near = near.min(dist2(obs.row(t), centres.row(c - 1)));
        }
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let mut u = rng.gen::<f64>() * total;
            nearest.iter().position(|&w| {
                u -= w;
                u <= 0.0
            })
        } else {
            None
        }
        .unwrap_or_else(|| rng.gen_range(0..t_len));
        centres.row_mut(c).assign(&obs.row(pick));
    }
    let mut assign = vec![0usize; t_len];
    for _ in 0..25 {
        for (t, cluster) in assign.iter_mut().enumerate() {
            // The nearest centre, the first one on a tie (as `min_by` would
            // pick), each distance computed once: this loop was most of a fit.
            let x = obs.row(t);
            let (mut best, mut best_d2) = (0, dist2(x, centres.row(0)));
            for c in 1..k {
                let d2 = dist2(x, centres.row(c));
                if d2.total_cmp(&best_d2).is_lt() {
                    (best, best_d2) = (c, d2);
                }
            }
            *cluster = best;
        }
        let mut sums = Array2::<f64>::zeros((k, d));
        let mut counts = vec![0usize; k];
        for t in 0..t_len {
            sums.row_mut(assign[t]).scaled_add(1.0, &obs.row(t));
            counts[assign[t]] += 1;
        }
        for (c, &count) in counts.iter().enumerate() {
            if count > 0 {
                centres.row_mut(c).assign(&(&sums.row(c) / count as f64));
            }
        }
    }
    let mut vars = Array2::<f64>::from_elem((k, d), var_floor);
    let mut counts = vec![0usize; k];
    let mut sq = Array2::<f64>::zeros((k, d));
    for t in 0..t_len {
        let c = assign[t];
        counts[c] += 1;
        for j in 0..d {
            let diff = obs[[t, j]] - centres[[c, j]];
            sq[[c, j]] += diff * diff;
        }
    }
    let overall_var: Vec<f64> = (0..d)
        .map(|j| {
            let col = obs.column(j);
            let mean = col.sum() / t_len as f64;
            col.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / t_len as f64
        })
        .collect();
    for c in 0..k {
        for j in 0..d {
            // An empty or single-point cluster takes the data's variance.
            let v = if counts[c] > 1 { sq[[c, j]] / counts[c] as f64 } else { overall_var[j] };
            vars[[c, j]] = v.max(var_floor);
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| centres[[a, 0]].total_cmp(&centres[[b, 0]]));
    let means = Array2::from_shape_fn((k, d), |(i, j)| centres[[order[i], j]]);
    let vars = Array2::from_shape_fn((k, d), |(i, j)| vars[[order[i], j]]);
    let stay = if k == 1 { 1.0 } else { 0.9 };
    let leave = if k == 1 { 0.0 } else { 0.1 / (k - 1) as f64 };
    let trans = Array2::from_shape_fn((k, k), |(i, j)| if i == j { stay } else { leave });
    HmmParams { start: Array1::from_elem(k, 1.0 / k as f64), trans, means, vars }
}

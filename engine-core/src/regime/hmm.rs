//! A Gaussian hidden Markov model with diagonal covariance.
//!
//! The algorithms follow `docs/regime.md` operation by operation (the OCaml
//! sidecar implements the same text, and the two are compared to 1e-9):
//! per-time max-shifted emissions and a scaled forward-backward pass, so
//! 100,000+ observations never underflow.

use ndarray::{Array1, Array2, ArrayView2};
use rand::Rng;
use rand_distr::StandardNormal;

/// Why a model or a set of observations cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HmmError {
    #[error("model: {0}")]
    BadModel(String),
    #[error("observations: {0}")]
    BadObservations(String),
    #[error("the observations are impossible under the model (log-likelihood is -infinity at row {row})")]
    Impossible { row: usize },
}

/// The parameters of an `N`-state model over `D` features.
#[derive(Debug, Clone, PartialEq)]
pub struct HmmParams {
    /// `start[i]`: probability of starting in state `i`.
    pub start: Array1<f64>,
    /// `trans[[i, j]]`: probability of moving from `i` to `j`.
    pub trans: Array2<f64>,
    /// `means[[i, d]]`: mean of feature `d` in state `i`.
    pub means: Array2<f64>,
    /// `vars[[i, d]]`: variance of feature `d` in state `i`.
    pub vars: Array2<f64>,
}

/// A validated Gaussian HMM.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianHmm {
    params: HmmParams,
    /// `ln(2π · vars[[i, d]])`, computed once per model.
    log_norm: Array2<f64>,
}

/// The result of the scaled forward pass.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Filtered probabilities `P(state at t | x_1..x_t)`, T × N.
    pub alpha: Array2<f64>,
    /// Emission densities scaled by `exp(-m_t)`, T × N.
    pub scaled_emissions: Array2<f64>,
    /// The scale factors `c_t`.
    pub scale: Array1<f64>,
    /// Log-likelihood of the observations.
    pub loglik: f64,
}

/// Sum of a probability vector must be 1 within this.
const STOCHASTIC_TOLERANCE: f64 = 1e-6;

impl GaussianHmm {
    /// Checks shapes and values: probabilities non-negative and summing to
    /// 1, variances positive, everything finite.
    pub fn new(params: HmmParams) -> Result<Self, HmmError> {
        let n = params.start.len();
        let bad = |m: String| Err(HmmError::BadModel(m));
        if n == 0 {
            return bad("at least one state is needed".into());
        }
        let d = params.means.ncols();
        if d == 0 {
            return bad("at least one feature is needed".into());
        }
        if params.trans.dim() != (n, n) {
            return bad(format!("trans is {:?}, expected {n} x {n}", params.trans.dim()));
        }
        if params.means.dim() != (n, d) || params.vars.dim() != (n, d) {
            return bad(format!(
                "means {:?} and vars {:?} must both be {n} x {d}",
                params.means.dim(),
                params.vars.dim()
            ));
        }
        check_stochastic("start", params.start.as_slice().expect("a fresh Array1 is contiguous"))?;
        for (i, row) in params.trans.rows().into_iter().enumerate() {
            check_stochastic(&format!("trans row {i}"), &row.to_vec())?;
        }
        if let Some(v) = params.means.iter().find(|v| !v.is_finite()) {
            return bad(format!("mean {v} is not finite"));
        }
        if let Some(v) = params.vars.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return bad(format!("variance {v} is not a positive finite number"));
        }
        let log_norm = params.vars.mapv(|v| (2.0 * std::f64::consts::PI * v).ln());
        Ok(GaussianHmm { params, log_norm })
    }

    pub fn params(&self) -> &HmmParams {
        &self.params
    }

    pub fn n_states(&self) -> usize {
        self.params.start.len()
    }

    pub fn n_features(&self) -> usize {
        self.params.means.ncols()
    }

    fn check_observations(&self, obs: &ArrayView2<f64>) -> Result<(), HmmError> {
        if obs.nrows() == 0 {
            return Err(HmmError::BadObservations("no observations".into()));
        }
        if obs.ncols() != self.n_features() {
            return Err(HmmError::BadObservations(format!(
                "{} features per observation, the model has {}",
                obs.ncols(),
                self.n_features()
            )));
        }
        if let Some((t, _)) = obs.rows().into_iter().enumerate().find(|(_, r)| r.iter().any(|v| !v.is_finite())) {
            return Err(HmmError::BadObservations(format!("row {t} holds a non-finite value")));
        }
        Ok(())
    }

    /// `log_b[[t, j]]`: log-density of observation `t` in state `j`.
    pub fn log_emissions(&self, obs: ArrayView2<f64>) -> Result<Array2<f64>, HmmError> {
        self.check_observations(&obs)?;
        let (n, d) = (self.n_states(), self.n_features());
        let mut out = Array2::zeros((obs.nrows(), n));
        for (x, mut row) in obs.rows().into_iter().zip(out.rows_mut()) {
            for j in 0..n {
                let mut acc = 0.0;
                for k in 0..d {
                    let diff = x[k] - self.params.means[[j, k]];
                    acc += self.log_norm[[j, k]] + diff * diff / self.params.vars[[j, k]];
                }
                row[j] = -0.5 * acc;
            }
        }
        Ok(out)
    }

    /// The scaled forward pass: filtered probabilities and log-likelihood.
    pub fn forward(&self, obs: ArrayView2<f64>) -> Result<Forward, HmmError> {
        let log_b = self.log_emissions(obs)?;
        let (t_len, n) = log_b.dim();
        let trans = &self.params.trans;
        let mut alpha = Array2::zeros((t_len, n));
        let mut scaled = Array2::zeros((t_len, n));
        let mut scale = Array1::zeros(t_len);
        let mut loglik = 0.0;
        for t in 0..t_len {
            let m = log_b.row(t).iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !m.is_finite() {
                return Err(HmmError::Impossible { row: t });
            }
            for j in 0..n {
                scaled[[t, j]] = (log_b[[t, j]] - m).exp();
            }
            let mut c = 0.0;
            for j in 0..n {
                let prior = if t == 0 {
                    self.params.start[j]
                } else {
                    let mut s = 0.0;
                    for i in 0..n {
                        s += alpha[[t - 1, i]] * trans[[i, j]];
                    }
                    s
                };
                let a = prior * scaled[[t, j]];
                alpha[[t, j]] = a;
                c += a;
            }
            if c <= 0.0 || !c.is_finite() {
                return Err(HmmError::Impossible { row: t });
            }
            for j in 0..n {
                alpha[[t, j]] /= c;
            }
            scale[t] = c;
            loglik += c.ln() + m;
        }
        Ok(Forward { alpha, scaled_emissions: scaled, scale, loglik })
    }

    /// The scaled backward pass over a forward pass's emissions and scales.
    pub fn backward(&self, forward: &Forward) -> Array2<f64> {
        let (t_len, n) = forward.alpha.dim();
        let trans = &self.params.trans;
        let b = &forward.scaled_emissions;
        let mut beta = Array2::zeros((t_len, n));
        beta.row_mut(t_len - 1).fill(1.0);
        for t in (0..t_len - 1).rev() {
            let c = forward.scale[t + 1];
            for i in 0..n {
                let mut s = 0.0;
                for j in 0..n {
                    s += trans[[i, j]] * b[[t + 1, j]] * beta[[t + 1, j]];
                }
                beta[[t, i]] = s / c;
            }
        }
        beta
    }

    /// Smoothed state probabilities `P(state at t | x_1..x_T)`, T × N.
    pub fn posteriors(&self, obs: ArrayView2<f64>) -> Result<Array2<f64>, HmmError> {
        let forward = self.forward(obs)?;
        let beta = self.backward(&forward);
        Ok(&forward.alpha * &beta)
    }

    /// Log-likelihood of the observations.
    pub fn loglik(&self, obs: ArrayView2<f64>) -> Result<f64, HmmError> {
        Ok(self.forward(obs)?.loglik)
    }

    /// The most likely state path (Viterbi, in log space).
    pub fn viterbi(&self, obs: ArrayView2<f64>) -> Result<Vec<usize>, HmmError> {
        let log_b = self.log_emissions(obs)?;
        let (t_len, n) = log_b.dim();
        let log_trans = self.params.trans.mapv(f64::ln);
        let mut delta: Vec<f64> = (0..n).map(|j| self.params.start[j].ln() + log_b[[0, j]]).collect();
        let mut back = Array2::<usize>::zeros((t_len, n));
        let mut next = vec![0.0; n];
        for t in 1..t_len {
            for j in 0..n {
                // Strictly greater: ties go to the lowest i.
                let (mut best_i, mut best) = (0, delta[0] + log_trans[[0, j]]);
                for (i, &d) in delta.iter().enumerate().skip(1) {
                    let v = d + log_trans[[i, j]];
                    if v > best {
                        (best_i, best) = (i, v);
                    }
                }
                back[[t, j]] = best_i;
                next[j] = best + log_b[[t, j]];
            }
            std::mem::swap(&mut delta, &mut next);
        }
        let mut state = 0;
        for j in 1..n {
            if delta[j] > delta[state] {
                state = j;
            }
        }
        if delta[state] == f64::NEG_INFINITY {
            return Err(HmmError::Impossible { row: t_len - 1 });
        }
        let mut path = vec![0; t_len];
        for t in (0..t_len).rev() {
            path[t] = state;
            state = back[[t, state]];
        }
        Ok(path)
    }

    /// One Baum-Welch step: the re-estimated model, and the log-likelihood
    /// of this model (the one the step started from).
    pub fn em_step(&self, obs: ArrayView2<f64>, var_floor: f64) -> Result<(GaussianHmm, f64), HmmError> {
        let forward = self.forward(obs)?;
        let beta = self.backward(&forward);
        let (t_len, n) = forward.alpha.dim();
        let d = self.n_features();
        let alpha = &forward.alpha;
        let b = &forward.scaled_emissions;
        let trans = &self.params.trans;

        let mut xi_sum = Array2::<f64>::zeros((n, n));
        for t in 0..t_len - 1 {
            let c = forward.scale[t + 1];
            for i in 0..n {
                for j in 0..n {
                    xi_sum[[i, j]] += alpha[[t, i]] * trans[[i, j]] * b[[t + 1, j]] * beta[[t + 1, j]] / c;
                }
            }
        }
        let gamma = alpha * &beta;

        let mut new = self.params.clone();
        for j in 0..n {
            new.start[j] = gamma[[0, j]];
        }
        for i in 0..n {
            let mut denom = 0.0;
            for j in 0..n {
                denom += xi_sum[[i, j]];
            }
            if denom > 0.0 {
                for j in 0..n {
                    new.trans[[i, j]] = xi_sum[[i, j]] / denom;
                }
            }
        }
        for i in 0..n {
            let mut w = 0.0;
            for t in 0..t_len {
                w += gamma[[t, i]];
            }
            if w <= 0.0 {
                continue; // a state nobody visits keeps its parameters
            }
            for k in 0..d {
                let mut s = 0.0;
                for t in 0..t_len {
                    s += gamma[[t, i]] * obs[[t, k]];
                }
                new.means[[i, k]] = s / w;
            }
            for k in 0..d {
                let mu = new.means[[i, k]];
                let mut s = 0.0;
                for t in 0..t_len {
                    let diff = obs[[t, k]] - mu;
                    s += gamma[[t, i]] * (diff * diff);
                }
                new.vars[[i, k]] = (s / w).max(var_floor);
            }
        }
        let model = GaussianHmm::new(new).map_err(|e| HmmError::BadModel(format!("after an EM step: {e}")))?;
        Ok((model, forward.loglik))
    }

    /// Draws `len` observations and the states that produced them.
    pub fn sample(&self, len: usize, rng: &mut impl Rng) -> (Array2<f64>, Vec<usize>) {
        let (n, d) = (self.n_states(), self.n_features());
        let draw = |probs: &[f64], rng: &mut dyn rand::RngCore| {
            let u: f64 = rng.gen();
            let mut acc = 0.0;
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if u < acc {
                    return i;
                }
            }
            n - 1
        };
        let mut states = Vec::with_capacity(len);
        let mut obs = Array2::zeros((len, d));
        for t in 0..len {
            let s = if t == 0 {
                draw(self.params.start.as_slice().expect("contiguous"), rng)
            } else {
                draw(&self.params.trans.row(states[t - 1]).to_vec(), rng)
            };
            for k in 0..d {
                let z: f64 = rng.sample(StandardNormal);
                obs[[t, k]] = self.params.means[[s, k]] + z * self.params.vars[[s, k]].sqrt();
            }
            states.push(s);
        }
        (obs, states)
    }
}

fn check_stochastic(what: &str, probs: &[f64]) -> Result<(), HmmError> {
    if let Some(p) = probs.iter().find(|p| !(p.is_finite() && **p >= 0.0)) {
        return Err(HmmError::BadModel(format!("{what} holds {p}, not a probability")));
    }
    let sum: f64 = probs.iter().sum();
    if (sum - 1.0).abs() > STOCHASTIC_TOLERANCE {
        return Err(HmmError::BadModel(format!("{what} sums to {sum}, expected 1")));
    }
    Ok(())
}

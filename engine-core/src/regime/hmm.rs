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
    /// `1 / vars[[i, d]]`, computed once per model.
    inv_var: Array2<f64>,
}

/// The result of the scaled forward pass.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Filtered probabilities `P(state at t | x_1..x_t)`, T × N.
    pub alpha: Array2<f64>,
    /// Emission densities scaled by `exp(-m_t)`, T × N.
    pub scaled_emissions: Array2<f64>,
    /// The reciprocals `1 / c_t` of the scale factors.
    pub inv_scale: Array1<f64>,
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
        // Standard layout, so the hot loops can run over flat slices.
        let params = HmmParams {
            start: params.start.as_standard_layout().to_owned(),
            trans: params.trans.as_standard_layout().to_owned(),
            means: params.means.as_standard_layout().to_owned(),
            vars: params.vars.as_standard_layout().to_owned(),
        };
        let log_norm = params.vars.mapv(|v| (2.0 * std::f64::consts::PI * v).ln());
        let inv_var = params.vars.mapv(|v| 1.0 / v);
        Ok(GaussianHmm { params, log_norm, inv_var })
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
        let obs = obs.as_standard_layout();
        let mut out = Array2::zeros((obs.nrows(), self.n_states()));
        self.log_emissions_into(flat(&obs), flat_mut(&mut out));
        Ok(out)
    }

    fn log_emissions_into(&self, obs: &[f64], out: &mut [f64]) {
        let (n, d) = (self.n_states(), self.n_features());
        let (means, log_norm, inv_var) = (flat(&self.params.means), flat(&self.log_norm), flat(&self.inv_var));
        for (x, row) in obs.chunks_exact(d).zip(out.chunks_exact_mut(n)) {
            for (j, out) in row.iter_mut().enumerate() {
                let (mu, ln, iv) = (&means[j * d..][..d], &log_norm[j * d..][..d], &inv_var[j * d..][..d]);
                let mut acc = 0.0;
                for k in 0..d {
                    let diff = x[k] - mu[k];
                    acc += ln[k] + diff * diff * iv[k];
                }
                *out = -0.5 * acc;
            }
        }
    }

    /// The scaled forward pass: filtered probabilities and log-likelihood.
    pub fn forward(&self, obs: ArrayView2<f64>) -> Result<Forward, HmmError> {
        let log_b = self.log_emissions(obs)?;
        let (t_len, n) = log_b.dim();
        let trans = flat(&self.params.trans);
        let start = flat1(&self.params.start);
        let mut alpha = Array2::zeros((t_len, n));
        let mut scaled = Array2::zeros((t_len, n));
        let mut inv_scale = Array1::zeros(t_len);
        let mut loglik = 0.0;
        {
            let (alpha_flat, scaled_flat) = (flat_mut(&mut alpha), flat_mut(&mut scaled));
            let inv_scale = flat1_mut(&mut inv_scale);
            for t in 0..t_len {
                let lb = &flat(&log_b)[t * n..][..n];
                let m = lb.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if !m.is_finite() {
                    return Err(HmmError::Impossible { row: t });
                }
                let b = &mut scaled_flat[t * n..][..n];
                for (b, &l) in b.iter_mut().zip(lb) {
                    *b = (l - m).exp();
                }
                let (before, rest) = alpha_flat.split_at_mut(t * n);
                let row = &mut rest[..n];
                let mut c = 0.0;
                for j in 0..n {
                    let prior = if t == 0 {
                        start[j]
                    } else {
                        let prev = &before[(t - 1) * n..];
                        let mut s = 0.0;
                        for i in 0..n {
                            s += prev[i] * trans[i * n + j];
                        }
                        s
                    };
                    let a = prior * b[j];
                    row[j] = a;
                    c += a;
                }
                if c <= 0.0 || !c.is_finite() {
                    return Err(HmmError::Impossible { row: t });
                }
                let inv_c = 1.0 / c;
                for a in row.iter_mut() {
                    *a *= inv_c;
                }
                inv_scale[t] = inv_c;
                loglik += c.ln() + m;
            }
        }
        Ok(Forward { alpha, scaled_emissions: scaled, inv_scale, loglik })
    }

    /// The scaled backward pass over a forward pass's emissions and scales.
    pub fn backward(&self, forward: &Forward) -> Array2<f64> {
        let mut beta = Array2::zeros(forward.alpha.dim());
        let n = forward.alpha.ncols();
        let mut bb = vec![0.0; n];
        self.backward_into(forward, flat_mut(&mut beta), &mut bb, |_, _| {});
        beta
    }

    /// Fills `beta` from the last row back; `each(t, bb)` sees
    /// `bb[j] = b[t+1][j] · beta[t+1][j]` for every `t < T`, so that the EM
    /// step can accumulate `xi` in the same pass.
    fn backward_into(&self, forward: &Forward, beta: &mut [f64], bb: &mut [f64], mut each: impl FnMut(usize, &[f64])) {
        let (t_len, n) = forward.alpha.dim();
        let trans = flat(&self.params.trans);
        let b = flat(&forward.scaled_emissions);
        let inv_scale = flat1(&forward.inv_scale);
        beta[(t_len - 1) * n..].fill(1.0);
        for t in (0..t_len - 1).rev() {
            let (now, next) = beta.split_at_mut((t + 1) * n);
            let next = &next[..n];
            for j in 0..n {
                bb[j] = b[(t + 1) * n + j] * next[j];
            }
            let inv_c = inv_scale[t + 1];
            let row = &mut now[t * n..];
            for i in 0..n {
                let tr = &trans[i * n..][..n];
                let mut s = 0.0;
                for j in 0..n {
                    s += tr[j] * bb[j];
                }
                row[i] = s * inv_c;
            }
            each(t, bb);
        }
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
        let obs = obs.as_standard_layout();
        let x = flat(&obs);
        let (t_len, n) = forward.alpha.dim();
        let d = self.n_features();
        let alpha = flat(&forward.alpha);
        let inv_scale = flat1(&forward.inv_scale);
        let trans = flat(&self.params.trans);

        // xi is summed over t as the backward pass produces it, from the
        // last t down (docs/regime.md).
        let mut beta = vec![0.0; t_len * n];
        let mut bb = vec![0.0; n];
        let mut xi_sum = vec![0.0; n * n];
        self.backward_into(&forward, &mut beta, &mut bb, |t, bb| {
            let inv_c = inv_scale[t + 1];
            for i in 0..n {
                let ai = alpha[t * n + i] * inv_c;
                let (tr, sums) = (&trans[i * n..][..n], &mut xi_sum[i * n..][..n]);
                for j in 0..n {
                    sums[j] += ai * tr[j] * bb[j];
                }
            }
        });

        // gamma, state weights and mean numerators in one pass over t.
        let mut gamma = vec![0.0; t_len * n];
        let mut weight = vec![0.0; n];
        let mut mean_num = vec![0.0; n * d];
        for t in 0..t_len {
            let xt = &x[t * d..][..d];
            for i in 0..n {
                let g = alpha[t * n + i] * beta[t * n + i];
                gamma[t * n + i] = g;
                weight[i] += g;
                let num = &mut mean_num[i * d..][..d];
                for k in 0..d {
                    num[k] += g * xt[k];
                }
            }
        }

        let mut new = self.params.clone();
        new.start.assign(&ndarray::ArrayView1::from(&gamma[..n]));
        for i in 0..n {
            let row = &xi_sum[i * n..][..n];
            let mut denom = 0.0;
            for v in row {
                denom += v;
            }
            if denom > 0.0 {
                for (out, v) in new.trans.row_mut(i).iter_mut().zip(row) {
                    *out = v / denom;
                }
            }
        }
        let visited: Vec<bool> = weight.iter().map(|&w| w > 0.0).collect();
        for i in (0..n).filter(|&i| visited[i]) {
            for k in 0..d {
                new.means[[i, k]] = mean_num[i * d + k] / weight[i];
            }
        }
        // Variances about the new means: a second pass over t.
        let means = flat(&new.means);
        let mut var_num = vec![0.0; n * d];
        for t in 0..t_len {
            let xt = &x[t * d..][..d];
            for i in 0..n {
                let g = gamma[t * n + i];
                let (mu, num) = (&means[i * d..][..d], &mut var_num[i * d..][..d]);
                for k in 0..d {
                    let diff = xt[k] - mu[k];
                    num[k] += g * (diff * diff);
                }
            }
        }
        for i in (0..n).filter(|&i| visited[i]) {
            for k in 0..d {
                new.vars[[i, k]] = (var_num[i * d + k] / weight[i]).max(var_floor);
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

/// The elements of a standard-layout array, row-major.
fn flat<S: ndarray::Data<Elem = f64>>(a: &ndarray::ArrayBase<S, ndarray::Ix2>) -> &[f64] {
    a.as_slice().expect("arrays here are built in standard layout")
}

fn flat_mut(a: &mut Array2<f64>) -> &mut [f64] {
    a.as_slice_mut().expect("arrays here are built in standard layout")
}

fn flat1(a: &Array1<f64>) -> &[f64] {
    a.as_slice().expect("arrays here are built in standard layout")
}

fn flat1_mut(a: &mut Array1<f64>) -> &mut [f64] {
    a.as_slice_mut().expect("arrays here are built in standard layout")
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

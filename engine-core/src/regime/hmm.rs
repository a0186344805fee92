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

/// Scratch memory for EM steps, kept from one iteration to the next.
///
/// A step over `T` observations of an `N`-state model needs `(2N + 1) · T`
/// floats of intermediate results. Allocated afresh every iteration, they
/// fault in new pages each time (at 200,000 samples, `em_step` measured
/// 5–20% slower than `em_step_with` on a kept workspace); [`fit`](super::fit)
/// keeps one workspace for all its iterations.
#[derive(Debug, Clone, Default)]
pub struct EmWorkspace {
    /// `alpha` (T × N) after the forward pass; the backward pass replaces it
    /// row by row with `gamma`.
    alpha: Vec<f64>,
    /// The scaled emissions `b` (T × N).
    emissions: Vec<f64>,
    /// `1 / c_t` (T).
    inv_scale: Vec<f64>,
}

impl EmWorkspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// The buffers at the sizes for `t_len` observations and `n` states.
    /// Their contents are stale: every pass overwrites what it reads.
    fn sized(&mut self, t_len: usize, n: usize) -> &mut Self {
        self.alpha.resize(t_len * n, 0.0);
        self.emissions.resize(t_len * n, 0.0);
        self.inv_scale.resize(t_len, 0.0);
        self
    }
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
        let all_finite = match obs.as_slice() {
            Some(x) => all_finite(x),
            None => obs.iter().all(|v| v.is_finite()),
        };
        if !all_finite {
            let t = obs.rows().into_iter().position(|r| r.iter().any(|v| !v.is_finite())).expect("a row is not finite");
            return Err(HmmError::BadObservations(format!("row {t} holds a non-finite value")));
        }
        Ok(())
    }

    /// The parameters as slices cut to the lengths `s` implies, so that
    /// with a [`Fixed`] shape the compiler knows every trip count.
    #[inline(always)]
    fn flat<S: Shape>(&self, s: S) -> FlatParams<'_> {
        let (n, d) = (s.n(), s.d());
        FlatParams {
            start: &flat1(&self.params.start)[..n],
            trans: &flat(&self.params.trans)[..n * n],
            means: &flat(&self.params.means)[..n * d],
            log_norm: &flat(&self.log_norm)[..n * d],
            inv_var: &flat(&self.inv_var)[..n * d],
        }
    }

    /// `log_b[[t, j]]`: log-density of observation `t` in state `j`.
    pub fn log_emissions(&self, obs: ArrayView2<f64>) -> Result<Array2<f64>, HmmError> {
        self.check_observations(&obs)?;
        let obs = obs.as_standard_layout();
        let mut out = Array2::zeros((obs.nrows(), self.n_states()));
        with_shape!(self.n_states(), self.n_features(), |s| self.log_emissions_into(s, flat(&obs), flat_mut(&mut out)));
        Ok(out)
    }

    fn log_emissions_into<S: Shape>(&self, s: S, obs: &[f64], out: &mut [f64]) {
        let p = self.flat(s);
        for (x, row) in obs.chunks_exact(s.d()).zip(out.chunks_exact_mut(s.n())) {
            log_densities(s, &p, x, row);
        }
    }

    /// The scaled forward pass: filtered probabilities and log-likelihood.
    pub fn forward(&self, obs: ArrayView2<f64>) -> Result<Forward, HmmError> {
        self.check_observations(&obs)?;
        let obs = obs.as_standard_layout();
        let (t_len, n) = (obs.nrows(), self.n_states());
        let mut alpha = Array2::zeros((t_len, n));
        let mut scaled = Array2::zeros((t_len, n));
        let mut inv_scale = Array1::zeros(t_len);
        let loglik = with_shape!(n, self.n_features(), |s| self.forward_into(
            s,
            flat(&obs),
            flat_mut(&mut alpha),
            flat_mut(&mut scaled),
            flat1_mut(&mut inv_scale)
        ))?;
        Ok(Forward { alpha, scaled_emissions: scaled, inv_scale, loglik })
    }

    /// The forward pass of docs/regime.md into caller-owned T × N buffers
    /// `alpha` and `b` (scaled emissions) and `inv_scale` (T). Each row's
    /// log-densities are computed where they are used rather than stored,
    /// which saves writing and re-reading a T × N array.
    fn forward_into<S: Shape>(
        &self,
        s: S,
        obs: &[f64],
        alpha: &mut [f64],
        b: &mut [f64],
        inv_scale: &mut [f64],
    ) -> Result<f64, HmmError> {
        let (n, d) = (s.n(), s.d());
        let p = self.flat(s);
        let mut log_b = s.states();
        // The prior of row t: `start` for the first row, then
        // `Σ_i alpha[t−1][i] · trans[i][j]`, computed at the end of row t − 1.
        let mut prior = s.states();
        prior.as_mut().copy_from_slice(p.start);
        let mut loglik = LogLikelihood::new();
        let rows = obs.chunks_exact(d).zip(alpha.chunks_exact_mut(n)).zip(b.chunks_exact_mut(n)).zip(inv_scale);
        for (t, (((x, alpha), b), inv_scale)) in rows.enumerate() {
            let log_b = log_b.as_mut();
            log_densities(s, &p, x, log_b);
            let m = log_b.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !m.is_finite() {
                return Err(HmmError::Impossible { row: t });
            }
            for (b, &l) in b.iter_mut().zip(log_b.iter()) {
                // exp(0) is exactly 1: no need to call exp for the largest.
                *b = if l == m { 1.0 } else { (l - m).exp() };
            }
            let c = scaled_products(b, prior.as_ref(), alpha);
            if c <= 0.0 || !c.is_finite() {
                return Err(HmmError::Impossible { row: t });
            }
            let inv_c = 1.0 / c;
            for a in alpha.iter_mut() {
                *a *= inv_c;
            }
            *inv_scale = inv_c;
            loglik.add(c, m);
            next_prior(s, p.trans, alpha, prior.as_mut());
        }
        Ok(loglik.total())
    }

    /// The scaled backward pass over a forward pass's emissions and scales.
    pub fn backward(&self, forward: &Forward) -> Array2<f64> {
        let (t_len, n) = forward.alpha.dim();
        let mut beta = Array2::zeros((t_len, n));
        let (b, inv_scale) = (flat(&forward.scaled_emissions), flat1(&forward.inv_scale));
        let beta_flat = flat_mut(&mut beta);
        beta_flat[(t_len - 1) * n..].fill(1.0);
        let mut bb = vec![0.0; n];
        for t in (0..t_len - 1).rev() {
            let (now, next) = beta_flat.split_at_mut((t + 1) * n);
            scaled_products(&b[(t + 1) * n..][..n], &next[..n], &mut bb);
            beta_row(
                Sizes { n, d: self.n_features() },
                flat(&self.params.trans),
                &bb,
                inv_scale[t + 1],
                &mut now[t * n..],
            );
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

    /// [`loglik`](Self::loglik) in a workspace's buffers.
    pub fn loglik_with(&self, obs: ArrayView2<f64>, workspace: &mut EmWorkspace) -> Result<f64, HmmError> {
        self.check_observations(&obs)?;
        let obs = obs.as_standard_layout();
        let ws = workspace.sized(obs.nrows(), self.n_states());
        with_shape!(self.n_states(), self.n_features(), |s| self.forward_into(
            s,
            flat(&obs),
            &mut ws.alpha,
            &mut ws.emissions,
            &mut ws.inv_scale
        ))
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
    /// of this model (the one the step started from). Allocates its scratch
    /// space; a loop of steps should use [`em_step_with`](Self::em_step_with).
    pub fn em_step(&self, obs: ArrayView2<f64>, var_floor: f64) -> Result<(GaussianHmm, f64), HmmError> {
        self.em_step_with(obs, var_floor, &mut EmWorkspace::new())
    }

    /// [`em_step`](Self::em_step) in a workspace's buffers, so that
    /// successive steps reuse the same memory. The result does not depend on
    /// what the workspace held before.
    pub fn em_step_with(
        &self,
        obs: ArrayView2<f64>,
        var_floor: f64,
        workspace: &mut EmWorkspace,
    ) -> Result<(GaussianHmm, f64), HmmError> {
        self.check_observations(&obs)?;
        let obs = obs.as_standard_layout();
        let ws = workspace.sized(obs.nrows(), self.n_states());
        with_shape!(self.n_states(), self.n_features(), |s| self.em_step_in(s, flat(&obs), var_floor, ws))
    }

    fn em_step_in<S: Shape>(
        &self,
        s: S,
        x: &[f64],
        var_floor: f64,
        ws: &mut EmWorkspace,
    ) -> Result<(GaussianHmm, f64), HmmError> {
        let (n, d) = (s.n(), s.d());
        let loglik = self.forward_into(s, x, &mut ws.alpha, &mut ws.emissions, &mut ws.inv_scale)?;
        let xi_sum = self.backward_to_gamma(s, &mut ws.alpha, &ws.emissions, &ws.inv_scale);
        let gamma = &ws.alpha;
        let (weight, mean_num) = weighted_sums(s, x, gamma);

        let mut new = self.params.clone();
        new.start.assign(&ndarray::ArrayView1::from(&gamma[..n]));
        for (i, row) in xi_sum[..n * n].chunks_exact(n).enumerate() {
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
        let var_num = squared_deviations(s, x, gamma, flat(&new.means));
        for i in (0..n).filter(|&i| visited[i]) {
            for k in 0..d {
                new.vars[[i, k]] = (var_num[i * d + k] / weight[i]).max(var_floor);
            }
        }
        let model = GaussianHmm::new(new).map_err(|e| HmmError::BadModel(format!("after an EM step: {e}")))?;
        Ok((model, loglik))
    }

    /// The backward pass of an EM step: replaces `alpha` (T × N) by
    /// `gamma = alpha · beta` row by row, from the last row back, and
    /// returns the transition numerators `Σ_t xi[t][i][j]` (N × N), summed
    /// from the last t down as docs/regime.md states. `beta` itself is only
    /// ever needed for the row after the current one, so it is not stored.
    #[inline(never)]
    fn backward_to_gamma<S: Shape>(&self, s: S, alpha: &mut [f64], b: &[f64], inv_scale: &[f64]) -> Vec<f64> {
        let n = s.n();
        let trans = self.flat(s).trans;
        let mut xi_sum = vec![0.0; n * n];
        let xi = &mut xi_sum[..n * n];
        // beta[T] = 1, so gamma[T] = alpha[T]: the last row stays as it is.
        let mut beta_next = s.states();
        beta_next.as_mut().fill(1.0);
        let (mut beta, mut bb) = (s.states(), s.states());
        // Indexed rows rather than zipped iterators: with them the compiler
        // sees the constant row length of a `Fixed` shape.
        for t in (0..inv_scale.len() - 1).rev() {
            let inv_c = inv_scale[t + 1];
            let bb = bb.as_mut();
            scaled_products(&b[(t + 1) * n..][..n], beta_next.as_ref(), bb);
            beta_row(s, trans, bb, inv_c, beta.as_mut());
            let alpha = &mut alpha[t * n..][..n];
            for i in 0..n {
                let ai = alpha[i] * inv_c;
                for j in 0..n {
                    xi[i * n + j] += ai * trans[i * n + j] * bb[j];
                }
            }
            for (a, &beta) in alpha.iter_mut().zip(beta.as_ref()) {
                *a *= beta;
            }
            std::mem::swap(&mut beta, &mut beta_next);
        }
        xi_sum
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

/// `LL = Σ_t (ln c_t + m_t)` as docs/regime.md computes it: the `c_t` are
/// multiplied together and the product's logarithm taken only when it would
/// fall below [`LogLikelihood::FLOOR`], so that `ln` runs once every few
/// hundred rows rather than on every row (it was an eighth of an EM step).
struct LogLikelihood {
    /// `Σ m_t` so far.
    max_sum: f64,
    /// Sum of the logarithms of the finished products.
    log_sum: f64,
    /// Product of the `c_t` since the last logarithm.
    product: f64,
}

impl LogLikelihood {
    /// Far above the smallest normal number (1e-308), so a product that
    /// stays at or above it has lost no precision to underflow.
    const FLOOR: f64 = 1e-270;

    fn new() -> Self {
        LogLikelihood { max_sum: 0.0, log_sum: 0.0, product: 1.0 }
    }

    #[inline(always)]
    fn add(&mut self, c: f64, m: f64) {
        self.max_sum += m;
        let product = self.product * c;
        if product < Self::FLOOR {
            self.log_sum += self.product.ln();
            self.product = c;
        } else {
            self.product = product;
        }
    }

    fn total(&self) -> f64 {
        (self.log_sum + self.product.ln()) + self.max_sum
    }
}

/// The model's sizes, known at compile time for the common small models (so
/// that the per-sample loops over states and features unroll, lose their
/// bounds checks and keep per-sample vectors in registers) or at run time.
/// Every pass is written once, generic over this.
trait Shape: Copy {
    /// One value per state.
    type States: AsRef<[f64]> + AsMut<[f64]>;
    /// Number of states, N.
    fn n(self) -> usize;
    /// Number of features, D.
    fn d(self) -> usize;
    /// N zeros.
    fn states(self) -> Self::States;
}

#[derive(Clone, Copy)]
struct Fixed<const N: usize, const D: usize>;

impl<const N: usize, const D: usize> Shape for Fixed<N, D> {
    type States = [f64; N];
    fn n(self) -> usize {
        N
    }
    fn d(self) -> usize {
        D
    }
    fn states(self) -> [f64; N] {
        [0.0; N]
    }
}

#[derive(Clone, Copy)]
struct Sizes {
    n: usize,
    d: usize,
}

impl Shape for Sizes {
    type States = Vec<f64>;
    fn n(self) -> usize {
        self.n
    }
    fn d(self) -> usize {
        self.d
    }
    fn states(self) -> Vec<f64> {
        vec![0.0; self.n]
    }
}

/// Evaluates `$body` with `$s` bound to the [`Shape`] of an `$n`-state,
/// `$d`-feature model: [`Fixed`] for 2–4 states and 1–5 features (the
/// regime detector's model is 3 × 5), [`Sizes`] otherwise. The results are the same either way, only the speed differs.
macro_rules! with_shape {
    ($n:expr, $d:expr, |$s:ident| $body:expr) => {
        with_shape!(@match ($n, $d), $s, $body;
            (2, 1) (2, 2) (2, 3) (2, 4) (2, 5) (3, 1) (3, 2) (3, 3) (3, 4) (3, 5)
            (4, 1) (4, 2) (4, 3) (4, 4) (4, 5))
    };
    (@match $shape:expr, $s:ident, $body:expr; $(($n:literal, $d:literal))*) => {
        match $shape {
            $(($n, $d) => {
                let $s = Fixed::<$n, $d>;
                $body
            })*
            (n, d) => {
                let $s = Sizes { n, d };
                $body
            }
        }
    };
}
use with_shape;

/// The model's parameters as row-major slices, for the per-sample loops.
struct FlatParams<'a> {
    start: &'a [f64],
    trans: &'a [f64],
    means: &'a [f64],
    log_norm: &'a [f64],
    inv_var: &'a [f64],
}

/// `out[j] = log_b[t][j]` for the observation `x` (docs/regime.md, Emission
/// log-density).
///
/// Here and below, sums start from `-0.0` where docs/regime.md says `0.0`:
/// `-0.0 + x` is exactly `x`, so the compiler drops that addition from the
/// chain, whereas `0.0 + x` differs from `x` when `x` is `-0.0`, which no
/// first term here can be. The results are the same bits.
#[inline(always)]
fn log_densities<S: Shape>(s: S, p: &FlatParams, x: &[f64], out: &mut [f64]) {
    let (n, d) = (s.n(), s.d());
    let x = &x[..d];
    for (j, out) in out[..n].iter_mut().enumerate() {
        let (mu, ln, iv) = (&p.means[j * d..][..d], &p.log_norm[j * d..][..d], &p.inv_var[j * d..][..d]);
        let mut acc = -0.0;
        for k in 0..d {
            let diff = x[k] - mu[k];
            acc += ln[k] + diff * diff * iv[k];
        }
        *out = -0.5 * acc;
    }
}

/// `out[j] = u[j] · v[j]`; returns `Σ_j out[j]` in order of `j`.
#[inline(always)]
fn scaled_products(u: &[f64], v: &[f64], out: &mut [f64]) -> f64 {
    let mut sum = -0.0;
    for ((out, &u), &v) in out.iter_mut().zip(u).zip(v) {
        *out = u * v;
        sum += *out;
    }
    sum
}

/// `prior[j] = Σ_i alpha[i] · trans[i][j]`, in order of `i`.
#[inline(always)]
fn next_prior<S: Shape>(s: S, trans: &[f64], alpha: &[f64], prior: &mut [f64]) {
    let n = s.n();
    for j in 0..n {
        let mut sum = -0.0;
        for i in 0..n {
            sum += alpha[i] * trans[i * n + j];
        }
        prior[j] = sum;
    }
}

/// `beta[i] = (Σ_j trans[i][j] · bb[j]) · inv_c`, the sum in order of `j`.
#[inline(always)]
fn beta_row<S: Shape>(s: S, trans: &[f64], bb: &[f64], inv_c: f64, beta: &mut [f64]) {
    let n = s.n();
    for i in 0..n {
        let mut sum = -0.0;
        for j in 0..n {
            sum += trans[i * n + j] * bb[j];
        }
        beta[i] = sum * inv_c;
    }
}

/// State weights `w[i] = Σ_t gamma[t][i]` and mean numerators
/// `Σ_t gamma[t][i] · x_t[d]` (N × D), summed in order of `t`.
#[inline(never)]
fn weighted_sums<S: Shape>(s: S, x: &[f64], gamma: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = (s.n(), s.d());
    let (mut weight, mut mean_num) = (vec![0.0; n], vec![0.0; n * d]);
    let (w, num) = (&mut weight[..n], &mut mean_num[..n * d]);
    for t in 0..gamma.len() / n {
        let (xt, g) = (&x[t * d..][..d], &gamma[t * n..][..n]);
        for i in 0..n {
            w[i] += g[i];
            for k in 0..d {
                num[i * d + k] += g[i] * xt[k];
            }
        }
    }
    (weight, mean_num)
}

/// Variance numerators `Σ_t gamma[t][i] · ((x_t[d] − means[i][d])²)`
/// (N × D), summed in order of `t`.
#[inline(never)]
fn squared_deviations<S: Shape>(s: S, x: &[f64], gamma: &[f64], means: &[f64]) -> Vec<f64> {
    let (n, d) = (s.n(), s.d());
    let mut var_num = vec![0.0; n * d];
    let (num, means) = (&mut var_num[..n * d], &means[..n * d]);
    for t in 0..gamma.len() / n {
        let (xt, g) = (&x[t * d..][..d], &gamma[t * n..][..n]);
        for i in 0..n {
            for k in 0..d {
                let diff = xt[k] - means[i * d + k];
                num[i * d + k] += g[i] * (diff * diff);
            }
        }
    }
    var_num
}

/// Whether every value is finite. Runs every check in a block of values
/// rather than stopping at the first bad one, so that the compiler
/// vectorises it: each EM step checks its observations, and an early-exit
/// loop over 800,000 values cost 3% of a step.
fn all_finite(x: &[f64]) -> bool {
    x.chunks(1024).all(|block| block.iter().fold(true, |ok, v| ok & v.is_finite()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// A random valid model: sticky transitions, means in ±2, variances in 0.2..1.2.
    fn model(n: usize, d: usize, rng: &mut StdRng) -> GaussianHmm {
        let start = Array1::from_shape_fn(n, |_| rng.gen_range(0.1..1.0));
        let start = &start / start.sum();
        let mut trans = Array2::from_shape_fn((n, n), |(i, j)| if i == j { 4.0 } else { rng.gen_range(0.1..1.0) });
        for mut row in trans.rows_mut() {
            let sum = row.sum();
            row /= sum;
        }
        let means = Array2::from_shape_fn((n, d), |_| rng.gen_range(-2.0..2.0));
        let vars = Array2::from_shape_fn((n, d), |_| rng.gen_range(0.2..1.2));
        GaussianHmm::new(HmmParams { start, trans, means, vars }).unwrap()
    }

    #[test]
    fn compile_time_and_run_time_shapes_give_the_same_bits() {
        let mut rng = StdRng::seed_from_u64(3);
        for (n, d) in [(2, 1), (3, 4), (4, 3), (2, 4)] {
            let (truth, start) = (model(n, d, &mut rng), model(n, d, &mut rng));
            let (obs, _) = truth.sample(700, &mut rng);
            let x = flat(&obs);
            // em_step_with picks the Fixed shape for these sizes.
            let (fixed, fixed_ll) = start.em_step_with(obs.view(), 1e-6, &mut EmWorkspace::new()).unwrap();
            let mut ws = EmWorkspace::new();
            ws.sized(obs.nrows(), n);
            let (sizes, sizes_ll) = start.em_step_in(Sizes { n, d }, x, 1e-6, &mut ws).unwrap();
            assert_eq!(fixed_ll.to_bits(), sizes_ll.to_bits(), "{n} x {d}");
            assert_eq!(fixed.params(), sizes.params(), "{n} x {d}");
        }
    }

    #[test]
    fn a_reused_workspace_gives_the_same_steps_as_a_fresh_one() {
        let mut rng = StdRng::seed_from_u64(4);
        let mut workspace = EmWorkspace::new();
        for (n, d, len) in [(3, 4, 500), (3, 4, 120), (5, 2, 300), (2, 1, 800), (3, 4, 500)] {
            let (truth, start) = (model(n, d, &mut rng), model(n, d, &mut rng));
            let (obs, _) = truth.sample(len, &mut rng);
            let (reused, reused_ll) = start.em_step_with(obs.view(), 1e-6, &mut workspace).unwrap();
            let (fresh, fresh_ll) = start.em_step(obs.view(), 1e-6).unwrap();
            assert_eq!(reused_ll.to_bits(), fresh_ll.to_bits());
            assert_eq!(reused.params(), fresh.params());
            assert_eq!(start.loglik_with(obs.view(), &mut workspace).unwrap().to_bits(), fresh_ll.to_bits());
        }
    }
}

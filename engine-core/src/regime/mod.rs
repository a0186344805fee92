//! Market regimes: a Gaussian hidden Markov model (`docs/regime.md`).

mod fit;
mod hmm;

pub use fit::{fit, Fit, FitOptions, Init};
pub use hmm::{EmWorkspace, Forward, GaussianHmm, HmmError, HmmParams};

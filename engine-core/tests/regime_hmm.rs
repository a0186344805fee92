//! The Gaussian HMM: hand-checked cases, recovery of a known model, no
//! underflow on long series, and properties over random models.

mod common;

use common::three_state_model;
use engine_core::regime::{fit, FitOptions, GaussianHmm, HmmError, HmmParams, Init};
use ndarray::{array, Array1, Array2};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[test]
fn one_state_log_likelihood_is_the_sum_of_gaussian_log_densities() {
    let model = GaussianHmm::new(HmmParams {
        start: array![1.0],
        trans: array![[1.0]],
        means: array![[1.0, -2.0]],
        vars: array![[4.0, 0.25]],
    })
    .unwrap();
    let obs = array![[0.0, -2.0], [3.0, -1.5], [1.0, -2.25]];
    let expected: f64 = obs
        .rows()
        .into_iter()
        .map(|x| {
            let lp = |v: f64, m: f64, s2: f64| -0.5 * ((2.0 * std::f64::consts::PI * s2).ln() + (v - m).powi(2) / s2);
            lp(x[0], 1.0, 4.0) + lp(x[1], -2.0, 0.25)
        })
        .sum();
    let forward = model.forward(obs.view()).unwrap();
    assert!((forward.loglik - expected).abs() < 1e-12, "{} vs {expected}", forward.loglik);
    assert!(forward.alpha.iter().all(|&a| a == 1.0));
    assert!(model.backward(&forward).iter().all(|&b| (b - 1.0).abs() < 1e-15));
}

#[test]
fn viterbi_follows_well_separated_states() {
    let model = GaussianHmm::new(HmmParams {
        start: array![0.5, 0.5],
        trans: array![[0.8, 0.2], [0.2, 0.8]],
        means: array![[-5.0], [5.0]],
        vars: array![[1.0], [1.0]],
    })
    .unwrap();
    let obs = array![[-5.1], [-4.8], [5.2], [4.9], [5.0], [-5.3]];
    assert_eq!(model.viterbi(obs.view()).unwrap(), vec![0, 0, 1, 1, 1, 0]);
    let gamma = model.posteriors(obs.view()).unwrap();
    for row in gamma.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-12);
    }
    assert!(gamma[[2, 1]] > 0.999);
}

#[test]
fn fitting_recovers_a_known_model() {
    let truth = three_state_model();
    let (obs, states) = truth.sample(3000, &mut StdRng::seed_from_u64(7));
    let fitted = fit(obs.view(), &FitOptions { max_iterations: 200, ..FitOptions::default() }).unwrap();
    let history = &fitted.loglik_history;
    for pair in history.windows(2) {
        assert!(pair[1] >= pair[0] - 1e-9 * pair[0].abs(), "log-likelihood fell: {pair:?}");
    }
    // k-means numbers states by their first feature's mean, as the truth does.
    let means = &fitted.model.params().means;
    for i in 0..3 {
        for d in 0..4 {
            let want = truth.params().means[[i, d]];
            assert!((means[[i, d]] - want).abs() < 0.1, "state {i} feature {d}: {} vs {want}", means[[i, d]]);
        }
    }
    let path = fitted.model.viterbi(obs.view()).unwrap();
    let right = path.iter().zip(&states).filter(|(a, b)| a == b).count();
    assert!(right as f64 / states.len() as f64 > 0.98, "{right} of {}", states.len());
    assert!(fitted.loglik() > truth.loglik(obs.view()).unwrap() - 1.0);
}

#[test]
fn explicit_initial_parameters_reproduce_a_fit_exactly() {
    let truth = three_state_model();
    let (obs, _) = truth.sample(800, &mut StdRng::seed_from_u64(3));
    let options = FitOptions {
        init: Init::Params(Box::new(truth.params().clone())),
        max_iterations: 10,
        ..FitOptions::default()
    };
    let a = fit(obs.view(), &options).unwrap();
    let b = fit(obs.view(), &options).unwrap();
    assert_eq!(a.model, b.model);
    assert_eq!(a.loglik_history, b.loglik_history);
}

#[test]
fn a_hundred_thousand_observations_do_not_underflow() {
    let truth = three_state_model();
    let (obs, _) = truth.sample(100_000, &mut StdRng::seed_from_u64(11));
    let forward = truth.forward(obs.view()).unwrap();
    assert!(forward.loglik.is_finite() && forward.loglik < 0.0);
    let beta = truth.backward(&forward);
    let gamma = &forward.alpha * &beta;
    for row in gamma.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-9);
    }
    let (next, ll) = truth.em_step(obs.view(), 1e-6).unwrap();
    assert_eq!(ll, forward.loglik);
    assert!(next.loglik(obs.view()).unwrap() >= ll - 1e-9 * ll.abs());
}

#[test]
fn bad_models_and_observations_are_refused_with_a_reason() {
    let bad_trans = GaussianHmm::new(HmmParams {
        start: array![0.5, 0.5],
        trans: array![[0.5, 0.4], [0.5, 0.5]],
        means: array![[0.0], [1.0]],
        vars: array![[1.0], [1.0]],
    });
    assert!(matches!(&bad_trans, Err(HmmError::BadModel(m)) if m.contains("trans row 0 sums to 0.9")), "{bad_trans:?}");
    let zero_var = GaussianHmm::new(HmmParams {
        start: array![1.0],
        trans: array![[1.0]],
        means: array![[0.0]],
        vars: array![[0.0]],
    });
    assert!(matches!(zero_var, Err(HmmError::BadModel(_))));
    let model = three_state_model();
    assert!(matches!(model.loglik(Array2::zeros((5, 3)).view()), Err(HmmError::BadObservations(_))));
    assert!(matches!(model.loglik(array![[0.0, f64::NAN, 0.0, 0.0]].view()), Err(HmmError::BadObservations(_))));
    assert!(matches!(model.loglik(Array2::zeros((0, 4)).view()), Err(HmmError::BadObservations(_))));
}

/// A random valid model with `n` states and `d` features.
fn model_strategy() -> impl Strategy<Value = GaussianHmm> {
    (1usize..=4, 1usize..=3).prop_flat_map(|(n, d)| {
        (
            prop::collection::vec(0.05f64..1.0, n),
            prop::collection::vec(0.05f64..1.0, n * n),
            prop::collection::vec(-3.0f64..3.0, n * d),
            prop::collection::vec(0.1f64..2.0, n * d),
        )
            .prop_map(move |(start, trans, means, vars)| {
                let start = Array1::from(start);
                let start = &start / start.sum();
                let mut trans = Array2::from_shape_vec((n, n), trans).unwrap();
                for mut row in trans.rows_mut() {
                    let s = row.sum();
                    row /= s;
                }
                GaussianHmm::new(HmmParams {
                    start,
                    trans,
                    means: Array2::from_shape_vec((n, d), means).unwrap(),
                    vars: Array2::from_shape_vec((n, d), vars).unwrap(),
                })
                .unwrap()
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn probabilities_stay_probabilities_and_em_never_loses_likelihood(
        model in model_strategy(), len in 2usize..80, seed in any::<u64>()
    ) {
        let (obs, _) = model.sample(len, &mut StdRng::seed_from_u64(seed));
        let gamma = model.posteriors(obs.view()).unwrap();
        for row in gamma.rows() {
            prop_assert!((row.sum() - 1.0).abs() < 1e-9);
        }
        let forward = model.forward(obs.view()).unwrap();
        for row in forward.alpha.rows() {
            prop_assert!((row.sum() - 1.0).abs() < 1e-9);
        }
        let mut current = model;
        let mut previous = f64::NEG_INFINITY;
        for _ in 0..6 {
            let (next, ll) = current.em_step(obs.view(), 1e-6).unwrap();
            prop_assert!(ll >= previous - 1e-9 * previous.abs().max(1.0), "{ll} after {previous}");
            for row in next.params().trans.rows() {
                prop_assert!((row.sum() - 1.0).abs() < 1e-9);
                prop_assert!(row.iter().all(|&p| p >= 0.0));
            }
            prop_assert!((next.params().start.sum() - 1.0).abs() < 1e-9);
            prop_assert!(next.params().vars.iter().all(|&v| v >= 1e-6));
            previous = ll;
            current = next;
        }
        prop_assert_eq!(current.viterbi(obs.view()).unwrap().len(), len);
    }
}

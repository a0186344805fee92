//! The Rust HMM and the OCaml sidecar's, from identical parameters and data:
//! the same numbers (1e-9 relative) after each of 20 EM iterations, and the
//! same Viterbi path.

mod common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use engine_core::regime::{GaussianHmm, HmmParams};
use engine_core::sidecar::{Sidecar, SidecarConfig};
use engine_core::tolerance::Tolerance;
use ndarray::{array, Array1, Array2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

/// A deliberately poor starting point, so that EM has work to do.
fn start_model() -> HmmParams {
    HmmParams {
        start: array![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
        trans: array![[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]],
        means: array![[-1.0, 0.0, 0.0, 0.5], [0.1, 0.2, -0.1, 0.0], [1.0, 0.5, 0.0, 1.0]],
        vars: array![[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]],
    }
}

fn model_json(p: &HmmParams) -> Value {
    let rows = |a: &Array2<f64>| a.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>();
    json!({"start": p.start.to_vec(), "trans": rows(&p.trans), "means": rows(&p.means), "vars": rows(&p.vars)})
}

fn params_of(v: &Value) -> HmmParams {
    let vec = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<f64>>();
    let mat = |v: &Value| {
        let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(vec).collect();
        let (r, c) = (rows.len(), rows[0].len());
        Array2::from_shape_vec((r, c), rows.concat()).unwrap()
    };
    HmmParams {
        start: Array1::from(vec(&v["start"])),
        trans: mat(&v["trans"]),
        means: mat(&v["means"]),
        vars: mat(&v["vars"]),
    }
}

fn observations_json(obs: &Array2<f64>) -> Value {
    let bytes: Vec<u8> = obs.iter().flat_map(|v| v.to_le_bytes()).collect();
    json!({"f64le": BASE64.encode(bytes), "dims": obs.ncols()})
}

fn assert_close(what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let tol = Tolerance::CROSS_CHECK;
    for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(tol.eq(*a, *b), "{what}[{k}]: Rust {a} vs OCaml {b}");
    }
}

fn assert_params_close(iteration: usize, ours: &HmmParams, theirs: &HmmParams) {
    let what = |part: &str| format!("iteration {iteration}: {part}");
    assert_close(&what("start"), &ours.start.to_vec(), &theirs.start.to_vec());
    assert_close(
        &what("trans"),
        &ours.trans.iter().copied().collect::<Vec<_>>(),
        &theirs.trans.iter().copied().collect::<Vec<_>>(),
    );
    assert_close(
        &what("means"),
        &ours.means.iter().copied().collect::<Vec<_>>(),
        &theirs.means.iter().copied().collect::<Vec<_>>(),
    );
    assert_close(
        &what("vars"),
        &ours.vars.iter().copied().collect::<Vec<_>>(),
        &theirs.vars.iter().copied().collect::<Vec<_>>(),
    );
}

#[tokio::test]
async fn rust_and_ocaml_agree_through_twenty_em_iterations_and_on_viterbi() {
    let mut config = SidecarConfig::new(common::sidecar_path());
    config.request_timeout = std::time::Duration::from_secs(60);
    let mut sidecar = Sidecar::start(config).await.unwrap();
    let (obs, _) = common::three_state_model().sample(2000, &mut StdRng::seed_from_u64(5));
    let observations = observations_json(&obs);

    // The passes themselves, on the starting model.
    let rust = GaussianHmm::new(start_model()).unwrap();
    let forward = rust.forward(obs.view()).unwrap();
    let reply = sidecar
        .request("hmm_forward", json!({"model": model_json(rust.params()), "observations": observations}))
        .await
        .unwrap();
    let alpha: Vec<f64> = reply["alpha"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    assert_close("alpha", &forward.alpha.iter().copied().collect::<Vec<_>>(), &alpha);
    assert_close("loglik", &[forward.loglik], &[reply["loglik"].as_f64().unwrap()]);
    let beta = rust.backward(&forward);
    let reply = sidecar
        .request("hmm_backward", json!({"model": model_json(rust.params()), "observations": observations}))
        .await
        .unwrap();
    let theirs: Vec<f64> = reply["beta"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    assert_close("beta", &beta.iter().copied().collect::<Vec<_>>(), &theirs);

    // Twenty EM iterations, each side from its own previous result.
    let mut ours = rust;
    let mut theirs = start_model();
    let mut lls = Vec::new();
    for iteration in 1..=20 {
        let (next, ll) = ours.em_step(obs.view(), 1e-6).unwrap();
        let reply = sidecar
            .request("hmm_em_step", json!({"model": model_json(&theirs), "observations": observations, "floor": 1e-6}))
            .await
            .unwrap();
        assert_close(&format!("iteration {iteration}: loglik"), &[ll], &[reply["loglik"].as_f64().unwrap()]);
        theirs = params_of(&reply["model"]);
        assert_params_close(iteration, next.params(), &theirs);
        lls.push(ll);
        ours = next;
    }
    assert!(lls.windows(2).all(|w| w[1] >= w[0] - 1e-9 * w[0].abs()), "EM never lost likelihood: {lls:?}");
    assert!(lls[19] > lls[0] + 100.0, "EM had work to do: {} -> {}", lls[0], lls[19]);

    let path = ours.viterbi(obs.view()).unwrap();
    let reply = sidecar
        .request("hmm_viterbi", json!({"model": model_json(ours.params()), "observations": observations}))
        .await
        .unwrap();
    let theirs: Vec<usize> = reply["path"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(path, theirs, "Viterbi paths differ");
}

//! `trading-engine regime fit` and `regime detect`, on real and synthetic bars.

use serde_json::Value;

mod common;
use common::{engine, shared_data, stderr, stdout, write_file};

const FIL: &str = "binance-vision-um/FILUSDT-1m-2023-08.csv";

fn fit_json(args: &[&str]) -> Value {
    let mut all = vec!["regime", "fit", "--json"];
    all.extend_from_slice(args);
    let out = engine(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("fit --json prints one JSON document")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn assert_fit_is_sound(fit: &Value, samples: u64) {
    assert_eq!(fit["samples"].as_u64(), Some(samples));
    let history = floats(&fit["loglik_history"]);
    assert_eq!(history.len() as u64, fit["iterations"].as_u64().unwrap());
    for pair in history.windows(2) {
        assert!(pair[1] >= pair[0] - 1e-6 * pair[0].abs(), "log-likelihood fell: {pair:?}");
    }
    assert!(fit["loglik"].as_f64().unwrap() >= *history.last().unwrap());
    let per_regime = &fit["samples_per_regime"];
    let counted: u64 = ["bearish", "ranging", "bullish"].iter().map(|r| per_regime[r].as_u64().unwrap()).sum();
    assert_eq!(counted, samples);
    let trans = fit["model"]["trans"].as_array().unwrap();
    assert_eq!(trans.len(), 3);
    for row in trans {
        assert!((floats(row).iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}

#[test]
fn fit_on_real_binance_bars() {
    let data = shared_data(FIL);
    let fit = fit_json(&["--data", data.to_str().unwrap()]);
    // 44,640 one-minute bars of August 2023, less the 34-bar warm-up.
    assert_fit_is_sound(&fit, 44_640 - 34);
    assert_eq!(fit["warmup_bars"].as_u64(), Some(34));
    assert_eq!(fit["starts"].as_array().unwrap().len(), 4);
    assert_eq!(fit["features"].as_array().unwrap().len(), 5);

    let out = engine(&["regime", "fit", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in ["log-likelihood per iteration", "final log-likelihood", "start probabilities", "transition matrix"]
    {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(text.contains("samples per regime (most likely path):  bearish "), "{text}");
}

#[test]
fn fit_on_synthetic_bars_and_reproduce_it_from_init() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.json");
    let fit = fit_json(&["--synthetic", "bars=6000,seed=3", "--save", model_path.to_str().unwrap()]);
    assert_fit_is_sound(&fit, 6_000 - 34);

    // The fitted parameters as --init: the first iteration starts from
    // exactly the log-likelihood the fit ended with.
    let init = write_file(dir.path(), "init.json", &fit["model"].to_string());
    let again = fit_json(&["--synthetic", "bars=6000,seed=3", "--init", init.to_str().unwrap(), "--iterations", "1"]);
    assert_eq!(again["loglik_history"][0].as_f64(), fit["loglik"].as_f64());
    // The same init twice gives the same fit, bit for bit.
    let args = ["--synthetic", "bars=6000,seed=3", "--init", init.to_str().unwrap(), "--iterations", "5"];
    assert_eq!(fit_json(&args), fit_json(&args));
    // A whole fit or snapshot file is taken too (its `model` object).
    let whole = write_file(dir.path(), "fit.json", &fit.to_string());
    let from_whole =
        fit_json(&["--synthetic", "bars=6000,seed=3", "--init", whole.to_str().unwrap(), "--iterations", "1"]);
    assert_eq!(from_whole["loglik_history"], again["loglik_history"]);

    // The saved model classifies other bars.
    let out = engine(&["regime", "detect", "--synthetic", "bars=500,seed=9", "--model", model_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "open_time,close,regime,confidence,bias,p_bearish,p_ranging,p_bullish,observations");
    assert_eq!(lines.len(), 501);
    assert!(lines[1..35].iter().all(|l| l.contains(",warmup,")));
    assert!(lines[35..].iter().all(|l| ["bearish", "ranging", "bullish"].iter().any(|r| l.contains(r))));
}

#[test]
fn fit_on_a_feature_matrix() {
    let dir = tempfile::tempdir().unwrap();
    // Two well separated clusters in two columns.
    let mut csv = String::from("ema_spread_pct,other\n");
    for i in 0..400 {
        let (a, b) = if (i / 50) % 2 == 0 { (-1.0, 0.0) } else { (1.0, 5.0) };
        csv.push_str(&format!("{},{}\n", a + ((i * 7) % 11) as f64 * 0.01, b + ((i * 3) % 5) as f64 * 0.01));
    }
    let path = write_file(dir.path(), "features.csv", &csv);
    let fit = fit_json(&["--features", path.to_str().unwrap(), "--states", "2"]);
    assert_eq!(fit["samples"].as_u64(), Some(400));
    assert_eq!(fit["normalizer"], Value::Null, "a ready matrix is used as is");
    assert_eq!(fit["samples_per_state"], serde_json::json!([200, 200]));
    assert_eq!(fit["samples_per_regime"]["bearish"].as_u64(), Some(200));
    assert_eq!(fit["samples_per_regime"]["bullish"].as_u64(), Some(200));
}

#[test]
fn bad_input_exits_2_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let features = write_file(dir.path(), "f.csv", "a,b\n1,2\n3,oops\n");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["fit".into(), "--features".into(), features.display().to_string()],
            "f.csv: line 3: column \"b\" is \"oops\"",
        ),
        (
            vec!["fit".into(), "--synthetic".into(), "bars=300".into()],
            "266 feature rows are too few to train on (at least 500",
        ),
        (
            vec![
                "fit".into(),
                "--synthetic".into(),
                "bars=800".into(),
                "--init".into(),
                write_file(dir.path(), "i.json", r#"{"start":[1],"trans":[[1]],"means":[[0,0]],"vars":[[1]]}"#)
                    .display()
                    .to_string(),
            ],
            "i.json: model: vars row 0 has 1 values, expected 2",
        ),
        (
            vec![
                "detect".into(),
                "--synthetic".into(),
                "bars=100".into(),
                "--model".into(),
                write_file(dir.path(), "m.json", "{\"format\": 1}").display().to_string(),
            ],
            "m.json: regime model snapshot: invalid type",
        ),
        (
            vec!["detect".into(), "--synthetic".into(), "bars=100".into(), "--timeframes".into(), "1m,7q".into()],
            "\"7q\" is not a bar interval",
        ),
        (
            vec!["fit".into(), "--synthetic".into(), "bars=1000".into(), "--states".into(), "0".into()],
            "states must be at least 1",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["regime".to_string()];
        all.extend(args);
        let out = engine(&all.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(2), "{all:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{all:?}: expected {expected:?} in {}", stderr(&out));
    }
    let out = engine(&["regime", "detect", "--synthetic", "bars=100", "--model", "/no/such/model.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("reading /no/such/model.json"), "{}", stderr(&out));
}

#[test]
fn detect_streams_json_lines_and_blends_timeframes() {
    let data = shared_data(FIL);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("regimes.jsonl");
    let out = engine(&[
        "regime",
        "detect",
        "--data",
        data.to_str().unwrap(),
        "--timeframes",
        "1m:0.5,15m:0.3,1h:0.2",
        "--format",
        "json",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&output).unwrap();
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 44_640);
    let classified: Vec<&Value> = rows.iter().filter(|r| r["regime"] != "warmup").collect();
    assert_eq!(classified.len(), 44_640 - 34, "the 1m detector classifies every bar after its warm-up");
    for row in classified {
        let p = &row["probabilities"];
        let sum: f64 = ["bearish", "ranging", "bullish"].iter().map(|r| p[r].as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        let bias = p["bullish"].as_f64().unwrap() - p["bearish"].as_f64().unwrap();
        assert!((row["bias"].as_f64().unwrap() - bias).abs() < 1e-12);
    }
}

//! The regime detector on synthetic bars with planted regimes: recovery,
//! online updates, retraining, snapshots and the multi-timeframe consensus.

use engine_core::market_data::Bar;
use engine_core::regime::{
    extract, DetectorConfig, FeatureConfig, Init, MarketRegime, MultiTimeframeDetector, RegimeDetector, RegimeError,
    Timeframe,
};
use engine_core::sources::synthetic::{generate, Regime, SyntheticConfig, SyntheticSeries};

fn planted(r: Regime) -> MarketRegime {
    match r {
        Regime::Bull => MarketRegime::Bullish,
        Regime::Range => MarketRegime::Ranging,
        Regime::Bear => MarketRegime::Bearish,
    }
}

fn series(seed: u64, bars: usize, start_ms: i64) -> SyntheticSeries {
    generate(&SyntheticConfig { seed, bars, start_ms, ..SyntheticConfig::default() })
}

/// Periods five times the defaults: the synthetic regimes last 200 to 2000
/// one-minute bars, longer than 9/21-bar EMAs see (docs/regime.md).
fn hours_config() -> DetectorConfig {
    DetectorConfig { features: FeatureConfig::default().scaled(5), ..DetectorConfig::default() }
}

fn agreement(regimes: impl Iterator<Item = (MarketRegime, Regime)>) -> f64 {
    let (mut same, mut total) = (0usize, 0usize);
    for (found, truth) in regimes {
        total += 1;
        same += usize::from(found == planted(truth));
    }
    same as f64 / total as f64
}

#[test]
fn recovers_planted_regimes_in_and_out_of_sample() {
    let train = series(42, 60_000, SyntheticConfig::default().start_ms);
    let mut detector = RegimeDetector::new(hours_config()).unwrap();
    detector.train(&train.bars).unwrap();
    let model = detector.model().unwrap();

    // In sample, the most likely path, after the detector's own mapping of
    // states to regimes (by mean EMA spread; no peeking at the truth).
    let features = extract(&train.bars, hours_config().features).unwrap();
    let decoded = model.decode(&features).unwrap();
    let in_sample = agreement(decoded.iter().enumerate().map(|(k, r)| (*r, train.regimes[features.first_bar + k])));

    // Out of sample, online: a different seed, filtered bar by bar.
    let next_start = train.bars.last().unwrap().open_time + 60_000;
    let test = series(1042, 60_000, next_start);
    let mut online = Vec::new();
    for (bar, truth) in test.bars.iter().zip(&test.regimes) {
        online.push((detector.push(bar).unwrap().expect("a trained detector has a state").regime, *truth));
    }
    let out_of_sample = agreement(online.into_iter());
    eprintln!("planted regime recovered: {in_sample:.3} in sample (Viterbi), {out_of_sample:.3} online out of sample");
    assert!(in_sample >= 0.90, "in-sample recovery {in_sample:.3} < 0.90");
    assert!(out_of_sample >= 0.90, "out-of-sample recovery {out_of_sample:.3} < 0.90");
}

fn trained(bars: &[Bar]) -> RegimeDetector {
    let mut detector = RegimeDetector::new(DetectorConfig::default()).unwrap();
    detector.train(bars).unwrap();
    detector
}

#[test]
fn training_needs_enough_samples_and_failures_leave_the_detector_as_it_was() {
    let short = series(3, 520, SyntheticConfig::default().start_ms);
    let mut detector = RegimeDetector::new(DetectorConfig::default()).unwrap();
    let err = detector.train(&short.bars).unwrap_err();
    // 520 bars less the 34-bar warm-up.
    assert_eq!(err, RegimeError::TooFewSamples { samples: 486, min: 500 });
    assert!(err.to_string().contains("486 feature rows are too few to train on (at least 500"), "{err}");
    assert!(detector.model().is_none() && detector.needs_retrain());
    assert_eq!(detector.push(&short.bars[0]).unwrap_err(), RegimeError::NotTrained);

    let ok = series(3, 3_000, SyntheticConfig::default().start_ms);
    detector.train(&ok.bars).unwrap();
    let before = detector.model().cloned();
    assert!(detector.train(&short.bars).is_err());
    assert_eq!(detector.model().cloned(), before);
}

#[test]
fn updates_take_in_only_new_bars_and_states_are_consistent() {
    let data = series(11, 4_000, SyntheticConfig::default().start_ms);
    let (train, live) = data.bars.split_at(3_000);
    let mut detector = trained(train);
    let after_training = detector.state().unwrap().clone();
    assert_eq!(after_training.observations, 3_000 - 34);
    assert_eq!(after_training.last_update, train.last().unwrap().open_time);

    // A 50-bar window sliding one bar at a time: one new observation each.
    let mut window: Vec<Bar> = train[train.len() - 49..].to_vec();
    for (k, bar) in live.iter().enumerate() {
        window.push(bar.clone());
        if window.len() > 50 {
            window.remove(0);
        }
        let state = detector.update(&window).unwrap().unwrap().clone();
        assert_eq!(state.observations, after_training.observations + k as u64 + 1);
        assert_eq!(state.last_update, bar.open_time);
        let p = state.probabilities;
        assert!((p.bearish + p.ranging + p.bullish - 1.0).abs() < 1e-12, "{p:?}");
        assert!((state.state_probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(state.confidence, p.get(state.regime));
        assert!(MarketRegime::ALL.iter().all(|r| p.get(*r) <= state.confidence));
        assert_eq!(state.bias, p.bullish - p.bearish);
    }
    // The same window again changes nothing.
    let last = detector.state().unwrap().clone();
    assert_eq!(detector.update(&window).unwrap(), Some(&last));
}

#[test]
fn bad_bars_are_reported_and_skipped() {
    let data = series(5, 3_200, SyntheticConfig::default().start_ms);
    let mut detector = trained(&data.bars[..3_000]);
    let mut window = data.bars[3_000..3_010].to_vec();
    window[4].close = f64::NAN;
    let err = detector.update(&window).unwrap_err();
    assert!(err.to_string().contains("close is NaN, expected a finite number above 0"), "{err}");
    assert_eq!(detector.state().unwrap().last_update, window[3].open_time);
    // The next update goes on after the bad bar.
    let state = detector.update(&window).unwrap().unwrap();
    assert_eq!(state.last_update, window[9].open_time);
    assert!(state.probabilities.bullish.is_finite());
}

#[test]
fn constant_prices_and_zero_volume_never_give_nan() {
    let bars: Vec<Bar> = (0..800).map(|i| Bar::new("FLAT".into(), i * 60_000, 10.0, 10.0, 10.0, 10.0, 0.0)).collect();
    let mut detector = RegimeDetector::new(DetectorConfig::default()).unwrap();
    detector.train(&bars).unwrap();
    let model = detector.model().unwrap();
    assert!(model.normalizer.std.iter().all(|s| *s == 1.0));
    let state = detector.state().unwrap();
    assert!(state.state_probabilities.iter().all(|p| p.is_finite()));
    assert!(state.bias.is_finite() && state.confidence.is_finite());
}

#[test]
fn needs_retrain_after_the_configured_market_time() {
    let data = series(8, 3_000, SyntheticConfig::default().start_ms);
    let config = DetectorConfig { retrain_interval_ms: 100 * 60_000, ..DetectorConfig::default() };
    let mut detector = RegimeDetector::new(config).unwrap();
    detector.train(&data.bars[..2_800]).unwrap();
    assert!(!detector.needs_retrain());
    detector.update(&data.bars[2_800..2_899]).unwrap();
    assert!(!detector.needs_retrain(), "99 minutes after training");
    detector.update(&data.bars[2_899..2_900]).unwrap();
    assert!(detector.needs_retrain(), "100 minutes after training");
    detector.train(&data.bars[..2_900]).unwrap();
    assert!(!detector.needs_retrain());
}

#[test]
fn snapshots_restore_the_same_classifications() {
    let data = series(21, 4_000, SyntheticConfig::default().start_ms);
    let mut original = RegimeDetector::new(DetectorConfig::default()).unwrap();
    let first = original.train(&data.bars[..3_000]).unwrap();
    let json = original.to_json().unwrap();
    let mut restored = RegimeDetector::from_json(&json).unwrap();
    assert_eq!(restored.model(), original.model());
    assert_eq!(restored.to_json().unwrap(), json, "a snapshot round-trips byte for byte");

    // Both classify a fresh series identically from its start.
    original.restart();
    for bar in &data.bars[3_000..] {
        let a = original.push(bar).unwrap().cloned();
        let b = restored.push(bar).unwrap().cloned();
        assert_eq!(a, b);
    }
    assert!(restored.state().is_some());

    // Starting from the snapshot's parameters on the same bars starts from
    // exactly the log-likelihood the first fit ended with.
    let params = Box::new(restored.model().unwrap().hmm.params().clone());
    let mut again = RegimeDetector::new(DetectorConfig { max_iterations: 1, ..DetectorConfig::default() }).unwrap();
    let training = again.train_from(&data.bars[..3_000], Init::Params(params)).unwrap();
    assert_eq!(training.start_logliks.len(), 1);
    assert_eq!(training.fit.loglik_history[0], first.fit.loglik());
}

#[test]
fn broken_snapshots_are_refused_with_the_reason() {
    let data = series(21, 3_000, SyntheticConfig::default().start_ms);
    let json = trained(&data.bars).to_json().unwrap();
    let cases = [
        (json.replace("\"version\": 1", "\"version\": 9"), "version 9 is not supported"),
        (json.replace("\"volatility_pct\"", "\"other\""), "features are"),
        (json.replace("\"restarts\"", "\"restart_count\""), "unknown field `restart_count`"),
        (json.replace("\"trained_until\"", "\"x\": 1, \"trained_until\""), "unknown field `x`"),
        (json[..json.len() / 2].to_string(), "EOF while parsing"),
    ];
    for (text, expected) in cases {
        let err = RegimeDetector::from_json(&text).unwrap_err().to_string();
        assert!(err.starts_with("regime model snapshot: ") && err.contains(expected), "{err}");
    }
}

#[test]
fn consensus_blends_timeframes_by_weight() {
    let data = series(42, 40_000, SyntheticConfig::default().start_ms);
    let (train, live) = data.bars.split_at(36_000);
    let timeframes = Timeframe::parse_list("1m:0.5,15m:0.3,1h:0.2").unwrap();
    let mut consensus = MultiTimeframeDetector::new(&timeframes, DetectorConfig::default()).unwrap();
    let fits = consensus.train(train).unwrap();
    assert_eq!(fits.len(), 3);
    let observations: Vec<u64> = consensus.detectors().map(|d| d.state().map_or(0, |s| s.observations)).collect();
    // 36,000 minutes: 2,400 quarter hours and 600 hours, less 34 warm-up bars each.
    assert_eq!(observations, vec![36_000 - 34, 2_400 - 34, 600 - 34]);

    for (k, bar) in live.iter().enumerate() {
        let state = consensus.update(std::slice::from_ref(bar)).unwrap().unwrap();
        let mut expected = [0.0; 3];
        for tf in &state.timeframes {
            let s = tf.state.as_ref().unwrap();
            for (e, r) in expected.iter_mut().zip(MarketRegime::ALL) {
                *e += tf.weight * s.probabilities.get(r);
            }
        }
        let b = &state.blended;
        for (e, r) in expected.iter().zip(MarketRegime::ALL) {
            assert!((b.probabilities.get(r) - e).abs() < 1e-12, "weights sum to 1");
        }
        assert_eq!(b.bias, b.probabilities.bullish - b.probabilities.bearish);
        assert_eq!(b.last_update, bar.open_time);
        // The 15m detector moves once per completed quarter hour.
        let quarter = state.timeframes[1].state.as_ref().unwrap();
        assert_eq!(quarter.observations, 2_400 - 34 + (k as u64 + 1) / 15);
    }

    // A timeframe without enough bars is named.
    let mut too_long =
        MultiTimeframeDetector::new(&Timeframe::parse_list("1m,4h").unwrap(), DetectorConfig::default()).unwrap();
    let err = too_long.train(train).unwrap_err().to_string();
    assert!(err.starts_with("4h bars: ") && err.contains("too few to train on"), "{err}");
}

//! The regime detector: `update` on a 50-bar window (a sliding window
//! bringing one new bar, and a cold window of 50 new bars after a restart),
//! feature extraction, and a training on 20,000 bars.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use engine_core::regime::{extract, DetectorConfig, RegimeDetector};
use engine_core::sources::synthetic::{generate, SyntheticConfig};

fn detector_update(c: &mut Criterion) {
    let series = generate(&SyntheticConfig { seed: 5, bars: 30_000, ..SyntheticConfig::default() });
    let (train, live) = series.bars.split_at(20_000);
    let mut trained = RegimeDetector::new(DetectorConfig::default()).unwrap();
    trained.train(train).unwrap();

    let mut group = c.benchmark_group("regime_update_50_bar_window");
    // Steady state: each call sees the window slid by one bar.
    group.bench_function("slide_by_one", |b| {
        let mut detector = trained.clone();
        let mut end = 50;
        b.iter(|| {
            if end > live.len() {
                detector = trained.clone();
                end = 50;
            }
            let state = detector.update(&live[end - 50..end]).unwrap().map(|s| s.bias);
            end += 1;
            state
        })
    });
    // Cold: a restarted detector takes in all 50 bars (34 warm the features up).
    group.bench_function("cold_50_bars", |b| {
        b.iter_batched_ref(
            || {
                let mut d = trained.clone();
                d.restart();
                d
            },
            |d| d.update(&live[..50]).unwrap().map(|s| s.bias),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("regime_features");
    group.throughput(Throughput::Elements(train.len() as u64));
    group.bench_function("extract_20000_bars", |b| b.iter(|| extract(train, DetectorConfig::default().features)));
    group.finish();

    let mut group = c.benchmark_group("regime_train");
    group.sample_size(10);
    group.bench_function("train_20000_bars_4_starts", |b| {
        b.iter(|| RegimeDetector::new(DetectorConfig::default()).unwrap().train(train).unwrap().samples)
    });
    group.finish();
}

criterion_group!(benches, detector_update);
criterion_main!(benches);

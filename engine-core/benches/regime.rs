//! Gaussian HMM: one EM iteration (3 states × 4 features) at 2,000, 20,000
//! and 200,000 samples, and a full fit of 5,000 samples.
//!
//! `hmm_em_step_3x4` measures `em_step_with` on a workspace kept across
//! iterations, as `fit` runs it; `hmm_em_step_alloc_3x4` measures `em_step`,
//! which allocates its scratch buffers (and faults in their pages) each call.

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine_core::regime::{fit, EmWorkspace, FitOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn em_iteration(c: &mut Criterion) {
    let truth = common::three_state_model();
    let mut group = c.benchmark_group("hmm_em_step_3x4");
    group.sample_size(10);
    for samples in [2_000usize, 20_000, 200_000] {
        let (obs, _) = truth.sample(samples, &mut StdRng::seed_from_u64(1));
        group.throughput(Throughput::Elements(samples as u64));
        let mut workspace = EmWorkspace::new();
        group.bench_with_input(BenchmarkId::from_parameter(samples), &obs, |b, obs| {
            b.iter(|| truth.em_step_with(obs.view(), 1e-6, &mut workspace).unwrap())
        });
    }
    group.finish();
    let mut group = c.benchmark_group("hmm_em_step_alloc_3x4");
    group.sample_size(10);
    let samples = 200_000;
    let (obs, _) = truth.sample(samples, &mut StdRng::seed_from_u64(1));
    group.throughput(Throughput::Elements(samples as u64));
    group.bench_with_input(BenchmarkId::from_parameter(samples), &obs, |b, obs| {
        b.iter(|| truth.em_step(obs.view(), 1e-6).unwrap())
    });
    group.finish();
    let (obs, _) = truth.sample(5_000, &mut StdRng::seed_from_u64(2));
    let options = FitOptions { max_iterations: 50, ..FitOptions::default() };
    c.bench_function("hmm_fit_5000", |b| b.iter(|| fit(obs.view(), &options).unwrap()));
}

criterion_group!(benches, em_iteration);
criterion_main!(benches);

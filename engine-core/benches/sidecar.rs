//! Round trip of one sidecar request: EMA(20) over 10,000 closes, including
//! JSON encoding, the pipe both ways, the OCaml computation and decoding.
//! Needs the sidecar built (`dune build --root ocaml-indicators`).

use criterion::{criterion_group, criterion_main, Criterion};
use engine_core::indicators::IndicatorSpec;
use engine_core::sidecar::{self, Sidecar, SidecarConfig};
use engine_core::sources::{generate, SyntheticConfig};

fn sidecar_round_trip(c: &mut Criterion) {
    let config = SidecarConfig::default();
    assert!(
        config.program.is_file(),
        "build the sidecar first: dune build --root ocaml-indicators ({} missing)",
        config.program.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut sidecar = runtime.block_on(Sidecar::start(config)).unwrap();
    let bars = generate(&SyntheticConfig { bars: 10_000, ..SyntheticConfig::default() }).bars;
    let spec: IndicatorSpec = "ema:20".parse().unwrap();
    c.bench_function("sidecar/ema20_10k_round_trip", |b| {
        b.iter(|| runtime.block_on(sidecar::compute(&mut sidecar, &spec, &bars)).unwrap())
    });
    let ping = serde_json::json!({});
    c.bench_function("sidecar/ping_round_trip", |b| {
        b.iter(|| runtime.block_on(sidecar.request("ping", ping.clone())).unwrap())
    });
}

criterion_group!(benches, sidecar_round_trip);
criterion_main!(benches);

//! Indicator benchmarks: streaming update cost (one `next` per iteration on
//! a pre-generated series) and batch cost on 1M values.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine_core::indicators::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Length of the pre-generated streaming series (a power of two, so the
/// cursor wraps with a mask).
const STREAM_LEN: usize = 1 << 16;
const BATCH_LEN: usize = 1_000_000;

struct Ohlcv {
    time: Vec<i64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

fn walk(len: usize) -> Ohlcv {
    let mut rng = StdRng::seed_from_u64(42);
    let mut price = 1000.0f64;
    let mut s = Ohlcv { time: vec![], high: vec![], low: vec![], close: vec![], volume: vec![] };
    for i in 0..len {
        price = (price + rng.gen_range(-2.0..2.0)).max(1.0);
        s.time.push(i as i64 * 60_000);
        s.high.push(price + rng.gen_range(0.0..1.5));
        s.low.push(price - rng.gen_range(0.0..1.5));
        s.close.push(price);
        s.volume.push(rng.gen_range(1.0..100.0));
    }
    s
}

/// Benchmarks one streaming update per iteration: `step(state, i)` feeds
/// bar `i` of the series.
fn stream<T>(c: &mut Criterion, name: &str, mut state: T, mut step: impl FnMut(&mut T, usize) -> Option<f64>) {
    let mut i = 0usize;
    c.bench_function(&format!("stream/{name}"), |b| {
        b.iter(|| {
            i = (i + 1) & (STREAM_LEN - 1);
            black_box(step(&mut state, i))
        })
    });
}

fn streaming(c: &mut Criterion) {
    let s = walk(STREAM_LEN);
    let (h, l, cl, v, t) = (&s.high, &s.low, &s.close, &s.volume, &s.time);
    stream(c, "sma(20)", Sma::new(20).unwrap(), |m, i| m.next(cl[i]));
    stream(c, "ema(20)", Ema::new(20).unwrap(), |m, i| m.next(cl[i]));
    stream(c, "wma(20)", Wma::new(20).unwrap(), |m, i| m.next(cl[i]));
    stream(c, "rsi(14)", Rsi::new(14).unwrap(), |m, i| m.next(cl[i]));
    stream(c, "macd(12,26,9)", Macd::new(12, 26, 9).unwrap(), |m, i| m.next(cl[i]).and_then(|v| v.hist));
    stream(c, "bollinger(20,2)", Bollinger::new(20, 2.0).unwrap(), |m, i| m.next(cl[i]).map(|v| v.upper));
    stream(c, "atr(14)", Atr::new(14).unwrap(), |m, i| m.next(h[i], l[i], cl[i]));
    stream(c, "vwap(20)", Vwap::new(20).unwrap(), |m, i| m.next(h[i], l[i], cl[i], v[i]));
    stream(c, "vwap_session(1440,0)", SessionVwap::new(1440, 0).unwrap(), |m, i| m.next(t[i], h[i], l[i], cl[i], v[i]));
    stream(c, "stoch(14,3,3)", Stoch::new(14, 3, 3).unwrap(), |m, i| m.next(h[i], l[i], cl[i]).and_then(|v| v.d));
    stream(c, "adx(14)", Adx::new(14).unwrap(), |m, i| m.next(h[i], l[i], cl[i]).and_then(|v| v.adx));
    stream(c, "obv", Obv::new(), |m, i| m.next(cl[i], v[i]));
    stream(c, "cci(20)", Cci::new(20).unwrap(), |m, i| m.next(h[i], l[i], cl[i]));
    stream(c, "willr(14)", WillR::new(14).unwrap(), |m, i| m.next(h[i], l[i], cl[i]));
    stream(c, "roc(10)", Roc::new(10).unwrap(), |m, i| m.next(cl[i]));
    stream(c, "stddev(20)", StdDev::new(20).unwrap(), |m, i| m.next(cl[i]));
}

fn batch(c: &mut Criterion) {
    let s = walk(BATCH_LEN);
    let mut g = c.benchmark_group("batch_1m");
    g.throughput(Throughput::Elements(BATCH_LEN as u64));
    g.sample_size(20);
    g.bench_function(BenchmarkId::new("ema", 20), |b| b.iter(|| ema(black_box(&s.close), 20)));
    g.bench_function(BenchmarkId::new("rsi", 14), |b| b.iter(|| rsi(black_box(&s.close), 14)));
    g.bench_function(BenchmarkId::new("atr", 14), |b| {
        b.iter(|| atr(black_box(&s.high), black_box(&s.low), black_box(&s.close), 14))
    });
    g.finish();
}

criterion_group!(benches, streaming, batch);
criterion_main!(benches);

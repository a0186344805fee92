//! Loader throughput: a 300,000-row Binance kline CSV generated from the
//! synthetic source, and the real `FILUSDT-1m-2023-08.csv` when present.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine_core::sources::{generate, load_file, LoadOptions, SyntheticConfig};

const ROWS: usize = 300_000;

/// Writes synthetic bars in the data.binance.vision USD-M layout, header included.
fn write_binance_csv(path: &Path, rows: usize) {
    let series = generate(&SyntheticConfig { bars: rows, start_price: 4.255, ..SyntheticConfig::default() });
    let mut text = String::with_capacity(rows * 100);
    text.push_str("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n");
    for bar in &series.bars {
        let quote = bar.volume * bar.close;
        // Prices with 4 decimals like the real files; rounding is monotonic, so bars stay valid.
        writeln!(
            text,
            "{},{:.4},{:.4},{:.4},{:.4},{:.1},{},{:.4},{},{:.1},{:.4},0",
            bar.open_time,
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.volume,
            bar.close_time.expect("synthetic bars have a close time"),
            quote,
            (bar.volume / 50.0) as u64 + 1,
            bar.volume * 0.5,
            quote * 0.5,
        )
        .expect("writing to a String cannot fail");
    }
    std::fs::write(path, text).expect("write the generated CSV");
}

fn bench_loading(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = dir.path().join("SYNTHUSDT-1m-generated.csv");
    write_binance_csv(&generated, ROWS);
    let options = LoadOptions::default();
    assert_eq!(load_file(&generated, &options).expect("generated file loads").bars.len(), ROWS);

    let mut group = c.benchmark_group("load_binance_csv");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("synthetic_300k", |b| b.iter(|| load_file(&generated, &options).expect("loads")));

    let real: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "..", "..", "shared", "data", "binance-vision-um", "FILUSDT-1m-2023-08.csv"]
            .iter()
            .collect();
    if real.exists() {
        let rows = load_file(&real, &options).expect("FILUSDT loads").bars.len();
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function("filusdt_2023_08", |b| b.iter(|| load_file(&real, &options).expect("loads")));
    }
    group.finish();
}

criterion_group!(benches, bench_loading);
criterion_main!(benches);

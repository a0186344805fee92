//! The session event log: the 1,000,000-bar engine benchmark
//! (`ema_crossover.lua`, one symbol, a 1-worker runtime) with recording off
//! and recording a session in full, delta and delta + lz4 storage
//! (indicators recorded, buffered durability); and a `SessionReader`
//! decoding every record of a recorded 1M-bar session (`read_1m`), beside
//! the log layer alone reading the same records undecoded (`frames_1m`).
//!
//! Setup also prints, once, each storage mode's log size per event and per
//! million bars (indicators recorded, and recomputed on read).

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use engine_core::engine::{AccountMode, EngineConfig, Recording, RunnerSpec, TradingEngine};
use engine_core::events::codec::Storage;
use engine_core::events::log::{index_path, Compression, Durability, LogReader, WriterOptions};
use engine_core::events::session::{
    IndicatorRecording, Manifest, RecorderOptions, SessionReader, SessionRecorder, SessionStatus, EVENTS_FILE,
};
use engine_core::market_data::Bar;
use engine_core::runner::RunnerConfig;
use engine_core::sources::{generate, HistoricalSource, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, LuaStrategy, Strategy};

const BARS: usize = 1_000_000;
const SYMBOL: &str = "S0";

fn lua(symbol: &str) -> Box<dyn Strategy> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    Box::new(LuaStrategy::load(&file, symbol, CtxValue::empty_table(), SandboxLimits::default(), 500).unwrap())
}

/// The engine bench's engine: one Lua runner, in-memory recording off.
fn engine(bars: &[Bar]) -> TradingEngine {
    let recording = Recording { events: false, equity: false, prices: false };
    let mut engine =
        TradingEngine::new(EngineConfig { accounts: AccountMode::Shared, recording, ..EngineConfig::default() });
    engine.add_runner(RunnerSpec {
        symbol: SYMBOL.into(),
        strategy: lua(SYMBOL),
        source: Box::new(HistoricalSource::new(SYMBOL, bars.to_vec())),
        config: RunnerConfig::default(),
        regime: None,
    });
    engine
}

fn manifest(id: &str) -> Manifest {
    let mut m = Manifest::new(id, "backtest", "2026-11-22T00:00:00.000Z");
    m.config = serde_json::json!({ "engine": { "accounts": "shared" } });
    m
}

/// A storage mode as benchmarked: buffered writes, a snapshot every 10,000 records.
#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    storage: Storage,
    compression: Compression,
    indicators: IndicatorRecording,
}

impl Mode {
    fn options(&self) -> RecorderOptions {
        RecorderOptions {
            storage: self.storage,
            snapshot_every: 10_000,
            indicators: self.indicators,
            writer: WriterOptions {
                compression: self.compression,
                durability: Durability::Buffered,
                ..WriterOptions::default()
            },
            ..RecorderOptions::default()
        }
    }
}

const fn mode(name: &'static str, storage: Storage, compression: Compression, indicators: IndicatorRecording) -> Mode {
    Mode { name, storage, compression, indicators }
}

const FULL: Mode = mode("full", Storage::Full, Compression::None, IndicatorRecording::Record);
const DELTA: Mode = mode("delta", Storage::Delta, Compression::None, IndicatorRecording::Record);
const DELTA_LZ4: Mode = mode("delta_lz4", Storage::Delta, Compression::Lz4, IndicatorRecording::Record);
const FULL_RECOMPUTE: Mode = mode("full_recompute", Storage::Full, Compression::None, IndicatorRecording::Recompute);
const DELTA_RECOMPUTE: Mode = mode("delta_recompute", Storage::Delta, Compression::None, IndicatorRecording::Recompute);

/// An engine with a fresh session `id` under `dir` connected to it.
fn recording_engine(bars: &[Bar], dir: &Path, id: &str, mode: Mode) -> (TradingEngine, SessionRecorder) {
    let mut engine = engine(bars);
    let mut recorder = SessionRecorder::create(dir, manifest(id), mode.options()).unwrap();
    engine.record_to(&mut recorder);
    (engine, recorder)
}

/// Runs the engine to the end and finishes the session (the writer thread
/// drains its queue, the log and index are fsynced, the manifest rewritten).
fn run_recorded(runtime: &tokio::runtime::Runtime, (engine, recorder): (TradingEngine, SessionRecorder)) -> Manifest {
    let report = runtime.block_on(engine.run());
    assert_eq!(report.log_error, None);
    let manifest = recorder.finish(SessionStatus::Completed, None, "end".into());
    assert_eq!(manifest.status, SessionStatus::Completed, "{:?}", manifest.error);
    manifest
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn data() -> Vec<Bar> {
    let config = SyntheticConfig { symbol: SYMBOL.into(), seed: 0, bars: BARS, ..SyntheticConfig::default() };
    generate(&config).bars
}

fn recording(c: &mut Criterion) {
    let bars = data();
    let runtime = runtime();
    let sessions = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("event_log_1m_bars");
    group.throughput(Throughput::Elements(BARS as u64));
    group.sample_size(10);
    group.bench_function("off", |b| {
        b.iter_batched(|| engine(&bars), |engine| runtime.block_on(engine.run()), BatchSize::PerIteration)
    });
    for mode in [FULL, DELTA, DELTA_LZ4] {
        let mut run = 0u64;
        let mut previous: Option<PathBuf> = None;
        group.bench_function(mode.name, |b| {
            b.iter_batched(
                || {
                    // The last iteration's session goes before this one is timed.
                    if let Some(dir) = previous.take() {
                        std::fs::remove_dir_all(dir).unwrap();
                    }
                    run += 1;
                    let id = format!("{}-{run}", mode.name);
                    previous = Some(sessions.path().join(&id));
                    recording_engine(&bars, sessions.path(), &id, mode)
                },
                |parts| run_recorded(&runtime, parts),
                BatchSize::PerIteration,
            )
        });
        if let Some(dir) = previous.take() {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
    group.finish();
}

struct Recorded {
    mode: Mode,
    id: String,
    records: u64,
    log_bytes: u64,
    index_bytes: u64,
    seconds: f64,
}

/// Records a 1M-bar session in every mode (once), prints the sizes, and
/// benchmarks reading back the full, delta and delta + lz4 ones.
fn replay(c: &mut Criterion) {
    let bars = data();
    let runtime = runtime();
    let sessions = tempfile::tempdir().unwrap();
    let mut recorded = Vec::new();
    for mode in [FULL, DELTA, DELTA_LZ4, FULL_RECOMPUTE, DELTA_RECOMPUTE] {
        let id = mode.name.to_string();
        let parts = recording_engine(&bars, sessions.path(), &id, mode);
        let start = Instant::now();
        let manifest = run_recorded(&runtime, parts);
        let seconds = start.elapsed().as_secs_f64();
        let log = sessions.path().join(&id).join(EVENTS_FILE);
        let log_bytes = std::fs::metadata(&log).unwrap().len();
        let index_bytes = std::fs::metadata(index_path(&log)).unwrap().len();
        recorded.push(Recorded { mode, id, records: manifest.records, log_bytes, index_bytes, seconds });
    }
    eprintln!();
    eprintln!("event log size, {BARS} bars of ema_crossover.lua (snapshot every 10,000 records):");
    eprintln!(
        "{:<16} {:>9} {:>14} {:>10} {:>14} {:>11} {:>9}",
        "mode", "records", "events.log B", "B/record", "MB/1M bars", "index B", "run s"
    );
    for r in &recorded {
        eprintln!(
            "{:<16} {:>9} {:>14} {:>10.1} {:>14.1} {:>11} {:>9.2}",
            r.mode.name,
            r.records,
            r.log_bytes,
            r.log_bytes as f64 / r.records as f64,
            r.log_bytes as f64 / 1e6 * (1_000_000.0 / BARS as f64),
            r.index_bytes,
            r.seconds,
        );
    }
    eprintln!();

    let mut group = c.benchmark_group("event_log_replay");
    group.sample_size(10);
    for r in recorded.iter().filter(|r| r.mode.indicators == IndicatorRecording::Record) {
        group.throughput(Throughput::Elements(r.records));
        group.bench_with_input(BenchmarkId::new("read_1m", r.mode.name), &r.id, |b, id| {
            b.iter(|| {
                let mut reader = SessionReader::open(sessions.path(), id).unwrap();
                let mut events = 0u64;
                while let Some(event) = reader.advance().unwrap() {
                    black_box(&event);
                    events += 1;
                }
                assert_eq!(events, r.records);
                events
            })
        });
        // The log layer alone (framing, checksums, lz4), no decoding: what
        // the codec's share of `read_1m` is measured against.
        let log = sessions.path().join(&r.id).join(EVENTS_FILE);
        group.bench_with_input(BenchmarkId::new("frames_1m", r.mode.name), &log, |b, log| {
            b.iter(|| {
                let mut reader = LogReader::open(log).unwrap();
                let mut payload = Vec::new();
                let mut records = 0u64;
                while let Some(header) = reader.next_into(&mut payload).unwrap() {
                    black_box((&header, &payload));
                    records += 1;
                }
                assert_eq!(records, r.records);
                records
            })
        });
    }
    group.finish();
}

criterion_group!(benches, recording, replay);
criterion_main!(benches);

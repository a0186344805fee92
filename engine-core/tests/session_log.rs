//! Recorded sessions: the same backtest gives the same log, a live (paper)
//! session replayed through the historical runner decides the same, full
//! and delta storage decode to the same steps, seeks land on the right
//! state, recomputed indicators equal recorded ones, and damaged logs are
//! read as far as they are intact.

use std::path::Path;
use std::time::Duration;

use engine_core::content_hash::StreamHash;
use engine_core::engine::{AccountMode, EngineConfig, Recording, RunMode, RunnerSpec, TradingEngine};
use engine_core::events::codec::{Entry, Storage};
use engine_core::events::compare::compare;
use engine_core::events::log::{Compression, Durability, LogReader, WriterOptions};
use engine_core::events::session::{
    IndicatorRecording, Manifest, RecorderOptions, SessionError, SessionReader, SessionRecorder, SessionStatus,
    EVENTS_FILE,
};
use engine_core::events::StepRecord;
use engine_core::market_data::Bar;
use engine_core::runner::RunnerConfig;
use engine_core::sources::{generate, HistoricalSource, MarketDataSource, PushedSource, SyntheticConfig};
use engine_core::strategy::sandbox::SandboxLimits;
use engine_core::strategy::{CtxValue, LuaStrategy, Strategy};

fn bars(symbol: &str, seed: u64, n: usize) -> Vec<Bar> {
    generate(&SyntheticConfig { symbol: symbol.into(), seed, bars: n, ..SyntheticConfig::default() }).bars
}

fn lua(symbol: &str) -> Box<dyn Strategy> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua-strategies/ema_crossover.lua");
    Box::new(LuaStrategy::load(&file, symbol, CtxValue::empty_table(), SandboxLimits::default(), 500).unwrap())
}

fn manifest(id: &str) -> Manifest {
    let mut m = Manifest::new(id, "backtest", "2026-11-22T00:00:00.000Z");
    m.config = serde_json::json!({ "engine": { "accounts": "shared" } });
    m
}

fn options(storage: Storage, snapshot_every: u64) -> RecorderOptions {
    RecorderOptions {
        storage,
        snapshot_every,
        writer: WriterOptions { durability: Durability::Buffered, ..WriterOptions::default() },
        ..RecorderOptions::default()
    }
}

/// Runs `series` (one Lua runner per symbol) and records it as session `id`.
async fn record(
    dir: &Path,
    id: &str,
    series: Vec<(String, Box<dyn MarketDataSource>)>,
    accounts: AccountMode,
    mode: RunMode,
    options: RecorderOptions,
) -> Manifest {
    let recording = Recording { events: false, equity: false, prices: false };
    let mut engine = TradingEngine::new(EngineConfig { mode, accounts, recording, ..EngineConfig::default() });
    for (symbol, source) in series {
        engine.add_runner(RunnerSpec {
            strategy: lua(&symbol),
            symbol,
            source,
            config: RunnerConfig::default(),
            regime: None,
        });
    }
    let mut recorder = SessionRecorder::create(dir, manifest(id), options).unwrap();
    engine.record_to(&mut recorder);
    let report = engine.run().await;
    assert_eq!(report.log_error, None);
    let manifest = recorder.finish(SessionStatus::Completed, None, "end".into());
    assert_eq!(manifest.status, SessionStatus::Completed, "{:?}", manifest.error);
    manifest
}

fn historical(symbols: &[(&str, u64)], n: usize) -> Vec<(String, Box<dyn MarketDataSource>)> {
    symbols
        .iter()
        .map(|(s, seed)| {
            let source: Box<dyn MarketDataSource> = Box::new(HistoricalSource::new(*s, bars(s, *seed, n)));
            (s.to_string(), source)
        })
        .collect()
}

fn steps(dir: &Path, id: &str) -> Vec<(u64, StepRecord)> {
    let mut reader = SessionReader::open(dir, id).unwrap();
    let mut steps = Vec::new();
    while let Some(event) = reader.next_event().unwrap() {
        if let Entry::Step(step) = event.entry {
            steps.push((event.seq, step));
        }
    }
    steps
}

fn log_bytes(dir: &Path, id: &str) -> Vec<u8> {
    std::fs::read(dir.join(id).join(EVENTS_FILE)).unwrap()
}

/// The content hash of session `id`'s log recomputed from its records:
/// BLAKE3 over each record's sequence number, time and payload.
fn recomputed_content_hash(dir: &Path, id: &str) -> String {
    let mut log = LogReader::open(dir.join(id).join(EVENTS_FILE)).unwrap();
    let (mut hash, mut payload, mut records) = (StreamHash::default(), Vec::new(), 0);
    while let Some(header) = log.next_into(&mut payload).unwrap() {
        hash.update(&header.seq.to_le_bytes());
        hash.update(&header.time.to_le_bytes());
        hash.update(&payload);
        records += 1;
    }
    assert!(records > 0, "{id}: an empty log");
    hash.finish_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_backtest_twice_gives_identical_logs() {
    let dir = tempfile::tempdir().unwrap();
    let symbols = [("AAA", 1), ("BBB", 2), ("CCC", 3)];
    // One account per runner: three groups on two threads, merged by time.
    for (id, accounts) in [
        ("a1", AccountMode::PerRunner),
        ("a2", AccountMode::PerRunner),
        ("s1", AccountMode::Shared),
        ("s2", AccountMode::Shared),
    ] {
        let mode = RunMode::Historical { speed: None };
        record(dir.path(), id, historical(&symbols, 3_000), accounts, mode, options(Storage::Delta, 500)).await;
    }
    for (x, y) in [("a1", "a2"), ("s1", "s2")] {
        let (mx, my) = (Manifest::read(&dir.path().join(x)).unwrap(), Manifest::read(&dir.path().join(y)).unwrap());
        assert_eq!(mx.records, 3 * 3_000 + (3 * 3_000) / 500, "steps and snapshots");
        assert_eq!(mx.events_blake3, my.events_blake3);
        assert_eq!(mx.events_blake3, Some(recomputed_content_hash(dir.path(), x)), "{x}");
        assert!(log_bytes(dir.path(), x) == log_bytes(dir.path(), y), "{x} and {y} differ");
    }
    // Steps of the same time come in runner order, whatever the grouping.
    let merged = steps(dir.path(), "a1");
    assert!(merged.windows(2).all(|w| w[0].1.time <= w[1].1.time));
    let trades = merged.iter().filter(|(_, s)| !s.fills.is_empty()).count();
    assert!(trades > 30, "{trades} steps with fills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_replayed_through_the_historical_runner_decides_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let data = bars("SYNTH", 4, 2_000);
    // Live: bars pushed one every 100 µs through the live feed.
    let (sender, source) = PushedSource::channel("pushed", 16);
    let feed = data.clone();
    let pusher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(100));
        for bar in feed {
            tick.tick().await;
            sender.send(bar).await.unwrap();
        }
    });
    let live: Vec<(String, Box<dyn MarketDataSource>)> = vec![("SYNTH".into(), Box::new(source))];
    record(dir.path(), "live", live, AccountMode::Shared, RunMode::Live, options(Storage::Full, 10_000)).await;
    pusher.await.unwrap();

    // The historical runner on the bars the live session recorded.
    let mut reader = SessionReader::open(dir.path(), "live").unwrap();
    let recorded = reader.bars_by_symbol().unwrap().remove("SYNTH").unwrap();
    assert_eq!(recorded, data);
    let replay: Vec<(String, Box<dyn MarketDataSource>)> =
        vec![("SYNTH".into(), Box::new(HistoricalSource::new("recorded", recorded)))];
    let mode = RunMode::Historical { speed: None };
    record(dir.path(), "replay", replay, AccountMode::Shared, mode, options(Storage::Full, 10_000)).await;

    let mut live = SessionReader::open(dir.path(), "live").unwrap();
    let mut replay = SessionReader::open(dir.path(), "replay").unwrap();
    let comparison = compare(&mut live, &mut replay).unwrap();
    assert_eq!(comparison.divergence, None);
    assert_eq!(comparison.first, comparison.second);
    assert!(comparison.first.trades.len() > 10, "{} trades", comparison.first.trades.len());
    assert!(comparison.first.decisions > 1_000);
}

#[tokio::test]
async fn full_delta_and_compressed_logs_hold_the_same_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RunMode::Historical { speed: None };
    let mut sizes = Vec::new();
    for (id, storage, compression) in [
        ("full", Storage::Full, Compression::None),
        ("delta", Storage::Delta, Compression::None),
        ("lz4", Storage::Delta, Compression::Lz4),
    ] {
        let mut o = options(storage, 300);
        o.writer.compression = compression;
        record(dir.path(), id, historical(&[("AAA", 9), ("BBB", 10)], 2_000), AccountMode::Shared, mode, o).await;
        sizes.push(log_bytes(dir.path(), id).len());
    }
    let full = steps(dir.path(), "full");
    assert_eq!(full.len(), 4_000);
    assert_eq!(full, steps(dir.path(), "delta"));
    assert_eq!(full, steps(dir.path(), "lz4"));
    assert!(sizes[1] < sizes[0] * 3 / 4, "delta {} vs full {}", sizes[1], sizes[0]);
    assert!(sizes[2] < sizes[1], "lz4 {} vs delta {}", sizes[2], sizes[1]);
    // What a step carries: the bar, the decision with its version, the state after.
    let (_, step) = full.iter().find(|(_, s)| !s.fills.is_empty()).unwrap();
    let names: Vec<&str> = step.after.indicators.names.iter().map(String::as_str).collect();
    assert!(names.iter().any(|n| n.starts_with("ema(")), "{names:?}");
    assert_eq!(step.after.indicators.values.len(), names.len());
    assert!(full.iter().all(|(_, s)| s.decision.as_ref().map_or(true, |d| d.version.generation == 1)));
    assert!(full.iter().any(|(_, s)| s.after.ctx.is_some()));
}

#[tokio::test]
async fn seeks_by_sequence_and_time_rebuild_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RunMode::Historical { speed: None };
    record(
        dir.path(),
        "s",
        historical(&[("AAA", 5), ("BBB", 6)], 1_500),
        AccountMode::Shared,
        mode,
        options(Storage::Delta, 97),
    )
    .await;
    let all: Vec<_> = {
        let mut reader = SessionReader::open(dir.path(), "s").unwrap();
        std::iter::from_fn(|| reader.next_event().unwrap()).collect()
    };
    let mut reader = SessionReader::open(dir.path(), "s").unwrap();
    for target in [1, 2, 96, 97, 98, 1_000, 2_345, all.len() as u64] {
        reader.seek_seq(target).unwrap();
        let event = reader.next_event().unwrap().unwrap();
        assert_eq!(event, all[target as usize - 1], "seek to {target}");
    }
    let middle = all[1_234].time().unwrap();
    reader.seek_time(middle).unwrap();
    let event = reader.next_event().unwrap().unwrap();
    assert_eq!(event.time(), Some(middle));
    assert!(all.iter().filter(|e| e.time().is_some_and(|t| t < middle)).all(|e| e.seq < event.seq));
    let last = all.len() as u64;
    match reader.seek_seq(last + 1) {
        Err(SessionError::SeqOutOfRange { seq, first: 1, last: l, .. }) => assert_eq!((seq, l), (last + 1, last)),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn recomputed_indicators_equal_recorded_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RunMode::Historical { speed: None };
    record(
        dir.path(),
        "rec",
        historical(&[("AAA", 11)], 1_200),
        AccountMode::Shared,
        mode,
        options(Storage::Delta, 100),
    )
    .await;
    let mut o = options(Storage::Delta, 100);
    o.indicators = IndicatorRecording::Recompute;
    record(dir.path(), "re", historical(&[("AAA", 11)], 1_200), AccountMode::Shared, mode, o).await;
    // The manifest says how to read it.
    let mut m = Manifest::read(&dir.path().join("re")).unwrap();
    assert_eq!(m.indicators, IndicatorRecording::Recompute);
    m.config = serde_json::json!({ "runners": [{ "symbol": "AAA", "runner": { "window": 500 } }] });
    m.write(&dir.path().join("re")).unwrap();
    let (recorded, recomputed) = (steps(dir.path(), "rec"), steps(dir.path(), "re"));
    assert!(log_bytes(dir.path(), "re").len() < log_bytes(dir.path(), "rec").len());
    assert_eq!(recorded.len(), recomputed.len());
    let ready = recorded.iter().filter(|(_, s)| s.after.indicators.values.iter().all(Option::is_some)).count();
    assert!(ready > 1_000, "{ready} steps with every indicator ready");
    for ((_, a), (_, b)) in recorded.iter().zip(&recomputed) {
        assert_eq!(a.after.indicators, b.after.indicators, "at {}", a.time);
    }
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_and_a_corrupt_record_is_refused_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RunMode::Historical { speed: None };
    record(dir.path(), "ok", historical(&[("AAA", 12)], 400), AccountMode::Shared, mode, options(Storage::Delta, 50))
        .await;
    let all: Vec<_> = {
        let mut reader = SessionReader::open(dir.path(), "ok").unwrap();
        std::iter::from_fn(|| reader.next_event().unwrap()).collect()
    };
    let bytes = log_bytes(dir.path(), "ok");
    let copy = |id: &str, bytes: &[u8]| {
        let to = dir.path().join(id);
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(dir.path().join("ok/manifest.json"), to.join("manifest.json")).unwrap();
        std::fs::write(to.join(EVENTS_FILE), bytes).unwrap();
    };
    // Cut inside the last record: opened with a warning, the rest intact.
    let last = all.last().unwrap().offset as usize;
    for cut in [last + 1, last + 20, bytes.len() - 1] {
        copy("torn", &bytes[..cut]);
        let mut reader = SessionReader::open(dir.path(), "torn").unwrap();
        assert_eq!(reader.torn_tail().map(|t| t.offset), Some(last as u64), "cut at {cut}");
        let read: Vec<_> = std::iter::from_fn(|| reader.next_event().unwrap()).collect();
        assert_eq!(read, all[..all.len() - 1]);
        std::fs::remove_dir_all(dir.path().join("torn")).unwrap();
    }
    // A flipped byte in a middle record: the records before it, then an
    // error naming its offset.
    let victim = &all[200];
    let mut damaged = bytes.clone();
    damaged[victim.offset as usize + 40] ^= 0x40;
    copy("bad", &damaged);
    let mut reader = SessionReader::open(dir.path(), "bad").unwrap();
    for expected in &all[..200] {
        assert_eq!(&reader.next_event().unwrap().unwrap(), expected);
    }
    let error = reader.next_event().unwrap_err().to_string();
    assert!(error.contains(&victim.offset.to_string()), "{error}");

    // A session in another record format is refused when opened, naming
    // its manifest and both formats.
    copy("old", &bytes);
    let manifest_path = dir.path().join("old/manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["record_format"], 2);
    manifest.as_object_mut().unwrap().remove("record_format");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let error = SessionReader::open(dir.path(), "old").err().expect("an older format is refused").to_string();
    assert!(error.contains("manifest.json") && error.contains("format 1") && error.contains("format 2"), "{error}");
}

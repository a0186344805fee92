//! Reading a session back: records in order, decoded into whole steps,
//! from the start or from any sequence number or time.
//!
//! A seek goes through the log's index (a binary search) to the nearest
//! snapshot at or before the target, then decodes forward: a delta only
//! applies to the state before it. With indicators recomputed rather than
//! recorded, the indicators need every bar from the start, so a seek then
//! reads from the start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{session_dir, IndicatorRecording, Manifest, SessionError, EVENTS_FILE};
use crate::events::codec::{Codec, Entry, RECORD_FORMAT};
use crate::events::log::{LogReader, TornTail};
use crate::events::{StepRecord, SymbolSnapshot};
use crate::market_data::{MarketDataWindow, Symbol};
use crate::strategy::IndicatorSet;

/// One record of a session, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    pub seq: u64,
    /// Byte offset of the record in the log.
    pub offset: u64,
    pub entry: Entry,
}

impl SessionEvent {
    pub fn step(&self) -> Option<&StepRecord> {
        match &self.entry {
            Entry::Step(s) => Some(s),
            Entry::Snapshot(_) => None,
        }
    }

    pub fn time(&self) -> Option<i64> {
        self.step().map(|s| s.time)
    }
}

/// A session opened for reading.
pub struct SessionReader {
    id: String,
    dir: PathBuf,
    manifest: Manifest,
    log: LogReader,
    codec: Codec,
    recompute: Option<Recomputer>,
    payload: Vec<u8>,
    /// The last record read, decoded ([`SessionReader::advance`]).
    current: SessionEvent,
}

impl SessionReader {
    /// Opens session `id` under `sessions_dir`. A torn last record (the
    /// writer died mid-record) is cut off: [`SessionReader::torn_tail`]
    /// says so, and every earlier record reads as written.
    pub fn open(sessions_dir: &Path, id: &str) -> Result<SessionReader, SessionError> {
        let dir = session_dir(sessions_dir, id);
        if !dir.join(EVENTS_FILE).exists() {
            return Err(SessionError::NotFound { id: id.to_string(), dir: sessions_dir.display().to_string() });
        }
        let manifest = Manifest::read(&dir)?;
        if manifest.record_format != RECORD_FORMAT {
            return Err(SessionError::Manifest {
                path: dir.join(super::MANIFEST_FILE).display().to_string(),
                message: format!(
                    "records in format {}, which this engine ({}) does not read (it reads format {RECORD_FORMAT})",
                    manifest.record_format,
                    env!("CARGO_PKG_VERSION"),
                ),
            });
        }
        let log = LogReader::open(dir.join(EVENTS_FILE))?;
        let recompute = (manifest.indicators == IndicatorRecording::Recompute).then(|| Recomputer::new(&manifest));
        Ok(SessionReader {
            id: id.to_string(),
            codec: Codec::new(manifest.storage),
            dir,
            manifest,
            log,
            recompute,
            payload: Vec::new(),
            current: SessionEvent { seq: 0, offset: 0, entry: Entry::Snapshot(Vec::new()) },
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The torn last record that was cut off, if any.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.log.torn_tail()
    }

    /// First and last sequence numbers of the readable records (`None`: empty).
    pub fn seq_range(&self) -> Option<(u64, u64)> {
        Some((self.log.first_seq()?, self.log.last_seq()?))
    }

    /// Times of the first and last readable records, when the records'
    /// times never go back (`None`: empty, or not in time order).
    pub fn time_range(&self) -> Option<(i64, i64)> {
        if !self.log.times_monotonic() {
            return None;
        }
        Some((self.log.first_time()?, self.log.last_time()?))
    }

    /// `symbol`'s state before the next record (its last step's `after`).
    pub fn state_of(&self, symbol: &str) -> Option<&SymbolSnapshot> {
        self.codec.state(symbol)
    }

    /// The next record, or `None` at the end: decoded into the reader's
    /// own event, which every call reuses (see [`Codec::decode_into`]), so
    /// reading a session allocates and frees next to nothing. Clone the
    /// event to keep it ([`SessionReader::next_event`]).
    pub fn advance(&mut self) -> Result<Option<&SessionEvent>, SessionError> {
        let Some((header, payload)) = self.log.next_lent(&mut self.payload)? else {
            return Ok(None);
        };
        let event = &mut self.current;
        self.codec.decode_into(payload, &mut event.entry).map_err(|source| SessionError::Record {
            path: self.dir.join(EVENTS_FILE).display().to_string(),
            seq: header.seq,
            offset: header.offset,
            source,
        })?;
        (event.seq, event.offset) = (header.seq, header.offset);
        if let (Some(r), Entry::Step(step)) = (&mut self.recompute, &mut event.entry) {
            r.fill(step);
            self.codec.set_state(&step.symbol, &step.after);
        }
        Ok(Some(&self.current))
    }

    /// The next step, skipping snapshots (which say how a session was
    /// stored, not what happened), or `None` at the end.
    pub fn next_step(&mut self) -> Result<Option<&SessionEvent>, SessionError> {
        loop {
            match self.advance()? {
                None => return Ok(None),
                Some(event) if event.step().is_some() => break,
                Some(_) => {}
            }
        }
        Ok(Some(&self.current))
    }

    /// The next record, or `None` at the end, as a value of its own.
    pub fn next_event(&mut self) -> Result<Option<SessionEvent>, SessionError> {
        Ok(self.advance()?.cloned())
    }

    /// The next record and, for a step, its symbol's state before it (for
    /// a diff).
    pub fn next_event_with_previous(&mut self) -> Result<Option<(SessionEvent, Option<SymbolSnapshot>)>, SessionError> {
        // Copying every symbol's state is fine for one record at a time.
        let before = self.codec.clone();
        let Some(event) = self.next_event()? else { return Ok(None) };
        let previous = event.step().and_then(|s| before.state(&s.symbol).cloned());
        Ok(Some((event, previous)))
    }

    /// The session's first and last sequence numbers, if `seq` lies
    /// between them; [`SessionError::SeqOutOfRange`] otherwise.
    pub fn check_seq(&self, seq: u64) -> Result<(u64, u64), SessionError> {
        match self.seq_range() {
            Some((first, last)) if (first..=last).contains(&seq) => Ok((first, last)),
            range => {
                let (first, last) = range.unwrap_or((0, 0));
                Err(SessionError::SeqOutOfRange { id: self.id.clone(), seq, first, last })
            }
        }
    }

    /// Positions the reader so that the next record is `seq`.
    pub fn seek_seq(&mut self, seq: u64) -> Result<(), SessionError> {
        let (first, _) = self.check_seq(seq)?;
        let every = self.manifest.snapshot_every.max(2);
        let snapshot = seq - seq % every;
        let start = if self.recompute.is_some() || snapshot < first { first } else { snapshot };
        self.codec = Codec::new(self.manifest.storage);
        if let Some(r) = &mut self.recompute {
            *r = Recomputer::new(&self.manifest);
        }
        self.log.seek_seq(start)?;
        // Sequence numbers are consecutive: decode exactly the records
        // before `seq`, so that `seq` itself is the next one read.
        for _ in start..seq {
            self.advance()?;
        }
        Ok(())
    }

    /// Positions the reader at the first record at or after market time
    /// `time` (epoch ms); at the end when there is none.
    pub fn seek_time(&mut self, time: i64) -> Result<(), SessionError> {
        match self.log.seek_time(time)? {
            Some(seq) => self.seek_seq(seq),
            // Past the end: the log stays at its end.
            None => Ok(()),
        }
    }

    /// Every remaining step's bar, by symbol, in order (what a what-if
    /// replay runs on).
    pub fn bars_by_symbol(&mut self) -> Result<BTreeMap<String, Vec<crate::market_data::Bar>>, SessionError> {
        let mut bars: BTreeMap<String, Vec<crate::market_data::Bar>> = BTreeMap::new();
        while let Some(event) = self.advance()? {
            if let Some(step) = event.step() {
                bars.entry(step.symbol.to_string()).or_default().push(step.to_bar());
            }
        }
        Ok(bars)
    }
}

/// Recomputes indicator values from the recorded bars, as the runner
/// computed them: each indicator created at the step its name first
/// appears, warmed up from a window of the runner's size.
struct Recomputer {
    symbols: BTreeMap<Symbol, (MarketDataWindow, IndicatorSet)>,
    windows: BTreeMap<String, usize>,
    default_window: usize,
}

impl Recomputer {
    fn new(manifest: &Manifest) -> Recomputer {
        let default_window = crate::runner::RunnerConfig::default().window;
        let windows = manifest.config["runners"]
            .as_array()
            .map(|runners| {
                runners
                    .iter()
                    .filter_map(|r| {
                        let symbol = r["symbol"].as_str()?.to_string();
                        let window = r["runner"]["window"].as_u64().map_or(default_window, |w| w as usize);
                        Some((symbol, window))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Recomputer { symbols: BTreeMap::new(), windows, default_window }
    }

    fn fill(&mut self, step: &mut StepRecord) {
        let window_size = self.windows.get(&*step.symbol).copied().unwrap_or(self.default_window);
        let (window, set) = self
            .symbols
            .entry(step.symbol.clone())
            .or_insert_with(|| (MarketDataWindow::new(window_size.max(1)), IndicatorSet::default()));
        let bar = step.to_bar();
        window.push(bar.clone());
        set.update(&bar);
        let values = &mut step.after.indicators.values;
        values.clear();
        for name in step.after.indicators.names.iter() {
            values.push(recompute(set, window, name));
        }
    }
}

/// The current value of indicator output `name` (`ema(20)`,
/// `macd(12,26,9).hist`), created in `set` if new.
fn recompute(set: &mut IndicatorSet, window: &MarketDataWindow, name: &str) -> Option<f64> {
    let (base, output) = match name.rsplit_once(").") {
        Some((base, output)) => (format!("{base})"), Some(output)),
        None => (name.to_string(), None),
    };
    let (indicator, params) = base.strip_suffix(')')?.split_once('(')?;
    let params: Vec<f64> =
        params.split(',').filter(|p| !p.is_empty()).map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    let index = match output {
        None => 0,
        Some(o) => set.outputs(indicator, &params, window).ok()?.iter().position(|n| *n == o)?,
    };
    set.value(indicator, &params, index, 0, window).ok().flatten()
}

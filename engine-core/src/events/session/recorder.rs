//! Writing a session while the engine runs.
//!
//! Runner groups hand their steps, in batches, to one writer thread through
//! bounded channels; the thread numbers them, encodes them ([`Codec`]),
//! adds a snapshot every `snapshot_every` records, and appends them to the
//! log. In a historical run with several groups (one account per runner,
//! running in parallel) the thread merges the groups' steps by time, ties
//! by group, so the log does not depend on thread timing; a live run
//! records steps as they arrive.
//!
//! The channels are bounded: a stalled writer stops the groups at their
//! next batch (trading waits rather than dropping events), and a failed
//! writer makes every later hand-over fail, which halts trading.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::{session_dir, Manifest, SessionError, SessionStatus, EVENTS_FILE};
use crate::content_hash::StreamHash;
use crate::events::codec::{Codec, Storage};
use crate::events::log::{Compression, Durability, LogWriter, WriterOptions};
use crate::events::session::IndicatorRecording;
use crate::events::StepRecord;

/// How a session is recorded.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    pub storage: Storage,
    /// A snapshot of every symbol's state at every multiple of this
    /// sequence number (≥ 2).
    pub snapshot_every: u64,
    pub indicators: IndicatorRecording,
    pub writer: WriterOptions,
    /// Steps a group gathers before handing them over in a fast replay (a
    /// live or paced run hands over every step at once).
    pub batch_steps: usize,
    /// Batches that may wait per channel before a group has to wait.
    pub queue_batches: usize,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            storage: Storage::Full,
            snapshot_every: 10_000,
            indicators: IndicatorRecording::Record,
            writer: WriterOptions::default(),
            batch_steps: 256,
            queue_batches: 64,
        }
    }
}

/// The log failed: trading must stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event log failed: {0}")]
pub struct RecordingFailed(pub String);

enum Message {
    /// Steps to append; with a reply channel when the group waits for them
    /// to be written before it takes its next step (live and paced runs).
    Steps(Vec<Box<StepRecord>>, Option<oneshot::Sender<()>>),
    Done,
}

/// What a group holds to hand its steps to the writer.
pub struct StepSender {
    sender: mpsc::Sender<(usize, Message)>,
    group: usize,
    batch: Vec<Box<StepRecord>>,
    /// Batches the writer is done with, back to be reused here: their
    /// steps become spares and their vectors the next batches, so the
    /// steps' memory stays with the thread that allocated it.
    spent: std::sync::mpsc::Receiver<Vec<Box<StepRecord>>>,
    /// Spent steps, for the runners to write their next steps over.
    spares: Vec<Box<StepRecord>>,
    batch_steps: usize,
    indicator_values: bool,
    failure: Arc<Mutex<Option<String>>>,
}

impl StepSender {
    /// Whether steps carry indicator values (or only their names).
    pub fn indicator_values(&self) -> bool {
        self.indicator_values
    }

    /// Moves a runner's `steps` into the batch (leaving `steps` empty, with
    /// its memory), and as many spent steps, when there are, into its
    /// `spares`; hands the batch over when it is full. Waits while the
    /// writer's queue is full. One bulk move per runner and time: a step is
    /// about 500 bytes, and moving them one by one through an `async` call
    /// was a tenth of what recording cost the engine's thread.
    pub async fn append(
        &mut self,
        steps: &mut Vec<Box<StepRecord>>,
        spares: &mut Vec<Box<StepRecord>>,
    ) -> Result<(), RecordingFailed> {
        let lent = steps.len().min(self.spares.len());
        spares.extend(self.spares.drain(self.spares.len() - lent..));
        self.batch.append(steps);
        if self.batch.len() >= self.batch_steps {
            self.flush().await?;
        }
        Ok(())
    }

    /// Hands over the steps gathered so far.
    pub async fn flush(&mut self) -> Result<(), RecordingFailed> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self.reused();
        let batch = std::mem::replace(&mut self.batch, next);
        self.send(Message::Steps(batch, None)).await
    }

    /// Hands over the steps gathered so far and waits until the writer has
    /// appended them: a live run takes no further step before its last one
    /// is in the log.
    pub async fn write_through(&mut self) -> Result<(), RecordingFailed> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self.reused();
        let batch = std::mem::replace(&mut self.batch, next);
        let (reply, written) = oneshot::channel();
        self.send(Message::Steps(batch, Some(reply))).await?;
        if written.await.is_err() {
            let why = self.failure.lock().clone().unwrap_or_else(|| "the log writer stopped".into());
            return Err(RecordingFailed(why));
        }
        Ok(())
    }

    /// Hands over the rest and says the group is done.
    pub async fn close(mut self) -> Result<(), RecordingFailed> {
        self.flush().await?;
        self.send(Message::Done).await
    }

    /// An empty batch: a spent one, or a new one. The spent batches' steps
    /// become spares, up to a batch's worth: what the runners write over
    /// until the next hand-over (beyond, they are dropped, so that a
    /// thousand groups do not each keep a queue's worth).
    fn reused(&mut self) -> Vec<Box<StepRecord>> {
        let mut empty = None;
        while let Ok(mut batch) = self.spent.try_recv() {
            let keep = self.batch_steps.saturating_sub(self.spares.len()).min(batch.len());
            self.spares.extend(batch.drain(..keep));
            batch.clear();
            empty.get_or_insert(batch);
        }
        empty.unwrap_or_else(|| Vec::with_capacity(self.batch_steps))
    }

    async fn send(&mut self, message: Message) -> Result<(), RecordingFailed> {
        if self.sender.send((self.group, message)).await.is_err() {
            let why = self.failure.lock().clone().unwrap_or_else(|| "the log writer stopped".into());
            return Err(RecordingFailed(why));
        }
        Ok(())
    }
}

/// What the writer thread wrote, and why it stopped early if it did.
struct Written {
    records: u64,
    last_seq: u64,
    first_time: Option<i64>,
    last_time: Option<i64>,
    /// BLAKE3 of every record's sequence number, time and payload.
    content_hash: String,
    error: Option<String>,
}

/// A session being recorded.
pub struct SessionRecorder {
    dir: PathBuf,
    manifest: Manifest,
    options: RecorderOptions,
    /// Until [`SessionRecorder::connect`] starts the writer thread.
    writer: Option<LogWriter>,
    thread: Option<JoinHandle<Written>>,
    failure: Arc<Mutex<Option<String>>>,
    /// Holds the log's lock until the manifest says how the session ended
    /// (see [`super::writer_of`]); dropped last.
    _lock: WriterLock,
}

/// An exclusive `flock` on a session's log, held by its recorder: a reader
/// that finds it free while the manifest still says `running` knows the
/// process died. Best effort: on a file system without locks the session
/// records all the same, and readers cannot tell a crash there
/// ([`super::Writer::Unknown`]).
struct WriterLock {
    /// Held, never read: closing it releases the lock.
    _file: Option<std::fs::File>,
}

impl WriterLock {
    fn take(log: &Path) -> Result<WriterLock, SessionError> {
        use std::os::fd::AsRawFd;
        // Opened for writing: NFS emulates flock with fcntl locks, and an
        // exclusive one needs a descriptor open for writing.
        let file =
            std::fs::OpenOptions::new().read(true).write(true).open(log).map_err(|e| SessionError::io(log, e))?;
        // Blocking: a reader holds its probe for an instant only.
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            tracing::warn!(
                "{}: cannot lock the log ({e}); a crash of this session will not be detectable",
                log.display()
            );
            return Ok(WriterLock { _file: None });
        }
        Ok(WriterLock { _file: Some(file) })
    }
}

impl SessionRecorder {
    /// Creates `{sessions_dir}/{manifest.session_id}/` with its manifest
    /// (status `running`) and an empty log.
    pub fn create(
        sessions_dir: &Path,
        mut manifest: Manifest,
        options: RecorderOptions,
    ) -> Result<SessionRecorder, SessionError> {
        let dir = session_dir(sessions_dir, &manifest.session_id);
        std::fs::create_dir_all(sessions_dir).map_err(|e| SessionError::io(sessions_dir, e))?;
        if let Err(e) = std::fs::create_dir(&dir) {
            return Err(match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    SessionError::Exists { id: manifest.session_id.clone(), dir: sessions_dir.display().to_string() }
                }
                _ => SessionError::io(&dir, e),
            });
        }
        manifest.status = SessionStatus::Running;
        manifest.record_format = crate::events::codec::RECORD_FORMAT;
        manifest.storage = options.storage;
        manifest.snapshot_every = options.snapshot_every;
        manifest.indicators = options.indicators;
        manifest.compression = match options.writer.compression {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
        }
        .to_string();
        // `fsync_every` is carried out by the writer thread after it has
        // answered a waiting live group, so an fsync never delays trading;
        // the log file itself is then only buffered.
        let mut file_options = options.writer;
        if let Durability::FsyncEvery { .. } = file_options.durability {
            file_options.durability = Durability::Buffered;
        }
        let writer = LogWriter::create(dir.join(EVENTS_FILE), file_options)?;
        // Locked before the manifest says `running`: a reader never finds
        // a running session with a free log unless its process is gone.
        let lock = WriterLock::take(&dir.join(EVENTS_FILE))?;
        manifest.write(&dir)?;
        Ok(SessionRecorder {
            dir,
            manifest,
            options,
            writer: Some(writer),
            thread: None,
            failure: Arc::new(Mutex::new(None)),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn session_id(&self) -> &str {
        &self.manifest.session_id
    }

    /// Starts the writer thread for `groups` runner groups and returns one
    /// sender per group. `merge`: order the groups' steps by time (a
    /// historical run); otherwise in arrival order (a live run).
    ///
    /// # Panics
    /// When called twice.
    pub fn connect(&mut self, groups: usize, merge: bool) -> Vec<StepSender> {
        let writer = self.writer.take().expect("a recorder connects once");
        let (capacity, batch_steps) = (self.options.queue_batches.max(1), self.options.batch_steps.max(1));
        let indicator_values = self.options.indicators == IndicatorRecording::Record;
        let mut senders = Vec::with_capacity(groups);
        let inputs = if merge && groups > 1 {
            let mut receivers = Vec::with_capacity(groups);
            for group in 0..groups {
                let (sender, receiver) = mpsc::channel(capacity);
                receivers.push(receiver);
                senders.push((group, sender));
            }
            Inputs::Merged(receivers)
        } else {
            let (sender, receiver) = mpsc::channel(capacity);
            senders.extend((0..groups).map(|g| (g, sender.clone())));
            Inputs::Arrival(receiver, groups)
        };
        let sync_every = match self.options.writer.durability {
            Durability::FsyncEvery { records, millis } => Some((records, Duration::from_millis(millis))),
            _ => None,
        };
        // Spent batches go back without waiting; beyond what a group can
        // have in flight they are dropped by the writer.
        let (returns, spent): (Vec<_>, Vec<_>) =
            (0..groups).map(|_| std::sync::mpsc::sync_channel(capacity + 2)).unzip();
        let thread = WriterThread {
            writer,
            returns,
            batch_steps,
            codec: Codec::new(self.options.storage),
            snapshot_every: self.options.snapshot_every.max(2),
            failure: self.failure.clone(),
            sync_every,
        };
        self.thread = Some(
            std::thread::Builder::new()
                .name("event-log".into())
                .spawn(move || thread.run(inputs))
                .expect("spawning the event log writer"),
        );
        senders
            .into_iter()
            .zip(spent)
            .map(|((group, sender), spent)| StepSender {
                sender,
                group,
                batch: Vec::with_capacity(batch_steps),
                spent,
                spares: Vec::new(),
                batch_steps,
                indicator_values,
                failure: self.failure.clone(),
            })
            .collect()
    }

    /// Waits for the writer to finish (every sender closed or dropped),
    /// then rewrites the manifest with the end: `status`, or `failed` with
    /// the writer's error.
    pub fn finish(mut self, status: SessionStatus, error: Option<String>, finished_at: String) -> Manifest {
        let empty = |error: Option<String>| Written {
            records: 0,
            last_seq: 0,
            first_time: None,
            last_time: None,
            content_hash: StreamHash::default().finish_hex(),
            error,
        };
        let written = match (self.thread.take(), self.writer.take()) {
            (Some(thread), _) => thread.join().unwrap_or_else(|_| empty(Some("the log writer panicked".into()))),
            // Never connected: an empty log.
            (None, Some(writer)) => empty(writer.finish().err().map(|e| e.to_string())),
            (None, None) => empty(Some("the log writer is gone".into())),
        };
        let m = &mut self.manifest;
        m.finished_at = Some(finished_at);
        m.status = status;
        m.error = error;
        m.records = written.records;
        m.last_seq = written.last_seq;
        m.first_time = written.first_time;
        m.last_time = written.last_time;
        match written.error {
            None => m.events_blake3 = Some(written.content_hash),
            Some(e) => {
                m.status = SessionStatus::Failed;
                if m.error.is_none() {
                    m.error = Some(format!("event log failed: {e}; trading halted"));
                }
            }
        }
        if let Err(e) = self.manifest.write(&self.dir) {
            tracing::error!("{e}");
        }
        self.manifest
    }
}

enum Inputs {
    /// One channel; ends when every group is done.
    Arrival(mpsc::Receiver<(usize, Message)>, usize),
    /// One channel per group, merged by time.
    Merged(Vec<mpsc::Receiver<(usize, Message)>>),
}

struct WriterThread {
    writer: LogWriter,
    /// Where each group's spent batches go back.
    returns: Vec<std::sync::mpsc::SyncSender<Vec<Box<StepRecord>>>>,
    batch_steps: usize,
    codec: Codec,
    snapshot_every: u64,
    failure: Arc<Mutex<Option<String>>>,
    /// `fsync_every`: after this many records or this much time.
    sync_every: Option<(u32, Duration)>,
}

/// Numbers, encodes and appends records, and hashes them.
struct Appender {
    writer: LogWriter,
    codec: Codec,
    snapshot_every: u64,
    seq: u64,
    buffer: Vec<u8>,
    hasher: StreamHash,
    first_time: Option<i64>,
    last_time: Option<i64>,
    failure: Arc<Mutex<Option<String>>>,
    sync_every: Option<(u32, Duration)>,
    unsynced: u32,
    last_sync: Instant,
}

impl Appender {
    /// Syncs the log when `fsync_every` says it is due.
    fn sync_if_due(&mut self) -> Result<(), String> {
        let Some((records, every)) = self.sync_every else { return Ok(()) };
        let due = (records > 0 && self.unsynced >= records)
            || (!every.is_zero() && self.unsynced > 0 && self.last_sync.elapsed() >= every);
        if due {
            self.writer.sync().map_err(|e| e.to_string())?;
            self.unsynced = 0;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Appends `step`, which comes back holding its symbol's previous
    /// state (see [`Codec::encode_step`]).
    fn append(&mut self, step: &mut StepRecord) -> Result<(), String> {
        if (self.seq + 1) % self.snapshot_every == 0 {
            self.codec.encode_snapshot(&mut self.buffer);
            self.write(step.time)?;
        }
        self.codec.encode_step(step, &mut self.buffer);
        self.write(step.time)
    }

    fn write(&mut self, time: i64) -> Result<(), String> {
        self.seq += 1;
        if let Err(e) = self.writer.append(self.seq, time, &self.buffer) {
            // Said before any waiting group hears the writer is gone.
            *self.failure.lock() = Some(e.to_string());
            return Err(e.to_string());
        }
        self.hasher.update(&self.seq.to_le_bytes());
        self.hasher.update(&time.to_le_bytes());
        self.hasher.update(&self.buffer);
        self.first_time.get_or_insert(time);
        self.last_time = Some(time);
        self.unsynced += 1;
        Ok(())
    }
}

impl WriterThread {
    fn run(self, inputs: Inputs) -> Written {
        let failure = self.failure.clone();
        let mut appender = Appender {
            writer: self.writer,
            codec: self.codec,
            snapshot_every: self.snapshot_every,
            seq: 0,
            buffer: Vec::with_capacity(1024),
            hasher: StreamHash::default(),
            first_time: None,
            last_time: None,
            failure: failure.clone(),
            sync_every: self.sync_every,
            unsynced: 0,
            last_sync: Instant::now(),
        };
        let result = match inputs {
            Inputs::Arrival(receiver, groups) => arrival(&mut appender, receiver, groups, &self.returns),
            Inputs::Merged(receivers) => merged(&mut appender, receivers, &self.returns, self.batch_steps),
        };
        let Appender { writer, seq, hasher, first_time, last_time, .. } = appender;
        // After a failed append the writer refuses everything; finishing it
        // still syncs what was written.
        let finished = writer.finish().map(|_| ()).map_err(|e| e.to_string());
        let error = result.and(finished).err();
        if let Some(e) = &error {
            tracing::error!("event log failed: {e}; trading halts");
            *failure.lock() = Some(e.clone());
        }
        Written { records: seq, last_seq: seq, first_time, last_time, content_hash: hasher.finish_hex(), error }
    }
}

/// Gives a spent batch back to its group; dropped here if the group is
/// gone or already has enough spent batches waiting.
fn give_back(returns: &[std::sync::mpsc::SyncSender<Vec<Box<StepRecord>>>], group: usize, batch: Vec<Box<StepRecord>>) {
    if let Some(back) = returns.get(group) {
        let _ = back.try_send(batch);
    }
}

fn arrival(
    appender: &mut Appender,
    mut receiver: mpsc::Receiver<(usize, Message)>,
    groups: usize,
    returns: &[std::sync::mpsc::SyncSender<Vec<Box<StepRecord>>>],
) -> Result<(), String> {
    let mut done = 0;
    while done < groups {
        match receiver.blocking_recv() {
            Some((group, Message::Steps(mut steps, reply))) => {
                for step in &mut steps {
                    appender.append(step)?;
                }
                give_back(returns, group, steps);
                if let Some(reply) = reply {
                    // A live step reaches the OS before trading goes on (it
                    // survives the process; fsync follows the durability policy).
                    appender.writer.flush().map_err(|e| e.to_string())?;
                    let _ = reply.send(());
                }
                appender.sync_if_due()?;
            }
            Some((_, Message::Done)) => done += 1,
            None => break,
        }
    }
    Ok(())
}

fn merged(
    appender: &mut Appender,
    mut receivers: Vec<mpsc::Receiver<(usize, Message)>>,
    returns: &[std::sync::mpsc::SyncSender<Vec<Box<StepRecord>>>],
    batch_steps: usize,
) -> Result<(), String> {
    let groups = receivers.len();
    let mut queues: Vec<VecDeque<Box<StepRecord>>> = (0..groups).map(|_| VecDeque::new()).collect();
    let mut spent: Vec<Vec<Box<StepRecord>>> = (0..groups).map(|_| Vec::with_capacity(batch_steps)).collect();
    // The batches' emptied vectors, to hold the next spent steps: one
    // batch goes back per batch received.
    let mut empties: Vec<Vec<Vec<Box<StepRecord>>>> = (0..groups).map(|_| Vec::new()).collect();
    let mut done = vec![false; groups];
    loop {
        for g in 0..groups {
            while queues[g].is_empty() && !done[g] {
                match receivers[g].blocking_recv() {
                    Some((_, Message::Steps(mut steps, reply))) => {
                        queues[g].extend(steps.drain(..));
                        if empties[g].len() < 2 {
                            empties[g].push(steps);
                        }
                        // Merging is for historical runs, which do not wait.
                        if let Some(reply) = reply {
                            let _ = reply.send(());
                        }
                    }
                    Some((_, Message::Done)) | None => done[g] = true,
                }
            }
        }
        // Every group has a step waiting or is done: the earliest goes next.
        let next = (0..groups).filter_map(|g| queues[g].front().map(|s| (s.time, g))).min();
        let Some((_, g)) = next else { return Ok(()) };
        let mut step = queues[g].pop_front().expect("checked");
        appender.append(&mut step)?;
        spent[g].push(step);
        if spent[g].len() >= batch_steps {
            let next = empties[g].pop().unwrap_or_else(|| Vec::with_capacity(batch_steps));
            let full = std::mem::replace(&mut spent[g], next);
            give_back(returns, g, full);
        }
        appender.sync_if_due()?;
    }
}

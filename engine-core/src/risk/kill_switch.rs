//! The emergency stop shared between the risk manager and whoever may pull
//! it: a CLI flag, a signal-handling task, an operator's file.
//!
//! The file rule. A background thread per switch looks for the file once
//! per [`FILE_POLL_INTERVAL`] (250 ms, one `stat`) and engages the switch's
//! flag when it appears; `on_account` only loads that flag (one atomic
//! load, about a nanosecond). So the switch engages within 250 ms of the
//! file appearing whatever the call rate, and a backtest making a million
//! calls a second pays neither a system call nor a clock read per call.
//! Rules inside the call were measured and rejected: a monotonic clock read
//! per call costs ~70 ns on a virtual machine (7 % of a core at a million
//! calls a second), and any call-count rule leaves a slow live feed
//! without a look for as many bars as the count.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// How often the kill-switch file is looked for.
pub const FILE_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A cheap clonable handle on one kill switch. Engaging it is permanent for
/// the run; every clone sees it at once (one atomic load, no I/O).
#[derive(Debug, Clone)]
pub struct KillSwitch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engaged: AtomicBool,
    /// The first reason given; later ones are dropped.
    reason: OnceLock<String>,
    file: Option<PathBuf>,
    /// A watcher thread was started for `file`.
    watching: AtomicBool,
}

impl Inner {
    fn engage(&self, reason: String) {
        let _ = self.reason.set(reason);
        self.engaged.store(true, Ordering::Release);
    }

    fn engaged(&self) -> bool {
        self.engaged.load(Ordering::Acquire)
    }

    /// One `stat`: engages the switch if `file` exists.
    fn look(&self, file: &Path) -> bool {
        if !self.engaged() && file.exists() {
            self.engage(format!("file {} exists", file.display()));
        }
        self.engaged()
    }
}

impl KillSwitch {
    /// A switch that is not engaged, to be engaged by `file` if given (once
    /// watched: see [`KillSwitch::watch_file`]).
    pub fn new(file: Option<PathBuf>) -> Self {
        KillSwitch {
            inner: Arc::new(Inner {
                engaged: AtomicBool::new(false),
                reason: OnceLock::new(),
                file,
                watching: AtomicBool::new(false),
            }),
        }
    }

    /// Engages the switch (the first reason is kept). Takes no lock that a
    /// risk manager could hold, so it is safe from any thread or a
    /// signal-handling task; it allocates, so not from inside a raw
    /// async-signal handler (set an `AtomicBool` there and call this from
    /// the loop that watches it, or use `tokio::signal`).
    pub fn engage(&self, reason: impl Into<String>) {
        self.inner.engage(reason.into());
    }

    /// Whether the switch is engaged: the flag only, never the file.
    pub fn is_engaged(&self) -> bool {
        self.inner.engaged()
    }

    /// Why it was engaged, once it is.
    pub fn reason(&self) -> Option<&str> {
        if self.is_engaged() {
            self.inner.reason.get().map(String::as_str)
        } else {
            None
        }
    }

    /// The file whose appearance engages the switch.
    pub fn file(&self) -> Option<&Path> {
        self.inner.file.as_deref()
    }

    /// Looks for the file now (one `stat`) and engages the switch if it
    /// exists. True when the switch is engaged afterwards.
    pub fn check_file(&self) -> bool {
        match &self.inner.file {
            Some(file) => self.inner.look(file),
            None => self.is_engaged(),
        }
    }

    /// Starts the background thread that looks for the file every
    /// [`FILE_POLL_INTERVAL`] (once per switch, whichever clone asks). The
    /// thread ends when the switch engages or its last handle is dropped.
    /// False when there is no file or no thread could be started (the
    /// caller then polls with [`KillSwitch::check_file`]).
    pub fn watch_file(&self) -> bool {
        let Some(file) = self.inner.file.clone() else {
            return false;
        };
        if self.inner.watching.swap(true, Ordering::AcqRel) {
            return true;
        }
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new().name("kill-switch-file".into()).spawn(move || watch(&weak, &file));
        match spawned {
            Ok(_) => true,
            Err(err) => {
                self.inner.watching.store(false, Ordering::Release);
                tracing::warn!(error = %err, "cannot start the kill-switch file watcher; polling it from on_account");
                false
            }
        }
    }
}

/// The watcher's loop: holds the switch only while looking, so dropping
/// every handle ends it.
fn watch(switch: &Weak<Inner>, file: &Path) {
    loop {
        let Some(inner) = switch.upgrade() else { return };
        if inner.look(file) {
            return;
        }
        drop(inner);
        std::thread::sleep(FILE_POLL_INTERVAL);
    }
}

/// The fallback when no watcher thread can run: look at most once per
/// interval of wall-clock time, read from the monotonic clock on each call.
#[derive(Debug, Clone)]
pub(crate) struct FilePoll {
    last: Option<Instant>,
    interval: Duration,
}

impl FilePoll {
    pub(crate) fn new(interval: Duration) -> Self {
        FilePoll { last: None, interval }
    }

    /// Whether the file is due to be looked at now (and, if so, records
    /// that it is). The first call always is.
    pub(crate) fn due(&mut self) -> bool {
        let now = Instant::now();
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits up to `limit` for the switch to engage; how long it took.
    fn engaged_within(k: &KillSwitch, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if k.is_engaged() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    #[test]
    fn engaging_is_seen_by_every_clone_and_keeps_the_first_reason() {
        let a = KillSwitch::new(None);
        let b = a.clone();
        assert!(!b.is_engaged() && b.reason().is_none());
        assert!(!b.watch_file(), "nothing to watch");
        a.engage("operator pressed stop");
        b.engage("SIGTERM");
        assert!(b.is_engaged());
        assert_eq!(b.reason(), Some("operator pressed stop"));
        assert!(b.check_file(), "no file: stays engaged");
    }

    #[test]
    fn check_file_engages_the_switch_when_the_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("STOP");
        let k = KillSwitch::new(Some(path.clone()));
        assert_eq!(k.file(), Some(path.as_path()));
        assert!(!k.check_file());
        std::fs::write(&path, b"").unwrap();
        assert!(k.check_file());
        assert_eq!(k.reason(), Some(format!("file {} exists", path.display()).as_str()));
        std::fs::remove_file(&path).unwrap();
        assert!(k.check_file(), "removing the file does not disengage");
    }

    #[test]
    fn the_watcher_engages_the_switch_within_a_second_without_any_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("STOP");
        let k = KillSwitch::new(Some(path.clone()));
        assert!(k.watch_file());
        assert!(k.clone().watch_file(), "one watcher per switch, already running");
        assert_eq!(engaged_within(&k, Duration::from_millis(600)), None, "no file, no kill");
        std::fs::write(&path, b"").unwrap();
        let took = engaged_within(&k, Duration::from_secs(5)).expect("the watcher never saw the file");
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(k.reason(), Some(format!("file {} exists", path.display()).as_str()));
    }

    #[test]
    fn the_watcher_ends_with_the_last_handle() {
        let dir = tempfile::tempdir().unwrap();
        let k = KillSwitch::new(Some(dir.path().join("STOP")));
        assert!(k.watch_file());
        let weak = Arc::downgrade(&k.inner);
        drop(k);
        // The watcher holds the switch only while looking (microseconds
        // per 250 ms), so it is gone at once or at its next wake-up.
        let start = Instant::now();
        while weak.upgrade().is_some() {
            assert!(start.elapsed() < Duration::from_secs(2), "the watcher kept the switch alive");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_fallback_poll_is_due_once_per_interval() {
        let mut hourly = FilePoll::new(Duration::from_secs(3600));
        assert!(hourly.due(), "the first call looks");
        assert!(!hourly.due() && !hourly.due());
        let mut p = FilePoll::new(Duration::from_millis(50));
        assert!(p.due());
        std::thread::sleep(Duration::from_millis(60));
        assert!(p.due());
        let mut always = FilePoll::new(Duration::ZERO);
        assert!(always.due() && always.due());
    }
}

//! Watching a strategy file for edits (`notify`), debounced.
//!
//! The parent directory is watched, not the file: editors that save by
//! writing a temporary file and renaming it over the original replace the
//! file's inode, which a watch on the file itself would lose. Every event
//! naming the file restarts a quiet period; the file counts as changed once
//! it has been quiet that long, so a truncate-then-write save is read once,
//! whole. A read that still catches a half-written file fails to compile
//! and is reported; the next event reloads it again.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// Default quiet period after the last event.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// Whether an event can mean new content. Opening or reading the file
/// (the reload itself reads it) and metadata changes cannot: counting them
/// made every reload announce the next one, a broken file being retried
/// and reported every debounce period.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Other => true,
    }
}

/// Tells when a file changed, debounced.
pub struct FileWatcher {
    path: PathBuf,
    _watcher: RecommendedWatcher,
    events: Receiver<()>,
    pending_since: Option<Instant>,
    debounce: Duration,
}

impl FileWatcher {
    /// Watches `path` (its parent directory, for events naming it).
    pub fn new(path: &Path, debounce: Duration) -> notify::Result<FileWatcher> {
        let path = std::path::absolute(path).map_err(notify::Error::io)?;
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let name: OsString = path.file_name().map(OsString::from).unwrap_or_default();
        let (tx, events) = channel();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                if changes_content(&event.kind) && event.paths.iter().any(|p| p.file_name() == Some(name.as_os_str())) {
                    // The receiver may be gone while the watcher shuts down.
                    let _ = tx.send(());
                }
            }
        })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(FileWatcher { path, _watcher: watcher, events, pending_since: None, debounce })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once, when the file has changed and then been quiet for the
    /// debounce period. Never blocks.
    pub fn changed(&mut self) -> bool {
        // Empty or disconnected: nothing more to take now.
        while let Ok(()) = self.events.try_recv() {
            self.pending_since = Some(Instant::now());
        }
        match self.pending_since {
            Some(since) if since.elapsed() >= self.debounce => {
                self.pending_since = None;
                true
            }
            _ => false,
        }
    }

    /// Blocks until [`FileWatcher::changed`] or `timeout`; true if changed.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.changed() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_by_write_rename_and_truncate_are_seen_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lua");
        std::fs::write(&path, "-- v1").unwrap();
        let mut w = FileWatcher::new(&path, Duration::from_millis(50)).unwrap();
        assert!(!w.changed());
        // Written in place.
        std::fs::write(&path, "-- v2").unwrap();
        assert!(w.wait(Duration::from_secs(5)));
        assert!(!w.changed(), "reported once");
        // Saved by rename over the original.
        let temp = dir.path().join(".s.lua.swp");
        std::fs::write(&temp, "-- v3").unwrap();
        std::fs::rename(&temp, &path).unwrap();
        assert!(w.wait(Duration::from_secs(5)));
        // Truncated, then written: one change after the quiet period.
        std::fs::write(&path, "").unwrap();
        std::fs::write(&path, "-- v4").unwrap();
        assert!(w.wait(Duration::from_secs(5)));
        assert!(!w.wait(Duration::from_millis(200)));
        // Other files in the directory do not count.
        std::fs::write(dir.path().join("other.lua"), "x").unwrap();
        assert!(!w.wait(Duration::from_millis(300)));
    }

    #[test]
    fn reading_the_file_or_touching_its_metadata_is_not_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lua");
        std::fs::write(&path, "-- v1").unwrap();
        let mut w = FileWatcher::new(&path, Duration::from_millis(50)).unwrap();
        for _ in 0..3 {
            assert_eq!(std::fs::read(&path).unwrap(), b"-- v1");
        }
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(&path, permissions).unwrap();
        assert!(!w.wait(Duration::from_millis(400)), "a read or a chmod reported as an edit");
    }
}

//! Files that appear whole or not at all.
//!
//! Each file is written to a temporary sibling (same directory, so the
//! rename cannot cross file systems), flushed and synced to disk, then
//! renamed over the target. A crash leaves either the old file or the new
//! one, plus at worst a hidden `.name.*.tmp` file, never a truncated
//! `report.html`. On an error the temporary file is removed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::error::OutputError;

/// Writes `path` through `write`, atomically. `write` gets a buffered
/// writer and reports its own errors (it knows whether they are CSV, JSON
/// or I/O); I/O around it is reported against `path`. The temporary file
/// (`tempfile`: a unique `.name.XXXX.tmp` beside the target) is removed on
/// any error.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let io_error = |source: io::Error| OutputError::Write { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy());
    let temp = temp_file_in(dir, &format!(".{name}.")).map_err(io_error)?;
    let (file, temp_path) = temp.into_parts();
    let mut out = BufWriter::with_capacity(1 << 16, file);
    write(&mut out)?;
    out.flush().map_err(io_error)?;
    let file = out.into_inner().map_err(|e| io_error(e.into_error()))?;
    file.sync_all().map_err(io_error)?;
    drop(file);
    temp_path.persist(path).map_err(|e| OutputError::Rename {
        temp: e.path.to_path_buf(),
        path: path.to_path_buf(),
        source: e.error,
    })
}

/// A temporary file `{prefix}XXXX.tmp` in `dir`, to be renamed over a
/// result, created with the mode any new file gets (0666 less the umask).
/// `tempfile`'s own default, 0600, would leave results, manifests and
/// exports unreadable to anyone else once renamed into place.
pub fn temp_file_in(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

/// Syncs a directory so the renames into it survive a power loss. Best
/// effort: some file systems refuse to sync a directory, and the files
/// themselves are complete either way.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    #[test]
    fn a_result_gets_the_mode_of_any_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "x").unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, |w| w.write_all(b"new").map_err(|e| OutputError::Write { path: path.clone(), source: e }))
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain), "the umask decides, as for std::fs::write");
    }

    #[test]
    fn replaces_the_target_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, |w| w.write_all(b"new").map_err(|e| OutputError::Write { path: path.clone(), source: e }))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(entries(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half").unwrap();
            Err(OutputError::Write { path: path.clone(), source: io::Error::other("disk full") })
        })
        .unwrap_err();
        assert!(err.to_string().contains("a.txt"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), ["a.txt"]);
    }

    #[test]
    fn renaming_over_a_directory_fails_naming_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), "x").unwrap();
        let err = write_atomic(&path, |_| Ok(())).unwrap_err();
        assert!(matches!(err, OutputError::Rename { .. }), "{err:?}");
        assert!(err.to_string().contains("taken"), "{err}");
        assert_eq!(entries(dir.path()), ["taken"]);
    }
}

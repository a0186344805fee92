//! Paths in a configuration, made absolute at load time so that what is
//! recorded from a run (summaries, session manifests) names the same files
//! from any working directory.

use std::path::{Component, Path, PathBuf};

/// The directory relative paths of the config file `file` are taken from:
/// its own directory, canonical (it exists: the file was just read), so
/// that `..` in the config's paths leaves the real directory, not a symlink.
pub(super) fn config_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// `path` taken relative to `base` (unless absolute), made absolute against
/// the working directory if `base` is relative, with `.` and `..` removed.
/// The file need not exist: a missing file is reported by validation,
/// naming this path. An empty path stays empty so that validation can
/// refuse it by its key (joined, it would name `base` itself).
pub(super) fn resolve(path: &Path, base: &Path) -> PathBuf {
    if path.as_os_str().is_empty() {
        return PathBuf::new();
    }
    let joined = base.join(path);
    // `absolute` only fails without a working directory; the path is then
    // kept as joined, and later errors still name it.
    let absolute = std::path::absolute(&joined).unwrap_or(joined);
    normalize(&absolute)
}

/// `path` with `.` and `..` components removed lexically (`/a/b/../c` is
/// `/a/c`; `/..` is `/`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_dots_lexically() {
        assert_eq!(normalize(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
        assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }

    #[test]
    fn resolve_is_absolute_relative_to_the_base() {
        assert_eq!(resolve(Path::new("../s/x.lua"), Path::new("/w/config")), PathBuf::from("/w/s/x.lua"));
        assert_eq!(resolve(Path::new("/abs/./x.csv"), Path::new("/w/config")), PathBuf::from("/abs/x.csv"));
        assert_eq!(resolve(Path::new(""), Path::new("/w/config")), PathBuf::new());
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(resolve(Path::new("x.lua"), Path::new("")), cwd.join("x.lua"));
        assert_eq!(resolve(Path::new("x.lua"), Path::new("config")), cwd.join("config/x.lua"));
    }
}

//! Why the output files of a run could not be written. Every variant names
//! the file (or directory) it was about, so the message alone says where to
//! look.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("creating the output directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    /// Creating, writing or syncing the temporary file of `path`.
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("writing {}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("writing {}: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    /// The file was written in full but could not replace `path`.
    #[error("moving {} into place as {}: {source}", temp.display(), path.display())]
    Rename { temp: PathBuf, path: PathBuf, source: io::Error },
}

use std::path::PathBuf;
use std::time::Duration;

/// Why a sidecar request gave no result. Every variant but `Remote` means
/// the child was killed and will be restarted before the next request.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error("sidecar executable not found at {}: build it with `dune build --root ocaml-indicators` or set TRADING_ENGINE_SIDECAR", path.display())]
    NotFound { path: PathBuf },
    #[error("starting sidecar {}: {source}", path.display())]
    Spawn { path: PathBuf, source: std::io::Error },
    #[error("sidecar did not answer request {id} within {timeout:?}")]
    Timeout { id: u64, timeout: Duration },
    #[error("sidecar exited or closed its output during request {id} ({cause})")]
    Crashed { id: u64, cause: String },
    #[error("sidecar i/o during request {id}: {source}")]
    Io { id: u64, source: std::io::Error },
    #[error("sidecar response to request {id} is longer than {max} bytes")]
    LineTooLong { id: u64, max: usize },
    #[error("sidecar sent an invalid response to request {id}: {detail}")]
    BadResponse { id: u64, detail: String },
    /// A well-formed response whose outputs do not fit the request (a
    /// missing column, a wrong length): a bug on one side, not a crash.
    #[error("sidecar output for {indicator} is unusable: {detail}")]
    BadOutput { indicator: String, detail: String },
    /// The sidecar answered with an error response; it is still healthy.
    #[error("sidecar refused request {id}: {code}: {message}")]
    Remote { id: u64, code: String, message: String },
    #[error("sidecar is down: restart budget of {budget} exhausted (last failure: {last})")]
    Down { budget: u32, last: String },
}

impl SidecarError {
    /// Whether the child must be considered broken after this error.
    pub(crate) fn breaks_child(&self) -> bool {
        !matches!(
            self,
            SidecarError::Remote { .. }
                | SidecarError::BadOutput { .. }
                | SidecarError::Down { .. }
                | SidecarError::NotFound { .. }
        )
    }
}

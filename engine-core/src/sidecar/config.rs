use std::path::PathBuf;
use std::time::Duration;

/// How to run the sidecar and how patient to be with it.
#[derive(Debug, Clone)]
pub struct SidecarConfig {
    /// The sidecar executable.
    pub program: PathBuf,
    /// Arguments; `--server` by default.
    pub args: Vec<String>,
    /// How long one request may take, writing included.
    pub request_timeout: Duration,
    /// Longest response line accepted.
    pub max_line_bytes: usize,
    /// Restarts allowed over the client's lifetime before it stays down.
    pub max_restarts: u32,
    /// Delay before the first restart; doubles per consecutive failure.
    pub backoff_initial: Duration,
    /// Upper bound of the restart delay.
    pub backoff_max: Duration,
}

/// Environment variable that overrides where the sidecar executable is.
pub const SIDECAR_ENV: &str = "TRADING_ENGINE_SIDECAR";

impl SidecarConfig {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        SidecarConfig {
            program: program.into(),
            args: vec!["--server".to_string()],
            request_timeout: Duration::from_secs(10),
            max_line_bytes: 256 * 1024 * 1024,
            max_restarts: 5,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }

    /// The sidecar executable to use: `$TRADING_ENGINE_SIDECAR` if set,
    /// else the dune build output of this source tree
    /// (`ocaml-indicators/_build/default/bin/sidecar.exe`).
    pub fn default_program() -> PathBuf {
        if let Some(path) = std::env::var_os(SIDECAR_ENV) {
            return PathBuf::from(path);
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ocaml-indicators/_build/default/bin/sidecar.exe")
    }

    /// The delay before restart number `consecutive_failures` (1-based).
    pub(crate) fn backoff(&self, consecutive_failures: u32) -> Duration {
        let factor = 1u32.checked_shl(consecutive_failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_initial.saturating_mul(factor).min(self.backoff_max)
    }
}

impl Default for SidecarConfig {
    fn default() -> Self {
        SidecarConfig::new(SidecarConfig::default_program())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = SidecarConfig::new("x");
        assert_eq!(c.backoff(1), Duration::from_millis(100));
        assert_eq!(c.backoff(2), Duration::from_millis(200));
        assert_eq!(c.backoff(4), Duration::from_millis(800));
        assert_eq!(c.backoff(10), Duration::from_secs(5));
        assert_eq!(c.backoff(100), Duration::from_secs(5));
    }
}

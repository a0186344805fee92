use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::{SidecarConfig, SidecarError};

/// A long-lived sidecar process and the requests sent to it.
///
/// Requests are sequential (`&mut self`). A failed request (timeout, crash,
/// oversized or invalid response) kills the child's whole process group; the
/// next request starts a new child after a backoff, until the restart budget
/// is spent and the client stays down.
pub struct Sidecar {
    config: SidecarConfig,
    child: Option<RunningChild>,
    next_id: u64,
    /// Children started after the first one.
    restarts: u32,
    /// Failures since the last successful request; drives the backoff.
    consecutive_failures: u32,
    last_failure: Option<String>,
    started_once: bool,
}

struct RunningChild {
    child: Child,
    pid: u32,
    stdin: ChildStdin,
    lines: FramedRead<ChildStdout, LinesCodec>,
    /// The last lines the child wrote to stderr, for crash reports.
    stderr_tail: StderrTail,
    stderr_drain: JoinHandle<()>,
}

type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// Stderr lines kept for a crash report, and the length each is cut to.
const STDERR_TAIL_LINES: usize = 8;
const STDERR_LINE_SHOWN: usize = 300;
/// A stderr "line" longer than this is logged in pieces: a child that never
/// writes a newline must not grow our memory.
const STDERR_LINE_MAX: usize = 64 * 1024;

impl Sidecar {
    /// Starts the sidecar now, so a missing or broken executable is reported
    /// before any work is done.
    pub async fn start(config: SidecarConfig) -> Result<Self, SidecarError> {
        let mut sidecar = Sidecar::lazy(config);
        sidecar.ensure_running().await?;
        Ok(sidecar)
    }

    /// A client that starts the sidecar on its first request.
    pub fn lazy(config: SidecarConfig) -> Self {
        Sidecar {
            config,
            child: None,
            next_id: 1,
            restarts: 0,
            consecutive_failures: 0,
            last_failure: None,
            started_once: false,
        }
    }

    pub fn config(&self) -> &SidecarConfig {
        &self.config
    }

    /// Process id of the running child, if any (for diagnostics and tests).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid)
    }

    /// How many times the child was restarted after a failure.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// True once the restart budget is spent: every request fails.
    pub fn is_down(&self) -> bool {
        self.child.is_none() && self.restarts >= self.config.max_restarts && self.consecutive_failures > 0
    }

    /// Sends one request and waits for its result.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, SidecarError> {
        self.ensure_running().await?;
        let id = self.next_id;
        self.next_id += 1;
        let mut line = json!({"id": id, "method": method, "params": params}).to_string();
        line.push('\n');
        let timeout = self.config.request_timeout;
        let outcome = match tokio::time::timeout(timeout, self.exchange(id, &line)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SidecarError::Timeout { id, timeout }),
        };
        match outcome {
            Ok(response) => {
                self.consecutive_failures = 0;
                interpret(id, response)
            }
            Err(SidecarError::Crashed { id, .. }) => {
                let err = SidecarError::Crashed { id, cause: self.exit_cause().await };
                self.fail(&err).await;
                Err(err)
            }
            Err(err) => {
                if err.breaks_child() {
                    self.fail(&err).await;
                }
                Err(err)
            }
        }
    }

    /// Writes the request and reads lines until the response with `id`;
    /// answers to earlier, abandoned requests are skipped.
    async fn exchange(&mut self, id: u64, line: &str) -> Result<Value, SidecarError> {
        let max = self.config.max_line_bytes;
        let child = self.child.as_mut().expect("ensure_running leaves a child");
        let io = |source| SidecarError::Io { id, source };
        child.stdin.write_all(line.as_bytes()).await.map_err(io)?;
        child.stdin.flush().await.map_err(io)?;
        loop {
            let text = match child.lines.next().await {
                None => return Err(SidecarError::Crashed { id, cause: String::new() }),
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => return Err(SidecarError::LineTooLong { id, max }),
                Some(Err(LinesCodecError::Io(source))) => return Err(SidecarError::Io { id, source }),
                Some(Ok(text)) => text,
            };
            let response: Value = serde_json::from_str(&text)
                .map_err(|e| SidecarError::BadResponse { id, detail: format!("{e}: {}", truncate(&text)) })?;
            match response.get("id").and_then(Value::as_u64) {
                Some(got) if got == id => return Ok(response),
                Some(got) if got < id => continue,
                _ => {
                    return Err(SidecarError::BadResponse {
                        id,
                        detail: format!("unexpected id in {}", truncate(&text)),
                    })
                }
            }
        }
    }

    async fn ensure_running(&mut self) -> Result<(), SidecarError> {
        if self.child.is_some() {
            return Ok(());
        }
        // A missing executable will not appear by retrying: no backoff, no budget spent.
        if !self.config.program.is_file() {
            return Err(SidecarError::NotFound { path: self.config.program.clone() });
        }
        if self.started_once {
            if self.restarts >= self.config.max_restarts {
                return Err(SidecarError::Down {
                    budget: self.config.max_restarts,
                    last: self.last_failure.clone().unwrap_or_else(|| "unknown".into()),
                });
            }
            let delay = self.config.backoff(self.consecutive_failures.max(1));
            tracing::warn!(
                restart = self.restarts + 1,
                budget = self.config.max_restarts,
                ?delay,
                "restarting sidecar"
            );
            tokio::time::sleep(delay).await;
            self.restarts += 1;
        }
        self.started_once = true;
        match self.spawn() {
            Ok(child) => {
                self.child = Some(child);
                Ok(())
            }
            Err(err) => {
                self.consecutive_failures += 1;
                self.last_failure = Some(err.to_string());
                Err(err)
            }
        }
    }

    fn spawn(&self) -> Result<RunningChild, SidecarError> {
        let path = &self.config.program;
        let mut child = Command::new(path)
            .args(&self.config.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that killing the group also kills
            // anything the sidecar may have started.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SidecarError::Spawn { path: path.clone(), source })?;
        let pid = child.id().expect("a just-spawned child has a pid");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        // Drain stderr continuously: a child blocked on a full stderr pipe would look hung.
        let stderr_tail = StderrTail::default();
        let stderr_drain = tokio::spawn(drain_stderr(stderr, pid, Arc::clone(&stderr_tail)));
        let lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(self.config.max_line_bytes));
        tracing::debug!(pid, program = %path.display(), "sidecar started");
        Ok(RunningChild { child, pid, stdin, lines, stderr_tail, stderr_drain })
    }

    /// Why the child stopped answering: its exit status and its last stderr
    /// lines, waiting briefly for both to arrive.
    async fn exit_cause(&mut self) -> String {
        let Some(child) = self.child.as_mut() else { return "no child".to_string() };
        let grace = Duration::from_millis(500);
        let status = match tokio::time::timeout(grace, child.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("exit status unknown: {e}"),
            Err(_) => "closed its output but is still running".to_string(),
        };
        // The drain ends at the child's stderr EOF, so every line is in.
        let _ = tokio::time::timeout(grace, &mut child.stderr_drain).await;
        let tail = child.stderr_tail.lock();
        if tail.is_empty() {
            status
        } else {
            format!("{status}; last stderr: {}", tail.iter().cloned().collect::<Vec<_>>().join(" | "))
        }
    }

    async fn fail(&mut self, err: &SidecarError) {
        self.consecutive_failures += 1;
        self.last_failure = Some(err.to_string());
        tracing::warn!(error = %err, "sidecar request failed; killing the sidecar");
        if let Some(mut child) = self.child.take() {
            kill_group(child.pid);
            let _ = tokio::time::timeout(Duration::from_secs(2), child.child.wait()).await;
        }
    }

    /// Closes the sidecar's stdin and gives it a second to exit on its own,
    /// then kills its process group, which also ends anything it started.
    pub async fn shutdown(mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin);
            let _ = tokio::time::timeout(Duration::from_secs(1), child.child.wait()).await;
            kill_group(child.pid);
            let _ = child.child.wait().await;
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_group(child.pid);
            // `kill_on_drop` plus tokio's orphan reaping collect the zombie.
        }
    }
}

/// SIGKILLs the process group led by `pid` (the child's own group).
fn kill_group(pid: u32) {
    if let Ok(pgid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // touches no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Logs the child's stderr line by line (at debug level) and keeps the last
/// lines for crash reports. Reads raw bytes, so invalid UTF-8 or a missing
/// newline cannot stop the drain: only the child's end of the pipe does.
async fn drain_stderr(mut stderr: ChildStderr, pid: u32, tail: StderrTail) {
    let record = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches('\r');
        tracing::debug!(target: "sidecar", pid, "{text}");
        let mut tail = tail.lock();
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(truncate_to(text, STDERR_LINE_SHOWN));
    };
    let mut chunk = vec![0u8; 8192];
    let mut pending = Vec::new();
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!(target: "sidecar", pid, "reading stderr: {e}");
                break;
            }
        }
        let mut start = 0;
        while let Some(end) = memchr::memchr(b'\n', &pending[start..]) {
            record(&pending[start..start + end]);
            start += end + 1;
        }
        pending.drain(..start);
        if pending.len() > STDERR_LINE_MAX {
            record(&pending);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        record(&pending);
    }
}

/// Splits a response into its result or its error.
fn interpret(id: u64, mut response: Value) -> Result<Value, SidecarError> {
    if let Some(error) = response.get("error") {
        let code = error.get("code").and_then(Value::as_str).unwrap_or("unknown").to_string();
        let message = error.get("message").and_then(Value::as_str).unwrap_or("").to_string();
        return Err(SidecarError::Remote { id, code, message });
    }
    match response.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(SidecarError::BadResponse { id, detail: "neither result nor error".into() }),
    }
}

fn truncate(text: &str) -> String {
    truncate_to(text, 200)
}

/// At most `shown` bytes of `text` (on a character boundary), saying how
/// long it was when cut.
fn truncate_to(text: &str, shown: usize) -> String {
    if text.len() <= shown {
        return text.to_string();
    }
    let mut end = shown;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

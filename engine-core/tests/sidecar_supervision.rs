//! The sidecar client survives a hung, crashed or misbehaving child: it
//! times out, kills the process group, restarts with backoff, and gives up
//! after its restart budget.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use engine_core::sidecar::{Sidecar, SidecarConfig, SidecarError};
use serde_json::json;

fn config(program: PathBuf) -> SidecarConfig {
    let mut config = SidecarConfig::new(program);
    config.request_timeout = Duration::from_millis(1500);
    config.backoff_initial = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    config
}

/// A shell script standing in for a misbehaving sidecar, run by `/bin/sh`
/// rather than executed itself: a script just written cannot safely be
/// exec'd while other test threads fork, since a child forked mid-write still
/// holds the write descriptor and exec fails with "Text file busy".
fn script(dir: &tempfile::TempDir, name: &str, body: &str) -> SidecarConfig {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    let mut config = config(PathBuf::from("/bin/sh"));
    config.args = vec![path.display().to_string(), "--server".to_string()];
    config
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid we started; no memory involved.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0, "signalling {pid}");
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only a live process counts.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.split_whitespace().nth(2).is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_hung_sidecar_times_out_and_is_replaced() {
    let mut sidecar = Sidecar::start(config(common::sidecar_path())).await.unwrap();
    assert_eq!(sidecar.request("ping", json!({})).await.unwrap()["pong"], json!(true));
    let first = sidecar.pid().unwrap();
    signal(first, libc::SIGSTOP);
    let err = sidecar.request("ping", json!({})).await.unwrap_err();
    assert!(matches!(err, SidecarError::Timeout { .. }), "{err}");
    assert!(!alive(first), "the hung sidecar was killed");
    assert_eq!(sidecar.request("ping", json!({})).await.unwrap()["pong"], json!(true));
    assert_ne!(sidecar.pid().unwrap(), first);
    assert_eq!(sidecar.restarts(), 1);
}

#[tokio::test]
async fn a_killed_sidecar_fails_one_request_and_is_restarted() {
    let mut sidecar = Sidecar::start(config(common::sidecar_path())).await.unwrap();
    sidecar.request("ping", json!({})).await.unwrap();
    let first = sidecar.pid().unwrap();
    signal(first, libc::SIGKILL);
    let err = sidecar.request("ping", json!({})).await.unwrap_err();
    assert!(matches!(err, SidecarError::Crashed { .. } | SidecarError::Io { .. }), "{err}");
    assert_eq!(sidecar.request("ping", json!({})).await.unwrap()["pong"], json!(true));
    assert_eq!(sidecar.restarts(), 1);
}

#[tokio::test]
async fn an_error_response_keeps_the_sidecar() {
    let mut sidecar = Sidecar::start(config(common::sidecar_path())).await.unwrap();
    let pid = sidecar.pid();
    let err = sidecar.request("no_such_method", json!({})).await.unwrap_err();
    match err {
        SidecarError::Remote { code, .. } => assert_eq!(code, "unknown_method"),
        other => panic!("expected a remote error, got {other}"),
    }
    assert_eq!(sidecar.pid(), pid);
    assert_eq!(sidecar.restarts(), 0);
}

#[tokio::test]
async fn gives_up_after_the_restart_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = script(&dir, "crasher", "exit 3");
    cfg.max_restarts = 2;
    let mut sidecar = Sidecar::lazy(cfg);
    for _ in 0..3 {
        let err = sidecar.request("ping", json!({})).await.unwrap_err();
        assert!(matches!(err, SidecarError::Crashed { .. } | SidecarError::Io { .. }), "{err}");
    }
    assert_eq!(sidecar.restarts(), 2);
    let err = sidecar.request("ping", json!({})).await.unwrap_err();
    assert!(matches!(err, SidecarError::Down { budget: 2, .. }), "{err}");
    assert!(err.to_string().contains("restart budget of 2 exhausted"), "{err}");
    assert!(sidecar.is_down());
}

#[tokio::test]
async fn a_missing_executable_is_named() {
    let err = Sidecar::start(SidecarConfig::new("/nonexistent/sidecar.exe")).await.err().unwrap();
    assert!(err.to_string().contains("/nonexistent/sidecar.exe"), "{err}");
}

#[tokio::test]
async fn an_oversized_response_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Answers every request with a 2 MiB line.
    let mut cfg = script(&dir, "flood", "while read -r line; do head -c 2097152 /dev/zero | tr '\\0' 'x'; echo; done");
    cfg.max_line_bytes = 1 << 20;
    let mut sidecar = Sidecar::start(cfg).await.unwrap();
    let err = sidecar.request("ping", json!({})).await.unwrap_err();
    assert!(matches!(err, SidecarError::LineTooLong { max: 1048576, .. }), "{err}");
}

#[tokio::test]
async fn a_chatty_stderr_does_not_block_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    // Writes 4 MiB to stderr (far beyond a pipe buffer) before answering.
    let chatty = script(
        &dir,
        "chatty",
        r#"read -r line; head -c 4194304 /dev/zero | tr '\0' 'e' >&2; echo '{"id":1,"result":{"pong":true}}'; sleep 5"#,
    );
    let mut sidecar = Sidecar::start(chatty).await.unwrap();
    assert_eq!(sidecar.request("ping", json!({})).await.unwrap()["pong"], json!(true));
}

#[tokio::test]
async fn stderr_that_is_not_utf8_or_has_no_newline_is_still_drained() {
    let dir = tempfile::tempdir().unwrap();
    // Invalid UTF-8, then 300 kB without a newline, then the answer.
    let odd = script(
        &dir,
        "odd-stderr",
        r#"read -r line; printf '\377\376 bad bytes\n' >&2; head -c 307200 /dev/zero | tr '\0' 'z' >&2; echo '{"id":1,"result":{"pong":true}}'; read -r next; echo '{"id":2,"result":{"pong":true}}'; sleep 5"#,
    );
    let mut sidecar = Sidecar::start(odd).await.unwrap();
    assert_eq!(sidecar.request("ping", json!({})).await.unwrap()["pong"], json!(true));
    assert_eq!(sidecar.request("ping", json!({})).await.unwrap()["pong"], json!(true));
    assert_eq!(sidecar.restarts(), 0);
}

#[tokio::test]
async fn a_crash_report_names_the_exit_status_and_the_last_stderr_lines() {
    let dir = tempfile::tempdir().unwrap();
    let dying = script(&dir, "dying", "read -r line; echo 'Fatal error: exception Not_found' >&2; exit 7");
    let mut sidecar = Sidecar::start(dying).await.unwrap();
    let err = sidecar.request("ping", json!({})).await.unwrap_err().to_string();
    assert!(err.contains("exit status: 7"), "{err}");
    assert!(err.contains("Fatal error: exception Not_found"), "{err}");
}

#[tokio::test]
async fn dropping_the_client_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let real = common::sidecar_path();
    let wrapper = script(
        &dir,
        "wrapper",
        &format!("sleep 1000 &\necho $! > {}\nexec {} --server", pidfile.display(), real.display()),
    );
    let mut sidecar = Sidecar::start(wrapper).await.unwrap();
    sidecar.request("ping", json!({})).await.unwrap();
    let child = sidecar.pid().unwrap();
    let grandchild: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(alive(grandchild));
    drop(sidecar);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (alive(child) || alive(grandchild)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(child), "sidecar {child} still running");
    assert!(!alive(grandchild), "process {grandchild} of the sidecar's group still running");
}

#[tokio::test]
async fn stale_responses_of_abandoned_requests_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    // Answers request 1 twice over (once late), then request 2.
    let laggy = script(
        &dir,
        "laggy",
        r#"read -r a; echo '{"id":1,"result":{"n":1}}'; read -r b; echo '{"id":1,"result":{"n":"stale"}}'; echo '{"id":2,"result":{"n":2}}'; sleep 5"#,
    );
    let mut sidecar = Sidecar::start(laggy).await.unwrap();
    assert_eq!(sidecar.request("a", json!({})).await.unwrap()["n"], json!(1));
    assert_eq!(sidecar.request("b", json!({})).await.unwrap()["n"], json!(2));
}

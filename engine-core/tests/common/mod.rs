//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("engine-core sits in the workspace").to_path_buf()
}

/// The shared folder (`data/`, `refvectors/`): `$TRADING_ENGINE_SHARED`,
/// or `../shared` beside the workspace. The tests need it and say so: they
/// never pass by skipping.
pub fn shared() -> PathBuf {
    let dir =
        std::env::var_os("TRADING_ENGINE_SHARED").map(PathBuf::from).unwrap_or_else(|| workspace().join("../shared"));
    assert!(
        dir.join("data").is_dir(),
        "real market data missing: expected {}/data (clone beside `shared/`, or set TRADING_ENGINE_SHARED; see the README)",
        dir.display()
    );
    dir
}

/// `shared/data`.
pub fn shared_data() -> PathBuf {
    shared().join("data")
}

/// The OCaml sidecar, rebuilt with dune when dune is here (so the tests
/// never run a stale binary). A missing sidecar fails the test: the parity
/// and supervision tests are part of the suite, never skipped.
pub fn sidecar_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = workspace().join("ocaml-indicators");
        let exe = root.join("_build/default/bin/sidecar.exe");
        match Command::new("dune").arg("build").arg("--root").arg(&root).output() {
            Ok(out) => assert!(
                out.status.success(),
                "dune build of the sidecar failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("dune not runnable ({e}); using the existing sidecar build if any"),
        }
        assert!(
            exe.is_file(),
            "OCaml sidecar not built at {}: run `bash tests/run-all` (it installs OCaml)",
            exe.display()
        );
        exe
    })
    .clone()
}

/// The 3-state, 4-feature HMM the regime tests and benchmarks sample from.
pub fn three_state_model() -> engine_core::regime::GaussianHmm {
    engine_core::regime::GaussianHmm::new(engine_core::regime::HmmParams {
        start: ndarray::array![0.5, 0.3, 0.2],
        trans: ndarray::array![[0.97, 0.02, 0.01], [0.02, 0.96, 0.02], [0.01, 0.02, 0.97]],
        means: ndarray::array![[-2.0, -1.0, 0.5, 1.0], [0.0, 0.0, 0.0, 0.0], [2.0, 1.0, -0.5, 1.5]],
        vars: ndarray::array![[0.5, 0.4, 0.3, 0.2], [0.3, 0.3, 0.3, 0.3], [0.6, 0.5, 0.2, 0.4]],
    })
    .unwrap()
}

//! Client of the OCaml indicator sidecar (`ocaml-indicators/`), which
//! computes every indicator independently so native results can be
//! cross-verified. Protocol: `docs/sidecar-protocol.md`.

mod client;
mod compute;
mod config;
mod error;
pub mod verify;

pub use client::Sidecar;
pub use compute::compute;
pub use config::SidecarConfig;
pub use error::SidecarError;

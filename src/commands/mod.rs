//! One module per subcommand.

pub mod data;
pub mod indicators;

use engine_core::sources::LoadError;

pub use crate::exit;

/// Bad input data exits 2 like a usage error; anything else 1.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.downcast_ref::<LoadError>().is_some()) {
        exit::BAD_INPUT
    } else {
        exit::FAILURE
    }
}

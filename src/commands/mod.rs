//! One module per subcommand.

pub mod backtest;
pub mod data;
pub mod indicators;
pub mod inspect;
pub mod regime;
pub mod replay;
pub mod run;
mod session;
pub mod sessions;
pub mod validate;

use engine_core::sources::LoadError;

pub use crate::exit;

/// Input the user can fix (a bad parameter, model or feature file): the
/// message says what was expected, and the command exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Bad input data exits 2 like a usage error; anything else 1.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    let bad_input = |cause: &(dyn std::error::Error + 'static)| {
        cause.downcast_ref::<LoadError>().is_some()
            || cause.downcast_ref::<BadInput>().is_some()
            || cause.downcast_ref::<engine_core::regime::FeatureError>().is_some()
            || matches!(
                cause.downcast_ref::<engine_core::events::session::SessionError>(),
                Some(engine_core::events::session::SessionError::NotFound { .. })
                    | Some(engine_core::events::session::SessionError::SeqOutOfRange { .. })
            )
    };
    if err.chain().any(bad_input) {
        exit::BAD_INPUT
    } else {
        exit::FAILURE
    }
}

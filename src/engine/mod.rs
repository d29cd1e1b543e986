//! Runs plans: all spawning, scheduling and cancellation live here and nowhere else. The web UI
//! and the CLI both go through [`run::start`] and the [`run::RunHandle`] it returns.

pub(crate) mod arrival;
pub(crate) mod context;
pub(crate) mod cpu;
pub(crate) mod feeder;
#[cfg(test)]
mod plan_props;
pub mod prepare;
pub mod run;
pub(crate) mod setup;
pub mod shape;
pub mod spawner;
pub(crate) mod user;
pub mod vars;

pub use prepare::Selection;
pub use run::{launch, start, RunConfig, RunHandle, RunOutcome};

/// Why a run could not start or a command was refused. `field` names the input at fault
/// (the REST API reports it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the run has already ended")]
    Ended,
}

impl EngineError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> EngineError {
        EngineError::Invalid {
            field,
            message: message.into(),
        }
    }
}

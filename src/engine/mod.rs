//! Runs plans: all spawning, scheduling and cancellation live here and nowhere else. Every start
//! (web UI, API, CLI) arrives as one validated [`crate::request::RunRequest`] through
//! [`run::launch`]; the outside world then holds the [`run::RunHandle`] it returns.

pub(crate) mod arrival;
pub mod clock;
pub(crate) mod context;
pub(crate) mod cpu;
pub mod fanout;
pub(crate) mod feeder;
#[cfg(test)]
mod plan_props;
pub mod prepare;
pub mod remote;
pub mod run;
pub(crate) mod setup;
pub mod shape;
pub mod spawner;
pub(crate) mod timer;
pub(crate) mod user;
pub mod vars;

pub use run::{launch, RunHandle, RunOutcome};

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

    /// A user edit refused: the run follows the load shape `name`, whose stages set the users.
    pub fn shape_sets_users(name: &str) -> EngineError {
        EngineError::invalid(
            "users",
            format!("this run follows the load shape {name:?}: its stages set the users"),
        )
    }
}

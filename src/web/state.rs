//! What every handler shares: the run registry, the store, the plan library, the settings.
//! Cheap to clone.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use super::auth::Guard;
use super::error::ApiError;
use super::plan_cache::PlanCache;
use crate::agent::hub::AgentHub;
use crate::plan::library::PlanLibrary;
use crate::runs::Runs;
use crate::store::{RunLookup, RunRecord, Store};

#[derive(Clone)]
pub struct AppState {
    pub runs: Runs,
    pub store: Store,
    pub plan_cache: PlanCache,
    /// Cancelled when the server shuts down: open event streams end with it.
    pub shutdown: CancellationToken,
    pub guard: Arc<Guard>,
    /// True once the database is open and the plans directory was read.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// The built-in demo target's URL while it runs beside the UI.
    pub demo_url: Option<String>,
}

impl AppState {
    /// The plans offered right now (read again when the folder changed).
    pub async fn plans(&self) -> Arc<PlanLibrary> {
        self.plan_cache.get().await
    }

    /// The run with this id, live or stored; 404 naming `id` otherwise.
    /// Also by a unique id prefix, `last` or `last~N`; an ambiguous prefix is 400 naming the
    /// runs it matches.
    pub async fn find_run(&self, id: &str) -> Result<RunRecord, ApiError> {
        match self.runs.find(id).await? {
            RunLookup::Found(run) => Ok(*run),
            RunLookup::Missing => Err(ApiError::run_not_found(id)),
            RunLookup::Ambiguous(ids) => Err(ApiError::invalid(
                "id",
                format!(
                    "{id:?} is the start of several run ids ({}): give more of it",
                    ids.join(", ")
                ),
            )),
        }
    }
}

/// Lets the agents' socket take only the hub.
impl FromRef<AppState> for Arc<AgentHub> {
    fn from_ref(state: &AppState) -> Arc<AgentHub> {
        state.runs.agent_hub()
    }
}

/// Lets the auth handlers and middleware take only the guard.
impl FromRef<AppState> for Arc<Guard> {
    fn from_ref(state: &AppState) -> Arc<Guard> {
        state.guard.clone()
    }
}

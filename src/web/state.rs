//! What every handler shares: the run registry, the store, the settings. Cheap to clone.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::plan::library::PlanLibrary;
use crate::runs::Runs;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub runs: Runs,
    pub store: Store,
    pub plans_dir: PathBuf,
    /// Cancelled when the server shuts down: open event streams end with it.
    pub shutdown: CancellationToken,
    pub guard: Arc<crate::web::auth::Guard>,
    /// True once the database is open and the plans directory was read.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// The plans offered right now (read again on each call so edits show without a restart).
    pub fn plans(&self) -> PlanLibrary {
        PlanLibrary::load(&self.plans_dir)
    }
}

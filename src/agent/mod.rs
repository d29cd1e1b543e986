//! Scale-out: `hornet agent` processes that dial a coordinator, run a share of its run
//! (`crate::share`) and send one interval record a second (`crate::stats::interval`). This folder
//! owns the agent's side of that conversation; it must not schedule users itself (the engine
//! does, following the share) nor merge statistics (the coordinator's `Aggregator::absorb` does).
//!
//! So far: the messages both sides exchange and the checks of an agent's hello
//! ([`protocol`]). The transport (a WebSocket at `/api/agents`) and the commands come next.

pub mod coordinate;
pub mod hub;
pub mod local;
pub mod protocol;
pub mod worker;

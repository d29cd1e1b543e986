//! Engine runs for the engine-level tests: the one place that builds a run's configuration and
//! starts it (`engine::start`, `engine::launch`), so a change of the engine's entry point is a
//! change here only.

use std::sync::Arc;
use std::time::Duration;

use hornet::engine::{self, run::RunCompletion, EngineError, RunConfig, RunHandle, RunOutcome};
use hornet::plan::Plan;
use hornet::stats::snapshot::Snapshot;

/// A closed-model run of `users` against `host` for `run_time` (None: until stopped). Users
/// start at 100/s (all of them within a tenth of a second), and users stopping at the end may
/// finish their task for 5 s: in-flight requests are recorded, so counts can equal what the
/// target served (with 0 they would be dropped uncounted while the target has counted them,
/// Locust's semantics).
pub(crate) fn run_cfg(
    host: impl Into<String>,
    users: u32,
    run_time: impl Into<Option<Duration>>,
) -> RunConfig {
    RunConfig {
        host: Some(host.into()),
        users,
        spawn_rate: 100.0,
        run_time: run_time.into(),
        stop_timeout: Duration::from_secs(5),
        ..RunConfig::default()
    }
}

/// A run of the plan's shape `shape` against `host`: its stages (or arrival rate) set the users
/// and the run ends with them.
pub(crate) fn shape_cfg(host: impl Into<String>, shape: &str) -> RunConfig {
    RunConfig {
        host: Some(host.into()),
        shape: Some(shape.into()),
        ..RunConfig::default()
    }
}

/// `cfg` with a stop timeout of 0 (Locust's default): users are cut at the stop, and a request
/// still in flight is dropped uncounted.
pub(crate) fn cut_at_stop(cfg: RunConfig) -> RunConfig {
    RunConfig {
        stop_timeout: Duration::ZERO,
        ..cfg
    }
}

/// `cfg` asking for `users` (a shape run ignores it: its stages set the users).
pub(crate) fn with_users(cfg: RunConfig, users: u32) -> RunConfig {
    RunConfig { users, ..cfg }
}

/// `cfg` restricted to these user classes (at their plan weights).
pub(crate) fn only_classes(cfg: RunConfig, classes: &[&str]) -> RunConfig {
    let mut cfg = cfg;
    cfg.selection.classes = classes.iter().map(|c| (c.to_string(), None)).collect();
    cfg
}

/// Starts a run of a plan without setup steps.
pub(crate) fn start_run(plan: &Plan, cfg: RunConfig) -> (RunHandle, RunCompletion) {
    engine::start(plan, cfg).expect("run starts")
}

/// The error `engine::start` refuses this run with; panics if it starts.
pub(crate) fn start_refused(plan: &Plan, cfg: RunConfig) -> EngineError {
    match engine::start(plan, cfg) {
        Ok(_) => panic!("the run started"),
        Err(e) => e,
    }
}

/// The error `engine::launch` (setup first) refuses this run with; panics if it starts.
pub(crate) async fn launch_refused(plan: &Plan, cfg: RunConfig) -> EngineError {
    match engine::launch(plan, cfg).await {
        Ok(_) => panic!("the run started"),
        Err(e) => e,
    }
}

/// Waits for a started run to end; panics if it does not end within `limit`.
pub(crate) async fn wait_run_end(done: RunCompletion, limit: Duration) -> RunOutcome {
    tokio::time::timeout(limit, done.wait())
        .await
        .expect("run ends in time")
        .expect("run completes")
}

/// Runs `plan` to its end; panics if it does not end within `limit`.
pub(crate) async fn run_to_end(plan: &Plan, cfg: RunConfig, limit: Duration) -> Arc<Snapshot> {
    let (_handle, done) = start_run(plan, cfg);
    wait_run_end(done, limit).await.snapshot
}

/// Like [`run_to_end`], through `engine::launch`: the plan's setup steps run first.
pub(crate) async fn launch_to_end(plan: &Plan, cfg: RunConfig, limit: Duration) -> Arc<Snapshot> {
    let (_handle, done) = engine::launch(plan, cfg).await.expect("run starts");
    wait_run_end(done, limit).await.snapshot
}

//! Engine runs for the engine-level tests: the one place that builds a start
//! (`hornet::request::StartInput`), resolves it into a `RunRequest` and launches it, so a change
//! of the engine's entry point is a change here only.

use std::sync::Arc;
use std::time::Duration;

use hornet::engine::{self, run::RunCompletion, EngineError, RunHandle, RunOutcome};
use hornet::plan::Plan;
use hornet::request::{self, PlanChoice, RequestError, RunRequest, StartInput};
use hornet::stats::snapshot::Snapshot;
use hornet::store::RunSource;

/// A closed-model run of `users` against `host` for `run_time` (None: until stopped). Users
/// start at 100/s (all of them within a tenth of a second), and users stopping at the end may
/// finish their task for 5 s: in-flight requests are recorded, so counts can equal what the
/// target served (with 0 they would be dropped uncounted while the target has counted them,
/// Locust's semantics).
pub(crate) fn run_cfg(
    host: impl Into<String>,
    users: u32,
    run_time: impl Into<Option<Duration>>,
) -> StartInput {
    StartInput {
        host: Some(host.into()),
        users: Some(i64::from(users)),
        spawn_rate: Some(100.0),
        run_time: run_time.into(),
        stop_timeout: Some(Duration::from_secs(5)),
        ..StartInput::default()
    }
}

/// A run of the plan's shape `shape` against `host`: its stages (or arrival rate) set the users
/// and the run ends with them.
pub(crate) fn shape_cfg(host: impl Into<String>, shape: &str) -> StartInput {
    StartInput {
        host: Some(host.into()),
        shape: Some(shape.into()),
        ..StartInput::default()
    }
}

/// `cfg` with a stop timeout of 0 (Locust's default): users are cut at the stop, and a request
/// still in flight is dropped uncounted.
pub(crate) fn cut_at_stop(cfg: StartInput) -> StartInput {
    StartInput {
        stop_timeout: Some(Duration::ZERO),
        ..cfg
    }
}

/// `cfg` asking for `users` (a shape run ignores it: its stages set the users).
pub(crate) fn with_users(cfg: StartInput, users: u32) -> StartInput {
    StartInput {
        users: Some(i64::from(users)),
        ..cfg
    }
}

/// `cfg` restricted to these user classes (at their plan weights).
pub(crate) fn only_classes(cfg: StartInput, classes: &[&str]) -> StartInput {
    StartInput {
        classes: Some(classes.iter().map(|c| (c.to_string(), None)).collect()),
        ..cfg
    }
}

/// The validated request for `cfg` on `plan`, as every edge builds it.
fn resolve(plan: &Plan, cfg: StartInput) -> Result<RunRequest, RequestError> {
    request::resolve(PlanChoice::of(plan.clone()), cfg, RunSource::Api)
}

/// Starts a run (after the plan's setup steps, if it has any).
pub(crate) async fn start_run(plan: &Plan, cfg: StartInput) -> (RunHandle, RunCompletion) {
    let req = resolve(plan, cfg).expect("the start is valid");
    engine::launch(&req, None).await.expect("run starts")
}

/// Why this start is refused before anything runs; panics if it is valid.
pub(crate) fn start_refused(plan: &Plan, cfg: StartInput) -> RequestError {
    match resolve(plan, cfg) {
        Ok(_) => panic!("the start was accepted"),
        Err(e) => e,
    }
}

/// The error a valid start fails with when launched (a failing setup step); panics if it runs.
pub(crate) async fn launch_refused(plan: &Plan, cfg: StartInput) -> EngineError {
    let req = resolve(plan, cfg).expect("the start is valid");
    match engine::launch(&req, None).await {
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

/// Runs `plan` (setup steps first) to its end; panics if it does not end within `limit`.
pub(crate) async fn run_to_end(plan: &Plan, cfg: StartInput, limit: Duration) -> Arc<Snapshot> {
    let (_handle, done) = start_run(plan, cfg).await;
    wait_run_end(done, limit).await.snapshot
}

//! `setup = [..]`: steps run once before any user starts (Locust's `test_start` hooks, k6's
//! `setup()`), e.g. fetching `/tools` and keeping the ids as a pool for `pick()`. They run as one
//! user would (same step executors, same checks) with the plan's vars and the first row of each
//! feeder; what they capture becomes the run's shared variables. Their samples are handed to the
//! run's statistics; a failed step refuses the run with the step's failure.

use std::sync::Arc;

use rand::SeedableRng;
use tokio::sync::mpsc;

use super::context::UserContext;
use super::fanout::Topics;
use super::feeder::Feeders;
use super::prepare::prepare_step;
use super::user::run_steps;
use super::vars::{SharedVars, Vars};
use super::EngineError;
use crate::plan::model::Plan;
use crate::protocols::http_client::{HttpShared, OriginInfo};
use crate::protocols::step::PrepareCtx;
use crate::stats::recorder::Recorder;
use crate::stats::sample::Batch;

/// What setup leaves for the run.
pub(crate) struct SetupOutcome {
    /// The plan's vars plus every setup capture.
    pub(crate) shared: Arc<SharedVars>,
    /// The setup steps' samples, for the run's statistics.
    pub(crate) batches: Vec<Batch>,
}

/// Runs `plan.setup` (a plan already prepared: vars folded) against `base`. Each step is
/// bounded by its timeout, so setup ends.
pub(crate) async fn run_setup(
    plan: &Plan,
    base: &Arc<OriginInfo>,
    shared: Arc<SharedVars>,
    feeders: &Feeders,
) -> Result<SetupOutcome, EngineError> {
    let mut vars = Vars::new(shared);
    feeders.peek_first(&mut vars);
    // A setup step that publishes finds no subscriber (users start later).
    let topics = Topics::default();
    let cx = PrepareCtx {
        defaults: &plan.defaults,
        base,
        vars: &vars,
        topics: &topics,
    };
    let steps = plan
        .setup
        .iter()
        .map(|s| prepare_step(&cx, s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| match e {
            EngineError::Invalid { message, .. } => EngineError::invalid("setup", message),
            other => other,
        })?;
    // Room for one batch per step and the final one: the recorder never waits for a reader.
    let (tx, mut rx) = mpsc::channel(steps.len() + 1);
    let mut ctx = UserContext::new(
        vars,
        HttpShared::new(),
        Recorder::new(tx),
        rand::rngs::SmallRng::seed_from_u64(0x5e7a9),
    );
    let mut failed = None;
    for (i, step) in steps.iter().enumerate() {
        if !run_steps(std::slice::from_ref(step), &mut ctx, None).await {
            failed = Some(i);
            break;
        }
    }
    let UserContext { vars, rec, .. } = ctx;
    rec.finish().await;
    let mut batches = Vec::new();
    while let Ok(batch) = rx.try_recv() {
        batches.push(batch);
    }
    if let Some(i) = failed {
        let step = &plan.setup[i];
        let label = step
            .name
            .and_then(|id| plan.names.get(id.index()))
            .map(|n| format!(" ({} {})", n.kind, n.name))
            .unwrap_or_default();
        let why = batches
            .iter()
            .flat_map(|b| b.failures.last())
            .last()
            .map_or("it failed".to_string(), |f| f.error.clone());
        return Err(EngineError::invalid(
            "setup",
            format!(
                "setup step {}{label} failed: {why}; the run was not started",
                step.location
            ),
        ));
    }
    Ok(SetupOutcome {
        shared: vars.to_shared(),
        batches,
    })
}

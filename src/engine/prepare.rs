//! Turns a validated plan plus a run's choices (classes, weights, tags) into what users execute:
//! the selected classes with their steps prepared once (static URLs, headers and bodies built
//! ahead of the first request).

use std::sync::Arc;
use std::time::Duration;

use super::fanout::Topics;
use super::vars::Vars;
use super::EngineError;
use crate::plan::model::{Plan, Step, StepKind, UserClass, Wait};
use crate::protocols::http::PreparedHttp;
use crate::protocols::http_client::OriginInfo;
use crate::protocols::rpc::PreparedRpc;
use crate::protocols::sse::PreparedSse;
use crate::protocols::step::PrepareCtx;
use crate::protocols::ws::PreparedWs;

/// What a step does at run time: a request of one kind (prepared once per run, boxed: kinds
/// differ in size, and a class's step list stays compact), or a pause. Every request kind has
/// the same `execute(&self, &mut StepCtx) -> bool`.
#[derive(Debug)]
pub(crate) enum PreparedStep {
    Http(Box<PreparedHttp>),
    Rpc(Box<PreparedRpc>),
    Sse(Box<PreparedSse>),
    Ws(Box<PreparedWs>),
    Think(Duration),
}

#[derive(Debug)]
pub(crate) struct PreparedTask {
    pub(crate) steps: Vec<PreparedStep>,
}

/// A user class ready to run.
#[derive(Debug)]
pub(crate) struct PreparedClass {
    pub(crate) wait: Wait,
    pub(crate) on_start: Vec<PreparedStep>,
    pub(crate) on_stop: Vec<PreparedStep>,
    pub(crate) tasks: Vec<PreparedTask>,
    /// Running sums of the task weights, for picking a task with one random number.
    pub(crate) cumulative_weights: Vec<u32>,
}

pub(crate) fn prepare_class(
    plan: &Plan,
    class: &UserClass,
    base: &Arc<OriginInfo>,
    vars: &Vars,
    topics: &Topics,
) -> Result<PreparedClass, EngineError> {
    let cx = PrepareCtx {
        defaults: &plan.defaults,
        base,
        vars,
        topics,
    };
    let steps = |steps: &[Step]| -> Result<Vec<PreparedStep>, EngineError> {
        steps.iter().map(|s| prepare_step(&cx, s)).collect()
    };
    let mut cumulative_weights = Vec::with_capacity(class.tasks.len());
    let mut sum = 0u32;
    let mut tasks = Vec::with_capacity(class.tasks.len());
    for task in &class.tasks {
        sum = sum.saturating_add(task.weight);
        cumulative_weights.push(sum);
        tasks.push(PreparedTask {
            steps: steps(&task.steps)?,
        });
    }
    Ok(PreparedClass {
        wait: class.wait,
        on_start: steps(&class.on_start)?,
        on_stop: steps(&class.on_stop)?,
        tasks,
        cumulative_weights,
    })
}

pub(crate) fn prepare_step(cx: &PrepareCtx<'_>, step: &Step) -> Result<PreparedStep, EngineError> {
    let invalid =
        |e: crate::protocols::step::PrepareError| EngineError::invalid("plan", e.to_string());
    Ok(match &step.kind {
        StepKind::Think(d) => PreparedStep::Think(*d),
        StepKind::Http(h) => {
            PreparedStep::Http(Box::new(PreparedHttp::new(step, h, cx).map_err(invalid)?))
        }
        StepKind::Rpc(r) => {
            PreparedStep::Rpc(Box::new(PreparedRpc::new(step, r, cx).map_err(invalid)?))
        }
        StepKind::Sse(sse) => {
            PreparedStep::Sse(Box::new(PreparedSse::new(step, sse, cx).map_err(invalid)?))
        }
        StepKind::Ws(ws) => {
            PreparedStep::Ws(Box::new(PreparedWs::new(step, ws, cx).map_err(invalid)?))
        }
    })
}

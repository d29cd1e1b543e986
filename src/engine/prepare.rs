//! Turns a validated plan plus a run's choices (classes, weights, tags) into what users execute:
//! the selected classes with their steps prepared once (static URLs, headers and bodies built
//! ahead of the first request).

use std::sync::Arc;
use std::time::Duration;

use super::EngineError;
use crate::plan::model::{Plan, Step, StepKind, UserClass, Wait};
use crate::plan::template::Vars;
use crate::protocols::http::PreparedHttp;
use crate::protocols::http_client::OriginInfo;
use crate::protocols::request::PreparedRequest;
use crate::protocols::rpc::PreparedRpc;
use crate::protocols::sse::PreparedSse;
use crate::protocols::step::PrepareCtx;
use crate::protocols::ws::PreparedWs;

/// Which classes run, with what weight, and which tasks by tag.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Restrict to these classes (empty: all), optionally re-weighted.
    pub classes: Vec<(String, Option<u32>)>,
    /// Keep only tasks with at least one of these tags (empty: all).
    pub tags: Vec<String>,
    /// Drop tasks with any of these tags.
    pub exclude_tags: Vec<String>,
}

/// The classes a run uses, after `--class`, `--tags` and `--exclude-tags`. Classes left with
/// no task are dropped (Locust does the same); none left is an error.
pub fn select_classes(plan: &Plan, sel: &Selection) -> Result<Vec<UserClass>, EngineError> {
    let mut chosen: Vec<UserClass> = if sel.classes.is_empty() {
        plan.users.clone()
    } else {
        let mut out = Vec::new();
        for (name, weight) in &sel.classes {
            let Some(class) = plan.users.iter().find(|c| &c.name == name) else {
                let known: Vec<&str> = plan.users.iter().map(|c| c.name.as_str()).collect();
                return Err(EngineError::invalid(
                    "classes",
                    format!(
                        "unknown user class {name:?}; the plan has {}",
                        known.join(", ")
                    ),
                ));
            };
            let mut class = class.clone();
            if let Some(w) = weight {
                let w = crate::plan::limits::check_weight(i64::from(*w))
                    .map_err(|e| EngineError::invalid("classes", format!("{name}: {e}")))?;
                class.weight = w;
            }
            out.push(class);
        }
        out
    };
    for class in &mut chosen {
        class.tasks.retain(|t| {
            let included = sel.tags.is_empty() || t.tags.iter().any(|tag| sel.tags.contains(tag));
            let excluded = t.tags.iter().any(|tag| sel.exclude_tags.contains(tag));
            included && !excluded
        });
    }
    chosen.retain(|c| !c.tasks.is_empty());
    if chosen.is_empty() {
        return Err(EngineError::invalid(
            "classes",
            "no user class is left to run (check --class, --tags and --exclude-tags)",
        ));
    }
    Ok(chosen)
}

/// What a step does at run time.
#[derive(Debug)]
pub(crate) enum PreparedStep {
    Request(PreparedRequest),
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
) -> Result<PreparedClass, EngineError> {
    let cx = PrepareCtx {
        defaults: &plan.defaults,
        base,
        vars,
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
    let request = match &step.kind {
        StepKind::Think(d) => return Ok(PreparedStep::Think(*d)),
        StepKind::Http(h) => {
            PreparedRequest::Http(Box::new(PreparedHttp::new(step, h, cx).map_err(invalid)?))
        }
        StepKind::Rpc(r) => {
            PreparedRequest::Rpc(Box::new(PreparedRpc::new(step, r, cx).map_err(invalid)?))
        }
        StepKind::Sse(sse) => {
            PreparedRequest::Sse(Box::new(PreparedSse::new(step, sse, cx).map_err(invalid)?))
        }
        StepKind::Ws(ws) => {
            PreparedRequest::Ws(Box::new(PreparedWs::new(step, ws, cx).map_err(invalid)?))
        }
    };
    Ok(PreparedStep::Request(request))
}

//! Turns a validated plan plus a run's choices (classes, weights, tags) into what users execute:
//! the selected classes with their steps prepared once (static URLs, headers and bodies built
//! ahead of the first request).

use std::sync::Arc;
use std::time::Duration;

use super::fanout::Topics;
use super::vars::{SharedVars, Vars};
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
    /// The task's `requires`: variables that must have a value for it to run.
    pub(crate) requires: Vec<String>,
}

impl PreparedTask {
    /// Whether every variable the task requires has a value for this user (else the task is
    /// skipped: no request, no failure).
    pub(crate) fn is_ready(&self, vars: &Vars) -> bool {
        self.requires.iter().all(|name| vars.has_value(name))
    }
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
            requires: task.requires.clone(),
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

/// One warning per task that can never run: a variable it `requires` has no value once setup
/// is done, and no step of its class captures one (e.g. a catalogue that setup found empty).
pub(crate) fn never_ready_warnings(classes: &[UserClass], shared: &SharedVars) -> Vec<String> {
    let mut out = Vec::new();
    for class in classes {
        let captured = |name: &str| {
            let steps = class.tasks.iter().flat_map(|t| &t.steps);
            class
                .on_start
                .iter()
                .chain(steps)
                .chain(&class.on_stop)
                .any(|s| s.captures.iter().any(|c| c.var == name))
        };
        for task in &class.tasks {
            let missing: Vec<&str> = task
                .requires
                .iter()
                .map(String::as_str)
                .filter(|name| !shared.has_value(name) && !captured(name))
                .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "task {:?} of {} is skipped whenever it is picked: {} no value after setup \
                     (missing, null or an empty list) and nothing in the class captures it",
                    task.name,
                    class.name,
                    match missing.as_slice() {
                        [one] => format!("its requires {one} has"),
                        many => format!("its requires {} have", many.join(", ")),
                    }
                ));
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn warns_of_tasks_whose_requires_nothing_can_fill() {
        let plan = crate::plan::parse_str(
            r#"
setup = [
  { get = "/tools", capture.tool_ids = "json:$[*].id" },
  { get = "/servers", capture.server_ids = "json:$[*].id" },
]
[[users]]
name = "Reader"
on_start = [ { get = "/me", capture.mine = "json:$.ids[*]" } ]
tasks = [
  { get = "/tools/{{ pick(tool_ids) }}", name = "/tools/[id]", requires = ["tool_ids"] },
  { get = "/servers/{{ pick(server_ids) }}", name = "/servers/[id]", requires = ["server_ids"] },
  { get = "/mine/{{ pick(mine) }}", name = "/mine/[id]", requires = ["mine"] },
  { name = "both", requires = ["tool_ids", "server_ids"], steps = [ { get = "/x" } ] },
]
"#,
            "w.toml",
            None,
        )
        .expect("valid plan");
        // Setup found tools but no servers; `mine` is the users' own capture (filled later).
        let shared = SharedVars::from_values([
            ("tool_ids".to_string(), json!(["t1"])),
            ("server_ids".to_string(), json!([])),
        ]);
        assert_eq!(
            never_ready_warnings(&plan.users, &shared),
            [
                "task \"/servers/[id]\" of Reader is skipped whenever it is picked: its requires \
                 server_ids has no value after setup (missing, null or an empty list) and nothing \
                 in the class captures it",
                "task \"both\" of Reader is skipped whenever it is picked: its requires \
                 server_ids has no value after setup (missing, null or an empty list) and nothing \
                 in the class captures it",
            ]
        );
        let none = SharedVars::empty();
        assert_eq!(never_ready_warnings(&plan.users, &none).len(), 3);
    }
}

//! Walks a validated plan's steps: [`prepare`] renders the plan's `[vars]` once per run and
//! folds every template that depends only on them and `env()` into a static one (so per-request
//! rendering is left to templates that use captures, feeder rows, `uuid()`, `randint()` or
//! `now_ms()`); [`step_variables`] lists the names a step's templates read. No I/O besides
//! `env()`, and no run-time state: the engine turns [`PlanVars`] into its own variable store.

use std::collections::HashSet;
use std::sync::Arc;

use minijinja::value::{Object, Value as MjValue};

use super::model::{Body, Plan, Step, StepKind, WsMessage};
use super::template::{JsonTemplate, RenderError, Template, Variables};

/// The plan's `[vars]`, rendered in file order (later ones may read earlier ones).
#[derive(Debug, Default)]
pub struct PlanVars {
    values: Arc<Rendered>,
}

#[derive(Clone, Debug, Default)]
struct Rendered(Vec<(String, MjValue)>);

impl Rendered {
    fn lookup(&self, name: &str) -> Option<&MjValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl Object for Rendered {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        key.as_str().and_then(|k| self.lookup(k).cloned())
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<MjValue> {
        self.lookup(key).cloned()
    }
}

impl Variables for PlanVars {
    fn context(&self) -> MjValue {
        MjValue::from_dyn_object(self.values.clone())
    }

    fn contains(&self, name: &str) -> bool {
        self.values.lookup(name).is_some()
    }
}

impl PlanVars {
    fn set_str(&mut self, name: &str, value: &str) {
        let values = &mut Arc::make_mut(&mut self.values).0;
        match values.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = MjValue::from(value),
            None => values.push((name.to_string(), MjValue::from(value))),
        }
    }

    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.values
            .lookup(name)
            .and_then(|v| serde_json::to_value(v).ok())
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.values.0.iter().map(|(k, _)| k.as_str())
    }

    /// The rendered values, in file order.
    pub fn into_values(self) -> Vec<(String, MjValue)> {
        Arc::unwrap_or_clone(self.values).0
    }
}

/// Every top-level name the step's templates read (path, headers, query, body, params,
/// messages), sorted and deduplicated.
pub fn step_variables(step: &Step) -> Vec<String> {
    let pairs = |pairs: &[(String, Template)]| -> Vec<String> {
        pairs.iter().flat_map(|(_, t)| t.variables()).collect()
    };
    let mut names: Vec<String> = match &step.kind {
        StepKind::Http(h) => {
            let mut n = h.path.variables();
            n.extend(pairs(&h.headers));
            n.extend(pairs(&h.query));
            match &h.body {
                Some(Body::Json(j)) => n.extend(j.variables()),
                Some(Body::Text(t)) => n.extend(t.variables()),
                Some(Body::Form(f)) => n.extend(pairs(f)),
                None => {}
            }
            n
        }
        StepKind::Rpc(r) => {
            let mut n = r.path.variables();
            n.extend(pairs(&r.headers));
            n.extend(r.params.iter().flat_map(JsonTemplate::variables));
            n
        }
        StepKind::Sse(e) => {
            let mut n = e.path.variables();
            n.extend(pairs(&e.headers));
            n.extend(e.post.iter().flat_map(JsonTemplate::variables));
            n
        }
        StepKind::Ws(w) => {
            let mut n = w.path.variables();
            n.extend(pairs(&w.headers));
            for m in &w.send {
                match m {
                    WsMessage::Text(t) => n.extend(t.variables()),
                    WsMessage::Json(j) => n.extend(j.variables()),
                }
            }
            n
        }
        StepKind::Think(_) => Vec::new(),
    };
    names.sort();
    names.dedup();
    names
}

/// Renders `plan.vars` once, in order (later vars may use earlier ones and `env()`), and returns
/// a copy of the plan in which every template that uses only plan vars and `env()` is folded into
/// a static template (so per-request rendering is free).
pub fn prepare(plan: &Plan) -> Result<(Plan, PlanVars), RenderError> {
    let mut vars = PlanVars::default();
    for (name, template) in &plan.vars {
        let value = template
            .render(&vars)
            .map_err(|e| RenderError(format!("vars.{name}: {e}")))?
            .into_owned();
        vars.set_str(name, &value);
    }

    // Captures and feeder rows are per user: a plan var they shadow cannot be folded.
    let mut per_user: HashSet<String> = plan.data.iter().map(|d| d.name.clone()).collect();
    let all_steps = plan.setup.iter().chain(plan.users.iter().flat_map(|c| {
        c.on_start
            .iter()
            .chain(c.on_stop.iter())
            .chain(c.tasks.iter().flat_map(|t| t.steps.iter()))
    }));
    for step in all_steps {
        per_user.extend(step.captures.iter().map(|c| c.var.clone()));
    }
    let names: HashSet<&str> = vars.names().filter(|n| !per_user.contains(*n)).collect();

    let mut out = plan.clone();
    for (_, t) in out.defaults.headers.iter_mut() {
        t.fold(&vars, &names)?;
    }
    let fold_steps = |steps: &mut [Step]| -> Result<(), RenderError> {
        steps
            .iter_mut()
            .try_for_each(|s| fold_step(s, &vars, &names))
    };
    fold_steps(&mut out.setup)?;
    for class in out.users.iter_mut() {
        fold_steps(&mut class.on_start)?;
        fold_steps(&mut class.on_stop)?;
        for task in class.tasks.iter_mut() {
            fold_steps(&mut task.steps)?;
        }
    }
    Ok((out, vars))
}

fn fold_step(step: &mut Step, vars: &PlanVars, names: &HashSet<&str>) -> Result<(), RenderError> {
    let pairs = |pairs: &mut Vec<(String, Template)>| -> Result<(), RenderError> {
        pairs.iter_mut().try_for_each(|(_, t)| t.fold(vars, names))
    };
    let location = step.location.clone();
    let at = |e: RenderError| RenderError(format!("{location}: {e}"));
    match &mut step.kind {
        StepKind::Http(h) => {
            h.path.fold(vars, names).map_err(at)?;
            pairs(&mut h.headers).map_err(at)?;
            pairs(&mut h.query).map_err(at)?;
            match &mut h.body {
                Some(Body::Json(j)) => j.fold(vars, names).map_err(at)?,
                Some(Body::Text(t)) => t.fold(vars, names).map_err(at)?,
                Some(Body::Form(f)) => pairs(f).map_err(at)?,
                None => {}
            }
        }
        StepKind::Rpc(r) => {
            r.path.fold(vars, names).map_err(at)?;
            pairs(&mut r.headers).map_err(at)?;
            if let Some(p) = &mut r.params {
                p.fold(vars, names).map_err(at)?;
            }
        }
        StepKind::Sse(s) => {
            s.path.fold(vars, names).map_err(at)?;
            pairs(&mut s.headers).map_err(at)?;
            if let Some(p) = &mut s.post {
                p.fold(vars, names).map_err(at)?;
            }
        }
        StepKind::Ws(w) => {
            w.path.fold(vars, names).map_err(at)?;
            pairs(&mut w.headers).map_err(at)?;
            for m in w.send.iter_mut() {
                match m {
                    WsMessage::Text(t) => t.fold(vars, names).map_err(at)?,
                    WsMessage::Json(j) => j.fold(vars, names).map_err(at)?,
                }
            }
        }
        StepKind::Think(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_variables_cover_every_part() {
        let plan = crate::plan::parse_str(
            r#"
[data.d]
values = ["x"]
[[users]]
name = "U"
tasks = [ { post = "/a/{{ a }}", headers = { X = "{{ b }}" }, query = { q = "{{ c }}" }, json = { k = ["{{ d.value }}"] }, capture.a = "status", capture.b = "status", capture.c = "status" } ]
"#,
            "x.toml",
            None,
        )
        .unwrap();
        assert_eq!(
            step_variables(&plan.users[0].tasks[0].steps[0]),
            vec!["a", "b", "c", "d"]
        );
    }

    #[test]
    fn folding_keeps_per_user_templates() {
        let names: HashSet<&str> = ["token"].into_iter().collect();
        let mut v = PlanVars::default();
        v.set_str("token", "t0k");
        let mut a = Template::parse("Bearer {{ token }}").unwrap();
        a.fold(&v, &names).unwrap();
        assert!(a.is_static());
        assert_eq!(a.source(), "Bearer t0k");
        let mut b = Template::parse("{{ token }}-{{ uuid() }}").unwrap();
        b.fold(&v, &names).unwrap();
        assert!(!b.is_static());
        let mut c = Template::parse("/tools/{{ tool_id }}").unwrap();
        c.fold(&v, &names).unwrap();
        assert!(!c.is_static());
        let mut j = JsonTemplate::from_value(&json!({"auth": "{{ token }}"})).unwrap();
        j.fold(&v, &names).unwrap();
        assert!(j.is_static());
        assert_eq!(&j.render_bytes(&v).unwrap()[..], br#"{"auth":"t0k"}"#);
    }
}

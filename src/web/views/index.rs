//! `/`: the start form (plans, their user classes and tasks, run settings) and the recent runs.
//! View models and the page template only; the handler that fills them is `web::pages`.

use askama::Template;
use askama_web::WebTemplate;

use super::history::RunRow;
use crate::format::fmt_share;
use crate::plan::describe::format_wait;
use crate::plan::model::Plan;

/// One plan on the start form.
#[derive(Clone, Debug)]
pub struct PlanView {
    /// The plan's key: its file name under `plans/` (`demo.toml`), the form's `plan` value.
    pub key: String,
    pub name: String,
    pub description: String,
    /// Empty when the plan has no host.
    pub host: String,
    pub classes: Vec<ClassView>,
    pub shapes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct ClassView {
    pub name: String,
    pub weight: u32,
    pub fixed_count: Option<u32>,
    pub wait: String,
    pub tags: Vec<String>,
    pub tasks: Vec<TaskView>,
}

#[derive(Clone, Debug)]
pub struct TaskView {
    pub name: String,
    pub weight: u32,
    /// Share of this class's picks, e.g. `66.7%`.
    pub percent: String,
}

impl PlanView {
    pub fn from_plan(key: &str, plan: &Plan) -> PlanView {
        let classes = plan
            .users
            .iter()
            .map(|c| {
                let total: u64 = c.tasks.iter().map(|t| u64::from(t.weight)).sum();
                ClassView {
                    name: c.name.clone(),
                    weight: c.weight,
                    fixed_count: c.fixed_count,
                    wait: format_wait(&c.wait),
                    tags: c.tags.clone(),
                    tasks: c
                        .tasks
                        .iter()
                        .map(|t| TaskView {
                            name: t.name.clone(),
                            weight: t.weight,
                            percent: percent_of(u64::from(t.weight), total),
                        })
                        .collect(),
                }
            })
            .collect();
        PlanView {
            key: key.to_string(),
            name: plan.name.clone(),
            description: plan.description.clone(),
            host: plan.host.clone().unwrap_or_default(),
            classes,
            shapes: plan.shapes.iter().map(|s| s.name.clone()).collect(),
        }
    }
}

fn percent_of(part: u64, whole: u64) -> String {
    fmt_share(if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    })
}

/// `/`: the start form and the recent runs.
#[derive(Template, WebTemplate)]
#[template(path = "pages/index.html")]
pub struct IndexPage {
    pub plans: Vec<PlanView>,
    /// Index into `plans` of the plan shown first.
    pub selected: usize,
    pub recent: Vec<RunRow>,
    /// Id of the run in progress, if any (a banner links to it).
    pub active_run: Option<String>,
    /// A message to show above the form (e.g. why the last start was refused).
    pub error: Option<String>,
    /// When agents may join: how many are waiting (the Agents field's default).
    pub agents_waiting: Option<u32>,
}

impl IndexPage {
    pub fn new(plans: Vec<PlanView>, recent: Vec<RunRow>, active_run: Option<String>) -> Self {
        IndexPage {
            plans,
            selected: 0,
            recent,
            active_run,
            error: None,
            agents_waiting: None,
        }
    }

    fn selected_host(&self) -> &str {
        self.plans
            .get(self.selected)
            .map_or("", |p| p.host.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::RunState;
    use crate::web::views::fixtures::{assert_escaped, plan, record, XSS};

    #[test]
    fn plan_view_lists_classes_tasks_and_shapes() {
        let v = PlanView::from_plan("demo.toml", &plan());
        assert_eq!(v.key, "demo.toml");
        assert_eq!(v.host, "http://127.0.0.1:8090");
        assert_eq!(v.shapes, vec!["ramp".to_string()]);
        let c = &v.classes[0];
        assert_eq!((c.name.as_str(), c.weight), ("Reader", 3));
        assert_eq!(c.wait, "between(1s, 3s)");
        assert_eq!(c.tasks.len(), 2);
        assert_eq!(c.tasks[0].percent, "66.7%");
        assert_eq!(c.tasks[1].percent, "33.3%");
    }

    #[test]
    fn index_page_renders_the_start_form() {
        let plans = vec![
            PlanView::from_plan("demo.toml", &plan()),
            PlanView {
                key: "other.toml".into(),
                name: "Other".into(),
                host: "http://other".into(),
                ..PlanView::from_plan("other.toml", &plan())
            },
        ];
        let recent = vec![RunRow::from_record(&record(RunState::Stopped))];
        let mut page = IndexPage::new(plans, recent, Some("run-1".into()));
        page.error = Some(format!("bad {XSS}"));
        let html = page.render().unwrap();
        for needle in [
            r#"<form id="start-form" method="post" action="/runs/start""#,
            r#"<select name="plan" id="plan">"#,
            r#"<option value="demo.toml" data-host="http://127.0.0.1:8090" selected>"#,
            r#"<fieldset class="classes" data-plan="demo.toml">"#,
            r#"<fieldset class="classes" data-plan="other.toml" hidden disabled>"#,
            r#"<input type="checkbox" name="class" value="Reader" checked>"#,
            r#"name="weight.Reader" value="3""#,
            "between(1s, 3s)",
            "66.7%",
            r#"name="users" id="users" value="10""#,
            r#"name="spawn_rate" id="spawn_rate" value="2""#,
            r#"name="host" id="host" value="http://127.0.0.1:8090""#,
            r#"name="run_time""#,
            r#"<option value="ramp">ramp</option>"#,
            r#"id="start""#,
            r#"href="/runs/run-1""#,
            r#"href="/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b""#,
            "badge state-stopped",
            "2024-05-01 12:00:00 UTC",
            "55.2",
        ] {
            assert!(html.contains(needle), "missing {needle:?}");
        }
        assert_escaped(&html);
    }
}

//! Page and fragment templates (askama, escaped by default) and the pure builders that turn
//! plans, run records and snapshots into display strings. No I/O, no clock: handlers fetch the
//! data and hand it over; everything here is unit-tested by rendering.
//!
//! Rule: nothing coming from a plan, a run or a target is ever marked `|safe`. The one `|safe`
//! is the embedded series JSON, whose `<` are escaped by [`series_json`].

use askama::Template;
use askama_web::WebTemplate;

use crate::format::{
    fmt_bytes, fmt_duration, fmt_ms, fmt_pct, fmt_rps, fmt_share, fmt_utc, iso_utc,
};
use crate::plan::describe::format_wait;
use crate::plan::model::Plan;
use crate::report::html::script_json;
use crate::report::settings::settings_rows;
use crate::stats::snapshot::{FailureRow, Point, RunState, Snapshot, StatsRow};
use crate::stats::thresholds::Verdict;
use crate::store::model::{Ratio, RunRecord};

/// The states offered by the history filter, in lifecycle order.
pub const RUN_STATES: [RunState; 5] = [
    RunState::Spawning,
    RunState::Running,
    RunState::Stopping,
    RunState::Stopped,
    RunState::Aborted,
];

/// The series as JSON safe to embed in `<script type="application/json">`: every `<` becomes
/// `\u003c`, so no `</script>` (or `<!--`) can appear inside.
pub fn series_json(points: &[Point]) -> String {
    // The charts' six numbers only: a point's extras (history CSV columns) would triple the
    // page of a long run.
    #[derive(serde::Serialize)]
    struct ChartPoint {
        t_s: u64,
        users: u32,
        rps: f64,
        fail_per_s: f64,
        p50_ms: f64,
        p95_ms: f64,
    }
    let points: Vec<ChartPoint> = points
        .iter()
        .map(|p| ChartPoint {
            t_s: p.t_s,
            users: p.users,
            rps: p.rps,
            fail_per_s: p.fail_per_s,
            p50_ms: p.p50_ms,
            p95_ms: p.p95_ms,
        })
        .collect();
    script_json(&points)
}

fn short_id(id: &str) -> String {
    // UUID v7: the first 8 hex digits are time; the tail tells runs of the same minute apart.
    if id.len() > 13 {
        format!("{}…{}", &id[..8], &id[id.len() - 4..])
    } else {
        id.to_string()
    }
}

fn percent_of(part: u64, whole: u64) -> String {
    fmt_share(if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    })
}

// ---------------------------------------------------------------------------------------------
// View models
// ---------------------------------------------------------------------------------------------

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

/// One run in a list (start page, history).
#[derive(Clone, Debug)]
pub struct RunRow {
    pub id: String,
    pub short_id: String,
    pub plan: String,
    pub state: String,
    pub source: String,
    pub host: String,
    /// `YYYY-MM-DD HH:MM:SS UTC`
    pub started: String,
    pub started_iso: String,
    pub duration: String,
    pub users: String,
    pub requests: String,
    pub fail_pct: String,
    pub rps: String,
    pub p95: String,
}

impl RunRow {
    pub fn from_record(r: &RunRecord) -> RunRow {
        let dash = || "—".to_string();
        let duration = match (&r.summary, r.ended_at_ms) {
            (Some(s), _) if s.duration_s > 0.0 => fmt_duration(s.duration_s),
            (_, Some(end)) => fmt_duration((end - r.started_at_ms) as f64 / 1000.0),
            _ => dash(),
        };
        let s = r.summary.as_ref();
        RunRow {
            id: r.id.clone(),
            short_id: short_id(&r.id),
            plan: r.plan_name.clone(),
            state: r.state.as_str().to_string(),
            source: r.source.as_str().to_string(),
            host: r.settings.host.clone(),
            started: fmt_utc(r.started_at_ms),
            started_iso: iso_utc(r.started_at_ms),
            duration,
            users: s.map_or_else(
                || r.settings.users.to_string(),
                |s| s.peak_users.to_string(),
            ),
            requests: s.map_or_else(dash, |s| s.requests.to_string()),
            fail_pct: s.map_or_else(dash, |s| fmt_pct(s.fail_ratio())),
            rps: s.map_or_else(dash, |s| fmt_rps(s.rps)),
            p95: s.map_or_else(dash, |s| fmt_ms(s.p95_ms)),
        }
    }
}

/// One statistics row, formatted.
#[derive(Clone, Debug, Default)]
pub struct RowView {
    pub method: String,
    pub name: String,
    pub requests: String,
    pub fails: String,
    pub has_fails: bool,
    pub median: String,
    pub p90: String,
    pub p95: String,
    pub p99: String,
    pub avg: String,
    pub min: String,
    pub max: String,
    pub avg_bytes: String,
    pub rps: String,
    pub fail_per_s: String,
}

impl RowView {
    pub fn from_row(r: &StatsRow) -> RowView {
        let none = r.num_requests == 0;
        let ms = |v: f64| if none { "—".to_string() } else { fmt_ms(v) };
        RowView {
            method: r.method.clone(),
            name: r.name.clone(),
            requests: r.num_requests.to_string(),
            fails: r.num_failures.to_string(),
            has_fails: r.num_failures > 0,
            median: ms(r.median_ms),
            p90: ms(r.percentiles.p90),
            p95: ms(r.percentiles.p95),
            p99: ms(r.percentiles.p99),
            avg: ms(r.avg_ms),
            min: ms(r.min_ms),
            max: ms(r.max_ms),
            avg_bytes: fmt_bytes(r.avg_bytes),
            rps: fmt_rps(r.current_rps),
            fail_per_s: fmt_rps(r.current_fail_per_s),
        }
    }
}

/// One threshold verdict, formatted for the run page's Thresholds section.
#[derive(Clone, Debug, Default)]
pub struct ThresholdView {
    pub expression: String,
    pub passed: bool,
    /// `observed 212 ms`, `no samples`, `observed 412 ms on GET /slow`.
    pub observed: String,
    /// `held`, `failed`, or while the run goes `holding` / `failing` (judged so far).
    pub status: &'static str,
    /// `stopped the run after 3s` for the threshold that ended it.
    pub note: String,
}

impl ThresholdView {
    /// `live`: the verdicts are the thresholds judged on the latest snapshot, not final.
    pub fn list(verdicts: &[Verdict], live: bool) -> Vec<ThresholdView> {
        verdicts
            .iter()
            .map(|v| ThresholdView {
                expression: v.expression.clone(),
                passed: v.passed,
                observed: v.observed_phrase(),
                status: match (live, v.passed) {
                    (false, true) => "held",
                    (false, false) => "failed",
                    (true, true) => "holding",
                    (true, false) => "failing",
                },
                note: v
                    .stopped_run_at_s
                    .map(|at| format!("stopped the run after {}", fmt_duration(at)))
                    .unwrap_or_default(),
            })
            .collect()
    }
}

/// The statistics table's content: per-name rows and the Aggregated row.
#[derive(Clone, Debug, Default)]
pub struct StatsView {
    pub rows: Vec<RowView>,
    pub total: RowView,
}

impl StatsView {
    pub fn from_snapshot(s: &Snapshot) -> StatsView {
        StatsView {
            rows: s.rows.iter().map(RowView::from_row).collect(),
            total: RowView::from_row(&s.total),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RatioView {
    pub name: String,
    pub percent: String,
    pub tasks: Vec<(String, String)>,
}

fn ratio_views(r: &Ratio) -> Vec<RatioView> {
    r.classes
        .iter()
        .map(|c| RatioView {
            name: c.name.clone(),
            percent: fmt_share(c.ratio),
            tasks: c
                .tasks
                .iter()
                .map(|t| (t.name.clone(), fmt_share(t.ratio)))
                .collect(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

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
}

impl IndexPage {
    pub fn new(plans: Vec<PlanView>, recent: Vec<RunRow>, active_run: Option<String>) -> Self {
        IndexPage {
            plans,
            selected: 0,
            recent,
            active_run,
            error: None,
        }
    }

    fn selected_host(&self) -> &str {
        self.plans
            .get(self.selected)
            .map_or("", |p| p.host.as_str())
    }
}

/// `/runs/{id}`: live while the run runs, its permanent report afterwards.
#[derive(Template, WebTemplate)]
#[template(path = "pages/run.html")]
pub struct RunPage {
    pub run: RunRecord,
    pub live: bool,
    /// The user count last asked for (the Edit form's value): the start's, or the last edit's.
    pub target_users: u32,
    pub state: String,
    pub started_iso: String,
    pub started: String,
    pub users: String,
    pub rps: String,
    pub fail_pct: String,
    /// Open-model starts dropped (every user busy); shown for shape runs and whenever non-zero.
    pub dropped: u64,
    /// Same field name as [`StatsTable`]: `partials/stats_table.html` is included as is.
    pub stats: StatsView,
    /// Same field name as [`FailuresTable`].
    pub failures: Vec<FailureRow>,
    pub warnings: Vec<String>,
    pub ratio: Vec<RatioView>,
    pub settings: Vec<(&'static str, String)>,
    /// The run's threshold verdicts (a live run's are judged so far; `pages.rs` sets them).
    pub thresholds: Vec<ThresholdView>,
    /// `series_json(&snapshot.series)`: the only `|safe` value.
    pub series_json: String,
}

impl RunPage {
    /// `snapshot` is the live one or the one rebuilt from the store (same shape); `live` says
    /// whether the page connects to the event stream and shows the controls.
    pub fn new(run: RunRecord, snapshot: &Snapshot, live: bool) -> RunPage {
        let t = &snapshot.total;
        // Live: the rolling 10 s rate, as Locust shows; a report: the whole run's rate.
        let rps = if live { t.current_rps } else { t.total_rps };
        RunPage {
            live,
            target_users: run.settings.users,
            state: snapshot.state.as_str().to_string(),
            started_iso: iso_utc(run.started_at_ms),
            started: fmt_utc(run.started_at_ms),
            users: snapshot.users.to_string(),
            rps: fmt_rps(rps),
            fail_pct: fmt_pct(t.fail_ratio()),
            dropped: snapshot.dropped,
            stats: StatsView::from_snapshot(snapshot),
            failures: snapshot.failures.clone(),
            warnings: snapshot.warnings.clone(),
            ratio: ratio_views(&run.ratio),
            settings: settings_rows(&run),
            thresholds: ThresholdView::list(&run.verdicts, false),
            series_json: series_json(&snapshot.series),
            run,
        }
    }
}

/// The `stats` SSE event's data: `partials/stats_table.html` alone.
#[derive(Template)]
#[template(path = "partials/stats_table.html")]
pub struct StatsTable {
    pub stats: StatsView,
}

impl StatsTable {
    pub fn new(snapshot: &Snapshot) -> StatsTable {
        StatsTable {
            stats: StatsView::from_snapshot(snapshot),
        }
    }
}

/// The `failures` SSE event's data: `partials/failures_table.html` alone.
#[derive(Template)]
#[template(path = "partials/failures_table.html")]
pub struct FailuresTable {
    pub failures: Vec<FailureRow>,
}

impl FailuresTable {
    pub fn new(snapshot: &Snapshot) -> FailuresTable {
        FailuresTable {
            failures: snapshot.failures.clone(),
        }
    }
}

/// The `warnings` SSE event's data: `partials/warnings.html` alone (the generator saturated,
/// the history could not be written, requests cancelled at stop...).
#[derive(Template)]
#[template(path = "partials/warnings.html")]
pub struct WarningsList {
    pub warnings: Vec<String>,
}

impl WarningsList {
    pub fn new(snapshot: &Snapshot) -> WarningsList {
        WarningsList {
            warnings: snapshot.warnings.clone(),
        }
    }
}

/// `/runs`: history, newest first.
#[derive(Template, WebTemplate)]
#[template(path = "pages/runs.html")]
pub struct RunsPage {
    pub runs: Vec<RunRow>,
    /// Plan names for the filter.
    pub plans: Vec<String>,
    pub plan_filter: Option<String>,
    pub state_filter: Option<String>,
    /// The `before` cursor of the next (older) page, if there is one.
    pub next_before: Option<String>,
}

impl RunsPage {
    /// `/runs?plan=..&state=..&before=..` for the next page, keeping the filters.
    fn older_href(&self) -> Option<String> {
        let before = self.next_before.as_deref()?;
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(p) = self.plan_filter.as_deref().filter(|p| !p.is_empty()) {
            q.append_pair("plan", p);
        }
        if let Some(s) = self.state_filter.as_deref().filter(|s| !s.is_empty()) {
            q.append_pair("state", s);
        }
        q.append_pair("before", before);
        Some(format!("/runs?{}", q.finish()))
    }

    fn plan_selected(&self, plan: &str) -> bool {
        self.plan_filter.as_deref() == Some(plan)
    }

    fn state_selected(&self, state: &str) -> bool {
        self.state_filter.as_deref() == Some(state)
    }

    fn states(&self) -> Vec<&'static str> {
        RUN_STATES.iter().map(|s| s.as_str()).collect()
    }
}

/// Any HTML error page; pair it with its status: `(StatusCode, ErrorPage)`.
#[derive(Template, WebTemplate)]
#[template(path = "pages/error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub title: String,
    pub message: String,
}

impl ErrorPage {
    pub fn new(status: u16, title: impl Into<String>, message: impl Into<String>) -> ErrorPage {
        ErrorPage {
            status,
            title: title.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::Percentiles;
    use crate::store::model::{
        ClassChoice, ClassRatio, RunSettings, RunSource, RunSummary, TaskRatio,
    };

    const XSS: &str = "<script>alert(1)</script>";
    const XSS_ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

    fn row(method: &str, name: &str, n: u64, fails: u64) -> StatsRow {
        StatsRow {
            method: method.into(),
            name: name.into(),
            num_requests: n,
            num_failures: fails,
            avg_ms: 12.345,
            min_ms: 1.0,
            max_ms: 250.5,
            median_ms: 10.0,
            percentiles: Percentiles {
                p50: 10.0,
                p90: 40.0,
                p95: 55.25,
                p99: 120.0,
                ..Percentiles::default()
            },
            avg_bytes: 512.4,
            current_rps: 12.34,
            current_fail_per_s: 0.5,
            total_rps: 10.0,
            ..StatsRow::default()
        }
    }

    fn snapshot(state: RunState) -> Snapshot {
        Snapshot {
            state,
            elapsed_s: 12.0,
            users: 10,
            rows: vec![row("GET", "/tools", 100, 2), row("POST", XSS, 5, 0)],
            total: row("", "Aggregated", 105, 2),
            failures: vec![FailureRow {
                method: "GET".into(),
                name: "/tools".into(),
                error: format!("HTTP 500: {XSS}"),
                occurrences: 2,
            }],
            series: vec![Point {
                t_s: 1,
                users: 10,
                rps: 9.5,
                fail_per_s: 0.0,
                p50_ms: 10.0,
                p95_ms: 50.0,
                ..Default::default()
            }],
            current_p50_ms: 10.0,
            current_p95_ms: 55.0,
            warnings: vec![format!("generator lag {XSS}")],
            dropped: 0,
            cancelled: 0,
        }
    }

    fn record(state: RunState) -> RunRecord {
        RunRecord {
            id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            plan_name: format!("Demo {XSS}"),
            plan_hash: "abc123".into(),
            plan_file: Some("demo.toml".into()),
            plan_source: format!("name = \"{XSS}\"\n"),
            source: RunSource::Ui,
            state,
            settings: RunSettings {
                host: "http://127.0.0.1:8090/?a=1&b=2".into(),
                users: 10,
                spawn_rate: 2.0,
                run_time_s: Some(60.0),
                classes: vec![ClassChoice {
                    name: "Reader".into(),
                    weight: 3,
                }],
                tags: vec!["read".into()],
                exclude_tags: vec![],
                shape: None,
                stop_timeout_s: 0.0,
                thresholds: vec![],
            },
            ratio: Ratio {
                classes: vec![ClassRatio {
                    name: "Reader".into(),
                    ratio: 0.75,
                    tasks: vec![TaskRatio {
                        name: XSS.into(),
                        ratio: 2.0 / 3.0,
                    }],
                }],
            },
            owner: "test".into(),
            started_at_ms: 1_714_564_800_000, // 2024-05-01 12:00:00 UTC
            ended_at_ms: Some(1_714_564_925_000),
            heartbeat_ms: 0,
            summary: Some(RunSummary {
                requests: 1000,
                failures: 5,
                rps: 8.0,
                p95_ms: 55.25,
                peak_users: 10,
                duration_s: 125.0,
                ..RunSummary::default()
            }),
            verdicts: vec![
                Verdict {
                    expression: format!("'{XSS}'.p95 < 300ms"),
                    passed: false,
                    observed: 412.0,
                    observed_text: "412 ms".into(),
                    threshold: 300.0,
                    unit: crate::stats::thresholds::Unit::Ms,
                    samples: 5,
                    row: None,
                    abort_on_fail: true,
                    stopped_run_at_s: Some(3.0),
                },
                Verdict {
                    expression: "error_rate < 1%".into(),
                    passed: true,
                    observed: 0.005,
                    observed_text: "0.5%".into(),
                    threshold: 0.01,
                    unit: crate::stats::thresholds::Unit::Ratio,
                    samples: 1000,
                    row: None,
                    abort_on_fail: false,
                    stopped_run_at_s: None,
                },
            ],
        }
    }

    fn plan() -> Plan {
        let text = format!(
            r#"
name = "Demo"
description = "desc {XSS}"
host = "http://127.0.0.1:8090"
[[users]]
name = "Reader"
weight = 3
wait = "between(1s, 3s)"
tags = ["read"]
tasks = [
  {{ get = "/tools", weight = 2 }},
  {{ get = "/servers", weight = 1, name = "{XSS}" }},
]
[shapes.ramp]
stages = [ {{ duration = "30s", users = 20, spawn_rate = 5 }} ]
"#
        );
        crate::plan::parse_str(&text, "demo.toml", None).expect("valid plan")
    }

    fn assert_escaped(html: &str) {
        assert!(!html.contains(XSS), "raw script tag in output");
        assert!(html.contains(XSS_ESCAPED), "escaped name missing");
    }

    #[test]
    fn series_json_keeps_the_charts_numbers_only() {
        let s = series_json(&[Point {
            t_s: 3,
            users: 1,
            rps: 1.5,
            fail_per_s: 0.0,
            p50_ms: 1.0,
            p95_ms: 2.0,
            ..Default::default()
        }]);
        assert!(s.starts_with("[{\"t_s\":3,"));
        assert_eq!(series_json(&[]), "[]");
    }

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
    fn run_row_formats_a_record() {
        let r = RunRow::from_record(&record(RunState::Stopped));
        assert_eq!(r.started, "2024-05-01 12:00:00 UTC");
        assert_eq!(r.duration, "2m 05s");
        assert_eq!(r.requests, "1000");
        assert_eq!(r.fail_pct, "0.50%");
        assert_eq!(r.p95, "55.2");
        assert_eq!(r.state, "stopped");
        assert_eq!(r.short_id, "0190a1b2…4a5b");
        let mut running = record(RunState::Running);
        running.summary = None;
        running.ended_at_ms = None;
        let r = RunRow::from_record(&running);
        assert_eq!((r.duration.as_str(), r.requests.as_str()), ("—", "—"));
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

    #[test]
    fn live_run_page_connects_sse_and_shows_controls() {
        let html = RunPage::new(
            record(RunState::Running),
            &snapshot(RunState::Running),
            true,
        )
        .render()
        .unwrap();
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        for needle in [
            r#"hx-ext="sse""#.to_string(),
            format!(r#"sse-connect="/api/runs/{id}/events""#),
            r#"sse-close="done""#.to_string(),
            r#"<div id="stats" sse-swap="stats">"#.to_string(),
            r#"<div id="failures" sse-swap="failures">"#.to_string(),
            r#"id="run-state" class="badge state-running">running<"#.to_string(),
            r#"<dd id="run-users">10</dd>"#.to_string(),
            r#"<dd id="run-rps">12.34</dd>"#.to_string(),
            r#"<dd id="run-fail">1.90%</dd>"#.to_string(),
            r#"id="edit-form""#.to_string(),
            format!(r#"data-url="/api/runs/{id}""#),
            format!(r#"action="/api/runs/{id}/stop""#),
            r#"id="stop""#.to_string(),
            r#"id="chart-rps""#.to_string(),
            r#"id="chart-latency""#.to_string(),
            r#"id="chart-users""#.to_string(),
            r#"<script type="application/json" id="series-data">[{"t_s":1,"#.to_string(),
            "/static/vendor/htmx.min.js?v=".to_string(),
            "/static/vendor/sse.js?v=".to_string(),
            "/static/vendor/uPlot.iife.min.js?v=".to_string(),
            "Reader ×3".to_string(),
            "66.7%".to_string(),
        ] {
            assert!(html.contains(&needle), "missing {needle:?}");
        }
        assert_escaped(&html);
        // htmx must not load before the body it processes exists in the page.
        assert!(html.find("series-data").unwrap() < html.find("htmx.min.js").unwrap());
    }

    #[test]
    fn finished_run_page_is_a_static_report() {
        let html = RunPage::new(
            record(RunState::Stopped),
            &snapshot(RunState::Stopped),
            false,
        )
        .render()
        .unwrap();
        for absent in [
            "sse-connect",
            "sse-swap",
            "edit-form",
            r#"id="stop""#,
            "htmx.min.js",
        ] {
            assert!(!html.contains(absent), "unexpected {absent:?}");
        }
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        for file in [
            "stats.csv",
            "history.csv",
            "failures.csv",
            "results.jtl",
            "report.html",
            "report.json",
        ] {
            assert!(html.contains(&format!("/runs/{id}/{file}")), "{file}");
        }
        assert!(html.contains(&format!(r#"href="/api/runs/{id}""#)));
        // A report shows the whole run's rate.
        assert!(html.contains(r#"<dd id="run-rps">10.00</dd>"#));
        assert!(html.contains("2024-05-01 12:02:05 UTC"));
        assert!(html.contains("http://127.0.0.1:8090/?a=1&#38;b=2"));
        assert!(html.contains("uPlot.iife.min.js"));
        // the verdicts, first thing on the Statistics tab
        let thresholds = html.find(r#"id="thresholds""#).expect("thresholds section");
        assert!(thresholds < html.find(r#"id="stats""#).expect("stats"));
        assert!(html.contains(&format!(
            "<code>&#39;{XSS_ESCAPED}&#39;.p95 &#60; 300ms</code> <span class=\"badge\">failed</span> \
             <span class=\"muted\">observed 412 ms</span> <strong>stopped the run after 3s</strong>"
        )));
        assert!(html.contains(
            "<code>error_rate &#60; 1%</code> <span class=\"badge\">held</span> \
             <span class=\"muted\">observed 0.5%</span></li>"
        ));
        assert!(!html.contains("judged so far"));
        assert_escaped(&html);
    }

    #[test]
    fn stats_fragment_has_every_column_and_the_aggregated_footer() {
        let html = StatsTable::new(&snapshot(RunState::Running))
            .render()
            .unwrap();
        for col in [
            "Type",
            "Name",
            "# Requests",
            "# Fails",
            "Median (ms)",
            "90%ile (ms)",
            "95%ile (ms)",
            "99%ile (ms)",
            "Average (ms)",
            "Min (ms)",
            "Max (ms)",
            "Average size (bytes)",
            "Current RPS",
            "Current Failures/s",
        ] {
            assert!(html.contains(&format!(">{col}</th>")), "column {col}");
        }
        let foot = &html[html.find("<tfoot>").unwrap()..];
        assert!(foot.contains("Aggregated") && foot.contains(">105<"));
        assert!(html.contains(">12.3<") && html.contains(">55.2<") && html.contains(">512<"));
        assert!(!html.contains("<html"), "a fragment, not a page");
        assert_escaped(&html);

        let mut empty = snapshot(RunState::Spawning);
        empty.rows.clear();
        empty.total = StatsRow::default();
        let html = StatsTable::new(&empty).render().unwrap();
        assert!(html.contains("No requests yet."));
    }

    #[test]
    fn failures_fragment_escapes_errors() {
        let html = FailuresTable::new(&snapshot(RunState::Running))
            .render()
            .unwrap();
        assert!(html.contains(">2<") && html.contains("/tools"));
        assert_escaped(&html);
        let mut none = snapshot(RunState::Running);
        none.failures.clear();
        assert!(FailuresTable::new(&none)
            .render()
            .unwrap()
            .contains("No failures."));
    }

    #[test]
    fn runs_page_filters_compares_and_pages() {
        let page = RunsPage {
            runs: vec![RunRow::from_record(&record(RunState::Stopped))],
            plans: vec!["Demo".into(), "A&B plan".into(), XSS.into()],
            plan_filter: Some("A&B plan".into()),
            state_filter: Some("stopped".into()),
            next_before: Some("0190a1b2".into()),
        };
        let html = page.render().unwrap();
        for needle in [
            r#"<form class="filters" method="get" action="/runs""#,
            r#"<option value="A&#38;B plan" selected>"#,
            r#"<option value="stopped" selected>stopped</option>"#,
            r#"<option value="aborted">aborted</option>"#,
            r#"<form id="compare-form""#,
            r#"action="/runs/compare""#,
            r#"id="compare""#,
            r#"name="run" value="0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" form="compare-form""#,
            r#"href="/runs?plan=A%26B+plan&#38;state=stopped&#38;before=0190a1b2" id="older""#,
        ] {
            assert!(html.contains(needle), "missing {needle:?}\n{html}");
        }
        assert_escaped(&html);
        let last = RunsPage {
            next_before: None,
            ..page
        };
        assert!(!last.render().unwrap().contains("id=\"older\""));
    }

    #[test]
    fn error_page_shows_status_and_escapes() {
        let html = ErrorPage::new(404, "Run not found", format!("no run {XSS}"))
            .render()
            .unwrap();
        assert!(html.contains("<p class=\"error-status\">404</p>"));
        assert!(html.contains("<h1>Run not found</h1>"));
        assert_escaped(&html);
    }
}

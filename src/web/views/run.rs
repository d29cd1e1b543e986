//! `/runs/{id}`: the run page, live while the run runs and its permanent report afterwards —
//! header numbers, threshold verdicts, the current ratio, configuration and the charts' series.
//! The statistics and failures tables it includes are `tables.rs`'s. View models and the page
//! template only; no handler logic.

use askama::Template;
use askama_web::WebTemplate;

use super::tables::{AgentView, AgentsTable, StatsView};
use crate::format::{fmt_duration, fmt_pct, fmt_rps, fmt_share, fmt_utc, iso_utc};
use crate::report::html::script_json;
use crate::report::settings::settings_rows;
use crate::report::stages::StageView;
use crate::stats::snapshot::{FailureRow, Point, Snapshot};
use crate::stats::thresholds::Verdict;
use crate::store::model::{Ratio, RunRecord};

/// The `thresholds` SSE event's data: `partials/thresholds.html` alone, each second while the
/// run goes and once more with the final verdicts.
#[derive(Template)]
#[template(path = "partials/thresholds.html")]
pub struct ThresholdsList {
    pub thresholds: Vec<ThresholdView>,
    pub judged_so_far: bool,
}

impl ThresholdsList {
    pub fn new(verdicts: &[Verdict], judged_so_far: bool) -> ThresholdsList {
        ThresholdsList {
            thresholds: ThresholdView::list(verdicts, judged_so_far),
            judged_so_far,
        }
    }
}

/// The `stages` SSE event's data: `partials/stages.html` alone, each second while a shaped run
/// goes and once more with the final analysis.
#[derive(Template)]
#[template(path = "partials/stages.html")]
pub struct StagesSection {
    pub stages: StageView,
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
    /// The generator's lag, p50 / p99 (paced and open-model runs).
    pub lag: Option<String>,
    /// Same field name as [`StatsTable`]: `partials/stats_table.html` is included as is.
    pub stats: StatsView,
    /// Same field name as [`FailuresTable`].
    pub failures: Vec<FailureRow>,
    pub warnings: Vec<String>,
    pub ratio: Vec<RatioView>,
    pub settings: Vec<(&'static str, String)>,
    /// The run's threshold verdicts (a live run's are judged so far; `pages.rs` sets them).
    pub thresholds: Vec<ThresholdView>,
    /// Same field names as [`ThresholdsList`]: the verdicts are not final yet.
    pub judged_so_far: bool,
    /// A shaped run's stage analysis (so far while it runs; `pages.rs` sets it).
    pub stages: Option<StageView>,
    /// `series_json(&snapshot.series)`: the only `|safe` value.
    pub series_json: String,
    /// A run on agents: the Agents view (same field names as [`AgentsTable`]).
    pub agents: Vec<AgentView>,
    pub lost: String,
    /// `monitor_json` of the run's monitor series (`|safe` too); `pages.rs` sets them.
    pub monitor_json: String,
    pub has_monitors: bool,
    /// The monitor summary (a stored run's): series, first, after warm-up, last, avg, max,
    /// growth.
    pub monitor_rows: Vec<[String; 7]>,
    /// The JTL download: offered (with a sentence when not every sample is in it), or a sentence
    /// why not (`pages.rs` sets them from `Runs::samples_of`).
    pub jtl_offered: bool,
    pub jtl_note: Option<String>,
}

impl RunPage {
    /// `snapshot` is the live one or the one rebuilt from the store (same shape); `live` says
    /// whether the page connects to the event stream and shows the controls.
    pub fn new(run: RunRecord, snapshot: &Snapshot, live: bool) -> RunPage {
        let t = &snapshot.total;
        // Live: the rolling 10 s rate, as Locust shows; a report: the whole run's rate.
        let rps = if live { t.current_rps } else { t.total_rps };
        let agents = AgentsTable::new(snapshot);
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
            lag: snapshot.lag.map(|l| l.text()),
            stats: StatsView::from_snapshot(snapshot),
            failures: snapshot.failures.clone(),
            warnings: snapshot.warnings.clone(),
            ratio: ratio_views(&run.ratio),
            settings: settings_rows(&run),
            thresholds: ThresholdView::list(&run.verdicts, false),
            judged_so_far: live,
            stages: None,
            series_json: series_json(&snapshot.series),
            agents: agents.agents,
            lost: agents.lost,
            monitor_json: "{\"series\":[]}".to_string(),
            has_monitors: false,
            monitor_rows: Vec::new(),
            jtl_offered: true,
            jtl_note: None,
            run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::RunState;
    use crate::web::views::fixtures::{assert_escaped, record, snapshot, XSS_ESCAPED};

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
    fn a_shaped_run_shows_its_stages_live_and_stored() {
        use crate::stats::stages::{LoadModel, StageAnalysis, StageRow, StageState};
        let analysis = StageAnalysis {
            model: LoadModel::Rate,
            stages: vec![StageRow {
                index: 1,
                from_s: 0.0,
                to_s: 30.0,
                target: 20.0,
                state: StageState::Running,
                seconds: 12,
                achieved: 3.5,
                requests: 240,
                failures: 0,
                rps: 20.0,
                p50_ms: 4.0,
                p95_ms: 9.5,
                p99_ms: 12.0,
                error_rate: 0.0,
                steady: None,
            }],
            steps: Vec::new(),
            breaking_point: None,
            complete: false,
        };
        for live in [true, false] {
            let state = if live {
                RunState::Running
            } else {
                RunState::Stopped
            };
            let mut page = RunPage::new(record(state), &snapshot(state), live);
            page.stages = Some(StageView::new(&analysis));
            let html = page.render().unwrap();
            let section = if live {
                r#"<div class="stages-section" id="stages" sse-swap="stages">"#
            } else {
                r#"<div class="stages-section" id="stages">"#
            };
            assert!(html.contains(section), "{html}");
            for needle in [
                "<td>0s–30s</td>",
                "<td>20/s</td>",
                "<th scope=\"col\" class=\"num\">In flight</th>",
                "<td class=\"num\">9.50</td>",
                "no breaking point so far",
            ] {
                assert!(html.contains(needle), "missing {needle:?}");
            }
        }
        // a run without a shape has no section
        let html = RunPage::new(
            record(RunState::Stopped),
            &snapshot(RunState::Stopped),
            false,
        )
        .render()
        .unwrap();
        assert!(!html.contains("stages-section"));
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
}

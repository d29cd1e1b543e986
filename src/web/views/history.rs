//! `/runs`: the history list with its filters, paging and compare picker, and [`RunRow`], one
//! run in a list (also the start page's recent runs). View models and the page template only.

use askama::Template;
use askama_web::WebTemplate;

use crate::format::{fmt_duration, fmt_ms, fmt_pct, fmt_rps, fmt_utc, iso_utc, DASH};
use crate::stats::snapshot::RunState;
use crate::store::model::RunRecord;

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
        let dash = || DASH.to_string();
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

fn short_id(id: &str) -> String {
    // UUID v7: the first 8 hex digits are time; the tail tells runs of the same minute apart.
    if id.len() > 13 {
        format!("{}…{}", &id[..8], &id[id.len() - 4..])
    } else {
        id.to_string()
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
    /// `key=value`, or empty.
    pub label_filter: String,
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
        if !self.label_filter.is_empty() {
            q.append_pair("label", &self.label_filter);
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
        RunState::ALL.iter().map(|s| s.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::views::fixtures::{assert_escaped, record, XSS};

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
    fn runs_page_filters_compares_and_pages() {
        let page = RunsPage {
            runs: vec![RunRow::from_record(&record(RunState::Stopped))],
            plans: vec!["Demo".into(), "A&B plan".into(), XSS.into()],
            plan_filter: Some("A&B plan".into()),
            state_filter: Some("stopped".into()),
            label_filter: "branch=main".into(),
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
            r#"href="/runs?plan=A%26B+plan&#38;state=stopped&#38;label=branch%3Dmain&#38;before=0190a1b2" id="older""#,
            r#"name="label" value="branch=main""#,
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
}

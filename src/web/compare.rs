//! `/runs/compare?base=A&head=B` (also `?run=A&run=B` from the history page without
//! JavaScript: the older run is the base): the two runs side by side, per name and Aggregated,
//! with deltas, the regressions of `max_regression` (default [`DEFAULT_RULES`]) highlighted,
//! and both runs' per-second series for the overlaid charts. The numbers come from
//! `report::compare`, exactly as `hornet compare` prints them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, PageError};
use super::state::AppState;
use super::views::series_json;
use crate::format::{fmt_utc, iso_utc};
use crate::report::compare::{
    self, delta_text, parse_rules, value_text, CompareRow, Comparison, Metric, RunData,
    DEFAULT_RULES,
};
use crate::store::RunRecord;

/// One run's header on the page.
pub struct RunSide {
    pub id: String,
    pub plan: String,
    pub state: String,
    pub started: String,
    pub started_iso: String,
}

impl RunSide {
    fn new(r: &RunRecord) -> RunSide {
        RunSide {
            id: r.id.clone(),
            plan: r.plan_name.clone(),
            state: r.state.as_str().to_string(),
            started: fmt_utc(r.started_at_ms),
            started_iso: iso_utc(r.started_at_ms),
        }
    }
}

/// One metric of one row: the two values, the change and whether a rule broke.
pub struct Cell {
    pub base: String,
    pub head: String,
    pub change: String,
    /// `regression`, `better` or empty (a CSS class).
    pub class: &'static str,
}

pub struct CompareRowView {
    pub method: String,
    pub name: String,
    pub cells: Vec<Cell>,
    pub regressed: bool,
}

impl CompareRowView {
    fn new(r: &CompareRow) -> CompareRowView {
        let cells = Metric::ALL
            .iter()
            .map(|&m| {
                let side = |s: Option<compare::Measures>| {
                    s.map_or("—".to_string(), |s| value_text(m, s.get(m)))
                };
                let delta = r.delta(m);
                let class = if r.is_regressed(m) { "regression" } else { "" };
                Cell {
                    base: side(r.base),
                    head: side(r.head),
                    change: delta.map_or("—".to_string(), |d| delta_text(m, &d)),
                    class,
                }
            })
            .collect();
        CompareRowView {
            method: r.method.clone(),
            name: r.name.clone(),
            cells,
            regressed: !r.regressed.is_empty(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/compare.html")]
pub struct ComparePage {
    pub base: RunSide,
    pub head: RunSide,
    pub rules: String,
    pub metrics: Vec<&'static str>,
    pub rows: Vec<CompareRowView>,
    pub total: Option<CompareRowView>,
    pub regressions: Vec<String>,
    /// `{"base": [points], "head": [points]}`, `<` escaped (see `views::series_json`).
    pub series_json: String,
    /// `{"base": {"series": [..]}, "head": {"series": [..]}}`: both runs' monitor series
    /// (`report::monitor::monitor_json`), overlaid by name; `compare_runs` sets it.
    pub monitor_json: String,
    pub has_monitors: bool,
}

impl ComparePage {
    pub fn new(
        base: &RunRecord,
        head: &RunRecord,
        rules: String,
        c: &Comparison,
        base_series: &[crate::stats::snapshot::Point],
        head_series: &[crate::stats::snapshot::Point],
    ) -> ComparePage {
        ComparePage {
            base: RunSide::new(base),
            head: RunSide::new(head),
            rules,
            metrics: Metric::ALL.iter().map(|m| m.label()).collect(),
            rows: c
                .rows
                .iter()
                .filter(|r| !r.is_total())
                .map(CompareRowView::new)
                .collect(),
            total: c
                .rows
                .iter()
                .find(|r| r.is_total())
                .map(CompareRowView::new),
            regressions: c.regressions.iter().map(|r| r.to_string()).collect(),
            series_json: format!(
                "{{\"base\":{},\"head\":{}}}",
                series_json(base_series),
                series_json(head_series)
            ),
            monitor_json: "{}".to_string(),
            has_monitors: false,
        }
    }
}

/// `base`/`head` (or two `run`), and `max_regression`, from the query string.
fn query_ids(query: &str) -> Result<(String, String, Option<String>), ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let rules = value("max_regression");
    if let (Some(base), Some(head)) = (value("base"), value("head")) {
        return Ok((base, head, rules));
    }
    let picked: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "run")
        .map(|(_, v)| v.trim().to_string())
        .collect();
    match picked.as_slice() {
        [a, b] => Ok((a.clone(), b.clone(), rules)),
        _ => Err(ApiError::invalid(
            "run",
            "pick two runs to compare (base=A&head=B, or run=A&run=B)",
        )),
    }
}

pub async fn compare_runs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let (a, b, rules) = query_ids(query.as_deref().unwrap_or_default())?;
    let rules_text = rules.unwrap_or_else(|| DEFAULT_RULES.to_string());
    let rules =
        parse_rules(&rules_text).map_err(|e| ApiError::invalid("max_regression", e.to_string()))?;
    let (mut base, mut head) = (state.find_run(&a).await?, state.find_run(&b).await?);
    // From `run=A&run=B` (or a swapped link) the older run is the base.
    if (head.started_at_ms, &head.id) < (base.started_at_ms, &base.id) && query_is_picks(&query) {
        std::mem::swap(&mut base, &mut head);
    }
    let mut data = Vec::with_capacity(2);
    let mut series = Vec::with_capacity(2);
    for run in [&base, &head] {
        let stats = state.store.load_stats(&run.id).await?;
        let histograms = state.store.load_histograms(&run.id).await?;
        data.push(RunData::decode(&run.id, &stats, &histograms)?);
        // a live run's series is in its snapshot, not yet all in the store
        series.push(state.runs.snapshot_of(run).await?.series.clone());
    }
    let c = compare::compare(&data[0], &data[1], &rules);
    let mut page = ComparePage::new(&base, &head, rules_text, &c, &series[0], &series[1]);
    let (base_monitors, head_monitors) = (
        state.runs.monitors_of(&base).await?,
        state.runs.monitors_of(&head).await?,
    );
    page.has_monitors = base_monitors
        .series
        .iter()
        .any(|s| head_monitors.get(&s.name).is_some());
    page.monitor_json = format!(
        "{{\"base\":{},\"head\":{}}}",
        crate::report::monitor::monitor_json(&base_monitors.series),
        crate::report::monitor::monitor_json(&head_monitors.series)
    );
    Ok(page.into_response())
}

fn query_is_picks(query: &Option<String>) -> bool {
    query
        .as_deref()
        .is_some_and(|q| !url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "base"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::{compare, parse_rules, RunData};
    use crate::stats::snapshot::StatsRow;
    use crate::store::RunSource;

    #[test]
    fn the_query_takes_base_head_or_two_picks() {
        assert_eq!(
            query_ids("base=a&head=b").unwrap(),
            ("a".into(), "b".into(), None)
        );
        assert_eq!(
            query_ids("run=x&run=y&max_regression=p95%3D5%25").unwrap(),
            ("x".into(), "y".into(), Some("p95=5%".into()))
        );
        assert_eq!(
            query_ids("run=x").unwrap_err().field.as_deref(),
            Some("run")
        );
        assert!(query_is_picks(&Some("run=x&run=y".into())));
        assert!(!query_is_picks(&Some("base=x&head=y".into())));
    }

    fn record(id: &str) -> RunRecord {
        RunRecord {
            plan_name: "P<lan>".into(),
            plan_hash: String::new(),
            source: RunSource::Api,
            ..RunRecord::example(id)
        }
    }

    fn data(p95: f64) -> RunData {
        let row = |method: &str, name: &str| StatsRow {
            method: method.into(),
            name: name.into(),
            num_requests: 10,
            percentiles: crate::stats::snapshot::Percentiles {
                p95,
                ..Default::default()
            },
            ..StatsRow::default()
        };
        RunData {
            rows: vec![row("GET", "<b>/x</b>")],
            total: Some(row("", "Aggregated")),
            histograms: Default::default(),
        }
    }

    #[test]
    fn the_page_highlights_regressions_and_escapes_names() {
        let c = compare(&data(10.0), &data(20.0), &parse_rules("p95=10%").unwrap());
        let html = ComparePage::new(&record("A"), &record("B"), "p95=10%".into(), &c, &[], &[])
            .render()
            .unwrap();
        assert!(
            html.contains("&#60;b&#62;/x&#60;/b&#62;") || html.contains("&lt;b&gt;/x"),
            "{html}"
        );
        assert!(!html.contains("<b>/x"));
        assert!(html.contains("P&#60;lan&#62;") || html.contains("P&lt;lan&gt;"));
        assert_eq!(
            html.matches("class=\"num regression\"").count(),
            2,
            "{html}"
        );
        assert!(html.contains("+100.0%"));
        assert!(html.contains("id=\"compare-data\""));
        assert!(html.contains("href=\"/runs/A\"") && html.contains("href=\"/runs/B\""));
        assert!(html.contains("Regressions (2)"), "{html}");
    }
}

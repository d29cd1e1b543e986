//! The HTML pages: `/` (start form), `/runs` (history), `/runs/{id}` (a run, live or as its
//! permanent report) and the start form's POST. Handlers gather view data and render askama
//! templates from `views`; every value from a plan, a run or a target is escaped there. A run's
//! files (CSV, JSON, HTML) are `downloads.rs`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::api;
use super::error::{ApiError, PageError};
use super::state::AppState;
use super::views::{IndexPage, PlanView, RunPage, RunRow, RunsPage, ThresholdView};
use crate::plan::duration::parse_duration;
use crate::plan::library::DEMO_KEY;
use crate::report::stages::StageView;
use crate::request::StartInput;
use crate::runs::lookup::KeptSamples;
use crate::store::{RunFilter, RunSource};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/runs", get(list_runs))
        .route("/runs/start", post(start_from_form))
        .route("/runs/compare", get(super::compare::compare_runs))
        .route("/runs/{id}", get(show_run))
        .route("/runs/{id}/{file}", get(super::downloads::get_run_file))
}

#[derive(serde::Deserialize)]
struct IndexQuery {
    plan: Option<String>,
}

async fn index(
    State(state): State<AppState>,
    Query(q): Query<IndexQuery>,
) -> Result<Response, PageError> {
    Ok(index_page(&state, q.plan.as_deref(), None)
        .await?
        .into_response())
}

async fn index_page(
    state: &AppState,
    selected: Option<&str>,
    error: Option<String>,
) -> Result<IndexPage, ApiError> {
    let lib = state.plans().await;
    let plans: Vec<PlanView> = lib
        .plans
        .iter()
        .map(|e| PlanView::from_plan(&e.key, &e.plan))
        .collect();
    let records = state
        .store
        .list_runs(&RunFilter {
            limit: 10,
            ..RunFilter::default()
        })
        .await?;
    let recent = records.iter().map(RunRow::from_record).collect();
    let active = state.runs.live().first().map(|r| r.id.clone());
    let mut page = IndexPage::new(plans, recent, active);
    let position = |key: &str| lib.plans.iter().position(|e| e.key == key);
    // The plan asked for; else the Demo plan while the demo target runs (what the README and
    // a first run are about); else the plan of the newest run; else the first.
    let last_used = records.first().and_then(|r| r.plan_file.as_deref());
    page.selected = selected
        .and_then(position)
        .or_else(|| state.demo_url.as_ref().and_then(|_| position(DEMO_KEY)))
        .or_else(|| last_used.and_then(position))
        .unwrap_or(0);
    // The demo plan aims at the demo target wherever --demo-target put it.
    if let Some(url) = &state.demo_url {
        for p in page.plans.iter_mut().filter(|p| p.key == DEMO_KEY) {
            p.host = url.clone();
        }
    }
    page.error = error;
    let hub = state.runs.agent_hub();
    if hub.accepts_agents() {
        page.agents_waiting = Some(hub.ready_count());
    }
    Ok(page)
}

/// The start form (`application/x-www-form-urlencoded`): `plan`, `class` (repeated, the ticked
/// classes), `weight.CLASS`, `users`, `spawn_rate`, `host`, `run_time`, `shape`, `labels`,
/// `monitor` (a `[monitor]` table in TOML, errors at its line:col), `thresholds` (one a line).
fn form_input(body: &[u8]) -> Result<(Option<String>, StartInput), ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let number = |key: &'static str| -> Result<Option<f64>, ApiError> {
        value(key)
            .map(|v| {
                v.parse::<f64>().map_err(|_| {
                    ApiError::invalid(key, format!("{key} must be a number, got {v:?}"))
                })
            })
            .transpose()
    };
    let users = match number("users")? {
        Some(u) if u.fract() != 0.0 => {
            return Err(ApiError::invalid(
                "users",
                format!("users must be a whole number, got {u}"),
            ))
        }
        Some(u) => Some(u as i64),
        None => None,
    };
    let ticked: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "class")
        .map(|(_, v)| v)
        .collect();
    if ticked.is_empty() {
        return Err(ApiError::invalid("classes", "tick at least one user class"));
    }
    let mut classes = Vec::new();
    for name in ticked {
        let weight = match value(&format!("weight.{name}")) {
            None => None,
            Some(w) => Some(w.parse::<i64>().map_err(|_| {
                ApiError::invalid(
                    "classes",
                    format!("weight of {name} must be a whole number ≥ 1, got {w:?}"),
                )
            })?),
        };
        classes.push((name.clone(), weight));
    }
    let run_time = value("run_time")
        .map(|t| {
            parse_duration(&t).map_err(|e| ApiError::invalid("run_time", format!("run_time: {e}")))
        })
        .transpose()?;
    let input = StartInput {
        host: value("host"),
        users,
        spawn_rate: number("spawn_rate")?,
        run_time,
        classes: Some(classes),
        shape: value("shape"),
        agents: match number("agents")? {
            Some(n) if n.fract() != 0.0 => {
                return Err(ApiError::invalid(
                    "agents",
                    format!("agents must be a whole number, got {n}"),
                ))
            }
            n => n.map(|n| n as i64),
        },
        // `branch=main, sha=abc123`
        labels: value("labels")
            .map(|text| {
                text.split(',')
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| {
                        crate::request::parse_label(l).map_err(|e| ApiError::invalid("labels", e))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default(),
        monitor: value("monitor")
            .map(|text| {
                crate::plan::parse_monitor(&text, "Monitors")
                    .map(|m| (m, text))
                    .map_err(|e| ApiError::invalid("monitor", e.to_string()))
            })
            .transpose()?,
        // one a line, beside the plan's: `p95 < 300ms`, `error_rate[1m] < 5%`
        thresholds: value("thresholds")
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        ..StartInput::default()
    };
    Ok((value("plan"), input))
}

async fn start_from_form(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, PageError> {
    let started = match form_input(&body) {
        Ok((plan, input)) => {
            let lib = state.plans().await;
            (state.runs)
                .start_from_library(&lib, plan.as_deref(), input, RunSource::Ui)
                .await
                .map_err(|e| (ApiError::from(e), plan))
        }
        Err(e) => Err((e, None)),
    };
    match started {
        Ok(live) => Ok(Redirect::to(&format!("/runs/{}", live.id)).into_response()),
        Err((e, plan)) => {
            let status = e.status;
            let message = match &e.field {
                Some(field) => format!("{field}: {}", e.message),
                None => e.message.clone(),
            };
            let page = index_page(&state, plan.as_deref(), Some(message)).await?;
            Ok((status, page).into_response())
        }
    }
}

async fn list_runs(
    State(state): State<AppState>,
    Query(q): Query<api::HistoryQuery>,
) -> Result<Response, PageError> {
    let filter = q.filter()?;
    let runs = state.store.list_runs(&filter).await?;
    let next_before = (runs.len() as u32 == filter.limit)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    let page = RunsPage {
        runs: runs.iter().map(RunRow::from_record).collect(),
        plans: state.store.plan_names().await?,
        plan_filter: filter.plan,
        state_filter: filter.state.map(|s| s.as_str().to_string()),
        label_filter: filter
            .label
            .map(|(k, v)| format!("{k}={v}"))
            .unwrap_or_default(),
        next_before,
    };
    Ok(page.into_response())
}

async fn show_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let record = state.find_run(&id).await?;
    let live = state.runs.get(&record.id);
    let snapshot = state.runs.snapshot_of(&record).await?;
    let kept = state.runs.samples_of(&record);
    let monitors = state.runs.monitors_of(&record).await?;
    let stages = state.runs.stages_of(&record);
    let mut page = RunPage::new(record, &snapshot, live.is_some());
    page.stages = stages.as_ref().map(StageView::new);
    // a live run with a monitor shows its box at once (the charts fill in with the reads)
    page.has_monitors = monitors.series.iter().any(|s| !s.points.is_empty())
        || live.as_ref().is_some_and(|l| l.monitors().is_some());
    page.monitor_json = crate::report::monitor::monitor_json(&monitors.series);
    // once the run has ended (its recording may still be finishing), the summary too
    if live.is_none() || snapshot.state.is_final() {
        page.monitor_rows = crate::report::monitor::monitor_rows(&monitors);
    }
    (page.jtl_offered, page.jtl_note) = match kept {
        KeptSamples::Kept { note, .. } => (true, note),
        KeptSamples::None(why) => (false, Some(why)),
    };
    if let Some(live) = live {
        page.target_users = live.target_users();
        page.thresholds = ThresholdView::list(&live.verdicts(), true);
    }
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_its_bad_field() {
        let e = form_input(b"plan=demo.toml&users=ten&class=A").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("users"));
        let e = form_input(b"plan=demo.toml&users=3").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("classes"));
        let e = form_input(b"plan=demo.toml&class=A&weight.A=x").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("classes"));
        let (plan, ok) = form_input(
            b"plan=demo.toml&users=100&spawn_rate=10&class=A&weight.A=3&class=B+C&weight.B+C=&run_time=",
        )
        .unwrap();
        assert_eq!(ok.users, Some(100));
        assert_eq!(
            ok.classes.unwrap(),
            vec![("A".to_string(), Some(3)), ("B C".to_string(), None)]
        );
        assert_eq!(ok.run_time, None);
        assert_eq!(plan.as_deref(), Some("demo.toml"));
        assert!(ok.thresholds.is_empty());
    }

    #[test]
    fn the_form_takes_a_threshold_a_line() {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("class", "A")
            .append_pair("thresholds", "p95 < 300ms\r\n\r\n  error_rate[1m] < 5%  \n")
            .finish();
        let (_, input) = form_input(body.as_bytes()).unwrap();
        assert_eq!(input.thresholds, ["p95 < 300ms", "error_rate[1m] < 5%"]);
    }
}

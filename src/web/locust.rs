//! Locust-compatible endpoints on the current run, so that scripts and dashboards written for
//! Locust's web UI keep working (SPEC §5): `POST /swarm`, `GET /stop`, `GET /stats/requests`,
//! `GET /stats/requests/csv`, `GET /stats/reset`. Field names, JSON shapes and messages follow
//! Locust's `web.py`; like Locust, `/swarm` answers 200 with `"success": false` when it refuses.
//!
//! "The current run" is the live run of this process; when none is live, the statistics
//! endpoints show the newest run of the history (Locust keeps showing the last test's numbers
//! after it stops), and state `ready` before any run. `/swarm` with no live run starts one of
//! the plan named by the extra `plan` field, else of the newest run's plan, else the first plan
//! offered; with a live run it re-targets its users (Locust's behaviour).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::state::AppState;
use crate::plan::duration::parse_duration;
use crate::request::StartInput;
use crate::runs::LiveRun;
use crate::stats::aggregator::AGGREGATED;
use crate::stats::snapshot::{RunState, Snapshot, StatsRow};
use crate::store::{RunFilter, RunSource};

/// Locust shows at most this many statistics rows and errors.
const MAX_ROWS: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/swarm", post(swarm))
        .route("/stop", get(stop))
        .route("/stats/requests", get(stats_requests))
        .route("/stats/requests/csv", get(stats_requests_csv))
        .route("/stats/reset", get(reset_stats))
}

fn current(state: &AppState) -> Option<LiveRun> {
    state.runs.live().into_iter().next()
}

/// Locust's reply: `{"success", "message", "host"}`.
fn reply(success: bool, message: impl Into<String>, host: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("success".into(), Value::Bool(success));
    m.insert("message".into(), Value::String(message.into()));
    m.insert("host".into(), Value::String(host.to_string()));
    m
}

/// The `/swarm` form, as Locust's web UI and scripts send it.
#[derive(Debug, Default, PartialEq)]
struct SwarmForm {
    user_count: Option<u32>,
    spawn_rate: Option<f64>,
    host: Option<String>,
    /// Seconds.
    run_time: Option<u64>,
    user_classes: Vec<String>,
    /// Hornet's addition: which plan to start.
    plan: Option<String>,
}

impl SwarmForm {
    fn parse(body: &[u8]) -> Result<SwarmForm, String> {
        let mut form = SwarmForm::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let value = value.trim();
            match key.as_ref() {
                "user_count" => {
                    let n: u64 = value.parse().map_err(|_| {
                        format!("user_count must be a whole number ≥ 0, got {value:?}")
                    })?;
                    form.user_count = Some(
                        crate::plan::limits::check_users(n)
                            .map_err(|e| format!("user_count: {e}"))?,
                    );
                }
                "spawn_rate" => {
                    let rate: f64 = value
                        .parse()
                        .map_err(|_| format!("spawn_rate must be a number, got {value:?}"))?;
                    form.spawn_rate = Some(
                        crate::plan::limits::check_spawn_rate(rate)
                            .map_err(|e| format!("spawn_rate: {e}"))?,
                    );
                }
                // Locust strips < and > against XSS; we escape on output, but keep the habit.
                "host" => form.host = Some(value.replace(['<', '>'], "")).filter(|h| !h.is_empty()),
                "run_time" if value.is_empty() => {}
                "run_time" => form.run_time = Some(parse_timespan(value)?).filter(|s| *s > 0),
                "user_classes" if !value.is_empty() => form.user_classes.push(value.to_string()),
                "plan" if !value.is_empty() => form.plan = Some(value.to_string()),
                // Locust's UI sends more (shape_class, profile...): ignored, as Locust ignores
                // keys it has no option for.
                _ => {}
            }
        }
        Ok(form)
    }
}

/// Locust's `parse_timespan`: `20` (seconds), `20s`, `3m`, `2h`, `1h20m`, `3h30m10s`.
fn parse_timespan(text: &str) -> Result<u64, String> {
    let invalid =
        || "Valid run_time formats are : 20, 20s, 3m, 2h, 1h20m, 3h30m10s, etc.".to_string();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let d = parse_duration(text).map_err(|_| invalid())?;
    Ok(d.as_secs())
}

async fn swarm(State(state): State<AppState>, body: Bytes) -> Response {
    let form = match SwarmForm::parse(&body) {
        Ok(form) => form,
        Err(message) => {
            let host = form_host(&state);
            return Json(reply(false, message, &host)).into_response();
        }
    };
    let (Some(users), Some(spawn_rate)) = (form.user_count, form.spawn_rate.filter(|r| *r > 0.0))
    else {
        let host = form.host.clone().unwrap_or_else(|| form_host(&state));
        return Json(reply(
            false,
            "Missing user_count or spawn_rate from /swarm request",
            &host,
        ))
        .into_response();
    };
    let (live, retargeted) = match current(&state) {
        Some(live) => {
            if let Err(e) = live.set_users(users, Some(spawn_rate)).await {
                let e = ApiError::from(e);
                return Json(reply(false, e.message, &live.record.settings.host)).into_response();
            }
            (live, true)
        }
        None => match start_swarm(&state, &form, users, spawn_rate).await {
            Ok(live) => (live, false),
            Err(e) => {
                let message = match &e.field {
                    Some(field) => format!("{field}: {}", e.message),
                    None => e.message,
                };
                let host = form.host.clone().unwrap_or_default();
                return Json(reply(false, message, &host)).into_response();
            }
        },
    };
    let host = &live.record.settings.host;
    let mut message = "Swarming started".to_string();
    if form
        .host
        .as_deref()
        .is_some_and(|h| h.trim_end_matches('/') != host)
    {
        message.push_str(" (the host of a running test cannot change; start a new test for it)");
    }
    let mut body = reply(true, message, host);
    if let Some(secs) = form.run_time {
        // Locust stops the test run_time after this request, also one it did not start: a new
        // run got it as its own run time, a re-targeted one gets a timer.
        if retargeted {
            let runs = state.runs.clone();
            let id = live.id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                if let Some(live) = runs.get(&id) {
                    live.handle.stop();
                }
            });
        }
        body.insert("run_time".into(), json!(secs));
    }
    if !form.user_classes.is_empty() {
        let mut classes = form.user_classes.clone();
        classes.sort();
        body.insert("user_classes".into(), json!(classes));
    }
    body.insert("run_id".into(), json!(live.id));
    Json(body).into_response()
}

/// The host to name in a refusal: the live run's, if any.
fn form_host(state: &AppState) -> String {
    current(state)
        .map(|l| l.record.settings.host.clone())
        .unwrap_or_default()
}

async fn start_swarm(
    state: &AppState,
    form: &SwarmForm,
    users: u32,
    spawn_rate: f64,
) -> Result<LiveRun, ApiError> {
    let lib = state.plans().await;
    let plan = match &form.plan {
        Some(p) => p.clone(),
        None => {
            let newest = state
                .store
                .list_runs(&RunFilter {
                    limit: 1,
                    ..RunFilter::default()
                })
                .await?;
            newest
                .first()
                .and_then(|r| r.plan_file.as_deref())
                .and_then(|key| lib.find(key))
                .or_else(|| lib.plans.first())
                .map(|e| e.key.clone())
                .ok_or_else(|| {
                    ApiError::invalid("plan", "no plan to run: add one to the plans directory")
                })?
        }
    };
    let input = StartInput {
        host: form.host.clone(),
        users: Some(i64::from(users)),
        spawn_rate: Some(spawn_rate),
        run_time: form.run_time.map(Duration::from_secs),
        classes: (!form.user_classes.is_empty()).then(|| {
            form.user_classes
                .iter()
                .map(|c| (c.clone(), None))
                .collect()
        }),
        ..StartInput::default()
    };
    Ok((state.runs)
        .start_from_library(&lib, Some(&plan), input, RunSource::Api)
        .await?)
}

async fn stop(State(state): State<AppState>) -> Json<Value> {
    for live in state.runs.live() {
        live.handle.stop();
    }
    Json(json!({ "success": true, "message": "Test stopped" }))
}

async fn reset_stats(State(state): State<AppState>) -> Response {
    if let Some(live) = current(&state) {
        live.handle.reset_stats();
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok").into_response()
}

/// The statistics Locust's endpoints show: the live run's, the newest stored run's, or none.
async fn current_snapshot(state: &AppState) -> Result<Option<(String, Arc<Snapshot>)>, ApiError> {
    if let Some(live) = current(state) {
        return Ok(Some((live.id.clone(), live.snapshot())));
    }
    let newest = state
        .store
        .list_runs(&RunFilter {
            limit: 1,
            ..RunFilter::default()
        })
        .await?;
    match newest.first() {
        Some(record) => Ok(Some((
            record.id.clone(),
            state.runs.snapshot_of(record).await?,
        ))),
        None => Ok(None),
    }
}

/// Locust's runner states: `aborted` has no equivalent, a run that ended is `stopped`.
fn locust_state(s: RunState) -> &'static str {
    match s {
        RunState::Spawning => "spawning",
        RunState::Running => "running",
        RunState::Stopping => "stopping",
        RunState::Stopped | RunState::Aborted => "stopped",
    }
}

/// Locust's `StatsEntry.to_dict()`; the Aggregated row has no method (`null`).
fn row_json(r: &StatsRow) -> Value {
    let method = if r.method.is_empty() && r.name == AGGREGATED {
        Value::Null
    } else {
        Value::String(r.method.clone())
    };
    json!({
        "method": method,
        "name": r.name,
        "num_requests": r.num_requests,
        "num_failures": r.num_failures,
        // Locust rounds these two (proper_round)
        "min_response_time": r.min_ms.round(),
        "max_response_time": r.max_ms.round(),
        "current_rps": r.current_rps,
        "current_fail_per_sec": r.current_fail_per_s,
        "avg_response_time": r.avg_ms,
        "median_response_time": r.median_ms,
        "total_rps": r.total_rps,
        "total_fail_per_sec": r.total_fail_per_s,
        "response_time_percentile_0.95": r.percentiles.p95,
        "response_time_percentile_0.99": r.percentiles.p99,
        "avg_content_length": r.avg_bytes,
    })
}

/// Locust's `/stats/requests` report for a snapshot (None: no run yet, state `ready`).
fn stats_report(s: Option<&Snapshot>) -> Value {
    let Some(s) = s else {
        return json!({
            "stats": [],
            "errors": [],
            "total_rps": 0.0,
            "total_fail_per_sec": 0.0,
            "fail_ratio": 0.0,
            "current_response_time_percentiles": {
                "response_time_percentile_0.5": null,
                "response_time_percentile_0.95": null,
            },
            "state": "ready",
            "user_count": 0,
        });
    };
    let mut stats: Vec<Value> = s.rows.iter().take(MAX_ROWS).map(row_json).collect();
    stats.push(row_json(&s.total));
    let errors: Vec<Value> = s
        .failures
        .iter()
        .take(MAX_ROWS)
        .map(|f| {
            json!({
                "method": f.method,
                "name": f.name,
                "error": f.error,
                "occurrences": f.occurrences,
                "first_seen": null,
                "last_seen": null,
            })
        })
        .collect();
    json!({
        "stats": stats,
        "errors": errors,
        "current_rps": s.total.current_rps,
        "current_fail_per_sec": s.total.current_fail_per_s,
        "total_rps": s.total.total_rps,
        "total_fail_per_sec": s.total.total_fail_per_s,
        "fail_ratio": s.total.fail_ratio(),
        "current_response_time_percentiles": {
            "response_time_percentile_0.5": s.current_p50_ms,
            "response_time_percentile_0.95": s.current_p95_ms,
        },
        "state": locust_state(s.state),
        "user_count": s.users,
    })
}

async fn stats_requests(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let current = current_snapshot(&state).await?;
    Ok(Json(stats_report(
        current.as_ref().map(|(_, s)| s.as_ref()),
    )))
}

async fn stats_requests_csv(State(state): State<AppState>) -> Result<Response, ApiError> {
    let current = current_snapshot(&state).await?;
    let (name, csv) = match &current {
        Some((id, s)) => (
            format!("hornet_{id}_requests.csv"),
            crate::report::csv::stats_csv(s),
        ),
        None => (
            "hornet_requests.csv".to_string(),
            format!("{}\r\n", crate::report::csv::STATS_COLUMNS.join(",")).into_bytes(),
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment;filename={name}"),
            ),
        ],
        csv,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swarm_form_reads_locusts_fields() {
        let f = SwarmForm::parse(
            b"user_count=10&spawn_rate=2.5&host=http%3A%2F%2F127.0.0.1%3A8090&run_time=1m30s\
              &user_classes=A&user_classes=B+C&shape_class=Default&plan=demo",
        )
        .unwrap();
        assert_eq!(
            f,
            SwarmForm {
                user_count: Some(10),
                spawn_rate: Some(2.5),
                host: Some("http://127.0.0.1:8090".into()),
                run_time: Some(90),
                user_classes: vec!["A".into(), "B C".into()],
                plan: Some("demo".into()),
            }
        );
        assert_eq!(SwarmForm::parse(b"run_time=20").unwrap().run_time, Some(20));
        assert_eq!(
            SwarmForm::parse(b"run_time=&host=").unwrap(),
            SwarmForm::default()
        );
        assert!(SwarmForm::parse(b"run_time=soon")
            .unwrap_err()
            .starts_with("Valid run_time formats"));
        let e = SwarmForm::parse(b"user_count=4000000000&spawn_rate=1").unwrap_err();
        assert!(e.contains("users must be at most 1000000"), "{e}");
        let e = SwarmForm::parse(b"user_count=1&spawn_rate=1e9").unwrap_err();
        assert!(e.starts_with("spawn_rate: spawn rate must be"), "{e}");
        assert!(SwarmForm::parse(b"user_count=-1")
            .unwrap_err()
            .contains("user_count"));
    }

    #[test]
    fn rows_have_locusts_keys_and_the_total_no_method() {
        let row = StatsRow {
            method: "GET".into(),
            name: "/x".into(),
            num_requests: 4,
            min_ms: 1.4,
            max_ms: 2.5,
            ..StatsRow::default()
        };
        let v = row_json(&row);
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "avg_content_length",
                "avg_response_time",
                "current_fail_per_sec",
                "current_rps",
                "max_response_time",
                "median_response_time",
                "method",
                "min_response_time",
                "name",
                "num_failures",
                "num_requests",
                "response_time_percentile_0.95",
                "response_time_percentile_0.99",
                "total_fail_per_sec",
                "total_rps",
            ]
        );
        assert_eq!(
            (
                v["min_response_time"].as_f64(),
                v["max_response_time"].as_f64()
            ),
            (Some(1.0), Some(3.0))
        );
        let total = row_json(&StatsRow {
            name: AGGREGATED.into(),
            ..StatsRow::default()
        });
        assert!(total["method"].is_null());
        let ready = stats_report(None);
        assert_eq!(ready["state"], "ready");
        assert_eq!(ready["stats"], json!([]));
    }
}

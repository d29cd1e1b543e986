//! `/api/...`: JSON handlers. Each extracts, calls the run registry or the store, and answers;
//! every refusal names the field at fault (`web/error.rs`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::state::AppState;
use crate::plan::duration::parse_duration;
use crate::plan::limits;
use crate::plan::model::{Plan, ShapeKind};
use crate::request::StartInput;
use crate::runs::LiveRun;
use crate::stats::snapshot::RunState;
use crate::store::{RunFilter, RunRecord, RunSource};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plans", get(list_plans))
        .route("/api/runs", get(list_runs).post(start_run))
        .route("/api/runs/{id}", get(get_run).patch(edit_run))
        .route("/api/runs/{id}/stats", get(get_run_stats))
        .route("/api/runs/{id}/monitors", get(get_run_monitors))
        .route("/api/runs/{id}/stop", post(stop_run))
        .route(
            "/api/runs/{id}/events",
            get(super::events::stream_run_events),
        )
}

/// Reads the JSON body of `POST /api/runs` into the plan it names and the start's fields; a
/// wrong type or an unknown key names its field. Values are checked by `runs::request::resolve`.
pub fn start_from_json(body: &[u8]) -> Result<(Option<String>, StartInput), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    };
    let mut plan = None;
    let mut input = StartInput::default();
    for (key, v) in map {
        match key.as_str() {
            "plan" => plan = Some(string(&key, &v)?),
            "host" => input.host = optional(&v, |v| string(&key, v))?,
            "users" => input.users = optional(&v, |v| integer(&key, v))?,
            "spawn_rate" => input.spawn_rate = optional(&v, |v| number(&key, v))?,
            "run_time" => input.run_time = optional(&v, |v| duration("run_time", v))?.flatten(),
            "stop_timeout" => {
                input.stop_timeout = optional(&v, |v| duration("stop_timeout", v))?.flatten()
            }
            "shape" => input.shape = optional(&v, |v| string(&key, v))?,
            "tags" => input.tags = strings(&key, &v)?,
            "exclude_tags" => input.exclude_tags = strings(&key, &v)?,
            "thresholds" => input.thresholds = strings(&key, &v)?,
            "classes" => input.classes = optional(&v, classes)?,
            "agents" => input.agents = optional(&v, |v| integer(&key, v))?,
            "labels" => input.labels = optional(&v, labels)?.unwrap_or_default(),
            "monitor" => input.monitor = optional(&v, monitor)?,
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!(
                        "unknown field {other:?}; expected plan, host, users, spawn_rate, \
                         run_time, classes, shape, tags, exclude_tags, thresholds, stop_timeout, \
                         agents, labels, monitor"
                    ),
                ))
            }
        }
    }
    Ok((plan, input))
}

/// `monitor`: a `[monitor]` table as JSON, in place of the plan's (`{"every": "5s",
/// "prometheus": [{"name": "gw", "url": "…", "metrics": ["…"]}]}`). It is validated as the plan's
/// is; an error names the field at fault (`monitor.prometheus[0].url`).
fn monitor(v: &Value) -> Result<(crate::plan::monitor::Monitor, String), ApiError> {
    let text = toml::to_string(&json!({ "monitor": v })).map_err(|e| {
        ApiError::invalid(
            "monitor",
            format!("monitor must be an object shaped as a plan's [monitor] table: {e}"),
        )
    })?;
    let monitor = crate::plan::parse_monitor(&text, "monitor").map_err(|errors| {
        let Some(e) = errors.0.first() else {
            return ApiError::invalid("monitor", "monitor is not valid");
        };
        let field = toml_key_at(&text, e.line);
        ApiError::invalid(
            field.clone(),
            format!("{field}: expected {}, found {}", e.expected, e.found),
        )
    })?;
    Ok((monitor, text))
}

/// The dotted key (`monitor.prometheus[0].url`) written on 1-based `line` of TOML text that
/// `toml::to_string` wrote (tables as `[a]` / `[[a.b]]` headers, one `key = value` a line).
fn toml_key_at(text: &str, line: usize) -> String {
    let mut table = "monitor".to_string();
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, l) in text.lines().enumerate().take(line) {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let n = counts.entry(name.to_string()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = name.to_string();
        } else if i + 1 == line {
            if let Some((key, _)) = l.split_once('=') {
                return format!("{table}.{}", key.trim());
            }
        }
    }
    table
}

/// `{"branch": "main", "sha": "abc123"}`.
fn labels(v: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let Value::Object(map) = v else {
        return Err(ApiError::invalid(
            "labels",
            format!("labels must be an object of \"key\": \"value\", got {v}"),
        ));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(ApiError::invalid(
                "labels",
                format!("label {k} must be a string, got {other}"),
            )),
        })
        .collect()
}

fn optional<T>(
    v: &Value,
    f: impl FnOnce(&Value) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    if v.is_null() {
        Ok(None)
    } else {
        f(v).map(Some)
    }
}

fn string(field: &str, v: &Value) -> Result<String, ApiError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid(field, format!("{field} must be a string, got {v}")))
}

fn integer(field: &str, v: &Value) -> Result<i64, ApiError> {
    v.as_i64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| ApiError::invalid(field, format!("{field} must be a whole number, got {v}")))
}

fn number(field: &str, v: &Value) -> Result<f64, ApiError> {
    v.as_f64()
        .ok_or_else(|| ApiError::invalid(field, format!("{field} must be a number, got {v}")))
}

/// A duration as text (`"90s"`, `"1m30s"`; empty: not given) or a number of seconds.
fn duration(field: &'static str, v: &Value) -> Result<Option<Duration>, ApiError> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => parse_duration(s.trim())
            .map(Some)
            .map_err(|e| ApiError::invalid(field, format!("{field}: {e}"))),
        Value::Number(n) => match n.as_f64() {
            Some(s) if s >= 0.0 && s.is_finite() && s < 1e12 => {
                Ok(Some(Duration::from_secs_f64(s)))
            }
            _ => Err(ApiError::invalid(
                field,
                format!("{field} must be ≥ 0 seconds, got {n}"),
            )),
        },
        _ => Err(ApiError::invalid(
            field,
            format!("{field} must be a duration like \"30s\" or a number of seconds, got {v}"),
        )),
    }
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, ApiError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(|i| string(field, i)).collect(),
        Value::String(s) => Ok(s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()),
        _ => Err(ApiError::invalid(
            field,
            format!("{field} must be a list of strings, got {v}"),
        )),
    }
}

/// `{"Name": weight, ...}` or `["Name", ...]` (plan weights).
fn classes(v: &Value) -> Result<Vec<(String, Option<i64>)>, ApiError> {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(name, w)| optional(w, |w| integer("classes", w)).map(|w| (name.clone(), w)))
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|i| string("classes", i).map(|n| (n, None)))
            .collect(),
        _ => Err(ApiError::invalid(
            "classes",
            format!("classes must be an object of name → weight or a list of names, got {v}"),
        )),
    }
}

async fn list_plans(State(state): State<AppState>) -> Json<Value> {
    let lib = state.plans().await;
    let plans: Vec<Value> = lib
        .plans
        .iter()
        .map(|e| plan_json(&e.key, &e.plan))
        .collect();
    let invalid: Vec<Value> = lib
        .invalid
        .iter()
        .map(|(key, errors)| json!({ "key": key, "errors": errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>() }))
        .collect();
    Json(json!({ "plans": plans, "invalid": invalid }))
}

fn plan_json(key: &str, plan: &Plan) -> Value {
    json!({
        "key": key,
        "name": plan.name,
        "description": plan.description,
        "host": plan.host,
        "hash": plan.content_hash,
        "classes": plan.users.iter().map(|c| json!({
            "name": c.name,
            "weight": c.weight,
            "fixed_count": c.fixed_count,
            "wait": crate::plan::describe::format_wait(&c.wait),
            "tags": c.tags,
            "tasks": c.tasks.iter().map(|t| json!({
                "name": t.name, "weight": t.weight, "tags": t.tags,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "shapes": plan.shapes.iter().map(|s| json!({
            "name": s.name,
            "model": match s.kind { ShapeKind::Stages(_) => "closed", ShapeKind::Arrival { .. } => "open" },
        })).collect::<Vec<_>>(),
        "thresholds": plan.thresholds.iter().map(|t| t.source.clone()).collect::<Vec<_>>(),
    })
}

/// A JSON endpoint's body must say it is JSON: a `text/plain` POST is what a cross-site form
/// can send without a preflight, so it is refused (415) before the body is looked at.
pub(super) fn require_json(headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() {
        return Ok(());
    }
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = given
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        message: if given.is_empty() {
            "the body needs Content-Type: application/json".to_string()
        } else {
            format!("the body needs Content-Type: application/json, not {given:?}")
        },
        field: Some("content-type".into()),
    })
}

async fn start_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers, &body)?;
    let (plan, input) = start_from_json(&body)?;
    let lib = state.plans().await;
    let live = (state.runs)
        .start_from_library(&lib, plan.as_deref(), input, RunSource::Api)
        .await?;
    let links = links(&live.id);
    let body = json!({ "id": live.id, "state": RunState::Spawning, "links": links });
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/runs/{}", live.id))],
        Json(body),
    )
        .into_response())
}

fn links(id: &str) -> Value {
    json!({
        "self": format!("/api/runs/{id}"),
        "page": format!("/runs/{id}"),
        "stats": format!("/api/runs/{id}/stats"),
        "events": format!("/api/runs/{id}/events"),
        "stop": format!("/api/runs/{id}/stop"),
    })
}

#[derive(serde::Deserialize)]
pub struct HistoryQuery {
    plan: Option<String>,
    state: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    /// `key=value`.
    label: Option<String>,
}

impl HistoryQuery {
    /// The history filters shared by `GET /api/runs` and the `/runs` page.
    pub fn filter(self) -> Result<RunFilter, ApiError> {
        let label = self
            .label
            .filter(|l| !l.trim().is_empty())
            .map(|l| crate::request::parse_label(&l).map_err(|e| ApiError::invalid("label", e)))
            .transpose()?;
        Ok(RunFilter {
            label,
            ..run_filter(self.plan, self.state, self.limit, self.before)?
        })
    }
}

fn run_filter(
    plan: Option<String>,
    state: Option<String>,
    limit: Option<String>,
    before: Option<String>,
) -> Result<RunFilter, ApiError> {
    let state = match state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(parse_state(s).ok_or_else(|| {
            ApiError::invalid(
                "state",
                format!(
                    "unknown state {s:?}; expected spawning, running, stopping, stopped or aborted"
                ),
            )
        })?),
    };
    let limit = match limit.as_deref().filter(|s| !s.is_empty()) {
        None => 50,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=500).contains(l))
            .ok_or_else(|| {
                ApiError::invalid("limit", format!("limit must be 1..500, got {s:?}"))
            })?,
    };
    Ok(RunFilter {
        plan: plan.filter(|p| !p.is_empty()),
        state,
        limit,
        before: before.filter(|b| !b.is_empty()),
        label: None,
    })
}

fn parse_state(s: &str) -> Option<RunState> {
    serde_json::from_value(Value::String(s.to_string())).ok()
}

async fn list_runs(
    State(state): State<AppState>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = q.filter()?;
    let runs = state.store.list_runs(&filter).await?;
    let next_before = (runs.len() as u32 == filter.limit)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    let runs: Vec<Value> = runs.iter().map(|r| run_json(&state, r, false)).collect();
    Ok(Json(json!({ "runs": runs, "next_before": next_before })))
}

/// A run as JSON; a live run's state, users and summary come from its latest snapshot.
fn run_json(state: &AppState, r: &RunRecord, with_plan: bool) -> Value {
    let live = state.runs.get(&r.id);
    let snapshot = live.as_ref().map(LiveRun::snapshot);
    let run_state = snapshot.as_ref().map_or(r.state, |s| s.state);
    let summary = match &snapshot {
        Some(s) => Some(crate::runs::summary(s, s.users)),
        None => r.summary.clone(),
    };
    let mut v = json!({
        "id": r.id,
        "plan": r.plan_name,
        "plan_file": r.plan_file,
        "plan_hash": r.plan_hash,
        "source": r.source,
        "state": run_state,
        "live": live.is_some(),
        "users": snapshot.as_ref().map(|s| s.users),
        "settings": r.settings,
        "started_at_ms": r.started_at_ms,
        "ended_at_ms": r.ended_at_ms,
        "summary": summary,
        "thresholds": live.as_ref().map_or_else(|| r.verdicts.clone(), LiveRun::verdicts),
        "stages": state.runs.stages_of(r),
        "links": links(&r.id),
    });
    if with_plan {
        v["plan_source"] = Value::String(r.plan_source.clone());
        v["ratio"] = serde_json::to_value(&r.ratio).unwrap_or(Value::Null);
    }
    v
}

async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = state.find_run(&id).await?;
    let mut v = run_json(&state, &record, true);
    let monitors = state.runs.monitors_of(&record).await?;
    v["monitors"] = serde_json::to_value(monitors.summaries()).unwrap_or(Value::Null);
    Ok(Json(v))
}

/// `GET /api/runs/{id}/monitors`: every monitor series with its points (seconds since the run's
/// start) and its summary; empty lists for a run without a `[monitor]`.
async fn get_run_monitors(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = state.find_run(&id).await?;
    let data = state.runs.monitors_of(&record).await?;
    Ok(Json(json!({
        "id": record.id,
        "warmup_s": data.warmup_s,
        "window_s": data.window_s,
        "series": data.series,
        "summaries": data.summaries(),
    })))
}

async fn get_run_stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = state.find_run(&id).await?;
    let s = state.runs.snapshot_of(&record).await?;
    Ok(Json(json!({
        "id": record.id,
        "state": s.state,
        "user_count": s.users,
        "elapsed_s": s.elapsed_s,
        "total_rps": s.total.total_rps,
        "current_rps": s.total.current_rps,
        "fail_ratio": s.total.fail_ratio(),
        "current_response_time_percentiles": { "p50_ms": s.current_p50_ms, "p95_ms": s.current_p95_ms },
        "stats": s.rows,
        "aggregated": s.total,
        "failures": s.failures,
        "warnings": s.warnings,
        "dropped": s.dropped,
        "cancelled": s.cancelled,
        "skipped": s.skipped,
        "lag": s.lag,
        "agents": s.agents,
        "degraded": s.lost_agents().next().is_some(),
    })))
}

async fn edit_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers, &body)?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("body", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    };
    let (users, spawn_rate) = edit_fields(&map)?;
    let id = state.find_run(&id).await?.id;
    let Some(live) = state.runs.get(&id) else {
        return Err(ApiError::conflict(
            "run_ended",
            "the run has ended; start a new one",
        ));
    };
    let users = match users {
        Some(u) => u,
        None => live.target_users(),
    };
    live.set_users(users, spawn_rate).await?;
    Ok(Json(
        json!({ "id": id, "users": users, "spawn_rate": spawn_rate, "links": links(&id) }),
    ))
}

fn edit_fields(map: &Map<String, Value>) -> Result<(Option<u32>, Option<f64>), ApiError> {
    let mut users = None;
    let mut spawn_rate = None;
    for (key, v) in map {
        match key.as_str() {
            "users" => {
                let u = integer(key, v)?;
                if !(0..=i64::from(limits::MAX_USERS)).contains(&u) {
                    return Err(ApiError::invalid(
                        "users",
                        format!(
                            "users must be a whole number from 0 to {}, got {u}",
                            limits::MAX_USERS
                        ),
                    ));
                }
                users = Some(u as u32);
            }
            "spawn_rate" => {
                let r = limits::check_spawn_rate(number(key, v)?)
                    .map_err(|e| ApiError::invalid("spawn_rate", e))?;
                spawn_rate = Some(r);
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!("unknown field {other:?}; expected users, spawn_rate"),
                ))
            }
        }
    }
    if users.is_none() && spawn_rate.is_none() {
        return Err(ApiError::invalid("users", "give users and/or spawn_rate"));
    }
    Ok((users, spawn_rate))
}

async fn stop_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // A prefix or `last` names the run too; from here on it is its id.
    let record = state.find_run(&id).await?;
    let id = record.id.clone();
    match state.runs.get(&id) {
        Some(live) => {
            live.handle.stop();
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "id": id, "state": RunState::Stopping, "links": links(&id) })),
            )
                .into_response())
        }
        None => Ok(
            Json(json!({ "id": id, "state": record.state, "links": links(&id) })).into_response(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_monitor_error_names_its_field() {
        let e = monitor(&json!({ "prometheus": [ { "name": "a", "url": "http://x", "metrics": ["m"] },
                                                  { "name": "b", "url": "x", "metrics": ["m"] } ] }))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("monitor.prometheus[1].url"));
        let e =
            monitor(&json!({ "every": 5, "process": [ { "name": "p", "pid": 1 } ] })).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("monitor.every"));
        let e = monitor(&json!({})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("monitor"));
        let (m, text) = monitor(&json!({ "process": [ { "name": "p", "pid": 1 } ] })).unwrap();
        assert_eq!(m.process[0].name, "p");
        assert!(text.contains("[[monitor.process]]"), "{text}");
    }

    #[test]
    fn json_bodies_must_say_so() {
        let mut h = HeaderMap::new();
        assert!(require_json(&h, b"").is_ok(), "no body, nothing to label");
        let e = require_json(&h, b"{}").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.field.as_deref()),
            (415, Some("content-type"))
        );
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let e = require_json(&h, b"{}").unwrap_err();
        assert_eq!(e.code, "unsupported_media_type");
        assert!(e.message.contains("text/plain"), "{}", e.message);
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            h.insert(header::CONTENT_TYPE, ok.parse().unwrap());
            assert!(require_json(&h, b"{}").is_ok(), "{ok}");
        }
    }

    #[test]
    fn json_fields_are_typed_and_named() {
        let field = |body: &[u8]| start_from_json(body).unwrap_err().field.unwrap();
        assert_eq!(field(br#"{"plan":"demo","users":"ten"}"#), "users");
        assert_eq!(field(br#"{"plan":"demo","user":3}"#), "user");
        assert_eq!(field(b"[1]"), "body");
        assert_eq!(field(br#"{"run_time":"soon"}"#), "run_time");
        assert_eq!(field(br#"{"stop_timeout":-1}"#), "stop_timeout");
        let (plan, ok) = start_from_json(
            br#"{"plan":"demo","users":5,"spawn_rate":2.5,"run_time":30,"stop_timeout":"",
                "classes":{"HealthCheckUser":2},"tags":"a, b"}"#,
        )
        .unwrap();
        assert_eq!(plan.as_deref(), Some("demo"));
        assert_eq!((ok.users, ok.spawn_rate), (Some(5), Some(2.5)));
        assert_eq!(ok.run_time, Some(Duration::from_secs(30)));
        assert_eq!(ok.stop_timeout, None, "empty: not given");
        assert_eq!(
            ok.classes,
            Some(vec![("HealthCheckUser".to_string(), Some(2))])
        );
        assert_eq!(ok.tags, ["a", "b"]);
    }
}

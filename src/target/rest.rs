//! The demo target's REST and admin routes, and the test helpers `/delay`, `/status`, `/bytes`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::{text_response, unauthorized, AppState};

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Tool {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) integration_type: &'static str,
    pub(crate) input_schema: Value,
    pub(crate) enabled: bool,
}

fn tool(id: String, name: String, description: String) -> Tool {
    Tool {
        id,
        name,
        description,
        integration_type: "MCP",
        input_schema: json!({"type": "object", "properties": {"input": {"type": "string"}}}),
        enabled: true,
    }
}

pub(crate) fn seed_tools(n: usize) -> Vec<Tool> {
    (1..=n)
        .map(|i| {
            tool(
                format!("{:032x}", 0x7001_u128 * i as u128),
                format!("demo-tool-{i}"),
                format!("Demo tool number {i}"),
            )
        })
        .collect()
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/tools", get(list_tools).post(create_tool))
        .route("/tools/{id}", get(get_tool).delete(delete_tool))
        .route("/tools/{id}/state", post(tool_state))
        .route(
            "/servers",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "server")),
        )
        .route(
            "/servers/{id}",
            get(|s: State<AppState>, h: HeaderMap, p: Path<String>| item(s, h, p, "server")),
        )
        .route("/servers/{id}/tools", get(list_tools_of_server))
        .route(
            "/servers/{id}/resources",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "resource")),
        )
        .route(
            "/gateways",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "gateway")),
        )
        .route(
            "/gateways/{id}",
            get(|s: State<AppState>, h: HeaderMap, p: Path<String>| item(s, h, p, "gateway")),
        )
        .route(
            "/resources",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "resource")),
        )
        .route(
            "/resources/{id}",
            get(|s: State<AppState>, h: HeaderMap, p: Path<String>| item(s, h, p, "resource")),
        )
        .route(
            "/prompts",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "prompt")),
        )
        .route(
            "/prompts/{id}",
            get(|s: State<AppState>, h: HeaderMap, p: Path<String>| item(s, h, p, "prompt")),
        )
        .route(
            "/tags",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "tag")),
        )
        .route(
            "/roots",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "root")),
        )
        .route(
            "/a2a",
            get(|s: State<AppState>, h: HeaderMap| listing(s, h, "agent")),
        )
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/admin/", get(admin))
        .route("/admin/tools", get(admin_tools))
        .route(
            "/admin/tools/partial",
            get(|s: State<AppState>, h: HeaderMap| partial(s, h, "tools")),
        )
        .route(
            "/admin/resources/partial",
            get(|s: State<AppState>, h: HeaderMap| partial(s, h, "resources")),
        )
        .route(
            "/admin/prompts/partial",
            get(|s: State<AppState>, h: HeaderMap| partial(s, h, "prompts")),
        )
        .route(
            "/admin/users/partial",
            get(|s: State<AppState>, h: HeaderMap| partial(s, h, "users")),
        )
        .route(
            "/admin/teams",
            get(|s: State<AppState>, h: HeaderMap| partial(s, h, "teams")),
        )
}

/// Three stable items of a kind: ids `<kind>-1` .. `<kind>-3`.
fn items(kind: &str) -> Vec<Value> {
    (1..=3)
        .map(|i| json!({"id": format!("{kind}-{i}"), "name": format!("demo-{kind}-{i}"), "enabled": true}))
        .collect()
}

async fn listing(
    State(state): State<AppState>,
    headers: HeaderMap,
    kind: &'static str,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    Json(items(kind)).into_response()
}

async fn item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    kind: &'static str,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    match items(kind).into_iter().find(|v| v["id"] == id.as_str()) {
        Some(v) => Json(v).into_response(),
        None => not_found(kind),
    }
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"detail": format!("{what} not found")})),
    )
        .into_response()
}

fn all_tools(state: &AppState) -> Vec<Tool> {
    state.tools.lock().map(|t| t.clone()).unwrap_or_default()
}

async fn list_tools(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    Json(all_tools(&state)).into_response()
}

async fn list_tools_of_server(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(_id): Path<String>,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    Json(all_tools(&state).into_iter().take(3).collect::<Vec<_>>()).into_response()
}

async fn get_tool(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    match all_tools(&state).into_iter().find(|t| t.id == id) {
        Some(t) => Json(t).into_response(),
        None => not_found("tool"),
    }
}

async fn create_tool(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return unprocessable("body must be a JSON object");
    };
    // Both the flat body and the gateway's wrapped {"tool": {...}} are accepted.
    let fields = value
        .get("tool")
        .filter(|t| t.is_object())
        .unwrap_or(&value);
    let Some(name) = fields.get("name").and_then(Value::as_str) else {
        return unprocessable("field required: name");
    };
    let description = fields
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Ok(mut tools) = state.tools.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if tools.iter().any(|t| t.name == name) {
        return (
            StatusCode::CONFLICT,
            Json(json!({"detail": format!("tool {name} exists")})),
        )
            .into_response();
    }
    let created = tool(
        uuid::Uuid::new_v4().simple().to_string(),
        name.to_string(),
        description,
    );
    tools.push(created.clone());
    (StatusCode::CREATED, Json(created)).into_response()
}

fn unprocessable(detail: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"detail": detail})),
    )
        .into_response()
}

async fn delete_tool(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let Ok(mut tools) = state.tools.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let before = tools.len();
    tools.retain(|t| t.id != id);
    if tools.len() < before {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found("tool")
    }
}

async fn tool_state(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    Json(json!({"id": id, "enabled": true})).into_response()
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let tools = all_tools(&state).len();
    text_response(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        format!(
            "# HELP demo_tools Tools registered.\n# TYPE demo_tools gauge\ndemo_tools {tools}\n"
        ),
    )
}

async fn openapi(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let paths: serde_json::Map<String, Value> = super::ROUTES
        .iter()
        .map(|(_, p)| (p.to_string(), json!({})))
        .collect();
    Json(json!({"openapi": "3.1.0", "info": {"title": "Hornet demo target"}, "paths": paths}))
        .into_response()
}

const HTML: &str = "text/html; charset=utf-8";

async fn admin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let rows: String = all_tools(&state)
        .iter()
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                t.id,
                html_escape(&t.name)
            )
        })
        .collect();
    text_response(
        StatusCode::OK,
        HTML,
        format!(
            "<!doctype html><html><head><title>Demo gateway admin</title></head><body>\
             <h1>Demo gateway</h1><table><thead><tr><th>id</th><th>name</th></tr></thead>\
             <tbody>{rows}</tbody></table></body></html>"
        ),
    )
}

async fn admin_tools(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        partial(State(state), headers, "tools").await
    } else {
        Json(all_tools(&state)).into_response()
    }
}

async fn partial(
    State(state): State<AppState>,
    headers: HeaderMap,
    what: &'static str,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    text_response(
        StatusCode::OK,
        HTML,
        format!("<div id=\"{what}\"><p>demo {what}</p></div>"),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) async fn delay(Path(ms): Path<u64>) -> Json<Value> {
    let ms = ms.min(60_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({"delayed_ms": ms}))
}

pub(crate) async fn status(Path(code): Path<u16>) -> Response {
    match StatusCode::from_u16(code) {
        Ok(s) if (100..=599).contains(&code) => (s, Json(json!({"status": code}))).into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "status must be 100..=599"})),
        )
            .into_response(),
    }
}

pub(crate) async fn bytes(Path(n): Path<usize>) -> Response {
    let n = n.min(10 * 1024 * 1024);
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        vec![b'x'; n],
    )
        .into_response()
}

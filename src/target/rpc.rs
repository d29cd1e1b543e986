//! The demo target's JSON-RPC 2.0 (MCP) endpoint: initialize (with an `Mcp-Session-Id`), ping,
//! tools, resources and prompts; SSE-framed replies when the client accepts only event streams.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{text_response, unauthorized, AppState};

const FAST_TIME_TOOLS: [&str; 2] = ["fast-time-get-system-time", "fast-time-convert-time"];

fn initialize_result() -> Value {
    json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
        "serverInfo": {"name": "hornet-demo-target", "version": env!("CARGO_PKG_VERSION")}
    })
}

/// The answer to one JSON-RPC request: `Ok(result)` or `Err((code, message))`.
pub(crate) fn answer(
    state: &AppState,
    method: &str,
    params: &Value,
) -> Result<Value, (i64, String)> {
    match method {
        "initialize" => Ok(initialize_result()),
        "ping" => Ok(json!({})),
        "tools/list" => {
            let mut tools: Vec<Value> = state
                .tools
                .lock()
                .map(|t| {
                    t.iter()
                        .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": t.input_schema}))
                        .collect()
                })
                .unwrap_or_default();
            tools.extend(
                FAST_TIME_TOOLS
                    .iter()
                    .map(|n| json!({"name": n, "inputSchema": {"type": "object"}})),
            );
            Ok(json!({"tools": tools}))
        }
        "tools/call" => {
            let name = params
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let known = FAST_TIME_TOOLS.contains(&name)
                || state
                    .tools
                    .lock()
                    .is_ok_and(|t| t.iter().any(|t| t.name == name));
            if !known {
                return Err((-32601, format!("Tool not found: {name}")));
            }
            let text = if FAST_TIME_TOOLS.contains(&name) {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                format!("unix time {ms} ms")
            } else {
                format!("{name} called")
            };
            Ok(json!({"content": [{"type": "text", "text": text}], "isError": false}))
        }
        "resources/list" => Ok(json!({"resources": [
            {"uri": "time://current/UTC", "name": "current time"},
            {"uri": "demo://readme", "name": "readme"}]})),
        "resources/read" => {
            let uri = params
                .get("uri")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok(
                json!({"contents": [{"uri": uri, "mimeType": "text/plain", "text": "demo resource"}]}),
            )
        }
        "resources/templates/list" => Ok(json!({"resourceTemplates": []})),
        "prompts/list" => Ok(json!({"prompts": [{"name": "greeting", "arguments": []}]})),
        "prompts/get" => {
            let name = params
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok(
                json!({"messages": [{"role": "user", "content": {"type": "text", "text": format!("prompt {name}")}}]}),
            )
        }
        other => Err((-32601, format!("Method not found: {other}"))),
    }
}

/// The response envelope for a parsed request (None for a notification).
pub(crate) fn respond(state: &AppState, request: &Value) -> Option<Value> {
    let id = request.get("id")?.clone();
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    Some(match answer(state, method, &params) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
    })
}

pub(crate) async fn rpc(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let reply = match serde_json::from_slice::<Value>(&body) {
        Err(_) => {
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}})
        }
        Ok(request) => match respond(&state, &request) {
            Some(reply) => reply,
            None => return StatusCode::ACCEPTED.into_response(),
        },
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut response =
        if accept.contains("text/event-stream") && !accept.contains("application/json") {
            text_response(
                StatusCode::OK,
                "text/event-stream",
                format!("event: message\ndata: {reply}\n\n"),
            )
        } else {
            Json(&reply).into_response()
        };
    let is_initialize = serde_json::from_slice::<Value>(&body)
        .ok()
        .is_some_and(|r| r.get("method").and_then(Value::as_str) == Some("initialize"));
    if is_initialize {
        if let Ok(v) = uuid::Uuid::new_v4().to_string().parse() {
            response.headers_mut().insert("mcp-session-id", v);
        }
    }
    response
}

pub(crate) async fn protocol_initialize(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    Json(initialize_result()).into_response()
}

pub(crate) async fn protocol_ping(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null);
    Json(json!({"jsonrpc": "2.0", "id": id, "result": {}})).into_response()
}

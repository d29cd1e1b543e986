//! The demo target's JSON-RPC 2.0 (MCP) methods: initialize, ping, tools, resources and prompts,
//! plus the two `fast-time-*` tools the gateway's load tests call. `handle` is shared by
//! `POST /rpc` (and `/mcp`), the SSE `/message` endpoint and the WebSocket relay, so every
//! transport gives the same answer. Replies are written as text around cached list bodies, so a
//! hot `tools/list` does not serialize the catalogue again.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use super::catalog::Kind;
use super::{typed_response, TargetState, JSON};

const FAST_TIME_TOOLS: [&str; 2] = ["fast-time-get-system-time", "fast-time-convert-time"];
const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const RESOURCE_NOT_FOUND: i64 = -32002;

/// What a JSON-RPC message asks the transport to send back.
pub(crate) enum Outcome {
    /// A response to send; `initialize` is true for a successful `initialize`.
    Reply { json: String, initialize: bool },
    /// A notification: nothing to send.
    Notification,
}

/// A result, either built now or a cached serialized body.
enum RpcResult {
    Value(Value),
    Raw(Bytes),
}

type RpcError = (i64, String);

/// Handles one message given as bytes (a parse error is a reply with id null).
pub(crate) fn handle_bytes(state: &TargetState, body: &[u8]) -> Outcome {
    match serde_json::from_slice::<Value>(body) {
        Ok(message) => handle(state, &message),
        Err(_) => Outcome::Reply {
            json: error_reply(&Value::Null, PARSE_ERROR, "Parse error"),
            initialize: false,
        },
    }
}

/// Handles one parsed message: a request gets a reply with its id, a notification none.
pub(crate) fn handle(state: &TargetState, message: &Value) -> Outcome {
    let Some(request) = message.as_object() else {
        return invalid_request(&Value::Null);
    };
    let Some(id) = request.get("id") else {
        return Outcome::Notification;
    };
    if !(id.is_string() || id.is_number() || id.is_null()) {
        return invalid_request(&Value::Null);
    }
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return invalid_request(id);
    };
    let params = request.get("params").unwrap_or(&Value::Null);
    let json = match answer(state, method, params) {
        Ok(result) => {
            let result = match &result {
                RpcResult::Value(v) => v.to_string(),
                RpcResult::Raw(b) => String::from_utf8_lossy(b).into_owned(),
            };
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{result}}}")
        }
        Err((code, message)) => error_reply(id, code, &message),
    };
    Outcome::Reply {
        initialize: method == "initialize",
        json,
    }
}

fn invalid_request(id: &Value) -> Outcome {
    Outcome::Reply {
        json: error_reply(id, INVALID_REQUEST, "Invalid Request"),
        initialize: false,
    }
}

fn error_reply(id: &Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

fn answer(state: &TargetState, method: &str, params: &Value) -> Result<RpcResult, RpcError> {
    let catalog = &state.catalog;
    let result = match method {
        "initialize" => initialize_result(params),
        "ping" => json!({}),
        "broadcast" => super::broadcast::broadcast_value(state, params.clone()),
        "tools/list" => {
            let body = catalog.store(Kind::Tool).snapshot().rpc_body(|tools| {
                let mut listed: Vec<Value> = tools
                    .iter()
                    .map(|t| {
                        json!({"name": t.name, "description": t.str_field("description"),
                               "inputSchema": t.json.get("input_schema")})
                    })
                    .collect();
                listed.extend(fast_time_tools());
                json!({ "tools": listed })
            });
            return Ok(RpcResult::Raw(body));
        }
        "tools/call" => return call_tool(state, params).map(RpcResult::Value),
        "resources/list" => {
            let body = catalog
                .store(Kind::Resource)
                .snapshot()
                .rpc_body(|resources| {
                    let listed: Vec<Value> = resources
                        .iter()
                        .map(|r| {
                            json!({"uri": r.str_field("uri"), "name": r.name,
                                   "description": r.str_field("description"),
                                   "mimeType": r.str_field("mimeType")})
                        })
                        .collect();
                    json!({ "resources": listed })
                });
            return Ok(RpcResult::Raw(body));
        }
        "resources/read" => {
            let uri = str_param(params, "uri")
                .ok_or_else(|| (INVALID_PARAMS, "Invalid params: uri is required".into()))?;
            let text = if let Some(tz) = uri.strip_prefix("time://current/") {
                json!({"timezone": tz, "datetime": utc_now()}).to_string()
            } else {
                let resources = catalog.store(Kind::Resource).snapshot();
                let found = resources.items.iter().find(|r| r.str_field("uri") == uri);
                match found {
                    Some(r) => format!("{}: {}", r.name, r.str_field("description")),
                    None => return Err((RESOURCE_NOT_FOUND, format!("Resource not found: {uri}"))),
                }
            };
            json!({"contents": [{"uri": uri, "mimeType": "text/plain", "text": text}]})
        }
        "resources/templates/list" => json!({"resourceTemplates": [{
            "uriTemplate": "time://current/{timezone}", "name": "current-time",
            "description": "The current time in a timezone", "mimeType": "text/plain"}]}),
        "prompts/list" => {
            let body = catalog.store(Kind::Prompt).snapshot().rpc_body(|prompts| {
                let listed: Vec<Value> = prompts
                    .iter()
                    .map(|p| {
                        json!({"name": p.name, "description": p.str_field("description"),
                               "arguments": p.json.get("arguments")})
                    })
                    .collect();
                json!({ "prompts": listed })
            });
            return Ok(RpcResult::Raw(body));
        }
        "prompts/get" => {
            let name = str_param(params, "name")
                .ok_or_else(|| (INVALID_PARAMS, "Invalid params: name is required".into()))?;
            let prompts = catalog.store(Kind::Prompt).snapshot();
            let prompt = prompts
                .by_name(name)
                .ok_or_else(|| (INVALID_PARAMS, format!("Prompt not found: {name}")))?;
            let input = params
                .get("arguments")
                .and_then(|a| a.get("input"))
                .and_then(Value::as_str)
                .unwrap_or("the demo");
            let text = prompt.str_field("template").replace("{{input}}", input);
            json!({"description": prompt.str_field("description"),
                   "messages": [{"role": "user", "content": {"type": "text", "text": text}}]})
        }
        other => return Err((METHOD_NOT_FOUND, format!("Method not found: {other}"))),
    };
    Ok(RpcResult::Value(result))
}

fn initialize_result(params: &Value) -> Value {
    // Agree to the client's version when we know it, as MCP servers do.
    let version = str_param(params, "protocolVersion")
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or("2025-06-18");
    json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": false},
            "resources": {"subscribe": false, "listChanged": false},
            "prompts": {"listChanged": false},
            "logging": {},
        },
        "serverInfo": {"name": "hornet-demo-target", "version": env!("CARGO_PKG_VERSION")},
    })
}

fn fast_time_tools() -> [Value; 2] {
    [
        json!({"name": FAST_TIME_TOOLS[0], "description": "Get the current time in a timezone",
               "inputSchema": {"type": "object",
                               "properties": {"timezone": {"type": "string"}}}}),
        json!({"name": FAST_TIME_TOOLS[1], "description": "Convert a time between timezones",
               "inputSchema": {"type": "object",
                               "properties": {"time": {"type": "string"},
                                              "source_timezone": {"type": "string"},
                                              "target_timezone": {"type": "string"}},
                               "required": ["time", "source_timezone", "target_timezone"]}}),
    ]
}

fn call_tool(state: &TargetState, params: &Value) -> Result<Value, RpcError> {
    let name = str_param(params, "name")
        .ok_or_else(|| (INVALID_PARAMS, "Invalid params: name is required".into()))?;
    let args = params.get("arguments").unwrap_or(&Value::Null);
    let arg = |key: &str, default: &'static str| str_param(args, key).unwrap_or(default).to_owned();
    // No timezone database here: times are UTC, labelled with the zone asked for.
    let text = if name == FAST_TIME_TOOLS[0] {
        json!({"timezone": arg("timezone", "UTC"), "datetime": utc_now(), "is_dst": false})
            .to_string()
    } else if name == FAST_TIME_TOOLS[1] {
        let time = arg("time", "");
        json!({
            "source": {"timezone": arg("source_timezone", "UTC"), "datetime": time},
            "target": {"timezone": arg("target_timezone", "UTC"), "datetime": time},
            "time_difference": "+0.0h",
        })
        .to_string()
    } else if name == "echo" {
        // The MCP SDK's example tool (plans/mcp_server.toml calls it by default).
        arg("text", "")
    } else if state
        .catalog
        .store(Kind::Tool)
        .snapshot()
        .by_name(name)
        .is_some()
    {
        format!("{name} called with {args}")
    } else {
        return Err((METHOD_NOT_FOUND, format!("Tool not found: {name}")));
    };
    Ok(json!({"content": [{"type": "text", "text": text}], "isError": false}))
}

/// Now in UTC as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, Howard Hinnant's algorithm).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `POST /rpc` (also `/mcp`, `/servers/{id}/mcp`): one JSON-RPC message per request. The reply
/// is JSON, or one SSE `message` event when the client accepts only `text/event-stream`.
pub(crate) async fn rpc(
    State(state): State<TargetState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // MCP Streamable HTTP: a session id the server never issued is answered 404.
    if let Some(session) = headers.get("mcp-session-id") {
        if !state.mcp.check(session.as_bytes()) {
            return super::json_error(StatusCode::NOT_FOUND, "Session not found");
        }
    }
    let (json, initialize) = match handle_bytes(&state, &body) {
        Outcome::Reply { json, initialize } => (json, initialize),
        Outcome::Notification => return StatusCode::ACCEPTED.into_response(),
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut response =
        if accept.contains("text/event-stream") && !accept.contains("application/json") {
            typed_response(
                StatusCode::OK,
                "text/event-stream",
                format!("event: message\ndata: {json}\n\n"),
            )
        } else {
            typed_response(StatusCode::OK, JSON, json)
        };
    if initialize {
        let session = state.mcp.issue();
        if let Ok(value) = HeaderValue::from_str(&session) {
            response.headers_mut().insert("mcp-session-id", value);
        }
    }
    response
}

/// `DELETE /mcp`: MCP Streamable HTTP's end of a session. Without a session id 400 (as the MCP
/// SDK answers), with one this target never issued 404, else 200 (ids are stateless here: a
/// deleted id stays valid).
pub(crate) async fn delete_session(
    State(state): State<TargetState>,
    headers: HeaderMap,
) -> Response {
    match headers.get("mcp-session-id") {
        None => super::json_error(StatusCode::BAD_REQUEST, "Bad Request: Missing session ID"),
        Some(session) if !state.mcp.check(session.as_bytes()) => {
            super::json_error(StatusCode::NOT_FOUND, "Session not found")
        }
        Some(_) => StatusCode::OK.into_response(),
    }
}

/// `POST /protocol/initialize`: the body is the bare initialize params, the answer the bare
/// result (the gateway's REST shortcut).
pub(crate) async fn protocol_initialize(body: Bytes) -> Response {
    let params = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    Json(initialize_result(&params)).into_response()
}

/// `POST /protocol/ping`: a JSON-RPC ping envelope, answered with an empty result.
pub(crate) async fn protocol_ping(State(state): State<TargetState>, body: Bytes) -> Response {
    match handle_bytes(&state, &body) {
        Outcome::Reply { json, .. } => typed_response(StatusCode::OK, JSON, json),
        Outcome::Notification => StatusCode::ACCEPTED.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_735_732_800), "2025-01-01T12:00:00Z");
        assert_eq!(format_utc(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}

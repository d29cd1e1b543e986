//! The demo target's REST routes in the gateway's shape: the catalogues (list, read, create,
//! delete, state), `/metrics`, `/openapi.json`, and the test helpers `/delay`, `/capacity`,
//! `/status`, `/bytes`. Handlers only translate HTTP to `store` calls; the data lives in `store.rs`.

use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::catalog::{self, Item, Kind, WriteError};
use super::{json_error, typed_response, TargetState, JSON};

pub(crate) fn router() -> Router<TargetState> {
    use Kind::*;
    Router::new()
        .route(
            "/tools",
            get(|s: State<TargetState>| list_items(s, Tool))
                .post(|s: State<TargetState>, b: Bytes| create_item(s, b, Tool)),
        )
        .route(
            "/tools/{id}",
            get(|s: State<TargetState>, p: Path<String>| get_item(s, p, Tool))
                .delete(|s: State<TargetState>, p: Path<String>| delete_item(s, p, Tool)),
        )
        .route(
            "/tools/{id}/state",
            post(|s: State<TargetState>, p: Path<String>, q: StateParam| set_state(s, p, q, Tool)),
        )
        .route(
            "/servers",
            get(|s: State<TargetState>| list_items(s, Server))
                .post(|s: State<TargetState>, b: Bytes| create_item(s, b, Server)),
        )
        .route(
            "/servers/{id}",
            get(|s: State<TargetState>, p: Path<String>| get_item(s, p, Server))
                .delete(|s: State<TargetState>, p: Path<String>| delete_item(s, p, Server)),
        )
        .route(
            "/servers/{id}/state",
            post(|s: State<TargetState>, p: Path<String>, q: StateParam| {
                set_state(s, p, q, Server)
            }),
        )
        .route("/servers/{id}/tools", get(list_server_tools))
        .route(
            "/servers/{id}/resources",
            get(|s: State<TargetState>, p: Path<String>| list_of_server(s, p, Resource)),
        )
        .route(
            "/servers/{id}/prompts",
            get(|s: State<TargetState>, p: Path<String>| list_of_server(s, p, Prompt)),
        )
        .route(
            "/gateways",
            get(|s: State<TargetState>| list_items(s, Gateway)),
        )
        .route(
            "/gateways/{id}",
            get(|s: State<TargetState>, p: Path<String>| get_item(s, p, Gateway)),
        )
        .route(
            "/gateways/{id}/state",
            post(|s: State<TargetState>, p: Path<String>, q: StateParam| {
                set_state(s, p, q, Gateway)
            }),
        )
        .route(
            "/resources",
            get(|s: State<TargetState>| list_items(s, Resource)),
        )
        .route(
            "/resources/{id}",
            get(|s: State<TargetState>, p: Path<String>| get_item(s, p, Resource)),
        )
        .route(
            "/resources/{id}/state",
            post(|s: State<TargetState>, p: Path<String>, q: StateParam| {
                set_state(s, p, q, Resource)
            }),
        )
        .route(
            "/prompts",
            get(|s: State<TargetState>| list_items(s, Prompt))
                .post(|s: State<TargetState>, b: Bytes| create_item(s, b, Prompt)),
        )
        .route(
            "/prompts/{id}",
            get(|s: State<TargetState>, p: Path<String>| get_item(s, p, Prompt))
                .delete(|s: State<TargetState>, p: Path<String>| delete_item(s, p, Prompt)),
        )
        .route(
            "/prompts/{id}/state",
            post(|s: State<TargetState>, p: Path<String>, q: StateParam| {
                set_state(s, p, q, Prompt)
            }),
        )
        .route("/tags", get(|s: State<TargetState>| list_items(s, Tag)))
        .route("/roots", get(|s: State<TargetState>| list_items(s, Root)))
        .route("/a2a", get(|s: State<TargetState>| list_items(s, Agent)))
        .route("/metrics", get(metrics))
}

fn not_found(kind: Kind) -> Response {
    let noun = kind.noun();
    json_error(StatusCode::NOT_FOUND, &format!("{noun} not found"))
}

/// FastAPI's validation error shape, which the gateway answers with.
fn unprocessable(kind: &str, loc: &[&str], msg: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"detail": [{"type": kind, "loc": loc, "msg": msg}]})),
    )
        .into_response()
}

async fn list_items(State(state): State<TargetState>, kind: Kind) -> Response {
    let body = state.catalog.store(kind).snapshot().list_body();
    typed_response(StatusCode::OK, JSON, body)
}

async fn get_item(
    State(state): State<TargetState>,
    Path(id): Path<String>,
    kind: Kind,
) -> Response {
    match state.catalog.store(kind).snapshot().get(&id) {
        Some(item) => Json(&item.json).into_response(),
        None => not_found(kind),
    }
}

/// Accepts the flat body `{name, ...}` and the gateway's wrapped `{"tool": {name, ...}}`.
async fn create_item(State(state): State<TargetState>, body: Bytes, kind: Kind) -> Response {
    let Ok(Value::Object(mut value)) = serde_json::from_slice::<Value>(&body) else {
        return unprocessable("json_invalid", &["body"], "the body must be a JSON object");
    };
    let fields = match value.remove(kind.noun()) {
        Some(Value::Object(inner)) => inner,
        Some(other) => {
            value.insert(kind.noun().into(), other);
            value
        }
        None => value,
    };
    let name = match fields.get("name").and_then(Value::as_str) {
        Some(name) if !name.trim().is_empty() => name.to_string(),
        _ => return unprocessable("missing", &["body", "name"], "Field required"),
    };
    let item = new_item(kind, name, &fields);
    match state.catalog.store(kind).insert(item) {
        Ok(item) => (StatusCode::CREATED, Json(&item.json)).into_response(),
        Err(WriteError::NameTaken) => {
            let noun = kind.noun();
            let name = fields.get("name").and_then(Value::as_str).unwrap_or("");
            json_error(
                StatusCode::CONFLICT,
                &format!("{noun} already exists with name: {name}"),
            )
        }
    }
}

fn new_item(kind: Kind, name: String, body: &Map<String, Value>) -> Item {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
    let id = catalog::new_id();
    match kind {
        Kind::Tool => {
            let mut tool = catalog::tool(id, name, text("description").to_string());
            let schema = body.get("input_schema").or_else(|| body.get("inputSchema"));
            if let (Some(Value::Object(schema)), Some(fields)) = (schema, tool.json.as_object_mut())
            {
                fields.insert("input_schema".into(), Value::Object(schema.clone()));
            }
            tool
        }
        Kind::Prompt => {
            let mut prompt = catalog::prompt(id, &name, text("template"));
            if let (Some(args @ Value::Array(_)), Some(fields)) =
                (body.get("arguments"), prompt.json.as_object_mut())
            {
                fields.insert("arguments".into(), args.clone());
            }
            prompt
        }
        _ => {
            let tools = body
                .get("associated_tools")
                .or_else(|| body.get("associatedTools"))
                .filter(|v| v.is_array())
                .cloned()
                .unwrap_or_else(|| json!([]));
            let fields = json!({
                "description": text("description"),
                "associatedTools": tools,
                "enabled": true,
            });
            Item::new(id, name, fields.as_object().cloned().unwrap_or_default())
        }
    }
}

async fn delete_item(
    State(state): State<TargetState>,
    Path(id): Path<String>,
    kind: Kind,
) -> Response {
    if state.catalog.store(kind).remove(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found(kind)
    }
}

type StateParam = Result<Query<StateQuery>, QueryRejection>;

#[derive(Deserialize)]
struct StateQuery {
    activate: Option<bool>,
}

/// `POST /<kind>/{id}/state[?activate=false]`: the gateway's enable/disable switch.
async fn set_state(
    State(state): State<TargetState>,
    Path(id): Path<String>,
    query: StateParam,
    kind: Kind,
) -> Response {
    let Ok(Query(query)) = query else {
        return unprocessable("bool_parsing", &["query", "activate"], "must be a boolean");
    };
    let activate = query.activate.unwrap_or(true);
    match state.catalog.store(kind).set_enabled(&id, activate) {
        Some(item) => {
            let noun = kind.noun();
            let verb = if activate { "activated" } else { "deactivated" };
            Json(json!({
                "status": "success",
                "message": format!("{noun} {} {verb}", item.name),
                noun: item.json,
            }))
            .into_response()
        }
        None => not_found(kind),
    }
}

async fn list_server_tools(State(state): State<TargetState>, Path(id): Path<String>) -> Response {
    let servers = state.catalog.store(Kind::Server).snapshot();
    let Some(server) = servers.get(&id) else {
        return not_found(Kind::Server);
    };
    let wanted = server.json.get("associatedTools").and_then(Value::as_array);
    let tools = state.catalog.store(Kind::Tool).snapshot();
    let listed: Vec<&Value> = tools
        .items
        .iter()
        .filter(|t| wanted.is_some_and(|w| w.iter().any(|id| id == t.id.as_str())))
        .map(|t| &t.json)
        .collect();
    Json(listed).into_response()
}

async fn list_of_server(
    State(state): State<TargetState>,
    Path(id): Path<String>,
    kind: Kind,
) -> Response {
    if state
        .catalog
        .store(Kind::Server)
        .snapshot()
        .get(&id)
        .is_none()
    {
        return not_found(Kind::Server);
    }
    list_items(State(state), kind).await
}

async fn metrics(State(state): State<TargetState>) -> Response {
    let requests = state.counters.total();
    let tools = state.catalog.store(Kind::Tool).snapshot().items.len();
    let sessions = state.sessions.len();
    let rss = super::leak::resident_bytes();
    let leaked = state.leak.kept_bytes();
    typed_response(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        format!(
            "# HELP demo_target_requests_total Requests served by the demo target.\n\
             # TYPE demo_target_requests_total counter\n\
             demo_target_requests_total {requests}\n\
             # HELP demo_target_tools Tools registered.\n\
             # TYPE demo_target_tools gauge\n\
             demo_target_tools {tools}\n\
             # HELP demo_target_sse_sessions Open SSE streams.\n\
             # TYPE demo_target_sse_sessions gauge\n\
             demo_target_sse_sessions {sessions}\n\
             # HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\n\
             process_resident_memory_bytes {rss}\n\
             # HELP demo_leaked_bytes Bytes kept on purpose by POST /__leak.\n\
             # TYPE demo_leaked_bytes gauge\n\
             demo_leaked_bytes {leaked}\n"
        ),
    )
}

fn bad_request(detail: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, detail)
}

/// `GET /delay/{ms}`: answers after `ms` (at most 60 s), or 503 at once if the target stops.
pub(crate) async fn delay(State(state): State<TargetState>, Path(ms): Path<String>) -> Response {
    let Ok(ms) = ms.parse::<u64>() else {
        return bad_request("ms must be a whole number of milliseconds");
    };
    let ms = ms.min(60_000);
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => Json(json!({"delayed_ms": ms})).into_response(),
        _ = state.shutdown.cancelled() => json_error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
    }
}

/// How many `/capacity/{ms}` requests are served at once.
pub(crate) const CAPACITY_PERMITS: usize = 4;

/// `GET /capacity/{ms}`: waits for one of [`CAPACITY_PERMITS`] permits, holds it for `ms` (at
/// most 10 s), answers. A route of known capacity, `CAPACITY_PERMITS × 1000 / ms` answers a
/// second: more load only makes the queue (and the latency) longer. 503 at once if the target
/// stops.
pub(crate) async fn capacity(State(state): State<TargetState>, Path(ms): Path<String>) -> Response {
    let Ok(ms) = ms.parse::<u64>() else {
        return bad_request("ms must be a whole number of milliseconds");
    };
    let ms = ms.min(10_000);
    let served = async {
        // the semaphore is never closed: acquiring fails only if it were
        let _permit = state.capacity.acquire().await;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    };
    tokio::select! {
        _ = served => Json(json!({"held_ms": ms})).into_response(),
        _ = state.shutdown.cancelled() => json_error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
    }
}

/// `GET /status/{code}`: answers with that status (200..=599). A 1xx cannot be a final HTTP/1.1
/// response (hyper turns it into a 500), so 100..=199 get a 400 that says so.
pub(crate) async fn status(Path(code): Path<String>) -> Response {
    let Some(code) = code.parse::<u16>().ok().filter(|c| (100..=599).contains(c)) else {
        return bad_request("code must be in 100..=599");
    };
    match StatusCode::from_u16(code) {
        Ok(status) if status.is_informational() => {
            bad_request("a 1xx status cannot be a final response")
        }
        // These carry no body, so no content type either.
        Ok(
            status
            @ (StatusCode::NO_CONTENT | StatusCode::RESET_CONTENT | StatusCode::NOT_MODIFIED),
        ) => status.into_response(),
        Ok(status) => (status, Json(json!({ "status": code }))).into_response(),
        Err(_) => bad_request("code must be in 100..=599"),
    }
}

const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Larger bodies are streamed from the filler, so that the target stays small while a test
/// or `bench/reliability_plan.sh` asks for a gigabyte.
const MAX_STREAMED_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Shared by every `/bytes` response: slicing it is a reference count, not a copy.
static FILLER: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(vec![b'x'; MAX_BYTES]));

/// `GET /bytes/{n}`: `n` bytes (at most 4 GiB; above 10 MiB streamed in 10 MiB chunks) of
/// `application/octet-stream`, with a `Content-Length`.
pub(crate) async fn bytes(Path(n): Path<String>) -> Response {
    let Ok(n) = n.parse::<u64>() else {
        return bad_request("n must be a whole number of bytes");
    };
    let n = n.min(MAX_STREAMED_BYTES);
    let Ok(small) = usize::try_from(n).map(|n| n.min(MAX_BYTES)) else {
        return bad_request("n is too large");
    };
    if n <= MAX_BYTES as u64 {
        return typed_response(
            StatusCode::OK,
            "application/octet-stream",
            FILLER.slice(..small),
        );
    }
    let chunk = MAX_BYTES as u64;
    let chunks = futures_util::stream::iter((0..n.div_ceil(chunk)).map(move |i| {
        let len = (n - i * chunk).min(chunk) as usize;
        Ok::<_, std::convert::Infallible>(FILLER.slice(..len))
    }));
    let mut response = typed_response(
        StatusCode::OK,
        "application/octet-stream",
        axum::body::Body::from_stream(chunks),
    );
    response.headers_mut().insert(
        axum::http::header::CONTENT_LENGTH,
        axum::http::HeaderValue::from(n),
    );
    response
}

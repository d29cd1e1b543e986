//! `GET /openapi.json`: an OpenAPI 3.1 document of the demo target's REST routes, as the MCP
//! Gateway (FastAPI) serves its own, open like FastAPI's. Written so that `hornet import openapi
//! http://127.0.0.1:8090/openapi.json` gives a plan that runs against this target with zero
//! failures and zero setup: path parameters carry the ids of items the catalogue holds, bodies
//! have schemas or examples, the bearer scheme documents the demo's public token
//! (`x-example`), and only operations that can repeat are listed. Creates and deletes are left
//! out (repeated by a load test they answer 409 or 404); `plans/demo.toml` shows them with
//! captured ids. `/sse` is listed as an event stream (an importer leaves it out or makes it an
//! sse step); `/ws`, `/mcp` and `/message` are not REST.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::catalog::Kind;
use super::TargetState;

pub(crate) async fn openapi(State(state): State<TargetState>) -> Response {
    Json(document(&state)).into_response()
}

fn document(state: &TargetState) -> Value {
    let first_id = |kind: Kind| -> String {
        state
            .catalog
            .store(kind)
            .snapshot()
            .items
            .first()
            .map_or_else(|| "1".to_string(), |item| item.id.clone())
    };
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        if let Some(item) = paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            item.insert(method.to_string(), op);
        }
    };
    let open = json!([]);
    add(
        "/health",
        "get",
        op("Health check", "health", json_ok(), Some(&open)),
    );
    add(
        "/ready",
        "get",
        op("Readiness check", "health", json_ok(), Some(&open)),
    );
    add(
        "/version",
        "get",
        op("Version", "health", json_ok(), Some(&open)),
    );
    add(
        "/openapi.json",
        "get",
        op("This document", "meta", json_ok(), Some(&open)),
    );
    let kinds = [
        (Kind::Tool, "tools", "Tool"),
        (Kind::Server, "servers", "Server"),
        (Kind::Gateway, "gateways", "Gateway"),
        (Kind::Resource, "resources", "Resource"),
        (Kind::Prompt, "prompts", "Prompt"),
    ];
    for (kind, plural, schema) in kinds {
        let id = first_id(kind);
        add(
            &format!("/{plural}"),
            "get",
            op(&format!("List {plural}"), plural, json_list(schema), None),
        );
        add(
            &format!("/{plural}/{{id}}"),
            "get",
            with_id(
                op(
                    &format!("Get a {}", kind.noun()),
                    plural,
                    json_item(schema),
                    None,
                ),
                &id,
            ),
        );
        let mut toggle = with_id(
            op(
                &format!("Enable or disable a {}", kind.noun()),
                plural,
                json_ok(),
                None,
            ),
            &id,
        );
        if let Some(params) = toggle.get_mut("parameters").and_then(Value::as_array_mut) {
            params.push(json!({
                "name": "activate", "in": "query", "required": false,
                "schema": {"type": "boolean", "default": true},
            }));
        }
        add(&format!("/{plural}/{{id}}/state"), "post", toggle);
    }
    let server = first_id(Kind::Server);
    for (sub, schema) in [
        ("tools", "Tool"),
        ("resources", "Resource"),
        ("prompts", "Prompt"),
    ] {
        add(
            &format!("/servers/{{id}}/{sub}"),
            "get",
            with_id(
                op(
                    &format!("A server's {sub}"),
                    "servers",
                    json_list(schema),
                    None,
                ),
                &server,
            ),
        );
    }
    for (plural, what) in [("tags", "Tags"), ("roots", "Roots"), ("a2a", "A2A agents")] {
        add(
            &format!("/{plural}"),
            "get",
            op(&format!("List {what}"), plural, json_ok(), None),
        );
    }
    add(
        "/metrics",
        "get",
        op(
            "Prometheus metrics",
            "meta",
            json!({"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}),
            None,
        ),
    );
    let html = json!({"200": {"description": "OK", "content": {"text/html": {"schema": {"type": "string"}}}}});
    for (path, summary) in [
        ("/admin/", "Admin dashboard"),
        ("/admin/tools/partial", "Tools fragment (htmx)"),
        ("/admin/resources/partial", "Resources fragment (htmx)"),
        ("/admin/prompts/partial", "Prompts fragment (htmx)"),
        ("/admin/metrics/partial", "Metrics fragment (htmx)"),
    ] {
        add(path, "get", op(summary, "admin", html.clone(), None));
    }
    add(
        "/rpc",
        "post",
        with_body(
            op("JSON-RPC 2.0 (MCP methods)", "rpc", json_ok(), None),
            json!({"$ref": "#/components/schemas/JsonRpcRequest"}),
        ),
    );
    add(
        "/protocol/ping",
        "post",
        with_body(
            op("Ping (a JSON-RPC envelope)", "rpc", json_ok(), None),
            json!({"$ref": "#/components/schemas/JsonRpcPing"}),
        ),
    );
    add(
        "/protocol/initialize",
        "post",
        with_body(
            op("Initialize (bare params)", "rpc", json_ok(), None),
            json!({"$ref": "#/components/schemas/InitializeParams"}),
        ),
    );
    add(
        "/sse",
        "get",
        op(
            "Server-sent events",
            "streams",
            json!({"200": {"description": "An endless event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}),
            None,
        ),
    );
    for (path, param, example, summary) in [
        ("/delay/{ms}", "ms", 10, "Answers after ms milliseconds"),
        (
            "/capacity/{ms}",
            "ms",
            10,
            "Holds one of 4 permits for ms milliseconds: at most 4000/ms answers a second",
        ),
        ("/status/{code}", "code", 200, "Answers with this status"),
        ("/bytes/{n}", "n", 1024, "n bytes"),
    ] {
        let mut o = op(summary, "helpers", json_ok(), Some(&open));
        if let Some(obj) = o.as_object_mut() {
            obj.insert(
                "parameters".into(),
                json!([{"name": param, "in": "path", "required": true,
                        "schema": {"type": "integer"}, "example": example}]),
            );
        }
        add(path, "get", o);
    }
    let mut security = json!({"type": "http", "scheme": "bearer"});
    if let (Some(token), Some(obj)) = (&state.cfg.token, security.as_object_mut()) {
        obj.insert(
            "description".into(),
            json!("The demo target's public token (hornet target --token)"),
        );
        obj.insert("x-example".into(), json!(token));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Hornet demo target",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The MCP Gateway's routes as the built-in demo target serves them. Creates and deletes are not listed: repeated by a load test they conflict (409) or find nothing (404).",
        },
        "paths": paths,
        "security": if state.cfg.token.is_some() { json!([{"bearerAuth": []}]) } else { json!([]) },
        "components": {
            "securitySchemes": {"bearerAuth": security},
            "schemas": schemas(),
        },
    })
}

fn op(summary: &str, tag: &str, responses: Value, security: Option<&Value>) -> Value {
    let mut o = json!({"summary": summary, "tags": [tag], "responses": responses});
    if let (Some(s), Some(obj)) = (security, o.as_object_mut()) {
        obj.insert("security".into(), s.clone());
    }
    o
}

fn with_id(mut o: Value, id: &str) -> Value {
    if let Some(obj) = o.as_object_mut() {
        obj.insert(
            "parameters".into(),
            json!([{"name": "id", "in": "path", "required": true,
                    "schema": {"type": "string"}, "example": id}]),
        );
    }
    o
}

fn with_body(mut o: Value, schema: Value) -> Value {
    if let Some(obj) = o.as_object_mut() {
        obj.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": schema}}}),
        );
    }
    o
}

fn json_ok() -> Value {
    json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}})
}

fn json_list(schema: &str) -> Value {
    json!({"200": {"description": "OK", "content": {"application/json": {"schema": {
        "type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}}}}}})
}

fn json_item(schema: &str) -> Value {
    json!({
        "200": {"description": "OK", "content": {"application/json": {"schema": {
            "$ref": format!("#/components/schemas/{schema}")}}}},
        "404": {"description": "Not found"},
    })
}

fn schemas() -> Value {
    let item = |extra: Value| {
        let mut props = json!({
            "id": {"type": "string", "readOnly": true},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "enabled": {"type": "boolean"},
        });
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        json!({"type": "object", "required": ["id", "name"], "properties": props})
    };
    json!({
        "Tool": item(json!({"input_schema": {"type": "object"}})),
        "Server": item(json!({"associatedTools": {"type": "array", "items": {"type": "string"}}})),
        "Gateway": item(json!({"url": {"type": "string", "format": "uri"}})),
        "Resource": item(json!({"uri": {"type": "string"}})),
        "Prompt": item(json!({"template": {"type": "string"}})),
        "JsonRpcRequest": {
            "type": "object",
            "required": ["jsonrpc", "id", "method"],
            "properties": {
                "jsonrpc": {"type": "string", "enum": ["2.0"]},
                "id": {"type": "integer", "example": 1},
                "method": {"type": "string", "example": "tools/list"},
                "params": {"type": "object", "example": {}},
            },
        },
        "JsonRpcPing": {
            "type": "object",
            "required": ["jsonrpc", "id", "method"],
            "properties": {
                "jsonrpc": {"type": "string", "const": "2.0"},
                "id": {"type": "integer", "example": 1},
                "method": {"type": "string", "const": "ping"},
            },
        },
        "InitializeParams": {
            "type": "object",
            "required": ["protocolVersion", "capabilities", "clientInfo"],
            "properties": {
                "protocolVersion": {"type": "string", "example": "2025-06-18"},
                "capabilities": {"type": "object", "example": {}},
                "clientInfo": {"$ref": "#/components/schemas/Implementation"},
            },
        },
        "Implementation": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {
                "name": {"type": "string", "example": "hornet"},
                "version": {"type": "string", "example": "1.0"},
            },
        },
    })
}

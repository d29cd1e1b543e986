//! The built-in demo target: auth, the tool cycle, JSON-RPC, `/__stats`, SSE and WebSocket.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{served, served_count, spawn_target};

const AUTH: &str = "Bearer demo-token";

#[tokio::test]
async fn api_routes_want_the_token_and_the_tool_cycle_works() {
    let target = spawn_target().await;
    let http = reqwest::Client::new();
    let url = target.url();
    let anonymous = http.get(format!("{url}/tools")).send().await.expect("GET");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        http.get(format!("{url}/health"))
            .send()
            .await
            .expect("GET")
            .status(),
        200
    );

    let created = http
        .post(format!("{url}/tools"))
        .header("authorization", AUTH)
        .json(&json!({"tool": {"name": "t-1", "description": "d"}}))
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("JSON")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let read = http
        .get(format!("{url}/tools/{id}"))
        .header("authorization", AUTH)
        .send()
        .await
        .expect("GET");
    assert_eq!(read.status(), 200);
    let deleted = http
        .delete(format!("{url}/tools/{id}"))
        .header("authorization", AUTH)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    let gone = http
        .get(format!("{url}/tools/{id}"))
        .header("authorization", AUTH)
        .send()
        .await
        .expect("GET");
    assert_eq!(gone.status(), 404);
    let missing_name = http
        .post(format!("{url}/tools"))
        .header("authorization", AUTH)
        .json(&json!({"description": "no name"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(missing_name.status(), 422);

    let stats = served(&target).await;
    assert_eq!(served_count(&stats, "GET /tools"), 1);
    assert_eq!(served_count(&stats, "POST /tools"), 2);
    assert_eq!(served_count(&stats, "GET /tools/{id}"), 2);
    assert_eq!(served_count(&stats, "DELETE /tools/{id}"), 1);
    assert_eq!(stats["total"], 7);
    let reset = http
        .post(format!("{url}/__stats/reset"))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 204);
    assert_eq!(served(&target).await["total"], 0);
}

#[tokio::test]
async fn json_rpc_initialize_gives_a_session_and_unknown_methods_32601() {
    let target = spawn_target().await;
    let http = reqwest::Client::new();
    let rpc = |body: Value| {
        http.post(format!("{}/rpc", target.url()))
            .header("authorization", AUTH)
            .json(&body)
            .send()
    };
    let init = rpc(json!({"jsonrpc": "2.0", "id": "a", "method": "initialize", "params": {}}))
        .await
        .expect("POST");
    assert!(init.headers().get("mcp-session-id").is_some());
    let init: Value = init.json().await.expect("JSON");
    assert_eq!(init["id"], "a");
    assert!(init["result"]["protocolVersion"].is_string());
    let unknown: Value = rpc(json!({"jsonrpc": "2.0", "id": 7, "method": "nope"}))
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(unknown["id"], 7);
    assert_eq!(unknown["error"]["code"], -32601);
}

#[tokio::test]
async fn sse_announces_the_endpoint_then_counts_events_and_replies_by_id() {
    let target = spawn_target().await;
    let http = reqwest::Client::new();
    let mut stream = http
        .get(format!("{}/sse?events=3&interval_ms=20", target.url()))
        .header("authorization", AUTH)
        .send()
        .await
        .expect("GET /sse")
        .bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline.into(), stream.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    assert!(
        text.starts_with("event: endpoint\ndata: /message?session_id="),
        "{text}"
    );
    assert_eq!(text.matches("event: message").count(), 3, "{text}");
    assert!(text.contains("{\"seq\":3}"), "{text}");
}

#[tokio::test]
async fn websocket_answers_json_rpc_with_the_same_id() {
    let target = spawn_target().await;
    let mut request = format!("ws://{}/ws", target.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("authorization", AUTH.parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":42,"method":"ping"}"#,
    ))
    .await
    .expect("send");
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("reply in time")
        .expect("a frame")
        .expect("ok frame");
    let reply: Value = serde_json::from_str(reply.to_text().expect("text")).expect("JSON");
    assert_eq!(reply["id"], 42);
    assert_eq!(reply["result"], json!({}));

    let anonymous = tokio_tungstenite::connect_async(format!("ws://{}/ws", target.addr)).await;
    assert!(anonymous.is_err(), "the upgrade needs the token");
}

#[tokio::test]
async fn delay_takes_at_least_what_it_says() {
    let target = spawn_target().await;
    let started = Instant::now();
    let resp = reqwest::get(format!("{}/delay/50", target.url()))
        .await
        .expect("GET");
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

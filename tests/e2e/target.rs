//! The built-in demo target over real sockets: auth, the tool cycle, JSON-RPC, `/__stats`, SSE
//! (numbered events and the `/message` endpoint), WebSocket, the test helpers and shutdown.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, Stream, StreamExt};
use hornet::demo::{RunningTarget, TargetConfig};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{authed, served, served_count, spawn_target, spawn_target_with, wait_until};

const AUTH: &str = "Bearer demo-token";
const WAIT: Duration = Duration::from_secs(5);

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn rpc(target: &RunningTarget, body: Value) -> reqwest::Response {
    authed(target, Method::POST, "/rpc")
        .json(&body)
        .send()
        .await
        .expect("POST /rpc")
}

/// Reads `event:`/`data:` pairs off an SSE body.
struct SseReader<S> {
    body: S,
    buf: String,
}

impl<S> SseReader<S>
where
    S: Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
{
    fn new(body: S) -> Self {
        SseReader {
            body,
            buf: String::new(),
        }
    }

    /// The next event as (event, data); None when the stream ends. Panics after `WAIT`.
    async fn next_event(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if block.starts_with(':') {
                    continue; // a comment
                }
                return Some((event, data));
            }
            let chunk = tokio::time::timeout(WAIT, self.body.next())
                .await
                .expect("an SSE chunk in time");
            match chunk {
                Some(chunk) => self
                    .buf
                    .push_str(&String::from_utf8_lossy(&chunk.expect("SSE chunk"))),
                None => return None,
            }
        }
    }
}

async fn open_sse(
    target: &RunningTarget,
    query: &str,
) -> SseReader<impl Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin> {
    let response = authed(target, Method::GET, &format!("/sse{query}"))
        .send()
        .await
        .expect("GET /sse");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "SSE content type"
    );
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    SseReader::new(response.bytes_stream())
}

#[tokio::test]
async fn api_routes_need_the_bearer_token_and_probes_do_not() {
    let target = spawn_target().await;
    let url = target.url();
    let http = client();
    for path in ["/tools", "/servers", "/metrics", "/admin/", "/sse"] {
        let anonymous = http.get(format!("{url}{path}")).send().await.expect("GET");
        assert_eq!(anonymous.status(), 401, "{path} without a token");
        let body: Value = anonymous.json().await.expect("401 is JSON");
        assert_eq!(body, json!({"detail": "Not authenticated"}));
        let wrong = http
            .get(format!("{url}{path}?events=0"))
            .header("authorization", "Bearer nope")
            .send()
            .await
            .expect("GET");
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let ok = authed(&target, Method::GET, &format!("{path}?events=0"))
            .send()
            .await
            .expect("GET");
        assert_eq!(ok.status(), 200, "{path} with the token");
    }
    let anonymous_rpc = http
        .post(format!("{url}/rpc"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(anonymous_rpc.status(), 401);
    for path in [
        "/health",
        "/ready",
        "/version",
        "/delay/0",
        "/status/200",
        "/bytes/1",
    ] {
        let open = http.get(format!("{url}{path}")).send().await.expect("GET");
        assert_eq!(open.status(), 200, "{path} is open");
    }
    let health: Value = reqwest::get(format!("{url}/health"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health, json!({"status": "healthy"}));

    let admin = authed(&target, Method::GET, "/admin/")
        .send()
        .await
        .expect("GET /admin/");
    assert_eq!(admin.headers()["content-type"], "text/html; charset=utf-8");
    let page = admin.text().await.expect("HTML");
    assert!(
        page.len() > 2_000 && page.contains("demo-tool-20"),
        "{page}"
    );

    // Without a token configured, everything is open.
    let open = spawn_target_with(TargetConfig {
        token: None,
        ..TargetConfig::default()
    })
    .await;
    let tools = reqwest::get(format!("{}/tools", open.url()))
        .await
        .expect("GET");
    assert_eq!(tools.status(), 200);
    open.stop().await;
}

#[tokio::test]
async fn tools_can_be_created_read_and_deleted() {
    let target = spawn_target().await;
    let tools: Vec<Value> = authed(&target, Method::GET, "/tools")
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(tools.len(), 20, "seed_tools defaults to 20");
    assert_eq!(tools[0]["name"], "demo-tool-1");
    assert_eq!(tools[0]["integration_type"], "MCP");
    assert_eq!(tools[0]["id"].as_str().map(str::len), Some(32));

    let create = |body: Value| authed(&target, Method::POST, "/tools").json(&body).send();
    // The gateway's wrapped body, and the flat one upstream's locustfile sends.
    let wrapped = create(json!({"tool": {"name": "t-wrapped", "description": "d"}}))
        .await
        .expect("POST");
    assert_eq!(wrapped.status(), 201);
    let flat = create(json!({"name": "t-flat", "description": "d", "integration_type": "MCP"}))
        .await
        .expect("POST");
    assert_eq!(flat.status(), 201);
    let created: Value = flat.json().await.expect("JSON");
    assert_eq!(created["name"], "t-flat");
    let id = created["id"].as_str().expect("an id").to_string();

    let again = create(json!({"name": "t-flat"})).await.expect("POST");
    assert_eq!(again.status(), 409);
    let nameless = create(json!({"description": "no name"}))
        .await
        .expect("POST");
    assert_eq!(nameless.status(), 422);
    assert!(nameless.json::<Value>().await.expect("JSON")["detail"].is_array());

    let read = authed(&target, Method::GET, &format!("/tools/{id}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.expect("JSON")["name"], "t-flat");
    let state = authed(
        &target,
        Method::POST,
        &format!("/tools/{id}/state?activate=false"),
    )
    .send()
    .await
    .expect("POST state");
    assert_eq!(state.status(), 200);
    assert_eq!(
        state.json::<Value>().await.expect("JSON")["tool"]["enabled"],
        false
    );
    let deleted = authed(&target, Method::DELETE, &format!("/tools/{id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    for _ in 0..2 {
        let gone = authed(&target, Method::GET, &format!("/tools/{id}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(gone.status(), 404);
        assert!(gone.json::<Value>().await.expect("JSON")["detail"].is_string());
    }
    let deleted_again = authed(&target, Method::DELETE, &format!("/tools/{id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted_again.status(), 404);
    let count = authed(&target, Method::GET, "/tools")
        .send()
        .await
        .expect("GET")
        .json::<Vec<Value>>()
        .await
        .expect("JSON")
        .len();
    assert_eq!(count, 21, "20 seeded + t-wrapped");
}

#[tokio::test]
async fn json_rpc_answers_like_the_gateway() {
    let target = spawn_target().await;
    let init = rpc(
        &target,
        json!({"jsonrpc": "2.0", "id": "a", "method": "initialize",
               "params": {"protocolVersion": "2024-11-05", "capabilities": {}}}),
    )
    .await;
    assert_eq!(init.status(), 200);
    let session = init
        .headers()
        .get("mcp-session-id")
        .expect("Mcp-Session-Id on initialize")
        .to_str()
        .expect("ASCII");
    assert_eq!(session.len(), 36, "a uuid: {session}");
    let init: Value = init.json().await.expect("JSON");
    assert_eq!(init["id"], "a");
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert!(init["result"]["serverInfo"]["name"].is_string());

    let unknown: Value = rpc(
        &target,
        json!({"jsonrpc": "2.0", "id": 7, "method": "nope"}),
    )
    .await
    .json()
    .await
    .expect("JSON");
    assert_eq!(unknown["id"], 7);
    assert_eq!(unknown["error"]["code"], -32601);
    assert_eq!(unknown["error"]["message"], "Method not found: nope");

    let ping: Value = rpc(
        &target,
        json!({"jsonrpc": "2.0", "id": 8, "method": "ping"}),
    )
    .await
    .json()
    .await
    .expect("JSON");
    assert_eq!(ping, json!({"jsonrpc": "2.0", "id": 8, "result": {}}));

    let list: Value = rpc(
        &target,
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}),
    )
    .await
    .json()
    .await
    .expect("JSON");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"demo-tool-1") && names.contains(&"fast-time-get-system-time"));

    let call: Value = rpc(
        &target,
        json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
               "params": {"name": "fast-time-get-system-time", "arguments": {"timezone": "UTC"}}}),
    )
    .await
    .json()
    .await
    .expect("JSON");
    assert_eq!(call["result"]["isError"], false);
    assert!(call["result"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("datetime")));
    let missing: Value = rpc(
        &target,
        json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "x"}}),
    )
    .await
    .json()
    .await
    .expect("JSON");
    assert_eq!(missing["error"]["code"], -32601);
    assert_eq!(missing["error"]["message"], "Tool not found: x");

    for method in ["resources/list", "resources/templates/list", "prompts/list"] {
        let reply: Value = rpc(
            &target,
            json!({"jsonrpc": "2.0", "id": 1, "method": method}),
        )
        .await
        .json()
        .await
        .expect("JSON");
        assert!(reply["result"].is_object(), "{method}: {reply}");
    }

    let notification = rpc(
        &target,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(notification.status(), 202);
    assert!(notification.bytes().await.expect("body").is_empty());

    let malformed = authed(&target, Method::POST, "/rpc")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(malformed.status(), 200);
    let malformed: Value = malformed.json().await.expect("JSON");
    assert_eq!(malformed["error"]["code"], -32700);
    assert_eq!(malformed["id"], Value::Null);

    let streamed = authed(&target, Method::POST, "/rpc")
        .header("accept", "text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 12, "method": "ping"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(streamed.headers()["content-type"], "text/event-stream");
    assert_eq!(
        streamed.text().await.expect("text"),
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":12,\"result\":{}}\n\n"
    );

    let protocol_init: Value = authed(&target, Method::POST, "/protocol/initialize")
        .json(&json!({"protocolVersion": "2024-11-05", "capabilities": {}}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(protocol_init["protocolVersion"], "2024-11-05");
}

#[tokio::test]
async fn stats_count_exactly_the_requests_made_then_reset_zeroes_them() {
    let target = spawn_target().await;
    let url = target.url();
    let http = client();
    let get = |path: &str, auth: bool| {
        let request = http.get(format!("{url}{path}"));
        if auth {
            request.header("authorization", AUTH)
        } else {
            request
        }
        .send()
    };
    assert_eq!(get("/health", false).await.expect("GET").status(), 200);
    assert_eq!(get("/tools", false).await.expect("GET").status(), 401);
    let servers: Vec<Value> = get("/servers", true)
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let server_id = servers[0]["id"].as_str().expect("id");
    assert_eq!(
        get(&format!("/servers/{server_id}"), true)
            .await
            .expect("GET")
            .status(),
        200
    );
    assert_eq!(
        get("/tools/unknown", true).await.expect("GET").status(),
        404
    );
    assert_eq!(
        get("/no/such/route", true).await.expect("GET").status(),
        404
    );
    let put = authed(&target, Method::PUT, "/tools")
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 405);
    let head = http
        .head(format!("{url}/health"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    for id in 0..3 {
        rpc(
            &target,
            json!({"jsonrpc": "2.0", "id": id, "method": "ping"}),
        )
        .await;
    }
    // Concurrent requests are each counted once.
    let burst = futures_util::future::join_all((0..200).map(|_| get("/tools", true))).await;
    assert!(burst
        .iter()
        .all(|r| r.as_ref().is_ok_and(|r| r.status() == 200)));

    let stats = served(&target).await;
    assert_eq!(served_count(&stats, "GET /tools"), 201);
    assert_eq!(
        stats,
        json!({"total": 211, "routes": {
            "GET /health": 1,
            "GET /tools": 201,
            "GET /servers": 1,
            "GET /servers/{id}": 1,
            "GET /tools/{id}": 1,
            "GET (unmatched)": 1,
            "PUT (unmatched)": 1,
            "HEAD /health": 1,
            "POST /rpc": 3,
        },
        "mcp": {"sessions_issued": 0, "requests_with_session": 0, "unknown_session": 0},
        "event_stream": {"connections": 0, "resumed": 0, "sent": 0, "last_id": 0},
        "broadcast": {"subscribers": 0, "joined": 0, "broadcasts": 0, "deliveries": 0, "skipped": 0},
        "sse_open": 0}),
        "/__stats itself is not counted"
    );
    let reset = http
        .post(format!("{url}/__stats/reset"))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 204);
    let zero = json!({"total": 0, "routes": {},
        "mcp": {"sessions_issued": 0, "requests_with_session": 0, "unknown_session": 0},
        "event_stream": {"connections": 0, "resumed": 0, "sent": 0, "last_id": 0},
        "broadcast": {"subscribers": 0, "joined": 0, "broadcasts": 0, "deliveries": 0, "skipped": 0},
        "sse_open": 0});
    assert_eq!(served(&target).await, zero);
}

/// Every route the target serves (`demo::ROUTES`) must be counted under its own name (a route
/// missing from the counters' list would show up as "(unmatched)").
#[tokio::test]
async fn every_listed_route_is_counted_under_its_own_pattern() {
    let target = spawn_target().await;
    let url = target.url();
    let http = client();
    assert!(
        hornet::demo::ROUTES.len() >= 50,
        "{} routes",
        hornet::demo::ROUTES.len()
    );
    let mut expected = serde_json::Map::new();
    for (method, pattern) in hornet::demo::ROUTES {
        let path = pattern
            .replace("{id}", "x")
            .replace("{ms}", "0")
            .replace("{code}", "204")
            .replace("{n}", "1");
        let path = if *pattern == "/sse" {
            "/sse?events=0".to_string()
        } else {
            path
        };
        let request = match *method {
            "GET" => http.get(format!("{url}{path}")),
            "POST" => http.post(format!("{url}{path}")).json(&json!({})),
            "DELETE" => http.delete(format!("{url}{path}")),
            other => panic!("unexpected method {other}"),
        };
        let response = tokio::time::timeout(WAIT, request.header("authorization", AUTH).send())
            .await
            .expect("answer in time")
            .expect("request");
        assert!(
            response.status().as_u16() < 500,
            "{method} {path}: {}",
            response.status()
        );
        expected.insert(format!("{method} {pattern}"), json!(1));
    }
    let stats = served(&target).await;
    assert_eq!(stats["routes"], Value::Object(expected));
}

#[tokio::test]
async fn sse_sends_the_endpoint_then_the_asked_events_and_ends() {
    let target = spawn_target().await;
    let started = Instant::now();
    let mut sse = open_sse(&target, "?events=3&interval_ms=10").await;
    let (event, data) = sse.next_event().await.expect("endpoint event");
    assert_eq!(event, "endpoint");
    assert!(data.starts_with("/message?session_id="), "{data}");
    for seq in 1..=3 {
        let (event, data) = sse.next_event().await.expect("message event");
        assert_eq!(event, "message");
        assert_eq!(
            serde_json::from_str::<Value>(&data).expect("JSON"),
            json!({ "seq": seq })
        );
    }
    assert_eq!(
        sse.next_event().await,
        None,
        "the stream ends after 3 events"
    );
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[tokio::test]
async fn sse_message_endpoint_replies_on_the_stream_with_the_same_id() {
    let target = spawn_target().await;
    let mut sse = open_sse(&target, "?interval_ms=60000").await;
    let (event, endpoint) = sse.next_event().await.expect("endpoint event");
    assert_eq!(event, "endpoint");
    let posted = authed(&target, Method::POST, &endpoint)
        .json(&json!({"jsonrpc": "2.0", "id": "req-42", "method": "tools/list"}))
        .send()
        .await
        .expect("POST /message");
    assert_eq!(posted.status(), 202);
    assert_eq!(
        posted.json::<Value>().await.expect("JSON"),
        json!({"status": "success"})
    );
    let (event, data) = sse.next_event().await.expect("the reply");
    assert_eq!(event, "message");
    let reply: Value = serde_json::from_str(&data).expect("JSON-RPC");
    assert_eq!(reply["id"], "req-42");
    assert!(reply["result"]["tools"].is_array());

    let stale = authed(&target, Method::POST, "/message?session_id=nope")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(stale.status(), 404);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Ws) -> String {
    let frame = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a reply in time")
        .expect("a frame")
        .expect("an ok frame");
    frame.into_text().expect("text").to_string()
}

#[tokio::test]
async fn websocket_answers_json_rpc_with_the_same_id_and_echoes_text() {
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
    let reply: Value = serde_json::from_str(&next_text(&mut ws).await).expect("JSON");
    assert_eq!(reply, json!({"jsonrpc": "2.0", "id": 42, "result": {}}));
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":"x","method":"nope"}"#,
    ))
    .await
    .expect("send");
    let reply: Value = serde_json::from_str(&next_text(&mut ws).await).expect("JSON");
    assert_eq!(reply["id"], "x");
    assert_eq!(reply["error"]["code"], -32601);
    ws.send(Message::text("hello, not JSON"))
        .await
        .expect("send");
    assert_eq!(next_text(&mut ws).await, "hello, not JSON");
    ws.close(None).await.expect("close");

    let anonymous = tokio_tungstenite::connect_async(format!("ws://{}/ws", target.addr)).await;
    match anonymous {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("the upgrade needs the token: {other:?}"),
    }
}

#[tokio::test]
async fn helpers_delay_status_and_bytes() {
    let target = spawn_target().await;
    let url = target.url();
    let started = Instant::now();
    let delayed = reqwest::get(format!("{url}/delay/50")).await.expect("GET");
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(delayed.status(), 200);
    assert_eq!(
        delayed.json::<Value>().await.expect("JSON"),
        json!({"delayed_ms": 50})
    );
    for (path, status) in [
        ("/status/418", 418),
        ("/status/503", 503),
        ("/status/600", 400),
        ("/status/abc", 400),
        ("/delay/abc", 400),
    ] {
        let response = reqwest::get(format!("{url}{path}")).await.expect("GET");
        assert_eq!(response.status(), status, "{path}");
    }
    let bytes = reqwest::get(format!("{url}/bytes/12345"))
        .await
        .expect("GET");
    assert_eq!(bytes.headers()["content-type"], "application/octet-stream");
    assert_eq!(bytes.bytes().await.expect("body").len(), 12_345);
}

#[tokio::test]
async fn stop_ends_open_streams_and_frees_the_port() {
    let target = spawn_target().await;
    let addr = target.addr;
    let mut sse = open_sse(&target, "?interval_ms=3600000").await;
    assert_eq!(sse.next_event().await.expect("endpoint").0, "endpoint");
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("authorization", AUTH.parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    let delay = tokio::spawn(reqwest::get(format!("{}/delay/60000", target.url())));
    // The target counts a request as it arrives: the delayed one is in its hands.
    wait_until("the delayed request reaches the target", WAIT, async || {
        let stats = served(&target).await;
        match served_count(&stats, "GET /delay/{ms}") {
            1 => Ok(()),
            _ => Err(stats),
        }
    })
    .await;

    let started = Instant::now();
    target.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "graceful shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(sse.next_event().await, None, "the SSE stream ends");
    let closed = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("in time");
    assert!(
        matches!(closed, Some(Ok(Message::Close(_))) | None | Some(Err(_))),
        "{closed:?}"
    );
    let delayed = delay.await.expect("join").expect("an answer");
    assert_eq!(delayed.status(), 503);
    assert!(reqwest::get(format!("http://{addr}/health")).await.is_err());
}

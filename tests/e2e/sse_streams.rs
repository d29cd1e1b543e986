//! SSE drops and reconnects against the demo target's `/events` (a numbered stream with ids
//! that drops every N events and resumes after `Last-Event-ID`), with exact counts on both
//! sides; and the user's stop ending long stream steps (a ws `rate` + `for = "1m"` stream and
//! an sse `for = "1m"` step) when a short run ends, their figures kept and nothing lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hornet::stats::snapshot::{Snapshot, SseStreams};
use hornet::stats::thresholds::evaluate;

use crate::helpers::{cut_at_stop, plan, row, run_cfg, run_to_end, served, spawn_target};

async fn run_plan(text: &str, host: String, secs: f64) -> Arc<Snapshot> {
    let cfg = run_cfg(host, 1, Duration::from_secs_f64(secs));
    run_to_end(&plan(text), cfg, Duration::from_secs(20)).await
}

fn streams(snapshot: &Snapshot, name: &str) -> SseStreams {
    row(snapshot, "SSE", name)
        .sse
        .unwrap_or_else(|| panic!("SSE {name} has stream counts: {:?}", snapshot.rows))
}

fn plan_text(step: &str) -> String {
    format!(
        "[defaults]\nheaders = {{ Authorization = \"Bearer demo-token\" }}\n[[users]]\nname = \"S\"\ntasks = [ {step} ]\n"
    )
}

#[tokio::test]
async fn a_dropped_stream_reconnects_and_resumes_after_the_last_event_id() {
    let target = spawn_target().await;
    let text = plan_text(
        r#"{ sse = "/events?interval_ms=2&events=30&drop_every=10&retry_ms=5", events = 30, reconnect = true, name = "/events" }"#,
    );
    let snapshot = run_plan(&text, target.url(), 1.0).await;
    let stats = served(&target).await;

    // Every iteration: 3 connections (the first and 2 reconnections), 2 drops, 30 events.
    let connect = row(&snapshot, "SSE", "/events [connect]");
    assert!(
        connect.num_requests >= 3 && connect.num_requests.is_multiple_of(3),
        "{connect:?}"
    );
    let k = connect.num_requests / 3;
    assert_eq!(snapshot.total.num_failures, 0, "{:?}", snapshot.failures);
    let s = streams(&snapshot, "/events");
    assert_eq!(
        (s.opened, s.drops, s.reconnects, s.events),
        (3 * k, 2 * k, 2 * k, 30 * k)
    );
    assert!((s.drop - 2.0 / 3.0).abs() < 1e-9, "{s:?}");
    assert!(s.events_per_s > 0.0);
    // The target sent each id once per iteration: the reconnections resumed after the last id
    // seen (without Last-Event-ID every connection would start again at 1 and end at 10).
    let es = &stats["event_stream"];
    assert_eq!(es["connections"], 3 * k);
    assert_eq!(es["resumed"], 2 * k);
    assert_eq!(es["sent"], 30 * k);
    assert_eq!(es["last_id"], 30);
    // A reconnection's first event goes to [first event] again.
    assert_eq!(
        row(&snapshot, "SSE", "/events [first event]").num_requests,
        3 * k
    );
    assert_eq!(
        row(&snapshot, "SSE", "/events [event gap]").num_requests,
        27 * k
    );
    // `'/events'.drop` is judged on the stream's connections.
    let drop = |expr: &str| {
        evaluate(
            &hornet::plan::parse_threshold(expr).expect("threshold"),
            &snapshot,
        )
    };
    let v = drop("'/events'.drop < 1%");
    assert!(!v.passed && v.samples == 3 * k, "{v:?}");
    assert!(drop("'/events'.drop < 70%").passed);
}

#[tokio::test]
async fn without_reconnect_a_drop_fails_the_step() {
    let target = spawn_target().await;
    let text = plan_text(
        r#"{ sse = "/events?interval_ms=2&events=30&drop_every=10", events = 30, name = "/events" }"#,
    );
    let snapshot = run_plan(&text, target.url(), 1.0).await;
    let stats = served(&target).await;

    let s = streams(&snapshot, "/events");
    assert!(s.opened > 0);
    assert_eq!(
        (s.drops, s.reconnects, s.events),
        (s.opened, 0, 10 * s.opened)
    );
    assert_eq!(s.drop, 1.0);
    let failures: Vec<(&str, &str, u64)> = snapshot
        .failures
        .iter()
        .map(|f| (f.name.as_str(), f.error.as_str(), f.occurrences))
        .collect();
    assert_eq!(
        failures,
        [(
            "/events [event gap]",
            "stream ended after 10 events",
            s.opened
        )]
    );
    assert_eq!(stats["event_stream"]["resumed"], 0);
    assert_eq!(stats["event_stream"]["last_id"], 10);
}

#[tokio::test]
async fn the_runs_end_stops_minute_long_streams_and_loses_nothing() {
    let target = spawn_target().await;
    // One user on each stream, each stream a minute long.
    let text = r#"
[defaults]
headers = { Authorization = "Bearer demo-token" }
[[users]]
name = "W"
fixed_count = 1
tasks = [ { ws = "/ws", send = ["ping"], rate = "50/s", for = "1m", name = "/ws" } ]
[[users]]
name = "E"
fixed_count = 1
tasks = [ { sse = "/events?interval_ms=20", for = "1m", name = "/events" } ]
"#;
    let cfg = cut_at_stop(run_cfg(target.url(), 2, Duration::from_secs(2)));
    let started = Instant::now();
    let snapshot = run_to_end(&plan(text), cfg, Duration::from_secs(30)).await;
    let took = started.elapsed();
    // Bounded, not a timing assertion: a minute-long step did not hold the run for its minute.
    assert!(took < Duration::from_secs(30), "took {took:?}");

    assert_eq!(snapshot.total.num_failures, 0, "{:?}", snapshot.failures);
    let ws = row(&snapshot, "WS", "/ws")
        .ws
        .expect("the ws row has delivery counts");
    assert!(ws.sent > 20, "{ws:?}");
    assert_eq!(ws.lost, 0, "{ws:?}");
    assert_eq!(ws.sent, ws.received + ws.cut, "{ws:?}");
    let s = streams(&snapshot, "/events");
    assert!(s.events > 10, "{s:?}");
    assert_eq!((s.drops, s.reconnects), (0, 0), "{s:?}");
}

/// A minimal MCP Streamable HTTP endpoint that, like the official SDK, allows one GET stream per
/// session and answers 409 Conflict to the first `conflicts` GETs (a stream not yet released).
async fn conflicting_mcp_server(conflicts: usize) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let gets = Arc::new(AtomicUsize::new(0));
    let counted = gets.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|body: axum::Json<serde_json::Value>| async move {
            let reply = serde_json::json!({"jsonrpc": "2.0", "id": body.0["id"], "result": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "serverInfo": {"name": "conflicting", "version": "1"}}});
            ([("mcp-session-id", "s-1")], axum::Json(reply))
        })
        .get(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < conflicts {
                    return (
                        StatusCode::CONFLICT,
                        "Only one SSE stream is allowed per session",
                    )
                        .into_response();
                }
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    "data: hello\n\n",
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, gets)
}

const MCP_GET_PLAN: &str = r#"
[defaults]
rpc_path = "/mcp"
[[users]]
name = "S"
on_start = [ { rpc = "initialize", params = { protocolVersion = "2025-06-18", capabilities = {}, clientInfo = { name = "hornet", version = "1" } } } ]
tasks = [ { sse = "/mcp", events = 1, name = "stream" } ]
"#;

#[tokio::test]
async fn an_mcp_sessions_get_stream_answered_409_is_asked_again_until_it_is_free() {
    use std::sync::atomic::Ordering;
    // Two conflicts, then free: the first stream opens on the third GET, and nothing fails.
    let (url, gets) = conflicting_mcp_server(2).await;
    let snapshot = run_plan(MCP_GET_PLAN, url, 0.5).await;
    assert_eq!(snapshot.total.num_failures, 0, "{:?}", snapshot.failures);
    let opened = streams(&snapshot, "stream").opened;
    assert!(opened >= 1, "{opened}");
    assert_eq!(gets.load(Ordering::SeqCst) as u64, opened + 2);
    // The [connect] time of the first stream includes the waits (20 + 40 ms).
    let connect = row(&snapshot, "SSE", "stream [connect]");
    assert!(connect.max_ms >= 60.0, "{connect:?}");

    // Never free: six GETs (the first and five more over ~0.5 s), then the 409 is the failure.
    let (url, gets) = conflicting_mcp_server(usize::MAX).await;
    let snapshot = run_plan(MCP_GET_PLAN, url, 0.2).await;
    let failures: Vec<(&str, &str)> = snapshot
        .failures
        .iter()
        .map(|f| (f.name.as_str(), f.error.as_str()))
        .collect();
    assert_eq!(failures, [("stream [connect]", "HTTP 409")]);
    let attempts = snapshot.failures[0].occurrences as usize;
    assert_eq!(gets.load(Ordering::SeqCst), 6 * attempts);
}

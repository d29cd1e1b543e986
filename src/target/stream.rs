//! The demo target's streams: `/sse` (an MCP-style event stream that announces a `/message`
//! endpoint, then sends numbered events; replies to POSTs on that endpoint arrive on the
//! stream) and `/ws` (JSON-RPC over WebSocket; other text is echoed).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{rpc, unauthorized, AppState};

/// Open SSE sessions: where replies to `/message?session_id=` go.
#[derive(Clone, Default)]
pub(crate) struct Sessions(Arc<Mutex<HashMap<String, mpsc::Sender<Value>>>>);

/// Removes the session when its stream ends (client gone or server shutting down).
struct SessionGuard {
    sessions: Sessions,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.sessions.0.lock() {
            map.remove(&self.id);
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct SseQuery {
    interval_ms: Option<u64>,
    events: Option<u64>,
}

struct SseState {
    replies: mpsc::Receiver<Value>,
    ticker: tokio::time::Interval,
    seq: u64,
    limit: Option<u64>,
    endpoint: Option<String>,
    shutdown: tokio_util::sync::CancellationToken,
    _guard: SessionGuard,
}

pub(crate) async fn sse(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SseQuery>,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (tx, replies) = mpsc::channel(64);
    if let Ok(mut map) = state.sessions.0.lock() {
        map.insert(id.clone(), tx);
    }
    let interval = q
        .interval_ms
        .map(Duration::from_millis)
        .unwrap_or(state.cfg.sse_interval)
        .max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let initial = SseState {
        replies,
        ticker,
        seq: 0,
        limit: q.events,
        endpoint: Some(format!("/message?session_id={id}")),
        shutdown: state.shutdown.clone(),
        _guard: SessionGuard {
            sessions: state.sessions.clone(),
            id,
        },
    };
    let mut response = Sse::new(events(initial))
        .keep_alive(KeepAlive::default())
        .into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

fn events(initial: SseState) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(initial, |mut st| async move {
        if let Some(endpoint) = st.endpoint.take() {
            return Some((Ok(Event::default().event("endpoint").data(endpoint)), st));
        }
        if st.limit.is_some_and(|limit| st.seq >= limit) {
            return None;
        }
        tokio::select! {
            _ = st.shutdown.cancelled() => None,
            Some(reply) = st.replies.recv() => {
                Some((Ok(Event::default().event("message").data(reply.to_string())), st))
            }
            _ = st.ticker.tick() => {
                st.seq += 1;
                let data = json!({"seq": st.seq}).to_string();
                Some((Ok(Event::default().event("message").data(data)), st))
            }
        }
    })
}

#[derive(Deserialize)]
pub(crate) struct MessageQuery {
    session_id: String,
}

pub(crate) async fn message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MessageQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    let sender = state
        .sessions
        .0
        .lock()
        .ok()
        .and_then(|m| m.get(&q.session_id).cloned());
    let Some(sender) = sender else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"detail": "unknown session"})),
        )
            .into_response();
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "body must be JSON-RPC"})),
        )
            .into_response();
    };
    if let Some(reply) = rpc::respond(&state, &request) {
        // A full or closed stream drops the reply, as a real server would lose it.
        let _ = sender.try_send(reply);
    }
    (StatusCode::ACCEPTED, Json(json!({"status": "success"}))).into_response()
}

pub(crate) async fn ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(r) = unauthorized(&state, &headers) {
        return r;
    }
    upgrade.on_upgrade(move |socket| relay(state, socket))
}

async fn relay(state: AppState, mut socket: WebSocket) {
    loop {
        let msg = tokio::select! {
            _ = state.shutdown.cancelled() => break,
            msg = socket.recv() => msg,
        };
        let reply = match msg {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<Value>(text.as_str()) {
                Ok(request) if request.get("method").is_some() => {
                    match rpc::respond(&state, &request) {
                        Some(reply) => Message::Text(reply.to_string().into()),
                        None => continue,
                    }
                }
                _ => Message::Text(text),
            },
            Some(Ok(Message::Binary(b))) => Message::Binary(b),
            Some(Ok(Message::Ping(p))) => Message::Pong(p),
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

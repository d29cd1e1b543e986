//! The demo target's streams: `/sse` (the MCP SSE transport: announces a `/message` endpoint,
//! sends numbered `message` events, and carries the replies to POSTs on that endpoint),
//! `/events` (a plain numbered event stream with ids that can drop and resume from
//! `Last-Event-ID`) and `/ws` (JSON-RPC over WebSocket; other text is echoed). Every stream ends when the target
//! shuts down, or graceful shutdown would wait for it forever.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::rpc::{self, Outcome};
use super::{json_error, TargetState};

/// Replies a stream can hold before further ones are dropped (a client that stopped reading).
const SESSION_BUFFER: usize = 256;

/// Open SSE sessions: where replies to `POST /message?session_id=` go. Locked only to open or
/// close a stream (write) and to find a session (read).
#[derive(Clone, Default)]
pub(crate) struct Sessions(Arc<RwLock<HashMap<String, mpsc::Sender<String>>>>);

impl Sessions {
    pub(crate) fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn open(&self, id: String, replies: mpsc::Sender<String>) -> SessionGuard {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), replies);
        SessionGuard {
            sessions: self.clone(),
            id,
        }
    }

    fn find(&self, id: &str) -> Option<mpsc::Sender<String>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

/// Removes its session when the stream is dropped (client gone, limit reached, shutdown).
struct SessionGuard {
    sessions: Sessions,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[derive(Deserialize)]
pub(crate) struct SseQuery {
    interval_ms: Option<u64>,
    events: Option<u64>,
    /// `silent=true`: the head, then nothing (no endpoint, events or keep-alives) until the
    /// target shuts down — a stream that went quiet.
    silent: Option<bool>,
}

struct SseState {
    replies: mpsc::Receiver<String>,
    ticker: tokio::time::Interval,
    seq: u64,
    limit: Option<u64>,
    endpoint: Option<String>,
    shutdown: CancellationToken,
    _guard: SessionGuard,
}

/// `GET /sse[?interval_ms=N][&events=N][&silent=true]`: `endpoint`, then a `message`
/// `{"seq":N}` every interval; with `events`, the stream ends after that many numbered events
/// (replies to `/message` are delivered in between and do not count). `silent` sends nothing.
pub(crate) async fn sse(
    State(state): State<TargetState>,
    query: Result<Query<SseQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "interval_ms and events must be whole numbers",
        );
    };
    if query.silent == Some(true) {
        let shutdown = state.shutdown.clone();
        let quiet = stream::once(async move {
            shutdown.cancelled().await;
            None::<Result<Event, Infallible>>
        })
        .filter_map(std::future::ready);
        return Sse::new(quiet).into_response();
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (tx, replies) = mpsc::channel(SESSION_BUFFER);
    let ticker = event_ticker(query.interval_ms, state.cfg.sse_interval);
    let initial = SseState {
        replies,
        ticker,
        seq: 0,
        limit: query.events,
        endpoint: Some(format!("/message?session_id={id}")),
        shutdown: state.shutdown.clone(),
        _guard: state.sessions.open(id, tx),
    };
    let keep_alive = KeepAlive::new()
        .interval(Duration::from_secs(30))
        .event(Event::default().event("keepalive").data("{}"));
    let mut response = Sse::new(events(initial))
        .keep_alive(keep_alive)
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert("x-mcp-sse", HeaderValue::from_static("true"));
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
        let event = tokio::select! {
            biased;
            _ = st.shutdown.cancelled() => return None,
            Some(reply) = st.replies.recv() => Event::default().event("message").data(reply),
            _ = st.ticker.tick() => {
                st.seq += 1;
                let seq = st.seq;
                Event::default().event("message").data(format!("{{\"seq\":{seq}}}"))
            }
        };
        Some((Ok(event), st))
    })
}

/// What `/events` served since the start (or the last `/__stats/reset`), for `/__stats`.
#[derive(Default)]
pub(crate) struct EventStreamCounts {
    connections: AtomicU64,
    /// Connections that came with a numeric `Last-Event-ID`.
    resumed: AtomicU64,
    /// Events sent, on every connection.
    sent: AtomicU64,
    /// The highest id sent.
    last_id: AtomicU64,
}

impl EventStreamCounts {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "connections": n(&self.connections),
            "resumed": n(&self.resumed),
            "sent": n(&self.sent),
            "last_id": n(&self.last_id),
        })
    }

    pub(crate) fn reset(&self) {
        for a in [&self.connections, &self.resumed, &self.sent, &self.last_id] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    interval_ms: Option<u64>,
    events: Option<u64>,
    drop_every: Option<u64>,
    retry_ms: Option<u64>,
}

/// `GET /events[?interval_ms=N][&events=N][&drop_every=N][&retry_ms=N]`: `id: N` and
/// `data: {"seq":N}` every interval (ids 1, 2, 3...), starting after a numeric `Last-Event-ID`;
/// it ends after id `events` and, with `drop_every`, after that many events on one connection
/// (a drop the client may resume from). `retry_ms` is sent first as `retry:`.
pub(crate) async fn events_stream(
    State(state): State<TargetState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "interval_ms, events, drop_every and retry_ms must be whole numbers",
        );
    };
    let resumed_after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let counts = &state.event_stream;
    counts.connections.fetch_add(1, Ordering::Relaxed);
    if resumed_after.is_some() {
        counts.resumed.fetch_add(1, Ordering::Relaxed);
    }
    let ticker = event_ticker(query.interval_ms, state.cfg.sse_interval);
    let first = query
        .retry_ms
        .map(|ms| Event::default().retry(Duration::from_millis(ms)));
    let initial = (state, ticker, resumed_after.unwrap_or(0), 0u64, first);
    let (limit, drop_every) = (query.events, query.drop_every);
    let stream = stream::unfold(
        initial,
        move |(state, mut ticker, seq, on_this, first)| async move {
            if let Some(retry) = first {
                return Some((Ok(retry), (state, ticker, seq, on_this, None)));
            }
            let ended = limit.is_some_and(|l| seq >= l) || drop_every.is_some_and(|d| on_this >= d);
            if ended {
                return None;
            }
            tokio::select! {
                biased;
                _ = state.shutdown.cancelled() => return None,
                _ = ticker.tick() => {}
            }
            let seq = seq + 1;
            let counts = &state.event_stream;
            counts.sent.fetch_add(1, Ordering::Relaxed);
            counts.last_id.fetch_max(seq, Ordering::Relaxed);
            let event = Event::default()
                .id(seq.to_string())
                .data(format!("{{\"seq\":{seq}}}"));
            Some((
                Ok::<_, Infallible>(event),
                (state, ticker, seq, on_this + 1, None),
            ))
        },
    );
    Sse::new(stream).into_response()
}

#[derive(Deserialize)]
pub(crate) struct MessageQuery {
    session_id: Option<String>,
}

/// `POST /message?session_id=..`: 202 at once; the JSON-RPC reply goes out on that session's
/// stream as a `message` event.
pub(crate) async fn message(
    State(state): State<TargetState>,
    query: Result<Query<MessageQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    let Some(session) = query.ok().and_then(|Query(q)| q.session_id) else {
        return json_error(StatusCode::BAD_REQUEST, "session_id is required");
    };
    let Some(replies) = state.sessions.find(&session) else {
        return json_error(StatusCode::NOT_FOUND, "Session not found");
    };
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    if let Outcome::Reply { json, .. } = rpc::handle(&state, &message) {
        // A stream whose client stopped reading loses the reply, as a real server's would.
        let _ = replies.try_send(json);
    }
    (StatusCode::ACCEPTED, Json(json!({"status": "success"}))).into_response()
}

/// `GET /ws`: the bearer token was checked on the upgrade request (see `require_token`).
pub(crate) async fn ws(State(state): State<TargetState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| relay(state, socket))
}

async fn relay(state: TargetState, mut socket: WebSocket) {
    loop {
        let incoming = tokio::select! {
            _ = state.shutdown.cancelled() => {
                let close = CloseFrame { code: 1001, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            incoming = socket.recv() => incoming,
        };
        let reply = match incoming {
            Some(Ok(Message::Text(text))) => {
                match serde_json::from_str::<serde_json::Value>(text.as_str()) {
                    Ok(message) if message.get("method").is_some() => {
                        match rpc::handle(&state, &message) {
                            Outcome::Reply { json, .. } => Message::Text(json.into()),
                            Outcome::Notification => continue,
                        }
                    }
                    _ => Message::Text(text),
                }
            }
            Some(Ok(Message::Binary(data))) => Message::Binary(data),
            // tungstenite answers pings itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

/// The tick of an event stream: every `interval_ms` (the query's) or `default`, at least 1 ms.
/// Absolute ticks: a slow reader delays events, it does not speed up the next ones.
fn event_ticker(interval_ms: Option<u64>, default: Duration) -> tokio::time::Interval {
    let interval = interval_ms
        .map(Duration::from_millis)
        .unwrap_or(default)
        .max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

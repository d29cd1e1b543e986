//! Notification fan-out: `POST /broadcast` (or the JSON-RPC method `broadcast`, its params as
//! the body) pushes `{"id": N, ...body}` to every current
//! subscriber of `GET /broadcast/events` (SSE, `event: broadcast`) and `GET /broadcast/ws`
//! (one WebSocket text message per broadcast), and answers `{"id": N, "subscribers": S}`. A
//! subscriber with `?drop_one_in=K` misses every K-th broadcast on purpose (so a test sees
//! delivery below 100 %). `/__stats` has `broadcast`: subscribers now and ever, broadcasts,
//! deliveries (messages handed to a subscriber's stream) and skipped ones. The subscriber map
//! is locked to join, leave and broadcast only; a subscriber is registered before its response
//! head (or WebSocket upgrade) goes out, so a client that sees it connected gets every later
//! broadcast.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::stream;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::{json_error, TargetState};

/// Broadcasts a subscriber can hold before further ones are skipped (a client not reading).
const SUBSCRIBER_BUFFER: usize = 1024;

struct Subscriber {
    tx: mpsc::Sender<Arc<str>>,
    /// Skip every K-th broadcast (`?drop_one_in=K`).
    drop_one_in: Option<u64>,
    /// Broadcasts this subscriber was offered.
    offered: u64,
}

/// The subscribers and the counts `/__stats` shows.
#[derive(Default)]
pub(crate) struct Broadcasts {
    subscribers: Mutex<HashMap<u64, Subscriber>>,
    next_subscriber: AtomicU64,
    /// The last broadcast id given (never reset: ids stay unique for the target's life).
    last_id: AtomicU64,
    /// Subscribers ever registered.
    joined: AtomicU64,
    broadcasts: AtomicU64,
    deliveries: AtomicU64,
    skipped: AtomicU64,
}

impl Broadcasts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Subscriber>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn to_json(&self) -> Value {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "subscribers": self.lock().len(),
            "joined": n(&self.joined),
            "broadcasts": n(&self.broadcasts),
            "deliveries": n(&self.deliveries),
            "skipped": n(&self.skipped),
        })
    }

    pub(crate) fn reset(&self) {
        for a in [
            &self.joined,
            &self.broadcasts,
            &self.deliveries,
            &self.skipped,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// Registers a subscriber; it leaves when the returned guard drops.
    fn join(
        state: &TargetState,
        drop_one_in: Option<u64>,
    ) -> (Membership, mpsc::Receiver<Arc<str>>) {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let b = &state.broadcasts;
        let id = b.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let subscriber = Subscriber {
            tx,
            drop_one_in: drop_one_in.filter(|&k| k > 0),
            offered: 0,
        };
        b.lock().insert(id, subscriber);
        b.joined.fetch_add(1, Ordering::Relaxed);
        let membership = Membership {
            state: state.clone(),
            id,
        };
        (membership, rx)
    }

    /// Hands `message` to every subscriber; returns how many there were.
    fn send(&self, message: &Arc<str>) -> usize {
        let mut subscribers = self.lock();
        self.broadcasts.fetch_add(1, Ordering::Relaxed);
        for s in subscribers.values_mut() {
            s.offered += 1;
            let skip = s.drop_one_in.is_some_and(|k| s.offered % k == 0);
            if !skip && s.tx.try_send(message.clone()).is_ok() {
                self.deliveries.fetch_add(1, Ordering::Relaxed);
            } else {
                self.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        subscribers.len()
    }
}

/// A subscriber's registration: removed from the map when its stream ends.
struct Membership {
    state: TargetState,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.state.broadcasts.lock().remove(&self.id);
    }
}

/// `POST /broadcast`: any JSON body (see [`broadcast_value`]).
pub(crate) async fn broadcast(State(state): State<TargetState>, body: Bytes) -> Response {
    let value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v,
            Err(_) => return json_error(StatusCode::BAD_REQUEST, "Invalid JSON"),
        }
    };
    Json(broadcast_value(&state, value)).into_response()
}

/// Broadcasts `value` (an object's fields beside the new `id`, any other value under `data`);
/// returns `{"id": N, "subscribers": S}` (also the JSON-RPC method `broadcast`'s result).
pub(crate) fn broadcast_value(state: &TargetState, value: Value) -> Value {
    let id = state.broadcasts.last_id.fetch_add(1, Ordering::Relaxed) + 1;
    let mut message = Map::new();
    message.insert("id".into(), json!(id));
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                if k != "id" {
                    message.insert(k, v);
                }
            }
        }
        Value::Null => {}
        other => {
            message.insert("data".into(), other);
        }
    }
    let text: Arc<str> = Value::Object(message).to_string().into();
    let subscribers = state.broadcasts.send(&text);
    json!({ "id": id, "subscribers": subscribers })
}

#[derive(Deserialize)]
pub(crate) struct SubscriberQuery {
    drop_one_in: Option<u64>,
}

/// The subscriber's `drop_one_in`; None when the query is not valid.
fn drop_one_in(query: Result<Query<SubscriberQuery>, QueryRejection>) -> Option<Option<u64>> {
    query.ok().map(|Query(q)| q.drop_one_in)
}

fn bad_query() -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        "drop_one_in must be a whole number",
    )
}

/// `GET /broadcast/events[?drop_one_in=K]`: one `event: broadcast` per broadcast.
pub(crate) async fn events(
    State(state): State<TargetState>,
    query: Result<Query<SubscriberQuery>, QueryRejection>,
) -> Response {
    let Some(drop_one_in) = drop_one_in(query) else {
        return bad_query();
    };
    let (membership, rx) = Broadcasts::join(&state, drop_one_in);
    let stream = stream::unfold((membership, rx), |(membership, mut rx)| async move {
        let message = tokio::select! {
            biased;
            _ = membership.state.shutdown.cancelled() => return None,
            m = rx.recv() => m?,
        };
        let event = Event::default().event("broadcast").data(&*message);
        Some((Ok::<_, Infallible>(event), (membership, rx)))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `GET /broadcast/ws[?drop_one_in=K]`: one text message per broadcast; what the client sends
/// is ignored.
pub(crate) async fn ws(
    State(state): State<TargetState>,
    query: Result<Query<SubscriberQuery>, QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(drop_one_in) = drop_one_in(query) else {
        return bad_query();
    };
    // Registered now, before the 101 goes out.
    let (membership, rx) = Broadcasts::join(&state, drop_one_in);
    upgrade.on_upgrade(move |socket| push(membership, rx, socket))
}

async fn push(membership: Membership, mut rx: mpsc::Receiver<Arc<str>>, mut socket: WebSocket) {
    let shutdown = membership.state.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let close = CloseFrame { code: 1001, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            message = rx.recv() => {
                let Some(message) = message else { break };
                if socket.send(Message::Text((&*message).into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    drop(membership);
}

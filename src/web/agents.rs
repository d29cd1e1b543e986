//! `GET /api/agents`: the WebSocket agents dial (`hornet agent --coordinator URL --token T`).
//! The agents' token is its own (not the UI's), sent as `Authorization: Bearer`, and compared in
//! constant time; a wrong or missing one is 401 before any upgrade. After the upgrade the first
//! message must be the agent's hello: refused (with the reason, then closed) or welcomed, the
//! socket becomes the agent's two channels in the hub (`crate::agent::hub`). The coordinator
//! pings every second, so an agent hears it is alive and notices when it is not.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::agent::hub::AgentHub;
use crate::agent::protocol::{AgentMessage, CoordinatorMessage};
use crate::engine::clock::now_ms;

/// The hello must arrive this soon after the upgrade.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How often the coordinator pings each agent.
const PING_EVERY: Duration = Duration::from_secs(1);
/// An agent's messages (a second of up to 1 000 names' histograms) stay below this.
const MAX_MESSAGE: usize = 64 << 20;

pub async fn agents_socket(
    State(hub): State<Arc<AgentHub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !hub.accepts_agents() {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            code: "no_agents",
            message: "this Hornet takes no agents: start it with --agent-token (or \
                      HORNET_AGENT_TOKEN)"
                .into(),
            field: None,
        }
        .into_response();
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !hub.token_matches(given.trim()) {
        tracing::warn!(%peer, "agent refused: wrong or missing agent token");
        return ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "wrong or missing agent token (Authorization: Bearer, the coordinator's \
                      --agent-token)"
                .into(),
            field: None,
        }
        .into_response();
    }
    upgrade
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| agent_connection(hub, socket, peer))
}

/// The socket alone, for a coordinator without the UI (`hornet run --agents`).
pub fn agents_router(hub: Arc<AgentHub>) -> axum::Router {
    axum::Router::new()
        .route("/api/agents", axum::routing::get(agents_socket))
        .with_state(hub)
}

async fn agent_connection(hub: Arc<AgentHub>, mut socket: WebSocket, peer: SocketAddr) {
    let hello = match tokio::time::timeout(HELLO_WITHIN, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<AgentMessage>(&text),
        _ => return,
    };
    let hello = match hello {
        Ok(AgentMessage::Hello(hello)) => hello,
        Ok(_) | Err(_) => {
            refuse(
                &mut socket,
                "the first message must be the agent's hello".into(),
            )
            .await;
            return;
        }
    };
    let host = peer.ip().to_string();
    let joined = match hub.join(hello, host) {
        Ok(joined) => joined,
        Err(reason) => {
            tracing::warn!(%peer, reason, "agent refused");
            refuse(&mut socket, reason).await;
            return;
        }
    };
    let welcome = CoordinatorMessage::Welcome {
        received_unix_ms: now_ms(),
    };
    if send(&mut socket, &welcome).await.is_err() {
        hub.leave(joined.id);
        return;
    }
    let mut to_agent = joined.to_agent;
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<AgentMessage>(&text) {
                    Ok(m) => {
                        if joined.from_agent.send(m).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "agent sent an unreadable message");
                        break;
                    }
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            order = to_agent.recv() => match order {
                Some(order) => {
                    if send(&mut socket, &order).await.is_err() {
                        break;
                    }
                }
                // The hub let go of the agent (a run gave up on it): close.
                None => break,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    hub.leave(joined.id);
    let _ = socket.send(Message::Close(None)).await;
}

async fn send(socket: &mut WebSocket, message: &CoordinatorMessage) -> Result<(), ()> {
    let text = serde_json::to_string(message).map_err(|_| ())?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| ())
}

async fn refuse(socket: &mut WebSocket, reason: String) {
    let _ = send(socket, &CoordinatorMessage::Refused { reason }).await;
    let _ = socket.send(Message::Close(None)).await;
}

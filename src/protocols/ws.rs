//! WebSocket steps (`ws = "/path"`) over tokio-tungstenite: the handshake (with the plan's
//! headers, Bearer included, and the user's MCP session and cookies) is `<name> [connect]`;
//! then each `send` message goes out and its reply's round trip is recorded under `<name>`,
//! matched by JSON-RPC `id` when the message has one, else in order. The step ends when
//! `expect` replies arrived (default: one per message) or `for` elapsed, whichever first.
//!
//! The step timeout bounds the handshake and each wait for the next reply; a server that
//! closes, breaks or sends garbage before the step is done fails every message still waiting
//! for its reply. Status and header checks apply to the handshake; body checks and captures
//! to each reply matched to a message. The socket opens through `UserHttp::connect_raw` and
//! lives for the step only; nothing here outlasts the step.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::check::{verify, ResponseView};
use super::common::{ids_equal, PreparedHeaders, PreparedPath, SplitChecks};
use super::http_client::{timeout_message, RawStream, Target, UserHttp};
use super::step::{sample, PrepareCtx, PrepareError, StepCtx};
use crate::engine::vars::Vars;
use crate::plan::model::{NameId, Step, WsMessage, WsStep};
use crate::plan::template::{JsonTemplate, Template};
use crate::stats::recorder::Recorder;

/// Per connection: small buffers (many users may hold a socket each), 8 MiB messages at most.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(8 << 20))
        .max_frame_size(Some(8 << 20))
}

#[derive(Debug)]
enum PreparedMessage {
    /// Rendered once: the text and its JSON-RPC id, if any.
    Fixed(String, Option<serde_json::Value>),
    Text(Template),
    Json(JsonTemplate),
}

impl PreparedMessage {
    fn render(&self, vars: &Vars) -> Result<(String, Option<serde_json::Value>), String> {
        match self {
            PreparedMessage::Fixed(text, id) => Ok((text.clone(), id.clone())),
            PreparedMessage::Text(t) => {
                let text = t.render(vars).map_err(|e| e.to_string())?.into_owned();
                let id = json_id(&text);
                Ok((text, id))
            }
            PreparedMessage::Json(j) => {
                let value = j.render_value(vars).map_err(|e| e.to_string())?;
                let id = value.get("id").cloned();
                Ok((value.to_string(), id))
            }
        }
    }
}

/// The `id` of a text that is a JSON object with one.
fn json_id(text: &str) -> Option<serde_json::Value> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .get("id")
        .cloned()
}

/// A `ws` step with what does not change between connections built at run start.
#[derive(Debug)]
pub struct PreparedWs {
    path: PreparedPath,
    headers: PreparedHeaders,
    timeout: Duration,
    messages: Vec<PreparedMessage>,
    expect: Option<u32>,
    duration: Option<Duration>,
    /// The row of the handshake (`<name> [connect]`).
    connect_name: NameId,
    /// The row of each message's round trip.
    name: NameId,
    checks: SplitChecks,
}

impl PreparedWs {
    pub fn new(step: &Step, ws: &WsStep, cx: &PrepareCtx<'_>) -> Result<PreparedWs, PrepareError> {
        let err = |m: String| PrepareError::at(step, m);
        let mut messages = Vec::with_capacity(ws.send.len());
        for m in &ws.send {
            let prepared = match m {
                WsMessage::Text(t) if t.is_static() => {
                    let text = t.source().to_string();
                    let id = json_id(&text);
                    PreparedMessage::Fixed(text, id)
                }
                WsMessage::Json(j) if j.is_static() => {
                    let value = j.render_value(cx.vars).map_err(|e| err(e.to_string()))?;
                    let id = value.get("id").cloned();
                    PreparedMessage::Fixed(value.to_string(), id)
                }
                WsMessage::Text(t) => PreparedMessage::Text(t.clone()),
                WsMessage::Json(j) => PreparedMessage::Json(j.clone()),
            };
            messages.push(prepared);
        }
        Ok(PreparedWs {
            path: PreparedPath::new(&ws.path, cx.base).map_err(err)?,
            headers: PreparedHeaders::new(&cx.defaults.headers, &ws.headers, cx.vars)
                .map_err(err)?,
            timeout: cx.timeout(step),
            messages,
            expect: ws.expect,
            duration: ws.duration,
            connect_name: ws.connect_name,
            name: PrepareError::row(step)?,
            checks: SplitChecks::new(step),
        })
    }

    /// Replies to wait for: `expect`, else one per message unless only `for` was given.
    fn replies_wanted(&self) -> Option<u32> {
        match (self.expect, self.duration) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(u32::try_from(self.messages.len()).unwrap_or(u32::MAX)),
        }
    }
}

/// A message waiting for its reply.
struct Pending {
    id: Option<serde_json::Value>,
    sent: Instant,
}

type Socket = tokio_tungstenite::WebSocketStream<RawStream>;

/// The replies of an open socket, matched to the messages waiting for them.
struct Exchange {
    pending: Vec<Pending>,
    replies: u32,
    last_activity: Instant,
    /// False once a matched reply failed its checks.
    all_ok: bool,
}

impl PreparedWs {
    /// Runs one `ws` step for the user, recording the handshake under `connect_name` and each
    /// round trip under the step's row. Returns whether it succeeded.
    pub async fn execute(&self, cx: &mut StepCtx<'_>) -> bool {
        let start = Instant::now();
        let mut socket = match self.connect(cx.http, cx.vars, start).await {
            Ok((socket, connected)) => {
                let connect_time = connected.duration_since(start);
                let s = sample(self.connect_name, connect_time, cx.lag, 0, true);
                cx.rec.record(s, connected);
                socket
            }
            Err((elapsed, message)) => {
                let s = sample(self.connect_name, elapsed, cx.lag, 0, false);
                cx.rec.record_failure(s, message, Instant::now());
                return false;
            }
        };
        let mut exchange = Exchange {
            pending: Vec::with_capacity(self.messages.len()),
            replies: 0,
            last_activity: Instant::now(),
            all_ok: true,
        };
        let mut failure = self.send_all(&mut socket, cx.vars, &mut exchange).await;
        exchange.last_activity = Instant::now();
        if failure.is_none() {
            failure = self
                .receive(&mut socket, cx.vars, cx.rec, &mut exchange)
                .await;
        }
        // Closing politely is best effort: the step's outcome is already known.
        let close_within = self.timeout.min(Duration::from_secs(1));
        let _ = tokio::time::timeout(close_within, socket.close(None)).await;
        let Some(message) = failure else {
            return exchange.all_ok;
        };
        let now = Instant::now();
        if exchange.pending.is_empty() {
            let waited = now.duration_since(exchange.last_activity);
            let s = sample(self.name, waited, None, 0, false);
            cx.rec.record_failure(s, message.clone(), now);
        }
        for m in exchange.pending {
            let s = sample(self.name, now.duration_since(m.sent), None, 0, false);
            cx.rec.record_failure(s, message.clone(), now);
        }
        false
    }

    /// Opens the socket and checks the handshake's response head. Ok has when it connected;
    /// Err how long the connect took and the failure message, for the `[connect]` row.
    async fn connect(
        &self,
        http: &mut UserHttp,
        vars: &mut Vars,
        start: Instant,
    ) -> Result<(Socket, Instant), (Duration, String)> {
        let (request, target) = self
            .upgrade_request(http, vars)
            .map_err(|m| (Duration::ZERO, m))?;
        let origin = target.origin.origin.clone();
        let handshake = async {
            let raw = http.connect_raw(&origin).await.map_err(|e| e.to_string())?;
            tokio_tungstenite::client_async_with_config(request, raw, Some(ws_config()))
                .await
                .map_err(|e| match e {
                    WsError::Http(resp) => format!("HTTP {}", resp.status().as_u16()),
                    other => format!("WebSocket handshake: {other}"),
                })
        };
        let opened = tokio::time::timeout(self.timeout, handshake).await;
        let connected = Instant::now();
        let connect_time = connected.duration_since(start);
        let (socket, response) = match opened {
            Ok(Ok(x)) => x,
            Ok(Err(message)) => return Err((connect_time, message)),
            Err(_) => return Err((connect_time, timeout_message(self.timeout))),
        };
        http.remember_cookies(response.headers(), &target);
        let head = ResponseView {
            status: response.status().as_u16(),
            headers: response.headers(),
            body: &[],
            elapsed: connect_time,
        };
        verify(&self.checks.head, &self.checks.head_captures, &head, vars)
            .map_err(|m| (connect_time, m))?;
        Ok((socket, connected))
    }

    /// The upgrade request (headers, session, cookies) and the origin to connect to.
    fn upgrade_request(
        &self,
        http: &UserHttp,
        vars: &Vars,
    ) -> Result<(http::Request<()>, Target), String> {
        let target = self.path.target(vars)?;
        let url = format!(
            "{}{}",
            target.origin.origin.ws_base_url(),
            target.path_and_query
        );
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("WebSocket URL {url:?}: {e}"))?;
        let mut headers = self.headers.render(vars)?;
        http.session_headers(&target, &mut headers);
        for (name, value) in headers.iter() {
            request.headers_mut().insert(name, value.clone());
        }
        Ok((request, target))
    }

    /// Sends the step's messages in order, each then waiting for its reply. Some(message) when
    /// one could not be rendered or sent.
    async fn send_all(
        &self,
        socket: &mut Socket,
        vars: &Vars,
        exchange: &mut Exchange,
    ) -> Option<String> {
        for m in &self.messages {
            let (text, id) = match m.render(vars) {
                Ok(x) => x,
                Err(message) => return Some(message),
            };
            exchange.pending.push(Pending {
                id,
                sent: Instant::now(),
            });
            let sent =
                tokio::time::timeout(self.timeout, socket.send(Message::Text(text.into()))).await;
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Some(format!("send: {e}")),
                Err(_) => return Some(timeout_message(self.timeout)),
            }
        }
        None
    }

    /// Reads replies until enough arrived or `for` ended, recording each matched one. Some
    /// (message) when the socket failed first (timeout, close, error).
    async fn receive(
        &self,
        socket: &mut Socket,
        vars: &mut Vars,
        rec: &mut Recorder,
        exchange: &mut Exchange,
    ) -> Option<String> {
        let wanted = self.replies_wanted();
        let end_at = self.duration.map(|d| Instant::now() + d);
        while wanted.is_none_or(|n| exchange.replies < n) {
            let now = Instant::now();
            let deadline = exchange.last_activity + self.timeout;
            let next = tokio::select! {
                biased;
                _ = tokio::time::sleep_until(end_at.unwrap_or(now).into()), if end_at.is_some() => {
                    if !exchange.pending.is_empty() {
                        return Some("no reply before `for` ended".into());
                    }
                    return None;
                }
                next = tokio::time::timeout_at(deadline.into(), socket.next()) => next,
            };
            let replies = exchange.replies;
            let message = match next {
                Err(_) => return Some(timeout_message(self.timeout)),
                Ok(None) => return Some(format!("connection closed after {replies} replies")),
                Ok(Some(Err(e))) => return Some(format!("WebSocket: {e}")),
                Ok(Some(Ok(message))) => message,
            };
            let now = Instant::now();
            let (text, id) = match &message {
                Message::Text(t) => (t.as_bytes(), json_id(t.as_str())),
                Message::Binary(b) => (&b[..], None),
                Message::Close(frame) => {
                    let why = frame.as_ref().map_or_else(String::new, |f| {
                        format!(" ({} {})", u16::from(f.code), f.reason.as_str())
                    });
                    return Some(format!("closed by the server after {replies} replies{why}"));
                }
                // tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            exchange.replies += 1;
            exchange.last_activity = now;
            self.match_reply(exchange, text, id, now, vars, rec);
        }
        None
    }

    /// Matches a reply to its message (by JSON-RPC id, else the oldest without one) and records
    /// the round trip; a reply matching nothing is a message the server pushed on its own.
    fn match_reply(
        &self,
        exchange: &mut Exchange,
        text: &[u8],
        id: Option<serde_json::Value>,
        now: Instant,
        vars: &mut Vars,
        rec: &mut Recorder,
    ) {
        let pending = &mut exchange.pending;
        let matched = match &id {
            Some(id) => pending
                .iter()
                .position(|m| m.id.as_ref().is_some_and(|mid| ids_equal(mid, id))),
            None => None,
        }
        .or_else(|| pending.iter().position(|m| m.id.is_none()));
        let Some(index) = matched else {
            return;
        };
        let m = pending.remove(index);
        let rtt = now.duration_since(m.sent);
        let bytes = text.len() as u64;
        match self.checks.check_message(text, rtt, vars) {
            Ok(()) => rec.record(sample(self.name, rtt, None, bytes, true), now),
            Err(message) => {
                exchange.all_ok = false;
                rec.record_failure(sample(self.name, rtt, None, bytes, false), message, now);
            }
        }
    }
}

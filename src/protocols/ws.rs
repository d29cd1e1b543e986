//! WebSocket steps (`ws = "/path"`) over tokio-tungstenite: the handshake (with the plan's
//! headers, Bearer included, and the user's MCP session and cookies) is `<name> [connect]`;
//! then each `send` message goes out and its reply's round trip is recorded under `<name>`,
//! matched by JSON-RPC `id` when the message has one, else in order. The step ends when
//! `expect` replies arrived (default: one per message) or `for` elapsed, whichever first.
//!
//! The step timeout bounds the handshake and each wait for the next reply; a server that
//! closes, breaks or sends garbage before the step is done fails every message still waiting
//! for its reply. Status and header checks apply to the handshake; body checks and captures
//! to each reply matched to a message.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::check::{verify, ResponseView};
use super::common::{ids_equal, prepare_error, PreparedHeaders, PreparedPath, SplitChecks};
use super::http::{sample, PrepareError};
use super::http_client::{timeout_message, OriginInfo, Target, UserHttp};
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
    connect_name: NameId,
    checks: SplitChecks,
}

impl PreparedWs {
    pub fn new(
        step: &Step,
        ws: &WsStep,
        default_headers: &[(String, Template)],
        default_timeout: Duration,
        base: &std::sync::Arc<OriginInfo>,
        vars: &Vars,
    ) -> Result<PreparedWs, PrepareError> {
        let err = |m: String| prepare_error(step, m);
        let mut messages = Vec::with_capacity(ws.send.len());
        for m in &ws.send {
            let prepared = match m {
                WsMessage::Text(t) if t.is_static() => {
                    let text = t.source().to_string();
                    let id = json_id(&text);
                    PreparedMessage::Fixed(text, id)
                }
                WsMessage::Json(j) if j.is_static() => {
                    let value = j.render_value(vars).map_err(|e| err(e.to_string()))?;
                    let id = value.get("id").cloned();
                    PreparedMessage::Fixed(value.to_string(), id)
                }
                WsMessage::Text(t) => PreparedMessage::Text(t.clone()),
                WsMessage::Json(j) => PreparedMessage::Json(j.clone()),
            };
            messages.push(prepared);
        }
        Ok(PreparedWs {
            path: PreparedPath::new(&ws.path, base).map_err(err)?,
            headers: PreparedHeaders::new(default_headers, &ws.headers, vars).map_err(err)?,
            timeout: step.timeout.unwrap_or(default_timeout),
            messages,
            expect: ws.expect,
            duration: ws.duration,
            connect_name: ws.connect_name,
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

/// Runs one `ws` step for a user, recording the handshake under `connect_name` and each
/// round trip under `name`. Returns whether it succeeded.
pub async fn execute(
    p: &PreparedWs,
    name: NameId,
    http: &mut UserHttp,
    vars: &mut Vars,
    rec: &mut Recorder,
    lag: Option<Duration>,
) -> bool {
    let start = Instant::now();
    let connect_fail = |rec: &mut Recorder, elapsed: Duration, message: String| {
        let s = sample(p.connect_name, elapsed, lag, 0, false);
        rec.record_failure(s, message, Instant::now());
        false
    };
    let request = match build_request(p, http, vars) {
        Ok(r) => r,
        Err(message) => return connect_fail(rec, Duration::ZERO, message),
    };
    let (request, target) = request;
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
    let opened = tokio::time::timeout(p.timeout, handshake).await;
    let connected = Instant::now();
    let connect_time = connected.duration_since(start);
    let (mut socket, response) = match opened {
        Ok(Ok(x)) => x,
        Ok(Err(message)) => return connect_fail(rec, connect_time, message),
        Err(_) => return connect_fail(rec, connect_time, timeout_message(p.timeout)),
    };
    http.remember_cookies(response.headers(), &target);
    let head = ResponseView {
        status: response.status().as_u16(),
        headers: response.headers(),
        body: &[],
        elapsed: connect_time,
    };
    if let Err(message) = verify(&p.checks.head, &p.checks.head_captures, &head, vars) {
        return connect_fail(rec, connect_time, message);
    }
    rec.record(
        sample(p.connect_name, connect_time, lag, 0, true),
        connected,
    );

    let mut pending: Vec<Pending> = Vec::with_capacity(p.messages.len());
    let mut failure: Option<String> = None;
    for m in &p.messages {
        let (text, id) = match m.render(vars) {
            Ok(x) => x,
            Err(message) => {
                failure = Some(message);
                break;
            }
        };
        pending.push(Pending {
            id,
            sent: Instant::now(),
        });
        let sent = tokio::time::timeout(p.timeout, socket.send(Message::Text(text.into()))).await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failure = Some(format!("send: {e}"));
                break;
            }
            Err(_) => {
                failure = Some(timeout_message(p.timeout));
                break;
            }
        }
    }

    let wanted = p.replies_wanted();
    let end_at = p.duration.map(|d| Instant::now() + d);
    let mut replies = 0u32;
    let mut last_activity = Instant::now();
    let mut all_ok = true;
    while failure.is_none() && wanted.is_none_or(|n| replies < n) {
        let now = Instant::now();
        let next = tokio::select! {
            biased;
            _ = tokio::time::sleep_until(end_at.unwrap_or(now).into()), if end_at.is_some() => {
                if !pending.is_empty() {
                    failure = Some("no reply before `for` ended".into());
                }
                break;
            }
            next = tokio::time::timeout_at((last_activity + p.timeout).into(), socket.next()) => next,
        };
        let message = match next {
            Err(_) => {
                failure = Some(timeout_message(p.timeout));
                break;
            }
            Ok(None) => {
                failure = Some(format!("connection closed after {replies} replies"));
                break;
            }
            Ok(Some(Err(e))) => {
                failure = Some(format!("WebSocket: {e}"));
                break;
            }
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
                failure = Some(format!("closed by the server after {replies} replies{why}"));
                break;
            }
            // tungstenite answers pings itself.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        replies += 1;
        last_activity = now;
        let matched = match &id {
            Some(id) => pending
                .iter()
                .position(|m| m.id.as_ref().is_some_and(|mid| ids_equal(mid, id))),
            None => None,
        }
        .or_else(|| pending.iter().position(|m| m.id.is_none()));
        let Some(index) = matched else {
            continue; // a message the server pushed on its own
        };
        let m = pending.remove(index);
        let rtt = now.duration_since(m.sent);
        let bytes = text.len() as u64;
        match p.checks.check_message(text, rtt, vars) {
            Ok(()) => rec.record(sample(name, rtt, None, bytes, true), now),
            Err(message) => {
                all_ok = false;
                rec.record_failure(sample(name, rtt, None, bytes, false), message, now);
            }
        }
    }
    // Closing politely is best effort: the step's outcome is already known.
    let _ = tokio::time::timeout(p.timeout.min(Duration::from_secs(1)), socket.close(None)).await;
    let Some(message) = failure else {
        return all_ok;
    };
    let now = Instant::now();
    if pending.is_empty() {
        let s = sample(name, now.duration_since(last_activity), None, 0, false);
        rec.record_failure(s, message.clone(), now);
    }
    for m in pending {
        let s = sample(name, now.duration_since(m.sent), None, 0, false);
        rec.record_failure(s, message.clone(), now);
    }
    false
}

/// The upgrade request (headers, session, cookies) and the origin to connect to.
fn build_request(
    p: &PreparedWs,
    http: &UserHttp,
    vars: &Vars,
) -> Result<(http::Request<()>, Target), String> {
    let target = p.path.target(vars)?;
    let url = format!(
        "{}{}",
        target.origin.origin.ws_base_url(),
        target.path_and_query
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("WebSocket URL {url:?}: {e}"))?;
    let mut headers = p.headers.render(vars)?;
    http.session_headers(&target, &mut headers);
    for (name, value) in headers.iter() {
        request.headers_mut().insert(name, value.clone());
    }
    Ok((request, target))
}

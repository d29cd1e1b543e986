//! JSON-RPC 2.0 steps (`rpc = "method"`), MCP Streamable HTTP included: the envelope is built
//! around the step's params with a per-user increasing id and POSTed on the user's own HTTP
//! connection. A reply sent as `text/event-stream` is read until the event carrying the
//! response with that id. An `error` member is a failure ("JSON-RPC error CODE: message")
//! unless its code is in `allow_codes`; an HTTP error names the JSON-RPC error of its body. A
//! `notifications/...` method is sent without an id and any status < 400 (MCP's 202, no body)
//! is a success. The `Mcp-Session-Id` an `initialize` returns is kept on the user and sent on
//! its later requests to that origin, http steps included (see `UserHttp::set_mcp_session`).
//! The `result.protocolVersion` it negotiated goes with it, as `MCP-Protocol-Version`.
//! Checks and captures see the JSON-RPC response: the HTTP status and headers, and the response object as the body.
//! So does a `publish` key (the fan-out event the call emitted: see `fanout.rs`).
//! It sends through the user's `UserHttp` and never opens a connection of its own.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use super::check::{verify_checks, with_body, ResponseView};
use super::common::{
    default_header, is_response_to, rpc_error, short, PreparedHeaders, PreparedPath,
};
use super::event_stream::Parser;
use super::fanout::PreparedFanout;
use super::h1::ResponseHead;
use super::http_client::{timeout_message, Outgoing, UserHttp, MCP_SESSION_ID};
use super::step::{sample, PrepareCtx, PrepareError, StepCtx};
use crate::engine::vars::Vars;
use crate::plan::model::{BodyLimit, Capture, Checks, FanoutRole, NameId, RpcStep, Step};
use crate::plan::template::JsonTemplate;

/// How long an event-stream reply may take to end after its response event before the
/// connection is given up (it is kept when the stream ends in time).
const STREAM_END_WAIT: Duration = Duration::from_millis(25);

/// An `rpc` step with what does not change between requests built at run start.
#[derive(Debug)]
pub struct PreparedRpc {
    /// `,"method":"..","params":..}`: everything after the id, when the params are static.
    tail: Option<Bytes>,
    /// The method as a JSON string, for envelopes built per request.
    method_json: String,
    params: Option<JsonTemplate>,
    /// `notifications/...`: sent without an id; any 2xx is a success.
    notification: bool,
    /// `initialize`: its `Mcp-Session-Id` is kept for the user's later requests.
    initialize: bool,
    path: PreparedPath,
    headers: PreparedHeaders,
    allow_codes: Vec<i64>,
    timeout: Duration,
    /// The most of a plain JSON reply that is read into memory.
    max_body: BodyLimit,
    name: NameId,
    checks: Checks,
    captures: Vec<Capture>,
    /// `publish`: the JSON-RPC response names the event this request emitted.
    publish: Option<PreparedFanout>,
}

impl PreparedRpc {
    pub fn new(
        step: &Step,
        rpc: &RpcStep,
        cx: &PrepareCtx<'_>,
    ) -> Result<PreparedRpc, PrepareError> {
        let err = |m: String| PrepareError::at(step, m);
        let vars = cx.vars;
        let method_json = serde_json::Value::from(rpc.method.as_str()).to_string();
        let tail = match &rpc.params {
            None => Some(Bytes::from(format!(
                ",\"method\":{method_json},\"params\":{{}}}}"
            ))),
            Some(p) if p.is_static() => {
                let params = p.render_bytes(vars).map_err(|e| err(e.to_string()))?;
                let mut tail = BytesMut::with_capacity(params.len() + method_json.len() + 24);
                tail.extend_from_slice(b",\"method\":");
                tail.extend_from_slice(method_json.as_bytes());
                tail.extend_from_slice(b",\"params\":");
                tail.extend_from_slice(&params);
                tail.extend_from_slice(b"}");
                Some(tail.freeze())
            }
            Some(_) => None,
        };
        Ok(PreparedRpc {
            tail,
            method_json,
            params: rpc.params.clone(),
            notification: rpc.method.starts_with("notifications/"),
            initialize: rpc.method == "initialize",
            path: PreparedPath::new(&rpc.path, cx.base).map_err(err)?,
            headers: PreparedHeaders::new(&cx.defaults.headers, &rpc.headers, vars).map_err(err)?,
            allow_codes: rpc.allow_codes.clone(),
            timeout: cx.timeout(step),
            max_body: rpc.max_body,
            name: PrepareError::row(step)?,
            checks: step.checks.clone(),
            captures: step.captures.clone(),
            publish: PreparedFanout::new(step.fanout.as_ref(), FanoutRole::Publish, cx.topics),
        })
    }

    /// Sends one JSON-RPC request for the user, judges its reply (envelope, checks,
    /// captures), keeps an `initialize`'s MCP session and records the sample. Returns whether
    /// the step succeeded.
    pub async fn execute(&self, cx: &mut StepCtx<'_>) -> bool {
        let (name, lag) = (self.name, cx.lag);
        let start = Instant::now();
        let id = (!self.notification).then(|| cx.http.next_rpc_id());
        let outgoing = match self.outgoing(id, cx.vars) {
            Ok(o) => o,
            Err(message) => return cx.fail(name, Duration::ZERO, message, start),
        };
        // The session belongs to the server that answered (an Arc clone, `initialize` only).
        let origin = self.initialize.then(|| Arc::clone(&outgoing.target.origin));
        let listening = self.publish.as_ref().map(PreparedFanout::listening);
        let result =
            tokio::time::timeout(self.timeout, exchange(cx.http, outgoing, id, self.max_body))
                .await;
        let mut end = Instant::now();
        let mut elapsed = end.duration_since(start);
        let reply = match result {
            Ok(Ok(reply)) => {
                // Not the time spent waiting for an event stream's end after the response.
                end = reply.answered_at;
                elapsed = end.duration_since(start);
                reply
            }
            Ok(Err(message)) => return cx.fail(name, elapsed, message, end),
            Err(_) => {
                // The connection is mid-request: it cannot be reused.
                cx.http.reset_connection();
                return cx.fail(name, elapsed, timeout_message(self.timeout), end);
            }
        };
        let bytes = reply.received;
        let judged = self.judge(&reply, id, elapsed, cx.vars);
        let published = match (&self.publish, listening) {
            (Some(publish), Some(expected)) if judged.is_ok() => {
                publish.published(&reply.message, start, expected, cx.rec, end)
            }
            _ => Ok(()),
        };
        match judged.and(published) {
            Ok(()) => {
                if let Some(origin) = origin {
                    let session = reply.headers.get(MCP_SESSION_ID).cloned();
                    let version = negotiated_version(&reply.message);
                    if session.is_some() || version.is_some() {
                        cx.http.set_mcp_session(&origin.origin, session, version);
                    }
                }
                cx.rec.record(sample(name, elapsed, lag, bytes, true), end);
                true
            }
            Err(message) => {
                cx.rec
                    .record_failure(sample(name, elapsed, lag, bytes, false), message, end);
                false
            }
        }
    }

    /// `{"jsonrpc":"2.0","id":N,"method":..,"params":..}` (no id for a notification).
    fn body(&self, id: Option<u64>, vars: &Vars) -> Result<Bytes, String> {
        let mut out = BytesMut::with_capacity(64 + self.tail.as_ref().map_or(64, Bytes::len));
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\"");
        if let Some(id) = id {
            out.extend_from_slice(b",\"id\":");
            // fmt::Write on BytesMut cannot fail (it grows); no String per request.
            let _ = write!(out, "{id}");
        }
        match (&self.tail, &self.params) {
            (Some(tail), _) => out.extend_from_slice(tail),
            (None, Some(params)) => {
                let params = params.render_bytes(vars).map_err(|e| e.to_string())?;
                out.extend_from_slice(b",\"method\":");
                out.extend_from_slice(self.method_json.as_bytes());
                out.extend_from_slice(b",\"params\":");
                out.extend_from_slice(&params);
                out.extend_from_slice(b"}");
            }
            (None, None) => return Err("internal: rpc step without params or tail".into()),
        }
        Ok(out.freeze())
    }

    fn outgoing(&self, id: Option<u64>, vars: &Vars) -> Result<Outgoing, String> {
        let mut headers = self.headers.render(vars)?;
        default_header(&mut headers, CONTENT_TYPE, "application/json");
        // MCP Streamable HTTP: the client accepts both; the server picks.
        default_header(&mut headers, ACCEPT, "application/json, text/event-stream");
        Ok(Outgoing {
            method: http::Method::POST,
            target: self.path.target(vars)?,
            headers,
            body: self.body(id, vars)?,
        })
    }

    /// Applies the HTTP status, the JSON-RPC envelope rules and the step's checks and captures.
    fn judge(
        &self,
        reply: &Reply,
        id: Option<u64>,
        elapsed: Duration,
        vars: &mut Vars,
    ) -> Result<(), String> {
        let view = ResponseView {
            status: reply.status.as_u16(),
            headers: &reply.headers,
            body: &reply.message,
            elapsed,
        };
        let status_ok = match &self.checks.status {
            Some(allowed) => allowed.contains(&view.status),
            None => view.status < 400,
        };
        if status_ok && !self.notification {
            let msg = serde_json::from_slice::<serde_json::Value>(&reply.message).ok();
            let Some(msg) = msg.filter(serde_json::Value::is_object) else {
                let found = if reply.message.is_empty() {
                    "an empty body".to_string()
                } else {
                    format!(
                        "{:?}",
                        short(&String::from_utf8_lossy(
                            &reply.message[..reply.message.len().min(60)]
                        ))
                    )
                };
                return Err(format!(
                    "expected a JSON-RPC response object, found {found}"
                ));
            };
            if let Some(error) = rpc_error(&msg, &self.allow_codes) {
                return Err(error);
            }
            if let Some(id) = id {
                if !is_response_to(&msg, &serde_json::Value::from(id)) {
                    return Err(
                        "expected the JSON-RPC response to this request, found another id".into(),
                    );
                }
            }
            if msg.get("result").is_none() && msg.get("error").is_none() {
                return Err("expected a JSON-RPC response with `result` or `error`".into());
            }
        }
        verify_checks(&self.checks, &self.captures, &view, vars).map_err(|failed| {
            // An HTTP error with a JSON-RPC error body says why (an MCP server without the
            // session: "HTTP 400: JSON-RPC error -32600: Bad Request: Missing session ID");
            // otherwise the start of the body does.
            let error = (!status_ok)
                .then(|| serde_json::from_slice::<serde_json::Value>(&reply.message).ok())
                .flatten()
                .and_then(|msg| rpc_error(&msg, &[]));
            match error {
                Some(error) => format!("{failed}: {error}"),
                None => with_body(failed, &reply.message),
            }
        })
    }
}

/// The JSON-RPC response as received: HTTP head plus the response object's bytes.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    /// The JSON-RPC response (the body, or the matching event's data).
    message: Bytes,
    /// Body bytes received.
    received: u64,
    /// When the response was complete (an event stream's response event, not its end).
    answered_at: Instant,
}

/// Sends the request and reads the JSON-RPC response, from a JSON body or an event stream.
async fn exchange(
    http: &mut UserHttp,
    req: Outgoing,
    id: Option<u64>,
    limit: BodyLimit,
) -> Result<Reply, String> {
    let head = http.send_streaming(req).await.map_err(|e| e.to_string())?;
    let is_stream = head
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let Some(id) = id.filter(|_| is_stream) else {
        // A plain body (or a notification's): read it whole, keeping at most the limit; past
        // it the rest is drained (not kept) so the connection stays usable, then it fails.
        let read = http
            .read_body(Some(limit.bytes))
            .await
            .map_err(|e| e.to_string())?;
        if read.over_limit {
            return Err(limit.exceeded_message());
        }
        return Ok(Reply {
            status: head.status,
            headers: head.headers,
            message: read.kept,
            received: read.len,
            answered_at: Instant::now(),
        });
    };
    // Boxed: the event-stream reader is the rare path; inline it would make every user's
    // future larger for its whole life.
    Box::pin(read_event_reply(http, head, id)).await
}

/// Reads a `text/event-stream` reply until the event carrying the response with `id`.
async fn read_event_reply(
    http: &mut UserHttp,
    head: ResponseHead,
    id: u64,
) -> Result<Reply, String> {
    let mut received = 0u64;
    let want = serde_json::Value::from(id);
    let mut parser = Parser::new();
    let message = loop {
        let data = match http.next_body_chunk().await {
            Ok(Some(data)) => data,
            Ok(None) => {
                return Err(format!(
                    "event stream ended before the JSON-RPC response (HTTP {})",
                    head.status.as_u16()
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
        received += data.len() as u64;
        let mut found = None;
        let parsed = parser.push(&data).and_then(|()| {
            while let Some(event) = parser.next_event()? {
                let Ok(msg) = serde_json::from_str::<serde_json::Value>(&event.data) else {
                    continue; // not JSON: another kind of event
                };
                if is_response_to(&msg, &want) {
                    found = Some(Bytes::from(event.data));
                    break;
                }
            }
            Ok(())
        });
        if let Err(e) = parsed {
            http.reset_connection();
            return Err(e.to_string());
        }
        if let Some(message) = found {
            break message;
        }
    };
    let answered_at = Instant::now();
    // Servers end the stream right after the response (MCP says SHOULD), often in a write of
    // their own that arrives a little later: without waiting for it, the MCP Python SDK's
    // connection was dropped after every reply (a new TCP connection per request, measured:
    // 235 connections for 235 requests). A stream still open after the wait, or carrying more,
    // leaves the connection unusable for the next request.
    let ended = http.body_done()
        || matches!(
            tokio::time::timeout(STREAM_END_WAIT, http.next_body_chunk()).await,
            Ok(Ok(None))
        );
    if !ended {
        http.reset_connection();
    }
    Ok(Reply {
        status: head.status,
        headers: head.headers,
        message,
        received,
        answered_at,
    })
}

/// The protocol version an `initialize` reply negotiated (`result.protocolVersion`), as a
/// header value; None when the reply has none (or one no header can carry).
fn negotiated_version(reply: &[u8]) -> Option<http::HeaderValue> {
    let msg = serde_json::from_slice::<serde_json::Value>(reply).ok()?;
    let version = msg.pointer("/result/protocolVersion")?.as_str()?;
    http::HeaderValue::from_str(version).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_negotiated_version_comes_from_the_initialize_result() {
        let reply = br#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{}}}"#;
        assert_eq!(
            negotiated_version(reply),
            Some(http::HeaderValue::from_static("2025-06-18"))
        );
        assert_eq!(
            negotiated_version(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            None
        );
        assert_eq!(negotiated_version(b"not json"), None);
        let bad = br#"{"result":{"protocolVersion":"line
break"}}"#;
        assert_eq!(negotiated_version(bad), None);
    }
}

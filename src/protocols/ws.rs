//! WebSocket steps (`ws = "/path"` or an absolute `ws(s)://` URL) over tokio-tungstenite: the
//! handshake (with the plan's headers, Bearer included, and the user's MCP session and cookies)
//! is `<name> [connect]`; then the `send` messages go out and each reply's round trip is
//! recorded under `<name>`, matched by JSON-RPC `id` when the message has one, else in order.
//!
//! Three ways to send: `mode = "sequential"` (the default) sends one message and waits for its
//! reply (or the timeout: the message is lost, the next one goes) before the next;
//! `mode = "pipelined"` sends them all, then reads. Either ends when `expect` replies arrived
//! (default: one per message) or `for` elapsed, whichever first. `rate = "20/s"` with
//! `for = "10m"` is a stream: message k is due at start + k/rate (a grid from absolute instants,
//! never chained sleeps), the `send` list repeated in order, each reply awaited for the timeout
//! while the grid goes on; the step ends when `for` is over and every message has its reply or
//! its timeout.
//!
//! Delivery counts (sent, received, lost) go to the step's row about once a second and at the
//! end. When the user's stop deadline comes (see `StepCtx::stop`), a stream sends no more, gives the
//! replies in flight [`STOP_WRAP_UP`] to come, and ends: the messages still within their timeout
//! then are `cut` (neither received nor lost; the loss leaves them out); a `for` read ends at
//! once. The figures up to the stop are kept. The step timeout bounds the handshake and each message's wait for its reply; a server
//! that closes, breaks or sends garbage before the step is done fails (and loses) every message
//! still waiting for its reply. Status and header checks apply to the handshake; body checks and captures
//! to each reply matched to a message. A step without `send` and with `for` only listens;
//! with `subscribe`, every data message is also matched to a fan-out topic's events (see
//! `fanout.rs`) while the socket is open. The socket opens through `UserHttp::connect_raw` and
//! lives for the step only; nothing here outlasts the step.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::check::{verify, ResponseView};
use super::common::{ids_equal, PreparedHeaders, PreparedPath, SplitChecks};
use super::fanout::PreparedFanout;
use super::http_client::{timeout_message, RawStream, Target, UserHttp};
use super::step::{sample, PrepareCtx, PrepareError, StepCtx};
use crate::engine::fanout::Listener;
use crate::engine::vars::Vars;
use crate::plan::model::{FanoutRole, NameId, Step, WsMessage, WsMode, WsStep};
use crate::plan::template::{JsonTemplate, Template};
use crate::stats::recorder::Recorder;
use crate::stats::sample::WsDelivery;

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
    /// Rendered once: the text (shared, cloned without copying) and its JSON-RPC id, if any.
    Fixed(Utf8Bytes, Option<serde_json::Value>),
    Text(Template),
    Json(JsonTemplate),
}

impl PreparedMessage {
    fn render(&self, vars: &Vars) -> Result<(Utf8Bytes, Option<serde_json::Value>), String> {
        match self {
            PreparedMessage::Fixed(text, id) => Ok((text.clone(), id.clone())),
            PreparedMessage::Text(t) => {
                let text = t.render(vars).map_err(|e| e.to_string())?.into_owned();
                let id = json_id(&text);
                Ok((text.into(), id))
            }
            PreparedMessage::Json(j) => {
                let value = j.render_value(vars).map_err(|e| e.to_string())?;
                let id = value.get("id").cloned();
                Ok((value.to_string().into(), id))
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
    mode: WsMode,
    /// Messages a second of a stream (then `duration` is its length).
    rate: Option<f64>,
    /// The row of the handshake (`<name> [connect]`).
    connect_name: NameId,
    /// The row of each message's round trip.
    name: NameId,
    checks: SplitChecks,
    /// `subscribe`: each message is matched to the topic's published events.
    subscribe: Option<PreparedFanout>,
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
                    PreparedMessage::Fixed(text.into(), id)
                }
                WsMessage::Json(j) if j.is_static() => {
                    let value = j.render_value(cx.vars).map_err(|e| err(e.to_string()))?;
                    let id = value.get("id").cloned();
                    PreparedMessage::Fixed(value.to_string().into(), id)
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
            mode: ws.mode,
            rate: ws.rate,
            connect_name: ws.connect_name,
            name: PrepareError::row(step)?,
            checks: SplitChecks::new(step),
            subscribe: PreparedFanout::new(step.fanout.as_ref(), FanoutRole::Subscribe, cx.topics),
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

/// A `rate` stream's grid: messages a second, for how long, and the user's stop that ends it
/// early.
struct Grid<'a> {
    rate: f64,
    length: Duration,
    stop: &'a CancellationToken,
}

/// A message waiting for its reply.
struct Pending {
    id: Option<serde_json::Value>,
    sent: Instant,
    /// How late it went out against its due instant on a stream's grid (the corrected twin).
    lag: Option<Duration>,
}

type Socket = tokio_tungstenite::WebSocketStream<RawStream>;

/// How often a long step hands its delivery counts to the recorder.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// After the user's stop: how long a stream waits for the replies in flight before it ends.
const STOP_WRAP_UP: Duration = Duration::from_millis(50);

/// After the user's stop: how long the polite close may take.
const STOP_CLOSE: Duration = Duration::from_millis(20);

/// The replies of an open socket, matched to the messages waiting for them.
struct Exchange {
    /// In send order: the first is the oldest.
    pending: Vec<Pending>,
    replies: u32,
    last_activity: Instant,
    /// False once a matched reply failed its checks or a message was lost.
    all_ok: bool,
    /// Counts not yet handed to the recorder.
    counts: WsDelivery,
    reported: Instant,
    /// The user's stop ended the step: what is still pending is cut, not lost.
    stopped: bool,
    /// `subscribe`: listening on the topic while the socket is open.
    subscribed: Option<Listener>,
}

impl Exchange {
    fn new(capacity: usize) -> Exchange {
        let now = Instant::now();
        Exchange {
            pending: Vec::with_capacity(capacity),
            replies: 0,
            last_activity: now,
            all_ok: true,
            counts: WsDelivery::default(),
            reported: now,
            stopped: false,
            subscribed: None,
        }
    }

    fn push(&mut self, id: Option<serde_json::Value>, lag: Option<Duration>) {
        self.pending.push(Pending {
            id,
            sent: Instant::now(),
            lag,
        });
        self.counts.sent += 1;
    }

    /// Hands the counts to the recorder once a second (a stream's numbers stay live).
    fn report_due(&mut self, name: NameId, rec: &mut Recorder, now: Instant) {
        if now.duration_since(self.reported) >= REPORT_EVERY {
            rec.record_ws(name, std::mem::take(&mut self.counts), now);
            self.reported = now;
        }
    }
}

/// What one read of the socket gave.
enum Read {
    Reply(Message, Instant),
    /// The deadline passed first.
    Timeout,
    /// Closed, broken or garbage: the message says which.
    Failed(String),
}

/// The next data message before `deadline`; pings and pongs are answered and skipped.
async fn read_until(socket: &mut Socket, deadline: Instant, replies: u32) -> Read {
    loop {
        let next = tokio::time::timeout_at(deadline.into(), socket.next()).await;
        let message = match next {
            Err(_) => return Read::Timeout,
            Ok(None) => return Read::Failed(format!("connection closed after {replies} replies")),
            Ok(Some(Err(e))) => return Read::Failed(format!("WebSocket: {e}")),
            Ok(Some(Ok(message))) => message,
        };
        match reply_of(message, replies) {
            Ok(Some(m)) => return Read::Reply(m, Instant::now()),
            Ok(None) => continue,
            Err(why) => return Read::Failed(why),
        }
    }
}

/// A text or binary message as a reply; None for control frames (tungstenite answers pings
/// itself); Err for the server's close.
fn reply_of(message: Message, replies: u32) -> Result<Option<Message>, String> {
    match message {
        Message::Text(_) | Message::Binary(_) => Ok(Some(message)),
        Message::Close(frame) => {
            let why = frame.as_ref().map_or_else(String::new, |f| {
                format!(" ({} {})", u16::from(f.code), f.reason.as_str())
            });
            Err(format!("closed by the server after {replies} replies{why}"))
        }
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
    }
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
        let mut exchange = Exchange::new(self.messages.len());
        exchange.subscribed = self
            .subscribe
            .as_ref()
            .map(|s| s.listen(exchange.last_activity));
        let failure = match (self.rate, self.duration) {
            (Some(rate), Some(length)) => {
                let grid = Grid {
                    rate,
                    length,
                    stop: cx.stop,
                };
                self.stream(&mut socket, grid, cx.vars, cx.rec, &mut exchange)
                    .await
            }
            _ => match self.mode {
                WsMode::Sequential => {
                    self.sequential(&mut socket, cx.vars, cx.rec, &mut exchange, cx.stop)
                        .await
                }
                WsMode::Pipelined => {
                    self.pipelined(&mut socket, cx.vars, cx.rec, &mut exchange, cx.stop)
                        .await
                }
            },
        };
        if exchange.stopped {
            exchange.counts.cut += exchange.pending.len() as u64;
            exchange.pending.clear();
        }
        // Closing politely is best effort: the step's outcome is already known.
        let close_within = if exchange.stopped {
            STOP_CLOSE
        } else {
            self.timeout.min(Duration::from_secs(1))
        };
        let _ = tokio::time::timeout(close_within, socket.close(None)).await;
        let now = Instant::now();
        let mut ok = exchange.all_ok;
        if let Some(message) = failure {
            ok = false;
            if exchange.pending.is_empty() {
                let waited = now.duration_since(exchange.last_activity);
                let s = sample(self.name, waited, None, 0, false);
                cx.rec.record_failure(s, message.clone(), now);
            }
            exchange.counts.lost += exchange.pending.len() as u64;
            for m in exchange.pending.drain(..) {
                let s = sample(self.name, now.duration_since(m.sent), m.lag, 0, false);
                cx.rec.record_failure(s, message.clone(), now);
            }
        }
        cx.rec.record_ws(self.name, exchange.counts, now);
        ok
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

    /// Renders message `m` and sends it, waiting for it; Some(message) when it could not be
    /// rendered or sent.
    async fn send_one(
        &self,
        socket: &mut Socket,
        m: &PreparedMessage,
        vars: &Vars,
        exchange: &mut Exchange,
        lag: Option<Duration>,
    ) -> Option<String> {
        let (text, id) = match m.render(vars) {
            Ok(x) => x,
            Err(message) => return Some(message),
        };
        exchange.push(id, lag);
        let sent = tokio::time::timeout(self.timeout, socket.send(Message::Text(text))).await;
        match sent {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("send: {e}")),
            Err(_) => Some(timeout_message(self.timeout)),
        }
    }

    /// `mode = "pipelined"`: every message, then the replies.
    async fn pipelined(
        &self,
        socket: &mut Socket,
        vars: &mut Vars,
        rec: &mut Recorder,
        exchange: &mut Exchange,
        stop: &CancellationToken,
    ) -> Option<String> {
        for m in &self.messages {
            if let Some(failure) = self.send_one(socket, m, vars, exchange, None).await {
                return Some(failure);
            }
        }
        exchange.last_activity = Instant::now();
        self.receive(socket, vars, rec, exchange, stop).await
    }

    /// `mode = "sequential"`: each message waits for its reply (or the timeout: then it is lost
    /// and the next goes) before the next; then `expect`/`for` as in pipelined mode.
    async fn sequential(
        &self,
        socket: &mut Socket,
        vars: &mut Vars,
        rec: &mut Recorder,
        exchange: &mut Exchange,
        stop: &CancellationToken,
    ) -> Option<String> {
        let mut timed_out = false;
        for m in &self.messages {
            if let Some(failure) = self.send_one(socket, m, vars, exchange, None).await {
                return Some(failure);
            }
            let Some(deadline) = exchange.pending.last().map(|p| p.sent + self.timeout) else {
                continue;
            };
            while !exchange.pending.is_empty() {
                match read_until(socket, deadline, exchange.replies).await {
                    Read::Reply(message, at) => self.take_reply(exchange, &message, at, vars, rec),
                    Read::Timeout => {
                        self.expire(exchange, deadline, rec);
                        timed_out = true;
                        break;
                    }
                    Read::Failed(why) => return Some(why),
                }
            }
            exchange.report_due(self.name, rec, Instant::now());
        }
        if timed_out || (self.expect.is_none() && self.duration.is_none()) {
            // One reply per message was the goal, and each had its wait; after a lost message
            // (already a failure) waiting for more replies would only fail the step twice.
            return None;
        }
        exchange.last_activity = Instant::now();
        self.receive(socket, vars, rec, exchange, stop).await
    }

    /// `rate` + `for`: message k due at start + k/rate until `for` is over, replies read (and
    /// overdue messages lost) in between; then the last replies, each within its timeout.
    async fn stream(
        &self,
        socket: &mut Socket,
        grid: Grid<'_>,
        vars: &mut Vars,
        rec: &mut Recorder,
        exchange: &mut Exchange,
    ) -> Option<String> {
        if self.messages.is_empty() {
            return None;
        }
        let Grid { rate, length, stop } = grid;
        let start = Instant::now();
        let end = start + length;
        let mut k: u64 = 0;
        // Set by the user's stop: no more sends, the replies in flight have until then.
        let mut wrap_up: Option<Instant> = None;
        loop {
            let due = start + Duration::from_secs_f64(k as f64 / rate);
            let sending = due < end && wrap_up.is_none();
            let expiry = exchange.pending.first().map(|p| p.sent + self.timeout);
            if !sending && expiry.is_none() {
                return None;
            }
            let now = Instant::now();
            tokio::select! {
                biased;
                _ = stop.cancelled(), if wrap_up.is_none() => {
                    wrap_up = Some(Instant::now() + STOP_WRAP_UP);
                }
                _ = tokio::time::sleep_until(wrap_up.unwrap_or(now).into()), if wrap_up.is_some() => {
                    exchange.stopped = true;
                    return None;
                }
                _ = tokio::time::sleep_until(expiry.unwrap_or(now).into()), if expiry.is_some() => {
                    self.expire(exchange, Instant::now(), rec);
                }
                _ = tokio::time::sleep_until(due.into()), if sending => {
                    let woke = Instant::now();
                    let lag = woke.saturating_duration_since(due);
                    rec.record_lag(lag, woke);
                    // k < rate × `for` ≤ MAX_WS_RATE × MAX_DURATION: fits a usize.
                    let m = &self.messages[(k % self.messages.len() as u64) as usize];
                    if let Some(failure) = self.send_one(socket, m, vars, exchange, Some(lag)).await {
                        return Some(failure);
                    }
                    k += 1;
                }
                next = socket.next() => {
                    let at = Instant::now();
                    let message = match next {
                        None => {
                            return Some(format!(
                                "connection closed after {} replies",
                                exchange.replies
                            ))
                        }
                        Some(Err(e)) => return Some(format!("WebSocket: {e}")),
                        Some(Ok(message)) => message,
                    };
                    match reply_of(message, exchange.replies) {
                        Ok(Some(message)) => self.take_reply(exchange, &message, at, vars, rec),
                        Ok(None) => {}
                        Err(why) => return Some(why),
                    }
                }
            }
            exchange.report_due(self.name, rec, Instant::now());
        }
    }

    /// Loses every pending message whose timeout is over at `now`: a failed sample each.
    fn expire(&self, exchange: &mut Exchange, now: Instant, rec: &mut Recorder) {
        let overdue = exchange
            .pending
            .iter()
            .take_while(|p| p.sent + self.timeout <= now)
            .count();
        if overdue == 0 {
            return;
        }
        exchange.all_ok = false;
        exchange.counts.lost += overdue as u64;
        let message = timeout_message(self.timeout);
        for p in exchange.pending.drain(..overdue) {
            let s = sample(self.name, now.duration_since(p.sent), p.lag, 0, false);
            rec.record_failure(s, message.clone(), now);
        }
    }

    /// Reads replies until enough arrived or `for` ended, recording each matched one. Some
    /// (message) when the socket failed first (timeout, close, error).
    async fn receive(
        &self,
        socket: &mut Socket,
        vars: &mut Vars,
        rec: &mut Recorder,
        exchange: &mut Exchange,
        stop: &CancellationToken,
    ) -> Option<String> {
        let wanted = self.replies_wanted();
        let end_at = self.duration.map(|d| Instant::now() + d);
        while wanted.is_none_or(|n| exchange.replies < n) {
            let now = Instant::now();
            let deadline = exchange.last_activity + self.timeout;
            let read = tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    exchange.stopped = true;
                    return None;
                }
                _ = tokio::time::sleep_until(end_at.unwrap_or(now).into()), if end_at.is_some() => {
                    if !exchange.pending.is_empty() {
                        return Some("no reply before `for` ended".into());
                    }
                    return None;
                }
                read = read_until(socket, deadline, exchange.replies) => read,
            };
            match read {
                Read::Reply(message, at) => self.take_reply(exchange, &message, at, vars, rec),
                Read::Timeout => return Some(timeout_message(self.timeout)),
                Read::Failed(why) => return Some(why),
            }
            exchange.report_due(self.name, rec, Instant::now());
        }
        None
    }

    /// Counts a data message and matches it to the message it answers.
    fn take_reply(
        &self,
        exchange: &mut Exchange,
        message: &Message,
        now: Instant,
        vars: &mut Vars,
        rec: &mut Recorder,
    ) {
        let (text, id) = match message {
            Message::Text(t) => (t.as_bytes(), json_id(t.as_str())),
            Message::Binary(b) => (&b[..], None),
            _ => return,
        };
        exchange.replies += 1;
        exchange.last_activity = now;
        if let (Some(subscribe), Some(listener)) = (&self.subscribe, &exchange.subscribed) {
            subscribe.message(listener, text, now, rec);
        }
        self.match_reply(exchange, text, id, now, vars, rec);
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
        exchange.counts.received += 1;
        let rtt = now.duration_since(m.sent);
        let bytes = text.len() as u64;
        match self.checks.check_message(text, rtt, vars) {
            Ok(()) => rec.record(sample(self.name, rtt, m.lag, bytes, true), now),
            Err(message) => {
                exchange.all_ok = false;
                rec.record_failure(sample(self.name, rtt, m.lag, bytes, false), message, now);
            }
        }
    }
}

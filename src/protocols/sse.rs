//! Server-Sent Events steps (`sse = "/path"`): open the stream on a connection of its own,
//! read events until `events = N` arrived or `for` elapsed (whichever first), and record three
//! rows: `<name> [connect]` (request to response headers), `<name> [first event]` (request to
//! the first event) and `<name> [event gap]` (between consecutive events). With `post`, the
//! MCP SSE transport: wait for `event: endpoint` (its data is the message URL), POST the
//! JSON-RPC message there on the user's own connection, and match the reply on the stream by
//! id; its round trip is `<name> [<method>]`.
//!
//! A stream that ends or breaks before it is done (`events`/`for` not reached) is a *drop*; one
//! that sends garbage, or is silent past the step timeout (the longest wait for the next
//! event), fails. Both fail the step, recorded on the row of what was awaited, unless
//! `reconnect = true`: then a drop opens the stream again after a short wait (the server's
//! `retry:`, else 100 ms; doubled per drop in a row without an event, at most 5 s), sending
//! `Last-Event-ID` with the last event id seen, and the step goes on until its `events`/`for`
//! (the `for` window counts from the first connection and spans the reconnections). Three drops
//! in a row without an event between them fail the step. A reconnection's first event goes to
//! `[first event]` again. `post` and `reconnect` do not go together.
//!
//! `for` alone needs one event in the window (`min_events = N` asks for more, or 0: silence is
//! then no failure and the idle timeout does not apply, as for a server's notification stream
//! that may have nothing to say). The user's stop deadline (see `StepCtx::stop`) ends the
//! step at once, as a success, its figures kept.
//!
//! Stream counts go to the step's own row (`SSE <name>`), as they happen: connections opened
//! (reconnections included), drops, reconnects and events; its drop figure is drops / opened.
//! Checks on the status and headers apply to every connection's response; body checks and
//! captures to the `post` reply, or else to the step's first event's data. With `subscribe`,
//! each event's data is matched to a fan-out topic's events (see `fanout.rs`) while the
//! connection is open. The stream's
//! connection is closed when the step ends: nothing outlasts it.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::OptionFuture;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;

use super::check::{verify, ResponseView};
use super::common::{
    default_header, is_response_to, rpc_error, short, PreparedHeaders, PreparedPath, SplitChecks,
};
use super::event_stream::{Event, Parser};
use super::fanout::PreparedFanout;
use super::http_client::{
    timeout_message, HttpError, Outgoing, Response, StreamingResponse, Target, UserHttp,
};
use super::step::{sample, PrepareCtx, PrepareError, StepCtx};
use crate::engine::fanout::Listener;
use crate::engine::vars::Vars;
use crate::plan::duration::format_duration;
use crate::plan::model::{FanoutRole, NameId, SseNames, SseStep, Step};
use crate::plan::template::JsonTemplate;
use crate::stats::recorder::Recorder;
use crate::stats::sample::SseDelivery;

/// The wait before a reconnection when the server named no `retry:`.
const DEFAULT_RECONNECT_DELAY: Duration = Duration::from_millis(100);
/// The longest wait before a reconnection, whatever `retry:` asked for.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);
/// Drops in a row without an event between them after which the step fails.
const MAX_EMPTY_DROPS: u32 = 3;
/// The request header that resumes a stream after the last event seen.
const LAST_EVENT_ID: &str = "last-event-id";
/// The waits before asking again for a GET stream that an MCP session's server answered 409
/// Conflict (its previous stream not yet released): ~0.5 s in all, then the 409 stands.
const MCP_CONFLICT_WAITS: [Duration; 5] = [
    Duration::from_millis(20),
    Duration::from_millis(40),
    Duration::from_millis(80),
    Duration::from_millis(160),
    Duration::from_millis(200),
];

/// The wait before reconnecting: the server's `retry:` (else [`DEFAULT_RECONNECT_DELAY`]),
/// doubled for each earlier drop in a row without an event, at most [`MAX_RECONNECT_DELAY`].
fn reconnect_delay(retry: Option<Duration>, empty_drops: u32) -> Duration {
    let base = retry.unwrap_or(DEFAULT_RECONNECT_DELAY);
    base.saturating_mul(1 << empty_drops.min(16))
        .min(MAX_RECONNECT_DELAY)
}

/// The stream's last event ID after an event (the spec's "last event ID buffer"): the event's
/// `id:` replaces it, an empty one clears it, an event without one keeps it.
fn last_event_id(current: Option<String>, event_id: Option<&str>) -> Option<String> {
    match event_id {
        None => current,
        Some("") => None,
        Some(id) => Some(id.to_string()),
    }
}

/// What carries over from one connection of the step to the next.
#[derive(Debug, Default)]
struct Resume {
    /// Sent as `Last-Event-ID` when reconnecting.
    last_id: Option<String>,
    /// The server's last `retry:`.
    retry: Option<Duration>,
    /// Events of the earlier connections.
    earlier: u32,
    /// Events of the last connection.
    this_connection: u32,
    /// Drops in a row without an event.
    empty_drops: u32,
    /// When the `for` window ends (set at the first connection).
    end_at: Option<Instant>,
    /// Body checks apply to the step's first event: true until it was checked.
    first_unchecked: bool,
}

/// An `sse` step with what does not change between streams built at run start.
#[derive(Debug)]
pub struct PreparedSse {
    path: PreparedPath,
    headers: PreparedHeaders,
    /// The longest wait for the response head and for each next event.
    timeout: Duration,
    events: Option<u32>,
    duration: Option<Duration>,
    /// Events the `for` window needs (see `SseStep::min_events`).
    min_events: u32,
    /// No idle timeout: `min_events = 0` allows a silent stream.
    may_be_silent: bool,
    reconnect: bool,
    post: Option<JsonTemplate>,
    names: SseNames,
    /// The step's own row: the stream counts.
    row: NameId,
    checks: SplitChecks,
    /// `subscribe`: each event's data is matched to the topic's published events.
    subscribe: Option<PreparedFanout>,
}

impl PreparedSse {
    pub fn new(
        step: &Step,
        sse: &SseStep,
        cx: &PrepareCtx<'_>,
    ) -> Result<PreparedSse, PrepareError> {
        let err = |m: String| PrepareError::at(step, m);
        Ok(PreparedSse {
            path: PreparedPath::new(&sse.path, cx.base).map_err(err)?,
            headers: PreparedHeaders::new(&cx.defaults.headers, &sse.headers, cx.vars)
                .map_err(err)?,
            timeout: cx.timeout(step),
            events: sse.events,
            duration: sse.duration,
            min_events: sse
                .min_events
                .unwrap_or(if sse.events.is_some() { 0 } else { 1 }),
            may_be_silent: sse.min_events == Some(0),
            reconnect: sse.reconnect,
            post: sse.post.clone(),
            names: sse.names,
            row: PrepareError::row(step)?,
            checks: SplitChecks::new(step),
            subscribe: PreparedFanout::new(step.fanout.as_ref(), FanoutRole::Subscribe, cx.topics),
        })
    }

    /// How the `for` window's end ends the stream, after `events` in all.
    fn window_verdict(&self, events: u32, since_connect: Duration) -> End {
        if events >= self.min_events {
            return End::Done;
        }
        let window = self.duration.map(format_duration).unwrap_or_default();
        let message = if events == 0 {
            format!("no event within {window}")
        } else {
            format!(
                "{events} events within {window}, fewer than min_events = {}",
                self.min_events
            )
        };
        let row = if events == 0 {
            self.names.first_event
        } else {
            self.names.event_gap
        };
        End::Fail(row, since_connect, message)
    }

    /// Whether the stream has done what the step asked for (the post reply is checked apart).
    fn enough(&self, events: u32) -> bool {
        match (self.events, self.duration) {
            (Some(n), _) => events >= n,
            // Only `for`: the deadline ends the stream.
            (None, Some(_)) => false,
            // Only `post`: done with the reply.
            (None, None) => true,
        }
    }
}

/// Reads events off the stream, with the rows they go to.
struct EventReader<'a> {
    body: &'a mut hyper::body::Incoming,
    parser: Parser,
    /// Events received so far.
    count: u32,
    start: Instant,
    /// The last event (or the response head): idle time counts from here.
    last_event: Instant,
    /// The longest wait for the next event; None: none (a stream that may be silent).
    timeout: Option<Duration>,
    names: SseNames,
}

/// Why a stream gave no next event.
struct Broken {
    message: String,
    /// The server ended or broke the stream (a drop), rather than a timeout or garbage.
    dropped: bool,
}

impl Broken {
    fn failed(message: String) -> Broken {
        Broken {
            message,
            dropped: false,
        }
    }

    fn dropped(message: String) -> Broken {
        Broken {
            message,
            dropped: true,
        }
    }
}

/// One event and the sample it makes: its row, the time it measures, when it arrived.
struct Received {
    event: Event,
    row: NameId,
    elapsed: Duration,
    at: Instant,
}

impl EventReader<'_> {
    /// The next event; Err says why there is none (timeout, end, broken stream, garbage).
    async fn next(&mut self) -> Result<Received, Broken> {
        loop {
            let parsed = self.parser.next_event();
            if let Some(event) = parsed.map_err(|e| Broken::failed(e.to_string()))? {
                let at = Instant::now();
                self.count += 1;
                let (row, elapsed) = if self.count == 1 {
                    (self.names.first_event, at.duration_since(self.start))
                } else {
                    (self.names.event_gap, at.duration_since(self.last_event))
                };
                self.last_event = at;
                return Ok(Received {
                    event,
                    row,
                    elapsed,
                    at,
                });
            }
            let frame = match self.timeout {
                Some(timeout) => {
                    let idle_deadline = self.last_event + timeout;
                    tokio::time::timeout_at(idle_deadline.into(), self.body.frame())
                        .await
                        .map_err(|_| Broken::failed(timeout_message(timeout)))?
                }
                None => self.body.frame().await,
            };
            let data = match frame {
                None => {
                    let message = format!("stream ended after {} events", self.count);
                    return Err(Broken::dropped(message));
                }
                Some(Err(e)) => return Err(Broken::dropped(format!("stream broken: {e}"))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
            };
            self.parser
                .push(&data)
                .map_err(|e| Broken::failed(e.to_string()))?;
        }
    }

    /// Where a failure of the event now awaited goes, and how long it was awaited.
    fn awaited(&self) -> (NameId, Duration) {
        if self.count == 0 {
            (self.names.first_event, self.start.elapsed())
        } else {
            (self.names.event_gap, self.last_event.elapsed())
        }
    }
}

type PostFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, HttpError>> + Send + 'a>>;

/// How the stream ended.
enum End {
    Done,
    /// The user's stop ended it: a success, its figures kept.
    Stopped,
    /// A failure that is already recorded.
    Recorded,
    Fail(NameId, Duration, String),
    /// The server ended or broke the stream before it was done: where the awaited event would
    /// have gone, how long it was awaited, what happened.
    Dropped(NameId, Duration, String),
}

/// Sleeps until `at`, or forever without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// A stream whose response head passed: what the rest of the step needs from the opening.
struct Opened {
    target: Target,
    /// The headers of the `post` message (the step's, as JSON), when the step has one.
    post_headers: Option<HeaderMap>,
    stream: StreamingResponse,
    connected: Instant,
}

/// The `post` message in flight: the id of its reply and when it was sent.
type Awaiting = Option<(serde_json::Value, Instant)>;

/// The events of an opened stream, read and recorded on their rows.
struct Listening<'a> {
    p: &'a PreparedSse,
    reader: EventReader<'a>,
    connected: Instant,
    /// When the `for` window ends.
    end_at: Option<Instant>,
    /// The step's state across connections (first event checked, last event id).
    resume: &'a mut Resume,
    /// The row of the `post` message's round trip.
    post_name: NameId,
    stop: &'a CancellationToken,
    /// `subscribe`: listening on the topic while the connection is open.
    subscribed: Option<(&'a PreparedFanout, Listener)>,
}

impl PreparedSse {
    /// Runs one `sse` step for the user, recording its rows and its stream counts. Returns
    /// whether it succeeded.
    pub async fn execute(&self, cx: &mut StepCtx<'_>) -> bool {
        let mut resume = Resume {
            first_unchecked: self.post.is_none() && self.checks.has_body_checks(),
            ..Resume::default()
        };
        loop {
            let end = self.connection(cx, &mut resume).await;
            let (row, waited, message) = match end {
                End::Dropped(row, waited, message) => (row, waited, message),
                other => return finish(other, cx.rec),
            };
            let now = Instant::now();
            let drop = SseDelivery {
                drops: 1,
                ..SseDelivery::default()
            };
            cx.rec.record_sse(self.row, drop, now);
            if !self.reconnect {
                return finish(End::Fail(row, waited, message), cx.rec);
            }
            resume.earlier += resume.this_connection;
            if resume.this_connection == 0 {
                resume.empty_drops += 1;
            } else {
                resume.empty_drops = 0;
            }
            if resume.empty_drops >= MAX_EMPTY_DROPS {
                let message = format!(
                    "{message}; dropped {} times in a row without an event",
                    resume.empty_drops
                );
                return finish(End::Fail(row, waited, message), cx.rec);
            }
            let delay = reconnect_delay(resume.retry, resume.empty_drops.saturating_sub(1));
            tokio::select! {
                biased;
                _ = cx.stop.cancelled() => return true,
                _ = until(resume.end_at) => {
                    let verdict = self.window_verdict(resume.earlier, waited);
                    return finish(verdict, cx.rec);
                }
                _ = tokio::time::sleep(delay) => {}
            }
            let reconnect = SseDelivery {
                reconnects: 1,
                ..SseDelivery::default()
            };
            cx.rec.record_sse(self.row, reconnect, Instant::now());
        }
    }

    /// One connection of the step: opens the stream (resuming after the last event id), posts
    /// when asked, reads until done. Records its rows; the caller records the end.
    async fn connection(&self, cx: &mut StepCtx<'_>, resume: &mut Resume) -> End {
        let (http, vars, rec) = (&mut *cx.http, &mut *cx.vars, &mut *cx.rec);
        let names = self.names;
        let start = Instant::now();
        resume.this_connection = 0;
        let opened = tokio::select! {
            biased;
            _ = cx.stop.cancelled() => return End::Stopped,
            opened = self.open(http, vars, start, resume.last_id.as_deref()) => opened,
        };
        let Opened {
            target,
            post_headers,
            mut stream,
            connected,
        } = match opened {
            Ok(opened) => opened,
            Err((elapsed, message)) => {
                let s = sample(names.connect, elapsed, cx.lag, 0, false);
                rec.record_failure(s, message, Instant::now());
                return End::Recorded;
            }
        };
        let connect_time = connected.duration_since(start);
        rec.record(
            sample(names.connect, connect_time, cx.lag, 0, true),
            connected,
        );
        let one = SseDelivery {
            opened: 1,
            ..SseDelivery::default()
        };
        rec.record_sse(self.row, one, connected);
        let end_at = match self.duration {
            Some(d) => Some(*resume.end_at.get_or_insert(connected + d)),
            None => None,
        };
        let mut events = Listening {
            p: self,
            reader: EventReader {
                body: &mut stream.body,
                parser: Parser::new(),
                count: 0,
                start,
                last_event: connected,
                timeout: (!self.may_be_silent).then_some(self.timeout),
                names,
            },
            connected,
            end_at,
            resume,
            post_name: names.post.unwrap_or(names.event_gap),
            stop: cx.stop,
            subscribed: self.subscribe.as_ref().map(|s| (s, s.listen(connected))),
        };

        // The MCP SSE transport, part 1: the stream announces where to post.
        let mut endpoint = None;
        if self.post.is_some() {
            match events.endpoint(rec, vars).await {
                Ok(event) => endpoint = Some(event),
                Err(end) => return events.closed(end),
            }
        }

        // Part 2: post once, then read until the reply (if posted) and until done.
        let mut awaiting: Awaiting = None;
        let mut post_fut: Option<PostFuture<'_>> = None;
        if let (Some(template), Some(endpoint)) = (&self.post, &endpoint) {
            let generated = http.next_rpc_id();
            let headers = post_headers.unwrap_or_default();
            match post_request(template, generated, &target, endpoint, headers, vars) {
                Ok((request, id)) => {
                    awaiting = Some((id, Instant::now()));
                    post_fut = Some(Box::pin(http.send(request, None, false)));
                }
                Err(message) => {
                    let s = sample(events.post_name, Duration::ZERO, None, 0, false);
                    rec.record_failure(s, message, Instant::now());
                    return End::Recorded;
                }
            }
        }
        let end = events
            .until_done(rec, vars, &mut awaiting, &mut post_fut)
            .await;
        let end = events.closed(end);
        // The reply often comes before the POST's own 202: let that finish (within the timeout)
        // rather than leave the user's connection mid-request, which would cost a reconnect.
        let timed_out = {
            // Both dropped in this block, not at the end of scope: they borrow `http`.
            let in_flight = post_fut.take();
            drop(post_fut);
            match in_flight {
                Some(f) => tokio::time::timeout(self.timeout, f).await.is_err(),
                None => false,
            }
        };
        if timed_out {
            http.reset_connection();
        }
        end
    }

    /// Sends the stream's request and checks its response head (checks, `Content-Type`). Err
    /// is how long the connect took and the failure message, for the `[connect]` row.
    async fn open(
        &self,
        http: &mut UserHttp,
        vars: &mut Vars,
        start: Instant,
        last_id: Option<&str>,
    ) -> Result<Opened, (Duration, String)> {
        let target = self.path.target(vars).map_err(|m| (Duration::ZERO, m))?;
        let mut headers = self.headers.render(vars).map_err(|m| (Duration::ZERO, m))?;
        let post_headers = self.post.as_ref().map(|_| {
            let mut h = headers.clone();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            default_header(&mut h, ACCEPT, "application/json, text/event-stream");
            h
        });
        default_header(&mut headers, ACCEPT, "text/event-stream");
        default_header(&mut headers, CACHE_CONTROL, "no-cache");
        // An id that is no valid header value cannot be sent: the stream resumes from scratch.
        if let Some(id) = last_id.and_then(|id| HeaderValue::from_str(id).ok()) {
            headers.insert(LAST_EVENT_ID, id);
        }
        let request = Outgoing {
            method: http::Method::GET,
            target: target.clone(),
            headers,
            body: Bytes::new(),
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut conflict_waits = MCP_CONFLICT_WAITS.iter();
        let stream = loop {
            let opened = tokio::time::timeout_at(deadline, http.open_stream(request.clone())).await;
            let connect_time = start.elapsed();
            match opened {
                // The MCP SDK keeps one GET stream per session and frees it only once it has
                // noticed that the previous one closed: a stream opened right after this user's
                // last one meets 409 for a few ms. Wait and ask again, as a client would.
                Ok(Ok(s))
                    if s.status == http::StatusCode::CONFLICT && http.mcp_session().is_some() =>
                {
                    match conflict_waits.next() {
                        Some(wait) => tokio::time::sleep(*wait).await,
                        None => break s,
                    }
                }
                Ok(Ok(s)) => break s,
                Ok(Err(e)) => return Err((connect_time, e.to_string())),
                Err(_) => return Err((connect_time, timeout_message(self.timeout))),
            }
        };
        let connected = Instant::now();
        let connect_time = connected.duration_since(start);
        let head = ResponseView {
            status: stream.status.as_u16(),
            headers: &stream.headers,
            body: &[],
            elapsed: connect_time,
        };
        verify(&self.checks.head, &self.checks.head_captures, &head, vars)
            .map_err(|m| (connect_time, m))?;
        let content_type = stream.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
        if !content_type.is_some_and(|ct| ct.starts_with(b"text/event-stream")) {
            let found = content_type.map_or_else(
                || "none".to_string(),
                |ct| format!("{:?}", String::from_utf8_lossy(ct)),
            );
            let message = format!("expected Content-Type text/event-stream, found {found}");
            return Err((connect_time, message));
        }
        Ok(Opened {
            target,
            post_headers,
            stream,
            connected,
        })
    }
}

impl Listening<'_> {
    /// Records an event on its row, checking the first one when body checks apply to it.
    /// Returns whether it passed.
    fn record(&mut self, rec: &mut Recorder, vars: &mut Vars, r: &Received) -> bool {
        let bytes = r.event.data.len() as u64;
        self.resume.last_id = last_event_id(self.resume.last_id.take(), r.event.id.as_deref());
        self.resume.this_connection += 1;
        let one = SseDelivery {
            events: 1,
            ..SseDelivery::default()
        };
        rec.record_sse(self.p.row, one, r.at);
        if let Some((subscribe, listener)) = &self.subscribed {
            subscribe.message(listener, r.event.data.as_bytes(), r.at, rec);
        }
        let checked = if self.resume.first_unchecked {
            self.resume.first_unchecked = false;
            self.p
                .checks
                .check_message(r.event.data.as_bytes(), r.elapsed, vars)
        } else {
            Ok(())
        };
        match checked {
            Ok(()) => {
                rec.record(sample(r.row, r.elapsed, None, bytes, true), r.at);
                true
            }
            Err(message) => {
                let s = sample(r.row, r.elapsed, None, bytes, false);
                rec.record_failure(s, message, r.at);
                false
            }
        }
    }

    /// Reads (and records) events until `event: endpoint`; Err is how the stream failed.
    async fn endpoint(&mut self, rec: &mut Recorder, vars: &mut Vars) -> Result<Event, End> {
        loop {
            let received = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Err(End::Stopped),
                _ = until(self.end_at) => {
                    let message = "no `endpoint` event before `for` ended".to_string();
                    return Err(End::Fail(self.post_name, self.connected.elapsed(), message));
                }
                r = self.reader.next() => r,
            };
            match received {
                Ok(r) => {
                    if !self.record(rec, vars, &r) {
                        return Err(End::Recorded);
                    }
                    if r.event.event == "endpoint" {
                        return Ok(r.event);
                    }
                }
                Err(broken) => return Err(self.broken(broken)),
            }
        }
    }

    /// The end a broken stream makes when no `post` reply is awaited.
    fn broken(&self, broken: Broken) -> End {
        let (row, waited) = self.reader.awaited();
        if broken.dropped {
            End::Dropped(row, waited, broken.message)
        } else {
            End::Fail(row, waited, broken.message)
        }
    }

    /// After the connection's end: what it leaves for the next one (the server's `retry:`).
    fn closed(&mut self, end: End) -> End {
        if let Some(retry) = self.reader.parser.retry() {
            self.resume.retry = Some(retry);
        }
        end
    }

    /// Events of the step so far, on every connection.
    fn total(&self) -> u32 {
        self.resume.earlier + self.reader.count
    }

    /// Reads (and records) events until the step has what it asked for and the `post` reply,
    /// if one is awaited, arrived; polls the `post` request meanwhile.
    async fn until_done(
        &mut self,
        rec: &mut Recorder,
        vars: &mut Vars,
        awaiting: &mut Awaiting,
        post_fut: &mut Option<PostFuture<'_>>,
    ) -> End {
        loop {
            if awaiting.is_none() && self.p.enough(self.total()) {
                return End::Done;
            }
            let received = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return End::Stopped,
                _ = until(self.end_at) => return self.window_ended(awaiting),
                sent = OptionFuture::from(post_fut.as_mut()), if post_fut.is_some() => {
                    *post_fut = None;
                    let waited = awaiting.as_ref().map_or(Duration::ZERO, |(_, t)| t.elapsed());
                    match sent {
                        Some(Ok(resp)) if resp.status.is_success() => continue,
                        Some(Ok(resp)) => return End::Fail(self.post_name, waited,
                            format!("POST to the endpoint: HTTP {}", resp.status.as_u16())),
                        Some(Err(e)) => return End::Fail(self.post_name, waited,
                            format!("POST to the endpoint: {e}")),
                        None => continue,
                    }
                }
                r = self.reader.next() => r,
            };
            let r = match received {
                Ok(r) => r,
                Err(broken) => {
                    return match awaiting {
                        Some((_, sent)) => {
                            End::Fail(self.post_name, sent.elapsed(), broken.message)
                        }
                        None => self.broken(broken),
                    };
                }
            };
            if !self.record(rec, vars, &r) {
                return End::Recorded;
            }
            if let Some(end) = self.match_reply(rec, vars, &r, awaiting) {
                return end;
            }
        }
    }

    /// How the `for` window's end ends the stream.
    fn window_ended(&self, awaiting: &Awaiting) -> End {
        match awaiting {
            // A `for` window without one event is a silent stream, not a success (with
            // `events = N` asked, ending early is already what the step allows), unless
            // `min_events` says otherwise.
            None => self
                .p
                .window_verdict(self.total(), self.connected.elapsed()),
            Some((_, sent)) => End::Fail(
                self.post_name,
                sent.elapsed(),
                "no JSON-RPC reply before `for` ended".into(),
            ),
        }
    }

    /// When `r` is the awaited `post` reply: judges and records its round trip, and stops
    /// awaiting. Some(end) when it failed.
    fn match_reply(
        &self,
        rec: &mut Recorder,
        vars: &mut Vars,
        r: &Received,
        awaiting: &mut Awaiting,
    ) -> Option<End> {
        let (id, sent) = awaiting.as_ref()?;
        let msg = serde_json::from_str::<serde_json::Value>(&r.event.data).ok()?;
        if !is_response_to(&msg, id) {
            return None;
        }
        let rtt = r.at.duration_since(*sent);
        let bytes = r.event.data.len() as u64;
        let verdict = match rpc_error(&msg, &[]) {
            Some(error) => Err(error),
            None => self
                .p
                .checks
                .check_message(r.event.data.as_bytes(), rtt, vars),
        };
        match verdict {
            Ok(()) => rec.record(sample(self.post_name, rtt, None, bytes, true), r.at),
            Err(message) => {
                let s = sample(self.post_name, rtt, None, bytes, false);
                rec.record_failure(s, message, r.at);
                return Some(End::Recorded);
            }
        }
        *awaiting = None;
        None
    }
}

/// Records a failure end; whether the stream ended as asked.
fn finish(end: End, rec: &mut Recorder) -> bool {
    match end {
        End::Done | End::Stopped => true,
        End::Recorded => false,
        End::Fail(name, elapsed, message) | End::Dropped(name, elapsed, message) => {
            let s = sample(name, elapsed, None, 0, false);
            rec.record_failure(s, message, Instant::now());
            false
        }
    }
}

/// The POST of the `post` message to the endpoint the stream announced, and the id its reply
/// will carry (the message's own, or `generated` when it has none).
fn post_request(
    template: &JsonTemplate,
    generated: u64,
    stream: &Target,
    endpoint: &Event,
    headers: HeaderMap,
    vars: &Vars,
) -> Result<(Outgoing, serde_json::Value), String> {
    let mut message = template.render_value(vars).map_err(|e| e.to_string())?;
    let Some(obj) = message.as_object_mut() else {
        return Err("post: the message is not a JSON object".into());
    };
    obj.entry("jsonrpc")
        .or_insert_with(|| serde_json::Value::from("2.0"));
    let id = obj
        .entry("id")
        .or_insert_with(|| serde_json::Value::from(generated))
        .clone();
    let url = endpoint.data.trim();
    let target =
        Target::join(&stream.origin, url).map_err(|e| format!("endpoint {:?}: {e}", short(url)))?;
    let body = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
    Ok((
        Outgoing {
            method: http::Method::POST,
            target,
            headers,
            body: Bytes::from(body),
        },
        id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_honors_retry_doubles_per_empty_drop_and_is_bounded() {
        let ms = Duration::from_millis;
        assert_eq!(reconnect_delay(None, 0), ms(100));
        assert_eq!(reconnect_delay(Some(ms(20)), 0), ms(20));
        assert_eq!(reconnect_delay(Some(ms(20)), 2), ms(80));
        assert_eq!(reconnect_delay(Some(ms(0)), 3), ms(0));
        assert_eq!(reconnect_delay(None, 10), MAX_RECONNECT_DELAY);
        assert_eq!(reconnect_delay(None, u32::MAX), MAX_RECONNECT_DELAY);
        assert_eq!(
            reconnect_delay(Some(Duration::from_secs(3600)), 0),
            MAX_RECONNECT_DELAY
        );
    }

    #[test]
    fn last_event_id_follows_the_ids_an_empty_one_clears_it() {
        let id = last_event_id(None, Some("7"));
        assert_eq!(id.as_deref(), Some("7"));
        let id = last_event_id(id, None);
        assert_eq!(id.as_deref(), Some("7"), "an event without id keeps it");
        let id = last_event_id(id, Some("8"));
        assert_eq!(id.as_deref(), Some("8"));
        assert_eq!(last_event_id(id, Some("")), None);
    }
}

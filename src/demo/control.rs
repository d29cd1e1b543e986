//! Test controls of the demo target: `POST /__stall?for=2s` pauses the whole target (every
//! request that arrives before the stall ends waits for its end, as a server stopped by a GC
//! pause or a full disk would; the answer says when it ends, `until_unix_ms`), `POST /__fail?for=4s&status=500` answers every request in the
//! next 4 s with that status at once (a bad stretch inside a good run), and the MCP session ids `/rpc` hands out with `initialize` and
//! checks on later requests. Neither takes a lock: one atomic each on the request path.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_error, TargetState};

/// The longest stall one request can ask for.
const MAX_STALL: Duration = Duration::from_secs(60);

/// When the current stall ends, in microseconds since the target started (0: none).
pub(crate) struct Stall {
    epoch: Instant,
    until_us: AtomicU64,
}

impl Stall {
    pub(crate) fn new() -> Stall {
        Stall {
            epoch: Instant::now(),
            until_us: AtomicU64::new(0),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// How long a request arriving now waits.
    fn remaining(&self) -> Option<Duration> {
        let until = self.until_us.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let now = self.now_us();
        (now < until).then(|| Duration::from_micros(until - now))
    }

    /// Stalls from now for `d` (extending, never shortening, a stall under way); returns how
    /// long from now the stall lasts.
    fn start(&self, d: Duration) -> Duration {
        let now = self.now_us();
        let until = now.saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let until = self.until_us.fetch_max(until, Ordering::Relaxed).max(until);
        Duration::from_micros(until - now)
    }
}

#[derive(Deserialize)]
pub(crate) struct StallQuery {
    #[serde(rename = "for")]
    duration: Option<String>,
}

/// `POST /__stall?for=2s`: every request arriving in the next 2 s waits until they are over.
pub(crate) async fn stall(
    State(state): State<TargetState>,
    query: Result<Query<StallQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let text = query.ok().and_then(|Query(q)| q.duration);
    let Some(Ok(d)) = text.as_deref().map(crate::plan::duration::parse_duration) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "for=DURATION is required, e.g. for=2s",
        );
    };
    if d > MAX_STALL {
        return json_error(StatusCode::BAD_REQUEST, "for is at most 60s");
    }
    let left = state.stall.start(d);
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // when it ends on the wall clock, so that a test can place it on a run's time line
    let until = std::time::SystemTime::now() + left;
    let until_unix_ms = until
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    axum::response::IntoResponse::into_response(Json(
        json!({ "stalled_ms": ms, "until_unix_ms": until_unix_ms }),
    ))
}

/// A time-bounded outage: requests arriving before it ends get `status` without being served.
pub(crate) struct Outage {
    /// When it ends, on the same clock as a stall.
    until: Stall,
    status: AtomicU16,
}

impl Outage {
    pub(crate) fn new() -> Outage {
        Outage {
            until: Stall::new(),
            status: AtomicU16::new(500),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct FailQuery {
    #[serde(rename = "for")]
    duration: Option<String>,
    status: Option<u16>,
}

/// `POST /__fail?for=4s&status=500`: every request arriving in the next 4 s is answered with
/// that status (500 unless given, 400..=599).
pub(crate) async fn fail(
    State(state): State<TargetState>,
    query: Result<Query<FailQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "for=DURATION is required and status a number, e.g. for=4s&status=500",
        );
    };
    let Some(Ok(d)) = q
        .duration
        .as_deref()
        .map(crate::plan::duration::parse_duration)
    else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "for=DURATION is required, e.g. for=4s",
        );
    };
    if d > MAX_STALL {
        return json_error(StatusCode::BAD_REQUEST, "for is at most 60s");
    }
    let status = q.status.unwrap_or(500);
    if !(400..=599).contains(&status) {
        return json_error(StatusCode::BAD_REQUEST, "status is from 400 to 599");
    }
    state.outage.status.store(status, Ordering::Relaxed);
    state.outage.until.start(d);
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    axum::response::IntoResponse::into_response(Json(json!({ "failing_ms": ms, "status": status })))
}

/// Answers every request (except `/__*` controls) with the outage's status while one is on.
pub(crate) async fn fail_during_outage(
    State(state): State<TargetState>,
    req: Request,
    next: Next,
) -> Response {
    if state.outage.until.remaining().is_some() && !req.uri().path().starts_with("/__") {
        let code = state.outage.status.load(Ordering::Relaxed);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_error(status, "injected failure (POST /__fail)");
    }
    next.run(req).await
}

/// Holds every request (except `/__*` controls) while a stall is under way.
pub(crate) async fn hold_while_stalled(
    State(state): State<TargetState>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(wait) = state.stall.remaining() {
        if !req.uri().path().starts_with("/__") {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = state.shutdown.cancelled() => {
                    return json_error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
                }
            }
        }
    }
    next.run(req).await
}

/// MCP session ids: uuid-shaped, the low half a keyed hash of the random high half, so the
/// target can tell its own ids from others without storing any (memory stays flat under load).
pub(crate) struct McpSessions {
    key: RandomState,
    issued: AtomicU64,
    /// Requests that carried a session id this target issued.
    known: AtomicU64,
    /// Requests that carried one it did not (answered 404, as MCP says).
    unknown: AtomicU64,
}

impl McpSessions {
    pub(crate) fn new() -> McpSessions {
        McpSessions {
            key: RandomState::new(),
            issued: AtomicU64::new(0),
            known: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        }
    }

    pub(crate) fn issue(&self) -> String {
        self.issued.fetch_add(1, Ordering::Relaxed);
        let high: u64 = rand::random();
        uuid::Uuid::from_u64_pair(high, self.key.hash_one(high)).to_string()
    }

    /// Counts a request's session id; false if the target never issued it.
    pub(crate) fn check(&self, id: &[u8]) -> bool {
        let valid = uuid::Uuid::try_parse_ascii(id).is_ok_and(|u| {
            let (high, low) = u.as_u64_pair();
            self.key.hash_one(high) == low
        });
        let counter = if valid { &self.known } else { &self.unknown };
        counter.fetch_add(1, Ordering::Relaxed);
        valid
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "sessions_issued": self.issued.load(Ordering::Relaxed),
            "requests_with_session": self.known.load(Ordering::Relaxed),
            "unknown_session": self.unknown.load(Ordering::Relaxed),
        })
    }

    pub(crate) fn reset(&self) {
        for c in [&self.issued, &self.known, &self.unknown] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_sessions_check_and_others_do_not() {
        let s = McpSessions::new();
        let id = s.issue();
        assert!(s.check(id.as_bytes()));
        assert_eq!(id.len(), 36, "uuid-shaped: {id}");
        assert!(!s.check(b"0b7c1a52-0000-4000-8000-000000000000"));
        assert!(!s.check(b"not a uuid"));
        assert!(
            !McpSessions::new().check(id.as_bytes()),
            "another target's id"
        );
        assert_eq!(
            s.to_json(),
            json!({"sessions_issued": 1, "requests_with_session": 1, "unknown_session": 2})
        );
    }

    #[test]
    fn a_stall_extends_but_never_shortens() {
        let stall = Stall::new();
        assert_eq!(stall.remaining(), None);
        stall.start(Duration::from_secs(2));
        stall.start(Duration::from_millis(10));
        let left = stall.remaining().expect("stalled");
        assert!(left > Duration::from_millis(1900) && left <= Duration::from_secs(2));
    }
}

//! The built-in demo target (`hornet target`): an imitation of the MCP Gateway's REST, JSON-RPC,
//! SSE, WebSocket and admin routes, so that shipped plans work with zero setup, plus test helpers
//! (`/delay`, `/capacity`, `/status`, `/bytes`), a notification fan-out (`/broadcast`), `/__stats`, the count of requests served per route that
//! end-to-end tests compare Hornet's numbers with, `POST /__stall?for=2s` and
//! `POST /__fail?for=4s` (see `control.rs`) and `POST /__leak?bytes_per_s=N` (a memory leak on
//! purpose, for monitors: see `leak.rs`).
//!
//! This file owns the public API (config, `router`, `serve`, `spawn`), the shared state and the
//! bearer-token check. It must stay fast enough to be load-tested in-process: no lock on the
//! request path except the catalogues' copy-on-write swap on writes (see `catalog.rs`), counters
//! are pre-built atomics (see `stats.rs`), and every open stream ends on shutdown.

mod admin;
mod broadcast;
mod catalog;
mod control;
mod leak;
mod openapi;
mod rest;
mod rpc;
mod stats;
mod stream;

pub use stats::ROUTES;

use std::net::SocketAddr;
use std::ops::Deref;

use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the demo target behaves.
#[derive(Clone, Debug)]
pub struct TargetConfig {
    /// Bearer token the API routes require; `None`: every route is open.
    pub token: Option<String>,
    /// Time between `/sse` message events (overridable per request with `?interval_ms=`).
    pub sse_interval: Duration,
    /// Tools present at start (`demo-tool-1` ..).
    pub seed_tools: usize,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            token: Some("demo-token".into()),
            sse_interval: Duration::from_secs(1),
            seed_tools: 20,
        }
    }
}

/// Shared by every handler; cloning is one `Arc` clone.
#[derive(Clone)]
pub(crate) struct TargetState(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) cfg: TargetConfig,
    /// `Bearer <token>` as bytes, compared with the Authorization header as is.
    expected_auth: Option<Box<[u8]>>,
    pub(crate) catalog: catalog::Catalog,
    pub(crate) counters: stats::Counters,
    pub(crate) sessions: stream::Sessions,
    pub(crate) event_stream: stream::EventStreamCounts,
    pub(crate) broadcasts: broadcast::Broadcasts,
    pub(crate) stall: control::Stall,
    pub(crate) outage: control::Outage,
    /// The permits of `/capacity/{ms}`: a route of known capacity.
    pub(crate) capacity: tokio::sync::Semaphore,
    pub(crate) mcp: control::McpSessions,
    pub(crate) leak: Arc<leak::Leak>,
    pub(crate) shutdown: CancellationToken,
}

impl Deref for TargetState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The demo target's routes, for tests that drive it without a socket (`oneshot`). Streams
/// opened through this router end only when their client goes away; use [`serve`] or
/// [`spawn`] for a target that can be shut down.
pub fn router(cfg: TargetConfig) -> Router {
    build_router(cfg, CancellationToken::new())
}

fn build_router(cfg: TargetConfig, shutdown: CancellationToken) -> Router {
    let state = TargetState(Arc::new(Inner {
        expected_auth: cfg
            .token
            .as_ref()
            .map(|t| format!("Bearer {t}").into_bytes().into_boxed_slice()),
        catalog: catalog::Catalog::seeded(cfg.seed_tools),
        counters: stats::Counters::new(),
        sessions: stream::Sessions::default(),
        event_stream: stream::EventStreamCounts::default(),
        broadcasts: broadcast::Broadcasts::default(),
        stall: control::Stall::new(),
        outage: control::Outage::new(),
        capacity: tokio::sync::Semaphore::new(rest::CAPACITY_PERMITS),
        mcp: control::McpSessions::new(),
        leak: Arc::default(),
        shutdown,
        cfg,
    }));
    let api = Router::new()
        .merge(rest::router())
        .merge(admin::router())
        .route("/rpc", post(rpc::rpc))
        .route("/mcp", post(rpc::rpc).delete(rpc::delete_session))
        .route("/servers/{id}/mcp", post(rpc::rpc))
        .route("/protocol/initialize", post(rpc::protocol_initialize))
        .route("/protocol/ping", post(rpc::protocol_ping))
        .route("/sse", get(stream::sse))
        .route("/events", get(stream::events_stream))
        .route("/message", post(stream::message))
        .route("/ws", get(stream::ws))
        .route("/broadcast", post(broadcast::broadcast))
        .route("/broadcast/events", get(broadcast::events))
        .route("/broadcast/ws", get(broadcast::ws))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let open = Router::new()
        .route(
            "/health",
            get(|| async { Json(json!({"status": "healthy"})) }),
        )
        .route("/ready", get(|| async { Json(json!({"status": "ready"})) }))
        .route(
            "/version",
            get(|| async {
                Json(json!({"app": "hornet-demo-target", "version": env!("CARGO_PKG_VERSION")}))
            }),
        )
        .route("/openapi.json", get(openapi::openapi))
        .route("/delay/{ms}", get(rest::delay))
        .route("/capacity/{ms}", get(rest::capacity))
        .route("/status/{code}", get(rest::status))
        .route("/bytes/{n}", get(rest::bytes));
    Router::new()
        .merge(api)
        .merge(open)
        .route("/__stats", get(stats::get_stats))
        .route("/__stats/reset", post(stats::reset_stats))
        .route("/__stall", post(control::stall))
        .route("/__leak", post(leak::leak))
        .route("/__fail", post(control::fail))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            control::fail_during_outage,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            control::hold_while_stalled,
        ))
        // Outermost on every route, so 401s from `require_token` and stalled requests are
        // counted too (a stalled request counts when it arrives).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            stats::count_requests,
        ))
        // Both fallbacks count "<METHOD> (unmatched)"; route layers do not wrap them.
        .method_not_allowed_fallback(stats::method_not_allowed)
        .fallback(stats::not_found)
        .with_state(state)
}

/// Lets the request through only with `Authorization: Bearer <token>` (when a token is set).
async fn require_token(State(state): State<TargetState>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.expected_auth {
        let given = req.headers().get(header::AUTHORIZATION);
        // subtle's compare: a demo still should not teach a timing leak (length is not secret).
        let matches = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(&expected[..])));
        if !matches {
            return unauthorized();
        }
    }
    next.run(req).await
}

fn unauthorized() -> Response {
    let mut response = json_error(StatusCode::UNAUTHORIZED, "Not authenticated");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// `{"detail": ...}` with `status`, the gateway's (FastAPI's) error shape.
pub(crate) fn json_error(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

/// A body with an explicit content type (HTML, Prometheus text, pre-serialized JSON).
pub(crate) fn typed_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) const JSON: &str = "application/json";
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// Serves on `listener` until `shutdown` is cancelled; open SSE and WebSocket streams end with
/// it, so the graceful shutdown does not wait for them.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: TargetConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = build_router(cfg, shutdown.clone());
    // Without TCP_NODELAY a second small write (the next WebSocket reply, SSE event) waits
    // for the client's delayed ACK: ~40 ms that would be the target's, not the system's.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        // Best effort: a socket that refuses it still serves.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// A demo target serving in a background task; stops when dropped.
pub struct RunningTarget {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningTarget {
    /// `http://IP:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts the target down and waits (up to 5 s) for open connections to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            // An I/O error while shutting down changes nothing for the caller.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for RunningTarget {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Binds `addr` (port 0: a free port chosen by the OS) and serves in a spawned task.
pub async fn spawn(addr: &str, cfg: TargetConfig) -> std::io::Result<RunningTarget> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, cfg, shutdown.clone()));
    Ok(RunningTarget {
        addr,
        shutdown,
        task: Some(task),
    })
}

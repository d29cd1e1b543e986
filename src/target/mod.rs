//! The built-in demo target (`hornet target`): an imitation of the MCP Gateway's REST, JSON-RPC,
//! SSE, WebSocket and admin routes, so that shipped plans work with zero setup, plus test helpers
//! (`/delay`, `/status`, `/bytes`) and `/__stats`, the count of requests served per route that
//! end-to-end tests compare Hornet's numbers with. Counting is lock-free (pre-built atomics).

mod rest;
mod rpc;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
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
    /// Bearer token the API routes require; None: open.
    pub token: Option<String>,
    /// Time between `/sse` message events (overridable per request with `?interval_ms=`).
    pub sse_interval: Duration,
    /// Tools present at start.
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

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) cfg: Arc<TargetConfig>,
    pub(crate) tools: Arc<Mutex<Vec<rest::Tool>>>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) sessions: stream::Sessions,
    pub(crate) shutdown: CancellationToken,
}

/// Requests served per "METHOD /route": the map is built once and only read; counts are atomic.
pub(crate) struct Counters {
    routes: HashMap<String, AtomicU64>,
    unmatched: AtomicU64,
}

/// Every (method, route) the target serves, for the counters.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/version"),
    ("GET", "/tools"),
    ("POST", "/tools"),
    ("GET", "/tools/{id}"),
    ("DELETE", "/tools/{id}"),
    ("POST", "/tools/{id}/state"),
    ("GET", "/servers"),
    ("GET", "/servers/{id}"),
    ("GET", "/servers/{id}/tools"),
    ("GET", "/servers/{id}/resources"),
    ("GET", "/gateways"),
    ("GET", "/gateways/{id}"),
    ("GET", "/resources"),
    ("GET", "/resources/{id}"),
    ("GET", "/prompts"),
    ("GET", "/prompts/{id}"),
    ("GET", "/tags"),
    ("GET", "/roots"),
    ("GET", "/a2a"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/admin/"),
    ("GET", "/admin/tools"),
    ("GET", "/admin/tools/partial"),
    ("GET", "/admin/resources/partial"),
    ("GET", "/admin/prompts/partial"),
    ("GET", "/admin/users/partial"),
    ("GET", "/admin/teams"),
    ("POST", "/rpc"),
    ("POST", "/protocol/initialize"),
    ("POST", "/protocol/ping"),
    ("GET", "/sse"),
    ("POST", "/message"),
    ("GET", "/ws"),
    ("GET", "/delay/{ms}"),
    ("GET", "/status/{code}"),
    ("GET", "/bytes/{n}"),
];

impl Counters {
    fn new() -> Counters {
        Counters {
            routes: ROUTES
                .iter()
                .map(|(m, p)| (format!("{m} {p}"), AtomicU64::new(0)))
                .collect(),
            unmatched: AtomicU64::new(0),
        }
    }

    fn count(&self, method: &Method, route: Option<&str>) {
        let counter = route.and_then(|r| {
            // "GET /tools" without allocating: look up by the pre-built key's parts.
            self.routes
                .iter()
                .find(|(k, _)| {
                    k.len() == method.as_str().len() + 1 + r.len()
                        && k.starts_with(method.as_str())
                        && k.ends_with(r)
                })
                .map(|(_, c)| c)
        });
        counter
            .unwrap_or(&self.unmatched)
            .fetch_add(1, Ordering::Relaxed);
    }

    fn to_json(&self) -> serde_json::Value {
        let mut routes = serde_json::Map::new();
        let mut total = 0;
        for (k, c) in &self.routes {
            let n = c.load(Ordering::Relaxed);
            total += n;
            if n > 0 {
                routes.insert(k.clone(), json!(n));
            }
        }
        let unmatched = self.unmatched.load(Ordering::Relaxed);
        total += unmatched;
        if unmatched > 0 {
            routes.insert("(unmatched)".into(), json!(unmatched));
        }
        json!({ "total": total, "routes": routes })
    }

    fn reset(&self) {
        for c in self.routes.values() {
            c.store(0, Ordering::Relaxed);
        }
        self.unmatched.store(0, Ordering::Relaxed);
    }
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    if !route.as_deref().is_some_and(|r| r.starts_with("/__stats")) {
        state.counters.count(req.method(), route.as_deref());
    }
    next.run(req).await
}

/// The 401 response, unless the request carries the configured bearer token.
pub(crate) fn unauthorized(state: &AppState, headers: &axum::http::HeaderMap) -> Option<Response> {
    let Some(token) = &state.cfg.token else {
        return None;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    (given != Some(token.as_str())).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"detail": "Not authenticated"})),
        )
            .into_response()
    })
}

pub fn router(cfg: TargetConfig) -> Router {
    router_with_shutdown(cfg, CancellationToken::new())
}

fn router_with_shutdown(cfg: TargetConfig, shutdown: CancellationToken) -> Router {
    let state = AppState {
        tools: Arc::new(Mutex::new(rest::seed_tools(cfg.seed_tools))),
        cfg: Arc::new(cfg),
        counters: Arc::new(Counters::new()),
        sessions: stream::Sessions::default(),
        shutdown,
    };
    Router::new()
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
        .merge(rest::router())
        .route("/rpc", post(rpc::rpc))
        .route("/protocol/initialize", post(rpc::protocol_initialize))
        .route("/protocol/ping", post(rpc::protocol_ping))
        .route("/sse", get(stream::sse))
        .route("/message", post(stream::message))
        .route("/ws", get(stream::ws))
        .route("/delay/{ms}", get(rest::delay))
        .route("/status/{code}", get(rest::status))
        .route("/bytes/{n}", get(rest::bytes))
        .route("/__stats", get(get_stats))
        .route("/__stats/reset", post(reset_stats).delete(reset_stats))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .fallback(unmatched)
        .with_state(state)
}

async fn unmatched(State(state): State<AppState>) -> Response {
    state.counters.unmatched.fetch_add(1, Ordering::Relaxed);
    (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response()
}

async fn get_stats(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.counters.to_json())
}

async fn reset_stats(State(state): State<AppState>) -> StatusCode {
    state.counters.reset();
    StatusCode::NO_CONTENT
}

/// Serves on `listener` until `shutdown` is cancelled; open streams end with it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: TargetConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router_with_shutdown(cfg, shutdown.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// A demo target serving in the background; stops when dropped.
pub struct RunningTarget {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningTarget {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            // A server error at shutdown changes nothing for the caller.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for RunningTarget {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Binds `addr` (port 0: any free port) and serves in a spawned task.
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

pub(crate) fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

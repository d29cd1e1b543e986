//! `/__stats`: requests served per (method, route pattern), counted by a middleware into a map
//! built once at start and only read afterwards (one relaxed atomic add per request, no lock,
//! no allocation). Unmatched paths and methods count under `"<METHOD> (unmatched)"`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{json_error, TargetState};

/// Every (method, route) the target serves except `/__stats*`; must match the routers. `HEAD`
/// twins of the `GET` routes are added at start (axum answers HEAD with the GET handler).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/version"),
    ("GET", "/tools"),
    ("POST", "/tools"),
    ("GET", "/tools/{id}"),
    ("DELETE", "/tools/{id}"),
    ("POST", "/tools/{id}/state"),
    ("GET", "/servers"),
    ("POST", "/servers"),
    ("GET", "/servers/{id}"),
    ("DELETE", "/servers/{id}"),
    ("POST", "/servers/{id}/state"),
    ("GET", "/servers/{id}/tools"),
    ("GET", "/servers/{id}/resources"),
    ("GET", "/servers/{id}/prompts"),
    ("POST", "/servers/{id}/mcp"),
    ("GET", "/gateways"),
    ("GET", "/gateways/{id}"),
    ("POST", "/gateways/{id}/state"),
    ("GET", "/resources"),
    ("GET", "/resources/{id}"),
    ("POST", "/resources/{id}/state"),
    ("GET", "/prompts"),
    ("POST", "/prompts"),
    ("GET", "/prompts/{id}"),
    ("DELETE", "/prompts/{id}"),
    ("POST", "/prompts/{id}/state"),
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
    ("GET", "/admin/metrics/partial"),
    ("GET", "/admin/teams"),
    ("GET", "/admin/events"),
    ("GET", "/admin/performance/stats"),
    ("POST", "/rpc"),
    ("POST", "/mcp"),
    ("DELETE", "/mcp"),
    ("POST", "/protocol/initialize"),
    ("POST", "/protocol/ping"),
    ("GET", "/sse"),
    ("GET", "/events"),
    ("POST", "/message"),
    ("GET", "/ws"),
    ("POST", "/broadcast"),
    ("GET", "/broadcast/events"),
    ("GET", "/broadcast/ws"),
    ("GET", "/delay/{ms}"),
    ("GET", "/capacity/{ms}"),
    ("GET", "/status/{code}"),
    ("GET", "/bytes/{n}"),
];

const UNMATCHED: &str = "(unmatched)";

/// Methods that get their own "(unmatched)" counter; any other method counts as `OTHER`.
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

static OTHER: LazyLock<Method> = LazyLock::new(|| {
    Method::from_bytes(b"OTHER").unwrap_or(Method::GET) // a valid token: never the fallback
});

/// Requests served per (method, route pattern). The map is never written after `new`.
pub(crate) struct Counters {
    routes: HashMap<(Method, &'static str), AtomicU64>,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        let mut routes = HashMap::new();
        for (method, path) in ROUTES {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            if method == Method::GET {
                routes.insert((Method::HEAD, *path), AtomicU64::new(0));
            }
            routes.insert((method, *path), AtomicU64::new(0));
        }
        for method in METHODS.iter().chain([&*OTHER]) {
            routes.insert((method.clone(), UNMATCHED), AtomicU64::new(0));
        }
        Counters { routes }
    }

    fn count(&self, method: &Method, route: &str) {
        // The map is covariant in its key, so a short-lived `&str` looks up without allocating.
        let counter = self
            .routes
            .get(&(method.clone(), route))
            .or_else(|| self.routes.get(&(method.clone(), UNMATCHED)))
            .or_else(|| self.routes.get(&(OTHER.clone(), UNMATCHED)));
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_unmatched(&self, method: &Method) {
        self.count(method, UNMATCHED);
    }

    /// All requests counted so far.
    pub(crate) fn total(&self) -> u64 {
        self.routes
            .values()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    fn to_json(&self) -> Value {
        let mut routes = Map::new();
        let mut total = 0;
        for ((method, path), counter) in &self.routes {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                total += n;
                routes.insert(format!("{method} {path}"), json!(n));
            }
        }
        json!({ "total": total, "routes": routes })
    }

    fn reset(&self) {
        for counter in self.routes.values() {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Counts every request that reached a route (whatever its status), except `/__*`.
pub(crate) async fn count_requests(
    State(state): State<TargetState>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(route) = req.extensions().get::<MatchedPath>() {
        // `/__stats*` and `/__stall` are the test's controls, not load.
        if !route.as_str().starts_with("/__") {
            state.counters.count(req.method(), route.as_str());
        }
    }
    next.run(req).await
}

pub(crate) async fn not_found(State(state): State<TargetState>, method: Method) -> Response {
    state.counters.count_unmatched(&method);
    json_error(StatusCode::NOT_FOUND, "Not Found")
}

pub(crate) async fn method_not_allowed(
    State(state): State<TargetState>,
    method: Method,
) -> Response {
    state.counters.count_unmatched(&method);
    json_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

pub(crate) async fn get_stats(State(state): State<TargetState>) -> Json<Value> {
    let mut stats = state.counters.to_json();
    stats["mcp"] = state.mcp.to_json();
    stats["sse_open"] = json!(state.sessions.len());
    stats["event_stream"] = state.event_stream.to_json();
    stats["broadcast"] = state.broadcasts.to_json();
    Json(stats)
}

pub(crate) async fn reset_stats(State(state): State<TargetState>) -> impl IntoResponse {
    state.counters.reset();
    state.mcp.reset();
    state.event_stream.reset();
    state.broadcasts.reset();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_pattern_and_resets() {
        let counters = Counters::new();
        let pattern = String::from("/tools/{id}");
        counters.count(&Method::GET, &pattern);
        counters.count(&Method::GET, "/tools/{id}");
        counters.count(&Method::HEAD, "/tools");
        counters.count(&Method::PUT, "/tools");
        counters.count_unmatched(&Method::GET);
        let ext = Method::from_bytes(b"PURGE").expect("valid method");
        counters.count_unmatched(&ext);
        let v = counters.to_json();
        assert_eq!(v["total"], 6);
        assert_eq!(v["routes"]["GET /tools/{id}"], 2);
        assert_eq!(v["routes"]["HEAD /tools"], 1);
        assert_eq!(v["routes"]["PUT (unmatched)"], 1);
        assert_eq!(v["routes"]["GET (unmatched)"], 1);
        assert_eq!(v["routes"]["OTHER (unmatched)"], 1);
        counters.reset();
        assert_eq!(counters.to_json(), json!({"total": 0, "routes": {}}));
    }
}

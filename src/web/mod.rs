//! The HTTP edge: pages, the REST API, live events, assets. Thin adapters: extract, call the run
//! registry or the store, render. Every route passes the guard (`auth.rs`); `server.rs` is the
//! connection loop in front of it all (timeouts, connection caps, shutdown deadline).

pub mod agents;
pub mod api;
pub mod assets;
pub mod auth;
pub mod compare;
pub mod downloads;
pub mod error;
pub mod events;
pub mod import;
pub mod limiter;
pub mod locust;
pub mod metrics;
pub mod pages;
pub mod plan_cache;
pub mod server;
pub mod session;
pub mod state;
pub mod views;

use std::sync::atomic::Ordering;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyDeadlineLayer;

use crate::config::ServerLimits;
use state::AppState;

/// Request bodies above this are refused with 413 (the API takes small JSON documents).
pub const BODY_LIMIT: usize = 64 * 1024;

const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router(state: AppState, limits: &ServerLimits) -> Router {
    let small_bodies = Router::new()
        .merge(pages::router())
        .merge(api::router())
        .merge(assets::router())
        .merge(locust::router())
        .route("/metrics", get(metrics::get_metrics))
        .route("/api/agents", get(agents::agents_socket))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // A declared Content-Length above the limit gets 413 before anything waits for the
        // body (DefaultBodyLimit only notices once that much has been read).
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT));
    // Imports take a browser's HAR file: their own, larger limit.
    let imports = import::router()
        .layer(DefaultBodyLimit::max(import::IMPORT_BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(import::IMPORT_BODY_LIMIT));
    Router::new()
        .merge(small_bodies)
        .merge(imports)
        // The default predicate leaves event streams, images and tiny bodies alone.
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            state.guard.clone(),
            auth::guard,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // A body must arrive whole within the deadline, however slowly it trickles (an idle
        // timeout alone lets one byte a second hold a request for a day).
        .layer(RequestBodyDeadlineLayer::new(limits.body_read_timeout))
        // Outermost: no route takes more than the import limit.
        .layer(RequestBodyLimitLayer::new(import::IMPORT_BODY_LIMIT))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready once the database is open and the plans were read.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.store.ping().await.is_ok();
    let plans = state.ready.load(Ordering::SeqCst);
    let status = if db && plans {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": db, "plans": plans, "ready": db && plans })),
    )
}

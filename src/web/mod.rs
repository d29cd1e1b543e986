//! The HTTP edge: pages, the REST API, live events, assets. Thin adapters: extract, call the run
//! registry or the store, render. Every route passes the guard (`auth.rs`).

pub mod api;
pub mod assets;
pub mod auth;
pub mod compare;
pub mod error;
pub mod events;
pub mod locust;
pub mod metrics;
pub mod pages;
pub mod state;
pub mod views;

use std::sync::atomic::Ordering;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use state::AppState;

/// Request bodies above this are refused with 413 (the API takes small JSON documents).
pub const BODY_LIMIT: usize = 64 * 1024;

const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(pages::router())
        .merge(api::router())
        .merge(assets::router())
        .merge(locust::router())
        .route("/metrics", get(metrics::get_metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/login", get(auth::login_form).post(auth::login))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // The default predicate leaves event streams, images and tiny bodies alone.
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
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

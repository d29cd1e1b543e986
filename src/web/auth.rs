//! Who may talk to the server (SPEC §7): the `Host` header must name this server (DNS
//! rebinding), state-changing requests must come from this origin (no cross-site POST, PATCH,
//! or Locust's `GET /stop`), and with a token every request needs `Authorization: Bearer` or the
//! login cookie. Health probes and static assets stay open.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::state::AppState;

const COOKIE: &str = "hornet_session";

/// The server's own names and its token.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `host:port` values the Host header may carry; empty: any (non-loopback bind with a token).
    hosts: Vec<String>,
    token: Option<String>,
    /// The cookie value a login sets: a hash of the token, so the cookie never holds it.
    session: Option<String>,
}

impl Guard {
    /// For a server listening on `port` of `bind_host` (as given, e.g. `127.0.0.1`, `localhost`,
    /// `0.0.0.0`).
    pub fn new(bind_host: &str, port: u16, token: Option<String>) -> Guard {
        let bind_host = bind_host.trim_start_matches('[').trim_end_matches(']');
        let unspecified = bind_host == "0.0.0.0" || bind_host == "::";
        let hosts = if unspecified && token.is_some() {
            Vec::new()
        } else {
            let mut names = vec![
                "127.0.0.1".to_string(),
                "localhost".to_string(),
                "[::1]".to_string(),
            ];
            if !unspecified {
                let own = if bind_host.contains(':') {
                    format!("[{bind_host}]")
                } else {
                    bind_host.to_string()
                };
                if !names.contains(&own) {
                    names.push(own);
                }
            }
            names.into_iter().map(|n| format!("{n}:{port}")).collect()
        };
        let session = token.as_ref().map(|t| session_value(t));
        Guard {
            hosts,
            token,
            session,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        match origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        {
            Some(host) => self.host_allowed(host.trim_end_matches('/')),
            None => false,
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|b| constant_time_eq(b.as_bytes(), token.as_bytes())) {
            return true;
        }
        let session = self.session.as_deref().unwrap_or_default();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && constant_time_eq(v.as_bytes(), session.as_bytes()))
    }
}

fn session_value(token: &str) -> String {
    let digest = Sha256::digest(format!("hornet-session\0{token}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request changes state (Locust's `GET /stop` included).
fn changes_state(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || path == "/stop"
        || path == "/stats/reset"
}

fn is_open(path: &str) -> bool {
    path == "/health" || path == "/ready" || path == "/login" || path.starts_with("/static/")
}

/// The middleware in front of every route.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let guard = &state.guard;
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if !guard.host_allowed(host) {
        return ApiError {
            status: StatusCode::MISDIRECTED_REQUEST,
            code: "unknown_host",
            message: format!(
                "this server does not answer to Host {host:?}; use the address it printed"
            ),
            field: None,
        }
        .into_response();
    }
    let path = req.uri().path();
    if changes_state(req.method(), path) {
        let site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        let origin_ok = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|o| guard.origin_allowed(o));
        if !matches!(site, "same-origin" | "none") || !origin_ok {
            return ApiError::forbidden(
                "cross_site",
                "cross-site requests may not change anything here",
            )
            .into_response();
        }
    }
    if !is_open(path) && !guard.authorized(headers) {
        let wants_html = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        if wants_html && req.method() == Method::GET {
            return Redirect::to("/login").into_response();
        }
        return ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "a token is required: send Authorization: Bearer TOKEN".into(),
            field: None,
        }
        .into_response();
    }
    next.run(req).await
}

#[derive(askama::Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Hornet — log in</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="login"><h1>Hornet</h1>{% if failed %}<p class="error">That token is not right.</p>{% endif %}
<form method="post" action="/login"><label>Token <input type="password" name="token" autofocus required></label> <button type="submit">Log in</button></form></main></body></html>"#
)]
struct LoginPage {
    failed: bool,
}

pub async fn login_form() -> Response {
    render_login(false, StatusCode::OK)
}

fn render_login(failed: bool, status: StatusCode) -> Response {
    match askama::Template::render(&LoginPage { failed }) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let guard = &state.guard;
    match (&guard.token, &guard.session) {
        (Some(token), Some(session))
            if constant_time_eq(form.token.as_bytes(), token.as_bytes()) =>
        {
            let cookie = format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        (None, _) => Redirect::to("/").into_response(),
        _ => render_login(true, StatusCode::UNAUTHORIZED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_guard_knows_its_names_only() {
        let g = Guard::new("127.0.0.1", 8089, None);
        assert!(g.host_allowed("127.0.0.1:8089"));
        assert!(g.host_allowed("localhost:8089"));
        assert!(g.host_allowed("[::1]:8089"));
        assert!(!g.host_allowed("evil.example:8089"));
        assert!(!g.host_allowed("127.0.0.1:9999"));
        assert!(g.origin_allowed("http://localhost:8089"));
        assert!(!g.origin_allowed("http://evil.example"));
        assert!(!g.origin_allowed("null"));
    }

    #[test]
    fn any_host_with_a_token_on_all_interfaces() {
        let g = Guard::new("0.0.0.0", 8089, Some("s3cret".into()));
        assert!(g.host_allowed("hornet.internal:8089"));
        let mut h = HeaderMap::new();
        assert!(!g.authorized(&h));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(g.authorized(&h));
        let mut c = HeaderMap::new();
        let cookie = format!("a=b; {COOKIE}={}", session_value("s3cret"));
        c.insert(header::COOKIE, cookie.parse().unwrap());
        assert!(g.authorized(&c));
        c.insert(header::COOKIE, format!("{COOKIE}=wrong").parse().unwrap());
        assert!(!g.authorized(&c));
    }

    #[test]
    fn stop_and_writes_change_state() {
        assert!(changes_state(&Method::POST, "/api/runs"));
        assert!(changes_state(&Method::GET, "/stop"));
        assert!(!changes_state(&Method::GET, "/api/runs"));
    }
}

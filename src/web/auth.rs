//! Who may talk to the server (SPEC §7): the `Host` header must name this server (DNS
//! rebinding), state-changing requests must come from this origin (no cross-site POST, PATCH,
//! or Locust's `GET /stop`), and with a token every request needs `Authorization: Bearer` or a
//! login session's cookie. Health probes, static assets, login and logout stay open.
//!
//! Guessing the token is braked per client IP (`limiter.rs`). What counts as a guess: a bearer
//! token or a login form. A request with no credentials guesses nothing and costs nothing, so an
//! unauthenticated flood locks nobody out. A session cookie is 256 random bits, not worth
//! guessing, so a session is honoured even while its IP is blocked (a browser behind the same
//! NAT as a guesser keeps working) and an unknown cookie (e.g. from before a restart) is not a
//! failure. While an IP is blocked its bearer and login attempts get 429 without the token being
//! looked at — the right token too: answering it would make the block an oracle.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::limiter::{Attempt, AttemptLimiter, ClientKey, Refused};
use super::session::Sessions;
use crate::config::ServerLimits;

const COOKIE: &str = "hornet_session";

tokio::task_local! {
    /// Set while a request authenticated by a session is handled: pages then offer "Log out".
    /// A task-local, not a field, because every page (and the error page, built far from any
    /// request) extends the one base template.
    static SIGNED_IN: bool;
}

/// Whether the request being handled came with a live login session (templates ask).
pub fn signed_in() -> bool {
    SIGNED_IN.try_with(|v| *v).unwrap_or(false)
}

/// The server's own names, its token (as a digest) and its sessions.
pub struct Guard {
    /// `host:port` values the Host header may carry; empty: any (non-loopback bind with a token).
    hosts: Vec<String>,
    /// SHA-256 of the token: comparing digests in constant time leaks neither content nor length.
    token: Option<[u8; 32]>,
    sessions: Sessions,
    limiter: AttemptLimiter,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("hosts", &self.hosts)
            .field("token", &self.token.map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// What a request's credentials turned out to be.
enum Credentials {
    /// No token is configured.
    NotNeeded,
    Session {
        id: String,
        refresh_cookie: bool,
    },
    Bearer,
    /// None given (or only a cookie of no live session: `stale_cookie`).
    Missing {
        stale_cookie: bool,
    },
    Wrong(Attempt),
    Refused(Refused),
}

impl Guard {
    /// For a server listening on `port` of `bind_host` (as given, e.g. `127.0.0.1`, `localhost`,
    /// `0.0.0.0`).
    pub fn new(bind_host: &str, port: u16, token: Option<&str>, limits: &ServerLimits) -> Guard {
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
        Guard {
            hosts,
            token: token.map(digest),
            sessions: Sessions::new(limits),
            limiter: AttemptLimiter::new(limits),
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

    fn token_matches(&self, given: &str) -> bool {
        self.token
            .is_some_and(|t| constant_time_eq(&digest(given), &t))
    }

    fn credentials(&self, headers: &HeaderMap, client: ClientKey, now: Instant) -> Credentials {
        if self.token.is_none() {
            return Credentials::NotNeeded;
        }
        let cookie = session_cookie(headers);
        if let Some(id) = cookie {
            if let Some(t) = self.sessions.touch(id, now) {
                return Credentials::Session {
                    id: id.to_string(),
                    refresh_cookie: t.refresh_cookie,
                };
            }
        }
        let Some(auth) = headers.get(header::AUTHORIZATION) else {
            return Credentials::Missing {
                stale_cookie: cookie.is_some(),
            };
        };
        let attempt = match self.limiter.check(client, now) {
            Ok(attempt) => attempt,
            Err(refused) => return Credentials::Refused(refused),
        };
        let bearer = auth.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|b| self.token_matches(b)) {
            self.limiter.succeeded(client, attempt);
            Credentials::Bearer
        } else {
            Credentials::Wrong(attempt)
        }
    }

    /// Records a wrong token from `client` and logs it (never the token).
    fn failed(&self, client: ClientKey, attempt: Attempt, what: &'static str, now: Instant) {
        match self.limiter.failed(client, attempt, now) {
            Some(block) => tracing::warn!(
                peer = %client,
                attempt = what,
                block_s = block.as_secs_f64(),
                "wrong token; too many from this client, its attempts are refused for a while"
            ),
            None => tracing::warn!(peer = %client, attempt = what, "wrong token"),
        }
    }
}

fn refused_log(client: ClientKey, what: &'static str, r: &Refused) {
    if let Some(count) = r.log {
        tracing::warn!(
            peer = %client,
            attempt = what,
            refused = count,
            retry_after_s = retry_after_secs(r.retry_after),
            "token attempts refused: too many failures from this client"
        );
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Equal digests, compared in constant time (`subtle`: the compiler may not shortcut it).
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

fn set_cookie(id: &str, max_age: Duration) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        max_age.as_secs()
    ))
    .ok()
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("hornet_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Whole seconds to wait, rounded up (a `Retry-After: 0` would invite an immediate retry).
fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn too_many_attempts(r: &Refused) -> Response {
    let secs = retry_after_secs(r.retry_after);
    (
        [(header::RETRY_AFTER, secs.to_string())],
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "too_many_attempts",
            message: format!("too many wrong tokens from this address; try again in {secs} s"),
            field: None,
        },
    )
        .into_response()
}

/// The client's IP as the connection saw it (the server loop records it); unspecified when a
/// request did not come through it (a router called directly).
fn client_of(req: &Request) -> ClientKey {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    ClientKey::of(ip)
}

/// Whether the request changes state (Locust's `GET /stop` included).
fn changes_state(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || path == "/stop"
        || path == "/stats/reset"
}

fn is_open(path: &str) -> bool {
    path == "/health"
        || path == "/ready"
        || path == "/login"
        || path == "/logout"
        || path.starts_with("/static/")
        // Agents present their own token, checked by the socket's handler.
        || path == "/api/agents"
}

/// The middleware in front of every route.
pub async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
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
    if is_open(path) {
        return next.run(req).await;
    }
    let client = client_of(&req);
    let now = Instant::now();
    match guard.credentials(headers, client, now) {
        Credentials::NotNeeded | Credentials::Bearer => next.run(req).await,
        Credentials::Session { id, refresh_cookie } => {
            let mut resp = SIGNED_IN.scope(true, next.run(req)).await;
            if refresh_cookie {
                if let Some(v) = set_cookie(&id, guard.sessions.idle()) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Credentials::Refused(r) => {
            refused_log(client, "bearer", &r);
            too_many_attempts(&r)
        }
        Credentials::Wrong(attempt) => {
            guard.failed(client, attempt, "bearer", now);
            unauthorized(&req, false)
        }
        Credentials::Missing { stale_cookie } => unauthorized(&req, stale_cookie),
    }
}

fn unauthorized(req: &Request, clear: bool) -> Response {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let mut resp = if wants_html && req.method() == Method::GET {
        Redirect::to("/login").into_response()
    } else {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "a token is required: send Authorization: Bearer TOKEN".into(),
            field: None,
        }
        .into_response()
    };
    if clear {
        resp.headers_mut()
            .append(header::SET_COOKIE, clear_cookie());
    }
    resp
}

#[derive(askama::Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Hornet — log in</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="login"><h1>Hornet</h1>{% if let Some(wait) = retry_after %}<p class="error">Too many wrong tokens from this address; try again in {{ wait }} s.</p>{% else if failed %}<p class="error">That token is not right.</p>{% endif %}
<form method="post" action="/login"><label>Token <input type="password" name="token" autofocus required></label> <button type="submit">Log in</button></form></main></body></html>"#
)]
struct LoginPage {
    failed: bool,
    retry_after: Option<u64>,
}

pub async fn login_form() -> Response {
    render_login(
        LoginPage {
            failed: false,
            retry_after: None,
        },
        StatusCode::OK,
    )
}

fn render_login(page: LoginPage, status: StatusCode) -> Response {
    match askama::Template::render(&page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(State(guard): State<Arc<Guard>>, req: Request) -> Response {
    if guard.token.is_none() {
        return Redirect::to("/").into_response();
    }
    let client = client_of(&req);
    let now = Instant::now();
    let attempt = match guard.limiter.check(client, now) {
        Ok(attempt) => attempt,
        Err(r) => return refused_login(client, &r),
    };
    let form = match Form::<LoginForm>::from_request(req, &()).await {
        Ok(Form(form)) => form,
        Err(rejection) => {
            // Not an attempt after all: give its unit back.
            guard.limiter.succeeded(client, attempt);
            return rejection.into_response();
        }
    };
    if !guard.token_matches(&form.token) {
        guard.failed(client, attempt, "login", now);
        return render_login(
            LoginPage {
                failed: true,
                retry_after: None,
            },
            StatusCode::UNAUTHORIZED,
        );
    }
    guard.limiter.succeeded(client, attempt);
    let id = guard.sessions.create(now);
    tracing::info!(peer = %client, "logged in");
    match set_cookie(&id, guard.sessions.idle()) {
        Some(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response(),
        None => ApiError::internal(&"session cookie is not a header value").into_response(),
    }
}

/// The login page with status 429 and Retry-After (a form, so HTML, not the API's JSON).
fn refused_login(client: ClientKey, r: &Refused) -> Response {
    refused_log(client, "login", r);
    let secs = retry_after_secs(r.retry_after);
    let mut resp = render_login(
        LoginPage {
            failed: true,
            retry_after: Some(secs),
        },
        StatusCode::TOO_MANY_REQUESTS,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// `POST /logout`: ends the session of the cookie (if any) and clears the cookie.
pub async fn logout(State(guard): State<Arc<Guard>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        guard.sessions.remove(id);
    }
    let to = if guard.token.is_some() { "/login" } else { "/" };
    ([(header::SET_COOKIE, clear_cookie())], Redirect::to(to)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(bind: &str, token: Option<&str>) -> Guard {
        Guard::new(bind, 8089, token, &ServerLimits::default())
    }

    #[test]
    fn loopback_guard_knows_its_names_only() {
        let g = guard("127.0.0.1", None);
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
        let g = guard("0.0.0.0", Some("s3cret"));
        let c = ClientKey::of(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let now = Instant::now();
        assert!(g.host_allowed("hornet.internal:8089"));
        let mut h = HeaderMap::new();
        assert!(matches!(
            g.credentials(&h, c, now),
            Credentials::Missing {
                stale_cookie: false
            }
        ));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(matches!(g.credentials(&h, c, now), Credentials::Bearer));
        h.insert(header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert!(matches!(g.credentials(&h, c, now), Credentials::Wrong(_)));
        let id = g.sessions.create(now);
        let mut c2 = HeaderMap::new();
        c2.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={id}").parse().unwrap(),
        );
        assert!(matches!(
            g.credentials(&c2, c, now),
            Credentials::Session { .. }
        ));
        c2.insert(header::COOKIE, format!("{COOKIE}=wrong").parse().unwrap());
        assert!(matches!(
            g.credentials(&c2, c, now),
            Credentials::Missing { stale_cookie: true }
        ));
    }

    #[test]
    fn stop_and_writes_change_state() {
        assert!(changes_state(&Method::POST, "/api/runs"));
        assert!(changes_state(&Method::GET, "/stop"));
        assert!(!changes_state(&Method::GET, "/api/runs"));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}

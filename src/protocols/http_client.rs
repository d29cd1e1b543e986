//! The HTTP/1.1 client of one virtual user: its own keep-alive connection and its own cookies
//! (Locust's HttpUser semantics). Requests go over [`super::h1`], driven in the user's own task
//! (no task or channel per connection); long-lived streams (SSE) use hyper on a connection of
//! their own. Measured on the project's 2-core machine kind: reqwest per user ~23 KiB/user and
//! ~80 k requests per CPU-second; hyper's client ~17 KiB; the user's own HTTP/1.1 roughly halved
//! the generator's user CPU per request again (bench/README.md).
//!
//! Everything expensive is built once per run in [`HttpShared`] and shared: the rustls config
//! (root store, verifier, crypto provider — built lazily on the first `https` connection) and
//! the resolver cache. A user holds at most one connection (to the origin it last used).
//! This file owns connections, cookies and the MCP session of a user; it knows nothing of
//! steps, checks or samples.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, HOST, LOCATION, SET_COOKIE, USER_AGENT,
};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::either::Either;
use tokio_util::task::AbortOnDropHandle;

use super::h1::{BodyRead, H1Conn, H1Error, ResponseHead};

/// Size of hyper's read buffer per stream connection (SSE): fixed instead of hyper's adaptive
/// 8 KiB+, so that a user holding a stream stays small.
const READ_BUF_BYTES: usize = 4096;
/// Redirects followed per request, as Locust's clients do.
const MAX_REDIRECTS: usize = 5;
/// The MCP Streamable HTTP session header (`initialize` returns it; later requests send it).
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL {0:?}: {1}")]
    Url(String, String),
    #[error("unsupported URL scheme {0:?} (expected http or https)")]
    Scheme(String),
    #[error("DNS lookup of {0} failed: {1}")]
    Resolve(String, std::io::Error),
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Protocol(#[from] hyper::Error),
    #[error(transparent)]
    H1(#[from] H1Error),
    #[error("invalid request: {0}")]
    Request(#[from] http::Error),
    #[error("too many redirects (more than {MAX_REDIRECTS})")]
    TooManyRedirects,
}

/// Where a connection goes: scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The `Host` header value (port omitted when it is the scheme's default).
    fn host_header(&self) -> String {
        let default_port = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.host_header())
    }

    /// `ws://host:port` or `wss://host:port` (the WebSocket URL of this origin).
    pub fn ws_base_url(&self) -> String {
        let scheme = if self.https { "wss" } else { "ws" };
        format!("{scheme}://{}", self.host_header())
    }
}

/// A parsed absolute target: origin plus the origin-form request target (`/path?query`).
#[derive(Clone, Debug)]
pub struct Target {
    pub origin: Arc<OriginInfo>,
    pub path_and_query: String,
}

/// An origin with its precomputed `Host` header.
#[derive(Debug)]
pub struct OriginInfo {
    pub origin: Origin,
    host_header: HeaderValue,
}

impl OriginInfo {
    pub fn parse(base: &str) -> Result<Arc<OriginInfo>, HttpError> {
        let url =
            url::Url::parse(base).map_err(|e| HttpError::Url(base.to_string(), e.to_string()))?;
        Self::from_url(&url)
    }

    fn from_url(url: &url::Url) -> Result<Arc<OriginInfo>, HttpError> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(HttpError::Scheme(other.to_string())),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(HttpError::Url(url.to_string(), "no host".into())),
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let origin = Origin { https, host, port };
        let host_header = HeaderValue::from_str(&origin.host_header())
            .map_err(|e| HttpError::Url(url.to_string(), e.to_string()))?;
        Ok(Arc::new(OriginInfo {
            origin,
            host_header,
        }))
    }
}

impl Target {
    /// Joins a plan path to the run's base origin; an absolute `http(s)://` path overrides it,
    /// and so does a `ws(s)://` one (a WebSocket's origin is the http(s) one it upgrades from).
    pub fn join(base: &Arc<OriginInfo>, path: &str) -> Result<Target, HttpError> {
        let upgraded;
        let path = if let Some(rest) = path.strip_prefix("ws://") {
            upgraded = format!("http://{rest}");
            upgraded.as_str()
        } else if let Some(rest) = path.strip_prefix("wss://") {
            upgraded = format!("https://{rest}");
            upgraded.as_str()
        } else {
            path
        };
        if path.starts_with("http://") || path.starts_with("https://") {
            let url = url::Url::parse(path)
                .map_err(|e| HttpError::Url(path.to_string(), e.to_string()))?;
            return Ok(Target {
                origin: OriginInfo::from_url(&url)?,
                path_and_query: origin_form(&url),
            });
        }
        let path_and_query = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Target {
            origin: base.clone(),
            path_and_query,
        })
    }

    fn url(&self) -> Result<url::Url, HttpError> {
        let s = format!("{}{}", self.origin.origin.base_url(), self.path_and_query);
        url::Url::parse(&s).map_err(|e| HttpError::Url(s, e.to_string()))
    }
}

fn origin_form(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// What every user of a run shares: built once, cheap to clone (`Arc`).
pub struct HttpShared {
    tls: OnceLock<Result<tokio_rustls::TlsConnector, String>>,
    resolved: Mutex<HashMap<(String, u16), SocketAddr>>,
    user_agent: HeaderValue,
}

impl HttpShared {
    pub fn new() -> Arc<HttpShared> {
        Arc::new(HttpShared {
            tls: OnceLock::new(),
            resolved: Mutex::new(HashMap::new()),
            user_agent: HeaderValue::from_static(concat!("hornet/", env!("CARGO_PKG_VERSION"))),
        })
    }

    fn tls(&self) -> Result<tokio_rustls::TlsConnector, HttpError> {
        self.tls
            .get_or_init(build_tls)
            .clone()
            .map_err(HttpError::Tls)
    }

    async fn resolve(&self, origin: &Origin) -> Result<SocketAddr, HttpError> {
        let key = (origin.host.clone(), origin.port);
        // std Mutex: held for a map lookup only, never across an await.
        if let Some(addr) = self.resolved.lock().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(addr);
        }
        let addr = tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| HttpError::Resolve(origin.host.clone(), e))?
            .next()
            .ok_or_else(|| {
                HttpError::Resolve(
                    origin.host.clone(),
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
                )
            })?;
        if let Ok(mut m) = self.resolved.lock() {
            m.insert(key, addr);
        }
        Ok(addr)
    }
}

/// The TLS configuration of a run: system roots through the platform verifier, ring (it builds
/// in a fifth of aws-lc-rs's time, and a load generator's handshakes are not its bottleneck),
/// ALPN http/1.1. Built once (loading the roots is the ~100 KiB / ~2 ms part).
fn build_tls() -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| format!("loading the system certificate roots: {e}"))?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous() // only to plug in the platform verifier; certificates ARE verified
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// A response as the checks see it.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, when the caller asked to keep it; empty otherwise (and when over the limit).
    pub body: Bytes,
    /// Body bytes received (kept or not).
    pub body_len: u64,
    /// The body was to be kept but was larger than the limit: it was drained, not kept.
    pub over_limit: bool,
}

/// An outgoing request: everything but the origin's connection.
#[derive(Clone)]
pub struct Outgoing {
    pub method: Method,
    pub target: Target,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The user's own connection: HTTP/1.1 driven in the user's task ([`super::h1`]). The TLS
/// stream is boxed so that a plain-HTTP user carries a `TcpStream`, not ~1 KiB of TLS state.
struct Connection {
    origin: Origin,
    h1: H1Conn<Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>>,
}

/// A plain or TLS byte stream to an origin, for protocols that take over the connection
/// (WebSocket).
pub type RawStream =
    tokio_util::either::Either<TcpStream, tokio_rustls::client::TlsStream<TcpStream>>;

/// A response whose body is read by the caller as it arrives (SSE), on a connection of its own
/// that is closed when this is dropped.
pub struct StreamingResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: hyper::body::Incoming,
    _conn: AbortOnDropHandle<()>,
}

/// The MCP protocol version header: after `initialize`, every request carries the negotiated
/// version (MCP 2025-06-18, Streamable HTTP).
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// An MCP Streamable HTTP session: the server that `initialize` answered, its `Mcp-Session-Id`
/// (a stateless server gives none) and the protocol version it negotiated.
#[derive(Debug)]
struct McpSession {
    origin: Origin,
    id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
}

/// One virtual user's HTTP client.
pub struct UserHttp {
    shared: Arc<HttpShared>,
    conn: Option<Connection>,
    /// Allocated on the first `Set-Cookie`: most users of most plans never need one.
    cookies: Option<Box<cookie_store::CookieStore>>,
    /// The `Mcp-Session-Id` an `initialize` returned; sent on every later request of the user
    /// to the same origin. Boxed: 8 bytes for the users that never speak MCP.
    mcp_session: Option<Box<McpSession>>,
    /// The last JSON-RPC id this user sent (ids increase per user).
    rpc_id: u64,
    /// The user's request timer, moved on for each request (see [`UserHttp::send_within`]).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl UserHttp {
    pub fn new(shared: Arc<HttpShared>) -> UserHttp {
        UserHttp {
            shared,
            conn: None,
            cookies: None,
            mcp_session: None,
            rpc_id: 0,
            timer: None,
        }
    }

    /// The next JSON-RPC request id of this user: 1, 2, 3, ...
    pub fn next_rpc_id(&mut self) -> u64 {
        self.rpc_id += 1;
        self.rpc_id
    }

    /// Remembers the MCP session `origin` gave. Every later request of this user to that origin
    /// carries it, whatever its kind: rpc, sse and ws steps, and plain http steps, so that
    /// `{ delete = "/mcp" }` in `on_stop` ends the session without the plan naming the header
    /// (MCP Streamable HTTP: the client sends it on every request of the session). Requests to
    /// other origins never carry it: a session id is a credential of that server.
    /// The negotiated protocol version (`initialize`'s `result.protocolVersion`) goes out the
    /// same way as `MCP-Protocol-Version`.
    pub fn set_mcp_session(
        &mut self,
        origin: &Origin,
        id: Option<HeaderValue>,
        protocol_version: Option<HeaderValue>,
    ) {
        self.mcp_session = Some(Box::new(McpSession {
            origin: origin.clone(),
            id,
            protocol_version,
        }));
    }

    /// The MCP session id this user holds, whatever its origin.
    pub fn mcp_session(&self) -> Option<&HeaderValue> {
        self.mcp_session.as_deref().and_then(|s| s.id.as_ref())
    }

    /// Adds the MCP session's headers for a request to `origin` (the session id and protocol
    /// version), unless the step set them itself.
    fn add_mcp_headers(&self, origin: &Origin, headers: &mut HeaderMap) {
        let Some(session) = self.mcp_session.as_deref().filter(|s| s.origin == *origin) else {
            return;
        };
        for (name, value) in [
            (MCP_SESSION_ID, &session.id),
            (MCP_PROTOCOL_VERSION, &session.protocol_version),
        ] {
            if let Some(value) = value {
                if !headers.contains_key(&name) {
                    headers.insert(name, value.clone());
                }
            }
        }
    }

    /// Sends the request, follows redirects, reads the whole body, keeping at most `keep_body`
    /// bytes of it when set (a larger body is drained and flagged `over_limit`). The caller
    /// applies the timeout around this future.
    /// [`UserHttp::send`] within `timeout`; None when it ran out (the connection, mid-request,
    /// is then dropped). One timer per user, moved later for each request: tokio makes that an
    /// atomic store, where a new timer per request was a timer-wheel insert and removal under
    /// its lock (~10 % of the generator's user time in profiles).
    pub async fn send_within(
        &mut self,
        timeout: Duration,
        req: Outgoing,
        keep_body: Option<u64>,
        all_headers: bool,
    ) -> Option<Result<Response, HttpError>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut timer = match self.timer.take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let result = tokio::select! {
            biased;
            sent = self.send(req, keep_body, all_headers) => Some(sent),
            () = timer.as_mut() => None,
        };
        if result.is_none() {
            self.conn = None;
        }
        self.timer = Some(timer);
        result
    }

    /// `all_headers`: the caller reads the response headers (else only the client's own,
    /// `Set-Cookie` and `Location`, are kept).
    pub async fn send(
        &mut self,
        req: Outgoing,
        keep_body: Option<u64>,
        all_headers: bool,
    ) -> Result<Response, HttpError> {
        let Outgoing {
            mut method,
            mut target,
            headers,
            mut body,
        } = req;
        for _ in 0..=MAX_REDIRECTS {
            let resp = self
                .send_once(&method, &target, &headers, &body, keep_body, all_headers)
                .await?;
            if !resp.status.is_redirection() || resp.status == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let Some(location) = resp.headers.get(LOCATION).and_then(|v| v.to_str().ok()) else {
                return Ok(resp);
            };
            let next = target
                .url()?
                .join(location)
                .map_err(|e| HttpError::Url(location.to_string(), e.to_string()))?;
            if resp.status == StatusCode::SEE_OTHER
                || (matches!(
                    resp.status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND
                ) && method == Method::POST)
            {
                method = Method::GET;
                body = Bytes::new();
            }
            target = Target {
                origin: if next.host_str() == Some(target.origin.origin.host.as_str())
                    && next.port_or_known_default() == Some(target.origin.origin.port)
                    && (next.scheme() == "https") == target.origin.origin.https
                {
                    target.origin.clone()
                } else {
                    OriginInfo::from_url(&next)?
                },
                path_and_query: origin_form(&next),
            };
        }
        Err(HttpError::TooManyRedirects)
    }

    async fn send_once(
        &mut self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: &[u8],
        keep_body: Option<u64>,
        all_headers: bool,
    ) -> Result<Response, HttpError> {
        let head = self
            .dispatch(method, target, headers, body, all_headers)
            .await?;
        let read = self.read_body(keep_body).await?;
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body: read.kept,
            body_len: read.len,
            over_limit: read.over_limit,
        })
    }

    /// Sends one request on the user's connection (reconnecting if needed) and returns the
    /// response head; its body is read next, with [`UserHttp::read_body`] or
    /// [`UserHttp::next_body_chunk`].
    async fn dispatch(
        &mut self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: &[u8],
        all_headers: bool,
    ) -> Result<ResponseHead, HttpError> {
        let mut retried = false;
        loop {
            let origin = &target.origin.origin;
            let reused = self.has_connection_to(origin);
            if !reused {
                // Boxed: the connect future (TCP, TLS handshake) is large and rare; inline it
                // would make every user's future larger for its whole life.
                Box::pin(self.connect(origin)).await?;
            }
            self.encode_request(method, target, headers, body.len());
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            let no_body = *method == Method::HEAD;
            match conn.h1.exchange(body, no_body, all_headers).await {
                Ok(head) => {
                    if head.headers.contains_key(SET_COOKIE) {
                        self.store_cookies(&head.headers, target);
                    }
                    return Ok(head);
                }
                Err(e) => {
                    self.conn = None;
                    // A kept-alive connection the server closed while we were idle: retry once
                    // on a fresh one, as browsers and Locust's clients do.
                    if reused && !retried && e.is_stale_connection() {
                        retried = true;
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// Encodes the request head on the user's connection: `Host` and `User-Agent` unless the
    /// step sets them, the step's headers, `Content-Length` (always ours), the MCP session's
    /// headers unless the step sets them, and the jar's `Cookie` (instead of a step's).
    fn encode_request(
        &mut self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body_len: usize,
    ) {
        let cookie = if self.cookies.is_some() {
            self.cookie_header(target)
        } else {
            None
        };
        let session = self
            .mcp_session
            .as_deref()
            .filter(|s| s.origin == target.origin.origin);
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let h1 = &mut conn.h1;
        h1.start_request(method, &target.path_and_query);
        if !headers.contains_key(HOST) {
            h1.header(&HOST, &target.origin.host_header);
        }
        if !headers.contains_key(USER_AGENT) {
            h1.header(&USER_AGENT, &self.shared.user_agent);
        }
        for (name, value) in headers {
            let replaced = *name == CONTENT_LENGTH
                || *name == http::header::TRANSFER_ENCODING
                || (cookie.is_some() && *name == http::header::COOKIE);
            if !replaced {
                h1.header(name, value);
            }
        }
        if body_len > 0 || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            h1.header(&CONTENT_LENGTH, &HeaderValue::from(body_len));
        }
        if let Some(session) = session {
            for (name, value) in [
                (MCP_SESSION_ID, &session.id),
                (MCP_PROTOCOL_VERSION, &session.protocol_version),
            ] {
                if let Some(value) = value {
                    if !headers.contains_key(&name) {
                        h1.header(&name, value);
                    }
                }
            }
        }
        if let Some(cookie) = cookie {
            h1.header(&http::header::COOKIE, &cookie);
        }
    }

    /// Reads the rest of the current response's body, keeping at most `keep` bytes of it.
    pub async fn read_body(&mut self, keep: Option<u64>) -> Result<BodyRead, HttpError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(BodyRead::default());
        };
        match conn.h1.read_body(keep).await {
            Ok(read) => Ok(read),
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }

    /// The next piece of the current response's body as it arrives; None at its end.
    pub async fn next_body_chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        match conn.h1.next_chunk().await {
            Ok(chunk) => Ok(chunk),
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }

    /// Whether the current response's body has been read to its end.
    pub fn body_done(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.h1.body_done())
    }

    /// Sends the request on the user's connection and returns the head with the body unread,
    /// for a caller that reads it as it arrives (a JSON-RPC reply sent as `text/event-stream`)
    /// with [`UserHttp::next_body_chunk`] or [`UserHttp::read_body`]. Every header is kept.
    /// No redirects are followed. A caller that stops reading before the body's end leaves
    /// the connection to be replaced on the next request.
    pub async fn send_streaming(&mut self, req: Outgoing) -> Result<ResponseHead, HttpError> {
        self.dispatch(&req.method, &req.target, &req.headers, &req.body, true)
            .await
    }

    /// Sends the request on a new connection of its own and returns the head with the body
    /// unread (a long-lived stream: the user's own connection stays free for other requests).
    pub async fn open_stream(&mut self, req: Outgoing) -> Result<StreamingResponse, HttpError> {
        let origin = &req.target.origin.origin;
        let (mut sender, driver) = handshake(self.connect_raw(origin).await?).await?;
        let conn = AbortOnDropHandle::new(driver);
        let request = self.build_request(&req.method, &req.target, &req.headers, req.body)?;
        sender.ready().await?;
        let resp = sender.send_request(request).await?;
        let (parts, body) = resp.into_parts();
        if parts.headers.contains_key(SET_COOKIE) {
            self.store_cookies(&parts.headers, &req.target);
        }
        Ok(StreamingResponse {
            status: parts.status,
            headers: parts.headers,
            body,
            _conn: conn,
        })
    }

    /// A TCP (and TLS) connection to `origin`: the one way every connection of a user is
    /// opened, whether hyper drives it or the caller takes it over (a WebSocket).
    pub async fn connect_raw(&self, origin: &Origin) -> Result<RawStream, HttpError> {
        let addr = self.shared.resolve(origin).await?;
        let tcp = TcpStream::connect(addr).await.map_err(HttpError::Connect)?;
        // Requests are small and latency-sensitive; Nagle would add up to 40 ms.
        tcp.set_nodelay(true).map_err(HttpError::Connect)?;
        if !origin.https {
            return Ok(RawStream::Left(tcp));
        }
        let connector = self.shared.tls()?;
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        Ok(RawStream::Right(tls))
    }

    /// The headers every request of this user carries besides the step's: `Cookie` for the
    /// target and `Mcp-Session-Id` (for requests not built by hyper, e.g. a WebSocket upgrade).
    pub fn session_headers(&self, target: &Target, headers: &mut HeaderMap) {
        self.add_mcp_headers(&target.origin.origin, headers);
        if let Some(cookie) = self.cookie_header(target) {
            headers.insert(http::header::COOKIE, cookie);
        }
    }

    fn cookie_header(&self, target: &Target) -> Option<HeaderValue> {
        let jar = self.cookies.as_ref()?;
        let url = target.url().ok()?;
        let cookie: Vec<String> = jar
            .get_request_values(&url)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if cookie.is_empty() {
            return None;
        }
        HeaderValue::from_str(&cookie.join("; ")).ok()
    }

    /// Stores the `Set-Cookie`s of a response the caller received outside [`UserHttp::send`].
    pub fn remember_cookies(&mut self, headers: &HeaderMap, target: &Target) {
        if headers.contains_key(SET_COOKIE) {
            self.store_cookies(headers, target);
        }
    }

    /// Whether the user holds an open connection to `origin`.
    fn has_connection_to(&self, origin: &Origin) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| c.origin == *origin && c.h1.is_reusable())
    }

    /// Opens a new connection to `origin` as `self.conn` (dropping any other).
    async fn connect(&mut self, origin: &Origin) -> Result<(), HttpError> {
        self.conn = None;
        let io = match self.connect_raw(origin).await? {
            RawStream::Left(tcp) => Either::Left(tcp),
            RawStream::Right(tls) => Either::Right(Box::new(tls)),
        };
        self.conn = Some(Connection {
            origin: origin.clone(),
            h1: H1Conn::new(io),
        });
        Ok(())
    }

    fn build_request(
        &self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, HttpError> {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(target.path_and_query.as_str());
        if let Some(h) = builder.headers_mut() {
            h.reserve(headers.len() + 4);
            h.insert(HOST, target.origin.host_header.clone());
            h.insert(USER_AGENT, self.shared.user_agent.clone());
            for (name, value) in headers {
                h.insert(name, value.clone());
            }
            if !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
            self.add_mcp_headers(&target.origin.origin, h);
            if self.cookies.is_some() {
                if let Some(cookie) = self.cookie_header(target) {
                    h.insert(http::header::COOKIE, cookie);
                }
            }
        }
        Ok(builder.body(Full::new(body))?)
    }

    fn store_cookies(&mut self, headers: &HeaderMap, target: &Target) {
        let Ok(url) = target.url() else { return };
        let jar = self.cookies.get_or_insert_with(Default::default);
        for value in headers.get_all(SET_COOKIE) {
            if let Ok(s) = value.to_str() {
                // A cookie the jar refuses (bad domain, ...) is ignored, as browsers do.
                let _ = jar.parse(s, &url);
            }
        }
    }

    /// Drops the connection (a user that is stopped, or a timed-out request whose connection
    /// is in an unknown state).
    pub fn reset_connection(&mut self) {
        self.conn = None;
    }
}

/// An HTTP/1.1 handshake on `io` with the fixed read buffer, and the spawned task that drives
/// the connection. An error of the connection reaches its user through the next send or the
/// body being read.
async fn handshake<IO>(
    io: IO,
) -> Result<(http1::SendRequest<Full<Bytes>>, tokio::task::JoinHandle<()>), HttpError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.read_buf_exact_size(Some(READ_BUF_BYTES));
    let (sender, conn) = builder.handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, driver))
}

/// A request timeout as a failure message (stable text, so failures group).
pub fn timeout_message(timeout: Duration) -> String {
    format!(
        "timeout after {}",
        crate::plan::duration::format_duration(timeout)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(base: &str, path: &str) -> Target {
        Target {
            origin: OriginInfo::parse(base).expect("a valid base URL"),
            path_and_query: path.to_string(),
        }
    }

    #[test]
    fn the_mcp_session_goes_only_to_the_origin_that_gave_it() {
        let mut http = UserHttp::new(HttpShared::new());
        let mcp = target("http://127.0.0.1:8000", "/mcp");
        let send = |http: &UserHttp, t: &Target| {
            let req = http
                .build_request(&Method::DELETE, t, &HeaderMap::new(), Bytes::new())
                .expect("a request");
            req.headers().get(MCP_SESSION_ID).cloned()
        };
        assert_eq!(send(&http, &mcp), None);
        let version = HeaderValue::from_static("2025-06-18");
        http.set_mcp_session(
            &mcp.origin.origin,
            Some(HeaderValue::from_static("s-1")),
            Some(version.clone()),
        );
        assert_eq!(http.mcp_session(), Some(&HeaderValue::from_static("s-1")));
        let req = http
            .build_request(&Method::POST, &mcp, &HeaderMap::new(), Bytes::new())
            .expect("a request");
        assert_eq!(req.headers().get(MCP_PROTOCOL_VERSION), Some(&version));
        // Any request to that origin (a plain DELETE included) carries it...
        assert_eq!(
            send(&http, &target("http://127.0.0.1:8000", "/other")),
            Some(HeaderValue::from_static("s-1"))
        );
        // ...another port, host or scheme never does.
        for other in [
            "http://127.0.0.1:8001",
            "http://localhost:8000",
            "https://127.0.0.1:8000",
        ] {
            assert_eq!(send(&http, &target(other, "/mcp")), None, "{other}");
            let mut headers = HeaderMap::new();
            http.session_headers(&target(other, "/mcp"), &mut headers);
            assert!(!headers.contains_key(MCP_SESSION_ID), "{other}");
            assert!(!headers.contains_key(MCP_PROTOCOL_VERSION), "{other}");
        }
        // A header the step wrote wins.
        let mut own = HeaderMap::new();
        own.insert(MCP_SESSION_ID, HeaderValue::from_static("mine"));
        let req = http
            .build_request(&Method::POST, &mcp, &own, Bytes::new())
            .expect("a request");
        assert_eq!(req.headers()[MCP_SESSION_ID], "mine");
    }

    #[test]
    fn join_takes_absolute_ws_urls_to_their_own_origin() {
        let base = OriginInfo::parse("http://example.test:8090").expect("base");
        let t = Target::join(&base, "ws://127.0.0.1:4321/echo?x=1").expect("ws");
        let o = &t.origin.origin;
        assert_eq!(
            (o.https, o.host.as_str(), o.port),
            (false, "127.0.0.1", 4321)
        );
        assert_eq!(t.path_and_query, "/echo?x=1");
        let t = Target::join(&base, "wss://secure.test/ws").expect("wss");
        let o = &t.origin.origin;
        assert_eq!(
            (o.https, o.host.as_str(), o.port),
            (true, "secure.test", 443)
        );
        assert_eq!(t.origin.origin.ws_base_url(), "wss://secure.test");
        let t = Target::join(&base, "/ws").expect("relative");
        let o = &t.origin.origin;
        assert_eq!((o.host.as_str(), o.port), ("example.test", 8090));
        assert_eq!(t.path_and_query, "/ws");
    }
}

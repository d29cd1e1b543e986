//! The HTTP/1.1 client of one virtual user: its own keep-alive connection and its own cookies
//! (Locust's HttpUser semantics), on raw hyper `http1` so that an idle user costs kilobytes and
//! a request costs no more than hyper itself. Measured on the project's 2-core machine kind with
//! 2 000 idle users (one connection and one GET each): a lean reqwest client per user sharing one
//! TLS config ~23 KiB/user and ~80 k requests per CPU-second; raw hyper ~17 KiB and ~132 k.
//!
//! Everything expensive is built once per run in [`HttpShared`] and shared: the rustls config
//! (root store, verifier, crypto provider — built lazily on the first `https` connection) and
//! the resolver cache. A user holds at most one connection (to the origin it last used).
//! This file owns connections, cookies and the MCP session of a user; it knows nothing of
//! steps, checks or samples.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, HOST, LOCATION, SET_COOKIE, USER_AGENT,
};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::task::AbortOnDropHandle;

/// Size of hyper's read buffer per connection: fixed instead of hyper's adaptive 8 KiB+, so
/// that an idle user stays small (1 KiB was measured too, and not kept: bench/README.md).
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

/// The TLS configuration of a run: system roots through the platform verifier, aws-lc-rs, ALPN
/// http/1.1. Built once (loading the roots is the ~100 KiB / ~2 ms part).
fn build_tls() -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
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
pub struct Outgoing {
    pub method: Method,
    pub target: Target,
    pub headers: HeaderMap,
    pub body: Bytes,
}

struct Connection {
    origin: Origin,
    sender: http1::SendRequest<Full<Bytes>>,
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

/// An MCP Streamable HTTP session: the server that gave it and its `Mcp-Session-Id`.
#[derive(Debug)]
struct McpSession {
    origin: Origin,
    id: HeaderValue,
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
}

impl UserHttp {
    pub fn new(shared: Arc<HttpShared>) -> UserHttp {
        UserHttp {
            shared,
            conn: None,
            cookies: None,
            mcp_session: None,
            rpc_id: 0,
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
    pub fn set_mcp_session(&mut self, origin: &Origin, value: HeaderValue) {
        self.mcp_session = Some(Box::new(McpSession {
            origin: origin.clone(),
            id: value,
        }));
    }

    /// The MCP session id this user holds, whatever its origin.
    pub fn mcp_session(&self) -> Option<&HeaderValue> {
        self.mcp_session.as_deref().map(|s| &s.id)
    }

    /// The MCP session id to send to `origin`.
    fn mcp_session_for(&self, origin: &Origin) -> Option<&HeaderValue> {
        self.mcp_session
            .as_deref()
            .filter(|s| s.origin == *origin)
            .map(|s| &s.id)
    }

    /// Sends the request, follows redirects, reads the whole body, keeping at most `keep_body`
    /// bytes of it when set (a larger body is drained and flagged `over_limit`). The caller
    /// applies the timeout around this future.
    pub async fn send(
        &mut self,
        req: Outgoing,
        keep_body: Option<u64>,
    ) -> Result<Response, HttpError> {
        let Outgoing {
            mut method,
            mut target,
            headers,
            mut body,
        } = req;
        for _ in 0..=MAX_REDIRECTS {
            let resp = self
                .send_once(&method, &target, &headers, body.clone(), keep_body)
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
        body: Bytes,
        keep_body: Option<u64>,
    ) -> Result<Response, HttpError> {
        let resp = self.dispatch(method, target, headers, body).await?;
        self.read_response(resp, target, keep_body).await
    }

    /// Sends one request on the user's connection (reconnecting if needed) and returns the
    /// response head with its unread body.
    async fn dispatch(
        &mut self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<hyper::body::Incoming>, HttpError> {
        let mut retried = false;
        loop {
            let origin = &target.origin.origin;
            let reused = self.has_connection_to(origin);
            if !reused {
                // Boxed: the connect future (TCP, TLS handshake, hyper handshake) is large and
                // rare; inline it would make every user's future larger for its whole life.
                Box::pin(self.connect(origin)).await?;
            }
            let request = self.build_request(method, target, headers, body.clone())?;
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            let sent = match conn.sender.ready().await {
                Ok(()) => conn.sender.send_request(request).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    self.conn = None;
                    // A kept-alive connection the server closed while we were idle: retry once
                    // on a fresh one, as browsers and Locust's clients do.
                    if reused
                        && !retried
                        && (e.is_canceled() || e.is_closed() || e.is_incomplete_message())
                    {
                        retried = true;
                        continue;
                    }
                    return Err(HttpError::Protocol(e));
                }
            }
        }
    }

    /// Sends the request on the user's connection and returns the head with the body unread,
    /// for a caller that reads it as it arrives (a JSON-RPC reply sent as `text/event-stream`).
    /// No redirects are followed. A caller that stops reading before the body's end must call
    /// [`UserHttp::reset_connection`].
    pub async fn send_streaming(
        &mut self,
        req: Outgoing,
    ) -> Result<http::Response<hyper::body::Incoming>, HttpError> {
        let resp = self
            .dispatch(&req.method, &req.target, &req.headers, req.body)
            .await?;
        if resp.headers().contains_key(SET_COOKIE) {
            self.store_cookies(resp.headers(), &req.target);
        }
        Ok(resp)
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
        if let Some(session) = self.mcp_session_for(&target.origin.origin) {
            if !headers.contains_key(MCP_SESSION_ID) {
                headers.insert(MCP_SESSION_ID, session.clone());
            }
        }
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
            .is_some_and(|c| c.origin == *origin && !c.sender.is_closed())
    }

    /// Opens a new connection to `origin` as `self.conn` (dropping any other). Its driver task
    /// runs detached and ends when the connection closes or `self.conn` is dropped.
    async fn connect(&mut self, origin: &Origin) -> Result<(), HttpError> {
        self.conn = None;
        // Each arm hands hyper the bare stream type rather than `RawStream`: the driver task of
        // a plain-HTTP user then holds a `TcpStream` (40 bytes), not a `RawStream` (1 112).
        let (sender, _driver) = match self.connect_raw(origin).await? {
            RawStream::Left(tcp) => handshake(tcp).await?,
            RawStream::Right(tls) => handshake(tls).await?,
        };
        self.conn = Some(Connection {
            origin: origin.clone(),
            sender,
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
            if let Some(session) = self.mcp_session_for(&target.origin.origin) {
                if !h.contains_key(MCP_SESSION_ID) {
                    h.insert(MCP_SESSION_ID, session.clone());
                }
            }
            if self.cookies.is_some() {
                if let Some(cookie) = self.cookie_header(target) {
                    h.insert(http::header::COOKIE, cookie);
                }
            }
        }
        Ok(builder.body(Full::new(body))?)
    }

    async fn read_response(
        &mut self,
        resp: http::Response<hyper::body::Incoming>,
        target: &Target,
        keep_body: Option<u64>,
    ) -> Result<Response, HttpError> {
        let (parts, mut incoming) = resp.into_parts();
        let mut kept = BytesMut::new();
        let mut body_len = 0u64;
        let mut over_limit = false;
        // The whole body is read even past the limit (drained, not kept): the connection stays
        // usable for the user's next request, and the bytes count as received.
        while let Some(frame) = incoming.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.conn = None;
                    return Err(HttpError::Protocol(e));
                }
            };
            if let Ok(data) = frame.into_data() {
                body_len += data.len() as u64;
                match keep_body {
                    Some(limit) if body_len > limit && !over_limit => {
                        over_limit = true;
                        kept = BytesMut::new();
                    }
                    Some(limit) if body_len <= limit => kept.extend_from_slice(&data),
                    _ => {}
                }
            }
        }
        if parts.headers.contains_key(SET_COOKIE) {
            self.store_cookies(&parts.headers, target);
        }
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: kept.freeze(),
            body_len,
            over_limit,
        })
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
        http.set_mcp_session(&mcp.origin.origin, HeaderValue::from_static("s-1"));
        assert_eq!(http.mcp_session(), Some(&HeaderValue::from_static("s-1")));
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

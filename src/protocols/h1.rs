//! HTTP/1.1 on one virtual user's keep-alive connection, driven inside the user's own task:
//! the request is encoded into a reused buffer and written in one call, the response head is
//! parsed by `httparse` from a reused read buffer, and the body is read by its framing
//! (`Content-Length`, chunked, or up to the close). There is no task per connection and no
//! channel between a user and its connection: with hyper's client, the dispatch between the
//! two tasks was most of the generator's own CPU per request (bench/README.md, issue 14).
//!
//! What it does not do, because a user's request/response exchange never needs it: pipelining,
//! `Expect: 100-continue`, upgrades (WebSockets open their own connection), HTTP/2. Long-lived
//! streams (SSE steps) use hyper on a connection of their own.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, LOCATION, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes the read buffer starts with and reads at a time (hyper's fixed size before).
const READ_CHUNK: usize = 4096;
/// A response head larger than this is refused (hyper's default limit is ~400 KiB; heads of
/// real APIs are under 8 KiB).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Headers per response head (hyper's default is 100).
const MAX_HEADERS: usize = 100;
/// A request body up to this size goes out in the same write as its head.
const INLINE_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    #[error("connection closed before message completed")]
    Closed,
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid HTTP response: {0}")]
    Parse(String),
    #[error("response head larger than {} KiB", MAX_HEAD_BYTES / 1024)]
    HeadTooLarge,
}

impl H1Error {
    /// Nothing of a response arrived: the server closed (or reset) a kept-alive connection
    /// before reading the request. Sending it again on a new connection is what browsers and
    /// Locust's clients do.
    pub fn is_stale_connection(&self) -> bool {
        match self {
            H1Error::Closed => true,
            H1Error::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

/// A response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    /// Every header when the caller asked for them; else only `Set-Cookie` and `Location`
    /// (what the user's client itself needs).
    pub headers: HeaderMap,
}

/// A response body read whole: at most `keep` bytes kept, the rest counted and dropped.
#[derive(Debug, Default)]
pub struct BodyRead {
    pub kept: Bytes,
    pub len: u64,
    pub over_limit: bool,
}

/// How the rest of the current response's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Read whole (or never had one).
    Done,
    Length(u64),
    Chunked(Chunk),
    /// Up to the end of the connection.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Expecting a framing line.
    Line(Line),
    /// Inside a chunk's data: bytes left.
    Data(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// A chunk-size line.
    Size,
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty one.
    Trailers,
}

/// One keep-alive HTTP/1.1 connection.
pub struct H1Conn<IO> {
    io: IO,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// The request being written (kept for its capacity).
    out: Vec<u8>,
    body: Framing,
    /// The server lets the connection be reused after this response.
    keep_alive: bool,
    /// A request was written and its response not read to the end (a cancelled exchange
    /// leaves the connection in an unknown state).
    in_flight: bool,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> H1Conn<IO> {
    pub fn new(io: IO) -> H1Conn<IO> {
        H1Conn {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            out: Vec::new(),
            body: Framing::Done,
            keep_alive: true,
            in_flight: false,
        }
    }

    /// Whether a new request can go on this connection.
    pub fn is_reusable(&self) -> bool {
        self.keep_alive && !self.in_flight
    }

    /// Whether the current response's body has been read to its end.
    pub fn body_done(&self) -> bool {
        self.body == Framing::Done
    }

    /// Starts encoding a request: its request line. Headers follow with [`H1Conn::header`],
    /// then [`H1Conn::exchange`] sends it.
    pub fn start_request(&mut self, method: &Method, path_and_query: &str) {
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
    }

    /// Adds a header line to the request being encoded.
    pub fn header(&mut self, name: &HeaderName, value: &HeaderValue) {
        let out = &mut self.out;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// Sends the encoded request with `body` and reads the response head (skipping `1xx`
    /// interim responses). `no_body`: the response has none whatever it says (a HEAD request).
    pub async fn exchange(
        &mut self,
        body: &[u8],
        no_body: bool,
        all_headers: bool,
    ) -> Result<ResponseHead, H1Error> {
        self.in_flight = true;
        self.write_request(body).await?;
        loop {
            let parsed = loop {
                if let Some(head) = parse_head(&mut self.buf, all_headers, no_body)? {
                    break head;
                }
                if self.buf.len() >= MAX_HEAD_BYTES {
                    return Err(H1Error::HeadTooLarge);
                }
                if self.fill().await? == 0 {
                    return Err(H1Error::Closed);
                }
            };
            if parsed.interim {
                continue;
            }
            self.body = parsed.framing;
            self.keep_alive = parsed.keep_alive;
            if self.body == Framing::Done {
                self.in_flight = false;
            }
            return Ok(ResponseHead {
                status: parsed.status,
                headers: parsed.headers,
            });
        }
    }

    async fn write_request(&mut self, body: &[u8]) -> Result<(), H1Error> {
        self.out.extend_from_slice(b"\r\n");
        let inline = body.len() <= INLINE_BODY_BYTES;
        if inline {
            self.out.extend_from_slice(body);
        }
        self.io.write_all(&self.out).await?;
        if !inline {
            self.io.write_all(body).await?;
        }
        // A no-op on TCP; TLS sends what it buffered.
        self.io.flush().await?;
        Ok(())
    }

    /// Reads more bytes into the buffer; 0 at the end of the connection.
    async fn fill(&mut self) -> Result<usize, H1Error> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        Ok(self.io.read_buf(&mut self.buf).await?)
    }

    /// The next piece of the body as it arrives; None at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, H1Error> {
        loop {
            if let Some(range) = self.take_body()? {
                return Ok(Some(self.buf.split_to(range).freeze()));
            }
            if self.body == Framing::Done {
                self.in_flight = false;
                return Ok(None);
            }
            if self.fill().await? == 0 {
                return self.at_eof().map(|()| None);
            }
        }
    }

    /// Reads the rest of the body, keeping at most `keep` bytes of it (none when None): a
    /// larger body is read to its end and dropped, so that the connection stays usable and
    /// every byte is counted.
    pub async fn read_body(&mut self, keep: Option<u64>) -> Result<BodyRead, H1Error> {
        let mut kept = BytesMut::new();
        let mut read = BodyRead::default();
        loop {
            while let Some(n) = self.take_body()? {
                read.len += n as u64;
                match keep {
                    Some(limit) if read.len > limit && !read.over_limit => {
                        read.over_limit = true;
                        kept = BytesMut::new();
                    }
                    Some(limit) if read.len > limit => {}
                    Some(_) => kept.extend_from_slice(&self.buf[..n]),
                    None => {}
                }
                self.buf.advance(n);
            }
            if self.body == Framing::Done {
                self.in_flight = false;
                read.kept = kept.freeze();
                return Ok(read);
            }
            if self.fill().await? == 0 {
                self.at_eof()?;
                read.kept = kept.freeze();
                return Ok(read);
            }
        }
    }

    /// The connection ended while the body was being read: the end of a close-delimited
    /// body, an error for every other framing.
    fn at_eof(&mut self) -> Result<(), H1Error> {
        self.keep_alive = false;
        if self.body == Framing::Close {
            self.body = Framing::Done;
            self.in_flight = false;
            Ok(())
        } else {
            Err(H1Error::Closed)
        }
    }

    /// How many bytes at the front of the buffer are body data now (consumes chunked framing
    /// bytes around them); None when the buffer holds no data to hand out.
    fn take_body(&mut self) -> Result<Option<usize>, H1Error> {
        loop {
            match self.body {
                Framing::Done => return Ok(None),
                Framing::Length(0) => {
                    self.body = Framing::Done;
                    return Ok(None);
                }
                Framing::Length(left) => {
                    let n = available(&self.buf, left);
                    if n == 0 {
                        return Ok(None);
                    }
                    self.body = Framing::Length(left - n as u64);
                    return Ok(Some(n));
                }
                Framing::Close => {
                    let n = self.buf.len();
                    return Ok((n > 0).then_some(n));
                }
                Framing::Chunked(Chunk::Data(0)) => {
                    self.body = Framing::Chunked(Chunk::Line(Line::DataEnd))
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    let n = available(&self.buf, left);
                    if n == 0 {
                        return Ok(None);
                    }
                    self.body = Framing::Chunked(Chunk::Data(left - n as u64));
                    return Ok(Some(n));
                }
                Framing::Chunked(Chunk::Line(state)) => {
                    let Some(end) = find_crlf(&self.buf) else {
                        if self.buf.len() > MAX_HEAD_BYTES {
                            return Err(H1Error::Parse("chunk framing line too long".into()));
                        }
                        return Ok(None);
                    };
                    let line = &self.buf[..end];
                    self.body = match state {
                        Line::Size => match chunk_size(line)? {
                            0 => Framing::Chunked(Chunk::Line(Line::Trailers)),
                            n => Framing::Chunked(Chunk::Data(n)),
                        },
                        Line::DataEnd if line.is_empty() => {
                            Framing::Chunked(Chunk::Line(Line::Size))
                        }
                        Line::DataEnd => {
                            return Err(H1Error::Parse("missing CRLF after chunk data".into()))
                        }
                        Line::Trailers if line.is_empty() => Framing::Done,
                        Line::Trailers => Framing::Chunked(Chunk::Line(Line::Trailers)),
                    };
                    self.buf.advance(end + 2);
                }
            }
        }
    }
}

fn available(buf: &BytesMut, left: u64) -> usize {
    let left = usize::try_from(left).unwrap_or(usize::MAX);
    buf.len().min(left)
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// A chunk-size line: hex digits, then optional `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, H1Error> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let text = std::str::from_utf8(digits).unwrap_or("");
    if text.is_empty() || text.len() > 16 {
        return Err(H1Error::Parse(format!(
            "invalid chunk size {:?}",
            String::from_utf8_lossy(line)
        )));
    }
    u64::from_str_radix(text, 16).map_err(|_| {
        H1Error::Parse(format!(
            "invalid chunk size {:?}",
            String::from_utf8_lossy(line)
        ))
    })
}

struct ParsedHead {
    status: StatusCode,
    headers: HeaderMap,
    framing: Framing,
    keep_alive: bool,
    /// A `1xx` response other than 101: another head follows.
    interim: bool,
}

/// Parses a complete response head at the front of `buf` and consumes it; None when more
/// bytes are needed. Works on the stack so that nothing of it lives in the user's future.
fn parse_head(
    buf: &mut BytesMut,
    all_headers: bool,
    no_body: bool,
) -> Result<Option<ParsedHead>, H1Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let head_len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(H1Error::Parse(e.to_string())),
    };
    let code = resp.code.unwrap_or_default();
    let status = StatusCode::from_u16(code)
        .map_err(|_| H1Error::Parse(format!("invalid status code {code}")))?;
    let http10 = resp.version == Some(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut keep_alive = !http10;
    let mut keep_any = false;
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| H1Error::Parse("invalid Content-Length".into()))?;
            if length.is_some_and(|l| l != n) {
                return Err(H1Error::Parse("conflicting Content-Length headers".into()));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            // The last coding decides: chunked must be the final one.
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    keep_alive = true;
                }
            }
        }
        keep_any = keep_any || all_headers || is_clients_own(name);
    }
    let interim = status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS;
    let framing = if interim
        || no_body
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::SWITCHING_PROTOCOLS
    {
        Framing::Done
    } else if transfer_encoding {
        if chunked {
            Framing::Chunked(Chunk::Line(Line::Size))
        } else {
            keep_alive = false;
            Framing::Close
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        keep_alive = false;
        Framing::Close
    };
    let headers = if keep_any {
        kept_headers(buf.split_to(head_len).freeze(), all_headers)?
    } else {
        buf.advance(head_len);
        HeaderMap::new()
    };
    if status == StatusCode::SWITCHING_PROTOCOLS {
        keep_alive = false;
    }
    Ok(Some(ParsedHead {
        status,
        headers,
        framing,
        keep_alive,
        interim,
    }))
}

/// The headers the client reads itself whatever the step asked: cookies and redirects.
fn is_clients_own(name: &str) -> bool {
    name.eq_ignore_ascii_case(SET_COOKIE.as_str()) || name.eq_ignore_ascii_case(LOCATION.as_str())
}

/// The kept headers of a complete head (parsed again: rarer than not keeping any, and it keeps
/// the first pass free of bookkeeping). Values point into the head's bytes, no copy each.
fn kept_headers(head: Bytes, all_headers: bool) -> Result<HeaderMap, H1Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, &head, &mut slots)
        .map_err(|e| H1Error::Parse(e.to_string()))?;
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        if !(all_headers || is_clients_own(h.name)) {
            continue;
        }
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| H1Error::Parse(format!("header name: {e}")))?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value))
            .map_err(|e| H1Error::Parse(format!("header value: {e}")))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// A connection whose server side answers with `response` (written in pieces of `piece`
    /// bytes) and returns what the client sent.
    async fn exchange_with(
        response: &'static [u8],
        piece: usize,
        method: Method,
        keep: Option<u64>,
    ) -> (Result<(ResponseHead, BodyRead), H1Error>, Vec<u8>, bool) {
        let (client, mut server) = duplex(1 << 20);
        let server_task = tokio::spawn(async move {
            let mut got = vec![0u8; 4096];
            let n = server.read(&mut got).await.expect("read the request");
            got.truncate(n);
            for part in response.chunks(piece) {
                server.write_all(part).await.expect("write");
                tokio::task::yield_now().await;
            }
            got
        });
        let mut conn = H1Conn::new(client);
        conn.start_request(&method, "/a?b=1");
        conn.header(
            &http::header::HOST,
            &HeaderValue::from_static("example.test"),
        );
        let result = async {
            let head = conn.exchange(b"", method == Method::HEAD, true).await?;
            let body = conn.read_body(keep).await?;
            Ok((head, body))
        }
        .await;
        let reusable = conn.is_reusable();
        let sent = server_task.await.expect("server");
        (result, sent, reusable)
    }

    #[tokio::test]
    async fn writes_the_request_line_and_headers() {
        let (result, sent, _) = exchange_with(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            64,
            Method::GET,
            None,
        )
        .await;
        assert!(result.is_ok());
        assert_eq!(sent, b"GET /a?b=1 HTTP/1.1\r\nhost: example.test\r\n\r\n");
    }

    #[tokio::test]
    async fn reads_a_content_length_body_in_pieces() {
        let (result, _, reusable) = exchange_with(
            b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\nX-A: 1\r\n\r\nhello world",
            3,
            Method::GET,
            Some(100),
        )
        .await;
        let (head, body) = result.expect("a response");
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(
            head.headers.get("x-a").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        assert_eq!(&body.kept[..], b"hello world");
        assert_eq!(body.len, 11);
        assert!(reusable);
    }

    #[tokio::test]
    async fn reads_a_chunked_body_with_extensions_and_trailers() {
        let (result, _, reusable) = exchange_with(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
            4,
            Method::GET,
            Some(100),
        )
        .await;
        let (_, body) = result.expect("a response");
        assert_eq!(&body.kept[..], b"hello world");
        assert_eq!(body.len, 11);
        assert!(reusable);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_counted_not_kept() {
        let (result, _, reusable) = exchange_with(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            64,
            Method::GET,
            Some(4),
        )
        .await;
        let (_, body) = result.expect("a response");
        assert!(body.over_limit);
        assert!(body.kept.is_empty());
        assert_eq!(body.len, 10);
        assert!(reusable);
    }

    #[tokio::test]
    async fn a_body_without_length_lasts_until_the_close() {
        let (result, _, reusable) = exchange_with(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end",
            5,
            Method::GET,
            Some(100),
        )
        .await;
        let (_, body) = result.expect("a response");
        assert_eq!(&body.kept[..], b"to the end");
        assert!(!reusable, "a close-delimited body ends the connection");
    }

    #[tokio::test]
    async fn interim_responses_are_skipped_and_head_has_no_body() {
        let (result, _, reusable) = exchange_with(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
            7,
            Method::HEAD,
            Some(100),
        )
        .await;
        let (head, body) = result.expect("a response");
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(body.len, 0);
        assert!(reusable);
    }

    #[tokio::test]
    async fn connection_close_and_http10_are_not_reused() {
        let (_, _, reusable) = exchange_with(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            64,
            Method::GET,
            None,
        )
        .await;
        assert!(!reusable);
        let (_, _, reusable) = exchange_with(
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            64,
            Method::GET,
            None,
        )
        .await;
        assert!(!reusable);
    }

    #[tokio::test]
    async fn a_connection_closed_mid_body_or_before_a_head_is_an_error() {
        let (result, _, _) = exchange_with(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            64,
            Method::GET,
            None,
        )
        .await;
        assert!(matches!(result, Err(H1Error::Closed)), "{result:?}");
        let (result, _, _) = exchange_with(b"", 64, Method::GET, None).await;
        let err = result.expect_err("no response");
        assert!(err.is_stale_connection());
        let (result, _, _) = exchange_with(b"garbage\r\n\r\n", 64, Method::GET, None).await;
        assert!(matches!(result, Err(H1Error::Parse(_))), "{result:?}");
    }

    #[tokio::test]
    async fn only_cookies_and_locations_are_kept_unless_asked() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 302 Found\r\nX-A: 1\r\nSet-Cookie: a=1\r\nLocation: /b\r\nContent-Length: 0\r\n\r\nrest"[..],
        );
        let head = parse_head(&mut buf, false, false)
            .expect("parses")
            .expect("complete");
        assert_eq!(head.headers.len(), 2);
        assert!(head.headers.contains_key(SET_COOKIE) && head.headers.contains_key(LOCATION));
        assert_eq!(&buf[..], b"rest", "the head is consumed, the rest kept");
    }

    #[test]
    fn chunk_sizes_parse_hex_and_refuse_garbage() {
        assert_eq!(chunk_size(b"1aF").ok(), Some(0x1af));
        assert_eq!(chunk_size(b"10 ; name=value").ok(), Some(16));
        assert!(chunk_size(b"").is_err());
        assert!(chunk_size(b"zz").is_err());
        assert!(chunk_size(b"11111111111111111").is_err());
    }
}

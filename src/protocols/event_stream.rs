//! The `text/event-stream` wire format (WHATWG HTML §9.2.6), parsed incrementally from the
//! chunks of a response body. Used by SSE steps and by JSON-RPC replies sent as a stream (MCP
//! Streamable HTTP). Pure: bytes in, events out; no I/O.
//!
//! Hand-written rather than `eventsource-stream` because the body here is a hyper `Incoming`
//! that the caller must keep (to know whether a JSON-RPC reply stream ended and its connection
//! can be reused), and because a target that sends garbage must not grow memory without bound:
//! a line or an event larger than [`MAX_EVENT_BYTES`] is an error, not a bigger buffer.

use bytes::{Buf, BytesMut};

/// The largest line or event accepted (a `tools/list` reply of a big catalogue fits easily).
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `event:` field; `message` when the event named none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    #[error("SSE event larger than {} MiB", MAX_EVENT_BYTES >> 20)]
    TooLarge,
    #[error("SSE stream is not UTF-8")]
    NotUtf8,
}

/// Incremental parser: [`Parser::push`] chunks, then take events with [`Parser::next_event`].
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes received and not yet split into lines.
    buf: BytesMut,
    /// A `\r` ended the last line; a `\n` at the start of the next chunk belongs to it.
    after_cr: bool,
    /// The byte-order mark is only skipped at the very start of the stream.
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
    /// The last `retry:` field (the server's reconnection time), if any.
    retry: Option<std::time::Duration>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// The reconnection time the stream's last `retry:` field asked for.
    pub fn retry(&self) -> Option<std::time::Duration> {
        self.retry
    }

    /// Appends a chunk of the body. The caller takes the events out between pushes, so what is
    /// buffered is one unfinished line: once that reaches the limit, pushing more is an error.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), EventStreamError> {
        if self.buf.len() >= MAX_EVENT_BYTES {
            return Err(EventStreamError::TooLarge);
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete event in what was pushed so far, if any.
    pub fn next_event(&mut self) -> Result<Option<Event>, EventStreamError> {
        loop {
            if !self.started {
                if self.buf.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buf) {
                    return Ok(None);
                }
                self.started = true;
                if self.buf.starts_with(b"\xEF\xBB\xBF") {
                    self.buf.advance(3);
                }
            }
            if self.after_cr && !self.buf.is_empty() {
                self.after_cr = false;
                if self.buf[0] == b'\n' {
                    self.buf.advance(1);
                }
            }
            let Some(end) = self.buf.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                if self.buf.len() > MAX_EVENT_BYTES {
                    return Err(EventStreamError::TooLarge);
                }
                return Ok(None);
            };
            let line = self.buf.split_to(end);
            if self.buf[0] == b'\r' {
                self.after_cr = true;
            }
            self.buf.advance(1);
            if let Some(event) = self.line(&line)? {
                return Ok(Some(event));
            }
        }
    }

    /// Processes one line; a blank line dispatches the event being built.
    fn line(&mut self, line: &[u8]) -> Result<Option<Event>, EventStreamError> {
        if line.is_empty() {
            let event = self.event.take();
            let id = self.id.take();
            if !self.has_data {
                // No data: nothing is dispatched (the spec's rule), the fields are dropped.
                return Ok(None);
            }
            self.has_data = false;
            return Ok(Some(Event {
                event: event.unwrap_or_else(|| "message".to_string()),
                data: std::mem::take(&mut self.data),
                id,
            }));
        }
        if line[0] == b':' {
            return Ok(None); // a comment (keep-alives often are)
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let text = || std::str::from_utf8(value).map_err(|_| EventStreamError::NotUtf8);
        match field {
            b"event" => self.event = Some(text()?.to_string()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                self.data.push_str(text()?);
                if self.data.len() > MAX_EVENT_BYTES {
                    return Err(EventStreamError::TooLarge);
                }
            }
            b"id" if !value.contains(&0) => self.id = Some(text()?.to_string()),
            // Only ASCII digits, else the field is ignored (the spec's rule).
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = text()?.parse::<u64>() {
                    self.retry = Some(std::time::Duration::from_millis(ms));
                }
            }
            _ => {} // unknown fields are ignored
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c).unwrap();
            while let Some(e) = p.next_event().unwrap() {
                out.push(e);
            }
        }
        out
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> Event {
        Event {
            event: event.into(),
            data: data.into(),
            id: id.map(str::to_string),
        }
    }

    #[test]
    fn parses_named_and_default_events_with_multiline_data() {
        let got = events(&[b"event: endpoint\ndata: /message?s=1\n\ndata: a\ndata:b\nid: 7\n\n"]);
        assert_eq!(
            got,
            vec![
                ev("endpoint", "/message?s=1", None),
                ev("message", "a\nb", Some("7"))
            ]
        );
    }

    #[test]
    fn events_split_across_chunks_and_any_line_ending() {
        let got = events(&[b"da", b"ta: x\r", b"\n\r", b"\n", b"data: y\r\r"]);
        assert_eq!(
            got,
            vec![ev("message", "x", None), ev("message", "y", None)]
        );
    }

    #[test]
    fn comments_retry_and_data_less_events_dispatch_nothing() {
        let got = events(&[b": keep-alive\n\nretry: 5000\n\nevent: ping\n\nfoo\ndata\n\n"]);
        // `data` without a colon is a data field with an empty value
        assert_eq!(got, vec![ev("message", "", None)]);
    }

    #[test]
    fn retry_keeps_the_last_all_digit_value() {
        let mut p = Parser::new();
        assert_eq!(p.retry(), None);
        p.push(b"retry: 2500\n\nretry: soon\nretry: 1x\ndata: a\n\n")
            .unwrap();
        while p.next_event().unwrap().is_some() {}
        assert_eq!(p.retry(), Some(std::time::Duration::from_millis(2500)));
        p.push(b"retry: 40\n\n").unwrap();
        while p.next_event().unwrap().is_some() {}
        assert_eq!(p.retry(), Some(std::time::Duration::from_millis(40)));
    }

    #[test]
    fn a_leading_bom_is_skipped_even_when_split() {
        let got = events(&[b"\xEF", b"\xBB\xBFdata: z\n\n"]);
        assert_eq!(got, vec![ev("message", "z", None)]);
    }

    #[test]
    fn an_incomplete_event_waits_for_its_blank_line() {
        let mut p = Parser::new();
        p.push(b"data: partial\n").unwrap();
        assert_eq!(p.next_event().unwrap(), None);
        p.push(b"\n").unwrap();
        assert_eq!(
            p.next_event().unwrap(),
            Some(ev("message", "partial", None))
        );
    }

    #[test]
    fn garbage_is_an_error_not_unbounded_memory() {
        let mut p = Parser::new();
        p.push(b"data: \xFF\xFE\n\n").unwrap();
        assert_eq!(p.next_event(), Err(EventStreamError::NotUtf8));

        let mut p = Parser::new();
        let big = vec![b'x'; 1 << 20];
        let mut result = Ok(());
        for _ in 0..=(MAX_EVENT_BYTES >> 20) {
            result = p.push(&big);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EventStreamError::TooLarge));
    }
}

//! One step of a task: which kind it is (http method, rpc, sse, ws or think), the keys that
//! kind allows, and the step each kind builds, with its statistics names interned.

use toml::de::{DeTable, DeValue};

use super::{field, list, Validator};
use crate::plan::limits;
use crate::plan::model::*;
use crate::plan::parse::{as_f64, entries, suggest, Span, Val};
use crate::plan::template::Template;

const STEP_KINDS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "rpc", "sse", "ws", "think",
];
const COMMON_STEP_KEYS: &[&str] = &["name", "timeout", "check", "capture"];
const HTTP_KEYS: &[&str] = &[
    "headers", "query", "json", "body", "form", "max_body", "publish",
];
/// The schemes of absolute URLs a step may name: WebSocket steps and the others.
pub(super) const HTTP_SCHEMES: &[&str] = &["http", "https"];
pub(super) const WS_SCHEMES: &[&str] = &["ws", "wss"];

const RPC_KEYS: &[&str] = &[
    "params",
    "path",
    "headers",
    "allow_codes",
    "max_body",
    "publish",
];
const SSE_KEYS: &[&str] = &[
    "events",
    "for",
    "post",
    "headers",
    "reconnect",
    "min_events",
    "subscribe",
];
const WS_KEYS: &[&str] = &[
    "send",
    "expect",
    "for",
    "headers",
    "mode",
    "rate",
    "subscribe",
];

impl Validator<'_, '_> {
    pub(super) fn steps(&mut self, v: &Val<'_>, what: &str) -> Vec<Step> {
        let expected = format!("{what}: an array of steps, e.g. [ {{ get = \"/\" }} ]");
        let Some(items) = self.array(v, &expected) else {
            return Vec::new();
        };
        if !self.at_most(v, items.len(), limits::MAX_STEPS, "steps") {
            return Vec::new();
        }
        let mut out = Vec::new();
        for item in items {
            if let Some(t) = self.table(item, "a step table, e.g. { get = \"/\" }") {
                if let Some(step) = self.step(t, &item.span(), &[]) {
                    out.push(step);
                }
            }
        }
        out
    }

    /// One step; `extra` are keys the enclosing single-step task adds (weight, tags, name,
    /// requires).
    pub(super) fn step(&mut self, t: &DeTable<'_>, span: &Span, extra: &[&str]) -> Option<Step> {
        let ents = entries(t);
        let (kind, kind_value) = self.step_kind(&ents, span, extra)?;
        self.step_keys(t, kind, extra);

        let location = self.src.location(span.start);
        if kind == "think" {
            let d = self.duration(kind_value, false)?;
            return Some(Step {
                kind: StepKind::Think(d),
                name: None,
                checks: Checks::default(),
                captures: Vec::new(),
                timeout: None,
                fanout: None,
                location,
            });
        }

        let given_name = field(t, "name")
            .and_then(|(_, v)| self.string(v, "name: a string (the statistics row)"))
            .map(str::to_string);
        let timeout = field(t, "timeout").and_then(|(_, v)| self.duration(v, true));
        let checks = field(t, "check")
            .map(|(_, v)| self.checks(v))
            .unwrap_or_default();
        let captures = field(t, "capture")
            .map(|(_, v)| self.captures(v))
            .unwrap_or_default();
        let headers = field(t, "headers")
            .map(|(_, v)| self.pairs(v, "headers", true, false))
            .unwrap_or_default();
        let step_max_body = field(t, "max_body").and_then(|(_, v)| self.size(v, "max_body"));
        let max_body = BodyLimit {
            bytes: step_max_body.unwrap_or(self.max_body),
            set_by_step: step_max_body.is_some(),
        };

        let given = given_name.as_deref();
        let (step_kind, stats_kind, default_name) = match kind {
            "rpc" => self.rpc_step(t, kind_value, headers, max_body)?,
            "sse" => self.sse_step(t, span, kind_value, headers, given)?,
            "ws" => self.ws_step(t, kind_value, headers, given)?,
            _ => self.http_step(t, &ents, kind, kind_value, headers, max_body)?,
        };
        let name = self.intern(stats_kind, given.unwrap_or(&default_name));
        let fanout = self.fanout(t, kind);
        Some(Step {
            kind: step_kind,
            name: Some(name),
            checks,
            captures,
            timeout,
            fanout,
            location,
        })
    }

    /// The step's one kind key and its value; reports a step with none (naming an unknown key
    /// when there is one) or with two.
    fn step_kind<'a, 'i>(
        &mut self,
        ents: &[(&'a str, Span, &'a Val<'i>)],
        span: &Span,
        extra: &[&str],
    ) -> Option<(&'a str, &'a Val<'i>)> {
        // `post` is also an option of sse steps (the message to post to the stream's endpoint).
        let is_sse = ents.iter().any(|(k, _, _)| *k == "sse");
        let kinds: Vec<&(&str, Span, &Val)> = ents
            .iter()
            .filter(|(k, _, _)| STEP_KINDS.contains(k) && !(is_sse && *k == "post"))
            .collect();
        let kinds_list = format!("one of {} (a step kind)", list(STEP_KINDS));
        match kinds.as_slice() {
            [] => {
                let known = |k: &str| {
                    COMMON_STEP_KEYS
                        .iter()
                        .chain(HTTP_KEYS)
                        .chain(RPC_KEYS)
                        .chain(SSE_KEYS)
                        .chain(WS_KEYS)
                        .chain(extra)
                        .any(|a| *a == k)
                };
                if let Some((key, kspan, _)) = ents.iter().find(|(k, _, _)| !known(k)) {
                    let hint = suggest(key, STEP_KINDS)
                        .map(|s| format!(" (did you mean {s:?}?)"))
                        .unwrap_or_default();
                    self.err(
                        kspan.start,
                        kinds_list,
                        format!("unknown key {key:?}{hint}"),
                    );
                } else {
                    let keys: Vec<&str> = ents.iter().map(|(k, _, _)| *k).collect();
                    let found = if keys.is_empty() {
                        "an empty step".to_string()
                    } else {
                        format!("a step without one (it has {})", list(&keys))
                    };
                    self.err(span.start, kinds_list, found);
                }
                None
            }
            [one] => Some((one.0, one.2)),
            [first, second, ..] => {
                self.err(
                    second.1.start,
                    "one step kind per step (write two steps)",
                    format!("both {:?} and {:?}", first.0, second.0),
                );
                None
            }
        }
    }

    /// Reports keys the step's kind does not take (plus the task's `extra` keys).
    fn step_keys(&mut self, t: &DeTable<'_>, kind: &str, extra: &[&str]) {
        let specific: &[&str] = match kind {
            "rpc" => RPC_KEYS,
            "sse" => SSE_KEYS,
            "ws" => WS_KEYS,
            "think" => &[],
            _ => HTTP_KEYS,
        };
        let mut listed: Vec<&str> = Vec::new();
        if kind != "think" {
            listed.extend(specific);
            listed.extend(COMMON_STEP_KEYS);
        }
        for k in extra {
            if !listed.contains(k) {
                listed.push(k);
            }
        }
        let mut allowed = listed.clone();
        allowed.push(kind);
        let what = if extra.is_empty() {
            format!("keys of a {kind} step")
        } else {
            format!("keys of a {kind} task")
        };
        self.keys(t, &allowed, &listed, &what);
    }

    /// `rpc = "method"`: a JSON-RPC call, recorded as `POST PATH method`.
    fn rpc_step(
        &mut self,
        t: &DeTable<'_>,
        kind_value: &Val<'_>,
        headers: Vec<(String, Template)>,
        max_body: BodyLimit,
    ) -> Option<(StepKind, &'static str, String)> {
        let method = self.string(kind_value, "rpc: the JSON-RPC method name")?;
        if method.is_empty() {
            self.err(
                kind_value.span().start,
                "rpc: a JSON-RPC method name",
                "an empty string",
            );
        }
        let method = method.to_string();
        let params = field(t, "params").and_then(|(_, p)| match p.get_ref() {
            DeValue::Table(_) | DeValue::Array(_) => self.json_template(p),
            _ => {
                self.wrong(p, "params: a table or an array");
                None
            }
        });
        let path = match field(t, "path") {
            Some((_, p)) => self.path_template(p, "path", HTTP_SCHEMES)?,
            None => Template::literal(self.rpc_path.clone()),
        };
        let allow_codes = match field(t, "allow_codes") {
            None => Vec::new(),
            Some((_, a)) => {
                let items = self.array(a, "allow_codes: an array of JSON-RPC error codes")?;
                items
                    .iter()
                    .filter_map(|i| self.int(i, "a JSON-RPC error code", i64::MIN, i64::MAX))
                    .collect()
            }
        };
        let name = format!("{} {method}", path.source());
        let rpc = RpcStep {
            method,
            params,
            path,
            headers,
            allow_codes,
            max_body,
        };
        Some((StepKind::Rpc(rpc), "POST", name))
    }

    /// `sse = "/path"`: a stream read until `events`, `for` or `post` ends it; its rows are
    /// interned here (connect, first event, event gap, the post).
    fn sse_step(
        &mut self,
        t: &DeTable<'_>,
        span: &Span,
        kind_value: &Val<'_>,
        headers: Vec<(String, Template)>,
        given: Option<&str>,
    ) -> Option<(StepKind, &'static str, String)> {
        let path = self.path_template(kind_value, "sse", HTTP_SCHEMES)?;
        let events =
            field(t, "events").and_then(|(_, e)| self.u32(e, "events", 1, limits::MAX_EVENTS));
        let duration = field(t, "for").and_then(|(_, d)| self.duration(d, true));
        let post_value = field(t, "post");
        if field(t, "events").is_none() && field(t, "for").is_none() && post_value.is_none() {
            self.err(
                span.start,
                "events = N, for = \"10s\" and/or post (when the sse step ends)",
                "none of them",
            );
        }
        let mut post_method = None;
        let post = post_value.and_then(|(_, p)| match p.get_ref() {
            DeValue::Table(pt) => {
                match field(pt, "method").map(|(_, m)| (m, m.get_ref())) {
                    Some((_, DeValue::String(m))) if !m.is_empty() => {
                        post_method = Some(m.to_string());
                    }
                    Some((m, _)) => {
                        self.wrong(m, "post.method: the JSON-RPC method name (a string)");
                        return None;
                    }
                    None => {
                        self.err(
                            p.span().start,
                            "post: a JSON-RPC message with a `method`",
                            "a table without one",
                        );
                        return None;
                    }
                }
                self.json_template(p)
            }
            _ => {
                self.wrong(p, "post: a table (the JSON-RPC message to post)");
                None
            }
        });
        let reconnect = field(t, "reconnect")
            .and_then(|(_, r)| self.boolean(r, "reconnect"))
            .unwrap_or(false);
        if let (true, Some((_, r)), true) =
            (reconnect, field(t, "reconnect"), field(t, "post").is_some())
        {
            self.err(
                r.span().start,
                "no reconnect with post (the MCP SSE transport's session ends with its stream)",
                "reconnect beside post",
            );
        }
        let min_events = field(t, "min_events").and_then(|(_, m)| {
            if field(t, "for").is_none() {
                self.err(
                    m.span().start,
                    "for = \"10s\" beside min_events (the window the events are counted in)",
                    "min_events without for",
                );
            }
            self.u32(m, "min_events", 0, limits::MAX_EVENTS)
        });
        let name = path.source().to_string();
        let base = given.unwrap_or(&name);
        let names = SseNames {
            connect: self.intern("SSE", &format!("{base} [connect]")),
            first_event: self.intern("SSE", &format!("{base} [first event]")),
            event_gap: self.intern("SSE", &format!("{base} [event gap]")),
            post: post.as_ref().map(|_| {
                let label = match &post_method {
                    // A templated method would make one row per value: keep one.
                    Some(m) if !m.contains("{{") => m.as_str(),
                    _ => "post",
                };
                self.intern("SSE", &format!("{base} [{label}]"))
            }),
        };
        let sse = SseStep {
            path,
            headers,
            events,
            duration,
            min_events,
            reconnect,
            post,
            names,
        };
        Some((StepKind::Sse(sse), "SSE", name))
    }

    /// `ws = "/path"`: a WebSocket that sends `send` and reads `expect` messages or for `for`.
    fn ws_step(
        &mut self,
        t: &DeTable<'_>,
        kind_value: &Val<'_>,
        headers: Vec<(String, Template)>,
        given: Option<&str>,
    ) -> Option<(StepKind, &'static str, String)> {
        let path = self.path_template(kind_value, "ws", WS_SCHEMES)?;
        let mut send = Vec::new();
        if let Some((_, s)) = field(t, "send") {
            let expected = "send: an array of strings or tables (sent as JSON)";
            let items = self.array(s, expected).unwrap_or_default();
            let items = if self.at_most(s, items.len(), limits::MAX_SEND, "messages") {
                items
            } else {
                &[]
            };
            for item in items {
                match item.get_ref() {
                    DeValue::String(text) => {
                        if let Some(t) = self.template_at(text, &item.span()) {
                            send.push(WsMessage::Text(t));
                        }
                    }
                    DeValue::Table(_) => {
                        if let Some(j) = self.json_template(item) {
                            send.push(WsMessage::Json(j));
                        }
                    }
                    _ => self.wrong(item, "a message: a string or a table (sent as JSON)"),
                }
            }
        }
        let expect =
            field(t, "expect").and_then(|(_, e)| self.u32(e, "expect", 0, limits::MAX_EVENTS));
        let duration = field(t, "for").and_then(|(_, d)| self.duration(d, true));
        let mode = match field(t, "mode") {
            None => WsMode::default(),
            Some((_, m)) => self.ws_mode(m),
        };
        let rate = field(t, "rate").and_then(|(_, r)| self.ws_rate(r));
        if let Some((_, r)) = field(t, "rate") {
            let at = r.span().start;
            if field(t, "for").is_none() {
                self.err(
                    at,
                    "for = \"10m\" beside rate (how long the stream lasts)",
                    "rate without for",
                );
            }
            if send.is_empty() && field(t, "send").is_none_or(|(_, s)| s.get_ref().is_array()) {
                self.err(
                    at,
                    "send: at least one message to repeat at the rate",
                    "rate with an empty send",
                );
            }
            if let Some((_, e)) = field(t, "expect") {
                self.err(
                    e.span().start,
                    "no expect with rate (each message sent waits for its own reply)",
                    "expect beside rate",
                );
            }
            if let Some((_, m)) = field(t, "mode") {
                self.err(
                    m.span().start,
                    "no mode with rate (a rate stream sends on its own grid, replies or not)",
                    "mode beside rate",
                );
            }
        }
        let name = path.source().to_string();
        let base = given.unwrap_or(&name);
        let connect_name = self.intern("WS", &format!("{base} [connect]"));
        let ws = WsStep {
            path,
            headers,
            send,
            expect,
            duration,
            mode,
            rate,
            connect_name,
        };
        Some((StepKind::Ws(ws), "WS", name))
    }

    /// `mode = "sequential" | "pipelined"` of a ws step.
    fn ws_mode(&mut self, v: &Val<'_>) -> WsMode {
        const EXPECTED: &str = "mode: \"sequential\" (one message, its reply, the next) or \
                                \"pipelined\" (every message, then the replies)";
        match v.get_ref() {
            DeValue::String(s) if s.as_ref() == "sequential" => WsMode::Sequential,
            DeValue::String(s) if s.as_ref() == "pipelined" => WsMode::Pipelined,
            DeValue::String(s) => {
                self.err(v.span().start, EXPECTED, format!("{:?}", s.as_ref()));
                WsMode::default()
            }
            _ => {
                self.wrong(v, EXPECTED);
                WsMode::default()
            }
        }
    }

    /// `rate = "20/s"` (or a bare number) of a ws step: messages a second on the connection.
    fn ws_rate(&mut self, v: &Val<'_>) -> Option<f64> {
        let expected = format!(
            "rate: messages per second from {} to {}, e.g. \"20/s\"",
            limits::MIN_RATE,
            limits::MAX_WS_RATE
        );
        let parsed = match v.get_ref() {
            DeValue::String(s) => s.strip_suffix("/s").unwrap_or(s).trim().parse::<f64>().ok(),
            other => as_f64(other),
        };
        match parsed {
            Some(r) if r.is_finite() && (limits::MIN_RATE..=limits::MAX_WS_RATE).contains(&r) => {
                Some(r)
            }
            _ => {
                self.wrong(v, &expected);
                None
            }
        }
    }

    /// `get`/`post`/`put`/`patch`/`delete`/`head` = "/path", with a query and at most one body.
    fn http_step(
        &mut self,
        t: &DeTable<'_>,
        ents: &[(&str, Span, &Val<'_>)],
        kind: &str,
        kind_value: &Val<'_>,
        headers: Vec<(String, Template)>,
        max_body: BodyLimit,
    ) -> Option<(StepKind, &'static str, String)> {
        let method = match kind {
            "get" => Method::Get,
            "post" => Method::Post,
            "put" => Method::Put,
            "patch" => Method::Patch,
            "delete" => Method::Delete,
            _ => Method::Head,
        };
        let path = self.path_template(kind_value, kind, HTTP_SCHEMES)?;
        let query = field(t, "query")
            .map(|(_, q)| self.pairs(q, "query", false, true))
            .unwrap_or_default();
        let bodies: Vec<&(&str, Span, &Val)> = ents
            .iter()
            .filter(|(k, _, _)| matches!(*k, "json" | "body" | "form"))
            .collect();
        if let [first, second, ..] = bodies.as_slice() {
            self.err(
                second.1.start,
                "one body: json, body or form",
                format!("both {} and {}", first.0, second.0),
            );
        }
        let body = match bodies.first() {
            None => None,
            Some(&&(b, _, bv)) => match b {
                "json" => self.json_template(bv).map(Body::Json),
                "body" => self
                    .template(bv, "body: a string (sent as is)")
                    .map(Body::Text),
                _ => Some(Body::Form(self.pairs(bv, "form", false, true))),
            },
        };
        let name = path.source().to_string();
        let http = HttpStep {
            method,
            path,
            headers,
            query,
            body,
            max_body,
        };
        Some((StepKind::Http(http), method.as_str(), name))
    }
}

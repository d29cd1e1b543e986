//! Parts the step kinds share: headers (defaults merged with the step's, built once when
//! static), request targets, checks split between a response head and a body, JSON-RPC id
//! matching and error text. Building blocks only: no I/O, no samples recorded here.

use std::str::FromStr;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use super::http_client::{OriginInfo, Target};
use crate::engine::vars::Vars;
use crate::plan::model::{Capture, Checks, Step};
use crate::plan::template::Template;

/// Defaults merged with a step's headers (the step wins), rendered once when all are static.
#[derive(Debug)]
pub(crate) struct PreparedHeaders {
    headers: Vec<(HeaderName, Template)>,
    fixed: Option<HeaderMap>,
}

impl PreparedHeaders {
    pub(crate) fn new(
        defaults: &[(String, Template)],
        step: &[(String, Template)],
        vars: &Vars,
    ) -> Result<PreparedHeaders, String> {
        let mut headers: Vec<(HeaderName, Template)> = Vec::new();
        for (name, value) in defaults.iter().chain(step) {
            let name = HeaderName::from_str(name)
                .map_err(|e| format!("invalid header name {name:?}: {e}"))?;
            headers.retain(|(n, _)| *n != name);
            headers.push((name, value.clone()));
        }
        let fixed = if headers.iter().all(|(_, v)| v.is_static()) {
            Some(render_headers(&headers, vars)?)
        } else {
            None
        };
        Ok(PreparedHeaders { headers, fixed })
    }

    pub(crate) fn render(&self, vars: &Vars) -> Result<HeaderMap, String> {
        match &self.fixed {
            Some(h) => Ok(h.clone()),
            None => render_headers(&self.headers, vars),
        }
    }
}

/// Renders header templates into a map (a later duplicate name replaces an earlier one). A
/// header whose value renders empty (or only blanks) is left out: `Authorization = "{{ 'Bearer '
/// ~ token if token else '' }}"` sends no credential rather than an empty one when the token is
/// unset, and a step can drop a default header by setting it to "".
fn render_headers(headers: &[(HeaderName, Template)], vars: &Vars) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let rendered = value.render(vars).map_err(|e| e.to_string())?;
        if rendered.trim().is_empty() {
            map.remove(name);
            continue;
        }
        let value = HeaderValue::from_str(&rendered)
            .map_err(|_| format!("header {name}: value is not a valid header value"))?;
        map.insert(name.clone(), value);
    }
    Ok(map)
}

/// Sets `name` unless the plan's headers already did.
pub(crate) fn default_header(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// A path template joined to the run's host; joined once when static.
#[derive(Debug)]
pub(crate) struct PreparedPath {
    path: Template,
    fixed: Option<Target>,
    base: Arc<OriginInfo>,
}

impl PreparedPath {
    pub(crate) fn new(path: &Template, base: &Arc<OriginInfo>) -> Result<PreparedPath, String> {
        let fixed = if path.is_static() {
            Some(Target::join(base, path.source()).map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(PreparedPath {
            path: path.clone(),
            fixed,
            base: base.clone(),
        })
    }

    pub(crate) fn target(&self, vars: &Vars) -> Result<Target, String> {
        match &self.fixed {
            Some(t) => Ok(t.clone()),
            None => {
                let path = self.path.render(vars).map_err(|e| e.to_string())?;
                Target::join(&self.base, &path).map_err(|e| e.to_string())
            }
        }
    }
}

/// A step's checks split for protocols where the head (status, headers) and the body
/// (messages, events) arrive apart: the head checks run on the handshake or the stream's
/// response, the body checks on the message they apply to.
#[derive(Debug, Default)]
pub(crate) struct SplitChecks {
    pub(crate) head: Checks,
    pub(crate) head_captures: Vec<Capture>,
    pub(crate) body: Checks,
    pub(crate) body_captures: Vec<Capture>,
}

impl SplitChecks {
    pub(crate) fn new(step: &Step) -> SplitChecks {
        let c = &step.checks;
        let (body_captures, head_captures) = step
            .captures
            .iter()
            .cloned()
            .partition(|cap| cap.source.needs_body());
        SplitChecks {
            head: Checks {
                status: c.status.clone(),
                header: c.header.clone(),
                max_time: c.max_time,
                ..Checks::default()
            },
            head_captures,
            body: Checks {
                // The status passed with the head; the body view carries a neutral 200.
                status: None,
                body_contains: c.body_contains.clone(),
                json: c.json.clone(),
                ..Checks::default()
            },
            body_captures,
        }
    }

    pub(crate) fn has_body_checks(&self) -> bool {
        self.body.needs_body() || !self.body_captures.is_empty()
    }

    /// The body checks and captures on one message (an SSE event, a WebSocket reply).
    pub(crate) fn check_message(
        &self,
        body: &[u8],
        elapsed: std::time::Duration,
        vars: &mut Vars,
    ) -> Result<(), String> {
        if !self.has_body_checks() {
            return Ok(());
        }
        let headers = HeaderMap::new();
        let view = super::check::ResponseView {
            status: 200,
            headers: &headers,
            body,
            elapsed,
        };
        super::check::verify(&self.body, &self.body_captures, &view, vars)
    }
}

/// Whether `msg` is the JSON-RPC response (not a request or notification) with this id.
pub(crate) fn is_response_to(msg: &serde_json::Value, id: &serde_json::Value) -> bool {
    msg.get("method").is_none() && msg.get("id").is_some_and(|got| ids_equal(got, id))
}

/// JSON-RPC ids compare by value (`1` equals `1.0`: some servers echo numbers as floats).
pub(crate) fn ids_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    a == b || matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

/// `Some("JSON-RPC error CODE: message")` when the response carries an `error` whose code is
/// not allowed.
pub(crate) fn rpc_error(msg: &serde_json::Value, allow_codes: &[i64]) -> Option<String> {
    let error = msg.get("error")?;
    if error.is_null() {
        return None;
    }
    let code = error.get("code").and_then(serde_json::Value::as_i64);
    if code.is_some_and(|c| allow_codes.contains(&c)) {
        return None;
    }
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    Some(match code {
        Some(code) => format!("JSON-RPC error {code}: {}", short(message)),
        None => format!("JSON-RPC error without a code: {}", short(message)),
    })
}

/// Target text in a failure message: short, so that messages group and stay readable.
pub(crate) fn short(s: &str) -> String {
    const MAX: usize = 120;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_rpc_errors_carry_their_code_unless_allowed() {
        let err = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Method not found: x"}});
        assert_eq!(
            rpc_error(&err, &[]).as_deref(),
            Some("JSON-RPC error -32601: Method not found: x")
        );
        assert_eq!(rpc_error(&err, &[-32000, -32601]), None);
        assert_eq!(rpc_error(&json!({"id": 1, "result": {}}), &[]), None);
        assert_eq!(
            rpc_error(&json!({"id": 1, "error": "boom"}), &[]).as_deref(),
            Some("JSON-RPC error without a code: ")
        );
    }

    #[test]
    fn headers_rendering_empty_are_not_sent() {
        let t = |s: &str| Template::parse(s).expect("a template");
        let mut vars = Vars::new(crate::engine::vars::SharedVars::empty());
        let defaults = [
            (
                "Authorization".to_string(),
                t("{{ 'Bearer ' ~ token if token else '' }}"),
            ),
            ("X-Trace".to_string(), t("on")),
        ];
        let step = [("X-Trace".to_string(), t(" "))];
        let headers = PreparedHeaders::new(&defaults, &step, &vars).expect("headers");
        vars.set("token", serde_json::Value::from(""));
        let map = headers.render(&vars).expect("rendered");
        assert!(map.is_empty(), "{map:?}");
        vars.set("token", serde_json::Value::from("s3cret"));
        let map = headers.render(&vars).expect("rendered");
        assert_eq!(map.len(), 1);
        assert_eq!(map["authorization"], "Bearer s3cret");
    }

    #[test]
    fn responses_match_by_id_value() {
        assert!(is_response_to(&json!({"id": 3, "result": 1}), &json!(3)));
        assert!(is_response_to(&json!({"id": 3.0, "result": 1}), &json!(3)));
        assert!(is_response_to(
            &json!({"id": "a", "error": {}}),
            &json!("a")
        ));
        assert!(!is_response_to(&json!({"id": 4, "result": 1}), &json!(3)));
        // a server-to-client request reusing the number is not our response
        assert!(!is_response_to(
            &json!({"id": 3, "method": "ping"}),
            &json!(3)
        ));
    }
}

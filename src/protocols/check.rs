//! Checks and captures on a received response. Pure: the executor hands in a view of what it
//! received; nothing here does I/O. Failure messages carry no per-request data (ids, sizes,
//! timings) so that identical failures group into one row.

use std::time::Duration;

use crate::engine::vars::Vars;
use crate::plan::duration::format_duration;
use crate::plan::model::{
    Capture, CaptureSource, Checks, HeaderCheck, HeaderExpect, JsonCheck, JsonExpect,
};

/// What a step received, borrowed from the executor.
pub struct ResponseView<'a> {
    pub status: u16,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    pub elapsed: Duration,
}

/// The body parsed as JSON on first use, at most once per response.
struct LazyJson<'a> {
    body: &'a [u8],
    parsed: Option<Option<serde_json::Value>>,
}

impl LazyJson<'_> {
    fn get(&mut self) -> Option<&serde_json::Value> {
        let body = self.body;
        self.parsed
            .get_or_insert_with(|| serde_json::from_slice(body).ok())
            .as_ref()
    }

    fn why_not(&self) -> &'static str {
        if self.body.is_empty() {
            "an empty body"
        } else {
            "a body that is not JSON"
        }
    }
}

/// A value for a message: short, so that messages stay readable and group well.
fn shown(v: &serde_json::Value) -> String {
    short(&v.to_string())
}

fn short(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// JSON numbers compare by value (`1` equals `1.0`); everything else structurally.
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            x == y || x.as_f64().is_some_and(|x| y.as_f64() == Some(x))
        }
        _ => a == b,
    }
}

/// Runs the step's checks, then its captures into `vars`. Err is the failure message, saying
/// which check failed and what was found, then the start of the body (which often says why:
/// `422 "Cannot manually create MCP tools..."`). Without `check.status`, a status ≥ 400 fails
/// with `HTTP <status>` (Locust's rule).
pub fn verify(
    checks: &Checks,
    captures: &[Capture],
    resp: &ResponseView<'_>,
    vars: &mut Vars,
) -> Result<(), String> {
    verify_checks(checks, captures, resp, vars).map_err(|message| with_body(message, resp.body))
}

/// Bytes of the body a failure message quotes.
const BODY_SNIPPET: usize = 200;

/// `message`, then up to [`BODY_SNIPPET`] bytes of the body, escaped (`\n`, `\"`, invalid
/// UTF-8 as U+FFFD) and cut at a character boundary with `…` when longer.
pub fn with_body(message: String, body: &[u8]) -> String {
    if body.is_empty() {
        return message;
    }
    let head = &body[..body.len().min(BODY_SNIPPET + 4)];
    let text = String::from_utf8_lossy(head);
    let mut cut = text.len().min(BODY_SNIPPET);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let more = if body.len() > cut { "…" } else { "" };
    format!("{message}; body: {:?}{more}", &text[..cut])
}

/// [`verify`] without the body quote (for a caller that says why better, e.g. an rpc step's
/// JSON-RPC error).
pub fn verify_checks(
    checks: &Checks,
    captures: &[Capture],
    resp: &ResponseView<'_>,
    vars: &mut Vars,
) -> Result<(), String> {
    check_status(checks.status.as_deref(), resp.status)?;
    if let Some(max) = checks.max_time {
        if resp.elapsed > max {
            return Err(format!(
                "check.max_time: expected ≤ {}, took longer",
                format_duration(max)
            ));
        }
    }
    check_headers(&checks.header, resp.headers)?;
    check_body_contains(&checks.body_contains, resp.body)?;
    let mut json = LazyJson {
        body: resp.body,
        parsed: None,
    };
    check_json(&checks.json, &mut json)?;
    for capture in captures {
        apply_capture(capture, resp, &mut json, vars)?;
    }
    Ok(())
}

fn check_status(allowed: Option<&[u16]>, status: u16) -> Result<(), String> {
    match allowed {
        Some(allowed) if !allowed.contains(&status) => {
            let expected = match allowed {
                [one] => one.to_string(),
                many => format!(
                    "one of {}",
                    many.iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Err(format!("check.status: expected {expected}, found {status}"))
        }
        None if status >= 400 => Err(format!("HTTP {status}")),
        _ => Ok(()),
    }
}

fn check_headers(expected: &[HeaderCheck], headers: &http::HeaderMap) -> Result<(), String> {
    for h in expected {
        let value = headers.get(h.name.as_str());
        match (&h.expect, value) {
            (_, None) => {
                let expected = match &h.expect {
                    HeaderExpect::Exists => "to exist".to_string(),
                    HeaderExpect::Contains(s) => format!("to contain {s:?}"),
                };
                return Err(format!(
                    "check.header {}: expected {expected}, found nothing",
                    h.name
                ));
            }
            (HeaderExpect::Exists, Some(_)) => {}
            (HeaderExpect::Contains(s), Some(v)) => {
                let text = String::from_utf8_lossy(v.as_bytes());
                if !text.contains(s.as_str()) {
                    return Err(format!(
                        "check.header {}: expected to contain {s:?}, found {:?}",
                        h.name,
                        short(&text)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_body_contains(needles: &[String], body: &[u8]) -> Result<(), String> {
    for needle in needles {
        if !contains(body, needle.as_bytes()) {
            let where_ = if body.is_empty() {
                "the body (empty)"
            } else {
                "the body"
            };
            return Err(format!(
                "check.body_contains: {needle:?} not found in {where_}"
            ));
        }
    }
    Ok(())
}

fn check_json(checks: &[JsonCheck], json: &mut LazyJson<'_>) -> Result<(), String> {
    for check in checks {
        let why_not = json.why_not();
        let Some(doc) = json.get() else {
            return Err(format!(
                "check.json {}: expected a JSON body, found {why_not}",
                check.path_source
            ));
        };
        let first = check.path.query(doc).first();
        match (&check.expect, first) {
            (JsonExpect::Exists, Some(_)) => {}
            (JsonExpect::Exists, None) => {
                return Err(format!(
                    "check.json {}: expected to exist, found nothing",
                    check.path_source
                ))
            }
            (JsonExpect::Equals(want), found) => {
                if !found.is_some_and(|f| json_equal(f, want)) {
                    let found = found.map_or_else(|| "nothing".to_string(), shown);
                    return Err(format!(
                        "check.json {}: expected {}, found {found}",
                        check.path_source,
                        shown(want)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn apply_capture(
    capture: &Capture,
    resp: &ResponseView<'_>,
    json: &mut LazyJson<'_>,
    vars: &mut Vars,
) -> Result<(), String> {
    let fail = |why: &str| format!("capture {} ({}): {why}", capture.var, capture.source_text);
    match &capture.source {
        CaptureSource::Status => vars.set(&capture.var, serde_json::Value::from(resp.status)),
        CaptureSource::Header(name) => match resp.headers.get(name.as_str()) {
            Some(v) => vars.set_str(&capture.var, &String::from_utf8_lossy(v.as_bytes())),
            None => return Err(fail("no such header")),
        },
        CaptureSource::Json(path) => {
            let why_not = json.why_not();
            let Some(doc) = json.get() else {
                return Err(fail(&format!("expected a JSON body, found {why_not}")));
            };
            match path.query(doc).first() {
                Some(v) => vars.set(&capture.var, v.clone()),
                None => return Err(fail("nothing matched")),
            }
        }
        CaptureSource::JsonAll(path) => {
            let why_not = json.why_not();
            let Some(doc) = json.get() else {
                return Err(fail(&format!("expected a JSON body, found {why_not}")));
            };
            // A pool may be empty (a catalogue with nothing in it yet): that is a finding,
            // not a failure; `pick()` on it fails the request that needs an element.
            let list = path.query(doc).all().into_iter().cloned().collect();
            vars.set(&capture.var, serde_json::Value::Array(list));
        }
        CaptureSource::Regex(re) => {
            let text = String::from_utf8_lossy(resp.body);
            let Some(caps) = re.captures(&text) else {
                return Err(fail("nothing matched"));
            };
            let m = caps.get(1).or_else(|| caps.get(0));
            vars.set_str(&capture.var, m.map_or("", |m| m.as_str()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_quotes_the_start_of_the_body() {
        let headers = http::HeaderMap::new();
        let resp = |status: u16, body: &'static [u8]| ResponseView {
            status,
            headers: &headers,
            body,
            elapsed: std::time::Duration::ZERO,
        };
        let checks = Checks {
            status: Some(vec![200, 201]),
            ..Checks::default()
        };
        let mut vars = Vars::new(crate::engine::vars::SharedVars::empty());
        let body = br#"{"detail":"Cannot manually create MCP tools. Add MCP servers via the Gateways interface"}"#;
        assert_eq!(
            verify(&checks, &[], &resp(422, body), &mut vars).unwrap_err(),
            r#"check.status: expected one of 200, 201, found 422; body: "{\"detail\":\"Cannot manually create MCP tools. Add MCP servers via the Gateways interface\"}""#
        );
        // Long bodies are cut at 200 bytes (on a character boundary), lines escaped.
        let long: &'static [u8] = Box::leak(
            format!("é{}\nend", "x".repeat(300))
                .into_bytes()
                .into_boxed_slice(),
        );
        let e = verify(&checks, &[], &resp(500, long), &mut vars).unwrap_err();
        assert!(
            e.starts_with("check.status: expected one of 200, 201, found 500; body: \"éxxx"),
            "{e}"
        );
        assert!(e.ends_with("xxx\"…") && e.len() < 300, "{e}");
        // No body: the message alone.
        assert_eq!(
            verify(&Checks::default(), &[], &resp(503, b""), &mut vars).unwrap_err(),
            "HTTP 503"
        );
    }
    use crate::engine::vars::SharedVars;
    use serde_json::json;

    fn path(p: &str) -> serde_json_path::JsonPath {
        serde_json_path::JsonPath::parse(p).unwrap()
    }

    fn capture(var: &str, text: &str) -> Capture {
        let source = if text == "status" {
            CaptureSource::Status
        } else if let Some(p) = text.strip_prefix("jsonall:") {
            CaptureSource::JsonAll(path(p))
        } else if let Some(p) = text.strip_prefix("json:") {
            CaptureSource::Json(path(p))
        } else if let Some(h) = text.strip_prefix("header:") {
            CaptureSource::Header(h.to_ascii_lowercase())
        } else {
            CaptureSource::Regex(regex::Regex::new(text.strip_prefix("regex:").unwrap()).unwrap())
        };
        Capture {
            var: var.into(),
            source,
            source_text: text.into(),
        }
    }

    fn json_check(p: &str, expect: JsonExpect) -> JsonCheck {
        JsonCheck {
            path_source: p.into(),
            path: path(p),
            expect,
        }
    }

    struct Resp {
        status: u16,
        headers: http::HeaderMap,
        body: Vec<u8>,
        elapsed: Duration,
    }

    fn resp(status: u16, body: &str) -> Resp {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("mcp-session-id", "s-123".parse().unwrap());
        Resp {
            status,
            headers,
            body: body.as_bytes().to_vec(),
            elapsed: Duration::from_millis(20),
        }
    }

    fn run(checks: &Checks, captures: &[Capture], r: &Resp) -> (Result<(), String>, Vars) {
        let mut vars = Vars::new(SharedVars::empty());
        let view = ResponseView {
            status: r.status,
            headers: &r.headers,
            body: &r.body,
            elapsed: r.elapsed,
        };
        (verify_checks(checks, captures, &view, &mut vars), vars)
    }

    fn err(checks: &Checks, r: &Resp) -> String {
        run(checks, &[], r).0.unwrap_err()
    }

    #[test]
    fn status_rules() {
        let none = Checks::default();
        assert_eq!(run(&none, &[], &resp(200, "")).0, Ok(()));
        assert_eq!(run(&none, &[], &resp(302, "")).0, Ok(()));
        assert_eq!(err(&none, &resp(404, "")), "HTTP 404");
        let one = Checks {
            status: Some(vec![200]),
            ..Checks::default()
        };
        assert_eq!(
            err(&one, &resp(404, "")),
            "check.status: expected 200, found 404"
        );
        let many = Checks {
            status: Some(vec![200, 201]),
            ..Checks::default()
        };
        assert_eq!(
            err(&many, &resp(204, "")),
            "check.status: expected one of 200, 201, found 204"
        );
        let not_found_ok = Checks {
            status: Some(vec![404]),
            ..Checks::default()
        };
        assert_eq!(run(&not_found_ok, &[], &resp(404, "")).0, Ok(()));
    }

    #[test]
    fn body_time_and_header_checks() {
        let body = Checks {
            body_contains: vec!["ok".into()],
            ..Checks::default()
        };
        assert_eq!(run(&body, &[], &resp(200, "all ok")).0, Ok(()));
        assert_eq!(
            err(&body, &resp(200, "nope")),
            "check.body_contains: \"ok\" not found in the body"
        );
        assert_eq!(
            err(&body, &resp(200, "")),
            "check.body_contains: \"ok\" not found in the body (empty)"
        );
        let time = Checks {
            max_time: Some(Duration::from_millis(10)),
            ..Checks::default()
        };
        assert_eq!(
            err(&time, &resp(200, "")),
            "check.max_time: expected ≤ 10ms, took longer"
        );
        let header = Checks {
            header: vec![HeaderCheck {
                name: "content-type".into(),
                expect: HeaderExpect::Contains("text/html".into()),
            }],
            ..Checks::default()
        };
        assert_eq!(
            err(&header, &resp(200, "")),
            "check.header content-type: expected to contain \"text/html\", found \"application/json\""
        );
        let exists = Checks {
            header: vec![HeaderCheck {
                name: "x-missing".into(),
                expect: HeaderExpect::Exists,
            }],
            ..Checks::default()
        };
        assert_eq!(
            err(&exists, &resp(200, "")),
            "check.header x-missing: expected to exist, found nothing"
        );
    }

    #[test]
    fn json_checks() {
        let checks = Checks {
            json: vec![
                json_check("$.result.tools", JsonExpect::Exists),
                json_check("$.n", JsonExpect::Equals(json!(1))),
            ],
            ..Checks::default()
        };
        assert_eq!(
            run(
                &checks,
                &[],
                &resp(200, r#"{"result":{"tools":[]},"n":1.0}"#)
            )
            .0,
            Ok(())
        );
        assert_eq!(
            err(&checks, &resp(200, r#"{"result":{}}"#)),
            "check.json $.result.tools: expected to exist, found nothing"
        );
        assert_eq!(
            err(&checks, &resp(200, r#"{"result":{"tools":1},"n":"x"}"#)),
            "check.json $.n: expected 1, found \"x\""
        );
        assert_eq!(
            err(&checks, &resp(200, r#"{"result":{"tools":1}}"#)),
            "check.json $.n: expected 1, found nothing"
        );
        assert_eq!(
            err(&checks, &resp(200, "<html>")),
            "check.json $.result.tools: expected a JSON body, found a body that is not JSON"
        );
        assert_eq!(
            err(&checks, &resp(200, "")),
            "check.json $.result.tools: expected a JSON body, found an empty body"
        );
    }

    #[test]
    fn captures_store_values() {
        let caps = [
            capture("tool_id", "json:$[0].id"),
            capture("n", "json:$[0].n"),
            capture("session", "header:Mcp-Session-Id"),
            capture("code", "status"),
            capture("word", "regex:\"name\":\"(\\w+)\""),
            capture("whole", "regex:n.:\\d"),
        ];
        let (result, vars) = run(
            &Checks::default(),
            &caps,
            &resp(200, r#"[{"id":"abc","n":5,"name":"hammer"}]"#),
        );
        assert_eq!(result, Ok(()));
        assert_eq!(vars.get("tool_id"), Some(json!("abc")));
        assert_eq!(vars.get("n"), Some(json!(5)));
        assert_eq!(vars.get("session"), Some(json!("s-123")));
        assert_eq!(vars.get("code"), Some(json!(200)));
        assert_eq!(vars.get("word"), Some(json!("hammer")));
        assert_eq!(vars.get("whole"), Some(json!("n\":5")));
        let t = crate::plan::template::Template::parse("/tools/{{ tool_id }}").unwrap();
        assert_eq!(t.render(&vars).unwrap(), "/tools/abc");
    }

    #[test]
    fn capture_failures_name_the_capture() {
        let caps = [capture("tool_id", "json:$[0].id")];
        assert_eq!(
            run(&Checks::default(), &caps, &resp(200, "[]")).0,
            Err("capture tool_id (json:$[0].id): nothing matched".to_string())
        );
        assert_eq!(
            run(&Checks::default(), &caps, &resp(200, "oops")).0,
            Err("capture tool_id (json:$[0].id): expected a JSON body, found a body that is not JSON".to_string())
        );
        let caps = [capture("s", "header:x-none")];
        assert_eq!(
            run(&Checks::default(), &caps, &resp(200, "")).0,
            Err("capture s (header:x-none): no such header".to_string())
        );
        let caps = [capture("r", "regex:id=(\\d+)")];
        assert_eq!(
            run(&Checks::default(), &caps, &resp(200, "no ids")).0,
            Err("capture r (regex:id=(\\d+)): nothing matched".to_string())
        );
    }

    #[test]
    fn multi_match_captures_keep_every_match_as_a_list() {
        let caps = [capture("ids", "jsonall:$[*].id")];
        let (result, vars) = run(
            &Checks::default(),
            &caps,
            &resp(200, r#"[{"id":"a"},{"id":2},{"x":1}]"#),
        );
        assert_eq!(result, Ok(()));
        assert_eq!(vars.get("ids"), Some(json!(["a", 2])));
        let t = crate::plan::template::Template::parse("{{ pick(ids) }}").unwrap();
        for _ in 0..20 {
            let out = t.render(&vars).unwrap().into_owned();
            assert!(out == "a" || out == "2", "{out}");
        }
        let (result, vars) = run(&Checks::default(), &caps, &resp(200, "[]"));
        assert_eq!(result, Ok(()));
        assert_eq!(vars.get("ids"), Some(json!([])));
        assert_eq!(
            run(&Checks::default(), &caps, &resp(200, "<html>")).0,
            Err("capture ids (jsonall:$[*].id): expected a JSON body, found a body that is not JSON".to_string())
        );
    }

    #[test]
    fn checks_run_before_captures() {
        let checks = Checks {
            status: Some(vec![200]),
            ..Checks::default()
        };
        let caps = [capture("code", "status")];
        let (result, vars) = run(&checks, &caps, &resp(500, ""));
        assert_eq!(
            result,
            Err("check.status: expected 200, found 500".to_string())
        );
        assert_eq!(vars.get("code"), None);
    }
}

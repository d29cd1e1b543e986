//! HAR 1.2 (a browser's "Save all as HAR") → one user class running the recording as one
//! sequential task, in recorded order (as har-to-k6 does). Only the main host's requests are
//! kept (the first page's, else the most frequent one), static assets are dropped unless asked
//! for, the idle time between one response and the next request becomes a `think` step, and
//! request bodies stay JSON (a table), forms (a form) or text.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::headers;
use super::paths::{origin_of, path_and_query, stats_name};
use super::plan_writer::{
    as_rpc, fits_toml, literal, literal_json, BodyDoc, PlanDoc, RequestDoc, StepDoc, TaskDoc,
};
use super::{ImportError, ImportOptions};

/// A pause shorter than this is the browser's own pace (a page fetching its fragments), not a
/// person thinking.
const MIN_THINK: Duration = Duration::from_millis(500);
/// Longer pauses (the recorder went for coffee) are cut to this.
const MAX_THINK: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Har {
    log: Log,
}

#[derive(Deserialize)]
struct Log {
    #[serde(default)]
    pages: Vec<Page>,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    started_date_time: String,
    /// Total time of the request in ms (-1 or absent: unknown).
    #[serde(default)]
    time: f64,
    request: Request,
    #[serde(default)]
    response: Option<Response>,
    /// Chrome's resource type (document, xhr, fetch, script, stylesheet, image, font ...).
    #[serde(default, rename = "_resourceType")]
    resource_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(default)]
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    params: Vec<NameValue>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    status: i64,
    #[serde(default, rename = "redirectURL")]
    redirect_url: String,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(default)]
    cookies: Vec<NameValue>,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    #[serde(default)]
    mime_type: String,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    #[serde(default)]
    value: String,
}

/// One entry that is kept, with what the plan needs of it.
struct Kept<'h> {
    entry: &'h Entry,
    url: url::Url,
    started: Option<OffsetDateTime>,
}

pub(crate) fn import(input: &str, opts: &ImportOptions) -> Result<PlanDoc, ImportError> {
    let har: Har = serde_json::from_str(input).map_err(|e| {
        ImportError::content(format!(
            "not a HAR file (JSON with log.entries): {e} at line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    let entries = &har.log.entries;
    let parsed: Vec<(usize, url::Url)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| url::Url::parse(&e.request.url).ok().map(|u| (i, u)))
        .filter(|(_, u)| matches!(u.scheme(), "http" | "https"))
        .collect();
    let Some(host) = main_host(&har.log.pages, &parsed) else {
        return Err(ImportError::content(
            "the HAR file has no http(s) request in log.entries",
        ));
    };
    let mut other_hosts = 0;
    let mut statics = 0;
    let mut sockets = 0;
    let mut kept = Vec::new();
    for (i, url) in parsed {
        let entry = &entries[i];
        if origin_of(&url) != host {
            other_hosts += 1;
        } else if entry.response.as_ref().is_some_and(|r| r.status == 101) {
            sockets += 1;
        } else if !opts.keep_static && is_static(entry, &url) {
            statics += 1;
        } else {
            kept.push(Kept {
                entry,
                started: OffsetDateTime::parse(&entry.started_date_time, &Rfc3339).ok(),
                url,
            });
        }
    }
    if kept.is_empty() {
        return Err(ImportError::content(format!(
            "the HAR file has no request to keep for {host} ({statics} static assets dropped; \
             --keep-static keeps them)"
        )));
    }
    // Recorded order is the order of starts; HAR writers usually sort so already.
    kept.sort_by_key(|k| k.started);

    let mut doc = PlanDoc {
        name: format!("Imported from {}", opts.source),
        description: format!(
            "Recorded browser session ({} requests to {host}), imported from a HAR file",
            kept.len()
        ),
        host: host.clone(),
        class_name: "RecordedUser".into(),
        wait: "constant(1s)".into(),
        ..PlanDoc::default()
    };
    doc.comments.push(format!(
        "Imported by `hornet import har` from {}: {} requests to {host} in recorded order,",
        opts.source,
        kept.len()
    ));
    doc.comments
        .push("pauses of 500 ms or more between them as think steps (cut to 30 s).".to_string());
    let mut dropped = Vec::new();
    if statics > 0 {
        dropped.push(format!(
            "{} (--keep-static keeps them)",
            counted(statics, "static asset")
        ));
    }
    if other_hosts > 0 {
        dropped.push(format!(
            "{} to other hosts",
            counted(other_hosts, "request")
        ));
    }
    if sockets > 0 {
        dropped.push(counted(sockets, "WebSocket upgrade"));
    }
    if !dropped.is_empty() {
        doc.comments
            .push(format!("Dropped: {}.", dropped.join(", ")));
    }

    let mut server_cookies: HashSet<String> = HashSet::new();
    let mut steps = Vec::new();
    let mut previous_end: Option<OffsetDateTime> = None;
    let mut redirected_to: Option<url::Url> = None;
    let mut followed = 0;
    for k in &kept {
        // Hornet follows redirects itself: the browser's own request to the new location
        // would be a second one.
        let follows = redirected_to.take().is_some_and(|to| to == k.url)
            && k.entry.request.method.eq_ignore_ascii_case("get");
        redirected_to = redirect_target(k);
        if follows {
            followed += 1;
            continue;
        }
        if let (Some(end), Some(start)) = (previous_end, k.started) {
            let gap = start - end;
            if let Ok(gap) = Duration::try_from(gap) {
                if gap >= MIN_THINK {
                    steps.push(StepDoc::Think(round_think(gap.min(MAX_THINK))));
                }
            }
        }
        if let Some(start) = k.started {
            let took = time::Duration::milliseconds(k.entry.time.max(0.0) as i64);
            previous_end = Some(start + took);
        }
        steps.push(as_rpc(request(k, &server_cookies, &mut doc)?));
        if let Some(resp) = &k.entry.response {
            server_cookies.extend(resp.cookies.iter().map(|c| c.name.clone()));
            for h in &resp.headers {
                if h.name.eq_ignore_ascii_case("set-cookie") {
                    if let Some(name) = h.value.split('=').next() {
                        server_cookies.insert(name.trim().to_string());
                    }
                }
            }
        }
    }
    if followed > 0 {
        doc.comments.push(format!(
            "{} after a redirect left out: Hornet follows redirects.",
            counted(followed, "request")
        ));
    }
    doc.tasks.push(TaskDoc {
        name: "recorded session".into(),
        weight: None,
        tags: Vec::new(),
        steps,
    });
    Ok(doc)
}

/// The origin of the first page (its title is its URL in Chrome's and Firefox's HARs) when
/// requests went there, else the origin most requests went to.
fn main_host(pages: &[Page], parsed: &[(usize, url::Url)]) -> Option<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut first_seen: Vec<String> = Vec::new();
    for (_, u) in parsed {
        let origin = origin_of(u);
        let n = counts.entry(origin.clone()).or_insert(0);
        if *n == 0 {
            first_seen.push(origin);
        }
        *n += 1;
    }
    let page_host = pages
        .first()
        .and_then(|p| url::Url::parse(&p.title).ok())
        .map(|u| origin_of(&u))
        .filter(|o| counts.contains_key(o));
    page_host.or_else(|| {
        // Most frequent; ties go to the one seen first.
        first_seen
            .iter()
            .max_by_key(|o| {
                (
                    counts[*o],
                    std::cmp::Reverse(first_seen.iter().position(|f| f == *o)),
                )
            })
            .cloned()
    })
}

fn is_static(entry: &Entry, url: &url::Url) -> bool {
    if let Some(kind) = &entry.resource_type {
        if matches!(
            kind.as_str(),
            "image" | "stylesheet" | "script" | "font" | "media" | "manifest"
        ) {
            return true;
        }
    }
    let mime = entry
        .response
        .as_ref()
        .and_then(|r| r.content.as_ref())
        .map(|c| c.mime_type.to_ascii_lowercase())
        .unwrap_or_default();
    if mime.starts_with("image/")
        || mime.starts_with("font/")
        || mime.starts_with("text/css")
        || mime.contains("javascript")
        || mime.contains("font-woff")
    {
        return true;
    }
    let path = url.path().to_ascii_lowercase();
    const EXTENSIONS: &[&str] = &[
        ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".avif", ".bmp", ".css", ".js",
        ".mjs", ".map", ".woff", ".woff2", ".ttf", ".otf", ".eot",
    ];
    EXTENSIONS.iter().any(|x| path.ends_with(x))
}

/// Where a recorded 3xx answer sent the browser (`redirectURL`, else `Location`).
fn redirect_target(k: &Kept<'_>) -> Option<url::Url> {
    let resp = k.entry.response.as_ref()?;
    if !(300..400).contains(&resp.status) || resp.status == 304 {
        return None;
    }
    let location = Some(resp.redirect_url.as_str())
        .filter(|l| !l.is_empty())
        .or_else(|| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("location"))
                .map(|h| h.value.as_str())
        })?;
    k.url.join(location).ok()
}

/// "1 request", "2 requests".
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// To the 100 ms: a recording's microseconds are noise.
fn round_think(d: Duration) -> Duration {
    Duration::from_millis((d.as_millis() as u64).div_ceil(100) * 100)
}

fn request(
    k: &Kept<'_>,
    server_cookies: &HashSet<String>,
    doc: &mut PlanDoc,
) -> Result<RequestDoc, ImportError> {
    let req = &k.entry.request;
    let method = req.method.to_ascii_lowercase();
    if !matches!(
        method.as_str(),
        "get" | "post" | "put" | "patch" | "delete" | "head"
    ) {
        return Err(ImportError::content(format!(
            "{} {}: method {} has no step kind (get, post, put, patch, delete, head)",
            req.method, req.url, req.method
        )));
    }
    let raw_headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    let mut kept_headers = headers::keep(&raw_headers, server_cookies, doc);
    let body = req.post_data.as_ref().and_then(body);
    if matches!(body, Some(BodyDoc::Json(_) | BodyDoc::Form(_))) {
        // Hornet sets it for json and form bodies.
        kept_headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    }
    let path = path_and_query(&k.url);
    let status = k.entry.response.as_ref().map_or(0, |r| r.status);
    Ok(RequestDoc {
        method,
        name: stats_name(&path),
        path: literal(&path),
        headers: kept_headers,
        body,
        check_status: u16::try_from(status)
            .ok()
            .filter(|s| (200..300).contains(s))
            .into_iter()
            .collect(),
    })
}

/// A recorded body: JSON as a table (a text body when it holds a null, which TOML cannot),
/// a URL-encoded form as a form, anything else as text.
fn body(post: &PostData) -> Option<BodyDoc> {
    let mime = post.mime_type.to_ascii_lowercase();
    let text = post.text.clone().unwrap_or_default();
    if mime.contains("json") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if fits_toml(&v) {
                return Some(BodyDoc::Json(literal_json(v)));
            }
        }
    }
    if mime.starts_with("application/x-www-form-urlencoded") {
        let fields: Vec<(String, String)> = if post.params.is_empty() {
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), literal(&v)))
                .collect()
        } else {
            post.params
                .iter()
                .map(|p| (p.name.clone(), literal(&p.value)))
                .collect()
        };
        return Some(BodyDoc::Form(fields));
    }
    if text.is_empty() {
        return None;
    }
    Some(BodyDoc::Text(literal(&text)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::import::{import as import_any, ImportKind};

    fn entry(
        at: &str,
        ms: f64,
        method: &str,
        url: &str,
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut e = json!({
            "startedDateTime": at,
            "time": ms,
            "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": [
                {"name": "User-Agent", "value": "Mozilla/5.0"},
                {"name": "Accept-Encoding", "value": "gzip"},
            ]},
            "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json"}},
        });
        if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                e.insert(k.clone(), v.clone());
            }
        }
        e
    }

    fn har(entries: Vec<serde_json::Value>) -> String {
        json!({"log": {"version": "1.2", "pages": [{"title": "http://app.test/admin/"}], "entries": entries}})
            .to_string()
    }

    fn opts() -> ImportOptions {
        ImportOptions {
            source: "session.har".into(),
            ..ImportOptions::default()
        }
    }

    #[test]
    fn gaps_become_think_steps_and_statics_and_other_hosts_go() {
        let text = har(vec![
            entry(
                "2026-01-01T10:00:00.000Z",
                100.0,
                "GET",
                "http://app.test/admin/",
                json!({
                "response": {"status": 200, "content": {"mimeType": "text/html"}}}),
            ),
            entry(
                "2026-01-01T10:00:00.150Z",
                20.0,
                "GET",
                "http://app.test/static/app.css",
                json!({}),
            ),
            entry(
                "2026-01-01T10:00:00.160Z",
                20.0,
                "GET",
                "http://cdn.test/htmx.js",
                json!({}),
            ),
            entry(
                "2026-01-01T10:00:00.200Z",
                50.0,
                "GET",
                "http://app.test/tools/70010000000000000000000000000001",
                json!({}),
            ),
            // 2.25 s after the previous response ended (0.25 s): a think of 2.3 s.
            entry(
                "2026-01-01T10:00:02.500Z",
                30.0,
                "GET",
                "http://app.test/tools/70010000000000000000000000000002",
                json!({}),
            ),
        ]);
        let doc = import(&text, &opts()).unwrap();
        assert_eq!(doc.host, "http://app.test");
        let steps = &doc.tasks[0].steps;
        assert_eq!(steps.len(), 4, "{steps:?}");
        match &steps[2] {
            StepDoc::Think(d) => assert_eq!(*d, Duration::from_millis(2300)),
            other => panic!("not a think: {other:?}"),
        }
        let names: Vec<Option<&str>> = steps
            .iter()
            .filter_map(|s| match s {
                StepDoc::Request(r) => Some(r.name.as_deref()),
                StepDoc::Rpc(_) | StepDoc::Think(_) => None,
            })
            .collect();
        assert_eq!(names, [None, Some("/tools/{id}"), Some("/tools/{id}")]);
        assert!(doc.comments.iter().any(|c| c.contains("1 static asset (")));
        assert!(doc
            .comments
            .iter()
            .any(|c| c.contains("1 request to other hosts")));

        let with_static = import(
            &text,
            &ImportOptions {
                keep_static: true,
                ..opts()
            },
        )
        .unwrap();
        assert_eq!(with_static.tasks[0].steps.len(), 5);
    }

    #[test]
    fn bodies_stay_json_or_form_and_the_plan_checks() {
        let text = har(vec![
            entry(
                "2026-01-01T10:00:00.000Z",
                10.0,
                "POST",
                "http://app.test/tools",
                json!({
                "request": {"method": "POST", "url": "http://app.test/tools", "headers": [
                    {"name": "Content-Type", "value": "application/json"},
                    {"name": "Authorization", "value": "Bearer s3cr3t-t0ken"},
                ], "postData": {"mimeType": "application/json", "text": "{\"name\":\"x {{ y }}\",\"n\":2}"}},
                "response": {"status": 201, "content": {"mimeType": "application/json"}}}),
            ),
            entry(
                "2026-01-01T10:00:00.100Z",
                10.0,
                "POST",
                "http://app.test/login",
                json!({
                "request": {"method": "POST", "url": "http://app.test/login", "headers": [],
                    "postData": {"mimeType": "application/x-www-form-urlencoded", "text": "user=a&pw=b%20c"}},
                "response": {"status": 302, "headers": [{"name": "Set-Cookie", "value": "sid=1; HttpOnly"}]}}),
            ),
            entry(
                "2026-01-01T10:00:00.200Z",
                10.0,
                "GET",
                "http://app.test/me",
                json!({
                "request": {"method": "GET", "url": "http://app.test/me", "headers": [
                    {"name": "Cookie", "value": "sid=1"}]}}),
            ),
        ]);
        let out = import_any(ImportKind::Har, &text, &opts()).unwrap();
        let plan = out.text.as_str();
        assert!(!plan.contains("s3cr3t"), "{plan}");
        assert_eq!(out.env_vars, ["API_TOKEN"]);
        assert!(
            plan.contains("json = { n = 2, name = \"{% raw %}x {{ y }}{% endraw %}\" }"),
            "{plan}"
        );
        assert!(
            plan.contains("form = { user = \"a\", pw = \"b c\" }"),
            "{plan}"
        );
        assert!(plan.contains("check.status = 201"), "{plan}");
        assert!(
            !plan.contains("Cookie"),
            "the server's own cookie is the jar's: {plan}"
        );
        let parsed = crate::plan::parse_str(plan, "imported.toml", None)
            .unwrap_or_else(|e| panic!("{e}\n{plan}"));
        assert_eq!(parsed.users[0].tasks[0].steps.len(), 3);
    }

    #[test]
    fn redirects_are_followed_once_and_json_rpc_calls_are_rpc_steps() {
        let text = har(vec![
            entry(
                "2026-01-01T10:00:00.000Z",
                10.0,
                "POST",
                "http://app.test/login",
                json!({
                "response": {"status": 302, "redirectURL": "/admin/", "headers": []}}),
            ),
            entry(
                "2026-01-01T10:00:00.020Z",
                10.0,
                "GET",
                "http://app.test/admin/",
                json!({}),
            ),
            entry(
                "2026-01-01T10:00:00.040Z",
                10.0,
                "POST",
                "http://app.test/mcp",
                json!({
                "request": {"method": "POST", "url": "http://app.test/mcp", "headers": [
                    {"name": "Content-Type", "value": "application/json"},
                    {"name": "Accept", "value": "application/json, text/event-stream"},
                    {"name": "Mcp-Session-Id", "value": "stale-session"},
                    {"name": "MCP-Protocol-Version", "value": "2025-06-18"},
                ], "postData": {"mimeType": "application/json",
                    "text": "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"hi\"}}}"}}}),
            ),
        ]);
        let out = import_any(ImportKind::Har, &text, &opts()).unwrap();
        let plan = out.text.as_str();
        assert_eq!(plan.matches("get = \"/admin/\"").count(), 0, "{plan}");
        assert!(
            plan.contains("1 request after a redirect left out"),
            "{plan}"
        );
        assert!(plan.contains(
            "{ rpc = \"tools/call\", path = \"/mcp\", params = { arguments = { text = \"hi\" }, name = \"echo\" }, headers = { Mcp-Protocol-Version = \"2025-06-18\" } }"
        ), "{plan}");
        assert!(!plan.contains("stale-session"), "{plan}");
        crate::plan::parse_str(plan, "mcp.toml", None).unwrap_or_else(|e| panic!("{e}\n{plan}"));
    }

    #[test]
    fn not_a_har_says_so() {
        let err = import("{\"log\": {}}", &opts()).unwrap_err();
        assert_eq!(err.field, "content");
        assert!(err.message.contains("not a HAR file"), "{}", err.message);
        let err = import(&har(vec![]), &opts()).unwrap_err();
        assert!(
            err.message.contains("no http(s) request"),
            "{}",
            err.message
        );
    }
}

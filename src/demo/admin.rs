//! The demo target's admin UI: `GET /admin/` (an HTML dashboard of a few KB, like the gateway's
//! much larger one) and the HTML fragments htmx would fetch. Everything shown from the
//! catalogues is HTML-escaped: created names come from clients.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::catalog::{Item, Kind};
use super::{typed_response, TargetState, HTML};

pub(crate) fn router() -> Router<TargetState> {
    Router::new()
        .route("/admin/", get(dashboard))
        .route("/admin/tools", get(admin_tools))
        .route(
            "/admin/tools/partial",
            get(|s: State<TargetState>| partial(s, Kind::Tool)),
        )
        .route(
            "/admin/resources/partial",
            get(|s: State<TargetState>| partial(s, Kind::Resource)),
        )
        .route(
            "/admin/prompts/partial",
            get(|s: State<TargetState>| partial(s, Kind::Prompt)),
        )
        .route("/admin/users/partial", get(users))
        .route("/admin/metrics/partial", get(metrics))
        .route("/admin/teams", get(teams))
        .route("/admin/events", get(events))
        .route("/admin/performance/stats", get(performance))
}

const STYLE: &str =
    "body{font-family:system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}\
header{background:#24292f;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}\
header a{color:#d0d7de;text-decoration:none}main{padding:16px 24px;display:grid;gap:16px}\
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px}\
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:4px 8px;\
border-bottom:1px solid #eaeef2}td.id{font-family:ui-monospace,monospace;color:#57606a}\
.on{color:#1a7f37}.off{color:#cf222e}footer{padding:8px 24px;color:#57606a;font-size:12px}";

const SECTIONS: [(Kind, &str); 5] = [
    (Kind::Tool, "Tools"),
    (Kind::Server, "Virtual servers"),
    (Kind::Gateway, "Gateways"),
    (Kind::Resource, "Resources"),
    (Kind::Prompt, "Prompts"),
];

async fn dashboard(State(state): State<TargetState>) -> Response {
    let mut page = String::with_capacity(8 * 1024);
    page.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        page,
        "<title>Demo Gateway Admin</title><style>{STYLE}</style></head><body>\
         <header><strong>Demo Gateway</strong><nav>"
    );
    for (kind, title) in SECTIONS {
        let _ = write!(page, "<a href=\"#{}s\">{title}</a> ", kind.noun());
    }
    page.push_str("</nav></header><main>");
    for (kind, title) in SECTIONS {
        let snapshot = state.catalog.store(kind).snapshot();
        let _ = write!(
            page,
            "<section id=\"{}s\"><h2>{title} ({})</h2>",
            kind.noun(),
            snapshot.items.len()
        );
        table(&mut page, kind, &snapshot.items);
        page.push_str("</section>");
    }
    let _ = write!(
        page,
        "</main><footer>hornet-demo-target {}</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    typed_response(StatusCode::OK, HTML, page)
}

/// One table of a catalogue: id, name, description (or URI), status.
fn table(out: &mut String, kind: Kind, items: &[std::sync::Arc<Item>]) {
    let _ = write!(
        out,
        "<table id=\"{}s-table\"><thead><tr><th>ID</th><th>Name</th><th>Details</th>\
         <th>Status</th></tr></thead><tbody>",
        kind.noun()
    );
    for item in items {
        let details = match item.str_field("uri") {
            "" => item.str_field("description"),
            uri => uri,
        };
        let enabled = item.json.get("enabled") != Some(&serde_json::Value::Bool(false));
        let (class, label) = if enabled {
            ("on", "Active")
        } else {
            ("off", "Inactive")
        };
        let _ = write!(
            out,
            "<tr><td class=\"id\">{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{label}</td></tr>",
            escape(&item.id),
            escape(&item.name),
            escape(details)
        );
    }
    out.push_str("</tbody></table>");
}

/// `GET /admin/tools`: the tools fragment for a browser, the paginated JSON otherwise.
async fn admin_tools(State(state): State<TargetState>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return partial(State(state), Kind::Tool).await;
    }
    let tools = state.catalog.store(Kind::Tool).snapshot();
    let data: Vec<&serde_json::Value> = tools.items.iter().map(|t| &t.json).collect();
    let total = data.len();
    Json(json!({
        "data": data,
        "pagination": {"page": 1, "per_page": total.max(50), "total_items": total, "total_pages": 1,
                       "has_next": false, "has_prev": false},
        "links": {"self": "/admin/tools?page=1"},
    }))
    .into_response()
}

async fn partial(State(state): State<TargetState>, kind: Kind) -> Response {
    let snapshot = state.catalog.store(kind).snapshot();
    let mut html = String::with_capacity(2048);
    table(&mut html, kind, &snapshot.items);
    typed_response(StatusCode::OK, HTML, html)
}

async fn users() -> Response {
    typed_response(
        StatusCode::OK,
        HTML,
        "<table id=\"users-table\"><thead><tr><th>Email</th><th>Name</th><th>Role</th></tr>\
         </thead><tbody><tr><td>admin@example.com</td><td>Platform Admin</td><td>admin</td></tr>\
         <tr><td>demo@example.com</td><td>Demo User</td><td>member</td></tr></tbody></table>",
    )
}

async fn teams() -> Response {
    typed_response(
        StatusCode::OK,
        HTML,
        "<div id=\"teams\"><ul><li data-team=\"personal\">Personal team (1 member)</li>\
         <li data-team=\"demo\">Demo team (2 members)</li></ul></div>",
    )
}

/// `GET /admin/events`: the gateway's recent admin events (none here).
async fn events() -> Response {
    Json(json!({"events": []})).into_response()
}

/// `GET /admin/performance/stats`: the htmx performance panel.
async fn performance(State(state): State<TargetState>) -> Response {
    typed_response(
        StatusCode::OK,
        HTML,
        format!(
            "<div id=\"performance\"><dl><dt>Requests served</dt><dd>{}</dd>\
             <dt>Open SSE streams</dt><dd>{}</dd></dl></div>",
            state.counters.total(),
            state.sessions.len()
        ),
    )
}

async fn metrics(State(state): State<TargetState>) -> Response {
    let mut html = String::from("<dl id=\"metrics\">");
    for (kind, title) in SECTIONS {
        let n = state.catalog.store(kind).snapshot().items.len();
        let _ = write!(html, "<dt>{title}</dt><dd>{n}</dd>");
    }
    let _ = write!(
        html,
        "<dt>Requests served</dt><dd>{}</dd></dl>",
        state.counters.total()
    );
    typed_response(StatusCode::OK, HTML, html)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

//! Steps: kinds and their keys, checks and captures, options, interned rows, body limits.

use super::*;

#[test]
fn unknown_step_key_points_at_the_key_and_lists_kinds() {
    let e = one_error(&format!("{HEAD}tasks = [ {{ fetch = \"/x\" }} ]\n"));
    assert_eq!(
        e,
        "x.toml:3:13: expected one of get, post, put, patch, delete, head, rpc, sse, ws, think \
         (a step kind), found unknown key \"fetch\""
    );
    let e = one_error(&format!("{HEAD}tasks = [ {{ gett = \"/x\" }} ]\n"));
    assert!(
        e.starts_with("x.toml:3:13: ")
            && e.ends_with("found unknown key \"gett\" (did you mean \"get\"?)"),
        "{e}"
    );
}

#[test]
fn unknown_key_in_a_step_lists_the_step_keys() {
    let e = one_error(&format!(
        "{HEAD}[[users.tasks]]\nget = \"/\"\nhedaers = {{ A = \"b\" }}\n"
    ));
    assert_eq!(
        e,
        "x.toml:5:1: expected one of headers, query, json, body, form, max_body, publish, name, \
         timeout, check, capture, weight, tags, requires (keys of a get task), found unknown key \"hedaers\" (did you mean \"headers\"?)"
    );
}

#[test]
fn steps_need_exactly_one_kind() {
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ name = \"x\", weight = 2 }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:11: expected one of get, post, put, patch, delete, head, rpc, sse, ws, think \
         (a step kind), found a step without one (it has name, weight)"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", post = \"/\" }} ]\n"
    ));
    assert_eq!(e, "x.toml:3:24: expected one step kind per step (write two steps), found both \"get\" and \"post\"");
}

#[test]
fn bad_jsonpath_regex_and_capture() {
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", check.json = {{ \"$.[\" = \"exists\" }} }} ]\n"
    ));
    assert!(
        e.starts_with(
            "x.toml:3:39: expected a JSONPath such as $.result.tools or $[0].id, found \"$.[\" ("
        ),
        "{e}"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", capture.id = \"json:$[0\" }} ]\n"
    ));
    assert!(e.starts_with("x.toml:3:46: expected a JSONPath"), "{e}");
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", capture.id = \"regex:(abc\" }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:44: expected a valid regular expression, found \"(abc\" (unclosed group)"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", capture.id = \"xpath://a\" }} ]\n"
    ));
    assert_eq!(e, "x.toml:3:37: expected a capture: \"json:$.path\", \"header:Name\", \"regex:...\" or \"status\", found \"xpath://a\"");
}

#[test]
fn singular_json_paths_capture_one_value_others_a_list() {
    for p in [
        "$",
        "$.a",
        "$[0].id",
        "$['a.b'][-1]",
        "$[\"x*\"]",
        "$.a['..']",
    ] {
        assert!(is_singular_path(p), "{p}");
    }
    for p in [
        "$[*].id",
        "$..id",
        "$[0:2]",
        "$[?@.n > 1]",
        "$[0,1]",
        "$.*",
        "$['a','b']",
    ] {
        assert!(!is_singular_path(p), "{p}");
    }
    let plan = ok(r#"
setup = [ { get = "/tools", capture.ids = "json:$[*].id", capture.first = "json:$[0].id" } ]
[[users]]
name = "U"
tasks = [ { get = "/tools/{{ pick(ids) }}/{{ first }}" } ]
"#);
    let kinds: Vec<bool> = plan.setup[0]
        .captures
        .iter()
        .map(|c| matches!(c.source, CaptureSource::JsonAll(_)))
        .collect();
    assert_eq!(kinds, vec![true, false]);
}

#[test]
fn step_options_are_built() {
    let plan = ok(r#"
[defaults]
rpc_path = "/mcp"
timeout = "5s"
[[users]]
name = "A"
tags = ["all"]
[[users.tasks]]
post = "/tools"
json = { name = "t-{{ uuid() }}", n = 1.5 }
check = { status = [201, 200], json = { "$.id" = "exists", "$.n" = 1.5 }, header = { Content-Type = "json" }, max_time = "1s", body_contains = "id" }
capture = { id = "json:$.id", s = "status", h = "header:X-Id", r = "regex:id=(\\d+)" }
tags = ["write"]
weight = 3
[[users.tasks]]
rpc = "initialize"
params = { protocolVersion = "2025-06-18" }
allow_codes = [-32601]
"#);
    let class = &plan.users[0];
    let t = &class.tasks[0];
    assert_eq!(t.weight, 3);
    assert_eq!(t.tags, ["write", "all"]);
    let step = &t.steps[0];
    assert_eq!(step.checks.status, Some(vec![201, 200]));
    assert_eq!(step.checks.json.len(), 2);
    assert_eq!(step.checks.header[0].name, "content-type");
    assert_eq!(step.captures.len(), 4);
    assert_eq!(step.captures[3].source_text, "regex:id=(\\d+)");
    let StepKind::Http(h) = &step.kind else {
        panic!()
    };
    assert!(matches!(&h.body, Some(Body::Json(j)) if !j.is_static()));
    let StepKind::Rpc(r) = &class.tasks[1].steps[0].kind else {
        panic!()
    };
    assert_eq!(r.path.source(), "/mcp");
    assert_eq!(r.allow_codes, [-32601]);
    assert_eq!(plan.names[1].name, "/mcp initialize");
}

#[test]
fn stream_steps_intern_their_rows() {
    let plan = ok(r#"
[[users]]
name = "S"
tasks = [
  { sse = "/sse", post = { method = "tools/list" }, name = "mcp" },
  { sse = "/events", events = 3 },
  { ws = "/ws", send = ["hi"] },
]
"#);
    let name = |id: NameId| {
        let n = &plan.names[id.index()];
        format!("{} {}", n.kind, n.name)
    };
    let tasks = &plan.users[0].tasks;
    assert_eq!(tasks[0].name, "mcp");
    let StepKind::Sse(sse) = &tasks[0].steps[0].kind else {
        panic!()
    };
    assert_eq!(name(sse.names.connect), "SSE mcp [connect]");
    assert_eq!(name(sse.names.first_event), "SSE mcp [first event]");
    assert_eq!(name(sse.names.event_gap), "SSE mcp [event gap]");
    assert_eq!(
        sse.names.post.map(name).as_deref(),
        Some("SSE mcp [tools/list]")
    );
    let StepKind::Sse(events) = &tasks[1].steps[0].kind else {
        panic!()
    };
    assert_eq!(events.names.post, None);
    assert_eq!(name(events.names.event_gap), "SSE /events [event gap]");
    let StepKind::Ws(ws) = &tasks[2].steps[0].kind else {
        panic!()
    };
    assert_eq!(name(ws.connect_name), "WS /ws [connect]");
    assert_eq!(tasks[2].steps[0].name.map(name).as_deref(), Some("WS /ws"));
}

#[test]
fn an_sse_post_needs_a_method_and_an_sse_step_an_end() {
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ sse = \"/sse\", post = {{ id = 1 }} }} ]"
    ));
    assert_eq!(
        e,
        "x.toml:3:34: expected post: a JSON-RPC message with a `method`, found a table without one"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ sse = \"/sse\", post = {{ method = 5 }} }} ]"
    ));
    assert!(
        e.starts_with("x.toml:3:45: expected post.method: the JSON-RPC method name (a string)"),
        "{e}"
    );
    let e = one_error(&format!("{HEAD}tasks = [ {{ sse = \"/sse\" }} ]"));
    assert_eq!(
        e,
        "x.toml:3:11: expected events = N, for = \"10s\" and/or post (when the sse step ends), found none of them"
    );
}

#[test]
fn sse_reconnect_and_min_events_are_checked_where_written() {
    let p = ok(&format!(
        "{HEAD}tasks = [ {{ sse = \"/e\", events = 30, reconnect = true }}, {{ sse = \"/mcp\", for = \"2s\", min_events = 0 }} ]\n"
    ));
    let sse = |i: usize| match &p.users[0].tasks[i].steps[0].kind {
        StepKind::Sse(s) => (s.reconnect, s.min_events),
        _ => panic!("an sse step"),
    };
    assert_eq!(sse(0), (true, None));
    assert_eq!(sse(1), (false, Some(0)));
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ sse = \"/e\", events = 3, reconnect = \"yes\" }} ]"
    ));
    assert_eq!(
        e,
        "x.toml:3:49: expected reconnect: true or false, found the string \"yes\""
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ ws = \"/w\", send = [\"a\"], reconnect = true }} ]"
    ));
    assert!(
        e.starts_with("x.toml:3:38: expected one of send, expect, for,")
            && e.contains("found unknown key \"reconnect\""),
        "{e}"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ sse = \"/sse\", post = {{ method = \"ping\" }}, reconnect = true }} ]"
    ));
    assert!(
        e.starts_with("x.toml:3:67: expected no reconnect with post"),
        "{e}"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ sse = \"/e\", events = 3, min_events = 0 }} ]"
    ));
    assert_eq!(
        e,
        "x.toml:3:50: expected for = \"10s\" beside min_events (the window the events are counted in), found min_events without for"
    );
}

#[test]
fn max_body_comes_from_defaults_or_the_step() {
    let p = ok(&format!(
        "[defaults]\nmax_body = \"64KiB\"\n{HEAD}tasks = [ {{ get = \"/a\" }}, {{ get = \"/b\", max_body = \"1MiB\" }}, {{ rpc = \"m\" }} ]\n"
    ));
    let limit = |i: usize| match &p.users[0].tasks[i].steps[0].kind {
        StepKind::Http(h) => h.max_body,
        StepKind::Rpc(r) => r.max_body,
        _ => unreachable!(),
    };
    assert_eq!(
        limit(0),
        BodyLimit {
            bytes: 64 << 10,
            set_by_step: false
        }
    );
    assert_eq!(
        limit(1),
        BodyLimit {
            bytes: 1 << 20,
            set_by_step: true
        }
    );
    assert_eq!(
        limit(2),
        BodyLimit {
            bytes: 64 << 10,
            set_by_step: false
        }
    );
    assert_eq!(
        limit(0).exceeded_message(),
        "body too large to check: more than 64 KiB (raise defaults.max_body)"
    );
    assert_eq!(
        limit(1).exceeded_message(),
        "body too large to check: more than 1 MiB (raise the step's max_body)"
    );
    let d = ok(&format!("{HEAD}tasks = [ {{ get = \"/a\" }} ]\n"));
    assert_eq!(d.defaults.max_body, 16 << 20);
    assert_eq!(
        show(&format!("[defaults]\nmax_body = \"2GiB\"\n{HEAD}tasks = [ {{ get = \"/\", max_body = 5 }} ]\n")),
        [
            "x.toml:2:12: expected max_body: a size like \"16MiB\" or \"64KiB\", at most 1 GiB, found \"2GiB\"",
            "x.toml:5:35: expected max_body: a size like \"16MiB\" or \"64KiB\", at most 1 GiB, found the integer 5",
        ]
    );
}

#[test]
fn ws_mode_rate_and_for() {
    let step = |text: &str| {
        let plan = ok(&format!("{HEAD}tasks = [ {text} ]\n"));
        match &plan.users[0].tasks[0].steps[0].kind {
            StepKind::Ws(ws) => (ws.mode, ws.rate, ws.duration),
            other => panic!("not a ws step: {other:?}"),
        }
    };
    assert_eq!(
        step("{ ws = \"/w\", send = [\"a\"] }"),
        (WsMode::Sequential, None, None)
    );
    assert_eq!(
        step("{ ws = \"/w\", send = [\"a\"], mode = \"pipelined\" }"),
        (WsMode::Pipelined, None, None)
    );
    assert_eq!(
        step("{ ws = \"ws://127.0.0.1:9/w\", send = [\"a\"], rate = \"20/s\", for = \"10m\" }"),
        (
            WsMode::Sequential,
            Some(20.0),
            Some(std::time::Duration::from_secs(600))
        )
    );
    assert_eq!(
        step("{ ws = \"/w\", send = [\"a\"], rate = 0.5, for = \"1s\" }").1,
        Some(0.5)
    );
    let e = |text: &str| errors(&format!("{HEAD}tasks = [ {text} ]\n"));
    assert_eq!(
        e("{ ws = \"/w\", send = [\"a\"], mode = \"burst\" }"),
        [
            "x.toml:3:45: expected mode: \"sequential\" (one message, its reply, the next) or \
          \"pipelined\" (every message, then the replies), found \"burst\""
        ]
    );
    assert_eq!(
        e("{ ws = \"/w\", send = [\"a\"], rate = \"20/s\" }"),
        ["x.toml:3:45: expected for = \"10m\" beside rate (how long the stream lasts), found rate \
          without for"]
    );
    assert_eq!(
        e("{ ws = \"/w\", send = [\"a\"], rate = \"0/s\", for = \"1s\" }"),
        [
            "x.toml:3:45: expected rate: messages per second from 0.001 to 10000, e.g. \"20/s\", \
          found the string \"0/s\""
        ]
    );
    assert_eq!(
        e("{ ws = \"/w\", send = [\"a\"], rate = \"20000/s\", for = \"1s\" }").len(),
        1
    );
    let long = e("{ ws = \"/w\", send = [\"a\"], rate = \"20/s\", for = \"800h\" }");
    assert!(
        long.len() == 1
            && long[0].starts_with("x.toml:3:59: expected a duration of at most ")
            && long[0].ends_with("found \"800h\""),
        "{long:?}"
    );
    assert_eq!(
        e("{ ws = \"/w\", send = [\"a\"], rate = \"20/s\", for = \"1s\", expect = 3, mode = \"pipelined\" }"),
        [
            "x.toml:3:74: expected no expect with rate (each message sent waits for its own \
             reply), found expect beside rate",
            "x.toml:3:84: expected no mode with rate (a rate stream sends on its own grid, \
             replies or not), found mode beside rate",
        ]
    );
    assert_eq!(
        e("{ ws = \"/w\", send = [], rate = \"20/s\", for = \"1s\" }"),
        [
            "x.toml:3:42: expected send: at least one message to repeat at the rate, found rate \
          with an empty send"
        ]
    );
}

//! Validation errors, byte for byte, and the plans valid text builds.

use super::checks::is_singular_path;
use super::thresholds::METRIC_EXPECTED;
use super::*;

fn errors(text: &str) -> Vec<String> {
    match validate(text, "x.toml", None, true) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn one_error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].clone()
}

const HEAD: &str = "[[users]]\nname = \"A\"\n";

fn ok(text: &str) -> Plan {
    validate(text, "x.toml", None, true).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_minimal_plan_validates() {
    let plan = ok("[[users]]\nname = \"A\"\ntasks = [ { get = \"/health\" } ]\n");
    assert_eq!(plan.name, "x");
    assert_eq!(plan.users.len(), 1);
    let class = &plan.users[0];
    assert_eq!(class.weight, 1);
    assert_eq!(class.wait, Wait::Constant(Duration::ZERO));
    assert_eq!(class.tasks[0].name, "/health");
    assert_eq!(
        plan.names,
        vec![RequestName {
            kind: "GET".into(),
            name: "/health".into()
        }]
    );
    assert_eq!(plan.defaults.timeout, Duration::from_secs(30));
    assert_eq!(plan.content_hash.len(), 64);
    assert_eq!(class.tasks[0].steps[0].location, "x.toml:3:11");
}

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
        "x.toml:5:1: expected one of headers, query, json, body, form, max_body, name, timeout, check, \
         capture, weight, tags (keys of a get task), found unknown key \"hedaers\" (did you mean \"headers\"?)"
    );
}

#[test]
fn unknown_top_level_and_class_keys() {
    let e = errors(&format!(
        "nmae = \"x\"\n{HEAD}tasks = [ {{ get = \"/\" }} ]\nwieght = 2\n"
    ));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("x.toml:1:1: expected one of name, description, host"),
        "{}",
        e[0]
    );
    assert!(e[0].ends_with("found unknown key \"nmae\" (did you mean \"name\"?)"));
    assert!(
        e[1].starts_with("x.toml:5:1: expected one of name, weight, fixed_count, wait"),
        "{}",
        e[1]
    );
}

#[test]
fn wrong_types_say_what_was_found() {
    let e = one_error(&format!(
        "{HEAD}weight = \"5\"\ntasks = [ {{ get = \"/\" }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:10: expected a class weight: a whole number from 1 to 1000, found the string \"5\""
    );
    let e = one_error(&format!("{HEAD}tasks = [ {{ get = 5 }} ]\n"));
    assert_eq!(
        e,
        "x.toml:3:19: expected get: a path starting with / or an absolute URL, found the integer 5"
    );
}

#[test]
fn weights_must_be_at_least_one() {
    let e = one_error(&format!(
        "{HEAD}weight = 0\ntasks = [ {{ get = \"/\" }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:10: expected a class weight: a whole number from 1 to 1000, found the integer 0"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", weight = -2 }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:33: expected a task weight: a whole number from 1 to 1000, found the integer -2"
    );
}

#[test]
fn bad_durations_and_wait_functions() {
    let e = one_error(&format!("{HEAD}tasks = [ {{ think = \"5\" }} ]\n"));
    assert_eq!(
        e,
        "x.toml:3:21: expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), \
         found \"5\" (a unit is required, e.g. 5s)"
    );
    let e = one_error(&format!(
        "{HEAD}wait = \"sometimes(1s)\"\ntasks = [ {{ get = \"/\" }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:8: expected a wait function: constant(D), between(A, B), throughput(N/s) or \
         pacing(D), found unknown function \"sometimes\""
    );
    let e = one_error(&format!(
        "{HEAD}wait = \"between(3s, 1s)\"\ntasks = [ {{ get = \"/\" }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:8: expected between(A, B) with A ≤ B, found \"between(3s, 1s)\""
    );
}

#[test]
fn wait_functions_parse() {
    let s = Duration::from_secs;
    assert_eq!(
        parse_wait("constant(0s)"),
        Ok(Wait::Constant(Duration::ZERO))
    );
    assert_eq!(parse_wait("between(1s, 3s)"), Ok(Wait::Between(s(1), s(3))));
    assert_eq!(
        parse_wait(" between( 300ms ,1.5s ) "),
        Ok(Wait::Between(
            Duration::from_millis(300),
            Duration::from_millis(1500)
        ))
    );
    assert_eq!(parse_wait("throughput(2/s)"), Ok(Wait::Throughput(2.0)));
    assert_eq!(parse_wait("throughput(0.5)"), Ok(Wait::Throughput(0.5)));
    assert_eq!(
        parse_wait("constant_throughput(4)"),
        Ok(Wait::Throughput(4.0))
    );
    assert_eq!(parse_wait("pacing(2s)"), Ok(Wait::Pacing(s(2))));
    assert!(parse_wait("pacing(0s)").unwrap_err().contains("D > 0"));
    assert!(parse_wait("throughput(0/s)").is_err());
    assert!(parse_wait("between(1s)")
        .unwrap_err()
        .contains("between(A, B), e.g."));
    assert!(parse_wait("constant(5)")
        .unwrap_err()
        .contains("\"5\" (a unit is required"));
    assert!(parse_wait("constant 1s").is_err());
}

#[test]
fn unknown_template_variables_point_into_the_string() {
    let text = format!("{HEAD}tasks = [ {{ get = \"/tools/{{{{ tool }}}}\" }} ]\n");
    let e = one_error(&text);
    assert_eq!(
        e,
        "x.toml:3:30: expected a defined variable (none is defined here: [vars], [data.NAME] and \
         capture define them), found undefined variable \"tool\""
    );
    let text = "[vars]\nbase = \"{{ token }}\"\ntoken = \"x\"\n[[users]]\nname = \"A\"\ntasks = [ { get = \"/{{ tool_id }}\" } ]\n[[users]]\nname = \"B\"\ntasks = [ { get = \"/\", capture.tool_id = \"json:$.id\" } ]\n";
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        e[0],
        "x.toml:2:12: expected a defined variable (none is defined here: [vars], [data.NAME] and \
         capture define them), found undefined variable \"token\", defined later in [vars]"
    );
    assert_eq!(
        e[1],
        "x.toml:6:24: expected a defined variable (one of base, token), found undefined variable \
         \"tool_id\", captured only by class B"
    );
}

#[test]
fn known_variables_pass() {
    let plan = ok(r#"
[vars]
token = "{{ env('T', 'x') }}"
auth = "Bearer {{ token }}"
[data.tz]
values = ["UTC", "CET"]
[defaults]
headers = { Authorization = "{{ auth }}", X-Session = "{{ session }}" }
[[users]]
name = "A"
on_start = [ { post = "/login", capture.session = "header:x-session" } ]
tasks = [ { steps = [ { get = "/t", capture.id = "json:$[0].id" }, { get = "/t/{{ id }}?tz={{ tz.value }}&u={{ uuid() }}" } ] } ]
"#);
    assert_eq!(plan.vars.len(), 2);
    assert_eq!(plan.vars[0].0, "token");
    assert_eq!(plan.users[0].tasks[0].name, "task 1");
    assert_eq!(plan.names.len(), 3);
    assert_eq!(
        plan.names[2].name,
        "/t/{{ id }}?tz={{ tz.value }}&u={{ uuid() }}"
    );
}

#[test]
fn empty_class_list_and_class_without_tasks() {
    let e = one_error("name = \"x\"\n");
    assert_eq!(e, "x.toml:1:1: expected at least one user class ([[users]] with a name and tasks), found no users in the plan");
    let e = one_error("users = []\n");
    assert_eq!(e, "x.toml:1:9: expected at least one user class ([[users]] with a name and tasks), found an empty array");
    let e = one_error("[[users]]\nname = \"A\"\n");
    assert_eq!(e, "x.toml:1:1: expected at least one task (tasks = [ { get = \"/\" } ] or [[users.tasks]]), found a class without tasks");
    let e = one_error(&format!("{HEAD}tasks = []\n"));
    assert_eq!(
        e,
        "x.toml:3:9: expected at least one task, found an empty array"
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
fn missing_csv_file() {
    let e = one_error(&format!(
        "[data.tz]\ncsv = \"nope/tz.csv\"\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"
    ));
    assert_eq!(e, "x.toml:2:7: expected an existing CSV file (paths are relative to the plan file), found no file at nope/tz.csv");
}

#[test]
fn toml_syntax_errors() {
    let e = one_error("[[users]]\nname = \"A\ntasks = []\n");
    assert_eq!(e, "x.toml:2:10: expected `\"`, found invalid basic string");
}

#[test]
fn several_errors_are_collected_in_file_order() {
    let e = errors(&format!(
        "thresholds = [\"p95 < fast\"]\n{HEAD}weight = 0\nwait = \"soon\"\ntasks = [ {{ get = \"/\", timeout = \"fast\" }}, {{ think = 1 }} ]\n"
    ));
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(
        e[0].starts_with("x.toml:1:22: expected a duration such as 300ms"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("x.toml:4:10: expected a class weight"),
        "{}",
        e[1]
    );
    assert!(
        e[2].starts_with("x.toml:5:8: expected a wait function"),
        "{}",
        e[2]
    );
    assert!(
        e[3].starts_with("x.toml:6:34: expected a duration like 250ms"),
        "{}",
        e[3]
    );
    assert!(
        e[4].starts_with("x.toml:6:54: expected a duration string"),
        "{}",
        e[4]
    );
}

#[test]
fn thresholds_each_error() {
    let e = errors(&format!("thresholds = [\"p95 < 300\", \"p42x < 1s\", \"get.p95 < 1s\", \"p95 = 1s\", \"error_rate < 5\"]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"));
    assert_eq!(
        e,
        vec![
            "x.toml:1:22: expected a duration such as 300ms or 1.5s, found \"300\"".to_string(),
            format!("x.toml:1:29: expected {METRIC_EXPECTED}, found \"p42x\""),
            "x.toml:1:42: expected a request kind in upper case (GET, POST, PUT, PATCH, DELETE, HEAD, SSE, WS, RPC) or a 'quoted name', found \"get\"".to_string(),
            "x.toml:1:62: expected a comparison: <, <=, > or >=, found \"= 1s\"".to_string(),
            "x.toml:1:83: expected a percentage such as 1% or a fraction from 0 to 1, found \"5\"".to_string(),
        ]
    );
}

#[test]
fn thresholds_parse() {
    let t = parse_threshold("p95 < 300ms").unwrap();
    assert_eq!(t.scope, ThresholdScope::Aggregate);
    assert_eq!(t.metric, ThresholdMetric::Percentile(0.95));
    assert_eq!(t.op, CompareOp::Lt);
    assert_eq!(t.value, 300_000.0);
    let t = parse_threshold("error_rate<1%").unwrap();
    assert_eq!((t.metric, t.value), (ThresholdMetric::ErrorRate, 0.01));
    let t = parse_threshold("'/tools/[id]'.p99 <= 500ms").unwrap();
    assert_eq!(t.scope, ThresholdScope::Name("/tools/[id]".into()));
    assert_eq!(t.op, CompareOp::Le);
    assert_eq!(t.source, "'/tools/[id]'.p99 <= 500ms");
    let t = parse_threshold("GET.p99.9 > 1.5s").unwrap();
    assert_eq!(t.scope, ThresholdScope::Kind("GET".into()));
    assert_eq!(t.metric, ThresholdMetric::Percentile(0.999));
    assert_eq!((t.op, t.value), (CompareOp::Gt, 1_500_000.0));
    let t = parse_threshold("p99.99 < 1s").unwrap();
    assert!(matches!(t.metric, ThresholdMetric::Percentile(p) if (p - 0.9999).abs() < 1e-12));
    let t = parse_threshold("rps >= 100/s").unwrap();
    assert_eq!(
        (t.metric, t.op, t.value),
        (ThresholdMetric::Rps, CompareOp::Ge, 100.0)
    );
    let t = parse_threshold("checks > 0.99").unwrap();
    assert_eq!((t.metric, t.value), (ThresholdMetric::Checks, 0.99));
    let t = parse_threshold("SSE.avg < 250us").unwrap();
    assert_eq!((t.metric, t.value), (ThresholdMetric::Avg, 250.0));
    assert!(parse_threshold("'x.p95 < 1s")
        .unwrap_err()
        .contains("unterminated"));
    assert!(parse_threshold("p0 < 1s").is_err());
    assert!(parse_threshold("p101 < 1s").is_err());
    // only the percentiles the rows report
    assert!(parse_threshold("p97 < 1s")
        .unwrap_err()
        .contains("p98, p99, p99.9, p99.99, p100,"));
    let t = parse_threshold("p100 <= 2s").unwrap();
    assert_eq!(t.metric, ThresholdMetric::Percentile(1.0));
    let t = parse_threshold("p66 < 2s").unwrap();
    assert_eq!(t.metric, ThresholdMetric::Percentile(0.66));
    assert!(parse_threshold("p95 <")
        .unwrap_err()
        .ends_with("found nothing"));
}

#[test]
fn threshold_tables() {
    let plan = ok(&format!("thresholds = [ {{ expr = \"p95 < 1s\", abort_on_fail = true, delay = \"10s\" }} ]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"));
    assert!(plan.thresholds[0].abort_on_fail);
    assert_eq!(plan.thresholds[0].delay, Some(Duration::from_secs(10)));
}

#[test]
fn names_are_interned_in_order_of_appearance() {
    let plan = ok(r#"
setup = [ { post = "/reset" } ]
[[users]]
name = "A"
tasks = [ { get = "/a" }, { get = "/b/{{ x }}", capture.x = "status" }, { rpc = "tools/list" }, { sse = "/events", events = 3 }, { ws = "/ws", send = ["hi", { a = 1 }] } ]
[[users]]
name = "B"
tasks = [ { get = "/a" }, { delete = "/a", name = "/a [delete]" } ]
"#);
    let names: Vec<(&str, &str)> = plan
        .names
        .iter()
        .map(|n| (n.kind.as_str(), n.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("POST", "/reset"),
            ("GET", "/a"),
            ("GET", "/b/{{ x }}"),
            ("POST", "/rpc tools/list"),
            // a stream step's rows come before its own name (never recorded into)
            ("SSE", "/events [connect]"),
            ("SSE", "/events [first event]"),
            ("SSE", "/events [event gap]"),
            ("SSE", "/events"),
            ("WS", "/ws [connect]"),
            ("WS", "/ws"),
            ("DELETE", "/a [delete]"),
        ]
    );
    assert_eq!(plan.users[1].tasks[0].steps[0].name, Some(NameId(1)));
}

#[test]
fn shapes_validate() {
    let plan = ok(&format!(
        "{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.ramp]\nstages = [ {{ duration = \"1m\", users = 10, spawn_rate = 2 }}, {{ duration = \"30s\", users = 0 }} ]\n[shapes.open]\narrival = [ {{ duration = \"5m\", rate = 100 }} ]\nmax_users = 50\n"
    ));
    assert_eq!(plan.shapes.len(), 2);
    assert_eq!(plan.shapes[0].name, "ramp");
    assert!(
        matches!(&plan.shapes[1].kind, ShapeKind::Arrival { max_users: 50, stages } if stages[0].rate == 100.0)
    );
    let e = one_error(&format!("{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.open]\narrival = [ {{ duration = \"5m\", rate = 100 }} ]\n"));
    assert_eq!(e, "x.toml:4:1: expected max_users (the cap on users in flight) with arrival, found no max_users");
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

/// Prints each error (to fill the exact expectations below by reading them).
fn show(text: &str) -> Vec<String> {
    let e = errors(text);
    for line in &e {
        println!("{line}");
    }
    e
}

#[test]
fn counts_are_bounded_at_validation() {
    let t = |body: &str| show(&format!("{HEAD}{body}"));
    assert_eq!(
        t("fixed_count = 4000000000\ntasks = [ { get = \"/\" } ]\n"),
        ["x.toml:3:15: expected fixed_count: a whole number from 0 to 1000000, found the integer 4000000000"]
    );
    assert_eq!(
        show(
            "[[users]]\nname = \"A\"\nfixed_count = 600000\ntasks = [ { get = \"/\" } ]\n\
             [[users]]\nname = \"B\"\nfixed_count = 600000\ntasks = [ { get = \"/\" } ]\n"
        ),
        ["x.toml:7:15: expected fixed_count users of all classes together at most 1000000, found 1200000 in total with this class"]
    );
    assert_eq!(
        t("weight = 1001\ntasks = [ { get = \"/\", weight = 4294967295 } ]\n"),
        [
            "x.toml:3:10: expected a class weight: a whole number from 1 to 1000, found the integer 1001",
            "x.toml:4:33: expected a task weight: a whole number from 1 to 1000, found the integer 4294967295",
        ]
    );
    assert_eq!(
        t("tasks = [ { sse = \"/e\", events = 1000001 }, { ws = \"/w\", expect = 4000000000 } ]\n"),
        [
            "x.toml:3:34: expected events: a whole number from 1 to 1000000, found the integer 1000001",
            "x.toml:3:67: expected expect: a whole number from 0 to 1000000, found the integer 4000000000",
        ]
    );
    let send = vec!["\"m\""; 1001].join(",");
    assert_eq!(
        t(&format!("tasks = [ {{ ws = \"/w\", send = [{send}] }} ]\n")),
        ["x.toml:3:31: expected at most 1000 messages, found 1001 messages"]
    );
    let tasks = vec!["{ get = \"/\" }"; 1001].join(",");
    assert_eq!(
        t(&format!("tasks = [{tasks}]\n")),
        ["x.toml:3:9: expected at most 1000 tasks, found 1001 tasks"]
    );
    let classes = "[[users]]\nname = \"A\"\ntasks = [ { get = \"/\" } ]\n".repeat(101);
    let e = show(&classes);
    assert!(
        e.contains(
            &"x.toml:1:1: expected at most 100 user classes, found 101 user classes".to_string()
        ),
        "{e:?}"
    );
}

#[test]
fn shapes_rates_and_durations_are_bounded() {
    let plan = |shape: &str| {
        show(&format!(
            "{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.s]\n{shape}\n"
        ))
    };
    assert_eq!(
        plan("stages = [ { duration = \"1m\", users = 1000001, spawn_rate = 1e-300 } ]"),
        [
            "x.toml:5:39: expected users: a whole number from 0 to 1000000, found the integer 1000001",
            "x.toml:5:61: expected spawn_rate: a number from 0.001 to 1000000, found the number 1e-300",
        ]
    );
    assert_eq!(
        plan("arrival = [ { duration = \"721h\", rate = 1000001 } ]\nmax_users = 2000000"),
        [
            "x.toml:5:26: expected a duration of at most 720h, found \"721h\"",
            "x.toml:5:41: expected rate: a number from 0 to 1000000, found the integer 1000001",
            "x.toml:6:13: expected max_users: a whole number from 1 to 1000000, found the integer 2000000",
        ]
    );
    assert_eq!(
        show(&format!(
            "{HEAD}wait = \"between(1s, 9999h)\"\ntasks = [ {{ think = \"31d\" }}, {{ get = \"/\", timeout = \"99999999h\" }} ]\n"
        )),
        [
            "x.toml:3:8: expected between(A, B) with durations of at most 720h, found \"9999h\"",
            "x.toml:4:21: expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), found \"31d\" (unknown unit \"d\")",
            "x.toml:4:53: expected a duration of at most 720h, found \"99999999h\"",
        ]
    );
    assert_eq!(
        show(&format!("{HEAD}wait = \"throughput(0.0001/s)\"\ntasks = [ {{ get = \"/\" }} ]\n")),
        ["x.toml:3:8: expected throughput(N/s) with N from 0.001 to 1000000 task runs per second, e.g. throughput(2/s), found \"throughput(0.0001/s)\""]
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
fn thresholds_must_name_rows_the_plan_records() {
    let plan = |th: &str| {
        show(&format!(
            "thresholds = [{th}]\n{HEAD}tasks = [ {{ get = \"/tools\" }}, {{ sse = \"/events\", for = \"1s\" }}, {{ rpc = \"tools/list\" }} ]\n"
        ))
    };
    assert_eq!(
        plan("\"'/nope'.p99 < 1s\""),
        ["x.toml:1:17: expected a name this plan records ('/tools', '/events [connect]', '/events [first event]', '/events [event gap]', '/events', '/rpc tools/list'), found '/nope'"]
    );
    assert_eq!(
        plan("\"'/tool'.p99 < 1s\""),
        ["x.toml:1:17: expected a name this plan records ('/tools', '/events [connect]', '/events [first event]', '/events [event gap]', '/events', '/rpc tools/list'), found '/tool' (did you mean '/tools'?)"]
    );
    assert_eq!(
        plan("\"WS.p95 < 1s\", \"RPC.avg < 1s\""),
        [
            "x.toml:1:16: expected a request kind this plan records (GET, SSE, POST), found \"WS\"",
            "x.toml:1:31: expected a request kind this plan records (GET, SSE, POST), found \"RPC\" (rpc steps record under POST)",
        ]
    );
    assert!(plan(
        "\"'/events [first event]'.p99 < 1s\", \"'/rpc tools/list'.p95 < 1s\", \"SSE.p50 < 1s\", \"POST.max < 2s\", \"p95 < 1s\""
    )
    .is_empty());
    let p = ok(&format!("{HEAD}tasks = [ {{ get = \"/tools\" }} ]\n"));
    let th = parse_threshold("'/nope'.p99 < 1s").unwrap();
    assert_eq!(
        check_threshold_scope(&p, &th).unwrap_err(),
        "expected a name this plan records ('/tools'), found '/nope'"
    );
}

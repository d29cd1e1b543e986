//! Plans as users write them: the shipped demo plan and every fixture in tests/fixtures/plans
//! (ok_*.toml must validate, bad_*.toml must fail with exactly the errors listed here).

use std::path::Path;

use hornet::plan::{self, fold, Body, StepKind};

const FIXTURES: &str = "tests/fixtures/plans";

/// Each bad fixture and the errors it must produce, without the leading `path:`.
const BAD: &[(&str, &[&str])] = &[
    (
        "bad_checks_captures.toml",
        &[
            r#"4:32: expected a JSONPath such as $.result.tools or $[0].id, found "$.[" (at position 2, in dot member name, must start with lowercase alpha or '_')"#,
            r#"5:39: expected a JSONPath such as $.result.tools or $[0].id, found "$[0" (at position 3, in long-hand segment, expected closing ']')"#,
            r#"6:39: expected a valid regular expression, found "(abc" (unclosed group)"#,
            r#"7:29: expected a capture: "json:$.path", "header:Name", "regex:..." or "status", found "xpath://a""#,
            r#"7:57: expected check.status: an HTTP status from 100 to 599, or an array of them, found the integer 42"#,
        ],
    ),
    (
        "bad_csv_missing.toml",
        &[
            r#"2:7: expected an existing CSV file (paths are relative to the plan file), found no file at tests/fixtures/plans/data/no-such-file.csv"#,
        ],
    ),
    (
        "bad_durations.toml",
        &[
            r#"2:11: expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), found "30" (a unit is required, e.g. 5s)"#,
            r#"6:8: expected between(A, B) with durations like 500ms or 2s, found "500" (a unit is required, e.g. 5s)"#,
            r#"7:21: expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), found "1 minute" (unknown unit " minute")"#,
            r#"7:58: expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), found "-1s" (durations cannot be negative)"#,
        ],
    ),
    (
        "bad_key_after_table.toml",
        &[
            r#"5:1: expected one of name, weight, fixed_count, wait, tags, on_start, on_stop, tasks (keys of a user class), found unknown key "thresholds" (a top-level key: TOML puts it in the [table] above it, move it before the first [header])"#,
        ],
    ),
    (
        "bad_no_tasks.toml",
        &[
            r#"1:1: expected at least one task (tasks = [ { get = "/" } ] or [[users.tasks]]), found a class without tasks"#,
            r#"6:9: expected at least one task, found an empty array"#,
        ],
    ),
    (
        "bad_no_users.toml",
        &[
            r#"1:1: expected at least one user class ([[users]] with a name and tasks), found no users in the plan"#,
        ],
    ),
    (
        "bad_step_kinds.toml",
        &[
            r#"4:3: expected one of get, post, put, patch, delete, head, rpc, sse, ws, think (a step kind), found a step without one (it has name, weight)"#,
            r#"5:17: expected one step kind per step (write two steps), found both "get" and "post""#,
            r#"6:15: expected one of get, post, put, patch, delete, head, rpc, sse, ws, think (a step kind), found an empty step"#,
            r#"6:33: expected one of send, expect, for, headers, mode, rate, subscribe, name, timeout, check, capture (keys of a ws step), found unknown key "hello""#,
        ],
    ),
    (
        "bad_template_vars.toml",
        &[
            r#"2:12: expected a defined variable (none is defined here: [vars], [data.NAME] and capture define them), found undefined variable "later", defined later in [vars]"#,
            r#"6:40: expected a defined variable (one of base, later, tool_id), found undefined variable "tokn""#,
            r#"10:30: expected a defined variable (one of base, later), found undefined variable "tool_id", captured only by class Writer"#,
            r#"10:77: expected a defined variable (one of base, later), found undefined variable "sid""#,
            r#"14:71: expected a valid {{ }} template, found syntax error: unexpected `%`"#,
        ],
    ),
    (
        "bad_thresholds.toml",
        &[
            r#"2:10: expected a duration such as 300ms or 1.5s, found "300""#,
            r#"3:4: expected a metric: p50, p66, p75, p80, p90, p95, p98, p99, p99.9, p99.99, p100, avg, min, max, error_rate, rps, checks, loss, drop, delivery or recovery, found "p42x""#,
            r#"4:4: expected a request kind in upper case (GET, POST, PUT, PATCH, DELETE, HEAD, SSE, WS, RPC, FANOUT) or a 'quoted name', found "get""#,
            r#"5:8: expected a comparison: <, <=, > or >=, found "= 1s""#,
            r#"6:17: expected a percentage such as 1% or a fraction from 0 to 1, found "5""#,
            r#"7:19: expected a rate in requests per second, such as 100 or 100/s, found "lots""#,
        ],
    ),
    (
        "bad_toml_syntax.toml",
        &[r#"2:10: expected `"`, found invalid basic string"#],
    ),
    (
        "bad_unknown_keys.toml",
        &[
            r#"1:1: expected one of name, description, host, vars, defaults, data, setup, users, shapes, thresholds, monitor (top-level keys of a plan), found unknown key "nmae" (did you mean "name"?)"#,
            r#"5:1: expected one of name, weight, fixed_count, wait, tags, on_start, on_stop, tasks (keys of a user class), found unknown key "wieght" (did you mean "weight"?)"#,
            r#"6:24: expected one of headers, query, json, body, form, max_body, publish, name, timeout, check, capture, weight, tags, requires (keys of a get task), found unknown key "hedaers" (did you mean "headers"?)"#,
        ],
    ),
    (
        "bad_unknown_step_kind.toml",
        &[
            r#"4:5: expected one of get, post, put, patch, delete, head, rpc, sse, ws, think (a step kind), found unknown key "fetch""#,
        ],
    ),
    (
        "bad_waits.toml",
        &[
            r#"3:8: expected a wait function: constant(D), between(A, B), throughput(N/s) or pacing(D), found unknown function "sometimes""#,
            r#"8:8: expected between(A, B) with A ≤ B, found "between(3s, 1s)""#,
            r#"13:8: expected throughput(N/s) with N from 0.001 to 1000000 task runs per second, e.g. throughput(2/s), found "throughput(0/s)""#,
        ],
    ),
    (
        "bad_weights.toml",
        &[
            r#"3:10: expected a class weight: a whole number from 1 to 1000, found the integer 0"#,
            r#"4:34: expected a task weight: a whole number from 1 to 1000, found the integer -1"#,
            r#"4:63: expected a task weight: a whole number from 1 to 1000, found the number 1.5"#,
        ],
    ),
    (
        "bad_wrong_types.toml",
        &[
            r#"1:8: expected an http:// or https:// URL, e.g. "http://127.0.0.1:8090", found the integer 8090"#,
            r#"5:10: expected a class weight: a whole number from 1 to 1000, found the string "five""#,
            r#"6:8: expected tags: an array of strings, found the string "api""#,
            r#"7:19: expected get: a path starting with / or an absolute http:// or https:// URL, found the integer 5"#,
            r#"7:57: expected one body: json, body or form, found both json and body"#,
        ],
    ),
];

fn fixtures(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("tests/fixtures/plans exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with(prefix) && n.ends_with(".toml"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_demo_plan_validates() {
    let plan = plan::load(Path::new("plans/demo.toml")).unwrap_or_else(|e| panic!("{e}"));
    let classes: Vec<(&str, u32)> = plan
        .users
        .iter()
        .map(|c| (c.name.as_str(), c.weight))
        .collect();
    assert_eq!(
        classes,
        [
            ("HealthCheckUser", 5),
            ("ReadOnlyAPIUser", 30),
            ("WriteAPIUser", 5),
            ("AdminUIUser", 10)
        ]
    );
    assert_eq!(plan.host.as_deref(), Some("http://127.0.0.1:8090"));
    let names: Vec<String> = plan
        .names
        .iter()
        .map(|n| format!("{} {}", n.kind, n.name))
        .collect();
    for expected in [
        "GET /tools/[id]",
        "DELETE /tools/[id] [delete]",
        "POST /tools [create]",
        "GET /admin/",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} not in {names:?}"
        );
    }
    // The CLI's built-in copy is parsed without a directory: it must not need one.
    let text = std::fs::read_to_string("plans/demo.toml").expect("read demo");
    plan::parse_str(&text, "plans/demo.toml", None).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn preparing_the_demo_plan_folds_what_is_fixed_per_run() {
    let plan = plan::load(Path::new("plans/demo.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!plan.defaults.headers.iter().all(|(_, t)| t.is_static()));
    let (prepared, shared) = fold::prepare(&plan).expect("prepare");
    let token = std::env::var("DEMO_TOKEN").unwrap_or_else(|_| "demo-token".to_string());
    assert_eq!(
        shared.get("token"),
        Some(serde_json::Value::String(token.clone()))
    );
    let auth = prepared
        .defaults
        .headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .expect("Authorization default");
    assert!(auth.1.is_static());
    assert_eq!(auth.1.source(), format!("Bearer {token}"));
    // captures and uuid() stay per request
    let write = prepared
        .users
        .iter()
        .find(|c| c.name == "WriteAPIUser")
        .expect("WriteAPIUser");
    let steps = &write.tasks[0].steps;
    let StepKind::Http(create) = &steps[0].kind else {
        panic!("create is HTTP")
    };
    assert!(matches!(&create.body, Some(Body::Json(j)) if !j.is_static()));
    let StepKind::Http(read) = &steps[1].kind else {
        panic!("read is HTTP")
    };
    assert!(!read.path.is_static());
}

#[test]
fn ok_fixtures_validate() {
    let names = fixtures("ok_");
    assert!(names.len() >= 2, "{names:?}");
    for name in names {
        let path = Path::new(FIXTURES).join(&name);
        if let Err(e) = plan::load(&path) {
            panic!("{name} should validate:\n{e}");
        }
    }
}

#[test]
fn bad_fixtures_fail_with_their_positions() {
    let names = fixtures("bad_");
    let listed: Vec<&str> = BAD.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, listed,
        "every bad fixture has its expected errors listed here"
    );
    for (name, expected) in BAD {
        let path = format!("{FIXTURES}/{name}");
        let errors = match plan::load(Path::new(&path)) {
            Ok(_) => panic!("{name} should not validate"),
            Err(e) => e,
        };
        let got: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
        let want: Vec<String> = expected.iter().map(|e| format!("{path}:{e}")).collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(
            errors.to_string(),
            want.join("\n"),
            "{name}: one error per line"
        );
    }
}

#[test]
fn a_missing_plan_file_is_named() {
    let e = plan::load(Path::new("no/such/plan.toml")).expect_err("missing file");
    let text = e.to_string();
    assert!(
        text.starts_with("no/such/plan.toml: expected a readable plan file, found "),
        "{text}"
    );
}

#[test]
fn the_ok_full_fixture_keeps_every_feature() {
    let plan = plan::load(Path::new("tests/fixtures/plans/ok_full.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.data.len(), 3);
    assert_eq!(plan.shapes.len(), 2);
    assert_eq!(plan.thresholds.len(), 7);
    assert_eq!(plan.setup.len(), 1);
    let streams = &plan.users[1];
    assert_eq!(streams.fixed_count, Some(2));
    let StepKind::Sse(sse) = &streams.tasks[1].steps[0].kind else {
        panic!("sse step")
    };
    assert!(
        sse.post.is_some(),
        "`post` is the sse step's option here, not a second kind"
    );
    let StepKind::Ws(ws) = &streams.tasks[2].steps[0].kind else {
        panic!("ws step")
    };
    assert_eq!((ws.send.len(), ws.expect), (2, Some(2)));
    let text = plan::describe::describe(&plan);
    assert!(
        text.contains("Streams  fixed_count 2  wait throughput(2/s)"),
        "{text}"
    );
}

//! Validation errors, byte for byte, and the plans valid text builds: the helpers every test
//! file uses and the plan-wide cases (top-level keys, error order, name interning, bounds).

mod classes;
mod fanout;
mod monitor;
mod steps;
mod thresholds;
mod uses;

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
        "x.toml:3:19: expected get: a path starting with / or an absolute http:// or https:// URL, found the integer 5"
    );
}

#[test]
fn absolute_urls_must_use_their_step_kinds_scheme() {
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"ftp://files/x\" }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:19: expected get: a path starting with / or an absolute http:// or https:// URL, found \"ftp://files/x\""
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ ws = \"http://127.0.0.1:9/\" }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:18: expected ws: a path starting with / or an absolute ws:// or wss:// URL, found \"http://127.0.0.1:9/\""
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ sse = \"wss://h/events\", events = 1 }} ]\n"
    ));
    assert!(e.starts_with("x.toml:3:19: expected sse: a path starting with / or an absolute http:// or https:// URL"), "{e}");
    for ok in [
        "{ get = \"https://example.com/a?b=1\" }",
        "{ ws = \"ws://127.0.0.1:9/echo\" }",
        "{ ws = \"wss://example.com/ws\" }",
        "{ sse = \"http://127.0.0.1:9/sse\", events = 1 }",
        "{ rpc = \"ping\", path = \"http://127.0.0.1:9/mcp\" }",
    ] {
        let text = format!("{HEAD}tasks = [ {ok} ]\n");
        assert!(
            crate::plan::parse_str(&text, "x.toml", None).is_ok(),
            "{ok}"
        );
    }
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

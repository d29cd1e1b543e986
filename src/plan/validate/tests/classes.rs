//! User classes and their tasks, wait functions and shapes.

use super::*;

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

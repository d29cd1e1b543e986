//! Property tests: plans built as TOML text from random structure (classes, tasks with http,
//! think, rpc, sse and ws steps, weights, fixed counts, shapes, thresholds; huge, negative and
//! fractional numbers; random strings in durations and templates). For every input:
//! `plan::parse_str` does not panic; a plan it accepts has every count within `plan::limits`;
//! and the engine's pure preparation of the run (templates folded, classes selected and
//! prepared, the class sequence for the users the plan asks for, feeders, shapes, waits) does
//! not panic. `cargo test` runs proptest's default case count; the long run is
//! `PROPTEST_CASES=200000 cargo test --release --lib plan_props -- --ignored`.

use std::time::Duration;

use proptest::prelude::*;

use super::feeder::Feeders;
use super::prepare::prepare_class;
use super::shape::{self, ArrivalSchedule};
use super::spawner::ClassSequence;
use super::vars::{prepare, Vars};
use crate::plan::limits::*;
use crate::plan::model::*;
use crate::plan::selection::Selection;
use crate::protocols::http_client::OriginInfo;

fn number() -> impl Strategy<Value = String> {
    // Mostly valid values, so that a fair share of plans is accepted and prepared; each plan
    // still carries an out-of-range or wrong-typed value often enough.
    prop_oneof![
        80 => (1i64..5).prop_map(|n| n.to_string()),
        1 => (0i64..2_000_000).prop_map(|n| n.to_string()),
        1 => (-5i64..0).prop_map(|n| n.to_string()),
        1 => (0.0f64..10.0).prop_map(|f| format!("{f:.3}")),
        2 => prop::sample::select(vec![
            "4000000000", "4294967295", "4294967296", "9223372036854775807", "-9223372036854775808",
            "1e300", "-1e300", "1e-300", "0.0001", "0.001", "1000", "1001", "1000000", "1000001",
            "nan", "inf", "-inf", "-0.0", "\"7\"", "true", "[1]", "{}",
        ])
        .prop_map(str::to_string),
    ]
}

/// Strings safe inside a TOML basic string (no quotes, backslashes or control characters).
fn text(re: &'static str) -> impl Strategy<Value = String> {
    proptest::string::string_regex(re).expect("a valid regex")
}

fn quoted(
    good: Vec<&'static str>,
    bad: Vec<&'static str>,
    re: &'static str,
) -> impl Strategy<Value = String> {
    prop_oneof![
        80 => prop::sample::select(good).prop_map(str::to_string),
        1 => prop::sample::select(bad).prop_map(str::to_string),
        1 => text(re),
    ]
    .prop_map(|s| format!("\"{s}\""))
}

fn duration() -> impl Strategy<Value = String> {
    quoted(
        vec!["1ms", "250ms", "1.5s", "2m", "1h30m", "720h", "1us"],
        vec![
            "0s",
            "721h",
            "43200m",
            "99999999999h",
            "18446744073709551615s",
            "1e3s",
            "-1s",
            "1.5.5s",
            "",
            "5",
            "1 s",
        ],
        "[0-9.a-z -]{0,8}",
    )
}

fn path() -> impl Strategy<Value = String> {
    quoted(
        vec![
            "/",
            "/health",
            "/{{ env('A', 'b') }}",
            "/{{ d.value }}",
            "http://127.0.0.1:1/x",
            "/{{ randint(1, 9999999999999) }}",
            "/{{ uuid() }}",
            "/{% for i in range(3) %}{{ i }}{% endfor %}",
        ],
        vec!["{{", "/{{ nope( }}", "x", "/tools/{{ id }}"],
        "/[a-z{}% ()'.0-9]{0,12}",
    )
}

fn size() -> impl Strategy<Value = String> {
    quoted(
        vec!["16MiB", "64KiB", "1GiB", "1", "1000"],
        vec!["2GiB", "0", "99999999999999999999GiB", "1.5MiB", "x"],
        "[0-9]{0,4}[KMG]?i?B?",
    )
}

fn wait() -> impl Strategy<Value = String> {
    let bare = |d: String| d.trim_matches('"').to_string();
    prop_oneof![
        4 => (duration(), duration())
            .prop_map(move |(a, b)| format!("between({}, {})", bare(a), bare(b))),
        4 => duration().prop_map(move |d| format!("constant({})", bare(d))),
        4 => duration().prop_map(move |d| format!("pacing({})", bare(d))),
        4 => number().prop_map(|n| format!("throughput({}/s)", n.trim_matches('"'))),
        1 => text("[a-z(), 0-9/]{0,10}"),
    ]
    .prop_map(|s| format!("\"{s}\""))
}

/// Optional `key = value` parts of an inline table.
fn opt(key: &'static str, value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::option::of(value)
        .prop_map(move |v| v.map(|v| format!(", {key} = {v}")).unwrap_or_default())
}

fn step() -> impl Strategy<Value = String> {
    let http = (
        prop::sample::select(vec!["get", "post", "put", "patch", "delete", "head"]),
        path(),
        opt("check.status", number()),
        opt("check.body_contains", Just("\"ok\"".to_string())),
        opt("max_body", size()),
        opt("capture.id", Just("\"json:$.id\"".to_string())),
        opt("timeout", duration()),
    )
        .prop_map(|(m, p, a, b, c, d, e)| format!("{m} = {p}{a}{b}{c}{d}{e}"));
    let rpc = (
        opt("params", Just("{ a = 1 }".to_string())),
        opt("max_body", size()),
    )
        .prop_map(|(a, b)| format!("rpc = \"tools/list\"{a}{b}"));
    let sse = (path(), opt("events", number()), opt("for", duration()))
        .prop_map(|(p, a, b)| format!("sse = {p}{a}{b}"));
    let ws = (
        path(),
        prop_oneof![30 => 0usize..3, 1 => Just(1001usize)],
        opt("expect", number()),
        opt("for", duration()),
    )
        .prop_map(|(p, n, a, b)| {
            let send = vec!["\"m\""; n].join(", ");
            format!("ws = {p}, send = [{send}]{a}{b}")
        });
    let think = duration().prop_map(|d| format!("think = {d}"));
    prop_oneof![3 => http, 1 => rpc, 1 => sse, 1 => ws, 1 => think]
}

fn task() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(step(), 1..3),
        opt("weight", number()),
        any::<bool>(),
    )
        .prop_map(|(steps, weight, single)| {
            if single {
                format!("{{ {}{weight} }}", steps[0])
            } else {
                let steps: Vec<String> = steps.iter().map(|s| format!("{{ {s} }}")).collect();
                format!("{{ steps = [{}]{weight} }}", steps.join(", "))
            }
        })
}

fn class() -> impl Strategy<Value = (Option<String>, Option<String>, Option<String>, Vec<String>)> {
    (
        prop::option::of(number()),
        prop::option::of(number()),
        prop::option::of(wait()),
        prop::collection::vec(task(), 1..4),
    )
}

fn shape() -> impl Strategy<Value = String> {
    let stage = (duration(), number(), prop::option::of(number())).prop_map(|(d, u, r)| {
        let rate = r.map(|r| format!(", spawn_rate = {r}")).unwrap_or_default();
        format!("{{ duration = {d}, users = {u}{rate} }}")
    });
    let arrival =
        (duration(), number()).prop_map(|(d, r)| format!("{{ duration = {d}, rate = {r} }}"));
    prop_oneof![
        prop::collection::vec(stage, 1..4).prop_map(|s| format!("stages = [{}]", s.join(", "))),
        (prop::collection::vec(arrival, 1..4), number())
            .prop_map(|(s, m)| format!("arrival = [{}]\nmax_users = {m}", s.join(", "))),
    ]
}

fn threshold() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => duration().prop_map(|d| format!("p95 < {}", d.trim_matches('"'))),
        2 => Just("'/health'.p99 < 1s".to_string()),
        1 => Just("'/nope'.p99 < 1s".to_string()),
        2 => Just("GET.avg < 1s".to_string()),
        1 => Just("RPC.avg < 1s".to_string()),
        1 => Just("SSE.p50 < 1s".to_string()),
        4 => number().prop_map(|n| format!("error_rate < {n}%")),
        1 => text("[a-z0-9.<>' %/]{0,12}"),
    ]
    .prop_map(|s| format!("\"{s}\""))
}

prop_compose! {
    fn plan_text()(
        thresholds in prop::collection::vec(threshold(), 0..3),
        timeout in prop::option::of(duration()),
        max_body in prop::option::of(size()),
        data in prop::option::of(prop::collection::vec(number(), 0..3)),
        classes in prop::collection::vec(class(), 1..4),
        shapes in prop::collection::vec(shape(), 0..3),
    ) -> String {
        let mut t = String::new();
        t.push_str(&format!("thresholds = [{}]\n", thresholds.join(", ")));
        t.push_str("[defaults]\n");
        if let Some(d) = timeout {
            t.push_str(&format!("timeout = {d}\n"));
        }
        if let Some(m) = max_body {
            t.push_str(&format!("max_body = {m}\n"));
        }
        if let Some(values) = data {
            t.push_str(&format!("[data.d]\nvalues = [{}]\n", values.join(", ")));
        }
        for (i, (weight, fixed, wait, tasks)) in classes.iter().enumerate() {
            t.push_str(&format!("[[users]]\nname = \"C{i}\"\n"));
            if let Some(w) = weight {
                t.push_str(&format!("weight = {w}\n"));
            }
            if let Some(f) = fixed {
                t.push_str(&format!("fixed_count = {f}\n"));
            }
            if let Some(w) = wait {
                t.push_str(&format!("wait = {w}\n"));
            }
            t.push_str(&format!("tasks = [{}]\n", tasks.join(", ")));
        }
        for (i, s) in shapes.iter().enumerate() {
            t.push_str(&format!("[shapes.s{i}]\n{s}\n"));
        }
        t
    }
}

fn durations_of(step: &Step) -> Vec<Duration> {
    let mut out: Vec<Duration> = step.timeout.into_iter().collect();
    out.extend(step.checks.max_time);
    match &step.kind {
        StepKind::Think(d) => out.push(*d),
        StepKind::Sse(s) => out.extend(s.duration),
        StepKind::Ws(w) => out.extend(w.duration),
        StepKind::Http(_) | StepKind::Rpc(_) => {}
    }
    out
}

/// Every count and duration of an accepted plan is within `plan::limits`.
fn assert_within_limits(plan: &Plan) {
    assert!(plan.users.len() <= MAX_CLASSES);
    let fixed: u64 = plan
        .users
        .iter()
        .filter_map(|c| c.fixed_count)
        .map(u64::from)
        .sum();
    assert!(fixed <= u64::from(MAX_USERS), "fixed users {fixed}");
    assert!(plan.defaults.timeout <= MAX_DURATION);
    assert!(plan.defaults.max_body <= MAX_MAX_BODY);
    let mut steps: Vec<&Step> = plan.setup.iter().collect();
    for class in &plan.users {
        assert!(
            (1..=MAX_WEIGHT).contains(&class.weight),
            "weight {}",
            class.weight
        );
        assert!(class.tasks.len() <= MAX_TASKS);
        let sum: u64 = class.tasks.iter().map(|t| u64::from(t.weight)).sum();
        assert!(sum <= u64::from(u32::MAX), "task weights sum {sum}");
        match class.wait {
            Wait::Constant(d) | Wait::Pacing(d) => assert!(d <= MAX_DURATION),
            Wait::Between(a, b) => assert!(a <= b && b <= MAX_DURATION),
            Wait::Throughput(n) => assert!((MIN_RATE..=MAX_RATE).contains(&n)),
        }
        for task in &class.tasks {
            assert!((1..=MAX_WEIGHT).contains(&task.weight));
            assert!(task.steps.len() <= MAX_STEPS);
            steps.extend(&task.steps);
        }
        steps.extend(&class.on_start);
        steps.extend(&class.on_stop);
    }
    for step in steps {
        for d in durations_of(step) {
            assert!(d <= MAX_DURATION, "{d:?} in {}", step.location);
        }
        match &step.kind {
            StepKind::Http(h) => assert!(h.max_body.bytes <= MAX_MAX_BODY),
            StepKind::Rpc(r) => assert!(r.max_body.bytes <= MAX_MAX_BODY),
            StepKind::Sse(s) => assert!(s.events.is_none_or(|n| n <= MAX_EVENTS)),
            StepKind::Ws(w) => {
                assert!(w.expect.is_none_or(|n| n <= MAX_EVENTS));
                assert!(w.send.len() <= MAX_SEND);
            }
            StepKind::Think(_) => {}
        }
    }
    for s in &plan.shapes {
        match &s.kind {
            ShapeKind::Stages(stages) => {
                assert!(stages.len() <= MAX_STAGES);
                for st in stages {
                    assert!(st.users <= MAX_USERS && st.duration <= MAX_DURATION);
                    assert!(st
                        .spawn_rate
                        .is_none_or(|r| (MIN_RATE..=MAX_RATE).contains(&r)));
                }
            }
            ShapeKind::Arrival { stages, max_users } => {
                assert!((1..=MAX_USERS).contains(max_users));
                for st in stages {
                    assert!((0.0..=MAX_RATE).contains(&st.rate) && st.duration <= MAX_DURATION);
                }
            }
        }
    }
    for t in &plan.thresholds {
        assert!(t.delay.is_none_or(|d| d <= MAX_DURATION));
        let produced = match &t.scope {
            ThresholdScope::Aggregate => true,
            ThresholdScope::Name(n) => plan.names.iter().any(|r| &r.name == n),
            ThresholdScope::Kind(k) => plan.names.iter().any(|r| r.kind.eq_ignore_ascii_case(k)),
            ThresholdScope::Monitor(series) => plan
                .monitor
                .as_ref()
                .is_some_and(|m| m.series_names().contains(series)),
        };
        assert!(produced, "threshold {:?} names no row", t.source);
    }
}

/// The run's pure preparation, as `engine::run::begin` does it, for the users the plan's shapes
/// and fixed counts ask for.
fn prepare_run(plan: &Plan) {
    let _ = Feeders::load(&plan.data);
    let Ok((plan, shared)) = prepare(plan) else {
        return;
    };
    let base = OriginInfo::parse("http://127.0.0.1:9").expect("a valid origin");
    let vars = Vars::new(shared);
    let Ok(classes) = Selection::default().apply(&plan) else {
        return;
    };
    for c in &classes {
        if let Ok(prepared) = prepare_class(&plan, c, &base, &vars, &Default::default()) {
            let sum: u64 = c.tasks.iter().map(|t| u64::from(t.weight)).sum();
            // the running sums are exact (never saturated): picks follow the weights
            assert_eq!(
                prepared.cumulative_weights.last().map(|&w| u64::from(w)),
                Some(sum)
            );
        }
        let _ = c.wait.period();
    }
    let sequence = ClassSequence::of_classes(&classes);
    let mut users = 1usize;
    for s in &plan.shapes {
        let _ = s.kind.duration();
        match &s.kind {
            ShapeKind::Stages(stages) => {
                for st in stages {
                    users = users.max(st.users as usize);
                }
                for secs in [0, 1, 59, 3600, 86_400 * 40] {
                    let _ = shape::stage_at(stages, Duration::from_secs(secs));
                }
            }
            ShapeKind::Arrival { stages, max_users } => {
                users = users.max(*max_users as usize);
                let schedule = ArrivalSchedule::new(stages);
                for k in [0, 1, 999, 1_000_000, u64::MAX] {
                    let _ = schedule.start_time(k);
                }
                let _ = schedule.rate_at(Duration::from_secs(1));
            }
        }
    }
    // counts() walks every user: a prefix keeps the case fast; class_of covers the far end.
    let _ = sequence.counts(users.min(5_000), classes.len());
    shares_add_up(&sequence, users.min(2_000), classes.len());
    let _ = sequence.class_of(users.saturating_sub(1));
    let _ = sequence.class_of(MAX_USERS as usize);
}

/// The run dealt over N = 1..7 agents: each share's users (user p to agent p mod N, the open
/// model's j-th user of a share at its place in the whole run) have, together, exactly the
/// users and the class mix of one process.
fn shares_add_up(sequence: &ClassSequence, users: usize, classes: usize) {
    let whole = sequence.counts(users, classes);
    for count in 1..=7u32 {
        let mut parts = vec![0u32; classes];
        let mut places = 0u64;
        for index in 0..count {
            let share = crate::share::Share::new(index, count).expect("a share");
            let owned = share.part_of(users as u64);
            places += owned;
            for j in 0..owned {
                let place = share.nth_owned(j);
                assert!(share.owns(place) && place < users as u64);
                if let Some(c) = sequence.class_of(place as usize) {
                    parts[c] += 1;
                }
            }
        }
        assert_eq!(places, users as u64, "N = {count}");
        assert_eq!(parts, whole, "N = {count}: the class mix of the shares");
    }
}

fn check_one(text: &str) {
    if let Ok(plan) = crate::plan::parse_str(text, "p.toml", None) {
        assert_within_limits(&plan);
        prepare_run(&plan);
    }
}

/// Generated plans: `cargo test` tries proptest's default number (256); the long run is
/// `bench/plan_props.sh` (`PROPTEST_CASES=200000`, release), which prints the counts.
#[test]
fn generated_plans_parse_within_limits_and_prepare() {
    use proptest::test_runner::{Config, TestRunner};
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let tried = std::sync::atomic::AtomicU64::new(0);
    let accepted = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&plan_text(), |text| {
        tried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if crate::plan::parse_str(&text, "p.toml", None).is_ok() {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        check_one(&text);
        Ok(())
    });
    eprintln!(
        "plan_props: {} inputs tried, {} accepted, result {:?}",
        tried.into_inner(),
        accepted.into_inner(),
        result.as_ref().map(|_| "ok")
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

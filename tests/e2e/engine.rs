//! The engine against the real demo target: counts, latencies, failures, control.

use std::time::Duration;

use hornet::stats::snapshot::RunState;

use crate::helpers::{
    cut_at_stop, free_port, only_classes, plan, row, run_cfg, run_to_end, served, served_count,
    spawn_target, start_refused, start_run, wait_run_end,
};

const READS: &str = r#"
name = "reads"
[defaults]
headers = { Authorization = "Bearer demo-token" }

[[users]]
name = "Reader"
wait = "constant(5ms)"
tasks = [
  { get = "/health", weight = 2 },
  { get = "/tools", weight = 1 },
  { weight = 1, name = "browse", steps = [
      { get = "/tools", name = "/tools [browse]", capture.tool_id = "json:$[0].id" },
      { get = "/tools/{{ tool_id }}", name = "/tools/[id]" },
  ] },
]
"#;

#[tokio::test]
async fn reported_counts_equal_what_the_target_served() {
    let target = spawn_target().await;
    let cfg = run_cfg(target.url(), 10, Duration::from_secs(2));
    let snapshot = run_to_end(&plan(READS), cfg, Duration::from_secs(20)).await;
    let stats = served(&target).await;

    let health = row(&snapshot, "GET", "/health").num_requests;
    let tools = row(&snapshot, "GET", "/tools").num_requests
        + row(&snapshot, "GET", "/tools [browse]").num_requests;
    let by_id = row(&snapshot, "GET", "/tools/[id]").num_requests;
    assert!(
        health > 50 && tools > 20 && by_id > 10,
        "too little load: {health} {tools} {by_id}"
    );
    assert_eq!(health, served_count(&stats, "GET /health"));
    assert_eq!(tools, served_count(&stats, "GET /tools"));
    assert_eq!(by_id, served_count(&stats, "GET /tools/{id}"));
    assert_eq!(
        snapshot.total.num_requests,
        stats["total"].as_u64().unwrap_or(0)
    );
    assert_eq!(
        snapshot.total.num_failures, 0,
        "failures: {:?}",
        snapshot.failures
    );
    assert_eq!(snapshot.state, RunState::Stopped);
}

#[tokio::test]
// The upper bound leaves room for a shared 2-core machine running the rest of the suite (and
// Chromium) at the same time: the injected 20 ms is the floor, scheduling noise only adds.
async fn median_of_a_fixed_20ms_route_is_between_20_and_30ms() {
    let target = spawn_target().await;
    let text = r#"
[[users]]
name = "Slow"
tasks = [ { get = "/delay/20", name = "/delay/20" } ]
"#;
    let cfg = cut_at_stop(run_cfg(target.url(), 5, Duration::from_secs(3)));
    let snapshot = run_to_end(&plan(text), cfg, Duration::from_secs(20)).await;
    let r = row(&snapshot, "GET", "/delay/20");
    assert!(r.num_requests > 100, "{} requests", r.num_requests);
    assert!(
        (20.0..=30.0).contains(&r.median_ms),
        "median {} ms not within 20–30 ms",
        r.median_ms
    );
    assert!(
        r.min_ms >= 20.0,
        "min {} ms below the injected 20 ms",
        r.min_ms
    );
}

#[tokio::test]
async fn a_failed_check_is_a_failure_with_its_message() {
    let target = spawn_target().await;
    let text = r#"
[[users]]
name = "Checker"
wait = "constant(10ms)"
tasks = [ { get = "/health", check.status = 201 } ]
"#;
    let cfg = cut_at_stop(run_cfg(target.url(), 2, Duration::from_secs(1)));
    let snapshot = run_to_end(&plan(text), cfg, Duration::from_secs(20)).await;
    let r = row(&snapshot, "GET", "/health");
    assert!(r.num_requests > 10);
    assert_eq!(r.num_failures, r.num_requests);
    assert_eq!(snapshot.failures.len(), 1, "{:?}", snapshot.failures);
    let f = &snapshot.failures[0];
    assert_eq!(f.occurrences, r.num_requests);
    assert!(
        f.error.contains("check.status") && f.error.contains("201") && f.error.contains("200"),
        "{}",
        f.error
    );
}

#[tokio::test]
async fn a_dead_target_gives_connection_failures_and_the_run_still_ends() {
    let text = r#"
[[users]]
name = "Probe"
wait = "constant(20ms)"
tasks = [ { get = "/health" } ]
"#;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let cfg = cut_at_stop(run_cfg(dead, 3, Duration::from_secs(1)));
    let snapshot = run_to_end(&plan(text), cfg, Duration::from_secs(10)).await;
    let r = row(&snapshot, "GET", "/health");
    assert!(r.num_requests >= 10);
    assert_eq!(r.num_failures, r.num_requests);
    assert!(
        snapshot.failures[0]
            .error
            .to_lowercase()
            .contains("connect"),
        "{}",
        snapshot.failures[0].error
    );
}

#[tokio::test]
async fn users_can_be_changed_and_the_run_stopped_through_the_handle() {
    let target = spawn_target().await;
    let text = r#"
[[users]]
name = "Idle"
wait = "constant(50ms)"
tasks = [ { get = "/health" } ]
"#;
    let (handle, done) = start_run(&plan(text), cut_at_stop(run_cfg(target.url(), 2, None))).await;
    let snapshots = handle.snapshots();
    let wait_for_users = |n: u32| {
        let mut rx = snapshots.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(10),
                rx.wait_for(|s| s.users == n && s.state == RunState::Running),
            )
            .await
            .expect("user count reached in time")
            .map(|_| ())
        }
    };
    wait_for_users(2).await.expect("2 users");
    handle.set_users(6, Some(100.0)).await.expect("set users");
    wait_for_users(6).await.expect("6 users");
    handle.set_users(1, None).await.expect("set users");
    wait_for_users(1).await.expect("1 user");
    handle.stop();
    let outcome = wait_run_end(done, Duration::from_secs(10)).await;
    assert_eq!(outcome.snapshot.state, RunState::Stopped);
    assert!(outcome.snapshot.total.num_requests > 0);
    // the live view's last word is the final snapshot
    let last = snapshots.borrow();
    assert_eq!(last.state, RunState::Stopped);
    assert_eq!(last.total.num_requests, outcome.snapshot.total.num_requests);
}

#[tokio::test]
async fn an_unknown_class_is_refused_naming_the_field() {
    let cfg = only_classes(run_cfg("http://127.0.0.1:1", 1, None), &["Nobody"]);
    let refused = start_refused(&plan(READS), cfg);
    assert_eq!(refused.field, "classes");
    let message = refused.message;
    assert!(
        message.contains("Nobody") && message.contains("Reader"),
        "{message}"
    );
}

#[tokio::test]
async fn a_hanging_target_gives_timeout_failures_not_a_stuck_user() {
    let target = spawn_target().await;
    let text = r#"
[defaults]
timeout = "100ms"

[[users]]
name = "Patient"
tasks = [ { get = "/delay/5000", name = "/delay/5000" } ]
"#;
    let cfg = cut_at_stop(run_cfg(target.url(), 2, Duration::from_millis(1500)));
    let snapshot = run_to_end(&plan(text), cfg, Duration::from_secs(10)).await;
    let r = row(&snapshot, "GET", "/delay/5000");
    // 2 users × ~1.5 s / 100 ms each
    assert!(r.num_requests >= 20, "{} requests", r.num_requests);
    assert_eq!(r.num_failures, r.num_requests);
    assert_eq!(snapshot.failures.len(), 1, "{:?}", snapshot.failures);
    assert_eq!(snapshot.failures[0].error, "timeout after 100ms");
    // far below the target's 5 s: the timeout cut it (a loaded machine wakes timers late)
    assert!(
        r.max_ms < 1_000.0,
        "a request outlived its timeout: {} ms",
        r.max_ms
    );
}

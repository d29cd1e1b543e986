//! Thresholds end to end: the `hornet run` exit codes and outputs (table, JSON, JUnit), the
//! verdicts stored with an API run, and `abort_on_fail` stopping a run early. Latencies come
//! from the demo target's `/delay/{ms}` route, so the observed values have a known floor.

use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{hornet_run, plan_file, spawn_app_with_plan, spawn_target, TestApp};

/// Two users on `/delay/50` (named `/delay/[ms]`), about 30 requests a second between them.
const SLOW: &str = r#"
name = "slow"
[[users]]
name = "Waiter"
wait = "constant(10ms)"
tasks = [ { get = "/delay/50", name = "/delay/[ms]" } ]
"#;

const FAILING: &str = r#"
name = "failing"
[[users]]
name = "Breaker"
wait = "constant(20ms)"
tasks = [ { get = "/status/500" } ]
"#;

/// `hornet run PLAN -H URL -u 2 -r 20 -t TIME --no-history ARGS...`, off the async runtime.
async fn run_slow(plan: &std::path::Path, url: &str, time: &str, args: &[&str]) -> Output {
    hornet_run(plan, url)
        .args(["-u", "2", "-r", "20", "-t", time, "--no-history"])
        .args(args)
        .output()
        .await
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number before " ms" after `prefix` in `s`.
fn ms_after(s: &str, prefix: &str) -> f64 {
    let at = s
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not in {s}"))
        + prefix.len();
    let rest = &s[at..];
    let end = rest
        .find(" ms")
        .unwrap_or_else(|| panic!("no ms after {prefix:?} in {s}"));
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {:?}", &rest[..end]))
}

#[tokio::test]
async fn thresholds_that_hold_exit_0_and_are_printed() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file("slow.toml", SLOW);
    let out = run_slow(
        &plan,
        &target.url(),
        "2s",
        &[
            "--threshold",
            "p95 < 5s",
            "--threshold",
            "error_rate < 1%",
            "--threshold",
            "'/delay/[ms]'.p50 >= 50ms",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // after the tables, one line per threshold
    let at = stdout.find("Thresholds\n").expect("a Thresholds section");
    assert!(at > stdout.find("Aggregated").expect("table"), "{stdout}");
    let p95 = ms_after(&stdout, "✓ p95 < 5s (observed ");
    assert!((50.0..5000.0).contains(&p95), "p95 {p95}");
    assert!(
        stdout.contains("  ✓ error_rate < 1% (observed 0%)\n"),
        "{stdout}"
    );
    let p50 = ms_after(&stdout, "✓ '/delay/[ms]'.p50 >= 50ms (observed ");
    assert!(p50 >= 50.0 && p50 <= p95, "p50 {p50}");
    assert!(!stdout.contains('✗'), "{stdout}");
}

#[tokio::test]
async fn a_failed_threshold_exits_1_with_junit_and_json() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("slow.toml", SLOW);
    let junit = dir.path().join("thresholds.xml");
    let json = dir.path().join("summary.json");
    let (junit_arg, json_arg) = (junit.display().to_string(), json.display().to_string());
    let out = run_slow(
        &plan,
        &target.url(),
        "2s",
        &[
            "--threshold",
            "p95<20ms",
            "--threshold",
            "error_rate<1%",
            "--junit",
            &junit_arg,
            "--json",
            &json_arg,
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let observed = ms_after(&stdout, "✗ p95<20ms (observed ");
    assert!(observed >= 50.0, "every request took ≥ 50 ms: {observed}");
    assert!(stdout.contains("✓ error_rate<1% (observed 0%)"), "{stdout}");
    assert!(stderr.contains("1 of 2 thresholds failed"), "{stderr}");

    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"slow\" tests=\"2\" failures=\"1\" errors=\"0\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(
        xml.contains("<testcase name=\"p95&lt;20ms\" classname=\"slow.thresholds\""),
        "{xml}"
    );
    let in_xml = ms_after(&xml, "<failure message=\"observed ");
    assert_eq!(in_xml, observed, "the same observed value");
    assert!(
        xml.contains(" ms, threshold 20 ms\" type=\"threshold\">"),
        "{xml}"
    );

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("JSON");
    let t = &summary["thresholds"];
    assert_eq!(t.as_array().map(Vec::len), Some(2), "{summary}");
    assert_eq!(t[0]["expression"], "p95<20ms");
    assert_eq!(t[0]["passed"], false);
    // the text shows two decimals
    let exact = t[0]["observed"].as_f64().expect("observed");
    // two decimals round half away: 53.695 shows as 53.7 (float error above 0.005)
    assert!((exact - observed).abs() <= 0.0051, "{exact} vs {observed}");
    assert_eq!(t[0]["threshold"].as_f64(), Some(20.0));
    assert_eq!(t[0]["unit"], "ms");
    assert_eq!(
        t[0]["samples"].as_u64(),
        summary["aggregated"]["num_requests"].as_u64()
    );
    assert_eq!(t[1]["passed"], true);
}

#[tokio::test]
async fn exit_code_on_error_and_bad_thresholds() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file("failing.toml", FAILING);
    // failures alone do not fail a run without thresholds...
    let out = run_slow(&plan, &target.url(), "1s", &[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // ...unless asked
    let out = run_slow(&plan, &target.url(), "1s", &["--exit-code-on-error"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("requests failed (--exit-code-on-error)"),
        "{stderr}"
    );
    // a bad expression is bad input, named before anything runs
    let out = run_slow(&plan, &target.url(), "1s", &["--threshold", "p95 <"]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("p95 <"), "{stderr}");
    assert!(
        stderr.contains("expected a duration such as 300ms or 1.5s, found nothing"),
        "{stderr}"
    );
    let out = run_slow(&plan, &target.url(), "1s", &["--threshold", "p97 < 1s"]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}

/// A plans directory holding `slow.toml` with these thresholds.
async fn app_with_plan(thresholds: &str) -> TestApp {
    let text = format!(
        "thresholds = {thresholds}\n{}",
        SLOW.replace("/delay/50", "/delay/30")
    );
    spawn_app_with_plan("slow.toml", &text).await
}

#[tokio::test]
async fn api_runs_store_and_show_their_verdicts() {
    let app = app_with_plan(r#"["'/delay/[ms]'.max < 10s"]"#).await;
    let body = json!({
        "plan": "slow", "host": app.target.url(), "users": 2, "spawn_rate": 20, "run_time": "2s",
        "thresholds": ["p95 < 10ms", "error_rate <= 0%"],
    });
    let id = app.start_run(&body).await;
    let run = app.wait_final(&id, Duration::from_secs(20)).await;
    let t = run["thresholds"]
        .as_array()
        .expect("thresholds array")
        .clone();
    let exprs: Vec<&str> = t.iter().filter_map(|v| v["expression"].as_str()).collect();
    // the plan's first, then the start's
    assert_eq!(
        exprs,
        ["'/delay/[ms]'.max < 10s", "p95 < 10ms", "error_rate <= 0%"]
    );
    let passed: Vec<bool> = t.iter().filter_map(|v| v["passed"].as_bool()).collect();
    assert_eq!(passed, [true, false, true], "{run}");
    let p95 = t[1]["observed"].as_f64().expect("observed");
    assert!(p95 >= 30.0, "every request took ≥ 30 ms: {p95}");
    let shown = t[1]["observed_text"].as_str().expect("text").to_string();
    let in_text: f64 = shown
        .trim_end_matches(" ms")
        .parse()
        .expect("a number of ms");
    // two decimals round half away: 37.375 shows as 37.38 (float error above 0.005)
    assert!((in_text - p95).abs() <= 0.0051, "{shown} vs {p95}");
    assert_eq!(t[1]["threshold"].as_f64(), Some(10.0));
    assert_eq!(
        t[2]["samples"].as_u64(),
        run["summary"]["requests"].as_u64(),
        "{run}"
    );

    // stored: the same after a fresh read from the database, and on the run's page
    let store = hornet::store::Store::open(&app.db).await.expect("store");
    let stored = store.get_run(&id).await.expect("get").expect("run");
    assert_eq!(stored.verdicts.len(), 3);
    assert_eq!(stored.verdicts[1].observed, p95);
    let page = app
        .client
        .get(app.api(&format!("/runs/{id}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(r#"id="thresholds""#), "{page}");
    assert!(
        page.contains(&format!(
            "<code>p95 &#60; 10ms</code> <span class=\"badge\">failed</span> \
             <span class=\"muted\">observed {shown}</span>"
        )),
        "{page}"
    );
    let (_, list) = app.get_json("/api/runs").await;
    assert_eq!(list["runs"][0]["thresholds"][1]["passed"], false);
    app.stop().await;
}

#[tokio::test]
async fn abort_on_fail_stops_the_run_early() {
    let app = app_with_plan(
        r#"[ { expr = "p95 < 10ms", abort_on_fail = true, delay = "1s" }, "error_rate < 1%" ]"#,
    )
    .await;
    let body = json!({
        "plan": "slow", "host": app.target.url(), "users": 2, "spawn_rate": 20, "run_time": "60s",
    });
    let id = app.start_run(&body).await;
    let run = app.wait_final(&id, Duration::from_secs(20)).await;
    assert_eq!(run["state"], "stopped", "{run}");
    let elapsed_ms = run["ended_at_ms"].as_i64().expect("ended")
        - run["started_at_ms"].as_i64().expect("started");
    assert!(
        elapsed_ms < 10_000,
        "stopped after {elapsed_ms} ms of a 60 s run"
    );
    let t = &run["thresholds"];
    assert_eq!(t[0]["passed"], false, "{run}");
    let at = t[0]["stopped_run_at_s"]
        .as_f64()
        .expect("the verdict says it stopped the run");
    assert!((1.0..10.0).contains(&at), "after the 1 s delay: {at}");
    assert!(t[0]["observed"].as_f64().unwrap_or(0.0) >= 30.0, "{run}");
    assert_eq!(t[1]["passed"], true);
    assert!(t[1].get("stopped_run_at_s").is_none(), "{run}");
    app.stop().await;
}
